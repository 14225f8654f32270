"""The sweep driver: spec -> plan -> executor -> store, resumable.

:func:`run_sweep` validates the spec (an invalid spec raises before anything is created),
registers the spec's trials in the store, skips trials already finished, runs the rest
batch by batch on an executor and writes each finished batch in one transaction. A
driver killed at any moment loses at most the batches in flight; rerunning the spec
finishes the remaining trials and never duplicates a stored one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robustlaw.sweep.executors import Executor, get_executor, resolve_workers
from robustlaw.sweep.plan import Plan, expand, group, make_plan
from robustlaw.sweep.progress import SweepProgress
from robustlaw.sweep.records import ErrorKind, error_kinds
from robustlaw.sweep.run import get_runner
from robustlaw.sweep.sizing import SweepSize, size_sweep
from robustlaw.sweep.spec import Spec, load_spec
from robustlaw.sweep.store import DEFAULT_STORE, Store

__all__ = ["SweepSummary", "plan_sweep", "run_sweep", "size"]


@dataclass(frozen=True)
class SweepSummary:
    """What one invocation of :func:`run_sweep` did.

    Attributes
    ----------
    spec_name : str
    total : int
        Trials in the spec.
    skipped : int
        Trials already finished before this run.
    done, failed, diverged : int
        Outcomes of the trials run now.
    batches : int
        Batches run now.
    seconds : float
        Wall time of the whole call.
    plan_seconds, store_seconds : float
        Time spent expanding/grouping and writing to the store (the driver's overhead).
    store : str
        Path of the store.
    executor : str
    errors : tuple of ErrorKind
        The failed and diverged trials run now, by kind, with the first error of each.
    workers : int
        Processes the batches ran in (1: the driver's own).
    """

    spec_name: str
    total: int
    skipped: int
    done: int
    failed: int
    diverged: int
    batches: int
    seconds: float
    plan_seconds: float
    store_seconds: float
    store: str
    executor: str
    errors: tuple[ErrorKind, ...] = ()
    workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_spec(spec: Spec | str | Path) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, str | Path):
        return load_spec(spec)
    raise TypeError(f"spec must be a Spec or a path, got {type(spec).__name__}")


def plan_sweep(
    spec: Spec | str | Path,
    store: str | Path | None = None,
    max_members: int | None = None,
) -> Plan:
    """The plan of a spec against a store (finished trials skipped), without running."""
    spec = _as_spec(spec)
    finished: set[str] = set()
    if store is not None and Path(store).is_file():
        with Store(store, create=False) as opened:
            finished = opened.finished_hashes()
    return make_plan(spec, finished, max_members or spec.run.max_members)


def size(
    spec: Spec | str | Path,
    store: str | Path | None = None,
    *,
    workers: int | str | None = None,
    max_members: int | None = None,
    device: str | None = None,
    probe: int = 3,
) -> SweepSize:
    """Trials, batches and estimated CPU time of a spec's pending trials, without running
    the sweep or writing to ``store`` (see :func:`robustlaw.sweep.sizing.size_sweep`)."""
    spec = _as_spec(spec)
    plan = plan_sweep(spec, store, max_members)
    return size_sweep(
        spec,
        plan,
        store,
        workers=resolve_workers(workers if workers is not None else spec.run.workers),
        probe=probe,
        device=resolve_device(device or spec.run.device),
    )


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; other names are checked.

    Raises
    ------
    ValueError
        When torch does not know the device or CUDA is asked for but not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return device


def run_sweep(
    spec: Spec | str | Path,
    *,
    store: str | Path = DEFAULT_STORE,
    executor: str | Executor = "local",
    executor_options: Mapping[str, Any] | None = None,
    device: str | None = None,
    max_members: int | None = None,
    progress: bool | None = None,
    workers: int | str | None = None,
) -> SweepSummary:
    """Run every unfinished trial of a spec and store the results.

    Parameters
    ----------
    spec : Spec, str or Path
        A validated spec or a spec file (TOML/YAML).
    store : str or Path
        SQLite results store (created when missing).
    executor : str or Executor
        "local" (default), "ray", or an executor instance (left open for its owner).
    executor_options : mapping, optional
        Keyword arguments of the executor (e.g. ``address``, ``num_cpus``,
        ``max_retries`` for Ray).
    device : str, optional
        Torch device (default: the spec's ``run.device``).
    max_members : int, optional
        Split batches larger than this (default: the spec's ``run.max_members``).
    progress : bool, optional
        Show a progress bar (default: only on a terminal).
    workers : int or "auto", optional
        Worker processes of the local executor (default: the spec's ``run.workers``, or
        ``executor_options["workers"]``); 1 runs the batches in this process. Ignored by
        other executors. The numbers do not depend on it.

    Returns
    -------
    SweepSummary

    Raises
    ------
    SpecError
        For an invalid spec (before anything is created or run).
    ValueError
        For a device torch does not know, or CUDA asked for where there is none.
    """
    start = time.perf_counter()
    spec = _as_spec(spec)
    device = resolve_device(device or spec.run.device)
    members = max_members or spec.run.max_members
    t0 = time.perf_counter()
    trials = expand(spec)
    plan_seconds = time.perf_counter() - t0
    owns = not isinstance(executor, Executor)
    options = dict(executor_options or {})
    if owns and executor == "local":
        if workers is not None and options.get("workers", workers) != workers:
            raise ValueError("workers is given twice (as an argument and an executor option)")
        options.setdefault("workers", workers if workers is not None else spec.run.workers)
    runner_exec = get_executor(executor, **options) if owns else executor
    try:
        runner_exec.start()  # reach the cluster before the store is written
    except BaseException:
        if owns:
            runner_exec.close()
        raise
    counts = {"done": 0, "failed": 0, "diverged": 0}
    ends: list[tuple[str, str | None]] = []
    batches_run = 0
    with Store(store) as db:
        t0 = time.perf_counter()
        db.register_spec(spec, trials)
        finished = db.finished_hashes()
        store_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        pending = [t for t in trials if t.hash not in finished]
        batches = group(pending, members, spec.run.split)
        the_plan = Plan(trials=trials, pending=pending, batches=batches)
        plan_seconds += time.perf_counter() - t0
        runners = {kind: get_runner(kind) for kind in {b.kind for b in the_plan.batches}}
        try:
            with SweepProgress(len(the_plan.pending), spec.name, enabled=progress) as bar:

                def started(_batch: Any) -> None:
                    bar.update(running=runner_exec.running)

                for result in runner_exec.run(
                    the_plan.batches, runners=runners, device=device, on_start=started
                ):
                    t0 = time.perf_counter()
                    db.write_records(spec.name, result.records, executor=runner_exec.name)
                    store_seconds += time.perf_counter() - t0
                    batches_run += 1
                    statuses = [r.status for r in result.records]
                    for status in statuses:
                        counts[status] += 1
                    ends.extend((r.status, r.error) for r in result.records if r.status != "done")
                    bar.update(
                        done=statuses.count("done"),
                        failed=len(statuses) - statuses.count("done"),
                        running=runner_exec.running,
                    )
        finally:
            if owns:
                runner_exec.close()
    return SweepSummary(
        spec_name=spec.name,
        total=len(the_plan.trials),
        skipped=the_plan.skipped,
        done=counts["done"],
        failed=counts["failed"],
        diverged=counts["diverged"],
        batches=batches_run,
        seconds=time.perf_counter() - start,
        plan_seconds=plan_seconds,
        store_seconds=store_seconds,
        store=str(store),
        executor=runner_exec.name,
        errors=error_kinds(ends),
        workers=getattr(runner_exec, "used", 1),
    )
