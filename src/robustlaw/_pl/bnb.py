"""Branch and bound over activation patterns for max ||g0 + M^T s|| over realizable s.

A node fixes the side sigma_l of some units (a polyhedron P of x-space, known to have
interior: the node carries a point x inside it with a positive margin, found by the
parent's point, by a step across the new hyperplane, or by the realizability LP) and
leaves the others free. Its bound is a certified upper bound on the pattern relaxation
over the free units U,

    max_{s_U in {0,1}^U} || g_F + M_U^T s_U ||,   g_F = g0 + sum_{l in F, on} m_l,

and the largest bound over open nodes is the certified upper bound at any time:

- |U| <= ``exact_units``: the relaxation itself, by enumerating the 2^|U| patterns;
- otherwise the dual of the semidefinite relaxation of max_{y in {-1,1}^n} ||A y||
  (:func:`sdp_bound`; any dual point is a certificate: ``sdp_warm_iters`` power-like
  iterations from Y = I, the parent's dual point evaluated too and the smaller bound
  kept, since iterating from the parent's point stalls deep in the tree), about 1.05x
  the relaxation where the averaged form ||c|| + 1/2 sqrt(|U|) ||M_U||_op is 1.5x.

Processing a node: a relaxation maximizer over the free units (exact, or by fixed-point
ascent s = [M u > 0], u = g(s)) is checked for realizability (the node's point, then one
LP); a realizable exact maximizer closes the node with its value attained. Otherwise the
branching unit is the free unit of largest dual weight ||Y^T m_l|| of the semidefinite
bound among those whose side at the node's point disagrees with the maximizer; the
child on the point's side inherits the point, the other needs a step or an LP, and an
empty side fixes the unit without branching (a forced unit). Nodes are explored best
bound first; the pattern at every node's point is a realizable region, so the lower
bound improves along the way. Every pruned node satisfies
bound <= lower * (1 + tol / 2).

Learned no-goods (``learn``, :mod:`robustlaw._pl.nogoods`): every LP that
finds a side empty leaves a certificate (at most d + 1 units with their sides) that no
region realizes; before a node is bounded, the units forced by the certificates learned
anywhere in the tree are fixed (unit propagation), and again when a node is popped if
certificates were learned since. In a node deep in the tree most "free" units often do
not cut its region at all (on the Lipschitz bench's trained d = 10, k = 64 net, 30 of
the 38 free units of a top open node after 300 s); each one left free inflates the
bound. On that net (one process, numpy node bounds) propagation reached upper/lower 1.05
in 160 s instead of 268 s; on the exact bench's seed-0 net (compiled node bounds) it turns
[14.95, 15.28] after 60 s into the exact value in 60 s.

The search can hand parts of its open nodes to helper processes
(:mod:`robustlaw._pl.parallel`): :class:`_Search` holds the state of one
process's part, with hooks for giving and receiving nodes and a shared array of the
lower bounds found by every process.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from robustlaw._pl.kernels import fixed_point_ascent, sdp_iterations
from robustlaw._pl.lp import FEASIBLE_MARGIN, RegionLP
from robustlaw._pl.net import Arrangement
from robustlaw._pl.nogoods import NoGoods
from robustlaw._pl.settings import ExactSettings

__all__ = ["Incumbent", "SearchResult", "branch_and_bound", "sdp_bound"]

_ZCACHE: dict[int, np.ndarray] = {}


def _patterns(n: int) -> np.ndarray:
    """All of {0, 1}^n as float rows, (2^n, n)."""
    if n not in _ZCACHE:
        _ZCACHE[n] = np.array(list(itertools.product((0.0, 1.0), repeat=n))).reshape(-1, n)
    return _ZCACHE[n]


#: Leaf evaluation: (full pattern (k,) bool, point x (d,)) -> (lower, witness x or None,
#: upper contribution). On R^d and the ball lower = upper = ||g_s||.
LeafEval = Callable[[np.ndarray, np.ndarray], tuple[float, "np.ndarray | None", float]]


@dataclass
class Incumbent:
    """Best certified lower bound so far, its witness, and regions left unresolved."""

    value: float = 0.0
    x: np.ndarray | None = None
    pattern: np.ndarray | None = None
    #: Largest upper contribution of a closed region whose lower bound fell short of it
    #: (only on the sphere, where the tangential norm varies inside a region).
    unresolved: float = 0.0
    seen: set = field(default_factory=set)

    def offer(self, s: np.ndarray, x: np.ndarray, leaf: LeafEval) -> None:
        key = s.tobytes()
        if key in self.seen:
            return
        self.seen.add(key)
        low, wx, up = leaf(s, x)
        if wx is not None and low > self.value:
            self.value, self.x, self.pattern = low, wx, s.copy()
        if up > max(low, self.value):
            self.unresolved = max(self.unresolved, up)


@dataclass
class SearchResult:
    lower: float
    upper: float
    x: np.ndarray | None
    pattern: np.ndarray | None
    nodes: int
    lps: int
    complete: bool
    info: dict


@dataclass
class _Relax:
    bound: float
    exact: bool
    s_free: np.ndarray  # bool pattern of a relaxation maximizer on the free units
    value: float  # its value (a lower estimate of the relaxation)
    u: np.ndarray  # its gradient direction
    Y: np.ndarray | None = None  # state of the semidefinite bound, warm start for children
    learned: int = 0  # no-goods known when the node's units were last propagated


def sdp_bound(
    A: np.ndarray,
    Y: np.ndarray | None,
    iters: int,
    target: float = -math.inf,
    deadline: float | None = None,
    every: int = 8,
) -> tuple[float, np.ndarray]:
    """Certified bound on max_{y in {-1,1}^n} ||A y|| from the dual of its semidefinite
    relaxation (Goemans-Williamson / Nesterov): for every lambda > 0,

        ||A y||^2 <= rho(lambda) sum_i lambda_i,  rho = lambda_max(sum_i a_i a_i^T / lambda_i),

    since diag(rho lambda) - A^T A is positive semidefinite (Schur complement). The best
    lambda_i = ||Y^T a_i|| solves the dual max_Y 2 sum_i ||Y^T a_i|| - ||Y||_F^2, whose
    stationarity Y = K(Y) Y (K = sum_i a_i a_i^T / ||Y^T a_i||) is iterated like a power
    method from the warm start Y (d, d), or from Y = I when Y is None (then Y = I itself is
    not evaluated: its bound is poor), evaluated every ``every`` iterations and
    at the last (compiled: :func:`~robustlaw._pl.kernels.sdp_iterations`).
    Stops early once the bound is below ``target``; after ``deadline`` (a
    :func:`time.perf_counter` value) only the start point is evaluated (every dual point
    is a certificate). Returns (bound on max ||A y||, Y).

    A : (d, n).
    """
    d = A.shape[0]
    cold = Y is None
    if deadline is not None and time.perf_counter() > deadline:
        iters = 0  # out of time: the start point's bound only
    A = np.ascontiguousarray(A, dtype=np.float64)
    Y0 = np.eye(d) if cold else np.ascontiguousarray(Y, dtype=np.float64)
    best, best_Y = sdp_iterations(A, Y0, cold, int(iters), max(1, every), float(target))
    if not math.isfinite(best):  # Y = I without iterations
        best, best_Y = sdp_iterations(A, Y0, False, 0, 1, -math.inf)
    return best, best_Y


def _relaxation(
    g: np.ndarray,
    Mu: np.ndarray,
    settings: ExactSettings,
    Y: np.ndarray | None = None,
    u0: np.ndarray | None = None,
    target: float = -math.inf,
    iters: int | None = None,
    deadline: float | None = None,
) -> _Relax:
    """Certified bound on max_s ||g + Mu^T s|| over s in {0,1}^n, and a good s."""
    n = len(Mu)
    if n == 0:
        val = float(np.linalg.norm(g))
        u = g / val if val > 0 else np.zeros_like(g)
        return _Relax(val, True, np.zeros(0, dtype=bool), val, u)
    if n <= settings.exact_units:
        Z = _patterns(n)
        G = g + Z @ Mu
        nrm = np.linalg.norm(G, axis=1)
        i = int(np.argmax(nrm))
        val = float(nrm[i])
        u = G[i] / val if val > 0 else np.zeros_like(g)
        return _Relax(val, True, Z[i] > 0.5, val, u, Y)
    # semidefinite bound: s = (1 + t) / 2, y = (1, t), ||g + Mu^T s|| = ||A y||
    c = g + 0.5 * Mu.sum(axis=0)
    A = np.empty((len(g), n + 1))
    A[:, 0] = c
    np.multiply(Mu.T, 0.5, out=A[:, 1:])
    if iters is None:
        iters = settings.sdp_iters if Y is None else settings.sdp_warm_iters
    every = settings.sdp_eval_every
    if Y is not None and settings.sdp_start == "cold":
        warm, Y_warm = sdp_bound(A, Y, 0, every=every)
        bound, Y = sdp_bound(A, None, iters, target, deadline, every)
        if warm < bound:
            bound, Y = warm, Y_warm
    else:
        bound, Y = sdp_bound(A, Y, iters, target, deadline, every)
    # a relaxation maximizer by fixed-point ascent s = [m . u > 0], u = grad(s)
    best_val, best_s = -1.0, None
    for start in (u0, c):
        if start is None:
            continue
        s, val = fixed_point_ascent(g, Mu, start, 12)
        if val > best_val:
            best_val, best_s = val, s
    assert best_s is not None
    grad = g + best_s.astype(np.float64) @ Mu
    u = grad / best_val if best_val > 0 else np.zeros_like(g)
    return _Relax(max(bound, best_val), False, best_s, best_val, u, Y)


#: A heap entry: (-bound, order, sign (k,) int8, g (d,), point (d,) or None, relaxation).
Node = tuple


class _Search:
    """The open nodes of (a part of) the tree and the search over them.

    Parameters
    ----------
    prob, lp, leaf, incumbent, settings : see :func:`branch_and_bound`.
    tol : float
        Relative gap at which a node is pruned.
    deadline : float or None
        :func:`time.perf_counter` value at which the search stops.
    on_improve : callable, optional
        Called after the incumbent improves.
    shared : sequence of float, optional
        Certified lower bounds found by the processes sharing the tree (read for pruning;
        this process writes its own at index ``slot``).
    floor : float
        A certified lower bound found elsewhere (another method's witness), used for
        pruning only: the search's own lower bound is its incumbent's.
    """

    def __init__(
        self,
        prob: Arrangement,
        lp: RegionLP,
        leaf: LeafEval,
        incumbent: Incumbent,
        settings: ExactSettings,
        *,
        tol: float,
        deadline: float | None,
        on_improve: Callable[[], None] | None = None,
        shared: Sequence[float] | None = None,
        slot: int = 0,
        floor: float = 0.0,
    ) -> None:
        self.prob, self.lp, self.leaf, self.incumbent = prob, lp, leaf, incumbent
        self.floor = floor
        self.settings = settings
        self.tol, self.deadline, self.on_improve = tol, deadline, on_improve
        self.shared, self.slot = shared, slot
        self.k, self.d = prob.k, prob.d
        self.M, self.W, self.b = prob.M, prob.W, prob.b
        self.norms = np.linalg.norm(prob.M, axis=1)
        if settings.learn and lp.nogoods is None:
            lp.nogoods = NoGoods(prob.k)
        self.nogoods = lp.nogoods if settings.learn else None
        self.learned0 = 0 if self.nogoods is None else self.nogoods.learned
        self.propagated0 = 0 if self.nogoods is None else self.nogoods.forced
        self.heap: list[Node] = []
        self.counter = itertools.count()
        self.nodes = 0
        self.forced = 0
        self.pruned_max = 0.0
        #: bound of open nodes held elsewhere (helpers that stopped with open nodes)
        self.open_elsewhere = 0.0
        self.lps0 = lp.calls
        self.start = time.perf_counter()

    # ------------------------------------------------------------------ bounds

    def best_lower(self) -> float:
        """The largest certified lower bound known to this process."""
        value = max(self.incumbent.value, self.floor)
        if self.shared is not None:
            if value > self.shared[self.slot]:
                self.shared[self.slot] = value
            value = max(value, max(self.shared))
        return value

    def threshold(self) -> float:
        """Nodes with a bound at most this are pruned."""
        return max(self.best_lower(), self.incumbent.unresolved) * (1.0 + 0.5 * self.tol)

    def open_bound(self) -> float:
        return max((-item[0] for item in self.heap), default=0.0)

    def upper(self) -> float:
        """Certified upper bound of this part of the tree."""
        inc = self.incumbent
        return max(
            inc.value, inc.unresolved, self.pruned_max, self.open_bound(), self.open_elsewhere
        )

    def prune(self, bound: float) -> None:
        self.pruned_max = max(self.pruned_max, bound)

    # ------------------------------------------------------------------ nodes

    def offer_point(self, x: np.ndarray | None) -> None:
        if x is None:
            return
        pre = self.W @ x + self.b
        if self.k and np.min(np.abs(pre)) <= FEASIBLE_MARGIN:
            return
        if self.lp.ball and np.linalg.norm(x) >= 1.0 - FEASIBLE_MARGIN:
            return
        before = self.incumbent.value
        self.incumbent.offer(pre > 0, x, self.leaf)
        if self.on_improve is not None and self.incumbent.value > before:
            self.on_improve()

    def propagate(
        self,
        sign: np.ndarray,
        g: np.ndarray,
        x: np.ndarray | None,
        changed: np.ndarray | None = None,
        since: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
        """Fix the units forced by learned no-goods (see :meth:`NoGoods.propagate` for
        ``changed`` and ``since``); returns (sign, g, x, empty)."""
        if self.nogoods is None or not len(self.nogoods):
            return sign, g, x, False
        new, forced, empty = self.nogoods.propagate(sign, changed, since)
        if empty:
            # a node with a point strictly inside is not empty (rounding): keep it
            if x is not None and self.lp.point_margin(x, sign) > FEASIBLE_MARGIN:
                return sign, g, x, False
            return sign, g, x, True
        if len(forced):
            on = forced[new[forced] > 0]
            if len(on):
                g = g + self.M[on].sum(axis=0)
            if x is not None and self.lp.point_margin(x, new) <= FEASIBLE_MARGIN:
                x = None
        return new, g, x, False

    def bound(
        self, sign: np.ndarray, g: np.ndarray, rel: _Relax | None, iters: int | None = None
    ) -> _Relax:
        """The relaxation of a node, warm-started from (and never above) ``rel``'s."""
        free = np.flatnonzero(sign == 0)
        new = _relaxation(
            g,
            self.M[free],
            self.settings,
            None if rel is None else rel.Y,
            None if rel is None else rel.u,
            self.threshold(),
            iters,
            self.deadline,
        )
        if rel is not None:  # a child's patterns are the parent's
            new.bound = min(new.bound, rel.bound)
        new.learned = 0 if self.nogoods is None else len(self.nogoods)
        return new

    def push(self, sign: np.ndarray, g: np.ndarray, x: np.ndarray | None, rel: _Relax) -> None:
        bound = rel.bound * (1.0 + 1e-12)
        if bound <= self.threshold():
            self.prune(bound)
            return
        heapq.heappush(self.heap, (-bound, next(self.counter), sign, g, x, rel))

    def make(
        self,
        sign: np.ndarray,
        g: np.ndarray,
        x: np.ndarray | None,
        parent: _Relax | None,
        unit: int | None = None,
    ) -> None:
        """Propagate, bound and queue a new node (``parent``'s with ``unit`` fixed)."""
        if parent is None or unit is None:
            sign, g, x, empty = self.propagate(sign, g, x)
        else:
            sign, g, x, empty = self.propagate(sign, g, x, np.array([unit]), parent.learned)
        if not empty:
            self.push(sign, g, x, self.bound(sign, g, parent))

    def root(self, root_point: np.ndarray | None) -> None:
        x = np.zeros(self.d) if root_point is None else root_point
        self.offer_point(x)
        self.make(np.zeros(self.k, dtype=np.int8), self.prob.g0.copy(), x, None)

    def take_half(self) -> list[Node]:
        """Every other open node in bound order (the best stays here)."""
        items = sorted(self.heap)
        self.heap = items[0::2]  # a sorted list is a heap
        return items[1::2]

    def add_nodes(self, items: list[Node]) -> None:
        """Open nodes from another process (their no-goods were not these)."""
        for item in items:
            item[5].learned = 0
            heapq.heappush(self.heap, (item[0], next(self.counter), *item[2:]))

    # ------------------------------------------------------------------ search

    def run(
        self,
        max_nodes: int | None = None,
        progress: Callable[[dict], None] | None = None,
        hook: Callable[[], None] | None = None,
    ) -> bool:
        """Best-first search until the heap is exhausted (returns True) or a limit is
        reached (False). ``hook`` is called every ``settings.hook_every`` nodes and whenever the
        heap runs empty (it may add nodes)."""
        while True:
            if not self.heap and hook is not None:
                hook()
            if not self.heap:
                return True
            item = heapq.heappop(self.heap)
            negb, _, sign, g, x, rel = item
            if -negb <= self.threshold():
                self.prune(-negb)
                self.heap.clear()
                continue
            if (max_nodes is not None and self.nodes >= max_nodes) or self.late():
                heapq.heappush(self.heap, item)
                return False
            if self.nogoods is not None and len(self.nogoods) > rel.learned:
                # no-goods learned since the node was bounded may force more of its units
                sign2, g2, x2, empty = self.propagate(sign, g, x, np.zeros(0, int), rel.learned)
                if empty:
                    continue
                if sign2 is not sign:
                    sign, g, x = sign2, g2, x2
                    rel = self.bound(sign, g, rel)
                    if self.heap and rel.bound * (1.0 + 1e-12) < -self.heap[0][0]:
                        self.push(sign, g, x, rel)  # not the best node any more
                        continue
                else:
                    rel.learned = len(self.nogoods)
            self.nodes += 1
            if progress is not None and self.nodes % self.settings.progress_every == 0:
                progress(
                    {
                        "nodes": self.nodes,
                        "lower": self.best_lower(),
                        "upper": max(self.upper(), -negb),
                        "seconds": time.perf_counter() - self.start,
                    }
                )
            if hook is not None and self.nodes % self.settings.hook_every == 0:
                hook()
            self.process(sign, g, x, rel)

    def late(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def process(self, sign: np.ndarray, g: np.ndarray, x: np.ndarray | None, rel: _Relax) -> None:
        """Close, branch or (forced units) tighten a node; children go to the heap."""
        inc = self.incumbent
        W, b, M = self.W, self.b, self.M
        first = True
        while True:  # forced units loop back here
            if not first and self.late():
                # out of time in a chain of forced units: the node goes back, still open
                heapq.heappush(
                    self.heap, (-rel.bound * (1.0 + 1e-12), next(self.counter), sign, g, x, rel)
                )
                return
            first = False
            free = np.flatnonzero(sign == 0)
            if len(free) == 0:
                if x is not None:
                    self.offer_point(x)
                    # a leaf with a kept-but-thin region (no witness) is an upper bound only
                    if (
                        not np.array_equal((W @ x + b > 0), sign > 0)
                        or self.lp.point_margin(x, sign) <= FEASIBLE_MARGIN
                    ):
                        inc.unresolved = max(inc.unresolved, float(np.linalg.norm(g)))
                else:
                    inc.unresolved = max(inc.unresolved, float(np.linalg.norm(g)))
                return
            if rel.bound * (1.0 + 1e-12) <= self.threshold():
                self.prune(rel.bound * (1.0 + 1e-12))
                return
            s_free = rel.s_free
            x_side = None
            if x is not None:
                pre_free = W[free] @ x + b[free]
                x_side = pre_free > 0
                if (
                    rel.exact
                    and np.array_equal(x_side, s_free)
                    and np.min(np.abs(pre_free)) > FEASIBLE_MARGIN
                ):
                    self.offer_point(x)  # the maximizer is realized at x: node closed
                    if max(inc.value, inc.unresolved) >= rel.value * (1.0 - 1e-12):
                        return
            if rel.exact:
                full = sign.copy()
                full[free] = np.where(s_free, 1, -1)
                res = self.lp.margin(full)
                if res.witness:
                    self.offer_point(res.x)
                    if max(inc.value, inc.unresolved) >= rel.value * (1.0 - 1e-12):
                        return
            # branching unit: the largest dual weight lambda_l = ||Y^T m_l|| of the
            # semidefinite bound (else |m_l . u|) among free units whose side at the
            # node's point disagrees with the relaxation's maximizer
            if rel.Y is not None:
                score = np.linalg.norm(M[free] @ rel.Y, axis=1)
            else:
                score = np.abs(M[free] @ rel.u) + 1e-12 * self.norms[free]
            if x_side is not None:
                disagree = x_side != s_free
                if disagree.any():
                    score = np.where(disagree, score, -1.0)
            j = int(np.argmax(score))
            unit = int(free[j])
            # the child on the point's side inherits the point
            if x is not None:
                side = 1 if x_side[j] else -1
                margin_x = abs(float(W[unit] @ x + b[unit]))
            else:
                side, margin_x = (1 if s_free[j] else -1), -math.inf
            children = []
            for sgn in (side, -side):
                child = sign.copy()
                child[unit] = sgn
                if sgn == side and margin_x > FEASIBLE_MARGIN:
                    children.append((child, x))
                    continue
                if x is not None:
                    # step across the hyperplane: a point of the child without an LP?
                    pre_u = float(W[unit] @ x + b[unit])
                    step = pre_u - sgn * max(1e-6, 0.5 * abs(pre_u))
                    y = x - step * W[unit]
                    if self.lp.point_margin(y, child) > FEASIBLE_MARGIN:
                        self.offer_point(y)
                        children.append((child, y))
                        continue
                res = self.lp.margin(child)
                if res.empty:
                    continue
                cx = res.x if res.witness else None
                self.offer_point(cx)
                children.append((child, cx))
            if len(children) == 0:
                return  # numerically empty node (both sides empty): nothing realizable
            if len(children) == 1:
                self.forced += 1
                sign, x = children[0]
                if sign[unit] > 0:
                    g = g + M[unit]
                sign, g, x, empty = self.propagate(sign, g, x, np.array([unit]), rel.learned)
                if empty:
                    return
                rel = self.bound(sign, g, rel)
                continue
            for child, cx in children:
                self.make(child, g + M[unit] if child[unit] > 0 else g, cx, rel, unit)
            return

    def summary(self, complete: bool) -> dict:
        """What another process needs to merge this part's outcome."""
        inc = self.incumbent
        return {
            "lower": inc.value,
            "x": inc.x,
            "pattern": inc.pattern,
            "unresolved": inc.unresolved,
            "pruned_max": self.pruned_max,
            "open_bound": max(self.open_bound(), self.open_elsewhere),
            "open_nodes": len(self.heap),
            "complete": complete and not self.heap,
            "nodes": self.nodes,
            "forced": self.forced,
            "lps": self.lp.calls - self.lps0,
            "nogoods": 0 if self.nogoods is None else self.nogoods.learned - self.learned0,
            "propagated": 0 if self.nogoods is None else self.nogoods.forced - self.propagated0,
        }


#: Runs a search with helper processes: (search, max_nodes, progress) -> (complete, info).
Parallel = Callable[["_Search", "int | None", "Callable[[dict], None] | None"], tuple[bool, dict]]


def branch_and_bound(
    prob: Arrangement,
    lp: RegionLP,
    leaf: LeafEval,
    incumbent: Incumbent,
    settings: ExactSettings,
    *,
    tol: float,
    deadline: float | None,
    max_nodes: int | None,
    root_point: np.ndarray | None = None,
    progress: Callable[[dict], None] | None = None,
    on_improve: Callable[[], None] | None = None,
    parallel: Parallel | None = None,
    floor: float = 0.0,
) -> SearchResult:
    """Best-first branch and bound; see the module docstring.

    Parameters
    ----------
    prob : Arrangement
    lp : RegionLP
        Realizability LPs (with the ball when the domain is bounded).
    leaf : LeafEval
        Value of a realizable region given a point inside it.
    incumbent : Incumbent
        Seeded by heuristics; improved in place.
    settings : ExactSettings
    tol : float
        Relative gap at which the search stops.
    deadline, max_nodes : limits (None: none).
    root_point : a point of the domain with positive margin to the ball (ball/sphere).
    progress : called with (nodes, lower, upper, seconds) every ``progress_every`` nodes.
    on_improve : called after the incumbent improves (e.g. to run a local search).
    parallel : runs the search with helper processes
        (:meth:`robustlaw._pl.parallel.Helpers.search`); None: this process
        alone.
    floor : a certified lower bound found elsewhere, for pruning (see :class:`_Search`).
    """
    search = _Search(
        prob,
        lp,
        leaf,
        incumbent,
        settings,
        tol=tol,
        deadline=deadline,
        on_improve=on_improve,
        floor=floor,
    )
    search.root(root_point)
    if parallel is not None:
        complete, extra = parallel(search, max_nodes, progress)
    else:
        complete, extra = search.run(max_nodes, progress), {}
    summary = search.summary(complete)
    info = {
        "forced": summary["forced"],
        "open_nodes": summary["open_nodes"],
        "nogoods": summary["nogoods"],
        "propagated": summary["propagated"],
    }
    for key, value in extra.items():
        info[key] = info.get(key, 0) + value if key in info else value
    return SearchResult(
        lower=incumbent.value,
        upper=search.upper(),
        x=incumbent.x,
        pattern=incumbent.pattern,
        nodes=search.nodes + int(extra.get("helper_nodes", 0)),
        lps=summary["lps"] + int(extra.get("helper_lps", 0)),
        complete=summary["complete"] and bool(extra.get("helpers_complete", True)),
        info=info,
    )
