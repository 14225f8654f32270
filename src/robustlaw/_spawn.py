"""Start a helper process safely from any caller.

Helpers are started with multiprocessing's ``spawn`` method (a fresh interpreter: no
fork of a process that holds threads of torch, BLAS or HiGHS). A spawned child normally
re-runs the parent's main module before it runs its target, which breaks every caller
whose main module is not guarded by ``if __name__ == "__main__":`` — a plain script
(the child starts helpers of its own while bootstrapping, and multiprocessing refuses),
a Ray worker (whose main module is Ray's worker loop), pytest. Here the main module is
hidden while the process starts, so the child imports only what its target needs; the
target must therefore be a module-level function of an importable module (a function
of robustlaw), and its arguments picklable.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

__all__ = ["CONTEXT", "cpu_share", "start_process"]

#: The context of every helper (queues and shared arrays passed to helpers come from it).
CONTEXT: SpawnContext = mp.get_context("spawn")

_MISSING = object()


def start_process(
    target: Callable[..., Any], *args: Any, name: str, daemon: bool = True
) -> SpawnProcess:
    """Start ``target(*args)`` in a spawned process and return its handle.

    The caller's ``__main__`` module is not re-run in the child (its ``__spec__`` and
    ``__file__`` are hidden while the process starts). Raises what
    :meth:`multiprocessing.Process.start` raises when this process cannot start one
    (e.g. inside a daemonic process).
    """
    proc = CONTEXT.Process(target=target, args=args, name=name, daemon=daemon)
    main = sys.modules.get("__main__")
    saved = {key: getattr(main, key, _MISSING) for key in ("__spec__", "__file__")}
    try:
        if main is not None:
            main.__spec__ = None
            if saved["__file__"] is not _MISSING:
                del main.__file__
        proc.start()
    finally:
        if main is not None:
            for key, value in saved.items():
                if value is _MISSING:
                    main.__dict__.pop(key, None)
                else:
                    setattr(main, key, value)
    return proc


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_share() -> int:
    """Processes a library call may keep busy from this process: torch's intra-op thread
    count, at most the cores this process may use, and 1 in a daemonic process (which
    cannot start children).

    torch's thread count is the one place a caller already says how many cores a process
    owns: by default one per core (a script, a notebook), while a sweep sets each worker
    process (and a Ray task) to its share of the cores, so a search started inside a
    sweep stays in its worker's share and the workers do not oversubscribe the machine.
    """
    import torch

    if mp.current_process().daemon:
        return 1
    return max(1, min(available_cores(), torch.get_num_threads()))
