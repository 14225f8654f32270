"""``robustlaw report``: one self-contained HTML report of a sweep store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from robustlaw.cli._common import bad_input_exits, console


def report(
    store: Annotated[
        Path, typer.Argument(help="Sweep store to read (as written by robustlaw sweep).")
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", help="Directory for report.html and figures/.")
    ],
) -> None:
    """Fits, verdicts against the law, figures and timings of a sweep, as one HTML file."""
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
            progress=lambda message: console.print(f"[dim]{message}[/]", highlight=False),
        )
    console.print(f"report: {path}", highlight=False)
