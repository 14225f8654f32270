"""A progress bar for sweeps: done / failed / running trials and an ETA (rich).

Quiet when the console is not a terminal (logs, CI, pipes) unless forced on.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["SweepProgress"]


class SweepProgress:
    """Progress of one sweep, counted in trials.

    Parameters
    ----------
    total : int
        Trials to run in this invocation (skipped ones excluded).
    description : str
        Shown left of the bar (the spec's name).
    enabled : bool, optional
        Force the bar on or off; by default on only when the console is a terminal.
    console : rich Console, optional

    Use as a context manager; call :meth:`update` as batches start and finish.
    """

    def __init__(
        self,
        total: int,
        description: str = "sweep",
        enabled: bool | None = None,
        console: Console | None = None,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.total = total
        self.description = description
        self.done = 0
        self.failed = 0
        self.running = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> SweepProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "[green]{task.fields[done]} done[/] · [red]{task.fields[failed]} failed[/] · "
                    "[yellow]{task.fields[running]} running[/]"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.description, total=self.total, done=0, failed=0, running=0
            )
        return self

    def update(self, *, done: int = 0, failed: int = 0, running: int | None = None) -> None:
        """Add finished trials (``done``, ``failed``) and set the running count."""
        self.done += done
        self.failed += failed
        if running is not None:
            self.running = running
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                completed=self.done + self.failed,
                done=self.done,
                failed=self.failed,
                running=self.running,
            )

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
