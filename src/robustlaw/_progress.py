"""The one progress bar of the library: rich, on stderr, shown only on a terminal.

``enabled``: None shows it when stderr is a terminal, False never, True when stderr is a
terminal (a bar is never written into a file or a pipe). ``count``: the text after the bar,
e.g. ``"{task.completed}/{task.total} methods"``.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["progress_bar"]


def progress_bar(enabled: bool | None, count: str, *, remaining: bool = False) -> Progress:
    """A transient bar with a description, ``count`` and the elapsed (and remaining) time."""
    console = Console(stderr=True)
    show = console.is_terminal if enabled is None else bool(enabled) and console.is_terminal
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn(count),
        TimeElapsedColumn(),
    ]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=True, disable=not show)
