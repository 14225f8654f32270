"""Tangential gradient of a region on the unit sphere: a certified lower bound with a witness.

On the sphere, Lip means sup_{x in S} ||(I - x x^T) grad f(x)||. Inside a region R with
gradient g the tangential norm at x in R cap S is sqrt(||g||^2 - (x . g)^2) <= ||g||,
with equality exactly where x is orthogonal to g. So ||g_R|| over regions meeting the
sphere is a certified upper bound, attained by R when the polyhedron R cap g-perp meets
the sphere. :func:`tangential_witness` looks for such a point (two LPs: a point of
R cap g-perp inside the ball, then one outside it, and the segment between them crosses
the sphere inside R), and otherwise for the best point it can reach on rays from a point
of R; it returns the tangential norm there, recomputed.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.optimize import linprog

from robustlaw.lipschitz._exact_geometry import FEASIBLE_MARGIN, PatternProblem

__all__ = ["tangential_norm", "tangential_upper", "tangential_witness"]


def tangential_norm(x: np.ndarray, g: np.ndarray) -> float:
    """||(I - x x^T) g|| for a unit vector x."""
    return float(np.linalg.norm(g - (x @ g) * x))


def tangential_upper(
    prob: PatternProblem,
    s: np.ndarray,
    cuts: list[np.ndarray],
    deadline: float | None = None,
) -> float:
    """Certified bound on sup over x in R_s cap S of ||(I - x x^T) g||, g = g_s.

    0 when the closure of R_s lies inside the open ball (its bounding box, 2d LPs, does).
    Otherwise, the tangential norm being sqrt(||g||^2 - (x . g)^2), the bound is
    sqrt(||g||^2 - m^2) with m = min |g . x| over the closure of R_s inside an outer
    polytope of the ball (``cuts``: u . x <= 1 for unit u), two LPs; m = 0 when g . x
    changes sign there (the bound is then ||g||). Past ``deadline`` (a
    :func:`time.perf_counter` value) the LPs stop and the bound is ||g||.
    """
    W, b, d = prob.W, prob.b, prob.d
    g = prob.gradient(s)
    gn2 = float(g @ g)
    if gn2 == 0:
        return 0.0
    sign = np.where(s, 1.0, -1.0)
    # sigma (w . x + b) >= 0  <=>  -sigma w . x <= sigma b ; cuts u . x <= 1 ; |x_i| <= 1
    A = -(sign[:, None] * W)
    rhs = sign * b
    if cuts:
        A = np.vstack([A, np.array(cuts)])
        rhs = np.r_[rhs, np.ones(len(cuts))]
    # a region whose closure lies in the open ball misses the sphere: bounding box by LPs
    far = 0.0
    for i in range(d):
        if deadline is not None and time.perf_counter() > deadline:
            return math.sqrt(gn2)
        e = np.zeros(d)
        e[i] = 1.0
        ext = 0.0
        for sgn in (1.0, -1.0):
            res = linprog(
                -sgn * e,
                A_ub=A[: len(W)],
                b_ub=rhs[: len(W)],
                bounds=[(None, None)] * d,
                method="highs",
            )
            if res.status != 0:
                ext = math.inf
                break
            ext = max(ext, abs(float(res.fun)))
        far += ext * ext
        if not math.isfinite(far) or far >= 1.0 - 1e-9:
            break
    if far < 1.0 - 1e-9:
        return 0.0
    bounds = [(-1.0, 1.0)] * d
    lo = linprog(g, A_ub=A, b_ub=rhs, bounds=bounds, method="highs")
    hi = linprog(-g, A_ub=A, b_ub=rhs, bounds=bounds, method="highs")
    if lo.status == 2 or hi.status == 2:
        return 0.0  # the closure misses the outer polytope: R_s misses the sphere
    if lo.status != 0 or hi.status != 0:
        return math.sqrt(gn2)
    g_min, g_max = float(lo.fun), float(-hi.fun)
    # solver tolerance: shrink m a little so that the bound stays valid
    slack = 1e-9 * math.sqrt(gn2)
    if g_min > slack:
        m = g_min - slack
    elif g_max < -slack:
        m = -g_max - slack
    else:
        m = 0.0
    return math.sqrt(max(gn2 - m * m, 0.0))


def _margin_lp(
    A: np.ndarray,
    rhs: np.ndarray,
    g: np.ndarray,
    objective: np.ndarray | None,
    box: float,
) -> np.ndarray | None:
    """A point with A x >= rhs + t, g . x = 0, |x_i| <= box: max t, or max objective . x
    at t >= half the largest margin."""
    k, d = A.shape
    cost = np.r_[np.zeros(d), -1.0]
    A_ub = np.c_[-A, np.ones(k)]
    A_eq = np.r_[g, 0.0][None]
    bounds = [(-box, box)] * d + [(None, 1.0)]
    res = linprog(cost, A_ub=A_ub, b_ub=-rhs, A_eq=A_eq, b_eq=[0.0], bounds=bounds, method="highs")
    if res.status != 0 or res.x[-1] <= 2 * FEASIBLE_MARGIN:
        return None
    if objective is None:
        return res.x[:d]
    t_min = 0.5 * res.x[-1]
    bounds[-1] = (t_min, 1.0)
    res2 = linprog(
        np.r_[-objective, 0.0],
        A_ub=A_ub,
        b_ub=-rhs,
        A_eq=A_eq,
        b_eq=[0.0],
        bounds=bounds,
        method="highs",
    )
    if res2.status != 0:
        return None
    return res2.x[:d]


def tangential_witness(
    prob: PatternProblem,
    s: np.ndarray,
    x0: np.ndarray,
    rng: np.random.Generator,
    rays: int = 16,
) -> tuple[float, np.ndarray | None]:
    """Largest tangential norm found on R_s cap S, and the point (None when none found).

    Parameters
    ----------
    prob : PatternProblem
    s : ndarray (k,) bool
        Pattern of the region R_s.
    x0 : ndarray (d,)
        A point of R_s with positive margin (inside the open ball).
    """
    W, b = prob.W, prob.b
    d = prob.d
    g = prob.gradient(s)
    gn = float(np.linalg.norm(g))
    sign = np.where(s, 1.0, -1.0)
    A = sign[:, None] * W
    rhs = -sign * b

    def inside(x: np.ndarray) -> bool:
        return bool(np.all(A @ x - rhs > FEASIBLE_MARGIN))

    best, best_x = -1.0, None
    if gn > 0 and d >= 2:
        x1 = _margin_lp(A, rhs, g, None, 1.0 / math.sqrt(d))
        if x1 is None:
            x1 = _margin_lp(A, rhs, g, None, 1.0)
        if x1 is not None and np.linalg.norm(x1) < 1.0 and inside(x1):
            P = np.eye(d) - np.outer(g, g) / gn**2
            dirs = [x1] if np.linalg.norm(x1) > 1e-12 else []
            for _ in range(4):
                dirs.append(P @ rng.standard_normal(d))
            for c in dirs:
                x2 = _margin_lp(A, rhs, g, c, 2.0)
                if x2 is None or np.linalg.norm(x2) <= 1.0 or not inside(x2):
                    continue
                x = _sphere_crossing(x1, x2)
                if x is not None and inside(x):
                    val = tangential_norm(x, g)
                    if val > best:
                        best, best_x = val, x
                    break
    if best < gn * (1 - 1e-12):
        # rays from x0 towards directions orthogonal to g (and random ones)
        P = np.eye(d) - (np.outer(g, g) / gn**2 if gn > 0 else 0.0)
        for i in range(rays):
            y = rng.standard_normal(d)
            if i % 2 == 0:
                y = P @ y
            ny = np.linalg.norm(y)
            if ny == 0:
                continue
            y /= ny
            # ||x0 + t y|| = 1, t > 0
            bq = float(x0 @ y)
            cq = float(x0 @ x0) - 1.0
            disc = bq * bq - cq
            if disc < 0:
                continue
            t = -bq + math.sqrt(disc)
            x = x0 + t * y
            x /= np.linalg.norm(x)
            if inside(x):
                val = tangential_norm(x, g)
                if val > best:
                    best, best_x = val, x
    return max(best, 0.0), best_x


def _sphere_crossing(x1: np.ndarray, x2: np.ndarray) -> np.ndarray | None:
    """The point of the segment [x1, x2] on the unit sphere (||x1|| < 1 < ||x2||)."""
    dx = x2 - x1
    a = float(dx @ dx)
    bq = float(x1 @ dx)
    cq = float(x1 @ x1) - 1.0
    disc = bq * bq - a * cq
    if a == 0 or disc < 0:
        return None
    lam = (-bq + math.sqrt(disc)) / a
    if not 0.0 < lam < 1.0:
        return None
    x = x1 + lam * dx
    return x / np.linalg.norm(x)
