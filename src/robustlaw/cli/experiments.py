"""``robustlaw demo`` and ``robustlaw reproduce``: packaged experiments, end to end."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from robustlaw.cli._common import (
    AllowFailures,
    DryRun,
    Workers,
    bad_input_exits,
    check_executor,
    check_ray_address,
    console,
    error_console,
    exit_on_failures,
    fail,
    parse_workers,
    print_json,
    print_sizes,
    unknown_name,
)

OutDir = Annotated[
    Path,
    typer.Option(
        "--out", "-o", help="Directory for results.db (shared, resumable) and the reports."
    ),
]
Executor = Annotated[str, typer.Option(help="local or ray.")]
Address = Annotated[str | None, typer.Option(help="Ray cluster address (--executor ray).")]
Device = Annotated[str | None, typer.Option(help="Torch device (default: cuda when available).")]
Progress = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


#: The flags of :func:`robustlaw.experiments.run_experiment`'s arguments, for its messages.
_FLAGS = {"device": "--device", "scale": "--scale"}


def _executor_options(executor: str, address: str | None, workers: str | None) -> dict[str, Any]:
    check_executor(executor)
    count = parse_workers(workers)
    if executor == "local":
        if address is not None:
            fail("--address applies to --executor ray")
        return {} if count is None else {"workers": count}
    if workers is not None:
        fail("--workers applies to --executor local (Ray sizes its own workers)")
    check_ray_address(address)
    return {"address": address}


def _format_ci(verdict: Any) -> str:
    fit = verdict.fit
    if fit is None or not math.isfinite(fit.slope):
        return "—"
    low, high = fit.slope_ci
    return f"{fit.slope:.2f} [{low:.2f}, {high:.2f}]"


def _two(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "—"


def _value_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _groups(verdicts: list[Any]) -> tuple[str, list[str]]:
    """What all verdicts share (for the title) and what tells each apart (for a column)."""
    keys = {key for v in verdicts for key, value in v.group if value == value}  # drop NaN
    shared = {
        key for key in keys if len({_value_text(dict(v.group).get(key)) for v in verdicts}) == 1
    }
    common = ", ".join(
        f"{key}={_value_text(value)}" for key, value in verdicts[0].group if key in shared
    )
    varying = [
        ", ".join(f"{key}={_value_text(value)}" for key, value in v.group if key in keys - shared)
        for v in verdicts
    ]
    return common, varying


def _verdict_tables(title: str, verdicts: list[Any]) -> list[Table]:
    """One small table per (relation, configuration): rows are lower / upper / exact."""
    from robustlaw.analysis.summary import ratio_text

    common, varying = _groups(verdicts)
    sections: dict[tuple[str, str], list[Any]] = {}
    for verdict, at in zip(verdicts, varying, strict=True):
        sections.setdefault((verdict.relation, at), []).append(verdict)
    tables = []
    for i, ((relation, at), members) in enumerate(sections.items()):
        heading = f"[bold]{relation}[/]" + (f" at {at}" if at else "")
        if i == 0:
            heading = f"{title}\n[dim]{common}[/]\n{heading}" if common else f"{title}\n{heading}"
        table = Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        columns = ("", "slope (95% CI)", "pred.", "floor", "up/floor", "up/low")
        for column in (*columns, "verdict", "regime"):
            table.add_column(column, no_wrap=True)
        for verdict in members:
            colour = {"consistent": "green", "inconsistent": "red"}.get(verdict.verdict, "yellow")
            floor = verdict.floor
            table.add_row(
                verdict.quantity_label.replace(" bound", ""),
                _format_ci(verdict),
                _two(verdict.predicted_slope),
                _two(floor.slope) if floor is not None else "—",
                ratio_text(floor.upper_ratio) if floor is not None else "—",
                ratio_text(verdict.gap_median),
                f"[{colour}]{verdict.verdict.replace(' data', '')}[/]",
                verdict.regime_label.replace("in the law's regime", "law's regime"),
            )
        tables.append(table)
    return tables


#: Columns the verdict tables need without cutting a cell.
_TABLE_WIDTH = 100


def _legend() -> str:
    from robustlaw.analysis.regimes import DEFAULT_RULES as rules

    return (
        "[dim]slope: log-log slope of Lip against the relation's variable, 95% bootstrap "
        "interval over seeds; pred.: the law's slope; floor: the data floor's own slope over "
        "the same cells (the least Lip of any exact interpolant); up/floor, up/low: median "
        "certified upper bound over the floor and over the lower bound. regime (first rule "
        "that fires): floor-dominated (the floor moves with x and its slope is in the CI, or "
        f"up/floor ≤ {rules.floor_ratio:g}), search-limited (a construction or another search "
        "in the store is certified smoother), certificate-limited (up/low > "
        f"{rules.certificate_gap:g}), else in the law's regime; the report has each check[/]"
    )


def _verdict_json(verdict: Any) -> dict[str, Any]:
    fit = verdict.fit
    return {
        "relation": verdict.relation,
        "group": dict(verdict.group),
        "quantity": verdict.quantity,
        "certification": verdict.certification,
        "slope": None if fit is None else fit.slope,
        "slope_ci": None if fit is None else list(fit.slope_ci),
        "predicted_slope": verdict.predicted_slope,
        "verdict": verdict.verdict,
        "statement": verdict.statement,
        "reason": verdict.reason,
        "rule": verdict.rule,
        "gap_median": verdict.gap_median,
        "floor_slope": None if verdict.floor is None else verdict.floor.slope,
        "upper_over_floor": None if verdict.floor is None else verdict.floor.upper_ratio,
        "floor": None if verdict.floor is None else verdict.floor.to_dict(),
        "regime": verdict.regime_label,
        "regime_rule": None if verdict.regime is None else verdict.regime.rule,
        "regime_checks": (
            [] if verdict.regime is None else [c.to_dict() for c in verdict.regime.checks]
        ),
        "theorem3": (
            None
            if verdict.regime is None or verdict.regime.theorem3 is None
            else verdict.regime.theorem3.to_dict()
        ),
    }


def _run(
    name: str,
    scale: str,
    out: Path,
    executor: str,
    address: str | None,
    device: str | None,
    progress: bool | None,
    as_json: bool,
    allow_failures: bool,
    workers: str | None = None,
    dry_run: bool = False,
) -> None:
    from robustlaw.experiments import experiment_spec, run_experiment

    options = _executor_options(executor, address, workers)
    if dry_run:
        from robustlaw.sweep import size

        with bad_input_exits(_FLAGS):
            estimate = size(
                experiment_spec(name, scale),
                out / "results.db",
                workers=options.get("workers"),
                device=device,
            )
        print_sizes([estimate], as_json)
        return
    # with --json, stdout carries the JSON only: the steps go to stderr
    steps = error_console if as_json else console

    def say(message: str) -> None:
        steps.print(f"[dim]{escape(message)}[/]", highlight=False)

    with bad_input_exits(_FLAGS):
        result = run_experiment(
            name,
            scale,
            out_dir=out,
            executor=executor,
            executor_options=options,
            device=device,
            progress=False if as_json else progress,
            log=say,
        )
    summary = result.summary
    if as_json:
        print_json(
            {
                "experiment": name,
                "scale": scale,
                "spec_name": result.spec_name,
                "summary": summary.to_dict(),
                "store": str(result.store),
                "report": None if result.report is None else str(result.report),
                "headline": [_verdict_json(v) for v in result.headline],
                "verdicts": [_verdict_json(v) for v in result.verdicts],
            }
        )
        exit_on_failures([summary], allow_failures)
        return
    console.print(
        f"{summary.total} trials: {summary.done} done now, {summary.skipped} already in the "
        f"store, {summary.failed} failed, {summary.diverged} diverged ({summary.seconds:.0f} s)",
        highlight=False,
    )
    if result.headline:
        # the verdict tables need about 100 columns; files and pipes get them whole
        wide = console if console.is_terminal else Console(width=max(console.width, _TABLE_WIDTH))
        for table in _verdict_tables(f"{name}: fitted log-log slopes", result.headline):
            wide.print(table)
        console.print(_legend(), highlight=False)
        for note in dict.fromkeys(v.reason for v in result.headline if v.reason):
            console.print(f"[dim]note: {note}[/]", highlight=False)
        theorem3 = [v.regime.theorem3 for v in result.headline if v.regime and v.regime.theorem3]
        for text in dict.fromkeys(t.text for t in theorem3):
            console.print(f"[dim]{text}[/]", highlight=False)
    floor_line = _floor_line(result)
    if floor_line:
        console.print(floor_line, highlight=False, soft_wrap=True)
    if result.report is not None:
        console.print(f"report: {result.report}", highlight=False)
    exit_on_failures([summary], allow_failures)


def _floor_line(result: Any) -> str | None:
    """The smoothest fit found at the largest width beside the data floor, when recorded."""
    import pandas as pd

    from robustlaw.analysis.tables import numeric_column, smoothest_fits

    cells = smoothest_fits(result.records)
    if cells.empty or "lip_floor" not in cells or not {"n", "width"} <= set(cells.columns):
        return None
    keys = [key for key in ("n", "d", "activation") if key in cells.columns]
    # the configuration scanned over the most widths (Lip vs k), its widest networks
    (n, d, *_), scan = max(
        cells.groupby(keys, sort=True),
        key=lambda item: (item[1]["width"].nunique(), item[0][0]),
    )
    widths = numeric_column(scan, "width")
    widest = scan[widths == widths.max()]
    floor = numeric_column(widest, "lip_floor").median()
    upper = numeric_column(widest[widest["fit_reached"].astype(bool)], "lip_upper").median()
    if pd.isna(floor) or pd.isna(upper) or floor <= 0:
        return None
    return (
        f"data floor (no exact interpolant is smoother; median over seeds): {floor:.3g}; "
        f"smallest certified fitting network at n={_value_text(n)}, d={_value_text(d)}, "
        f"k={int(widths.max())}: certified {upper:.3g} ({upper / floor:.2f}× the floor)"
    )


def demo(
    out: OutDir = Path("robustlaw-results"),
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
    device: Device = None,
    progress: Progress = None,
    allow_failures: AllowFailures = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
    scale: Annotated[str, typer.Option(hidden=True, help="default or tiny (smoke test).")] = (
        "default"
    ),
) -> None:
    """The two-layer law on the sphere, measured: sweep, certified Lipschitz, fits, report.

    Fits the smoothest ReLU networks the search finds to random ±1 labels of points on the
    sphere for widths k from below n/d to above n and several seeds, brackets each network's
    Lipschitz constant on the sphere between certified bounds, fits Lip against n/k on log-log
    axes, prints the slope with its bootstrap CI next to the conjecture's 1/2, and writes an
    HTML report. Rerunning resumes: finished trials are read from the store. Exits 1 after
    a summary when a trial failed or diverged (--allow-failures: 0).
    """
    _run(
        "demo", scale, out, executor, address, device, progress, as_json, allow_failures,
        workers, dry_run,
    )  # fmt: skip


def reproduce(
    name: Annotated[
        str | None, typer.Argument(help="Experiment to run (see --list).", show_default=False)
    ] = None,
    scale: Annotated[
        str, typer.Option(help="small (a laptop, minutes), full (GPU or cluster), tiny (smoke).")
    ] = "small",
    out: OutDir = Path("robustlaw-results"),
    executor: Executor = "local",
    address: Address = None,
    workers: Workers = None,
    device: Device = None,
    progress: Progress = None,
    allow_failures: AllowFailures = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
    list_: Annotated[bool, typer.Option("--list", help="List the experiments and exit.")] = False,
    print_spec: Annotated[
        bool,
        typer.Option(
            "--print-spec", help="Print the experiment's spec (TOML, for `robustlaw sweep run`)."
        ),
    ] = False,
) -> None:
    """Run one of the paper experiments (docs/science.md §7) at a scale, then analyse and report.

    Experiments: two-layer-law, universal-law, rf-ntk, real-data, constructions. Results go to
    OUT/results.db (rerunning skips finished trials) and OUT/<spec>-report/report.html.
    Exits 1 after a summary when a trial failed or diverged (--allow-failures: 0).
    """
    from robustlaw.experiments import CATALOG, spec_text

    if list_:
        rows = [
            {"name": e.name, "scales": list(e.scales), "description": e.description}
            for e in CATALOG.values()
            if e.name != "demo"
        ]
        if as_json:
            print_json(rows)
            return
        table = Table(title="experiments", title_justify="left")
        for column in ("name", "scales", "description"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["name"], ", ".join(row["scales"]), row["description"])
        console.print(table)
        return
    names = [key for key in CATALOG if key != "demo"]
    if name is None:
        fail(f"NAME is required: one of {', '.join(names)}")
    if name == "demo":
        fail("the demo runs with `robustlaw demo`")
    if name not in names:
        fail(unknown_name(name, names, "experiment"))
    if print_spec:
        with bad_input_exits(_FLAGS):
            text = spec_text(name, scale)
        typer.echo(text, nl=False)
        return
    _run(
        name, scale, out, executor, address, device, progress, as_json, allow_failures,
        workers, dry_run,
    )  # fmt: skip
