"""``robustlaw lipschitz``: certified Lipschitz bounds of a saved torch model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from robustlaw._names import unknown_name
from robustlaw.cli._common import (
    FILE_WORDS,
    bad_input_exits,
    console,
    fail,
    label_option,
    print_json,
)


def _load(path: Path, activation: str | None):
    import torch
    from torch import nn

    from robustlaw.models.activations import module_for

    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # corrupt file, not a torch archive, missing classes ...
        raise ValueError(f"cannot load {path} with torch.load: {exc}") from exc
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if activation is None:
            raise ValueError(
                f"{path} holds a state dict: give --activation (e.g. relu) to rebuild the "
                "nn.Sequential of Linear layers, or save the whole module"
            )
        weights = sorted(
            (key for key in obj if key.endswith(".weight")),
            key=lambda key: int(key.split(".")[0]) if key.split(".")[0].isdigit() else -1,
        )
        layers: list[nn.Module] = []
        for i, key in enumerate(weights):
            W = obj[key]
            if W.ndim != 2:
                raise ValueError(f"state dict entry {key!r} is not a Linear weight")
            bias = obj.get(key[: -len("weight")] + "bias")
            linear = nn.Linear(W.shape[1], W.shape[0], bias=bias is not None).to(W.dtype)
            with torch.no_grad():
                linear.weight.copy_(W)
                if bias is not None:
                    linear.bias.copy_(bias)
            layers.append(linear)
            if i < len(weights) - 1:
                layers.append(module_for(activation))
        return nn.Sequential(*layers)
    return obj


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.6g}"


def _not_applicable(name: str, status: str) -> str | None:
    """Why a method did not apply, in words (None when it applied)."""
    from robustlaw.lipschitz import METHODS

    if not status.startswith("not_applicable"):
        return None
    reason = status.partition(":")[2].strip()
    spec = METHODS.get(name)
    if reason.startswith("model kind") and spec is not None:
        serves = spec.description.split(":")[0].split(";")[0]
        return f"not applicable to this network ({reason}); {name}: {serves}"
    if reason == "no data points X given":
        return "not applicable: no data points (give --data)"
    return f"not applicable: {reason}"


def _row(name: str, res, b: int) -> tuple[str, str, str]:
    """(value, what certifies it, status) of one method's result for member b."""
    why = _not_applicable(name, res.status[b])
    if why is not None:
        return "—", "—", why
    lo, up = float(res.lower[b]), float(res.upper[b])
    if res.kind == "lower":
        return _fmt(lo), ("yes (witness)" if lo > 0 else "no bound"), res.status[b]
    if res.kind == "upper":
        certified = f"yes ({name})" if math.isfinite(up) else "not certified"
        return _fmt(up), certified, res.status[b]
    if res.proven[b]:
        return _fmt(up), "yes (exact)", res.status[b]
    return _fmt(lo), f"interval [{_fmt(lo)}, {_fmt(up)}]", res.status[b]


def _print_report(report, path: Path) -> None:
    from robustlaw.sweep.spec import domain_label

    domain = domain_label(report.domain)
    for b in range(report.B):
        title = f"{path.name} — member {b}" if report.B > 1 else path.name
        table = Table(title=f"{title}: Lip(f) on {domain}")
        table.add_column("method")
        table.add_column("kind")
        table.add_column("value", justify="right")
        table.add_column("certified")
        table.add_column("seconds", justify="right")
        table.add_column("status", overflow="fold")
        for name, res in report.results.items():
            value, certified, status = _row(name, res, b)
            seconds = f"{float(res.seconds[b]):.3f}"
            table.add_row(name, res.kind, value, certified, seconds, escape(status))
        console.print(table)
        console.print(_summary_line(report, b), highlight=False)


def _summary_line(report, b: int) -> str:
    """The member's certified interval, with the method behind each end."""
    lo, up = float(report.lower[b]), float(report.upper[b])
    lower_by, upper_by = report.lower_method[b], report.upper_method[b]
    lower = f"{_fmt(lo)} (by {lower_by})" if lower_by else "0 (no method gave a lower bound)"
    upper = f"{_fmt(up)} (by {upper_by})" if upper_by else "∞ (not certified)"
    line = f"certified: {lower} <= Lip(f) <= {upper}"
    if lower_by and upper_by:
        line += f"; ratio {_fmt(float(report.ratio[b]))}"
    exact = float(report.exact[b])
    if not math.isnan(exact):
        line += f"; exact value {_fmt(exact)}"
    return line


def _domain(domain: str) -> str:
    """``--domain`` as the library names it (one line and exit 2 otherwise)."""
    from robustlaw.lipschitz import DOMAINS, normalize_domain
    from robustlaw.sweep.spec import domain_label

    try:
        return normalize_domain(domain)
    except ValueError:
        fail(f"--domain: {unknown_name(domain, [domain_label(d) for d in DOMAINS])}")


def _check_methods(names: list[str]) -> None:
    """Every ``--methods`` name is a method or a group (one line and exit 2 otherwise)."""
    from robustlaw.lipschitz import GROUPS, METHODS

    for name in names:
        if name not in GROUPS and name not in METHODS:
            fail(f"--methods: {unknown_name(name, [*GROUPS, *sorted(METHODS)], 'method')}")


def lipschitz(
    model: Annotated[Path, typer.Argument(help="A torch.save file (loaded with pickle).")],
    domain: str = typer.Option("R^d", "--domain", help="R^d, ball or sphere."),
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--methods",
            help="Method names or groups (lower, upper, exact); repeat or comma-separate. "
            "Default: lower,upper.",
        ),
    ] = None,
    budget_seconds: float | None = typer.Option(
        None,
        "--budget-seconds",
        help="Time limit of the whole estimate (all methods and members), in seconds. "
        "Default: 1 s, enough for small two-layer nets; give 60 or more for wide ones.",
    ),
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Optional points (n, d) for the lower bounds: .npy, .npz, .csv or .parquet "
            "(a label column is left out, see --label-column).",
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            "--label-column",
            help="Label column (or .npz array) of the --data file, left out of the points "
            "(default: the one named y, label, labels, target or class).",
        ),
    ] = None,
    activation: str | None = typer.Option(
        None, "--activation", help="Activation between Linear layers for a state dict."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomized methods."),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Processes for the exact solver's branch and bound (R^d and the ball).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Certified lower and upper bounds on Lip(f) of a saved torch model.

    MODEL.pt: a module saved whole with torch.save (nn.Sequential of Linear/activation layers).

    It is loaded with torch.load(weights_only=False), which runs pickle: load only trusted files.

    A state dict of such a Sequential needs --activation (the activation between its Linears).
    """
    from robustlaw.data import load_dataset
    from robustlaw.lipschitz import Budget, estimate

    with bad_input_exits({**FILE_WORDS, "seed": "--seed", "domain": "--domain"}):
        if budget_seconds is not None and (
            not math.isfinite(budget_seconds) or budget_seconds <= 0
        ):
            fail(f"--budget-seconds must be positive, got {budget_seconds}")
        if workers < 1:
            fail(f"--workers must be at least 1, got {workers}")
        methods = methods or ["lower", "upper"]
        names = [part.strip() for item in methods for part in item.split(",") if part.strip()]
        if not names:
            fail("--methods must name at least one method or group")
        domain = _domain(domain)
        _check_methods(names)
        net = _load(model, activation)
        X = None
        if data is not None:
            X = load_dataset(
                data,
                labels=False,
                normalize=False,
                dtype="float64",
                **label_option(data, label_column),
            ).X
        report = estimate(
            net,
            domain=domain,
            methods=names,
            budget=None if budget_seconds is None else Budget(seconds=budget_seconds),
            X=X,
            seed=seed,
            options={"exact": {"workers": workers}},
        )
        if as_json:
            print_json({"model": str(model), "members": report.to_records()})
            return
        _print_report(report, model)
