"""Branch and bound over the activation patterns of a deep piecewise-linear net (R^d).

Lip(f) on R^d is the largest ||g(s)|| over the patterns s whose region has an interior
(:mod:`robustlaw._pl.deep`; regions thinner than ``FEASIBLE_MARGIN`` do not count, as in
the two-layer engine). A node is a partial pattern: some units of some layers fixed to a
side. Its bound is LipSDP-Neuron with the fixed units' slopes pinned and the free units'
slopes in [lo, hi] (:class:`~robustlaw._pl.deep_sdp.SDPProblem`), certified in float64;
every pattern consistent with the node has its gradient among the J it bounds.

Realizability: when every unit of the layers before layer j is fixed, the pre-activations
of layers <= j are affine in x on the node's region, so the fixed units of those layers
cut out a polytope; one margin LP (:class:`~robustlaw._pl.lp.LP`) decides whether it is
empty (the node is dropped), and one more per free unit of layer j whether that unit can
take its other side there (if not, it is fixed: a forced unit). A layer whose units are
all fixed opens the next one. The LP's centre of the polytope is a point whose gradient
is a lower bound (kept when the point lies strictly inside its region).

The search pops the node of largest bound, splits the free unit its relaxation leans on
most (:meth:`~robustlaw._pl.deep_sdp.SDPProblem.relaxed`; by default in the first layer
with free units, where the LP decides sides) and stops when the largest open bound is
within ``gap`` of the best lower bound (the value is then exact) or at the time limit
(the certified interval reached). Leaves (every unit fixed) are exact: ||g|| of a
realizable pattern.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustlaw._pl.bounds import SAFETY
from robustlaw._pl.deep import DeepNet
from robustlaw._pl.deep_sdp import SDPProblem, minimize
from robustlaw._pl.lp import _INF, FEASIBLE_MARGIN, LP
from robustlaw._pl.settings import DeepBnBSettings

__all__ = ["DeepBnBResult", "deep_bnb"]


@dataclass(frozen=True)
class DeepBnBResult:
    """Certified [lower, upper] on Lip(f) over R^d, the witness of ``lower`` (a point
    strictly inside its region, None when the lower bound came from no point), whether the
    gap closed, and counters."""

    lower: float
    upper: float
    x: np.ndarray | None
    closed: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Node:
    fixed: np.ndarray  # (N,) bool
    sign: np.ndarray  # (N,) bool, meaningful where fixed
    x0: np.ndarray  # (d,) centre of the polytope of the affine prefix
    bound: float = math.inf
    lam: np.ndarray | None = None  # (N,) multipliers of the free units (0 elsewhere)
    score: np.ndarray | None = None  # (N,) branching scores of the free units


class _Search:
    """Realizability, bounds and witnesses of the nodes of one net."""

    def __init__(self, net: DeepNet, scale: float, settings: DeepBnBSettings) -> None:
        self.net, self.scale, self.settings = net, scale, settings
        sizes = [W.shape[0] for W in net.Ws[:-1]]
        self.offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.layer = np.repeat(np.arange(len(sizes)), sizes)
        self.slopes = [(net.lo, net.hi)] * len(sizes)
        self.best, self.best_x = 0.0, None
        self.stats: dict[str, Any] = {"nodes": 0, "lps": 0, "forced": 0, "empty": 0, "leaves": 0}

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def offer(self, x: np.ndarray) -> None:
        """Take x's region as the best lower bound if it is larger and x is inside it."""
        val = self.net.value(x, "rd")
        if val > self.best and self.net.interior(x):
            self.best, self.best_x = val, x.copy()

    def _margin_lp(self, G: np.ndarray, h: np.ndarray) -> LP:
        d = self.net.d
        lp = LP(
            np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), self.scale]
        )
        if len(h):
            lp.add_ub(np.c_[G, (np.abs(G).sum(axis=1) > 0).astype(float)], h)
        return lp

    def _inside(self, lp: LP) -> np.ndarray | None:
        """The LP's centre when its margin exceeds FEASIBLE_MARGIN (scaled), else None."""
        self.count("lps")
        res = lp.solve()
        d = self.net.d
        if not res.optimal or res.x[d] <= FEASIBLE_MARGIN * self.scale:
            return None
        return res.x[:d]

    def propagate(self, fixed: np.ndarray, sign: np.ndarray) -> _Node | None:
        """The node of (fixed, sign) with its forced units fixed, or None when empty."""
        fixed, sign = fixed.copy(), sign.copy()
        while True:
            free_layers = self.layer[~fixed]
            j = int(free_layers.min()) if len(free_layers) else None
            upto = self.offs[j + 1] if j is not None else self.offs[-1]
            reg = self.net.region(sign)
            G, h = reg.sides()
            rows = np.flatnonzero(fixed[:upto])
            lp = self._margin_lp(G[rows], h[rows])
            x0 = self._inside(lp)
            if x0 is None:
                self.count("empty")
                return None
            if j is None:
                return _Node(fixed, sign, x0)
            for u in np.flatnonzero(~fixed[self.offs[j] : upto]) + self.offs[j]:
                side = bool(reg.A[u] @ x0 + reg.c[u] > 0)
                if not np.abs(reg.A[u]).any():  # a constant pre-activation
                    fixed[u], sign[u] = True, side
                    continue
                sigma = -1.0 if side else 1.0  # the other side: sigma (A_u x + c_u) >= t
                norm = float(np.linalg.norm(reg.A[u]))
                row = np.r_[-sigma * reg.A[u] / norm, 1.0]
                lp.add_ub(row[None, :], np.array([sigma * reg.c[u] / norm]))
                other = self._inside(lp)
                lp.delete_rows(lp.h.getNumRow() - 1, 1)
                if other is None:
                    fixed[u], sign[u] = True, side
                    self.count("forced")
            if fixed[self.offs[j] : upto].all():
                continue
            return _Node(fixed, sign, x0)

    def bound(
        self, node: _Node, lam0: np.ndarray | None, iters: int, deadline: float | None
    ) -> None:
        """Fill the node's certified bound, multipliers and branching scores."""
        self.count("nodes")
        pinned = np.where(node.fixed, np.where(node.sign, self.net.hi, self.net.lo), np.nan)
        prob = SDPProblem(self.net.Ws, self.net.v, self.slopes, pinned)
        free = ~node.fixed
        start = None if lam0 is None else lam0[free]
        if start is None or (start <= 0).any() or prob.rho(start) is None:
            start = prob.start()
        lam, _ = minimize(prob, start, deadline, iters)
        node.bound = min(node.bound, prob.certify(lam))
        node.lam = np.zeros(len(free))
        node.lam[free] = lam
        node.score = np.full(len(free), -1.0)
        node.score[free] = prob.relaxed(lam)

    def leaf_value(self, node: _Node) -> float:
        """||g|| of a leaf's pattern; its centre is offered as a witness."""
        self.count("leaves")
        self.offer(node.x0)
        return float(np.linalg.norm(self.net.region(node.sign).g))

    def branch_unit(self, node: _Node) -> int:
        free = ~node.fixed
        if self.settings.frontier:
            free &= self.layer == self.layer[free].min()
        score = np.where(free, node.score, -np.inf)
        return int(np.argmax(score))


def deep_bnb(
    net: DeepNet,
    scale: float = 1.0,
    seconds: float | None = None,
    points: list[np.ndarray] | np.ndarray = (),
    settings: DeepBnBSettings | None = None,
) -> DeepBnBResult:
    """Certified [lower, upper] on Lip(f) over R^d by branch and bound over patterns.

    Parameters
    ----------
    net : DeepNet
    scale : float
        Data scale: the LP margins are capped at it, and regions thinner than
        ``FEASIBLE_MARGIN * scale`` do not count.
    seconds : float, optional
        Time limit (checked between nodes and inside each node's SDP iterations).
    points : (m, d) points whose regions seed the lower bound (witnesses of a search).
    settings : DeepBnBSettings
    """
    settings = settings or DeepBnBSettings()
    t0 = time.perf_counter()
    deadline = None if seconds is None else t0 + seconds
    search = _Search(net, scale, settings)
    for x in points:
        search.offer(np.asarray(x, dtype=np.float64))
    N = net.units
    root = search.propagate(np.zeros(N, dtype=bool), np.zeros(N, dtype=bool))
    assert root is not None  # no fixed unit: the LP's polytope is R^d
    search.offer(root.x0)
    heap: list[tuple[float, int, _Node]] = []
    leaf_top = 0.0  # largest leaf value whose centre was not a witness
    count = 0

    def push(node: _Node, lam0: np.ndarray | None, iters: int) -> None:
        nonlocal leaf_top, count
        search.offer(node.x0)
        if node.fixed.all():
            val = search.leaf_value(node)
            if val > search.best:
                leaf_top = max(leaf_top, val)
            return
        search.bound(node, lam0, iters, deadline)
        count += 1
        heapq.heappush(heap, (-node.bound, count, node))

    push(root, None, settings.root_iter)
    root_bound = root.bound if not root.fixed.all() else search.best
    closed = False
    while heap:
        top = -heap[0][0]
        if top <= search.best * (1 + settings.gap):
            closed = True
            break
        if (deadline is not None and time.perf_counter() > deadline) or (
            settings.max_nodes is not None and search.stats["nodes"] >= settings.max_nodes
        ):
            break
        _, _, node = heapq.heappop(heap)
        u = search.branch_unit(node)
        for side in (True, False):
            fixed, sign = node.fixed.copy(), node.sign.copy()
            fixed[u], sign[u] = True, side
            child = search.propagate(fixed, sign)
            if child is not None:
                child.bound = node.bound
                push(child, node.lam, settings.node_iter)
    closed = closed or not heap
    open_top = -heap[0][0] if heap else 0.0
    upper = max(open_top, leaf_top * (1 + SAFETY), search.best)
    stats = dict(search.stats)
    stats.update(
        seconds=time.perf_counter() - t0,
        open=len(heap),
        root_bound=root_bound,
        timed_out=not closed,
    )
    return DeepBnBResult(
        search.best, upper, search.best_x, bool(closed and leaf_top <= search.best), stats
    )
