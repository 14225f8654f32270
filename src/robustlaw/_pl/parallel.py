"""Helper processes that search parts of the exact solver's branch-and-bound tree.

The process that owns the search (the *main* process) keeps the best open node and
hands every other open node, in bound order, to an idle helper; so both halves of the
frontier are equally good. A helper searches its part best first with its own LPs and a
copy of the learned no-goods; all processes prune against the best certified lower
bound found by any of them (a shared array with one slot per process). When the main
process runs out of nodes while helpers are busy it asks them for half of theirs; a
helper that finishes is handed half of the main process's nodes. The tree's upper bound
is the largest of the main process's open bound, the helpers' final open bounds and
every pruned bound; a helper that dies or does not answer in time leaves the bound its
part had when it was handed out, which is still certified.

Helpers are started by :func:`robustlaw._spawn.start_process` (``spawn``, with the
caller's main module hidden, so any caller can start them: a plain script, a notebook, a
Ray worker). They are started once per :class:`Helpers` and serve every member of a
family; they import the library while the main process samples and climbs, so their
start-up (about 1 s) overlaps useful work. Each job carries the network, the
:class:`~robustlaw._pl.settings.ExactSettings` and the no-goods, so a helper searches
with the caller's settings.

The search over R^d and the ball is split; on the sphere (where leaves need the main
process's tangential LPs) the main process searches alone.
"""

from __future__ import annotations

import pickle
import queue
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from robustlaw._pl.bnb import Incumbent, _Search
from robustlaw._pl.lp import RegionLP
from robustlaw._pl.net import PLNet
from robustlaw._pl.settings import ExactSettings
from robustlaw._spawn import CONTEXT, start_process

__all__ = ["Helpers"]


def _helper_main(index: int, inbox: Any, outbox: Any, shared: Any) -> None:
    """Loop of one helper: answer jobs, node requests and the final stop."""
    outbox.put(("ready", index, None))
    while True:
        message = inbox.get()
        kind = message[0]
        if kind == "stop":
            return
        if kind == "give":  # idle: nothing to give
            outbox.put(("nodes", index, []))
            continue
        try:
            summary = _run_job(index, pickle.loads(message[1]), inbox, outbox, shared)
            outbox.put(("done", index, summary))
        except Exception:  # reported to the main process, which keeps the part's bound
            outbox.put(("error", index, traceback.format_exc()))


def _run_job(index: int, job: dict, inbox: Any, outbox: Any, shared: Any) -> dict:
    net: PLNet = job["net"]
    settings: ExactSettings = job["settings"]
    prob = net.arrangement
    lp = RegionLP(prob.W, prob.b, job["ball"], cuts=settings.cuts, warm=settings.warm_lp)
    lp.nogoods = job["nogoods"]
    seconds = job["seconds"]
    deadline = None if seconds is None else time.perf_counter() + seconds
    lp.deadline = deadline

    def leaf(s: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray, float]:
        value = float(np.linalg.norm(prob.gradient(s)))
        return value, x, value

    search = _Search(
        prob,
        lp,
        leaf,
        Incumbent(),
        settings,
        tol=job["tol"],
        deadline=deadline,
        shared=shared,
        slot=index + 1,
    )
    search.add_nodes(job["nodes"])

    exported = 0

    def hook() -> None:
        nonlocal exported
        while True:
            try:
                message = inbox.get_nowait()
            except queue.Empty:
                break
            if message[0] == "give":
                items = search.take_half() if len(search.heap) >= 2 else []
                outbox.put(("nodes", index, pickle.dumps(items)))
            elif message[0] == "nogoods" and lp.nogoods is not None:
                lp.nogoods.receive(message[1])
        if lp.nogoods is not None:
            rows, exported = lp.nogoods.export(exported)
            if len(rows):
                outbox.put(("nogoods", index, rows))

    def report(state: dict) -> None:
        outbox.put(("progress", index, state))

    complete = search.run(None, report, hook)
    return search.summary(complete)


class Helpers:
    """``n`` helper processes for :func:`~robustlaw._pl.bnb.branch_and_bound`.

    Use as a context manager; :meth:`search` is the ``parallel`` argument of
    ``branch_and_bound`` once :meth:`bind` has given it the member's network.
    """

    def __init__(self, n: int, settings: ExactSettings) -> None:
        self.settings = settings
        self.shared = CONTEXT.RawArray("d", n + 1)
        self.outbox = CONTEXT.Queue()
        self.inboxes = [CONTEXT.Queue() for _ in range(n)]
        self.procs = []
        try:
            for i in range(n):
                args = (i, self.inboxes[i], self.outbox, self.shared)
                self.procs.append(start_process(_helper_main, *args, name=f"robustlaw-exact-{i}"))
        except BaseException:
            self.close()
            raise
        self.ready: set[int] = set()
        self.dead: set[int] = set()
        self.job: dict = {}

    def __enter__(self) -> Helpers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the helpers. They hold nothing to clean up and a helper's interpreter
        takes up to a second to shut down, so they are terminated, not waited for."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(timeout=1.0)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every helper has started (True) or ``timeout`` seconds passed."""
        end = time.perf_counter() + timeout
        while len(self.ready) < len(self.procs) and time.perf_counter() < end:
            self._drain(self.settings.poll_seconds, lambda message: None)
        return len(self.ready) == len(self.procs)

    def bind(self, net: PLNet, ball: bool, tol: float) -> Helpers:
        """The member whose tree the next :meth:`search` splits."""
        self.job = {"net": net, "ball": ball, "settings": self.settings, "tol": tol}
        return self

    # ------------------------------------------------------------------ messages

    def _drain(self, wait: float, handle: Callable[[tuple], None]) -> None:
        """Handle every waiting message; wait up to ``wait`` seconds for the first."""
        block = wait > 0
        while True:
            try:
                message = self.outbox.get(timeout=wait) if block else self.outbox.get_nowait()
            except queue.Empty:
                return
            block = False
            if message[0] == "ready":
                self.ready.add(message[1])
            else:
                handle(message)

    def _check_alive(self, busy: dict[int, dict], lost: Callable[[int, str], None]) -> None:
        for i in list(busy):
            if not self.procs[i].is_alive():
                self.dead.add(i)
                lost(i, f"helper {i} exited with code {self.procs[i].exitcode}")

    # ------------------------------------------------------------------ search

    def search(
        self, search: _Search, max_nodes: int | None, progress: Callable[[dict], None] | None
    ) -> tuple[bool, dict]:
        """Search ``search``'s tree here and in the helpers; merges the helpers' outcome
        into ``search`` and returns (main process complete, counts for the result info)."""
        for i in range(len(self.shared)):
            self.shared[i] = 0.0
        search.shared, search.slot = self.shared, 0
        busy: dict[int, dict] = {}  # helper -> bound handed out, last nodes and upper
        asked: set[int] = set()
        extra: dict[str, Any] = {
            "helper_nodes": 0,
            "helper_lps": 0,
            "helpers_complete": True,
            "forced": 0,
            "nogoods": 0,
            "propagated": 0,
            "handoffs": 0,
        }
        errors: list[str] = []

        def lost(i: int, why: str) -> None:
            search.open_elsewhere = max(search.open_elsewhere, busy.pop(i)["bound"])
            extra["helpers_complete"] = False
            asked.discard(i)
            errors.append(why)

        def merge(summary: dict) -> None:
            inc = search.incumbent
            if summary["x"] is not None and summary["lower"] > inc.value:
                inc.value, inc.x, inc.pattern = summary["lower"], summary["x"], summary["pattern"]
            inc.unresolved = max(inc.unresolved, summary["unresolved"])
            search.pruned_max = max(search.pruned_max, summary["pruned_max"])
            search.open_elsewhere = max(search.open_elsewhere, summary["open_bound"])
            extra["helpers_complete"] &= bool(summary["complete"])
            extra["helper_nodes"] += summary["nodes"]
            extra["helper_lps"] += summary["lps"]
            for key in ("forced", "nogoods", "propagated"):
                extra[key] += summary[key]

        def handle(message: tuple) -> None:
            kind, i, payload = message
            if kind == "progress" and i in busy:
                busy[i].update(nodes=payload["nodes"], upper=payload["upper"])
            elif kind == "nodes":
                asked.discard(i)
                if payload:
                    search.add_nodes(pickle.loads(payload))
            elif kind == "nogoods" and search.nogoods is not None:
                search.nogoods.receive(payload)
                for j in busy:  # and on to the other helpers
                    if j != i:
                        self.inboxes[j].put(("nogoods", payload))
            elif kind == "done" and i in busy:
                busy.pop(i)
                asked.discard(i)
                merge(payload)
                self.ready.add(i)
            elif kind == "error" and i in busy:
                lost(i, payload)
                self.ready.add(i)

        def hand_out() -> None:
            while self.ready and len(search.heap) >= 2 and not search.late():
                i = self.ready.pop()
                items = search.take_half()
                seconds = None if search.deadline is None else search.deadline - time.perf_counter()
                job = dict(self.job, nodes=items, nogoods=search.nogoods, seconds=seconds)
                busy[i] = {"bound": -items[0][0], "nodes": 0, "upper": -items[0][0]}
                extra["handoffs"] += 1
                # pickled here: Queue.put pickles in a thread, while this process goes on
                # changing the no-goods
                self.inboxes[i].put(("job", pickle.dumps(job)))

        exported = search.nogoods.learned if search.nogoods is not None else 0

        def share() -> None:
            nonlocal exported
            if search.nogoods is None or not busy:
                return
            rows, exported = search.nogoods.export(exported)
            if len(rows):
                for i in busy:
                    self.inboxes[i].put(("nogoods", rows))

        def hook() -> None:
            self._drain(0.0, handle)
            share()
            while not search.heap and busy and not search.late():
                # out of nodes here: ask the busy helpers for half of theirs
                for i in busy:
                    if i not in asked:
                        self.inboxes[i].put(("give",))
                        asked.add(i)
                self._drain(self.settings.poll_seconds, handle)
                self._check_alive(busy, lost)
            hand_out()

        def report(state: dict) -> None:
            if progress is None:
                return
            nodes = state["nodes"] + extra["helper_nodes"] + sum(b["nodes"] for b in busy.values())
            upper = max(
                [state["upper"], search.open_elsewhere] + [b["upper"] for b in busy.values()]
            )
            progress(dict(state, nodes=nodes, upper=upper))

        complete = search.run(max_nodes, report, hook)
        # wait for the helpers' final answers (they keep the same deadline)
        grace = self.settings.grace_seconds
        limit = None if search.deadline is None else search.deadline + grace
        while busy:
            if limit is not None and time.perf_counter() > limit:
                for i in list(busy):
                    self.procs[i].terminate()
                    self.dead.add(i)
                    lost(i, f"helper {i} did not answer within {grace} s of the deadline")
                break
            self._drain(self.settings.poll_seconds, handle)
            self._check_alive(busy, lost)
        self.ready -= self.dead
        if errors:
            extra["helper_errors"] = errors
        return complete, extra
