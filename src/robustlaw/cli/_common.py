"""Shared helpers for CLI commands: one-line errors with exit status 2, JSON output."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)

#: Exit status for bad input, as click uses for usage errors.
EXIT_BAD_INPUT = 2

Workers = Annotated[
    str | None,
    typer.Option(
        "--workers",
        help="Local worker processes: a positive integer or 'auto' (one per core; the "
        "default, or the spec's run.workers). 1 runs every batch in this process.",
        show_default=False,
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print trials, batches and an estimate of the CPU time (stored timings, or a "
        "few trials run now); write nothing.",
    ),
]


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@contextmanager
def bad_input_exits() -> Iterator[None]:
    """Turn ValueError/TypeError/FileNotFoundError raised at the library boundary into exit 2."""
    try:
        yield
    except (ValueError, TypeError, FileNotFoundError) as exc:
        fail(str(exc))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def print_json(payload: Any) -> None:
    """Strict JSON on stdout (NaN and inf become null)."""
    sys.stdout.write(json.dumps(_finite_or_none(payload), default=_json_default, indent=2))
    sys.stdout.write("\n")


def parse_workers(text: str | None) -> int | str | None:
    """``--workers``: None (the spec decides), "auto" or a positive integer."""
    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        fail(f"--workers must be a positive integer or 'auto', got {text!r}")
    return value


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def print_sizes(sizes: list[Any], as_json: bool) -> None:
    """The dry-run table (or JSON) of :class:`robustlaw.sweep.SweepSize` rows."""
    if as_json:
        print_json([s.to_dict() for s in sizes])
        return
    from rich.table import Table

    table = Table(title="plan (nothing run; CPU-hours and wall time are estimates)")
    for column in ("spec", "trials", "pending", "batches", "CPU-hours", "wall time"):
        table.add_column(
            column, justify="left" if column == "spec" else "right", min_width=len(column)
        )
    for s in sizes:
        table.add_row(
            s.spec_name,
            str(s.trials),
            f"{s.pending} ({s.finished} done)" if s.finished else str(s.pending),
            str(s.batches),
            f"{s.cpu_hours:.3g}",
            f"{_duration(s.wall_seconds)}, {s.workers} worker{'s' if s.workers > 1 else ''}",
        )
    console.print(table)
    for s in sizes:
        console.print(
            f"[dim]{s.spec_name}: estimated from {s.basis}; largest batch "
            f"{s.largest_batch} networks[/]",
            highlight=False,
        )
