"""Shared helpers for CLI commands: one-line errors with exit status 2, JSON output, clean
stdout (library chatter goes to stderr), numbers and names as users write them."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from robustlaw._names import ArgumentError, unknown_name

console = Console()
error_console = Console(stderr=True)

#: Exit status for bad input, as click uses for usage errors.
EXIT_BAD_INPUT = 2
#: Exit status of a run in which some trials failed or diverged.
EXIT_FAILED_TRIALS = 1

#: How the CLI spells the arguments of :func:`robustlaw.data.load_dataset` in messages.
FILE_WORDS = {
    "classes": "--classes",
    "classes_hint": "--classes a (one vs rest) or --classes a,b",
    "rescale": "--rescale",
    "labels": "--no-labels",
    "flip_prob": "--flip-prob",
    "split": "--split",
    "label_column": "--label-column",
    "labels_key": "--label-column",
}


def label_option(source: str | os.PathLike, label_column: str | None) -> dict[str, str]:
    """``--label-column`` as :func:`robustlaw.data.load_dataset` takes it: the labels array
    of a .npz archive, the label column of other files."""
    if label_column is None:
        return {}
    key = "labels_key" if str(source).lower().endswith(".npz") else "label_column"
    return {key: label_column}


def separate_stdout() -> None:
    """Send everything written below Python to stderr, keeping stdout for the command.

    A solver's banner (HiGHS prints one when its first model is created) and helper
    processes write to file descriptor 1: it is pointed at stderr, and Python's
    ``sys.stdout`` at a copy of the real stdout, so that stdout carries only what a command
    prints (``--json`` stays valid JSON). Python warnings go to logging (stderr).
    """
    sys.stdout.flush()
    line_buffering = sys.stdout.line_buffering
    stdout = open(
        os.dup(sys.stdout.fileno()),
        "w",
        encoding=sys.stdout.encoding,
        errors=sys.stdout.errors,
    )
    stdout.reconfigure(line_buffering=line_buffering)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = stdout
    logging.captureWarnings(True)


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
    error_line(message)
    raise typer.Exit(EXIT_BAD_INPUT)


def error_line(message: str) -> None:
    """``error: message`` as one line on stderr."""
    line = escape(" ".join(str(message).split()))
    error_console.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)


@contextmanager
def bad_input_exits(words: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run library code: bad input raised at its boundary (ValueError, TypeError, a missing
    file) exits 2 with one line; what the library prints goes to stderr, while
    :data:`console` and :func:`print_json` keep writing the command's output to stdout.

    ``words`` maps the library's argument names to the command's flags: an ArgumentError
    is worded with them, and a message that starts with an argument's name ("n must be
    ...") starts with its flag instead.
    """
    stdout = sys.stdout
    console.file = stdout
    try:
        with redirect_stdout(sys.stderr):
            yield
    except ArgumentError as exc:
        fail(exc.worded(words))
    except (ValueError, TypeError, OSError) as exc:
        first, space, rest = str(exc).partition(" ")
        fail(f"{words[first]}{space}{rest}" if words and first in words else str(exc))
    finally:
        console.file = None  # back to whatever sys.stdout is


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
    """Strict JSON on the command's stdout (NaN and inf become null)."""
    out = console.file
    out.write(json.dumps(_finite_or_none(payload), default=_json_default, indent=2))
    out.write("\n")
    out.flush()


def number(value: float | int) -> str:
    """A number for a table: integers exactly below 10^6, else 4 significant digits
    (scientific notation for large and small magnitudes); inf as ∞, NaN as —."""
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


AllowFailures = Annotated[
    bool,
    typer.Option(
        "--allow-failures",
        help="Exit 0 even when trials failed or diverged (default: exit 1 after a summary).",
    ),
]


def check_executor(executor: str) -> None:
    """``--executor`` names a registered executor (one line and exit 2 otherwise)."""
    from robustlaw.sweep import EXECUTORS

    if executor not in EXECUTORS:
        fail(f"--executor: {unknown_name(executor, EXECUTORS)}")


#: Seconds ``--address`` gets to accept a connection before the run is refused.
ADDRESS_SECONDS = 5.0


def check_ray_address(address: str | None) -> None:
    """``--address`` is ``auto`` or ``[ray://]HOST:PORT`` at which something accepts a TCP
    connection (one line and exit 2 otherwise): Ray itself waits minutes for a cluster that
    is not there."""
    if address is None or address == "auto":
        return
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--address: expected 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), ADDRESS_SECONDS).close()
    except OSError as exc:
        fail(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})")


def exit_on_failures(summaries: list, allow_failures: bool) -> None:
    """The short summary of failed and diverged trials on stderr, then exit 1 (unless
    ``allow_failures``)."""
    failed = sum(s.failed for s in summaries)
    diverged = sum(s.diverged for s in summaries)
    if failed + diverged == 0:
        return
    report_failures([kind for s in summaries for kind in s.errors], failed, diverged)
    if not allow_failures:
        raise typer.Exit(EXIT_FAILED_TRIALS)


def report_failures(errors: Sequence[Any], failed: int, diverged: int) -> None:
    """The short summary of a run with failed or diverged trials, on stderr: the counts,
    then the first error of each kind."""
    error_console.print(
        f"[bold red]{failed} trial(s) failed, {diverged} diverged[/]"
        " (exit status 1; --allow-failures keeps 0)",
        highlight=False,
        soft_wrap=True,
    )
    for kind in errors:
        error_console.print(
            f"  {kind.count} × {kind.status}: {kind.first}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    error_console.print(
        "failed trials run again with the next `robustlaw sweep run`; "
        "`robustlaw sweep status` lists them",
        highlight=False,
        soft_wrap=True,
    )


class OneLineErrors(TyperGroup):
    """The command group, with usage errors (an unparsable number, a missing argument) as
    one line on stderr with exit status 2, like every other bad input."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            status = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help, as typer shows it
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)
            context = getattr(exc, "ctx", None)
            hint = f" (see {context.command_path} --help)" if context is not None else ""
            error_line(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:
            error_line("aborted")
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


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
