"""Executors: where batches run. One interface, a registry, two implementations.

- ``local`` (default): worker processes on this machine, one per available core, torch at
  one thread each (:mod:`robustlaw.sweep.workers`); with ``workers=1``, in the driver's
  process, one batch after another (torch at one thread too, so that both store the same
  numbers).
- ``ray``: each batch is one Ray task on a local Ray (started on demand) or on a cluster
  (``address``); workers pin torch to their CPU share; a task whose worker dies is retried
  ``max_retries`` times, then its trials are recorded as failed with the error.

Every executor yields :class:`BatchResult` objects as batches finish; only the driver
writes them to the store. Runners are resolved in the driver and shipped with each task,
so workers need no registration of their own. Where a batch runs never changes what it
computes: the batches come from the plan, not from the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from robustlaw._spawn import available_cores
from robustlaw.sweep.plan import Batch
from robustlaw.sweep.records import TrialRecord
from robustlaw.sweep.run import Runner, failed_records, run_batch
from robustlaw.sweep.sizing import batch_cost
from robustlaw.sweep.workers import WorkerPool

__all__ = [
    "EXECUTORS",
    "BatchResult",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "available_cores",
    "by_cost",
    "get_executor",
    "register_executor",
    "resolve_workers",
]


@dataclass(frozen=True)
class BatchResult:
    """A finished batch and its records (one per trial, in the batch's order)."""

    batch: Batch
    records: list[TrialRecord]


class Executor(ABC):
    """Runs batches and yields their records as they finish.

    Subclasses set ``name`` and implement :meth:`run`; ``running`` is the number of
    trials currently submitted and not finished (for progress bars).
    """

    name: ClassVar[str]

    @abstractmethod
    def run(
        self,
        batches: Sequence[Batch],
        *,
        runners: Mapping[str, Runner],
        device: str = "cpu",
        on_start: Callable[[Batch], None] | None = None,
    ) -> Iterator[BatchResult]:
        """Run every batch once; yield each :class:`BatchResult` as it completes.

        Parameters
        ----------
        batches : sequence of Batch
        runners : mapping
            kind -> runner, for every kind among the batches.
        device : str
            Torch device for the trials' tensors.
        on_start : callable, optional
            Called with a batch when it is submitted or starts.
        """

    @property
    def running(self) -> int:
        return 0

    def start(self) -> None:  # noqa: B027  (an optional hook)
        """Acquire resources ahead of :meth:`run` (e.g. start Ray); :meth:`run` calls it."""

    def close(self) -> None:  # noqa: B027  (an optional hook)
        """Release resources (a Ray instance this executor started)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(cls: type[Executor]) -> type[Executor]:
    """Class decorator adding an executor to :data:`EXECUTORS` under ``cls.name``."""
    if cls.name in EXECUTORS and EXECUTORS[cls.name] is not cls:
        raise ValueError(f"executor {cls.name!r} is already registered")
    EXECUTORS[cls.name] = cls
    return cls


def get_executor(name: str, **options: Any) -> Executor:
    """An executor by registry name, constructed with ``options``."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(sorted(EXECUTORS))})")
    return EXECUTORS[name](**options)


def resolve_workers(workers: int | str | None) -> int:
    """The number of local worker processes: ``"auto"`` (or None) is one per available core.

    Raises
    ------
    ValueError
        When ``workers`` is neither a positive integer nor ``"auto"``.
    """
    if workers is None or workers == "auto":
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0:
        raise ValueError(f"workers must be a positive integer or 'auto', got {workers!r}")
    return workers


#: Estimated CPU seconds below which "auto" runs the batches in the driver's process.
SPAWN_WORTH_SECONDS = 10.0


def by_cost(batches: Sequence[Batch]) -> list[Batch]:
    """The batches longest first by their estimated cost (ties keep the plan's order)."""
    costs = [batch_cost(batch) for batch in batches]
    order = sorted(range(len(batches)), key=lambda i: -costs[i])
    return [batches[i] for i in order]


@register_executor
class LocalExecutor(Executor):
    """Batches on this machine: ``workers`` spawned processes, or in-process for one.

    With several workers the batches are handed out longest first (by
    :func:`robustlaw.sweep.sizing.batch_cost`) to whichever worker is idle; a worker that
    dies is replaced and its batch run once more (then recorded as failed).

    Parameters
    ----------
    workers : int or "auto"
        Worker processes. With 1, batches run in the driver's process, one after another
        (no process is started). "auto" (default): one per available core, or the driver's
        process when the batches are estimated below :data:`SPAWN_WORTH_SECONDS` in all
        (starting a worker takes seconds).
    threads : int, optional
        Torch threads per process (default 1: the networks are small, a second thread in one
        process mostly waits, and one thread everywhere gives the same numbers in the
        driver's process as in the workers).

    """

    name = "local"

    def __init__(self, workers: int | str | None = "auto", threads: int | None = None) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0
        ):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.auto = workers is None or workers == "auto"
        self.workers = resolve_workers(workers)
        if self.workers > 1 and mp.current_process().daemon:
            warnings.warn(
                "a daemonic process cannot start worker processes: the local executor runs "
                "the batches in this process",
                RuntimeWarning,
                stacklevel=2,
            )
            self.workers = 1
        self.threads = threads or 1
        self.used = 1
        self._running = 0
        self._pool: WorkerPool | None = None

    @property
    def running(self) -> int:
        return self._pool.running if self._pool is not None else self._running

    def run(
        self,
        batches: Sequence[Batch],
        *,
        runners: Mapping[str, Runner],
        device: str = "cpu",
        on_start: Callable[[Batch], None] | None = None,
    ) -> Iterator[BatchResult]:
        count = min(self.workers, len(batches))
        if self.auto and sum(batch_cost(b) for b in batches) < SPAWN_WORTH_SECONDS:
            count = 1
        self.used = max(1, count)
        if count <= 1:
            yield from self._run_here(batches, runners=runners, device=device, on_start=on_start)
            return
        self._pool = WorkerPool(count, self.threads, device, runners, on_start)
        try:
            for batch, records in self._pool.run(by_cost(batches)):
                yield BatchResult(batch, records)
        finally:
            self._pool.close()
            self._pool = None

    def _run_here(
        self,
        batches: Sequence[Batch],
        *,
        runners: Mapping[str, Runner],
        device: str,
        on_start: Callable[[Batch], None] | None,
    ) -> Iterator[BatchResult]:
        import torch

        previous = torch.get_num_threads()
        try:
            for batch in batches:
                self._running = len(batch)
                if on_start is not None:
                    on_start(batch)
                records = run_batch(batch, device=device, threads=self.threads, runners=runners)
                self._running = 0
                yield BatchResult(batch, records)
        finally:
            self._running = 0
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _ray_task(
    batch: Batch, runners: Mapping[str, Runner], device: str, threads: int
) -> list[TrialRecord]:
    """Body of a Ray task: one batch, torch pinned to the task's CPU share."""
    return run_batch(batch, device=device, threads=threads, runners=runners)


def _import_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is an optional extra
        raise ImportError("the ray executor needs Ray: pip install 'robustlaw[ray]'") from exc
    return ray


@register_executor
class RayExecutor(Executor):
    """Each batch is one Ray task.

    Parameters
    ----------
    address : str, optional
        A running cluster ("auto", "ray://host:10001", "host:6379"). Without it, a Ray
        instance already initialized in this process is used, else a local one is started
        with ``ray.init(num_cpus=..., include_dashboard=False)`` and shut down by
        :meth:`close`.
    num_cpus : int, optional
        CPUs of the local Ray started here (default: the cores available).
    cpus_per_task : int
        CPUs each task reserves; torch in the task uses that many threads.
    gpus_per_task : float
        GPUs each task reserves (for ``device="cuda"``; 0 on CPU-only clusters).
    max_retries : int
        Retries of a task whose worker died; after them its trials are recorded as failed.
    object_store_memory : int, optional
        Bytes for the object store of a local Ray started here.
    max_in_flight : int, optional
        Tasks submitted at once (default: twice the cluster's CPUs / cpus_per_task).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_task: int = 1,
        gpus_per_task: float = 0.0,
        max_retries: int = 2,
        object_store_memory: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        for label, value, minimum in (
            ("num_cpus", num_cpus, 1),
            ("cpus_per_task", cpus_per_task, 1),
            ("max_retries", max_retries, 0),
            ("object_store_memory", object_store_memory, 1),
            ("max_in_flight", max_in_flight, 1),
        ):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{label} must be an integer >= {minimum}, got {value!r}")
        if isinstance(gpus_per_task, bool) or not (
            isinstance(gpus_per_task, int | float) and gpus_per_task >= 0
        ):
            raise ValueError(f"gpus_per_task must be a number >= 0, got {gpus_per_task!r}")
        self.gpus_per_task = float(gpus_per_task)
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_task = cpus_per_task
        self.max_retries = max_retries
        self.object_store_memory = object_store_memory
        self.max_in_flight = max_in_flight
        self._owns_ray = False
        self._running = 0
        self._ray: Any = None

    def start(self) -> None:
        """Connect to (or start) Ray now instead of at the first :meth:`run`."""
        self._start()

    def _start(self) -> Any:
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is not None:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.num_cpus or available_cores()
                if self.object_store_memory is not None:
                    kwargs["object_store_memory"] = self.object_store_memory
            ray.init(**kwargs)
            self._owns_ray = True
        self._ray = ray
        return ray

    @property
    def running(self) -> int:
        return self._running

    def run(
        self,
        batches: Sequence[Batch],
        *,
        runners: Mapping[str, Runner],
        device: str = "cpu",
        on_start: Callable[[Batch], None] | None = None,
    ) -> Iterator[BatchResult]:
        ray = self._start()
        task = ray.remote(_ray_task).options(
            num_cpus=self.cpus_per_task,
            num_gpus=self.gpus_per_task,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        window = self.max_in_flight or max(1, 2 * cluster_cpus // self.cpus_per_task)
        runners_ref = ray.put(dict(runners))
        queue = list(batches)
        queue.reverse()
        pending: dict[Any, Batch] = {}
        try:
            while queue or pending:
                while queue and len(pending) < window:
                    batch = queue.pop()
                    ref = task.remote(batch, runners_ref, device, self.cpus_per_task)
                    pending[ref] = batch
                    self._running += len(batch)
                    if on_start is not None:
                        on_start(batch)
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    batch = pending.pop(ref)
                    self._running -= len(batch)
                    try:
                        records = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        message = str(exc).strip().splitlines()
                        detail = message[0] if message else ""
                        records = failed_records(
                            batch,
                            f"{type(exc).__name__} after {self.max_retries} retries: {detail}",
                            device=device,
                        )
                    yield BatchResult(batch, records)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            self._running = 0

    def close(self) -> None:
        if self._ray is not None and self._owns_ray:
            self._ray.shutdown()
        self._ray = None
        self._owns_ray = False
