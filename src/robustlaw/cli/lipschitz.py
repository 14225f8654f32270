"""``robustlaw lipschitz``: certified Lipschitz bounds of a saved torch model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from robustlaw.cli._common import bad_input_exits, console, fail, print_json


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


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    return f"{value:.6g}"


def _print_report(report, path: Path) -> None:
    for b in range(report.B):
        title = f"{path.name} — member {b}" if report.B > 1 else path.name
        table = Table(title=f"{title}: Lip(f) on {report.domain}")
        table.add_column("method")
        table.add_column("kind")
        table.add_column("value", justify="right")
        table.add_column("certified")
        table.add_column("seconds", justify="right")
        table.add_column("status", overflow="fold")
        for name, res in report.results.items():
            status = res.status[b]
            if res.kind == "lower":
                value = float(res.lower[b])
                cert = "yes (witness)" if value > 0 else "no bound"
            elif res.kind == "upper":
                value = float(res.upper[b])
                cert = f"yes ({name})" if math.isfinite(value) else "no"
            else:
                lo, up = float(res.lower[b]), float(res.upper[b])
                value = up if res.proven[b] else lo
                cert = "yes (exact)" if res.proven[b] else f"interval [{_fmt(lo)}, {_fmt(up)}]"
            table.add_row(name, res.kind, _fmt(value), cert, f"{float(res.seconds[b]):.3f}", status)
        console.print(table)
        lo, up = float(report.lower[b]), float(report.upper[b])
        exact = float(report.exact[b])
        line = (
            f"certified: {_fmt(lo)} <= Lip(f) <= {_fmt(up)}"
            f"  (lower by {report.lower_method[b]}, upper by {report.upper_method[b]};"
            f" ratio {_fmt(float(report.ratio[b]))})"
        )
        if not math.isnan(exact):
            line += f"; exact value {_fmt(exact)}"
        console.print(line, highlight=False)


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
    budget_seconds: float = typer.Option(
        60.0, "--budget-seconds", help="Time limit per method and member, in seconds."
    ),
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Optional .npy file of points (n, d) for the lower bounds."),
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
    import numpy as np

    from robustlaw.lipschitz import Budget, estimate

    with bad_input_exits():
        if not math.isfinite(budget_seconds) or budget_seconds <= 0:
            fail(f"--budget-seconds must be positive, got {budget_seconds}")
        if workers < 1:
            fail(f"--workers must be at least 1, got {workers}")
        methods = methods or ["lower", "upper"]
        names = [part.strip() for item in methods for part in item.split(",") if part.strip()]
        if not names:
            fail("--methods must name at least one method or group")
        net = _load(model, activation)
        X = None
        if data is not None:
            if not data.exists():
                raise FileNotFoundError(f"data file not found: {data}")
            X = np.load(data)
        report = estimate(
            net,
            domain=domain,
            methods=names,
            budget=Budget(seconds=budget_seconds),
            X=X,
            seed=seed,
            options={"exact": {"workers": workers}} if workers > 1 else None,
        )
        if as_json:
            print_json({"model": str(model), "members": report.to_records()})
            return
        _print_report(report, model)
