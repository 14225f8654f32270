"""Deep piecewise-linear networks in float64: patterns, regions, and the region search.

A member f(x) = w_D . psi(z_{D-1}) + c + v . x with z_1 = W_1 x + b_1,
z_{j+1} = W_{j+1} psi(z_j) + b_{j+1} and psi piecewise linear with slopes lo (below 0)
and hi (above) has, on the region of a pattern s = (s_1, ..., s_{D-1}) fixing every
hidden unit of every layer, the affine pre-activations z_j = A_j x + c_j with

    A_1 = W_1,  c_1 = b_1,
    A_{j+1} = W_{j+1} Lambda_j A_j,  c_{j+1} = W_{j+1} Lambda_j c_j + b_{j+1},

Lambda_j = diag(lo + (hi - lo) s_j), and the gradient is the product of masked matrices
g = w_D Lambda_{D-1} W_{D-1} ... Lambda_1 W_1 + v (Fazlyab et al. 2019, Section 2; Hanin
and Rolnick 2019 for the regions). The region {sigma_j (A_j x + c_j) >= 0 for all j} is a
polytope, so the region LPs of :mod:`robustlaw._pl.lp` apply to it. Flipping unit i of
layer j changes g by (+-)(hi - lo) beta_j[i] A_j[i] exactly, with the backward row
beta_j = w_D Lambda_{D-1} W_{D-1} ... Lambda_{j+1} W_{j+1}, since g is multilinear in the
slopes.

:func:`deep_region_search` climbs between regions as :func:`~robustlaw._pl.region_search`
does for two layers: exact line walks across regions (segment by segment, the
pre-activations being affine on each), LP-checked flips of the units whose flip
increases ||g|| most, best-first exploration with downhill moves, and on R^d the regions
at infinity (the same search on the bias-free network, whose regions are the cones that
the unbounded regions become far away). :func:`enumerate_regions` visits every region
(breadth first over facets), which gives Lip exactly when it finishes.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustlaw._pl.lp import _INF, LP, NearestLP
from robustlaw._pl.net import Arrangement, tangential
from robustlaw._pl.settings import RegionSearchSettings
from robustlaw._pl.sphere import sphere_point

__all__ = ["DeepNet", "DeepSearchResult", "Region", "deep_region_search", "enumerate_regions"]

#: Margin (relative to the data scale) an LP point keeps from every bent hyperplane.
_LP_MARGIN = 1e-7
#: Margin of the points found by LP on the ball and the sphere.
_BALL_MARGIN = 1e-5


@dataclass(frozen=True)
class Region:
    """The affine pieces of one pattern: rows (N, d) and offsets (N,) of every hidden
    pre-activation (layers stacked), the pattern (N,) bool, the gradient g (d,) and the
    backward rows (N,) (d g / d slope of each unit is beta_u A_u)."""

    A: np.ndarray
    c: np.ndarray
    s: np.ndarray
    g: np.ndarray
    beta: np.ndarray

    def flip_values(self, gap: float) -> np.ndarray:
        """||g with unit u flipped||^2 for every unit u: (N,)."""
        step = np.where(self.s, -gap, gap) * self.beta
        Ag = self.A @ self.g
        return self.g @ self.g + 2 * step * Ag + step**2 * (self.A * self.A).sum(axis=1)

    def sides(self) -> tuple[np.ndarray, np.ndarray]:
        """The region as {x : G x <= h} with unit-norm rows (zero rows kept as 0 <= h)."""
        sign = np.where(self.s, 1.0, -1.0)
        norms = np.linalg.norm(self.A, axis=1)
        norms = np.where(norms > 0, norms, 1.0)
        return -(sign[:, None] * self.A) / norms[:, None], (sign * self.c) / norms


@dataclass(frozen=True)
class DeepNet:
    """One deep piecewise-linear member as float64 arrays.

    Attributes
    ----------
    Ws : tuple of (n_{j+1}, n_j) arrays, the last of shape (1, n_{D-1}).
    bs : tuple of (n_{j+1},) arrays (the output bias does not matter here).
    v : (d,) linear skip (zeros when none); lo, hi : the activation's two slopes.
    """

    Ws: tuple[np.ndarray, ...]
    bs: tuple[np.ndarray, ...]
    v: np.ndarray
    lo: float = 0.0
    hi: float = 1.0
    _sizes: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sizes", tuple(W.shape[0] for W in self.Ws[:-1]))

    @property
    def d(self) -> int:
        return self.Ws[0].shape[1]

    @property
    def units(self) -> int:
        return sum(self._sizes)

    def bias_free(self) -> DeepNet:
        """The same weights without biases: its regions are the cones at infinity."""
        return DeepNet(self.Ws, tuple(np.zeros_like(b) for b in self.bs), self.v, self.lo, self.hi)

    def pattern(self, x: np.ndarray) -> np.ndarray:
        """Pattern (pre-activation > 0) of every hidden unit at x (d,): (N,) bool."""
        h, out = x, []
        for W, b in zip(self.Ws[:-1], self.bs[:-1], strict=True):
            z = W @ h + b
            out.append(z > 0)
            h = np.where(z > 0, self.hi, self.lo) * z
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)

    def region(self, s: np.ndarray) -> Region:
        """The affine pieces of pattern s (N,) bool (see the module docstring)."""
        A, c = self.Ws[0], self.bs[0]
        rows, offs, lams, At = [], [], [], []
        start = 0
        for j in range(len(self._sizes)):
            n = self._sizes[j]
            lam = np.where(s[start : start + n], self.hi, self.lo)
            rows.append(A)
            offs.append(c)
            lams.append(lam)
            At.append(A)
            A = self.Ws[j + 1] @ (lam[:, None] * A)
            c = self.Ws[j + 1] @ (lam * c) + self.bs[j + 1]
            start += n
        g = A[0] + self.v
        betas, back = [], self.Ws[-1][0]
        for j in range(len(self._sizes) - 1, -1, -1):
            betas.append(back)
            back = (back * lams[j]) @ self.Ws[j]
        betas.reverse()
        d = self.d
        return Region(
            np.concatenate(rows) if rows else np.zeros((0, d)),
            np.concatenate(offs) if offs else np.zeros(0),
            s.copy(),
            g,
            np.concatenate(betas) if betas else np.zeros(0),
        )

    def at(self, x: np.ndarray) -> Region:
        return self.region(self.pattern(x))

    def value(self, x: np.ndarray, domain: str) -> float:
        g = self.at(x).g
        return float(tangential(g, x) if domain == "sphere" else np.linalg.norm(g))

    def interior(self, x: np.ndarray, rel: float = 1e-7) -> bool:
        """Every pre-activation away from 0 by rel (|A_u| . |x| + |c_u|) on x's region."""
        r = self.at(x)
        z = np.abs(r.A @ x + r.c)
        live = np.abs(r.A).sum(axis=1) > 0
        return bool((z > rel * (np.abs(r.A) @ np.abs(x) + np.abs(r.c)))[live].all())


@dataclass(frozen=True)
class DeepSearchResult:
    """The best region found: its value (tangential on the sphere), a point strictly
    inside it (None when none was found), whether the time ran out, and counters."""

    value: float
    x: np.ndarray | None
    timed_out: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


def region_point(
    net: DeepNet, reg: Region, domain: str, scale: float, rng: np.random.Generator
) -> tuple[float, np.ndarray | None]:
    """(value, a point strictly inside the region of ``reg``) or (0, None).

    R^d: the centre of the largest ball in the region (radius capped at ``scale``, at
    least _LP_MARGIN * scale); the ball: the least-norm point at margin _BALL_MARGIN
    (:class:`~robustlaw._pl.lp.NearestLP`); the sphere: a point of the region on the
    sphere, preferably orthogonal to g (:func:`~robustlaw._pl.sphere.sphere_point`).
    """
    G, h = reg.sides()
    d = net.d
    if domain == "rd":
        lp = LP(np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), scale])
        norms = np.where(np.abs(reg.A).sum(axis=1) > 0, 1.0, 0.0)
        lp.add_ub(np.c_[G, norms], h)
        res = lp.solve()
        if not res.optimal or res.x[d] <= _LP_MARGIN * scale:
            return 0.0, None
        x = res.x[:d]
    elif domain == "ball":
        x = NearestLP(-G, h).point(np.ones(len(h), dtype=np.int8), _BALL_MARGIN)
        if x is None:
            return 0.0, None
    else:
        arr = Arrangement(-G, h, np.zeros((len(h), d)), reg.g)
        _, x = sphere_point(arr, np.ones(len(h), dtype=bool), rng, tau=_BALL_MARGIN)
        if x is None:
            return 0.0, None
    if not (net.pattern(x) == reg.s).all() or not net.interior(x):
        return 0.0, None
    return net.value(x, domain), x


def line_walk(
    net: DeepNet, x: np.ndarray, u: np.ndarray, domain: str, scale: float, max_cross: int
) -> tuple[float, np.ndarray | None]:
    """Best segment of the line x + t u, t >= 0, walked region by region.

    On each region the pre-activations are affine along the line, so the next crossing is
    min over units of -z_u / (A_u . u) where it is positive; the walk steps just past it
    and recomputes the pattern. R^d: up to ``max_cross`` crossings or 64 ``scale`` away;
    the ball: until the boundary. On the sphere the walk follows the great circle
    through x and u in small arcs is not done here (callers use LP flips there).
    Returns (value, midpoint of the best segment).
    """
    best, best_x = 0.0, None
    p, t_total = x.copy(), 0.0
    u = u / np.linalg.norm(u)
    for _ in range(max_cross):
        reg = net.at(p)
        z = reg.A @ p + reg.c
        rate = reg.A @ u
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(rate * z < 0, -z / rate, np.inf)
        t_next = float(t.min(initial=np.inf))
        if domain == "ball":
            pu, pp = float(p @ u), float(p @ p)
            t_ball = -pu + math.sqrt(max(pu * pu - pp + (1 - 1e-9) ** 2, 0.0))
            t_next = min(t_next, t_ball)
        if not math.isfinite(t_next):
            t_next = 4.0 * scale
        val = float(np.linalg.norm(reg.g))
        if val > best:
            y = p + 0.5 * t_next * u
            if net.interior(y):
                best, best_x = val, y
        step = t_next * (1 + 1e-9) + 1e-12 * scale
        p = p + step * u
        t_total += step
        if t_total > 64 * scale or (domain == "ball" and np.linalg.norm(p) >= 1 - 1e-9):
            break
    return best, best_x


class _DeepClimber:
    """Local searches, flips and best-first exploration on one deep net."""

    def __init__(
        self,
        net: DeepNet,
        domain: str,
        scale: float,
        deadline: float | None,
        rng: np.random.Generator,
        settings: RegionSearchSettings,
    ) -> None:
        self.net, self.domain, self.scale, self.deadline = net, domain, scale, deadline
        self.rng, self.settings = rng, settings
        self.gap = net.hi - net.lo
        self.stats: dict[str, Any] = {"walks": 0, "lines": 0, "lps": 0, "flips": 0}
        self.optima: dict[bytes, tuple[float, np.ndarray]] = {}
        self.empty: set[bytes] = set()

    def out(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def value_of(self, reg: Region, x: np.ndarray) -> float:
        return float(tangential(reg.g, x) if self.domain == "sphere" else np.linalg.norm(reg.g))

    def point(self, s: np.ndarray) -> tuple[float, np.ndarray | None]:
        key = s.tobytes()
        if key in self.empty:
            return 0.0, None
        self.count("lps")
        val, x = region_point(self.net, self.net.region(s), self.domain, self.scale, self.rng)
        if x is None:
            self.empty.add(key)
        return val, x

    def candidates(self, reg: Region, val: float) -> np.ndarray:
        """Units whose flip increases ||g|| (the norm of the full gradient), best first."""
        new = reg.flip_values(self.gap)
        order = np.argsort(-new)
        return order[new[order] > (val * (1 + 1e-12)) ** 2]

    def local_search(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        net, settings = self.net, self.settings
        val = net.value(x, self.domain)
        for _ in range(settings.max_steps):
            if self.out():
                break
            reg = net.at(x)
            if self.domain != "sphere":
                dirs = [reg.g, -reg.g, *self.rng.standard_normal((4, net.d))]
                cand = self.candidates(reg, 0.0)[:4]
                z = reg.A[cand] @ x + reg.c[cand]
                dirs += list(-np.sign(z)[:, None] * reg.A[cand])
                moved = False
                for u in dirs:
                    if np.linalg.norm(u) == 0:
                        continue
                    self.count("lines")
                    new_val, y = line_walk(net, x, u, self.domain, self.scale, 32)
                    if y is not None and new_val > val * (1 + 1e-10):
                        x, val, moved = y, new_val, True
                        break
                if moved:
                    continue
            moved = False
            for unit in self.candidates(reg, val)[: settings.max_lp]:
                if self.out():
                    break
                s_new = reg.s.copy()
                s_new[unit] = ~s_new[unit]
                y_val, y = self.point(s_new)
                if y is not None and y_val > val * (1 + 1e-10):
                    x, val, moved = y, y_val, True
                    self.count("flips")
                    break
            if not moved:
                break
        return val, x

    def climb(self, x: np.ndarray) -> None:
        self.count("walks")
        val, x = self.local_search(x)
        key = self.net.pattern(x).tobytes()
        if key not in self.optima or self.optima[key][0] < val:
            self.optima[key] = (val, x)

    def best_first(self, expansions: int) -> None:
        """Expand the regions of largest value first (downhill moves allowed) from the
        four best local maxima; better regions found are climbed from."""
        seeds = sorted(self.optima.values(), key=lambda item: -item[0])[:4]
        heap: list[tuple[float, int, np.ndarray]] = []
        seen: set[bytes] = set()
        for val, x in seeds:
            seen.add(self.net.pattern(x).tobytes())
            heapq.heappush(heap, (-val, len(seen), x))
        best = max((v for v, _ in seeds), default=0.0)
        for _ in range(expansions):
            if not heap or self.out():
                break
            _, _, x = heapq.heappop(heap)
            reg = self.net.at(x)
            tried = 0
            for unit in np.argsort(-reg.flip_values(self.gap)):
                if tried >= self.settings.max_lp or self.out():
                    break
                s_new = reg.s.copy()
                s_new[unit] = ~s_new[unit]
                if (key := s_new.tobytes()) in seen:
                    continue
                seen.add(key)
                tried += 1
                val, y = self.point(s_new)
                if y is None:
                    continue
                heapq.heappush(heap, (-val, len(seen), y))
                if val > best * (1 + 1e-10):
                    best = val
                    self.count("best_first_gains")
                    self.climb(y)
            self.count("expansions")

    def best(self) -> tuple[float, np.ndarray | None]:
        if not self.optima:
            return 0.0, None
        return max(self.optima.values(), key=lambda item: item[0])


def _far_point(net: DeepNet, u: np.ndarray, cone: np.ndarray) -> np.ndarray | None:
    """A point t u far along u whose pattern is the cone pattern ``cone``, or None."""
    t = 1.0
    for _ in range(40):
        x = t * u
        if (net.pattern(x) == cone).all() and net.interior(x):
            return x
        t *= 2.0
    return None


def deep_region_search(
    net: DeepNet,
    domain: str = "rd",
    starts: list[np.ndarray] | np.ndarray = (),
    pool: list[np.ndarray] | np.ndarray = (),
    *,
    scale: float = 1.0,
    seconds: float | None = None,
    seed: int = 0,
    settings: RegionSearchSettings | None = None,
) -> DeepSearchResult:
    """Search the regions of a deep net for a large gradient norm on ``domain``.

    Round r climbs from the given starts (round 0), the next ``n_starts`` points of
    ``pool``, the best point so far and, on R^d, the best cone at infinity mapped back to
    a far point; then explores best-first with ``expansions * 2^r`` expansions. Rounds
    stop after ``patience`` rounds without gain. Parameters as for
    :func:`~robustlaw._pl.region_search`.
    """
    settings = settings or RegionSearchSettings()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    climber = _DeepClimber(net, domain, scale, deadline, rng, settings)
    given = [np.asarray(x, dtype=np.float64) for x in starts]
    ranked = [np.asarray(x, dtype=np.float64) for x in pool]
    best_val, best_x = 0.0, None
    for x in given:
        if net.interior(x) and (val := net.value(x, domain)) > best_val:
            best_val, best_x = val, x
    cone_net = net.bias_free() if domain == "rd" and any(b.any() for b in net.bs[:-1]) else None
    stale, n, totals = 0, settings.n_starts, {"rounds": 0}
    for r in range(settings.max_rounds):
        if climber.out() or stale >= settings.patience:
            break
        starts_r = [*(given if r == 0 else []), *ranked[r * n : (r + 1) * n]]
        if best_x is not None:
            starts_r.insert(0, best_x)
        if cone_net is not None:
            sub = None if seconds is None else min(time.perf_counter() + seconds / 8, deadline)
            cones = _DeepClimber(cone_net, "rd", 1.0, sub, rng, settings)
            dirs = [x / nx for x in starts_r if (nx := np.linalg.norm(x)) > 0]
            dirs += list(rng.standard_normal((max(4, n // 2), net.d)))
            for u in dirs:
                if cones.out():
                    break
                if cone_net.interior(u):
                    cones.climb(u)
            cone_val, u = cones.best()
            if u is not None:
                u = u / np.linalg.norm(u)
                far = _far_point(net, u, cone_net.pattern(u))
                if far is not None:
                    starts_r.insert(0, far)
            totals["cone_value"] = max(totals.get("cone_value", 0.0), cone_val)
        if not starts_r:
            starts_r = list(rng.standard_normal((n, net.d)) * scale)
        climber.optima = {}
        for x in starts_r:
            if climber.out():
                break
            if net.interior(x):
                climber.climb(x)
        if climber.optima and not climber.out():
            climber.best_first(settings.expansions * 2**r)
        val, x = climber.best()
        totals["rounds"] = r + 1
        if x is not None and val > best_val * (1 + 1e-10):
            best_val, best_x, stale = val, x, 0
        else:
            stale += 1
    totals.update(climber.stats)
    totals["seconds"] = time.perf_counter() - start
    return DeepSearchResult(best_val, best_x, climber.out(), totals)


@dataclass(frozen=True)
class Enumeration:
    """Every region visited: the largest value and a point inside its region, the number
    of regions, and whether the enumeration finished (then ``value`` is Lip on R^d)."""

    value: float
    x: np.ndarray | None
    regions: int
    complete: bool


class _FacetLP:
    """The facets of one region {G x <= h} (unit rows), by one warm-started LP: for row
    i, max t s.t. G_i x = h_i and G_k x + t <= h_k for the other live rows, t <= cap."""

    def __init__(self, G: np.ndarray, h: np.ndarray, cap: float) -> None:
        d = G.shape[1]
        self.d, self.h, self.cap = d, h, cap
        self.live = (np.abs(G).sum(axis=1) > 0).astype(float)
        self.lp = LP(np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), cap])
        self.lp.add_ub(np.c_[G, self.live], h)

    def point(self, i: int) -> np.ndarray | None:
        """A point of facet i's relative interior (margin > _LP_MARGIN * cap), or None."""
        lp, h, d = self.lp, self.h, self.d
        row = np.array([i])
        lp.h.changeCoeff(i, d, 0.0)
        lp.row_bounds(row, h[row], h[row])
        res = lp.solve()
        lp.h.changeCoeff(i, d, float(self.live[i]))
        lp.row_bounds(row, np.array([-_INF]), h[row])
        if not res.optimal or res.x[d] <= _LP_MARGIN * self.cap:
            return None
        return res.x[:d]


def _facets(G: np.ndarray, h: np.ndarray, cap: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(outward normal, a point of its relative interior) for every facet of {G x <= h}.

    In the plane each facet is an interval of its line, found for all rows at once
    (the other rows cut the line p_i + tau t_i to [max lower, min upper]); in higher
    dimensions one LP per row (:class:`_FacetLP`).
    """
    # rows on one hyperplane with one side (units that switch together) count once
    _, first = np.unique(np.round(np.c_[G, h / (1.0 + cap)], 9), axis=0, return_index=True)
    first = np.sort(first)
    G, h = G[first], h[first]
    live = np.abs(G).sum(axis=1) > 0
    if G.shape[1] != 2:
        lp = _FacetLP(G, h, cap)
        pts = [(int(i), lp.point(int(i))) for i in np.flatnonzero(live)]
        return [(G[i], p) for i, p in pts if p is not None]
    if (h[~live] < 0).any():  # a constant unit on the wrong side: an empty region
        return []
    G, h = G[live], h[live]
    idx = np.arange(len(h))
    P = G * h[:, None]  # foot points on the lines (unit rows)
    T = np.c_[-G[idx, 1], G[idx, 0]]  # directions along the lines
    rate = T @ G.T  # (m, N): d(G_k x) / d tau
    slack = h[None, :] - P @ G.T  # (m, N): h_k - G_k p_i
    tol = 1e-12 * (cap + np.abs(h).max(initial=0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = slack / rate
    upper = np.where(rate > tol, bound, np.inf)
    lower = np.where(rate < -tol, bound, -np.inf)
    parallel_ok = np.where(np.abs(rate) <= tol, slack > tol, True)
    rows = np.arange(len(idx))
    parallel_ok[rows, idx] = True
    upper[rows, idx], lower[rows, idx] = np.inf, -np.inf
    hi, lo = upper.min(axis=1), lower.max(axis=1)
    out = []
    for r in np.flatnonzero(parallel_ok.all(axis=1) & (hi - lo > 1e-9 * cap)):
        a, b = lo[r], hi[r]
        if np.isfinite(a) and np.isfinite(b):
            tau = 0.5 * (a + b)
        else:  # a ray or a whole line: a point a cap inside its finite end
            tau = a + cap if np.isfinite(a) else (b - cap if np.isfinite(b) else 0.0)
        out.append((G[idx[r]], P[r] + tau * T[r]))
    return out


def enumerate_regions(
    net: DeepNet, x0: np.ndarray, scale: float = 1.0, seconds: float | None = None
) -> Enumeration:
    """Visit every region of R^d through its facets, keeping the largest ||g||.

    From a region, each of its facets (a row whose facet has a relative interior, by LP)
    is crossed at its centre, a small step along the outward normal; the pattern there is
    the neighbour's, however many units switch on that facet. The regions of a
    continuous piecewise-linear partition of R^d, joined through facets, are connected,
    so the walk visits them all from the region of ``x0`` (moved off kinks at random);
    ``value`` is then max ||g|| = Lip(f) on R^d (over every
    region seen, with a witness ``x`` at the best one that has an interior point).
    """
    deadline = None if seconds is None else time.perf_counter() + seconds
    rng = np.random.default_rng(0)
    for _ in range(100):  # the walk starts inside a region, not on a kink
        if net.interior(x0):
            break
        x0 = x0 + scale * rng.standard_normal(net.d)
    start_s = net.pattern(x0)
    seen = {start_s.tobytes()}
    queue = [(start_s, x0)]
    best, best_w, best_x = 0.0, 0.0, None
    while queue:
        if deadline is not None and time.perf_counter() > deadline:
            return Enumeration(best, best_x, len(seen), False)
        s, x = queue.pop()
        reg = net.region(s)
        val = float(np.linalg.norm(reg.g))
        best = max(best, val)
        if val > best_w and net.interior(x) and (net.pattern(x) == s).all():
            best_w, best_x = val, x
        G, h = reg.sides()
        for normal, p in _facets(G, h, scale):
            s_new, y = _across(net, p, normal, scale)
            if (key := s_new.tobytes()) in seen:
                continue
            seen.add(key)
            queue.append((s_new, _interior(net, s_new, y, scale)))
    return Enumeration(best, best_x, len(seen), True)


def _across(
    net: DeepNet, p: np.ndarray, normal: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pattern just across a facet at its point ``p`` (outward ``normal``), and a
    point with it.

    The step shrinks until ``p`` lies in the closure of the region reached: a longer
    step could jump over a region thinner than the step (far from the origin regions
    can be slivers) into one that does not touch the facet, and the walk would miss it.
    """
    size = scale + float(np.linalg.norm(p))
    step = 1e-6 * size
    while True:
        y = p + step * normal
        s_new = net.pattern(y)
        G, h = net.region(s_new).sides()
        if step <= 1e-13 * size or (G @ p <= h + 1e-12 * size).all():
            return s_new, y
        step *= 0.125


def _interior(net: DeepNet, s: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """The centre of the largest ball in the region of s (y when the LP fails)."""
    G, h = net.region(s).sides()
    d = net.d
    lp = LP(np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), scale])
    lp.add_ub(np.c_[G, (np.abs(G).sum(axis=1) > 0).astype(float)], h)
    res = lp.solve()
    return res.x[:d] if res.optimal and res.x[d] > 0 else y
