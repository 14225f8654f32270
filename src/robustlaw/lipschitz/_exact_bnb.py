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
  (:func:`sdp_bound`; any dual point is a certificate, improved by a few power-like
  iterations warm-started from the parent's), about 1.05x the relaxation where the
  averaged form ||c|| + 1/2 sqrt(|U|) ||M_U||_op is 1.5x.

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
#: Iterations of the semidefinite bound at the root and from a parent's warm start.
SDP_ITERS = 40
SDP_WARM_ITERS = 8

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
    A: np.ndarray, Y: np.ndarray | None, iters: int, target: float = -math.inf
) -> tuple[float, np.ndarray]:
    """Certified bound on max_{y in {-1,1}^n} ||A y|| from the dual of its semidefinite
    relaxation (Goemans-Williamson / Nesterov): for every lambda > 0,

        ||A y||^2 <= rho(lambda) sum_i lambda_i,  rho = lambda_max(sum_i a_i a_i^T / lambda_i),

    since diag(rho lambda) - A^T A is positive semidefinite (Schur complement). The best
    lambda_i = ||Y^T a_i|| solves the dual max_Y 2 sum_i ||Y^T a_i|| - ||Y||_F^2, whose
    stationarity Y = K(Y) Y (K = sum_i a_i a_i^T / ||Y^T a_i||) is iterated like a power
    method from the warm start Y (d, d). Stops early once the bound is below ``target``.
    Returns (bound on max ||A y||, Y).

    A : (d, n).
    """
    d = A.shape[0]
    if Y is None:
        Y = np.eye(d)

    def evaluate(Y: np.ndarray) -> tuple[float, np.ndarray]:
        lam = np.sqrt(((Y.T @ A) ** 2).sum(axis=0))
        lam = np.maximum(lam, 1e-12 * max(float(lam.max()), 1e-300))
        K = (A / lam) @ A.T
        rho = float(np.linalg.eigvalsh(K)[-1])
        return math.sqrt(max(rho * float(lam.sum()), 0.0)) * (1.0 + 1e-10), K

    best, K = evaluate(Y)
    best_Y = Y
    if best <= target or iters == 0:
        return best, best_Y
    for i in range(iters):
        Y = K @ Y
        Y /= np.linalg.norm(Y)
        if i % 4 == 3 or i == iters - 1:
            val, K = evaluate(Y)
            if val < best:
                best, best_Y = val, Y
            if best <= target:
                break
        else:
            lam = np.sqrt(((Y.T @ A) ** 2).sum(axis=0))
            lam = np.maximum(lam, 1e-12 * max(float(lam.max()), 1e-300))
            K = (A / lam) @ A.T
    return best, best_Y


def _relaxation(
    g: np.ndarray,
    Mu: np.ndarray,
    norms_u: np.ndarray,
    Y: np.ndarray | None = None,
    u0: np.ndarray | None = None,
    target: float = -math.inf,
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
    bound, Y = sdp_bound(A, Y, SDP_ITERS if Y is None else SDP_WARM_ITERS, target)
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
    ) -> None:
        free = np.flatnonzero(sign == 0)
        rel = _relaxation(g, M[free], norms[free], Y, u0, threshold())
        # a child's patterns are the parent's: its bound never exceeds the parent's
        rel.bound = min(rel.bound, parent_bound)
        bound = rel.bound * (1.0 + 1e-12)
        nonlocal pruned_max
        if bound <= threshold():
            pruned_max = max(pruned_max, bound)
            return
        heapq.heappush(heap, (-bound, next(counter), sign, g, x, rel))

    # root
    sign0 = np.zeros(k, dtype=np.int8)
    x_root = np.zeros(d) if root_point is None else root_point
    offer_point(x_root)
    make(sign0, prob.g0.copy(), x_root)
    complete = True
    while heap:
        negb, _, sign, g, x, rel = heapq.heappop(heap)
        if -negb <= threshold():
            pruned_max = max(pruned_max, -negb)
            heap.clear()
            break
        if (max_nodes is not None and nodes >= max_nodes) or (
            deadline is not None and time.perf_counter() > deadline
        ):
            heapq.heappush(heap, (negb, next(counter), sign, g, x, rel))
            complete = False
            break
        nodes += 1
        if progress is not None and nodes % 2000 == 0:
            progress(
                {
                    "nodes": nodes,
                    "lower": incumbent.value,
                    "upper": max(-heap[0][0] if heap else 0.0, -negb, incumbent.value),
                    "seconds": time.perf_counter() - start,
                }
            )
        while True:  # process the node; forced units loop back here
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
                rel = _relaxation(g, M[free], norms[free], rel.Y, rel.u, threshold())
                rel.bound = min(rel.bound, previous)
                continue
            for child, cx in children:
                cg = g + M[unit] if child[unit] > 0 else g
                make(child, cg, cx, rel.Y, rel.u, rel.bound)
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
        info={"forced": forced, "open_nodes": len(heap)},
    )
