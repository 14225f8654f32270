"""``robustlaw bound``: every applicable statement of the law for given n, d, p (or k)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from robustlaw.cli._common import bad_input_exits, console, fail, number, print_json

#: The flag of each argument of the theory's functions, for their messages.
_FLAGS = {
    "n": "--n",
    "d": "--d",
    "p": "--p",
    "k": "--k",
    "eps": "--eps",
    "delta": "--delta",
    "c": "--c",
    "W": "--W",
    "J": "--J",
    "mixtures": "--mixtures",
    "L": "--target-lip",
    "target_lipschitz": "--target-lip",
    "preset": "--preset",
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


if TYPE_CHECKING:
    from robustlaw.theory import PresetReport


def _format(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.4g}"


def _print_summary(summary: dict) -> None:
    inputs = summary["inputs"]
    shown = {key: number(value) for key, value in inputs.items() if _is_number(value)}
    title = (
        f"The law at n = {shown['n']}, d = {shown['d']}, p = {shown['p']}"
        f" (ε = {shown['eps']}, δ = {shown['delta']}, c = {shown['c']},"
        f" W = {shown['W']}, J = {shown['J']}, mixtures = {shown['mixtures']})"
    )
    table = Table(title=title, show_lines=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("kind")
    table.add_column("applies")
    table.add_column("note", overflow="fold")
    for row in summary["rows"]:
        table.add_row(
            row["name"],
            _format(row["value"]),
            row["kind"],
            "yes" if row["valid"] else "[red]no[/]",
            row["note"],
        )
    console.print(table)


def _print_preset(report: PresetReport) -> None:
    preset = report.preset
    table = Table(title=f"{preset.name}: n = {number(preset.n)}, d = {number(preset.d)}")
    table.add_column("parameter count")
    table.add_column("value", justify="right")
    table.add_row("classical: p ≈ n", f"{report.classical_params:.3g}")
    table.add_row(
        f"law at Lip O(1): n·d_eff, d_eff = {preset.d_eff_low:g}",
        f"{report.law_params_low:.3g}",
    )
    table.add_row(
        f"law at Lip O(1): n·d_eff, d_eff = {preset.d_eff_high:g}",
        f"{report.law_params_high:.3g}",
    )
    table.add_row("law with the ambient dimension: n·d", f"{report.ambient_params:.3g}")
    console.print(table)
    console.print(preset.note, highlight=False)


def bound(
    n: float | None = typer.Option(None, "--n", help="Number of samples."),
    d: float | None = typer.Option(None, "--d", help="Data dimension."),
    p: float | None = typer.Option(None, "--p", help="Number of parameters."),
    k: float | None = typer.Option(None, "--k", help="Two-layer width (instead of --p)."),
    eps: float = typer.Option(0.1, "--eps", help="Margin below the noise level, in (0, 1)."),
    delta: float = typer.Option(0.01, "--delta", help="Failure probability, in (0, 1)."),
    c: float = typer.Option(1.0, "--c", help="Isoperimetry constant."),
    W: float = typer.Option(1e3, "--W", help="Diameter of the parameter set."),
    J: float = typer.Option(1e3, "--J", help="Lipschitz constant of the parametrization."),
    mixtures: int = typer.Option(1, "--mixtures", help="Mixture components of the data law."),
    target_lip: float = typer.Option(1.0, "--target-lip", help="Lip target for the inverses."),
    preset: str | None = typer.Option(None, "--preset", help="mnist or imagenet."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Every bound of the law at (n, d, p): rigorous, heuristic, conjecture, inverse."""
    from robustlaw import theory

    with bad_input_exits(_FLAGS):
        if preset is not None:
            report = theory.preset_report(preset, L=target_lip)
            n = report.preset.n if n is None else n
            d = report.preset.d if d is None else d
            if p is None and k is None:
                if as_json:
                    print_json({"preset": report.to_dict()})
                else:
                    _print_preset(report)
                return
        if n is None or d is None:
            fail("give --n and --d (or --preset mnist|imagenet)")
        if (p is None) == (k is None):
            fail("give exactly one of --p (parameters) and --k (two-layer width)")
        summary = theory.law_summary(
            n=n,
            d=d,
            p=p,
            k=k,
            eps=eps,
            delta=delta,
            c=c,
            W=W,
            J=J,
            mixtures=mixtures,
            target_lipschitz=target_lip,
        )
        if preset is not None:
            summary["preset"] = report.to_dict()
        if as_json:
            print_json(summary)
            return
        if preset is not None:
            _print_preset(report)
        _print_summary(summary)
