"""Branch and bound over activation patterns for max ||g0 + M^T s|| over realizable s.

A node fixes the side sigma_l of some units (a polyhedron P of x-space, known to have
interior: the node carries a point x inside it with a positive margin, found by the
parent's point, by a step across the new hyperplane, or by the realizability LP) and
leaves the others free. Its bound is a certified upper bound on the pattern relaxation
over the free units U,

    max_{s_U in {0,1}^U} || g_F + M_U^T s_U ||,   g_F = g0 + sum_{l in F, on} m_l,

and the largest bound over open nodes is the certified upper bound at any time:

- |U| <= ``EXACT_UNITS``: the relaxation itself, by enumerating the 2^|U| patterns;
- otherwise the dual of the semidefinite relaxation of max_{y in {-1,1}^n} ||A y||
  (:func:`sdp_bound`; any dual point is a certificate: ``SDP_WARM_ITERS`` power-like
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

Optional propagation (``TIGHTEN_LPS > 0``, off by
default) fixes, when a node is first popped, every free unit whose hyperplane misses
the node's region (:func:`_tighten`: points of the region on lines through its point
prove that a unit cuts it, one LP per other unit proves that it does not) and bounds
the node again; the children of a branch on a unit proven to cut need no LP, and
(``CARRY_POINTS``) the points that proved units to cut are handed to the children, which
test them before their own lines and LPs.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robustlaw.lipschitz._exact_geometry import (
    FEASIBLE_MARGIN,
    PatternProblem,
    RegionLP,
)

__all__ = ["EXACT_UNITS", "Incumbent", "SearchResult", "branch_and_bound", "sdp_bound"]

#: Free units up to which a node's relaxation is computed exactly by enumeration.
EXACT_UNITS = 12
#: Iterations of the semidefinite bound at the root and at a child. A child starts from
#: Y = I (cold) and the parent's dual point is evaluated as well (the smaller bound is
#: kept): the iteration from the parent's nearly low-rank point stalls. On the trained
#: d = 10, k = 64 nets of bench/exact_bench.py, down random branches 8 iterations from
#: the parent's point end up to 2.1% above the converged dual value, 8 from Y = I at
#: most 0.6% (16: 0.23%); at the top open nodes after 30 s of the warm-started search
#: the inherited bound was 16.06 where the converged values were 15.35 to 16.06. Child
#: iterations from Y = I against the interval after 60 s on seed 0 (one run each, quiet
#: machine): 4: 1.0431, 8: 1.0366, 12: 1.0389, 16: 1.0420, 24: 1.0465 (upper / lower).
SDP_ITERS = 40
SDP_WARM_ITERS = 8
#: Start of a child's semidefinite bound: "cold" (Y = I, the parent's point evaluated
#: too) or "warm" (iterate from the parent's point).
SDP_START = "cold"
#: The semidefinite bound is evaluated (one d x d eigenvalue problem) every
#: SDP_EVAL_EVERY iterations and at the last; the best evaluated dual point is kept.
SDP_EVAL_EVERY = 8
#: Realizability LPs spent at most when propagating a node (see :func:`_tighten`); 0
#: turns propagation off (the default: on the trained d = 10, k = 64 nets of
#: bench/exact_bench.py it tightens the bound per node but costs about 10 LPs per node,
#: and the interval reached in 60 s is wider than without it; with TIGHTEN_LPS = 3 and
#: TIGHTEN_DISAGREE the bound per second of CPU is about that of the default, 16.19
#: against 16.24 after 20 s on seed 0, within the noise of a shared machine).
TIGHTEN_LPS = 0
#: Propagation is tried on the first TIGHTEN_TRIALS nodes with a given number of free
#: units, then only while it fixed a unit in at least TIGHTEN_RATE of them.
TIGHTEN_TRIALS = 8
TIGHTEN_RATE = 0.25
#: Propagation tests first the units whose side at the node's point disagrees with the
#: relaxation's maximizer.
TIGHTEN_DISAGREE = False
#: With propagation, a node passes the points that certified its cutting units to its
#: children, which check them before their own line search and LPs.
CARRY_POINTS = True

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


def sdp_bound(
    A: np.ndarray,
    Y: np.ndarray | None,
    iters: int,
    target: float = -math.inf,
    deadline: float | None = None,
) -> tuple[float, np.ndarray]:
    """Certified bound on max_{y in {-1,1}^n} ||A y|| from the dual of its semidefinite
    relaxation (Goemans-Williamson / Nesterov): for every lambda > 0,

        ||A y||^2 <= rho(lambda) sum_i lambda_i,  rho = lambda_max(sum_i a_i a_i^T / lambda_i),

    since diag(rho lambda) - A^T A is positive semidefinite (Schur complement). The best
    lambda_i = ||Y^T a_i|| solves the dual max_Y 2 sum_i ||Y^T a_i|| - ||Y||_F^2, whose
    stationarity Y = K(Y) Y (K = sum_i a_i a_i^T / ||Y^T a_i||) is iterated like a power
    method from the warm start Y (d, d), or from Y = I when Y is None (then Y = I itself is
    not evaluated: its bound is poor), evaluated every ``SDP_EVAL_EVERY`` iterations and
    at the last. Stops early once the bound is below ``target``
    or after ``deadline`` (a :func:`time.perf_counter` value; the bound of the best
    point so far is returned, every dual point being a certificate).
    Returns (bound on max ||A y||, Y).

    A : (d, n).
    """
    d = A.shape[0]
    cold = Y is None
    if cold:
        Y = np.eye(d)

    def weights(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = np.sqrt(((Y.T @ A) ** 2).sum(axis=0))
        lam = np.maximum(lam, 1e-12 * max(float(lam.max()), 1e-300))
        return lam, (A / lam) @ A.T

    def value(lam: np.ndarray, K: np.ndarray) -> float:
        rho = float(np.linalg.eigvalsh(K)[-1])
        return math.sqrt(max(rho * float(lam.sum()), 0.0)) * (1.0 + 1e-10)

    lam, K = weights(Y)
    # Y = I is a poor dual point: when iterating from it, the first checkpoint decides
    best = math.inf if cold and iters > 0 else value(lam, K)
    best_Y = Y
    if best <= target or iters == 0:
        return best, best_Y
    every = max(1, SDP_EVAL_EVERY)
    for i in range(iters):
        if deadline is not None and time.perf_counter() > deadline:
            break
        Y = K @ Y
        Y /= np.linalg.norm(Y)
        lam, K = weights(Y)
        if i % every == every - 1 or i == iters - 1:
            val = value(lam, K)
            if val < best:
                best, best_Y = val, Y
            if best <= target:
                break
    if not math.isfinite(best):  # out of time before the first checkpoint
        best, best_Y = value(lam, K), Y
    return best, best_Y


def _relaxation(
    g: np.ndarray,
    Mu: np.ndarray,
    norms_u: np.ndarray,
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
    if n <= EXACT_UNITS:
        Z = _patterns(n)
        G = g + Z @ Mu
        nrm = np.linalg.norm(G, axis=1)
        i = int(np.argmax(nrm))
        val = float(nrm[i])
        u = G[i] / val if val > 0 else np.zeros_like(g)
        return _Relax(val, True, Z[i] > 0.5, val, u, Y)
    # semidefinite bound: s = (1 + t) / 2, y = (1, t), ||g + Mu^T s|| = ||A y||
    c = g + 0.5 * Mu.sum(axis=0)
    A = np.c_[c, 0.5 * Mu.T]
    if iters is None:
        iters = SDP_ITERS if Y is None else SDP_WARM_ITERS
    if Y is not None and SDP_START == "cold":
        warm, Y_warm = sdp_bound(A, Y, 0)
        bound, Y = sdp_bound(A, None, iters, target, deadline)
        if warm < bound:
            bound, Y = warm, Y_warm
    else:
        bound, Y = sdp_bound(A, Y, iters, target, deadline)
    # a relaxation maximizer by fixed-point ascent s = [m . u > 0], u = grad(s)
    best_val, best_s = -1.0, None
    for start in (u0, c):
        if start is None:
            continue
        u = start
        s = Mu @ u > 0
        for _ in range(12):
            u = g + s.astype(np.float64) @ Mu
            s_new = Mu @ u > 0
            if np.array_equal(s_new, s):
                break
            s = s_new
        val = float(np.linalg.norm(g + s.astype(np.float64) @ Mu))
        if val > best_val:
            best_val, best_s = val, s
    assert best_s is not None
    grad = g + best_s.astype(np.float64) @ Mu
    u = grad / best_val if best_val > 0 else np.zeros_like(g)
    return _Relax(max(bound, best_val), False, best_s, best_val, u, Y)


@dataclass
class _Tight:
    """A node after propagation: units whose hyperplane misses the node's region fixed,
    and for each remaining free unit proven to cut it, a point on its other side."""

    sign: np.ndarray
    g: np.ndarray
    other: dict[int, np.ndarray]  # unit -> point of the region on the side opposite x
    lps: int
    fixed: int
    complete: bool  # every free unit was decided (no LP cap, no deadline)


def _line_cloud(
    prob: PatternProblem, lp: RegionLP, sign: np.ndarray, x: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points of the node's region on lines through x: for each direction (the normals of
    the free units and random ones), the crossing of every free hyperplane inside the
    region, pushed halfway to the next obstacle. Returns (points (n, d), their margins
    on the fixed units and the ball)."""
    W, b, d = prob.W, prob.b, prob.d
    free = np.flatnonzero(sign == 0)
    fixed = np.flatnonzero(sign)
    U = np.vstack([W[free], rng.standard_normal((min(16, 2 * d), d))])
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    # fixed constraints along x + t u: sigma (w.x + b) + t sigma (w.u) >= 0
    s_f = sign[fixed].astype(np.float64)
    c0 = s_f * (W[fixed] @ x + b[fixed])  # (f,) > 0
    slope = (U @ W[fixed].T) * s_f  # (n, f)
    with np.errstate(divide="ignore", invalid="ignore"):
        lim = np.where(slope < 0, c0 / -slope, np.inf)  # forward limit
        lim_b = np.where(slope > 0, c0 / slope, np.inf)  # backward limit
    t_hi = lim.min(axis=1) if len(fixed) else np.full(len(U), np.inf)
    t_lo = -(lim_b.min(axis=1) if len(fixed) else np.full(len(U), np.inf))
    if lp.ball:  # ||x + t u|| <= 1: t in [-ux - r, -ux + r]
        ux = U @ x
        r = np.sqrt(np.maximum(ux**2 - (x @ x - 1.0), 0.0))
        t_hi = np.minimum(t_hi, -ux + r)
        t_lo = np.maximum(t_lo, -ux - r)
    scale = 1.0 + float(np.linalg.norm(x))
    t_hi = np.minimum(t_hi, 1e3 * scale)
    t_lo = np.maximum(t_lo, -1e3 * scale)
    pre = W[free] @ x + b[free]  # (u,)
    rate = U @ W[free].T  # (n, u)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -pre[None, :] / rate  # (n, u)
    end = np.where(t > 0, t_hi[:, None], t_lo[:, None])
    inside = np.isfinite(t) & (np.abs(t) < np.abs(end))
    rows, cols = np.nonzero(inside)
    tt = 0.5 * (t[rows, cols] + end[rows, cols])
    P = x[None, :] + tt[:, None] * U[rows]
    margins = lp.point_margins(P, sign)
    return P, margins


def _tighten(
    prob: PatternProblem,
    lp: RegionLP,
    sign: np.ndarray,
    g: np.ndarray,
    x: np.ndarray,
    priority: np.ndarray,
    rng: np.random.Generator,
    max_lps: int,
    deadline: float | None,
    inherited: np.ndarray | None = None,
) -> _Tight:
    """Fix every free unit whose hyperplane misses the node's region (to the side of x).

    A free unit cuts the region when a point of the region with margin lies on its other
    side: found first on lines through x (no LP), then by one realizability LP per
    remaining unit, in the order of ``priority`` (largest first), at most ``max_lps``.
    An LP that finds the other side empty fixes the unit; units left untested stay free.
    ``inherited`` (n, d): points known inside an ancestor's region (e.g. the parent's
    certificates), checked first.
    """
    W, b, M = prob.W, prob.b, prob.M
    sign = sign.copy()
    free = np.flatnonzero(sign == 0)
    side = np.where(W[free] @ x + b[free] > 0, 1, -1).astype(np.int8)
    other: dict[int, np.ndarray] = {}

    def absorb(P: np.ndarray, ok: np.ndarray) -> None:
        if not ok.any():
            return
        P = P[ok]
        pre = P @ W[free].T + b[free]  # (n, u)
        opposite = (pre * side < 0) & (np.abs(pre) > FEASIBLE_MARGIN)
        for j in np.flatnonzero(opposite.any(axis=0)):
            unit = int(free[j])
            if unit not in other:
                other[unit] = P[int(np.argmax(opposite[:, j]))].copy()

    if inherited is not None and len(inherited):
        absorb(inherited, lp.point_margins(inherited, sign) > FEASIBLE_MARGIN)
    P, margins = _line_cloud(prob, lp, sign, x, rng)
    absorb(P, margins > FEASIBLE_MARGIN)
    lps = 0
    fixed = 0
    complete = True
    order = np.argsort(-priority)
    for j in order:
        unit = int(free[j])
        if unit in other:
            continue
        if lps >= max_lps or (deadline is not None and time.perf_counter() > deadline):
            complete = False
            break
        child = sign.copy()
        child[unit] = -side[j]
        res = lp.margin(child)
        lps += 1
        if res.empty:
            sign[unit] = side[j]
            if side[j] > 0:
                g = g + M[unit]
            fixed += 1
        elif res.witness:
            other[unit] = res.x
            absorb(res.x[None, :], np.array([True]))
    # units fixed later may have been certified by points now outside the region: drop
    # certificates that no longer hold (they are re-derived when branching)
    for unit in list(other):
        if lp.point_margin(other[unit], _with(sign, unit, -side[np.searchsorted(free, unit)])) <= (
            FEASIBLE_MARGIN
        ):
            del other[unit]
    return _Tight(sign, g, other, lps, fixed, complete)


def _with(sign: np.ndarray, unit: int, value: int) -> np.ndarray:
    out = sign.copy()
    out[unit] = value
    return out


def branch_and_bound(
    prob: PatternProblem,
    lp: RegionLP,
    leaf: LeafEval,
    incumbent: Incumbent,
    *,
    tol: float,
    deadline: float | None,
    max_nodes: int | None,
    root_point: np.ndarray | None = None,
    progress: Callable[[dict], None] | None = None,
    on_improve: Callable[[], None] | None = None,
) -> SearchResult:
    """Best-first branch and bound; see the module docstring.

    ``on_improve`` is called after the incumbent improves (e.g. to run a local search).

    Parameters
    ----------
    prob : PatternProblem
    lp : RegionLP
        Realizability LPs (with the ball when the domain is bounded).
    leaf : LeafEval
        Value of a realizable region given a point inside it.
    incumbent : Incumbent
        Seeded by heuristics; improved in place.
    tol : float
        Relative gap at which the search stops.
    deadline, max_nodes : limits (None: none).
    root_point : a point of the domain with positive margin to the ball (ball/sphere).
    """
    k, d = prob.k, prob.d
    M, W, b = prob.M, prob.W, prob.b
    norms = np.linalg.norm(M, axis=1)
    start = time.perf_counter()
    lps0 = lp.calls
    counter = itertools.count()
    heap: list = []
    nodes = 0
    pruned_max = 0.0
    forced = 0

    def threshold() -> float:
        return max(incumbent.value, incumbent.unresolved) * (1.0 + 0.5 * tol)

    def point_info(sign: np.ndarray, x: np.ndarray | None) -> float:
        return -math.inf if x is None else lp.point_margin(x, sign)

    def offer_point(x: np.ndarray | None) -> None:
        if x is None:
            return
        pre = W @ x + b
        if k and np.min(np.abs(pre)) <= FEASIBLE_MARGIN:
            return
        if lp.ball and np.linalg.norm(x) >= 1.0 - FEASIBLE_MARGIN:
            return
        before = incumbent.value
        incumbent.offer(pre > 0, x, leaf)
        if on_improve is not None and incumbent.value > before:
            on_improve()

    def make(
        sign: np.ndarray,
        g: np.ndarray,
        x: np.ndarray | None,
        Y: np.ndarray | None = None,
        u0: np.ndarray | None = None,
        parent_bound: float = math.inf,
        pts: np.ndarray | None = None,
    ) -> None:
        free = np.flatnonzero(sign == 0)
        rel = _relaxation(g, M[free], norms[free], Y, u0, threshold(), deadline=deadline)
        # a child's patterns are the parent's: its bound never exceeds the parent's
        rel.bound = min(rel.bound, parent_bound)
        bound = rel.bound * (1.0 + 1e-12)
        nonlocal pruned_max
        if bound <= threshold():
            pruned_max = max(pruned_max, bound)
            return
        heapq.heappush(heap, (-bound, next(counter), sign, g, x, rel, False, pts))

    # root
    sign0 = np.zeros(k, dtype=np.int8)
    x_root = np.zeros(d) if root_point is None else root_point
    offer_point(x_root)
    make(sign0, prob.g0.copy(), x_root)
    complete = True
    rng = np.random.default_rng(0)
    tightened = fixed_total = tighten_lps = 0
    # per number of free units: [propagations, propagations that fixed a unit]
    tighten_stats: dict[int, list[int]] = {}
    while heap and complete:
        negb, _, sign, g, x, rel, tight, pts = heapq.heappop(heap)
        if -negb <= threshold():
            pruned_max = max(pruned_max, -negb)
            heap.clear()
            break
        if (max_nodes is not None and nodes >= max_nodes) or (
            deadline is not None and time.perf_counter() > deadline
        ):
            heapq.heappush(heap, (negb, next(counter), sign, g, x, rel, tight, pts))
            complete = False
            break
        nodes += 1
        other: dict[int, np.ndarray] = {}
        n_free = int(np.count_nonzero(sign == 0))
        stats = tighten_stats.setdefault(n_free, [0, 0])
        if (
            TIGHTEN_LPS > 0
            and not tight
            and x is not None
            and n_free
            and (stats[0] < TIGHTEN_TRIALS or stats[1] >= TIGHTEN_RATE * stats[0])
        ):
            # propagate: fix the units whose hyperplane misses the region, re-bound
            free = np.flatnonzero(sign == 0)
            if rel.Y is not None:
                priority = np.linalg.norm(M[free] @ rel.Y, axis=1)
            else:
                priority = np.abs(M[free] @ rel.u)
            if TIGHTEN_DISAGREE:
                # units the relaxation's maximizer wants on the far side of x come first
                disagree = (W[free] @ x + b[free] > 0) != rel.s_free
                priority = priority + np.where(disagree, priority.max() + 1.0, 0.0)
            tt = _tighten(prob, lp, sign, g, x, priority, rng, TIGHTEN_LPS, deadline, pts)
            tightened += 1
            stats[0] += 1
            stats[1] += tt.fixed > 0
            tighten_lps += tt.lps
            fixed_total += tt.fixed
            other = tt.other
            for point in other.values():  # regions met on the way count for the lower bound
                offer_point(point)
            if CARRY_POINTS and other:
                pts = np.array(list(other.values()))
            if tt.fixed:
                sign, g = tt.sign, tt.g
                free = np.flatnonzero(sign == 0)
                previous = rel.bound
                rel = _relaxation(
                    g, M[free], norms[free], rel.Y, rel.u, threshold(), SDP_ITERS, deadline
                )
                rel.bound = min(rel.bound, previous)
                bound = rel.bound * (1.0 + 1e-12)
                if bound <= threshold():
                    pruned_max = max(pruned_max, bound)
                    continue
                if not tt.complete or (heap and bound < -heap[0][0]):
                    # not the best node any more (or the deadline came): back in line
                    heapq.heappush(heap, (-bound, next(counter), sign, g, x, rel, True, pts))
                    continue
        if progress is not None and nodes % 2000 == 0:
            progress(
                {
                    "nodes": nodes,
                    "lower": incumbent.value,
                    "upper": max(-heap[0][0] if heap else 0.0, -negb, incumbent.value),
                    "seconds": time.perf_counter() - start,
                }
            )
        first = True
        while True:  # process the node; forced units loop back here
            if not first and deadline is not None and time.perf_counter() > deadline:
                # out of time in a chain of forced units: the node goes back, still open
                heapq.heappush(heap, (-rel.bound, next(counter), sign, g, x, rel, True, pts))
                complete = False
                break
            first = False
            free = np.flatnonzero(sign == 0)
            if len(free) == 0:
                if x is not None:
                    offer_point(x)
                    # a leaf with a kept-but-thin region (no witness) is an upper bound only
                    if (
                        not np.array_equal((W @ x + b > 0), sign > 0)
                        or point_info(sign, x) <= FEASIBLE_MARGIN
                    ):
                        incumbent.unresolved = max(incumbent.unresolved, float(np.linalg.norm(g)))
                else:
                    incumbent.unresolved = max(incumbent.unresolved, float(np.linalg.norm(g)))
                break
            if rel.bound * (1.0 + 1e-12) <= threshold():
                pruned_max = max(pruned_max, rel.bound * (1.0 + 1e-12))
                break
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
                    offer_point(x)  # the maximizer is realized at x: node closed
                    if max(incumbent.value, incumbent.unresolved) >= rel.value * (1.0 - 1e-12):
                        break
            if rel.exact:
                full = sign.copy()
                full[free] = np.where(s_free, 1, -1)
                res = lp.margin(full)
                if res.witness:
                    offer_point(res.x)
                    if max(incumbent.value, incumbent.unresolved) >= rel.value * (1.0 - 1e-12):
                        break
            # branching unit: the largest dual weight lambda_l = ||Y^T m_l|| of the
            # semidefinite bound (else |m_l . u|) among free units whose side at the
            # node's point disagrees with the relaxation's maximizer
            if rel.Y is not None:
                score = np.linalg.norm(M[free] @ rel.Y, axis=1)
            else:
                score = np.abs(M[free] @ rel.u) + 1e-12 * norms[free]
            if x_side is not None:
                disagree = x_side != s_free
                if disagree.any():
                    score = np.where(disagree, score, -1.0)
            if other:
                known = np.array([int(u) in other for u in free])
                if (known & (score >= 0)).any():
                    score = np.where(known, score, -1.0)
            j = int(np.argmax(score))
            unit = int(free[j])
            want = 1 if s_free[j] else -1
            # child on the point's side inherits the point
            if x is not None:
                side = 1 if x_side[j] else -1
                margin_x = abs(float(W[unit] @ x + b[unit]))
            else:
                side, margin_x = want, -math.inf
            children = []
            for sgn in (side, -side):
                child = sign.copy()
                child[unit] = sgn
                if sgn == side and margin_x > FEASIBLE_MARGIN:
                    children.append((child, x))
                    continue
                if unit in other and lp.point_margin(other[unit], child) > FEASIBLE_MARGIN:
                    children.append((child, other[unit]))
                    continue
                if x is not None:
                    # step across the hyperplane: a point of the child without an LP?
                    pre_u = float(W[unit] @ x + b[unit])
                    step = pre_u - sgn * max(1e-6, 0.5 * abs(pre_u))
                    y = x - step * W[unit]
                    if lp.point_margin(y, child) > FEASIBLE_MARGIN:
                        offer_point(y)
                        children.append((child, y))
                        continue
                res = lp.margin(child)
                if res.empty:
                    continue
                cx = res.x if res.witness else None
                offer_point(cx)
                children.append((child, cx))
            if len(children) == 0:
                break  # numerically empty node (both sides empty): nothing realizable
            if len(children) == 1:
                forced += 1
                sign, cx = children[0]
                if sign[unit] > 0:
                    g = g + M[unit]
                x = cx
                free = np.flatnonzero(sign == 0)
                previous = rel.bound
                rel = _relaxation(
                    g, M[free], norms[free], rel.Y, rel.u, threshold(), deadline=deadline
                )
                rel.bound = min(rel.bound, previous)
                continue
            for child, cx in children:
                cg = g + M[unit] if child[unit] > 0 else g
                child_pts = None
                if pts is not None and len(pts):
                    child_pts = pts[lp.point_margins(pts, child) > FEASIBLE_MARGIN]
                make(child, cg, cx, rel.Y, rel.u, rel.bound, child_pts)
            break
    open_bound = max((-item[0] for item in heap), default=0.0)
    upper = max(incumbent.value, incumbent.unresolved, pruned_max, open_bound)
    return SearchResult(
        lower=incumbent.value,
        upper=upper,
        x=incumbent.x,
        pattern=incumbent.pattern,
        nodes=nodes,
        lps=lp.calls - lps0,
        complete=complete and not heap,
        info={
            "forced": forced,
            "open_nodes": len(heap),
            "tightened": tightened,
            "tighten_fixed": fixed_total,
            "tighten_lps": tighten_lps,
        },
    )
