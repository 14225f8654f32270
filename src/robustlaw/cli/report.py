"""``robustlaw report``: one self-contained HTML report of a sweep store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from robustlaw.cli._common import bad_input_exits, console, error_console, print_json


def report(
    store: Annotated[
        Path, typer.Argument(help="Sweep store to read (as written by robustlaw sweep).")
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Directory for report.html and figures/.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Fits, verdicts against the law, figures and timings of a sweep, as one HTML file."""
    # with --json, stdout carries the JSON only: the steps go to stderr
    steps = error_console if as_json else console
    with bad_input_exits():
        from robustlaw.analysis.report import build_report
        from robustlaw.sweep import load

        records = load(store)
        specs = records.attrs.get("specs", ())
        meta = {"title": f"robustlaw report: {store.name}", "store": str(store)}
        meta.update(records.attrs.get("meta", {}))
        path = build_report(
            records,
            out,
            specs=list(specs),
            meta=meta,
            progress=lambda message: steps.print(f"[dim]{escape(message)}[/]", highlight=False),
        )
    if as_json:
        print_json({"report": str(path), "store": str(store), "trials": len(records)})
    else:
        console.print(f"report: {path}", highlight=False)
