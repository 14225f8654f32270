"""One batch in, one record per trial out: :func:`run_batch`.

A **runner** executes every trial of a batch together (sample the data once, build one
family whose members are the batch's widths, fit, measure) and returns one
:class:`~robustlaw.sweep.records.TrialOutcome` per trial, in the batch's order. Runners
live in :data:`robustlaw.sweep.registry.RUNNERS`, keyed by the trial's ``kind``;
:mod:`robustlaw.sweep.runners` registers the built-in ones, and a new kind of experiment
is one function and one :func:`register_runner` call.

:func:`run_batch` is what every executor calls, in-process or on a worker: it looks the
runner up, times it, turns an exception into failed records (so a bad batch never stops a
sweep) and stamps each record with versions and the device. Records are typed
(:class:`~robustlaw.sweep.records.TrialRecord`); only the driver writes them to the store.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from robustlaw.sweep.plan import Batch
from robustlaw.sweep.records import STATUSES, TrialOutcome, TrialRecord, iso_time
from robustlaw.sweep.registry import (
    RUNNERS,
    Runner,
    get_runner,
    register_runner,
    runner_kinds,
    unknown_name,
)

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


@dataclass(frozen=True)
class RunContext:
    """Where a batch runs: the torch device and the number of torch threads it may use."""

    device: str = "cpu"
    threads: int | None = None


def _versions() -> dict[str, str]:
    import torch

    from robustlaw import __version__

    return {"package_version": __version__, "torch_version": str(torch.__version__)}


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


def _records(
    batch: Batch, outcomes: list[TrialOutcome], *, device: str, batch_seconds: float
) -> list[TrialRecord]:
    versions = _versions()
    host, finished = socket.gethostname(), iso_time(time.time())
    return [
        TrialRecord.of(
            outcome,
            trial_hash=trial.hash,
            batch_key=trial.batch_key,
            config=trial.config,
            seconds=batch_seconds / len(batch),
            batch_seconds=batch_seconds,
            device=device,
            host=host,
            finished_at=finished,
            **versions,
        )
        for trial, outcome in zip(batch.trials, outcomes, strict=True)
    ]


def failed_records(batch: Batch, error: str, *, device: str = "cpu") -> list[TrialRecord]:
    """Records marking every trial of ``batch`` as failed with ``error`` (e.g. a worker
    that died on every retry)."""
    outcome = TrialOutcome(status="failed", error=error)
    return _records(batch, [outcome] * len(batch), device=device, batch_seconds=0.0)


def _outcomes(batch: Batch, runner: Runner, context: RunContext) -> list[TrialOutcome]:
    outcomes = list(runner(batch, context))
    if len(outcomes) != len(batch):
        raise RuntimeError(
            f"runner for {batch.kind!r} returned {len(outcomes)} outcomes for {len(batch)} trials"
        )
    for outcome in outcomes:
        if not isinstance(outcome, TrialOutcome):
            raise TypeError(
                f"runner for {batch.kind!r} returned {type(outcome).__name__}, "
                "expected TrialOutcome"
            )
    return outcomes


def run_batch(
    batch: Batch,
    *,
    device: str = "cpu",
    threads: int | None = None,
    runners: Mapping[str, Runner] | None = None,
) -> list[TrialRecord]:
    """Run one batch and return one record per trial, in the batch's order.

    Parameters
    ----------
    batch : Batch
    device : str
        Torch device for the batch's tensors ("cpu", "cuda", "cuda:1", ...).
    threads : int, optional
        Set torch's intra-op thread count before running (None: leave it).
    runners : mapping, optional
        Where to look the batch's kind up (default: the registry); executors pass the
        runners resolved in the driver so that workers need no registration of their own.

    Returns
    -------
    list of TrialRecord
        A runner that raises makes every trial of the batch "failed" with the error.
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"batch must be a Batch, got {type(batch).__name__}")
    _set_threads(threads)
    start = time.perf_counter()
    try:
        if runners is None:
            runner = get_runner(batch.kind)
        elif batch.kind in runners:
            runner = runners[batch.kind]
        else:
            raise ValueError(unknown_name(batch.kind, runners, "runner kind"))
        outcomes = _outcomes(batch, runner, RunContext(device=device, threads=threads))
    except Exception as exc:
        outcomes = [TrialOutcome(status="failed", error=_error_text(exc))] * len(batch)
    elapsed = time.perf_counter() - start
    return _records(batch, outcomes, device=device, batch_seconds=elapsed)
