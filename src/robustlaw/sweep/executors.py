"""Executors: where batches run. One interface, a registry, two implementations.

- ``local`` (default): in the driver's process, one batch after another, torch using
  every core.
- ``ray``: each batch is one Ray task on a local Ray (started on demand) or on a cluster
  (``address``); workers pin torch to their CPU share; a task whose worker dies is retried
  ``max_retries`` times, then its trials are recorded as failed with the error.

Every executor yields :class:`BatchResult` objects as batches finish; only the driver
writes them to the store. Runners are resolved in the driver and shipped with each task,
so workers need no registration of their own.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from robustlaw.sweep.plan import Batch
from robustlaw.sweep.records import TrialRecord
from robustlaw.sweep.run import Runner, failed_records, run_batch

__all__ = [
    "EXECUTORS",
    "BatchResult",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "get_executor",
    "register_executor",
]


@dataclass(frozen=True)
class BatchResult:
    """A finished batch and its records (one per trial, in the batch's order)."""

    batch: Batch
    records: list[TrialRecord]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


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


@register_executor
class LocalExecutor(Executor):
    """In-process, one batch at a time, torch using ``threads`` threads (default: every
    core available to the process)."""

    name = "local"

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0
        ):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads or available_cores()
        self._running = 0

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
