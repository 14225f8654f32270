"""One batch in, one record per trial out: the runner registry and :func:`run_batch`.

A **runner** executes every trial of a batch together (sample the data once, build one
family whose members are the batch's widths, fit, measure) and returns one
:class:`TrialOutcome` per trial, in the batch's order. Runners live in :data:`RUNNERS`,
keyed by the trial's ``kind``; :mod:`robustlaw.sweep.runners` registers the built-in
ones, and a new kind of experiment is one function and one :func:`register_runner` call.

:func:`run_batch` is what every executor calls, in-process or on a worker: it looks the
runner up, times it, turns an exception into failed records (so a bad batch never stops a
sweep) and stamps each record with versions and the device. Records are plain data
(JSON-ready dicts) that only the driver writes to the store.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from robustlaw.sweep.plan import Batch, Trial

__all__ = [
    "RUNNERS",
    "STATUSES",
    "RunContext",
    "Runner",
    "TrialOutcome",
    "failed_records",
    "get_runner",
    "register_runner",
    "run_batch",
    "runner_kinds",
]

#: Final states of a trial: "done" (measured), "failed" (an error; rerun by the next run),
#: "diverged" (the fit produced NaN/inf: a result, not rerun).
STATUSES = ("done", "failed", "diverged")


@dataclass(frozen=True)
class RunContext:
    """Where a batch runs: the torch device and the number of torch threads it may use."""

    device: str = "cpu"
    threads: int | None = None


@dataclass(frozen=True)
class TrialOutcome:
    """What a runner reports for one trial.

    Attributes
    ----------
    status : {"done", "failed", "diverged"}
    metrics : dict
        Flat measured values, named as the store's columns (``train_mse``,
        ``fit_reached``, ``lip_lower``, ``lip_upper``, ``lip_upper_method``,
        ``lip_lower_method``, ``lip_exact``, ``p``, ``noise_level``, ``intrinsic_dim``,
        ``sensitivity``, ``robust_accuracy``, ``clean_accuracy``, ...). Missing means
        "not measured".
    fit : dict or None
        The member's fit report (plain data).
    lipschitz : dict or None
        The member's Lipschitz results, every method (plain data).
    meta : dict or None
        The data's metadata (plain data).
    extra : dict or None
        Anything else worth keeping (candidate tables, construction reports).
    error : str or None
        Why the trial failed or diverged.
    fit_seconds, lip_seconds : float or None
        Time spent fitting and measuring this member (a batched step's time is split
        evenly over its members).
    """

    status: Literal["done", "failed", "diverged"] = "done"
    metrics: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] | None = None
    lipschitz: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    error: str | None = None
    fit_seconds: float | None = None
    lip_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


#: ``runner(batch, context) -> [TrialOutcome, ...]`` (one per trial, in batch order).
Runner = Callable[[Batch, RunContext], Sequence[TrialOutcome]]

RUNNERS: dict[str, Runner] = {}


def register_runner(
    kind: str, runner: Runner | None = None, *, replace: bool = False
) -> Callable[[Runner], Runner] | Runner:
    """Register ``runner`` for trials of ``kind`` (usable as a decorator).

    Raises
    ------
    ValueError
        When ``kind`` is already registered and ``replace`` is False.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")

    def wrap(fn: Runner) -> Runner:
        if not callable(fn):
            raise TypeError(f"runner must be callable, got {type(fn).__name__}")
        if kind in RUNNERS and not replace and RUNNERS[kind] is not fn:
            raise ValueError(f"a runner for kind {kind!r} is already registered")
        RUNNERS[kind] = fn
        return fn

    return wrap if runner is None else wrap(runner)


def _load_builtin_runners() -> None:
    import robustlaw.sweep.runners  # noqa: F401  (registers the built-in runners)


def runner_kinds() -> list[str]:
    """Registered runner kinds, built-in ones included."""
    _load_builtin_runners()
    return sorted(RUNNERS)


def get_runner(kind: str, runners: Mapping[str, Runner] | None = None) -> Runner:
    """The runner for ``kind`` from ``runners`` (default: the registry)."""
    if runners is None:
        _load_builtin_runners()
        runners = RUNNERS
    if kind not in runners:
        raise ValueError(f"no runner registered for kind {kind!r} (known: {sorted(runners)})")
    return runners[kind]


def _versions() -> dict[str, str]:
    from robustlaw import __version__

    try:
        import torch

        torch_version = str(torch.__version__)
    except ImportError:  # pragma: no cover - torch is a core dependency
        torch_version = "absent"
    return {"package_version": __version__, "torch_version": torch_version}


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _error_text(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _record(
    trial: Trial,
    outcome: TrialOutcome,
    *,
    device: str,
    batch_seconds: float,
    batch_size: int,
    versions: dict[str, str],
) -> dict[str, Any]:
    def seconds(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else float(value)

    return {
        "trial_hash": trial.hash,
        "batch_key": trial.batch_key,
        "kind": trial.config.kind,
        "experiment": trial.config.experiment,
        "status": outcome.status,
        "error": outcome.error,
        "config": trial.config.model_dump(mode="json"),
        "metrics": dict(outcome.metrics),
        "fit": outcome.fit,
        "lipschitz": outcome.lipschitz,
        "meta": outcome.meta,
        "extra": outcome.extra,
        "fit_seconds": seconds(outcome.fit_seconds),
        "lip_seconds": seconds(outcome.lip_seconds),
        "seconds": batch_seconds / batch_size,
        "batch_seconds": batch_seconds,
        "device": device,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "finished_at": time.time(),
        **versions,
    }


def failed_records(batch: Batch, error: str, *, device: str = "cpu") -> list[dict[str, Any]]:
    """Records marking every trial of ``batch`` as failed with ``error`` (e.g. a worker
    that died on every retry)."""
    versions = _versions()
    outcome = TrialOutcome(status="failed", error=error)
    return [
        _record(
            t, outcome, device=device, batch_seconds=0.0, batch_size=len(batch), versions=versions
        )
        for t in batch.trials
    ]


def run_batch(
    batch: Batch,
    *,
    device: str = "cpu",
    threads: int | None = None,
    runners: Mapping[str, Runner] | None = None,
) -> list[dict[str, Any]]:
    """Run one batch and return one record per trial, in the batch's order.

    Parameters
    ----------
    batch : Batch
    device : str
        Torch device for the batch's tensors ("cpu", "cuda", "cuda:1", ...).
    threads : int, optional
        Set torch's intra-op thread count before running (None: leave it).
    runners : mapping, optional
        Where to look the batch's kind up (default: :data:`RUNNERS`); executors pass the
        runners resolved in the driver so that workers need no registration of their own.

    Returns
    -------
    list of dict
        Records: ``trial_hash``, ``status``, ``config``, ``metrics``, ``fit``,
        ``lipschitz``, ``meta``, ``extra``, ``error``, timings, versions, ``device``.
        A runner that raises makes every trial of the batch "failed" with the error.
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"batch must be a Batch, got {type(batch).__name__}")
    _set_threads(threads)
    versions = _versions()
    start = time.perf_counter()
    try:
        runner = get_runner(batch.kind, runners)
        outcomes = list(runner(batch, RunContext(device=device, threads=threads)))
        if len(outcomes) != len(batch):
            raise RuntimeError(
                f"runner for {batch.kind!r} returned {len(outcomes)} outcomes "
                f"for {len(batch)} trials"
            )
        for outcome in outcomes:
            if not isinstance(outcome, TrialOutcome):
                raise TypeError(
                    f"runner for {batch.kind!r} returned {type(outcome).__name__}, "
                    "expected TrialOutcome"
                )
    except Exception as exc:
        outcomes = [TrialOutcome(status="failed", error=_error_text(exc))] * len(batch)
    elapsed = time.perf_counter() - start
    return [
        _record(
            trial,
            outcome,
            device=device,
            batch_seconds=elapsed,
            batch_size=len(batch),
            versions=versions,
        )
        for trial, outcome in zip(batch.trials, outcomes, strict=True)
    ]
