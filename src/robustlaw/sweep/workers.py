"""Local worker processes: batches run in parallel, one process per core.

The driver keeps the queue; each worker process holds at most one batch, so an idle worker
takes the next one (a shared queue: the longest batches go first and every core stays busy
to the end). Workers are started with ``spawn`` (a fresh interpreter, never a fork of a
process holding torch or BLAS threads) through :func:`start_worker`, run torch at a fixed
number of threads and send records back over a pipe; only the driver writes to the store.

A worker that dies while it holds a batch (killed, out of memory, a crash in native code)
is replaced and its batch is run once more; when that attempt dies too, the batch's trials
are recorded as failed with the exit status. A runner that raises is not retried: its
trials are failed records, as in one process.
"""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from robustlaw._spawn import CONTEXT, start_process
from robustlaw.sweep.plan import Batch
from robustlaw.sweep.run import Runner, failed_records, run_batch

__all__ = ["ATTEMPTS", "WorkerPool", "start_worker"]

#: How often a batch is started before its trials are recorded as failed (a worker that
#: dies on the first attempt is retried once).
ATTEMPTS = 2

#: Thread-count variables read by BLAS, OpenMP and numba when they start in a worker.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)

#: Seconds a worker gets to exit after it was asked to stop, before it is killed.
_GRACE_SECONDS = 3.0


def start_worker(target: Callable[..., Any], *args: Any, name: str) -> Any:
    """Start ``target(*args)`` in a new worker process (the one place workers are started)."""
    return start_process(target, *args, name=name, daemon=False)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def worker_main(conn: Connection, threads: int) -> None:
    """A worker's loop: receive ``(task, payload)``, run the batch, send ``(task, records)``.

    ``payload`` is the pickled ``(batch, runners, device)``; a payload that cannot be
    unpickled here (a runner defined in a script's ``__main__``) comes back as
    ``(task, error text)``. Ctrl-C is left to the driver (it stops the workers); SIGTERM
    exits through the interpreter's clean-up, so this worker's own helper processes stop.
    Whatever a solver prints here goes to stderr. Told to stop (``None``) or orphaned, the
    worker exits at once.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    os.dup2(2, 1)  # the driver's stdout carries only what its command prints
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)
    parent = os.getppid()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if message is None or os.getppid() != parent:
            conn.close()
            # nothing is left to flush: skip the interpreter's teardown of torch and numba
            os._exit(0)
        task, payload = message
        try:
            batch, runners, device = pickle.loads(payload)
        except Exception as exc:
            conn.send((task, f"the worker could not load the batch: {type(exc).__name__}: {exc}"))
            continue
        conn.send((task, run_batch(batch, device=device, threads=threads, runners=runners)))


@dataclass
class _Worker:
    """A worker process, its end of the pipe and the task it holds."""

    process: Any
    conn: Connection
    task: int | None = None
    since: float = field(default_factory=time.perf_counter)


@dataclass
class _Task:
    batch: Batch
    attempts: int = 0


class WorkerPool:
    """Runs batches on ``workers`` spawned processes with torch at ``threads`` threads.

    Parameters
    ----------
    workers : int
        Processes (at most one per batch is started).
    threads : int
        Torch (and BLAS, OpenMP, numba) threads of each worker.
    device : str
    runners : mapping
        kind -> runner; pickled with each batch (module-level functions).
    on_start : callable, optional
        Called with a batch when a worker takes it.
    """

    def __init__(
        self,
        workers: int,
        threads: int,
        device: str,
        runners: Mapping[str, Runner],
        on_start: Callable[[Batch], None] | None = None,
    ) -> None:
        self.size = workers
        self.threads = threads
        self.device = device
        self.runners = dict(runners)
        self.on_start = on_start
        self.running = 0
        self._workers: list[_Worker] = []
        self._tasks: dict[int, _Task] = {}

    # ----------------------------------------------------------------- processes

    def _spawn(self) -> _Worker:
        ours, theirs = CONTEXT.Pipe(duplex=True)
        name = f"robustlaw-sweep-worker-{len(self._workers)}"
        try:
            process = start_worker(worker_main, theirs, self.threads, name=name)
        finally:
            theirs.close()
        worker = _Worker(process=process, conn=ours)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=_GRACE_SECONDS)

    def close(self) -> None:
        """Stop every worker: idle ones are told to exit, busy ones are terminated."""
        for worker in self._workers:
            try:
                if worker.task is None:
                    worker.conn.send(None)
                else:
                    worker.process.terminate()
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + _GRACE_SECONDS
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()
        self.running = 0

    # ----------------------------------------------------------------- scheduling

    def _payload(self, batch: Batch) -> bytes | str:
        try:
            return pickle.dumps((batch, self.runners, self.device))
        except Exception as exc:
            return (
                f"the batch cannot be sent to a worker process ({type(exc).__name__}: {exc}); "
                "runners must be module-level functions, or run with workers = 1"
            )

    def _assign(self, worker: _Worker, number: int, task: _Task, payload: bytes) -> None:
        task.attempts += 1
        worker.task = number
        worker.since = time.perf_counter()
        worker.conn.send((number, payload))
        self.running += len(task.batch)
        if self.on_start is not None:
            self.on_start(task.batch)

    def _collect(self, worker: _Worker) -> tuple[int, Any] | None:
        """The worker's answer, or None when it died without one."""
        try:
            if worker.conn.poll():
                return worker.conn.recv()
        except (EOFError, OSError):
            pass
        return None

    def _finish(self, worker: _Worker, number: int) -> None:
        worker.task = None
        self.running -= len(self._tasks[number].batch)

    def run(self, batches: Sequence[Batch]) -> Iterator[tuple[Batch, list[dict[str, Any]]]]:
        """Yield ``(batch, records)`` as batches finish, in the order they finish."""
        queue: deque[int] = deque()
        for number, batch in enumerate(batches):
            self._tasks[number] = _Task(batch)
            queue.append(number)
        try:
            yield from self._loop(queue)
        except KeyboardInterrupt:
            # records already computed are not lost: take what the workers have sent
            for worker in list(self._workers):
                if worker.task is not None:
                    answer = self._collect(worker)
                    if answer is not None and not isinstance(answer[1], str):
                        number = worker.task
                        self._finish(worker, number)
                        yield self._tasks[number].batch, answer[1]
            raise
        finally:
            self.close()

    def _loop(self, queue: deque[int]) -> Iterator[tuple[Batch, list[dict[str, Any]]]]:
        while queue or any(w.task is not None for w in self._workers):
            while queue:
                idle = next((w for w in self._workers if w.task is None), None)
                if idle is None and len(self._workers) < min(self.size, len(self._tasks)):
                    idle = self._spawn()
                if idle is None:
                    break
                number = queue.popleft()
                task = self._tasks[number]
                payload = self._payload(task.batch)
                if isinstance(payload, str):
                    yield task.batch, failed_records(task.batch, payload, device=self.device)
                    continue
                self._assign(idle, number, task, payload)
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                continue
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                number = worker.task
                task = self._tasks[number]
                answer = self._collect(worker)
                if answer is not None:
                    self._finish(worker, number)
                    records = answer[1]
                    if isinstance(records, str):
                        records = failed_records(task.batch, records, device=self.device)
                    yield task.batch, records
                    continue
                if worker.process.is_alive() and worker.process.sentinel not in ready:
                    continue  # woke up without a full message
                self._finish(worker, number)
                worker.process.join(timeout=_GRACE_SECONDS)
                code = worker.process.exitcode
                self._retire(worker)
                if task.attempts < ATTEMPTS:
                    queue.appendleft(number)
                    continue
                yield (
                    task.batch,
                    failed_records(
                        task.batch,
                        f"the worker process died ({_exit_text(code)}) on each of "
                        f"{task.attempts} attempts",
                        device=self.device,
                    ),
                )


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
