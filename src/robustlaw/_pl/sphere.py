"""The tangential gradient of a region on the unit sphere: a certified bound and a witness.

On the sphere, Lip means sup_{x in S} ||(I - x x^T) grad f(x)||. Inside a region R with
gradient g the tangential norm at x in R cap S is sqrt(||g||^2 - (x . g)^2) <= ||g||,
with equality exactly where x is orthogonal to g. So ||g_R|| over regions meeting the
sphere is a certified upper bound, attained by R when the polyhedron R cap g-perp meets
the sphere (:func:`tangential_upper` bounds it below ||g_R|| otherwise). :func:`sphere_point`
looks for such a point: a point x1 of R (on g-perp first) inside the ball and a point x2
of R outside it span a segment of the convex region that crosses the sphere; failing
that, rays from a given point of R. The value returned is the tangential norm there.
"""

from __future__ import annotations

import math
import time

import numpy as np

from robustlaw._pl.lp import _INF, FEASIBLE_MARGIN, LP, NearestLP
from robustlaw._pl.net import Arrangement, tangential

__all__ = ["sphere_point", "tangential_upper"]


def _rows(arr: Arrangement, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closed region of pattern s as A x <= c (unit rows): -sigma w . x <= sigma b."""
    sign = np.where(s, 1.0, -1.0)
    return -(sign[:, None] * arr.W), sign * arr.b


def tangential_upper(
    arr: Arrangement, s: np.ndarray, cuts: list[np.ndarray], deadline: float | None = None
) -> float:
    """Certified bound on sup over x in R_s cap S of ||(I - x x^T) g||, g = g_s.

    0 when the closure of R_s lies inside the open ball (its bounding box, 2 d LPs, does).
    Otherwise, the tangential norm being sqrt(||g||^2 - (x . g)^2), the bound is
    sqrt(||g||^2 - m^2) with m = min |g . x| over the closure of R_s inside an outer
    polytope of the ball (``cuts``: u . x <= 1 for unit u, and |x_i| <= 1), two LPs;
    m = 0 when g . x changes sign there (the bound is then ||g||). Past ``deadline`` (a
    :func:`time.perf_counter` value) the LPs stop and the bound is ||g||.
    """
    d = arr.d
    g = arr.gradient(s)
    gn2 = float(g @ g)
    if gn2 == 0:
        return 0.0
    A, c = _rows(arr, s)
    box = LP(np.zeros(d), np.full(d, -_INF), np.full(d, _INF))
    box.add_ub(A, c)
    far = 0.0
    for i in range(d):
        if deadline is not None and time.perf_counter() > deadline:
            return math.sqrt(gn2)
        ext = 0.0
        for sgn in (1.0, -1.0):
            box.set_cost(-sgn * np.eye(d)[i])
            res = box.solve()
            if not res.optimal:
                ext = math.inf
                break
            ext = max(ext, abs(res.value))
        far += ext * ext
        if not math.isfinite(far) or far >= 1.0 - 1e-9:
            break
    if far < 1.0 - 1e-9:
        return 0.0
    lp = LP(g, -np.ones(d), np.ones(d))
    lp.add_ub(np.vstack([A, *cuts]) if cuts else A, np.r_[c, np.ones(len(cuts))])
    lo = lp.solve()
    lp.set_cost(-g)
    hi = lp.solve()
    if lo.status == "infeasible" or hi.status == "infeasible":
        return 0.0  # the closure misses the outer polytope: R_s misses the sphere
    if not (lo.optimal and hi.optimal):
        return math.sqrt(gn2)
    g_min, g_max = lo.value, -hi.value
    slack = 1e-9 * math.sqrt(gn2)  # solver tolerance: shrink m so that the bound holds
    m = g_min - slack if g_min > slack else (-g_max - slack if g_max < -slack else 0.0)
    return math.sqrt(max(gn2 - m * m, 0.0))


def _farthest(
    A: np.ndarray, c: np.ndarray, objective: np.ndarray, t: float, plane: np.ndarray | None
) -> np.ndarray | None:
    """max objective . x over A x <= c - t (margin t), |x_j| <= 2, on plane . x = 0."""
    d = A.shape[1]
    lp = LP(-objective, np.full(d, -2.0), np.full(d, 2.0))
    lp.add_ub(A, c - t)
    if plane is not None:
        lp.add_rows(plane[None], np.zeros(1), np.zeros(1))
    res = lp.solve()
    return res.x if res.optimal else None


def _crossing(x1: np.ndarray, x2: np.ndarray) -> np.ndarray | None:
    """The point of the segment [x1, x2] on the unit sphere (||x1|| < 1 < ||x2||)."""
    dx = x2 - x1
    a, bq, cq = float(dx @ dx), float(x1 @ dx), float(x1 @ x1) - 1.0
    disc = bq * bq - a * cq
    if a == 0 or disc < 0:
        return None
    lam = (-bq + math.sqrt(disc)) / a
    if not 0.0 < lam < 1.0:
        return None
    x = x1 + lam * dx
    return x / np.linalg.norm(x)


def sphere_point(
    arr: Arrangement,
    s: np.ndarray,
    rng: np.random.Generator,
    x0: np.ndarray | None = None,
    *,
    near: NearestLP | None = None,
    tau: float = 1e-7,
    rays: int = 16,
) -> tuple[float, np.ndarray | None]:
    """Largest tangential norm found on R_s cap S, and the point (None when none found).

    First on g-perp (where the tangential norm is ||g||), then anywhere in R_s: the point
    x1 of the region of least norm at margin ``tau`` (:class:`~robustlaw._pl.lp.NearestLP`;
    ``near``, the arrangement's, is reused when given) and points x2 of the region outside
    the ball (farthest along x1 and along random directions, at margin tau / 2) give
    segments of the convex region that cross the sphere. Last, rays from ``x0`` (a point
    of R_s inside the open ball), half of them orthogonal to g. Points keep a margin of
    FEASIBLE_MARGIN to every hyperplane.

    s : (k,) bool pattern of the region R_s.
    """
    d = arr.d
    g = arr.gradient(s)
    gn = float(np.linalg.norm(g))
    A, c = _rows(arr, s)
    near = near or NearestLP(arr.W, arr.b)
    sign = np.where(s, 1, -1).astype(np.int8)

    def inside(x: np.ndarray) -> bool:
        return bool(np.all(c - A @ x > FEASIBLE_MARGIN))

    best, best_x = -1.0, None
    P = np.eye(d) - (np.outer(g, g) / gn**2 if gn > 0 else 0.0)
    for plane in ([g / gn] if gn > 0 and d >= 2 else []) + [None]:
        x1 = near.point(sign, tau, plane)
        if x1 is None or not inside(x1):
            continue
        dirs = [x1] if np.linalg.norm(x1) > 1e-12 else []
        dirs += [rng.standard_normal(d) for _ in range(4)]
        for u in dirs:
            x2 = _farthest(A, c, u if plane is None else P @ u, 0.5 * tau, plane)
            if x2 is None or np.linalg.norm(x2) <= 1.0:
                continue
            x = _crossing(x1, x2)
            if x is not None and inside(x):
                best, best_x = float(tangential(g, x)), x
                break
        if best_x is not None:
            break
    if best < gn * (1 - 1e-12) and x0 is not None:
        for i in range(rays):
            y = rng.standard_normal(d)
            y = P @ y if i % 2 == 0 else y
            ny = np.linalg.norm(y)
            if ny == 0:
                continue
            y /= ny
            bq, cq = float(x0 @ y), float(x0 @ x0) - 1.0  # ||x0 + t y|| = 1, t > 0
            if bq * bq - cq < 0:
                continue
            x = x0 + (-bq + math.sqrt(bq * bq - cq)) * y
            x /= np.linalg.norm(x)
            if inside(x):
                val = float(tangential(g, x))
                if val > best:
                    best, best_x = val, x
    return max(best, 0.0), best_x
