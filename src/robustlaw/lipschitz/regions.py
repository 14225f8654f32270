"""Lower bounds for two-layer piecewise-linear networks by searching activation regions.

For f(x) = sum_l a_l psi(w_l . x + b_l) + v . x with psi piecewise linear with slopes
(alpha, beta) (relu: (0, 1); leaky relu: (alpha, 1)), the gradient on the region with
activation pattern s is

    g(s) = v + sum_l (alpha + (beta - alpha) s_l) a_l w_l,

constant on the region, so autograd ascent does not move (docs/science.md, Section 5). This
module moves between regions directly:

1. **exact line search across regions**: along a line x + t u the pattern changes at the
   breakpoints t_l = -(w_l . x + b_l) / (w_l . u); sorting them and accumulating the
   flips gives ||g|| on every segment of the line at once, and the walk jumps to the
   best segment (clipped to the ball; on the sphere the lines are great circles, and on
   each arc the tangential norm sqrt(||g||^2 - (g . x)^2) is maximized in closed form).
   Directions: random ones, the gradient, and the normals of the units whose flip would
   increase ||g|| most;
2. **LP-checked flips**: from a region where no line improves, flip a unit whose flip
   increases ||g|| and whose flipped region is non-empty — reached straight along the
   unit's normal when possible, else checked by a linear program (HiGHS through scipy)
   that maximizes the distance of a point to all hyperplanes (a second-order cone
   program, Clarabel, for the ball and the sphere), so the new witness lies strictly
   inside its region;
3. **jumps to target regions**: for a direction u the pattern s_l = [a_l w_l . u > 0] is
   the one that maximizes u . g; the LP relaxation of "find x with that pattern" lands
   near such a region (:func:`target_point`). Directions: the current gradient, local
   maxima of the unconstrained pattern problem, random ones;
4. **best-first exploration** of the region graph from the best local maxima, downhill
   moves allowed, to cross valleys (:func:`best_first`);
5. on R^d, **regions at infinity**: far along u the pattern is [W u > 0], so the same
   search on the bias-free network (whose regions are these cones) finds unbounded
   regions, which often hold the maximum of trained networks; its best cone is mapped
   back to a far point.

Rounds of this run until two rounds in a row bring no improvement (or the budget ends).
Every witness is a point strictly inside its region, and its value is recomputed on the
network in float64.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import linprog

from robustlaw.lipschitz._common import (
    Clock,
    as_points,
    check_positive_int,
    lower_result,
    not_applicable,
    prepare,
    threads_for,
)
from robustlaw.lipschitz.domain import point_values, project
from robustlaw.lipschitz.lower import _generator, candidate_points
from robustlaw.lipschitz.result import Budget, MethodResult, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = ["RegionNet", "region_search"]

#: Relative length a segment of a line must have for its midpoint to count as interior.
_MIN_SEGMENT = 1e-9
#: Distance to every hyperplane an LP point must keep (in units of the data scale).
_LP_MARGIN = 1e-7
#: Angle by which points on great circles stay away from the arc ends (the kinks).
_ARC_INSET = 1e-7


class RegionNet:
    """One two-layer piecewise-linear member as numpy float64 arrays.

    Attributes
    ----------
    W : (k, d) hidden weights of the units that matter (a_l w_l != 0)
    c : (k,) their biases
    M : (k, d) columns m_l = a_l w_l
    v : (d,) linear skip (zeros if none)
    lo, hi : float
        The two slopes of the activation.
    """

    def __init__(self, stack: Stack, member: int) -> None:
        arrays = stack.two_layer_arrays(member)
        self.W = arrays["W"]
        self.c = arrays["bias"]
        self.a = arrays["a"]
        self.M = self.a[:, None] * self.W
        self.v = arrays["v"]
        lo, hi = stack.slopes()[0]
        self.lo, self.hi = float(lo), float(hi)
        self.delta = self.hi - self.lo
        self.base = self.v + self.lo * self.M.sum(axis=0)
        norms = np.linalg.norm(self.W, axis=1)
        self.Wn = self.W / norms[:, None]
        self.cn = self.c / norms
        self.k, self.d = self.W.shape

    def without_bias(self) -> RegionNet:
        """The same units with b = 0: its regions are the cones of the arrangement at
        infinity (far along u the pattern of f is [W u > 0])."""
        cone = object.__new__(RegionNet)
        cone.__dict__.update(self.__dict__)
        cone.c = np.zeros_like(self.c)
        cone.cn = np.zeros_like(self.cn)
        return cone

    def far_point(self, u: np.ndarray) -> np.ndarray | None:
        """A point t u, far enough that its pattern is the cone pattern [W u > 0] with a
        margin (None when u lies on a hyperplane of the cones)."""
        wu = self.W @ u
        if self.k and np.abs(wu).min() <= 1e-12 * np.abs(self.W).sum(axis=1).max():
            return None
        t = 4.0 * float(np.max(np.abs(self.c) / np.abs(wu), initial=0.0)) + 1.0
        for _ in range(8):
            x = t * u
            if (self.pattern(x) == (wu > 0)).all() and self.interior(x):
                return x
            t *= 4.0
        return None

    def pattern(self, x: np.ndarray) -> np.ndarray:
        return self.W @ x + self.c > 0

    def gradient(self, s: np.ndarray) -> np.ndarray:
        return self.base + self.delta * (s.astype(np.float64) @ self.M)

    def interior(self, x: np.ndarray, rel: float = 1e-7) -> bool:
        """x is away from every kink by a relative margin |z_l| > rel (|w_l| . |x| + |b_l|),
        100 times the margin at which witnesses are accepted."""
        if self.k == 0:
            return True
        z = np.abs(self.W @ x + self.c)
        return bool((z > rel * (np.abs(self.W) @ np.abs(x) + np.abs(self.c))).all())

    def margin(self, x: np.ndarray) -> float:
        """Distance from x to the nearest hyperplane."""
        if self.k == 0:
            return math.inf
        return float(np.abs(self.Wn @ x + self.cn).min())


def _tangential(g: np.ndarray, x: np.ndarray) -> float:
    xn = x / np.linalg.norm(x)
    return float(np.sqrt(max(g @ g - (g @ xn) ** 2, 0.0)))


def _value(net: RegionNet, x: np.ndarray, domain: str) -> float:
    g = net.gradient(net.pattern(x))
    return _tangential(g, x) if domain == "sphere" else float(np.linalg.norm(g))


# --------------------------------------------------------------------------- lines


def _line_walk(
    net: RegionNet, x: np.ndarray, U: np.ndarray, domain: str, scale: float
) -> tuple[float, np.ndarray | None]:
    """Best segment over the lines x + t u, u in the rows of U (R^d or the ball).

    Returns (value, point) of the best segment's interior point, or (0, None).
    """
    z0 = net.W @ x + net.c  # (k,)
    wu = U @ net.W.T  # (D, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(wu != 0, -z0[None, :] / wu, np.inf)  # (D, k)
    s_start = np.where(wu != 0, wu < 0, z0[None, :] > 0)  # pattern at t -> -inf
    g_start = net.base + net.delta * (s_start.astype(np.float64) @ net.M)  # (D, d)
    order = np.argsort(t, axis=1)
    ts = np.take_along_axis(t, order, axis=1)  # (D, k) sorted breakpoints
    inc = net.delta * np.sign(np.take_along_axis(wu, order, axis=1))  # (D, k)
    G = net.M[order]  # (D, k, d); one large temporary, updated in place
    G *= inc[..., None]
    np.cumsum(G, axis=1, out=G)
    G += g_start[:, None, :]
    left = np.concatenate([np.full((len(U), 1), -np.inf), ts], axis=1)  # (D, k+1)
    right = np.concatenate([ts, np.full((len(U), 1), np.inf)], axis=1)
    if domain == "ball":
        # chord of the unit ball: |x + t u|^2 <= 1 - margin
        uu = (U * U).sum(axis=1)
        xu = U @ x
        disc = xu**2 - uu * (x @ x - (1 - 1e-9) ** 2)
        ok = disc > 0
        root = np.sqrt(np.where(ok, disc, 0.0))
        t_lo = np.where(ok, (-xu - root) / uu, 0.0)
        t_hi = np.where(ok, (-xu + root) / uu, 0.0)
        left = np.maximum(left, t_lo[:, None])
        right = np.minimum(right, t_hi[:, None])
    else:
        span = np.where(np.isfinite(ts), np.abs(ts), 0.0).max(axis=1, initial=0.0) + scale
        left = np.where(np.isfinite(left), left, right - span[:, None])
        right = np.where(np.isfinite(right), right, left + span[:, None])
    length = right - left
    valid = length > _MIN_SEGMENT * (scale + np.abs(left) + np.abs(right))
    norms = np.concatenate(
        [np.linalg.norm(g_start, axis=1)[:, None], np.sqrt(np.einsum("dkj,dkj->dk", G, G))],
        axis=1,
    )  # segment j: after j crossings
    values = np.where(valid, norms, -1.0)
    for _ in range(8):  # the best segment whose midpoint is safely interior
        best = np.unravel_index(np.argmax(values), values.shape)
        if values[best] <= 0:
            return 0.0, None
        y = x + 0.5 * (left[best] + right[best]) * U[best[0]]
        if net.interior(y):
            return float(values[best]), y
        values[best] = -1.0
    return 0.0, None


def _arc_walk(net: RegionNet, x: np.ndarray, U: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Best point over the great circles cos(th) x + sin(th) u (x on the sphere).

    On each arc between two breakpoints the gradient g is constant and the tangential
    norm sqrt(|g|^2 - (g . x(th))^2) is largest where g . x(th) is closest to 0.
    """
    U = U - (U @ x)[:, None] * x[None, :]
    norms = np.linalg.norm(U, axis=1)
    U = U[norms > 1e-12] / norms[norms > 1e-12, None]
    if len(U) == 0 or net.k == 0:
        return 0.0, None
    D = len(U)
    A = net.W @ x  # (k,)
    Bc = U @ net.W.T  # (D, k)
    R = np.sqrt(A[None, :] ** 2 + Bc**2)
    phi = np.arctan2(Bc, A[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(R > 0, -net.c[None, :] / R, np.inf)
    cross = np.abs(ratio) < 1
    gam = np.arccos(np.clip(ratio, -1, 1))
    two_pi = 2 * np.pi
    th_on = np.where(cross, np.mod(phi - gam, two_pi), np.inf)  # unit turns on
    th_off = np.where(cross, np.mod(phi + gam, two_pi), np.inf)  # unit turns off
    th = np.concatenate([th_on, th_off], axis=1)  # (D, 2k)
    inc = np.concatenate([np.full((D, net.k), net.delta), np.full((D, net.k), -net.delta)], axis=1)
    cols = np.concatenate([net.M, net.M], axis=0)  # (2k, d)
    order = np.argsort(th, axis=1)
    ths = np.take_along_axis(th, order, axis=1)
    incs = np.where(np.isfinite(ths), np.take_along_axis(inc, order, axis=1), 0.0)
    g0 = net.gradient(net.pattern(x))
    G = np.empty((D, 2 * net.k + 1, net.d))  # segment j: after j crossings
    G[:, 0, :] = 0.0
    np.multiply(cols[order], incs[..., None], out=G[:, 1:, :])
    np.cumsum(G, axis=1, out=G)
    G += g0
    left = np.concatenate([np.zeros((D, 1)), ths], axis=1)
    right = np.concatenate([ths, np.full((D, 1), two_pi)], axis=1)
    right = np.where(np.isfinite(right), right, two_pi)
    left = np.where(np.isfinite(left), left, two_pi)
    length = right - left
    valid = length > 1e-9
    # candidate angles: the zeros of g . x(th) = p cos th + q sin th, and near the ends
    p = G @ x  # (D, S)
    q = np.einsum("dsk,dk->ds", G, U)
    root = np.arctan2(-p, q)  # p cos + q sin = 0 at th = root (mod pi)
    # The ends of an arc lie on hyperplanes: candidates stay _ARC_INSET radians inside,
    # so that repeated walks cannot creep towards a kink.
    root = np.mod(root, np.pi)
    long_enough = length > 2 * _ARC_INSET
    cands = [
        (root, valid & (root > left + _ARC_INSET) & (root < right - _ARC_INSET)),
        (
            root + np.pi,
            valid & (root + np.pi > left + _ARC_INSET) & (root + np.pi < right - _ARC_INSET),
        ),
        (left + _ARC_INSET, long_enough),
        (right - _ARC_INSET, long_enough),
    ]
    best_val, best_th = np.full(left.shape, -1.0), np.zeros(left.shape)
    gg = np.einsum("dsk,dsk->ds", G, G)
    for th_c, inside in cands:
        dot = p * np.cos(th_c) + q * np.sin(th_c)
        val = np.where(inside, np.sqrt(np.maximum(gg - dot**2, 0.0)), -1.0)
        better = val > best_val
        best_val = np.where(better, val, best_val)
        best_th = np.where(better, th_c, best_th)
    for _ in range(8):  # the best candidate, moved towards its arc's middle if needed
        best = np.unravel_index(np.argmax(best_val), best_val.shape)
        if best_val[best] <= 0:
            return 0.0, None
        angle, mid = best_th[best], 0.5 * (left[best] + right[best])
        u = U[best[0]]
        for t in (0.0, 1e-4, 1e-2, 0.1, 0.5, 1.0):
            th = angle + t * (mid - angle)
            y = np.cos(th) * x + np.sin(th) * u
            y = y / np.linalg.norm(y)
            if net.interior(y):
                return _value(net, y, "sphere"), y
        best_val[best] = -1.0
    return 0.0, None


# --------------------------------------------------------------------------- LP flips


def _socp(
    cost: np.ndarray, A: np.ndarray, b: np.ndarray, d: int, tau: int | None = None
) -> np.ndarray | None:
    """min cost . z s.t. A z <= b and ||z[:d]|| <= 1 - z[tau] (1 when tau is None), by
    Clarabel; None if unavailable or unsolved. z = (x, extra variables)."""
    try:
        import clarabel
        import scipy.sparse as sparse
    except ImportError:  # pragma: no cover - clarabel ships with the "sdp" extra
        return None
    n = len(cost)
    soc = np.zeros((d + 1, n))
    soc[1:, :d] = -np.eye(d)  # slack = (1 - z[tau], x): 1 - z[tau] >= ||x||
    if tau is not None:
        soc[0, tau] = 1.0
    rhs = np.zeros(d + 1)
    rhs[0] = 1.0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solver = clarabel.DefaultSolver(
        sparse.csc_matrix((n, n)),
        cost,
        sparse.csc_matrix(np.vstack([A, soc])),
        np.concatenate([b, rhs]),
        [clarabel.NonnegativeConeT(len(b)), clarabel.SecondOrderConeT(d + 1)],
        settings,
    )
    sol = solver.solve()
    if str(sol.status) not in ("Solved", "AlmostSolved"):
        return None
    return np.asarray(sol.x, dtype=np.float64)


def region_point(
    net: RegionNet, s: np.ndarray, domain: str, scale: float, rounds: int = 30
) -> np.ndarray | None:
    """A point strictly inside the region of pattern s (and inside the open ball for
    ``domain="ball"``), or None when none is found with margin.

    Solves max tau s.t. +-(w_l . x + b_l) / ||w_l|| >= tau for all l and tau <= scale,
    an LP (HiGHS); on the ball with ||x|| <= 1 - tau as well, a second-order cone
    program (Clarabel), or without Clarabel LPs with tangent cuts of the ball.
    """
    d = net.d
    sign = np.where(s, 1.0, -1.0)
    A = np.hstack([-(sign[:, None] * net.Wn), np.ones((net.k, 1))])
    bvec = sign * net.cn
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    if domain == "ball":
        cap = np.zeros((1, d + 1))
        cap[0, -1] = 1.0
        z = _socp(cost, np.vstack([A, cap]), np.concatenate([bvec, [scale]]), d, tau=d)
        if z is not None:
            x, tau = z[:d], z[-1]
            # ||x|| <= 1 - tau: the point keeps tau of room to the sphere too
            ok = tau > _LP_MARGIN * scale and float(np.linalg.norm(x)) < 1.0 - 1e-9
            ok = ok and net.interior(x)
            return x if ok else None
    bounds = [(None, None)] * d + [(None, scale)]
    cuts: list[np.ndarray] = []
    if domain == "ball":
        eye = np.eye(d)
        cuts = [*eye, *(-eye)]
    for _ in range(rounds):
        if cuts:
            C = np.hstack([np.array(cuts), np.ones((len(cuts), 1))])
            A_ub = np.vstack([A, C])
            b_ub = np.concatenate([bvec, np.ones(len(cuts))])
        else:
            A_ub, b_ub = A, bvec
        res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
        if res.status != 0 or res.x is None:
            return None
        x, tau = res.x[:d], res.x[-1]
        if tau <= _LP_MARGIN * scale:
            return None
        if domain != "ball":
            return x
        r = float(np.linalg.norm(x))
        if r < 1.0 - 1e-9:
            return x
        cuts.append(x / r)
    return None


def _far_point(
    net: RegionNet, s: np.ndarray, extra: np.ndarray | None, direction: np.ndarray
) -> np.ndarray | None:
    """A point of the closed region (within the box |x_j| <= 2) as far as possible along
    ``direction``, on the hyperplane extra . x = 0 when given (LP, HiGHS)."""
    d = net.d
    sign = np.where(s, 1.0, -1.0)
    A_eq = None if extra is None else extra[None, :]
    res = linprog(
        -direction,
        A_ub=-(sign[:, None] * net.Wn),
        b_ub=sign * net.cn,
        A_eq=A_eq,
        b_eq=None if extra is None else np.zeros(1),
        bounds=[(-2.0, 2.0)] * d,
        method="highs",
    )
    return None if res.status != 0 or res.x is None else res.x


def sphere_region_point(net: RegionNet, s: np.ndarray, scale: float) -> np.ndarray | None:
    """A point of the unit sphere strictly inside the region of pattern s, preferably
    orthogonal to the region's gradient g (where the tangential norm equals ||g||).

    An interior point x_in of the region inside the ball (second-order cone program, on
    the hyperplane g . x = 0 first, then without it) and a point x_out of the region
    outside the ball (LP, the farthest point along x_in) span a segment of the convex
    region that crosses the sphere; the crossing point is returned. None when neither
    attempt finds such a segment.
    """
    g = net.gradient(s)
    d = net.d
    sign = np.where(s, 1.0, -1.0)
    A = np.hstack([-(sign[:, None] * net.Wn), np.ones((net.k, 1))])
    bvec = sign * net.cn
    cap = np.zeros((1, d + 1))
    cap[0, -1] = 1.0
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    gn = float(np.linalg.norm(g))
    for extra in ((g / gn if gn > 0 else None), None):
        rows, rhs = [A, cap], [bvec, [scale]]
        if extra is not None:  # g . x = 0 as two inequalities
            plane = np.concatenate([extra, [0.0]])
            rows += [plane[None, :], -plane[None, :]]
            rhs += [[0.0], [0.0]]
        z = _socp(cost, np.vstack(rows), np.concatenate(rhs), d, tau=d)
        if z is None or z[-1] <= _LP_MARGIN * scale:
            continue
        x_in = z[:d]
        r_in = float(np.linalg.norm(x_in))
        direction = x_in / r_in if r_in > 0 else np.eye(d)[0]
        x_out = _far_point(net, s, extra, direction)
        if x_out is None or np.linalg.norm(x_out) <= 1.0:
            continue
        # |x_in + t (x_out - x_in)| = 1 for t in (0, 1]
        step = x_out - x_in
        qa, qb, qc = step @ step, 2 * x_in @ step, x_in @ x_in - 1.0
        t = (-qb + np.sqrt(max(qb * qb - 4 * qa * qc, 0.0))) / (2 * qa)
        y = x_in + t * step
        y = y / np.linalg.norm(y)
        if net.interior(y) and (net.pattern(y) == s).all():
            return y
    return None


def _ray_flip(
    net: RegionNet, x: np.ndarray, s: np.ndarray, candidates: np.ndarray, domain: str
) -> tuple[np.ndarray | None, int]:
    """The first candidate whose flipped region is reached straight from x, without LP.

    Walking from x along the normal of hyperplane l towards it, when l is the first
    hyperplane met, the segment after it (up to the next one) lies in the region with
    unit l flipped; its midpoint is returned when it is interior (and in the ball).
    """
    cand = candidates[:256]
    z = net.W @ x + net.c  # (k,)
    dirs = -np.sign(z[cand])[:, None] * net.Wn[cand]  # (C, d), towards hyperplane l
    rate = dirs @ net.W.T  # (C, k): dz_j / dt
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rate * z[None, :] < 0, -z[None, :] / rate, np.inf)  # crossings ahead
    t_l = t[np.arange(len(cand)), cand]
    t_other = t.copy()
    t_other[np.arange(len(cand)), cand] = np.inf
    first = t_l < t_other.min(axis=1)
    for i in np.flatnonzero(first):
        after = t[i][t[i] > t_l[i]]
        t_next = float(after.min()) if after.size else t_l[i] + max(1.0, t_l[i])
        y = x + 0.5 * (t_l[i] + t_next) * dirs[i]
        if domain == "ball" and np.linalg.norm(y) >= 1.0 - 1e-9:
            continue
        if net.interior(y):
            return y, int(cand[i])
    return None, -1


def _flip_candidates(net: RegionNet, s: np.ndarray, g: np.ndarray, val: float) -> np.ndarray:
    """Units whose flip increases ||g||, best first."""
    step = net.delta * np.where(s, -1.0, 1.0)  # change of the slope coefficient
    new = g @ g + 2 * step * (net.M @ g) + step**2 * (net.M * net.M).sum(axis=1)
    order = np.argsort(-new)
    return order[new[order] > (val * (1 + 1e-12)) ** 2]


# --------------------------------------------------------------------------- search


def _directions(
    net: RegionNet, x: np.ndarray, g: np.ndarray, s: np.ndarray, n_random: int, rng
) -> np.ndarray:
    dirs = [rng.standard_normal((n_random, net.d))]
    if np.linalg.norm(g) > 0:
        dirs.append(np.stack([g, -g]))
    cand = _flip_candidates(net, s, g, 0.0)[:16]
    if len(cand):
        z = net.W[cand] @ x + net.c[cand]
        dirs.append(-np.sign(z)[:, None] * net.W[cand])
    return np.concatenate(dirs, axis=0)


def target_point(
    net: RegionNet, weights: np.ndarray, domain: str, scale: float, margin: float = 1e-2
) -> np.ndarray | None:
    """A point whose pattern agrees with sign(weights) on as much weight as possible.

    For a direction u, <grad f(x), u> = v . u + sum_l psi'_l(x) a_l (w_l . u) is largest
    when every unit with c_l = a_l (w_l . u) > 0 is active and every one with c_l < 0 is
    not. Finding such an x is a weighted maximum feasible subsystem problem; its LP
    relaxation (weighted hinge violations, HiGHS) jumps across many hyperplanes at once:

        min sum_l |c_l| xi_l  s.t.  sign(c_l) (w_l . x + b_l) / ||w_l|| + xi_l >= margin,
        xi >= 0,  |x_j| <= R,

    with R a few data scales on R^d; on the ball and the sphere ||x|| <= 1 instead (a
    second-order cone program, Clarabel), the point then projected onto the sphere.
    """
    live = np.flatnonzero(weights != 0)
    if len(live) == 0:
        return None
    d, m = net.d, len(live)
    sign = np.sign(weights[live])
    A = np.hstack([-(sign[:, None] * net.Wn[live]), -np.eye(m)])
    b = sign * net.cn[live] - margin * scale
    cost = np.concatenate([np.zeros(d), np.abs(weights[live])])
    if domain != "rd":
        z = _socp(cost, A, b, d)  # ||x|| <= 1
        if z is not None:
            x = z[:d]
            r = float(np.linalg.norm(x))
            if domain == "sphere":
                return x / r if r > 0 else None
            return x * min(1.0, (1.0 - 1e-9) / r) if r > 0 else x
    if domain == "rd":
        R = 4.0 * (scale + float(np.abs(net.cn).max(initial=0.0)))
    else:
        R = 1.0
    bounds = [(-R, R)] * d + [(0, None)] * m
    res = linprog(cost, A_ub=A, b_ub=b, bounds=bounds, method="highs")
    if res.status != 0 or res.x is None:
        return None
    x = res.x[:d]
    if domain != "rd":
        r = float(np.linalg.norm(x))
        if domain == "sphere" or r > 1.0:
            x = x / r if r > 0 else None
    return x


def _local_search(
    net: RegionNet,
    x: np.ndarray,
    domain: str,
    scale: float,
    clock: Clock,
    rng: np.random.Generator,
    stats: dict[str, int],
    n_random: int,
    max_lp: int,
    max_rounds: int,
) -> tuple[float, np.ndarray]:
    """Line walks, then LP-checked single flips, until neither improves."""
    val = _value(net, x, domain)
    for _ in range(max_rounds):
        if clock.out:
            break
        s = net.pattern(x)
        g = net.gradient(s)
        U = _directions(net, x, g, s, n_random, rng)
        stats["lines"] += len(U)
        if domain == "sphere":
            new_val, new_x = _arc_walk(net, x, U)
        else:
            new_val, new_x = _line_walk(net, x, U, domain, scale)
        if new_x is not None and new_val > val * (1 + 1e-10):
            x, val = new_x, new_val
            continue
        moved = False
        candidates = _flip_candidates(net, s, g, val)
        if domain != "sphere" and len(candidates):
            y, unit = _ray_flip(net, x, s, candidates, domain)
            if y is not None:
                stats["flips"] += 1
                x, val = y, float(np.linalg.norm(net.gradient(net.pattern(y))))
                continue
        # LPs on big networks cost ~0.1-1 s each: fewer per step there
        limit = max_lp if net.k <= 256 else min(max_lp, 8)
        for unit in candidates[:limit]:
            if clock.out:
                break
            s_new = s.copy()
            s_new[unit] = ~s_new[unit]
            stats["lps"] += 1
            if domain == "sphere":
                y = sphere_region_point(net, s_new, scale)
                y_val = 0.0 if y is None else _value(net, y, "sphere")
            else:
                y = region_point(net, s_new, domain, scale)
                y_val = 0.0 if y is None else float(np.linalg.norm(net.gradient(s_new)))
            if y is not None and y_val > val * (1 + 1e-10):
                x, val = y, y_val
                stats["flips"] += 1
                moved = True
                break
        if not moved:
            break
    return val, x


def relaxation_directions(net: RegionNet, n: int, rng: np.random.Generator) -> np.ndarray:
    """Directions u of large unconstrained pattern gradients, (m, d) with m <= n.

    From a random u, alternate s_l = [m_l . u > 0] (the pattern maximizing u . g(s)) and
    u = g(s) / ||g(s)||: an ascent on max over all patterns of ||g(s)|| (realizable or
    not) that ends at a local maximum. Their directions are where large gradients would
    point; :func:`target_point` then looks for a real region near each.
    """
    out: list[np.ndarray] = []
    for _ in range(n):
        u = rng.standard_normal(net.d)
        u /= np.linalg.norm(u)
        for _ in range(50):
            s = net.M @ u > 0
            g = net.gradient(s)
            norm = np.linalg.norm(g)
            if norm == 0:
                break
            new = g / norm
            if np.allclose(new, u, atol=1e-12):
                break
            u = new
        if not any(abs(float(u @ w)) > 1 - 1e-9 for w in out):
            out.append(u)
    return np.array(out) if out else np.zeros((0, net.d))


def best_first(
    net: RegionNet,
    seeds: list[tuple[float, np.ndarray]],
    domain: str,
    scale: float,
    clock: Clock,
    stats: dict[str, int],
    max_lp: int,
    expansions: int,
) -> tuple[float, np.ndarray | None]:
    """Best-first exploration of the region graph from local maxima, downhill moves allowed.

    A local search stops where no single flip increases ||g||; the best region may then
    lie behind a valley (a few flips that first decrease it). Here regions are expanded in
    order of their value: each expansion LP-checks the ``max_lp`` unvisited single flips
    of largest ||g'|| and queues the feasible ones. Stops after ``expansions`` expansions.
    """
    heap: list[tuple[float, int, np.ndarray]] = []
    seen: set[bytes] = set()
    best_val, best_x = 0.0, None
    for val, x in seeds:
        key = net.pattern(x).tobytes()
        if key not in seen:
            seen.add(key)
            heapq.heappush(heap, (-val, len(seen), x))
        if val > best_val:
            best_val, best_x = val, x
    for _ in range(expansions):
        if not heap or clock.out:
            break
        _, _, x = heapq.heappop(heap)
        s = net.pattern(x)
        g = net.gradient(s)
        step = net.delta * np.where(s, -1.0, 1.0)
        potential = g @ g + 2 * step * (net.M @ g) + step**2 * (net.M * net.M).sum(axis=1)
        tried = 0
        for unit in np.argsort(-potential):
            if tried >= max_lp or clock.out:
                break
            s_new = s.copy()
            s_new[unit] = ~s_new[unit]
            key = s_new.tobytes()
            if key in seen:
                continue
            seen.add(key)
            tried += 1
            stats["lps"] += 1
            if domain == "sphere":
                y = sphere_region_point(net, s_new, scale)
                val = 0.0 if y is None else _value(net, y, "sphere")
            else:
                y = region_point(net, s_new, domain, scale)
                val = 0.0 if y is None else float(np.sqrt(max(potential[unit], 0.0)))
            if y is None:
                continue
            heapq.heappush(heap, (-val, len(seen), y))
            if val > best_val * (1 + 1e-10):
                best_val, best_x = val, y
                stats["best_first_gains"] = stats.get("best_first_gains", 0) + 1
        stats["expansions"] = stats.get("expansions", 0) + 1
    return best_val, best_x


def search_member(
    net: RegionNet,
    starts: np.ndarray,
    domain: str,
    scale: float,
    clock: Clock,
    rng: np.random.Generator,
    n_random: int = 24,
    max_lp: int = 64,
    n_directions: int = 16,
    expansions: int = 32,
    max_rounds: int = 500,
    max_jumps: int = 8,
) -> tuple[float, np.ndarray | None, dict[str, int]]:
    """Climb from each start and from target regions of promising directions, then
    explore best-first around the best local maxima.

    A climb is a local search (line walks, then LP-checked flips) followed by jumps: the
    target region of the current gradient direction (:func:`target_point`) is tried as a
    new start and kept when the local search from it ends higher. After the starts,
    ``n_directions`` directions — local maxima of the unconstrained pattern problem
    (:func:`relaxation_directions`) and random ones, half each — are tried the same way.
    Finally :func:`best_first` crosses valleys from the four best local maxima, and a
    climb from any better region it finds. Returns the best (value, interior point) and
    counters.
    """
    stats = {"walks": 0, "lines": 0, "lps": 0, "flips": 0, "jumps": 0, "directions": 0}
    args = (domain, scale, clock, rng, stats, n_random, max_lp, max_rounds)
    optima: dict[bytes, tuple[float, np.ndarray]] = {}

    def climb(x: np.ndarray) -> None:
        stats["walks"] += 1
        val, x = _local_search(net, x, *args)
        for _ in range(max_jumps):
            if clock.out:
                break
            g = net.gradient(net.pattern(x))
            stats["lps"] += 1
            y = target_point(net, net.M @ g, domain, scale)
            if y is None or net.margin(y) <= _LP_MARGIN * scale:
                break
            y_val, y = _local_search(net, y, *args)
            if y_val <= val * (1 + 1e-10):
                break
            stats["jumps"] += 1
            val, x = y_val, y
        key = net.pattern(x).tobytes()
        if key not in optima or optima[key][0] < val:
            optima[key] = (val, x)

    for x0 in starts:
        if clock.out:
            break
        x = np.asarray(x0, dtype=np.float64)
        if net.margin(x) > 0:
            climb(x)
    if n_directions > 0 and not clock.out:
        half = n_directions // 2
        U = relaxation_directions(net, max(half, 1), rng)
        U = np.concatenate([U, rng.standard_normal((n_directions - len(U), net.d))])
        for u in U:
            if clock.out:
                break
            stats["directions"] += 1
            stats["lps"] += 1
            y = target_point(net, net.M @ u, domain, scale)
            if y is not None and net.margin(y) > _LP_MARGIN * scale:
                climb(y)
    if not optima:
        return 0.0, None, stats
    best_val, best_x = max(optima.values(), key=lambda item: item[0])
    if expansions > 0 and not clock.out:
        seeds = sorted(optima.values(), key=lambda item: -item[0])[:4]
        val, x = best_first(net, seeds, domain, scale, clock, stats, max_lp, expansions)
        if x is not None and val > best_val * (1 + 1e-10):
            climb(x)
            best_val, best_x = max(optima.values(), key=lambda item: item[0])
            if val > best_val:
                best_val, best_x = val, x
    return best_val, best_x, stats


def _search_rounds(
    net: RegionNet,
    given: list[np.ndarray],
    ranked: list[np.ndarray],
    domain: str,
    scale: float,
    clock: Clock,
    rng: np.random.Generator,
    budget: Budget,
    n_starts: int,
    n_random: int,
    max_lp: int,
    n_directions: int,
    expansions: int,
    patience: int = 2,
    max_rounds: int = 6,
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Rounds of :func:`search_member` until ``patience`` rounds bring no improvement.

    Round r climbs from the next ``n_starts`` pool points (round 0 also from the given
    starts), the best point so far and, on R^d, the best region at infinity (a search
    over the cones of the bias-free arrangement, mapped back to a far point); the
    best-first exploration doubles its expansions every round.
    """
    best_val, best_x = 0.0, None
    for x in given:  # the search never ends below its best given start
        if net.interior(x):
            val = _value(net, x, domain)
            if val > best_val:
                best_val, best_x = val, x
    totals: dict[str, Any] = {"rounds": 0}
    stale = 0
    for r in range(max_rounds):
        if clock.out or stale >= patience:
            break
        starts = [*(given if r == 0 else []), *ranked[r * n_starts : (r + 1) * n_starts]]
        if best_x is not None:
            starts.insert(0, best_x)
        if domain == "rd" and net.c.any():
            cone = net.without_bias()
            dirs = [x / n for x in starts if (n := np.linalg.norm(x)) > 0]
            dirs += list(rng.standard_normal((max(4, n_starts // 2), net.d)))
            cone_clock = Clock(None if budget.seconds is None else budget.seconds / 8)
            cone_val, u, _ = search_member(
                cone, np.array(dirs), "rd", 1.0, cone_clock, rng, n_random, max_lp,
                n_directions // 2, expansions * 2**r,
            )  # fmt: skip
            far = None if u is None else net.far_point(u / np.linalg.norm(u))
            if far is not None:
                starts.insert(1 if best_x is not None else 0, far)
            totals["cone_value"] = max(totals.get("cone_value", 0.0), cone_val)
        if not starts:
            starts = list(rng.standard_normal((n_starts, net.d)) * scale)
        val, x, stats = search_member(
            net, np.array(starts), domain, scale, clock, rng, n_random, max_lp,
            n_directions, expansions * 2**r,
        )  # fmt: skip
        for key, count in stats.items():
            totals[key] = totals.get(key, 0) + count
        totals["rounds"] = r + 1
        if x is not None and val > best_val * (1 + 1e-10):
            best_val, best_x, stale = val, x, 0
        else:
            stale += 1
    return best_x, totals


@register_method(
    "region_search",
    "lower",
    ("two_layer",),
    ("rd", "ball", "sphere"),
    "line search across activation regions and LP-checked flips (two-layer relu/leaky)",
)
def region_search(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    starts: Any = None,
    n_starts: int = 16,
    n_random: int = 24,
    max_lp: int = 64,
    n_directions: int = 16,
    expansions: int = 32,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """Search activation regions of two-layer piecewise-linear networks for large ||g||.

    Parameters
    ----------
    X : array (n, d) or (B, n, d), optional
        Data; with random points of the domain and convex combinations it forms the pool
        from which starting points are drawn (the best points with distinct patterns).
    starts : array (m, d) or (B, m, d), optional
        Extra starting points, tried first (e.g. other methods' witnesses).
    n_starts : int
        Starting points per member taken from the pool.
    n_random : int
        Random line directions per step (plus the gradient and flip normals).
    max_lp : int
        LP flip checks per step before a region counts as a local maximum.
    n_directions : int
        Gradient directions (half from the unconstrained pattern problem, half random)
        whose target regions are climbed from after the starts.
    expansions : int
        Best-first expansions around the best local maxima (:func:`best_first`).
    budget : Budget
        ``seconds`` per member (default: none; the search ends at local maxima).
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    n_starts = check_positive_int("n_starts", n_starts)
    n_random = check_positive_int("n_random", n_random)
    max_lp = check_positive_int("max_lp", max_lp)
    for name, value in (("n_directions", n_directions), ("expansions", expansions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if stack.depth != 2:
        return not_applicable("region_search", "lower", domain, stack.B, "two-layer only")
    act = stack.activations[0]
    if not (act.piecewise_linear and len(act.slopes) == 2):
        why = f"activation {act.name!r} is not piecewise linear with two pieces"
        return not_applicable("region_search", "lower", domain, stack.B, why)
    X = as_points(X, stack)
    extra = as_points(starts, stack, "starts")
    gen = _generator(seed)
    scale = 1.0 if X is None else float(X.reshape(-1, stack.d).norm(dim=1).median())
    scale = scale if scale > 0 else 1.0
    with threads_for(1 << 16):
        pool = candidate_points(stack, domain, X, 2048, gen)
        values = point_values(stack, pool, domain)
    if pool.ndim == 2:
        pool = pool.expand(stack.B, *pool.shape)
    cands: list[tuple[np.ndarray, None] | None] = []
    status: list[str] = []
    info: list[dict[str, Any]] = []
    total = 0.0
    for b in range(stack.B):
        clock = Clock(budget.seconds)
        rng = np.random.default_rng(seed)
        net = RegionNet(stack, b)
        order = torch.argsort(values[b], descending=True).cpu().numpy()
        P = pool[b].cpu().numpy()
        ranked, seen = [], set()  # pool points with distinct patterns, best first
        for i in order:
            if values[b, i] <= 0:
                break
            key = net.pattern(P[i]).tobytes()
            if key not in seen:
                seen.add(key)
                ranked.append(P[i])
        given = []
        if extra is not None:
            given = list(project(extra if extra.ndim == 2 else extra[b], domain).cpu().numpy())
        if net.k == 0:  # a network without relevant units is affine: any point works
            pts = given + ranked
            x = np.asarray(pts[0]) if pts else None
            cands.append(None if x is None else (x, None))
            status.append("ok")
            info.append({"rounds": 0})
            continue
        with threads_for(1 << 16):
            x, stats = _search_rounds(
                net, given, ranked, domain, scale, clock, rng, budget, n_starts, n_random,
                max_lp, n_directions, expansions,
            )  # fmt: skip
        cands.append(None if x is None else (x, None))
        status.append("budget" if clock.out else "ok")
        info.append(stats)
        total += clock.elapsed
    return lower_result("region_search", domain, stack, cands, total, status, info)
