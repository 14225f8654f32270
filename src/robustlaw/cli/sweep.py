"""``robustlaw sweep run | status | export``: run specs, see progress, export results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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
    exit_on_failures,
    fail,
    parse_workers,
    print_json,
    print_sizes,
)

app = typer.Typer(
    name="sweep",
    help="Run experiment specs (TOML/YAML) locally or on Ray; inspect and export results.",
    no_args_is_help=True,
    add_completion=False,
)


def _default_store() -> Path:
    from robustlaw.sweep.store import DEFAULT_STORE

    return DEFAULT_STORE


Store = Annotated[
    Path | None,
    typer.Option("--store", help="SQLite results store (default: ./robustlaw-results/results.db)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command()
def run(
    specs: Annotated[list[Path], typer.Argument(help="Spec files (.toml, .yaml).")],
    store: Store = None,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of a local Ray.")] = None,
    cpus_per_task: Annotated[int, typer.Option(help="CPUs (torch threads) per Ray task.")] = 1,
    max_retries: Annotated[int, typer.Option(help="Retries of a Ray task whose worker died.")] = 2,
    object_store_mb: Annotated[
        int | None, typer.Option(help="Object store of a local Ray, in MB.")
    ] = None,
    workers: Workers = None,
    threads: Annotated[
        int | None, typer.Option(help="Torch threads per local process (default 1).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Torch device (default: the spec's).")] = None,
    max_members: Annotated[int | None, typer.Option(help="Split larger batches.")] = None,
    dry_run: DryRun = False,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    ] = None,
    allow_failures: AllowFailures = False,
    as_json: AsJson = False,
) -> None:
    """Run every unfinished trial of each spec; finished trials are skipped.

    Exits 1 after a summary when a trial failed or diverged (--allow-failures: 0).
    """
    from robustlaw.sweep import load_spec, run_sweep, size

    store = store or _default_store()
    with bad_input_exits({"device": "--device"}):
        loaded = [load_spec(path) for path in specs]  # validate all before running any
        check_executor(executor)
        count = parse_workers(workers)
        if executor == "local":
            if address is not None or num_cpus is not None or object_store_mb is not None:
                fail("--address, --num-cpus and --object-store-mb apply to --executor ray")
            options = {"threads": threads}
        else:
            if workers is not None:
                fail("--workers applies to --executor local (Ray sizes its own workers)")
            check_ray_address(address)
            options = {
                "address": address,
                "num_cpus": num_cpus,
                "cpus_per_task": cpus_per_task,
                "max_retries": max_retries,
                "object_store_memory": None
                if object_store_mb is None
                else object_store_mb * 1024 * 1024,
            }
        if dry_run:
            sizes = [
                size(spec, store, workers=count, max_members=max_members, device=device)
                for spec in loaded
            ]
            print_sizes(sizes, as_json)
            return
        summaries = [
            run_sweep(
                spec,
                store=store,
                executor=executor,
                executor_options=options,
                device=device,
                max_members=max_members,
                progress=progress,
                workers=count,
            )
            for spec in loaded
        ]
    if as_json:
        print_json([summary.to_dict() for summary in summaries])
    else:
        columns = ("spec_name", "total", "skipped", "done", "failed", "diverged", "seconds")
        rows = [
            {key: getattr(summary, key) for key in columns} | {"seconds": f"{summary.seconds:.1f}"}
            for summary in summaries
        ]
        _table(f"sweep results in {store}", rows)
    exit_on_failures(summaries, allow_failures)


def _table(title: str, rows: list[dict], caption: str | None = None) -> None:
    table = Table(title=title, caption=caption)
    if not rows:
        console.print(f"{title}: nothing")
        return
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("spec_name", "experiment") else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@app.command()
def status(store: Store = None, as_json: AsJson = False) -> None:
    """Done / failed / diverged / pending trials of every version of every spec, and the
    failed trials with their errors."""
    from robustlaw.sweep import status as store_status

    store = store or _default_store()
    with bad_input_exits():
        versions = store_status(store)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    columns = ("total", "done", "failed", "diverged", "pending")
    rows = [
        {
            "spec_name": v.spec_name,
            "version": f"{v.version}" + ("*" if v.latest else ""),
            "registered": v.registered_at,
            **{key: getattr(v, key) for key in columns},
        }
        for v in versions
    ]
    _table(f"specs in {store}", rows, caption="* the latest version of each spec")
    for v in versions:
        if not v.failures:
            continue
        console.print(
            f"[bold]{v.spec_name}[/] version {v.version}: {len(v.failures)} failed trial(s)",
            highlight=False,
        )
        errors: dict[str, list[str]] = {}
        for failure in v.failures:
            errors.setdefault(failure.error or "(no error recorded)", []).append(failure.trial_hash)
        for error, hashes in errors.items():
            shown = ", ".join(h[:12] for h in hashes[:3]) + (" …" if len(hashes) > 3 else "")
            console.print(f"  {len(hashes)} × {escape(error)}  [dim]({shown})[/]", highlight=False)


@app.command()
def export(
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (.parquet or .csv).")],
    store: Store = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="parquet or csv (default: the suffix).")
    ] = None,
    spec: Annotated[
        str | None, typer.Option(help="Only the trials of this spec's latest version.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Export the trials (flat columns and JSON blobs) to Parquet or CSV."""
    from robustlaw.sweep import export as store_export
    from robustlaw.sweep import load

    store = store or _default_store()
    with bad_input_exits():
        path = store_export(store, out, fmt, spec)
        rows = len(load(store, spec))
    if as_json:
        print_json({"path": str(path), "trials": rows})
    else:
        console.print(f"wrote {rows} trials to {path}", highlight=False)
