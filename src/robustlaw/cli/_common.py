"""Shared helpers for CLI commands: one-line errors with exit status 2, JSON output."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
error_console = Console(stderr=True)

#: Exit status for bad input, as click uses for usage errors.
EXIT_BAD_INPUT = 2


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
