"""Region search: large gradient norms of one two-layer piecewise-linear net, with witnesses.

The gradient is constant on each activation region (docs/science.md, Section 5), so
autograd ascent does not move; the search moves between regions directly:

1. **exact line search across regions**: along a line x + t u the pattern changes at the
   breakpoints t_l = -(w_l . x + b_l) / (w_l . u); sorting them and accumulating the
   flips gives ||g|| on every segment of the line at once, and the walk jumps to the
   best segment (clipped to the ball; on the sphere the lines are great circles, and on
   each arc the tangential norm sqrt(||g||^2 - (g . x)^2) is maximized in closed form).
   Directions: random ones, the gradient, and the normals of the units whose flip would
   increase ||g|| most;
2. **LP-checked flips**: from a region where no line improves, flip a unit whose flip
   increases ||g|| and whose flipped region is non-empty — reached straight along the
   unit's normal when possible, else checked by the region LP (HiGHS; on the ball with
   tangent cuts, on the sphere by :func:`~robustlaw._pl.sphere.sphere_point`), so the
   new witness lies strictly inside its region;
3. **jumps to target regions**: for a direction u the pattern s_l = [m_l . u > 0] is
   the one that maximizes u . g; the LP relaxation of "find x with that pattern" lands
   near such a region. Directions: the current gradient, local maxima of the
   unconstrained pattern problem, random ones;
4. **best-first exploration** of the region graph from the best local maxima, downhill
   moves allowed, to cross valleys;
5. on R^d, **regions at infinity**: far along u the pattern is [W u > 0], so the same
   search on the bias-free arrangement (whose regions are these cones) finds unbounded
   regions, which often hold the maximum of trained networks; its best cone is mapped
   back to a far point.

Rounds of this run until ``patience`` rounds in a row bring no improvement (or the time
is up). Every witness is a point strictly inside its region; callers recompute its value
on the network.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustlaw._pl.kernels import fixed_point_ascent
from robustlaw._pl.lp import _INF, LP, NearestLP, RegionLP
from robustlaw._pl.net import Arrangement, PLNet
from robustlaw._pl.settings import RegionSearchSettings
from robustlaw._pl.sphere import sphere_point

__all__ = ["RegionSearchResult", "region_search"]

#: Relative length a segment of a line must have for its midpoint to count as interior.
_MIN_SEGMENT = 1e-9
#: Distance to every hyperplane an LP point must keep (in units of the data scale).
_LP_MARGIN = 1e-7
#: Angle by which points on great circles stay away from the arc ends (the kinks).
_ARC_INSET = 1e-7
#: Distance to every hyperplane of the points found by LP on the ball and the sphere.
_BALL_MARGIN = 1e-5


@dataclass(frozen=True)
class RegionSearchResult:
    """The best region found: its value (tangential on the sphere), a point strictly
    inside it (None when none was found), whether the time ran out, and counters
    (walks, lines, LPs, ...)."""

    value: float
    x: np.ndarray | None
    timed_out: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


def _line_walk(
    arr: Arrangement, x: np.ndarray, U: np.ndarray, domain: str, scale: float
) -> tuple[float, np.ndarray | None]:
    """Best segment over the lines x + t u, u in the rows of U (R^d or the ball).

    Returns (value, point) of the best segment's interior point, or (0, None).
    """
    z0 = arr.W @ x + arr.b  # (k,)
    wu = U @ arr.W.T  # (D, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(wu != 0, -z0[None, :] / wu, np.inf)  # (D, k)
    s_start = np.where(wu != 0, wu < 0, z0[None, :] > 0)  # pattern at t -> -inf
    g_start = arr.gradient(s_start)  # (D, d)
    order = np.argsort(t, axis=1)
    ts = np.take_along_axis(t, order, axis=1)  # (D, k) sorted breakpoints
    inc = np.sign(np.take_along_axis(wu, order, axis=1))  # (D, k)
    G = arr.M[order]  # (D, k, d); one large temporary, updated in place
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
        left = np.maximum(left, np.where(ok, (-xu - root) / uu, 0.0)[:, None])
        right = np.minimum(right, np.where(ok, (-xu + root) / uu, 0.0)[:, None])
    else:
        span = np.where(np.isfinite(ts), np.abs(ts), 0.0).max(axis=1, initial=0.0) + scale
        left = np.where(np.isfinite(left), left, right - span[:, None])
        right = np.where(np.isfinite(right), right, left + span[:, None])
    valid = right - left > _MIN_SEGMENT * (scale + np.abs(left) + np.abs(right))
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
        if arr.interior(y):
            return float(values[best]), y
        values[best] = -1.0
    return 0.0, None


def _arc_walk(arr: Arrangement, x: np.ndarray, U: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Best point over the great circles cos(th) x + sin(th) u (x on the sphere).

    On each arc between two breakpoints the gradient g is constant and the tangential
    norm sqrt(|g|^2 - (g . x(th))^2) is largest where g . x(th) is closest to 0.
    """
    U = U - (U @ x)[:, None] * x[None, :]
    norms = np.linalg.norm(U, axis=1)
    U = U[norms > 1e-12] / norms[norms > 1e-12, None]
    if len(U) == 0 or arr.k == 0:
        return 0.0, None
    D, k = len(U), arr.k
    A = arr.W @ x  # (k,)
    Bc = U @ arr.W.T  # (D, k)
    R = np.sqrt(A[None, :] ** 2 + Bc**2)
    phi = np.arctan2(Bc, A[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(R > 0, -arr.b[None, :] / R, np.inf)
    cross = np.abs(ratio) < 1
    gam = np.arccos(np.clip(ratio, -1, 1))
    two_pi = 2 * np.pi
    th_on = np.where(cross, np.mod(phi - gam, two_pi), np.inf)  # unit turns on
    th_off = np.where(cross, np.mod(phi + gam, two_pi), np.inf)  # unit turns off
    th = np.concatenate([th_on, th_off], axis=1)  # (D, 2k)
    inc = np.concatenate([np.ones((D, k)), -np.ones((D, k))], axis=1)
    cols = np.concatenate([arr.M, arr.M], axis=0)  # (2k, d)
    order = np.argsort(th, axis=1)
    ths = np.take_along_axis(th, order, axis=1)
    incs = np.where(np.isfinite(ths), np.take_along_axis(inc, order, axis=1), 0.0)
    G = np.empty((D, 2 * k + 1, arr.d))  # segment j: after j crossings
    G[:, 0, :] = 0.0
    np.multiply(cols[order], incs[..., None], out=G[:, 1:, :])
    np.cumsum(G, axis=1, out=G)
    G += arr.gradient(arr.pattern(x))
    left = np.concatenate([np.zeros((D, 1)), ths], axis=1)
    right = np.concatenate([ths, np.full((D, 1), two_pi)], axis=1)
    right = np.where(np.isfinite(right), right, two_pi)
    left = np.where(np.isfinite(left), left, two_pi)
    length = right - left
    valid = length > 1e-9
    # candidate angles: the zeros of g . x(th) = p cos th + q sin th, and near the ends;
    # the ends lie on hyperplanes, so candidates stay _ARC_INSET radians inside them and
    # repeated walks cannot creep towards a kink
    p = G @ x  # (D, S)
    q = np.einsum("dsk,dk->ds", G, U)
    root = np.mod(np.arctan2(-p, q), np.pi)  # p cos + q sin = 0 at th = root (mod pi)
    long_enough = length > 2 * _ARC_INSET
    cands = [(left + _ARC_INSET, long_enough), (right - _ARC_INSET, long_enough)]
    for r in (root, root + np.pi):
        cands.insert(0, (r, valid & (r > left + _ARC_INSET) & (r < right - _ARC_INSET)))
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
            if arr.interior(y):
                return arr.value(y, "sphere"), y
        best_val[best] = -1.0
    return 0.0, None


def _ray_flip(
    arr: Arrangement, x: np.ndarray, candidates: np.ndarray, domain: str
) -> np.ndarray | None:
    """A point of the first candidate's flipped region reached straight from x, no LP.

    Walking from x along the normal of hyperplane l towards it, when l is the first
    hyperplane met, the segment after it (up to the next one) lies in the region with
    unit l flipped; its midpoint is returned when it is interior (and in the ball).
    """
    cand = candidates[:256]
    z = arr.W @ x + arr.b  # (k,)
    dirs = -np.sign(z[cand])[:, None] * arr.W[cand]  # (C, d), towards hyperplane l
    rate = dirs @ arr.W.T  # (C, k): dz_j / dt
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(rate * z[None, :] < 0, -z[None, :] / rate, np.inf)  # crossings ahead
    t_l = t[np.arange(len(cand)), cand]
    t_other = t.copy()
    t_other[np.arange(len(cand)), cand] = np.inf
    for i in np.flatnonzero(t_l < t_other.min(axis=1)):
        after = t[i][t[i] > t_l[i]]
        t_next = float(after.min()) if after.size else t_l[i] + max(1.0, t_l[i])
        y = x + 0.5 * (t_l[i] + t_next) * dirs[i]
        if domain == "ball" and np.linalg.norm(y) >= 1.0 - 1e-9:
            continue
        if arr.interior(y):
            return y
    return None


def _flip_candidates(arr: Arrangement, s: np.ndarray, g: np.ndarray, val: float) -> np.ndarray:
    """Units whose flip increases ||g||, best first."""
    new = arr.flip_values(s, g)
    order = np.argsort(-new)
    return order[new[order] > (val * (1 + 1e-12)) ** 2]


def _relaxation_directions(arr: Arrangement, n: int, rng: np.random.Generator) -> np.ndarray:
    """Directions u of large unconstrained pattern gradients, (m, d) with m <= n.

    From a random u, s = [m_l . u > 0] (the pattern maximizing u . g(s)) and u = g(s)
    alternate to a local maximum of max over all patterns of ||g(s)|| (realizable or
    not); its direction is where large gradients would point.
    """
    out: list[np.ndarray] = []
    for _ in range(n):
        u = rng.standard_normal(arr.d)
        s, norm = fixed_point_ascent(arr.g0, arr.M, u / np.linalg.norm(u), 50)
        u = arr.gradient(s) / norm if norm > 0 else u / np.linalg.norm(u)
        if not any(abs(float(u @ w)) > 1 - 1e-9 for w in out):
            out.append(u)
    return np.array(out) if out else np.zeros((0, arr.d))


class _Climber:
    """The climbs on one arrangement: local searches, jumps and best-first exploration.

    ``deadline`` is a :func:`time.perf_counter` value (None: none); ``scale`` is the
    length scale of the data (caps the LP margins, spans the lines at infinity).
    """

    def __init__(
        self,
        arr: Arrangement,
        domain: str,
        scale: float,
        deadline: float | None,
        rng: np.random.Generator,
        settings: RegionSearchSettings,
    ) -> None:
        self.arr, self.domain, self.scale, self.deadline = arr, domain, scale, deadline
        self.rng, self.settings = rng, settings
        if domain == "rd":
            self.lp = RegionLP(arr.W, arr.b, cap=scale, cuts=settings.cuts)
        else:
            self.near = NearestLP(arr.W, arr.b, settings.cuts)
        self.stats = {"walks": 0, "lines": 0, "lps": 0, "flips": 0, "jumps": 0, "directions": 0}
        self.optima: dict[bytes, tuple[float, np.ndarray]] = {}

    def out(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    # ------------------------------------------------------------------ regions

    def region_point(self, s: np.ndarray) -> tuple[float, np.ndarray | None]:
        """(value, a point strictly inside the region of pattern s) or (0, None): on R^d
        the region LP's centre (margin at least _LP_MARGIN * scale), on the ball the point
        of least norm at margin _BALL_MARGIN, on the sphere a point of the sphere,
        preferably orthogonal to g (:func:`~robustlaw._pl.sphere.sphere_point`)."""
        self.count("lps")
        arr, sign = self.arr, np.where(s, 1, -1).astype(np.int8)
        if self.domain == "sphere":
            val, y = sphere_point(arr, s, self.rng, near=self.near, tau=_BALL_MARGIN)
            ok = y is not None and arr.interior(y) and (arr.pattern(y) == s).all()
            return (val, y) if ok else (0.0, None)
        if self.domain == "ball":
            y = self.near.point(sign, _BALL_MARGIN)
            ok = y is not None and arr.interior(y)
            return (float(np.linalg.norm(arr.gradient(s))), y) if ok else (0.0, None)
        res = self.lp.margin(sign)
        if res.x is None or res.t <= _LP_MARGIN * self.scale:
            return 0.0, None
        return float(np.linalg.norm(arr.gradient(s))), res.x

    def target_point(self, weights: np.ndarray, margin: float = 1e-2) -> np.ndarray | None:
        """A point whose pattern agrees with sign(weights) on as much weight as possible.

        For a direction u, <grad f(x), u> = g0 . u + sum_l s_l (m_l . u) is largest when
        every unit with c_l = m_l . u > 0 is active and every one with c_l < 0 is not.
        Finding such an x is a weighted maximum feasible subsystem problem; its LP
        relaxation (weighted hinge violations) jumps across many hyperplanes at once:

            min sum_l |c_l| xi_l  s.t.  sign(c_l) (w_l . x + b_l) + xi_l >= margin,
            xi >= 0,  |x_j| <= R,

        with R a few data scales on R^d and R = 1 on the ball and the sphere, the point
        then projected into the ball or onto the sphere. None when it fails or does not
        keep _LP_MARGIN * scale from every hyperplane.
        """
        self.count("lps")
        arr = self.arr
        live = np.flatnonzero(weights != 0)
        if len(live) == 0:
            return None
        d, m = arr.d, len(live)
        sign = np.sign(weights[live])
        R = 4.0 * (self.scale + float(np.abs(arr.b).max(initial=0.0)))
        R = R if self.domain == "rd" else 1.0
        lp = LP(
            np.r_[np.zeros(d), np.abs(weights[live])],
            np.r_[np.full(d, -R), np.zeros(m)],
            np.r_[np.full(d, R), np.full(m, _INF)],
        )
        lp.add_ub(
            np.c_[-(sign[:, None] * arr.W[live]), -np.eye(m)],
            sign * arr.b[live] - margin * self.scale,
        )
        res = lp.solve()
        if not res.optimal:
            return None
        x = res.x[:d]
        r = float(np.linalg.norm(x))
        if self.domain == "sphere" or (self.domain == "ball" and r > 1.0 - 1e-9):
            x = x / r * (1.0 if self.domain == "sphere" else 1.0 - 1e-9) if r > 0 else None
        if x is None or arr.margin(x) <= _LP_MARGIN * self.scale:
            return None
        return x

    # ------------------------------------------------------------------ climbs

    def directions(self, x: np.ndarray, g: np.ndarray, s: np.ndarray) -> np.ndarray:
        dirs = [self.rng.standard_normal((self.settings.n_random, self.arr.d))]
        if np.linalg.norm(g) > 0:
            dirs.append(np.stack([g, -g]))
        cand = _flip_candidates(self.arr, s, g, 0.0)[:16]
        if len(cand):
            z = self.arr.W[cand] @ x + self.arr.b[cand]
            dirs.append(-np.sign(z)[:, None] * self.arr.W[cand])
        return np.concatenate(dirs, axis=0)

    def local_search(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Line walks, then single flips (along a normal, else LP-checked), until neither
        improves."""
        arr, domain = self.arr, self.domain
        val = arr.value(x, domain)
        for _ in range(self.settings.max_steps):
            if self.out():
                break
            s = arr.pattern(x)
            g = arr.gradient(s)
            U = self.directions(x, g, s)
            self.count("lines", len(U))
            if domain == "sphere":
                new_val, new_x = _arc_walk(arr, x, U)
            else:
                new_val, new_x = _line_walk(arr, x, U, domain, self.scale)
            if new_x is not None and new_val > val * (1 + 1e-10):
                x, val = new_x, new_val
                continue
            candidates = _flip_candidates(arr, s, g, val)
            if domain != "sphere" and len(candidates):
                y = _ray_flip(arr, x, candidates, domain)
                if y is not None:
                    self.count("flips")
                    x, val = y, arr.value(y, domain)
                    continue
            moved = False
            # LPs on big networks cost ~0.1-1 s each: fewer per step there
            limit = self.settings.max_lp if arr.k <= 256 else min(self.settings.max_lp, 8)
            for unit in candidates[:limit]:
                if self.out():
                    break
                s_new = s.copy()
                s_new[unit] = ~s_new[unit]
                y_val, y = self.region_point(s_new)
                if y is not None and y_val > val * (1 + 1e-10):
                    x, val, moved = y, y_val, True
                    self.count("flips")
                    break
            if not moved:
                break
        return val, x

    def climb(self, x: np.ndarray) -> None:
        """A local search, then jumps to the target region of the gradient direction
        while they end higher; the local maximum is recorded in :attr:`optima`."""
        self.count("walks")
        arr = self.arr
        val, x = self.local_search(x)
        for _ in range(self.settings.max_jumps):
            if self.out():
                break
            y = self.target_point(arr.M @ arr.gradient(arr.pattern(x)))
            if y is None:
                break
            y_val, y = self.local_search(y)
            if y_val <= val * (1 + 1e-10):
                break
            self.count("jumps")
            val, x = y_val, y
        key = arr.pattern(x).tobytes()
        if key not in self.optima or self.optima[key][0] < val:
            self.optima[key] = (val, x)

    def best_first(
        self, seeds: list[tuple[float, np.ndarray]], expansions: int
    ) -> tuple[float, np.ndarray | None]:
        """Best-first exploration of the region graph from local maxima, downhill moves
        allowed: regions are expanded in order of their value; each expansion checks the
        ``max_lp`` unvisited single flips of largest ||g'|| and queues the non-empty ones.
        Stops after ``expansions`` expansions."""
        arr = self.arr
        heap: list[tuple[float, int, np.ndarray]] = []
        seen: set[bytes] = set()
        best_val, best_x = 0.0, None
        for val, x in seeds:
            key = arr.pattern(x).tobytes()
            if key not in seen:
                seen.add(key)
                heapq.heappush(heap, (-val, len(seen), x))
            if val > best_val:
                best_val, best_x = val, x
        for _ in range(expansions):
            if not heap or self.out():
                break
            _, _, x = heapq.heappop(heap)
            s = arr.pattern(x)
            potential = arr.flip_values(s, arr.gradient(s))
            tried = 0
            for unit in np.argsort(-potential):
                if tried >= self.settings.max_lp or self.out():
                    break
                s_new = s.copy()
                s_new[unit] = ~s_new[unit]
                key = s_new.tobytes()
                if key in seen:
                    continue
                seen.add(key)
                tried += 1
                val, y = self.region_point(s_new)
                if y is None:
                    continue
                heapq.heappush(heap, (-val, len(seen), y))
                if val > best_val * (1 + 1e-10):
                    best_val, best_x = val, y
                    self.count("best_first_gains")
            self.count("expansions")
        return best_val, best_x

    def search(
        self, starts: list[np.ndarray], n_directions: int, expansions: int
    ) -> tuple[float, np.ndarray | None]:
        """Climb from each start and from target regions of promising directions (half
        local maxima of the unconstrained pattern problem, half random), then explore
        best-first around the four best local maxima and climb from a better region it
        finds. Returns the best (value, interior point)."""
        arr = self.arr
        self.optima = {}
        for x in starts:
            if self.out():
                break
            if arr.margin(x) > 0:
                self.climb(np.asarray(x, dtype=np.float64))
        if n_directions > 0 and not self.out():
            U = _relaxation_directions(arr, max(n_directions // 2, 1), self.rng)
            U = np.concatenate([U, self.rng.standard_normal((n_directions - len(U), arr.d))])
            for u in U:
                if self.out():
                    break
                self.count("directions")
                y = self.target_point(arr.M @ u)
                if y is not None:
                    self.climb(y)
        if not self.optima:
            return 0.0, None
        best_val, best_x = max(self.optima.values(), key=lambda item: item[0])
        if expansions > 0 and not self.out():
            seeds = sorted(self.optima.values(), key=lambda item: -item[0])[:4]
            val, x = self.best_first(seeds, expansions)
            if x is not None and val > best_val * (1 + 1e-10):
                self.climb(x)
                best_val, best_x = max(self.optima.values(), key=lambda item: item[0])
                if val > best_val:
                    best_val, best_x = val, x
        return best_val, best_x


def _far_point(arr: Arrangement, u: np.ndarray) -> np.ndarray | None:
    """A point t u far enough that its pattern is the cone pattern [W u > 0] with a
    margin (None when u lies on a hyperplane of the cones)."""
    wu = arr.W @ u
    if arr.k and np.abs(wu).min() <= 1e-12 * np.abs(arr.W).sum(axis=1).max():
        return None
    t = 4.0 * float(np.max(np.abs(arr.b) / np.abs(wu), initial=0.0)) + 1.0
    for _ in range(8):
        x = t * u
        if (arr.pattern(x) == (wu > 0)).all() and arr.interior(x):
            return x
        t *= 4.0
    return None


def region_search(
    net: PLNet,
    domain: str = "rd",
    starts: list[np.ndarray] | np.ndarray = (),
    pool: list[np.ndarray] | np.ndarray = (),
    *,
    scale: float = 1.0,
    seconds: float | None = None,
    seed: int = 0,
    settings: RegionSearchSettings | None = None,
) -> RegionSearchResult:
    """Search the regions of ``net`` for a large gradient norm on ``domain``.

    Round r climbs (:class:`_Climber`) from the next ``n_starts`` points of ``pool`` (round
    0 also from ``starts``), the best point so far and, on R^d, the best region at
    infinity (a search over the cones of the bias-free arrangement with an eighth of the
    time, mapped back to a far point); the best-first exploration doubles its expansions
    every round. The result never ends below its best start.

    Parameters
    ----------
    net : PLNet
    domain : {"rd", "ball", "sphere"}
        Points of ``starts`` and ``pool`` must lie in the domain.
    starts : (m, d) points tried first (e.g. other methods' witnesses).
    pool : (n, d) candidate starts, best first (e.g. data points with distinct patterns).
    scale : length scale of the data (caps LP margins; spans the lines at infinity).
    seconds : time limit (None: the search ends at local maxima).
    seed : seed of the random directions.
    settings : RegionSearchSettings
    """
    settings = settings or RegionSearchSettings()
    arr = net.arrangement
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    climber = _Climber(arr, domain, scale, deadline, rng, settings)
    given = [np.asarray(x, dtype=np.float64) for x in starts]
    ranked = [np.asarray(x, dtype=np.float64) for x in pool]
    best_val, best_x = 0.0, None
    for x in given:  # the search never ends below its best given start
        if arr.interior(x) and (val := arr.value(x, domain)) > best_val:
            best_val, best_x = val, x
    if arr.k == 0:  # an affine network: any point is a witness
        pts = given + ranked
        return RegionSearchResult(0.0, pts[0] if pts else None, stats={"rounds": 0})
    totals: dict[str, Any] = {"rounds": 0}
    stale, n = 0, settings.n_starts
    for r in range(settings.max_rounds):
        if climber.out() or stale >= settings.patience:
            break
        starts_r = [*(given if r == 0 else []), *ranked[r * n : (r + 1) * n]]
        if best_x is not None:
            starts_r.insert(0, best_x)
        expansions = settings.expansions * 2**r
        if domain == "rd" and arr.b.any():
            cone = dataclasses.replace(arr, b=np.zeros_like(arr.b))
            sub = None if seconds is None else min(time.perf_counter() + seconds / 8, deadline)
            cones = _Climber(cone, "rd", 1.0, sub, rng, settings)
            dirs = [x / nx for x in starts_r if (nx := np.linalg.norm(x)) > 0]
            dirs += list(rng.standard_normal((max(4, n // 2), arr.d)))
            cone_val, u = cones.search(dirs, settings.n_directions // 2, expansions)
            far = None if u is None else _far_point(arr, u / np.linalg.norm(u))
            if far is not None:
                starts_r.insert(1 if best_x is not None else 0, far)
            totals["cone_value"] = max(totals.get("cone_value", 0.0), cone_val)
        if not starts_r:
            starts_r = list(rng.standard_normal((n, arr.d)) * scale)
        val, x = climber.search(starts_r, settings.n_directions, expansions)
        totals["rounds"] = r + 1
        if x is not None and val > best_val * (1 + 1e-10):
            best_val, best_x, stale = val, x, 0
        else:
            stale += 1
    totals.update(climber.stats)
    totals["seconds"] = time.perf_counter() - start
    return RegionSearchResult(best_val, best_x, climber.out(), totals)
