"""Linear programs on HiGHS: the one place in the library that calls an LP solver.

Everything is over generic half-space rows, so that any polytope (the region of a
two-layer pattern, or of a deep pattern fixing every layer) goes through the same code:

- :class:`LP`: min c . z subject to row and column bounds, rows added or deleted and
  bounds changed between warm-started solves; HiGHS never prints (its banner is sent to
  /dev/null the first time a model is made in a process, and every model is silent);
- :func:`chebyshev`: the largest margin of a polytope {A x <= c}: max t subject to
  A_i x + t ||A_i|| <= c_i;
- :class:`RegionLP`: the warm-started margin LP of partial sign patterns of a fixed
  arrangement {w_l . x + b_l = 0} (unit rows), max t s.t. sigma_l (w_l . x + b_l) >= t,
  with a pool of the ball's newest tangent cuts and the dual (Gordan / Farkas)
  certificates of empty regions recorded as no-goods;
- :class:`NearestLP`: a point of a pattern's region well inside the ball (the least norm
  at a fixed margin, optionally on a plane), the region search's LP on the ball and the
  sphere.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np

from robustlaw._pl.nogoods import NoGoods
from robustlaw._pl.settings import CutSettings

__all__ = [
    "FEASIBLE_MARGIN",
    "LP",
    "LPResult",
    "Margin",
    "NearestLP",
    "RegionLP",
    "chebyshev",
]

#: Numerical resolution of the searches, in units of distance (rows are normalized): a
#: region counts when it contains a ball of this radius, and its witness is the centre of
#: such a ball. Regions thinner than that (including the empty ones, whose LP optimum is
#: <= 0) are not counted: an LP solution this close to 0 cannot tell them apart.
FEASIBLE_MARGIN = 1e-9

_INF = highspy.kHighsInf
_OPTIMAL = highspy.HighsModelStatus.kOptimal
_INFEASIBLE = highspy.HighsModelStatus.kInfeasible
_UNBOUNDED = highspy.HighsModelStatus.kUnbounded
_START = np.zeros(1, dtype=np.int32)


@functools.cache
def _banner_silenced() -> None:
    """Make the process's first HiGHS model with stdout sent to /dev/null: HiGHS prints
    its banner there once per process, before any option can be set."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _csr(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense rows (m, n) as HiGHS row-wise arrays (starts, indices, values)."""
    rows, cols = np.nonzero(A)
    starts = np.searchsorted(rows, np.arange(A.shape[0])).astype(np.int32)
    return starts, cols.astype(np.int32), A[rows, cols]


class LPResult:
    """Outcome of a solve: ``status`` "optimal", "infeasible", "unbounded" or "failed";
    at an optimum the solution ``x`` (n,), its :attr:`value` and :attr:`duals` (m,)."""

    __slots__ = ("_cost", "solution", "status", "x")

    def __init__(
        self,
        status: str,
        x: np.ndarray | None = None,
        cost: np.ndarray | None = None,
        solution: object = None,
    ) -> None:
        self.status, self.x, self._cost, self.solution = status, x, cost, solution

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"

    @property
    def value(self) -> float:
        return float(self._cost @ self.x)

    @property
    def duals(self) -> np.ndarray | None:
        return None if self.solution is None else np.array(self.solution.row_dual)


class LP:
    """min cost . z subject to lower <= z <= upper and row bounds, on one HiGHS model.

    Parameters
    ----------
    cost, lower, upper : (n,) column costs and bounds (+-inf for none).
    tolerance : float
        Primal and dual feasibility tolerance.
    """

    def __init__(
        self, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, tolerance: float = 1e-10
    ) -> None:
        _banner_silenced()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("primal_feasibility_tolerance", tolerance)
        h.setOptionValue("dual_feasibility_tolerance", tolerance)
        self.h, self.cost, self.n, self.rows = h, _f64(cost), len(cost), 0
        self._index: np.ndarray | None = None
        none = np.array([], dtype=np.int32)
        h.addCols(self.n, self.cost, _f64(lower), _f64(upper), 0, none, none, np.array([]))

    def add_rows(self, A: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Rows lower <= A z <= upper, A: (m, n)."""
        starts, index, values = _csr(np.atleast_2d(_f64(A)))
        self.h.addRows(len(starts), _f64(lower), _f64(upper), len(values), starts, index, values)
        self.rows += len(starts)

    def add_row(self, coef: np.ndarray, lower: float, upper: float) -> None:
        """One dense row lower <= coef . z <= upper (the fast path of cutting planes)."""
        if self._index is None:
            self._index = np.arange(self.n, dtype=np.int32)
        lo, hi = np.array([lower], dtype=np.float64), np.array([upper], dtype=np.float64)
        self.h.addRows(1, lo, hi, self.n, _START, self._index, coef)
        self.rows += 1

    def add_ub(self, A: np.ndarray, b: np.ndarray) -> None:
        """Rows A z <= b."""
        self.add_rows(A, np.full(len(b), -_INF), b)

    def row_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.h.changeRowsBounds(len(rows), rows.astype(np.int32), lower, upper)

    def set_cost(self, cost: np.ndarray) -> None:
        self.cost = np.asarray(cost, dtype=np.float64)
        self.h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32), self.cost)

    def delete_rows(self, first: int, count: int) -> None:
        self.h.deleteRows(count, np.arange(first, first + count, dtype=np.int32))
        self.rows -= count

    def solve(self) -> LPResult:
        """Solve from the last basis; a status other than optimal, infeasible or unbounded
        is retried once from scratch."""
        for attempt in range(2):
            self.h.run()
            status = self.h.getModelStatus()
            if status == _OPTIMAL:
                sol = self.h.getSolution()
                return LPResult(
                    "optimal", np.array(sol.col_value), self.cost, sol if not attempt else None
                )
            if status == _INFEASIBLE or status == _UNBOUNDED:
                return LPResult("infeasible" if status == _INFEASIBLE else "unbounded")
            self.h.clearSolver()
        return LPResult("failed")


def chebyshev(A: np.ndarray, c: np.ndarray, cap: float = 1.0) -> tuple[np.ndarray | None, float]:
    """The centre x and radius t of the largest ball in the polytope {A x <= c} (radius
    at most ``cap``): max t s.t. A_i x + t ||A_i|| <= c_i.

    Returns (x, t), or (None, t) when the LP fails or t <= FEASIBLE_MARGIN (no interior
    point).
    """
    A = np.atleast_2d(_f64(A))
    d = A.shape[1]
    lp = LP(np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), cap])
    lp.add_ub(np.c_[A, np.linalg.norm(A, axis=1)], _f64(c))
    res = lp.solve()
    if not res.optimal or res.x[d] <= FEASIBLE_MARGIN:
        return None, -math.inf if not res.optimal else float(res.x[d])
    return res.x[:d], float(res.x[d])


def _sides(sign: np.ndarray, b: np.ndarray, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Row bounds for units with sides ``sign`` (0: free): the "on" rows
    w . x (- t) >= shift - b, then the "off" rows w . x (+ t) <= -b - shift. (2m,) each."""
    m = len(sign)
    lower = np.concatenate([np.where(sign > 0, shift - b, -_INF), np.full(m, -_INF)])
    upper = np.concatenate([np.full(m, _INF), np.where(sign < 0, -b - shift, _INF)])
    return lower, upper


@dataclass
class Margin:
    """Outcome of a region LP: the largest margin t and a point attaining it."""

    t: float
    x: np.ndarray | None

    @property
    def empty(self) -> bool:
        """No point has a margin above FEASIBLE_MARGIN (the region is empty or thinner
        than the resolution)."""
        return self.t <= FEASIBLE_MARGIN

    @property
    def witness(self) -> bool:
        return self.x is not None and self.t > FEASIBLE_MARGIN


class RegionLP:
    """Largest margin of a partial sign pattern: max t s.t. sigma_l (w_l . x + b_l) >= t.

    With ``ball=True`` the point must also lie in the open unit ball with the same margin,
    ||x|| <= 1 - t, handled by cutting planes u . x + t <= 1 (valid outer approximations
    of the ball, shared by all calls: the 2 d box cuts and the newest
    ``cuts.pool * d`` tangent cuts). t is capped at ``cap``.

    Parameters
    ----------
    W : (k, d) unit rows; b : (k,)
    ball : bool
    cap : float
    cuts : CutSettings
    warm : bool
        Keep one warm-started model (row bounds change between calls); False solves a
        fresh model each time.
    """

    def __init__(
        self,
        W: np.ndarray,
        b: np.ndarray,
        ball: bool = False,
        *,
        cap: float = 1.0,
        cuts: CutSettings | None = None,
        warm: bool = True,
    ) -> None:
        self.W, self.b = W, b
        self.k, self.d = W.shape
        self.ball, self.cap, self.warm = ball, cap, warm
        self.settings = cuts or CutSettings()
        self.calls = 0
        #: store of learned no-goods: every LP that finds a region empty records its
        #: dual certificate there
        self.nogoods: NoGoods | None = None
        #: radius within which a learned certificate must hold (see NoGoods.add_certificate)
        self.certificate_radius = 1e6 * (1.0 + (float(np.max(np.abs(b))) if len(b) else 0.0))
        #: time.perf_counter() value after which :meth:`margin` stops adding cuts
        self.deadline: float | None = None
        eye = np.eye(self.d)
        self.cuts: list[np.ndarray] = [*eye, *(-eye)] if ball else []
        self._lp = self._model() if warm else None
        self._state = np.zeros(self.k, dtype=np.int8)

    def _model(self, sign: np.ndarray | None = None) -> LP:
        """Rows 0..k-1: w.x - t >= -b (unit on); rows k..2k-1: w.x + t <= -b (unit off);
        then the cuts u . x + t <= 1. ``sign`` sets the fixed units (None: all free)."""
        k, d = self.k, self.d
        lp = LP(np.r_[np.zeros(d), -1.0], np.full(d + 1, -_INF), np.r_[np.full(d, _INF), self.cap])
        if k:
            rows = np.vstack([np.c_[self.W, -np.ones(k)], np.c_[self.W, np.ones(k)]])
            lp.add_rows(rows, *_sides(np.zeros(k) if sign is None else sign, self.b))
        if self.cuts:
            C = np.array(self.cuts)
            lp.add_ub(np.c_[C, np.ones(len(C))], np.ones(len(C)))
        return lp

    def _solve(self, sign: np.ndarray) -> Margin:
        self.calls += 1
        if self._lp is None:
            lp = self._model(sign)
        else:
            lp = self._lp
            changed = np.flatnonzero(sign != self._state)
            if len(changed):
                rows = np.concatenate([changed, changed + self.k])
                lp.row_bounds(rows, *_sides(sign[changed], self.b[changed]))
                self._state = sign.astype(np.int8).copy()
        res = lp.solve()
        if res.status == "infeasible":
            return Margin(-math.inf, None)
        if not res.optimal:  # the solver could not decide: keep the region, no witness
            return Margin(self.cap, None)
        if res.x[-1] <= FEASIBLE_MARGIN and self.nogoods is not None and res.solution is not None:
            duals = np.abs(res.duals)
            on, off = duals[: self.k], duals[self.k : 2 * self.k]
            side = np.where(on > 0, 1, np.where(off > 0, -1, 0))
            self._learn(on + off, side, sign, duals[2 * self.k :])
        return Margin(float(res.x[-1]), res.x[:-1].copy())

    def _learn(self, mu: np.ndarray, side: np.ndarray, sign: np.ndarray, nu: np.ndarray) -> None:
        """Record the dual certificate of an empty region (weights mu (k,) >= 0 on rows
        of sides ``side``, nu on the ball's cuts in order) as a no-good; its sides must be
        those of ``sign``. On the ball the certificate holds for points of the ball (the
        cuts 1 - u . x >= 0 hold there), the only points the search counts."""
        support = mu > 0
        if not support.any() or not np.array_equal(side[support], sign[support]):
            return
        extra_w, extra_b, radius = None, 0.0, self.certificate_radius
        if self.ball:
            if len(nu) != len(self.cuts):
                return
            extra_w = -(nu @ np.array(self.cuts)) if len(nu) else None
            extra_b, radius = float(nu.sum()), 1.0
        self.nogoods.add_certificate(
            self.W, self.b, mu, side, radius, FEASIBLE_MARGIN, extra_w, extra_b, extra_b
        )

    def add_cut(self, u: np.ndarray) -> None:
        self.cuts.append(u)
        if self._lp is not None:
            self._lp.add_row(np.append(u, 1.0), -_INF, 1.0)

    def _trim_cuts(self) -> None:
        """Keep the 2 d box cuts and the newest ``pool * d`` tangent cuts: every LP row
        costs time, while old tangent cuts seldom spare a round (on a trained d = 10,
        k = 64 net, with about 8,000 kept cuts a margin still took 10 rounds)."""
        box = 2 * self.d
        excess = len(self.cuts) - box - self.settings.pool * self.d
        if excess <= 0:
            return
        del self.cuts[box : box + excess]
        if self._lp is not None:
            self._lp.delete_rows(2 * self.k + box, excess)

    def margin(self, sign: np.ndarray) -> Margin:
        """Largest margin of the partial pattern ``sign`` ((k,) in {-1, 0, +1}; 0 = free).

        With ``ball=True`` cutting planes are added until the maximizer lies in the ball
        with the margin (then ``x`` is a witness) or the outer approximation is empty
        (then the region certainly misses the ball). If neither happens within
        ``cuts.rounds`` rounds (or before :attr:`deadline`) the returned margin is the
        outer approximation's (an upper bound on the true margin, so the region is kept)
        and ``x`` is None.
        """
        res = self._solve(sign)
        if not self.ball or res.x is None or res.empty:
            return res
        if self.settings.pool is not None:
            self._trim_cuts()
        for _ in range(self.settings.rounds):
            norm = float(np.linalg.norm(res.x))
            if norm <= 1.0 - res.t + 1e-12:
                return Margin(min(res.t, 1.0 - norm), res.x)
            if self.deadline is not None and time.perf_counter() > self.deadline:
                break
            self.add_cut(res.x / norm)
            res = self._solve(sign)
            if res.x is None or res.empty:
                return res
        true_t = min(res.t, 1.0 - float(np.linalg.norm(res.x)))
        if true_t > FEASIBLE_MARGIN:
            return Margin(true_t, res.x)
        return Margin(res.t, None)

    def point_margin(self, x: np.ndarray, sign: np.ndarray) -> float:
        """Margin of x (d,) for the partial pattern ``sign`` (and the ball, when set)."""
        idx = np.flatnonzero(sign)
        t = math.inf
        if len(idx):
            t = float(np.min(sign[idx] * (self.W[idx] @ x + self.b[idx])))
        if self.ball:
            t = min(t, 1.0 - float(np.linalg.norm(x)))
        return t


class NearestLP:
    """A point of a partial sign pattern's region strictly inside the unit ball: the
    point of least norm with margin ``tau`` to every fixed hyperplane (on a plane through
    the origin when given), by a warm-started LP with tangent cuts,

        min r  s.t.  sigma_l (w_l . x + b_l) >= tau,  [p . x = 0],  u . x <= r,

    over the directions u = +-e_j and the newest ``cuts.pool * d`` tangent directions
    x / ||x|| of earlier optima. Since u . x <= ||x|| for unit u, r is at most the least
    norm: r >= 1 - tau proves that the region misses the ball of radius 1 - tau.

    Parameters
    ----------
    W : (k, d) unit rows; b : (k,)
    cuts : CutSettings
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, cuts: CutSettings | None = None) -> None:
        self.W, self.b = W, b
        self.k, self.d = W.shape
        self.settings = cuts or CutSettings()
        k, d = self.k, self.d
        self.lp = LP(np.r_[np.zeros(d), 1.0], np.r_[np.full(d, -_INF), 0.0], np.full(d + 1, _INF))
        free = np.full(2 * k + 1, _INF)
        rows = np.vstack([np.c_[W, np.zeros(k)], np.c_[W, np.zeros(k)], np.zeros((1, d + 1))])
        self.lp.add_rows(rows, -free, free)  # on rows, off rows, the plane
        eye = np.eye(d)
        self.ncuts = 0
        for u in (*eye, *(-eye)):
            self._cut(u)
        self._state, self._tau = np.zeros(k, dtype=np.int8), 0.0

    def _cut(self, u: np.ndarray) -> None:
        self.lp.add_row(np.append(u, -1.0), -_INF, 0.0)
        self.ncuts += 1

    def point(
        self, sign: np.ndarray, tau: float, plane: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The point (d,) with ||x|| <= 1 - tau, or None (no such point found)."""
        k, d = self.k, self.d
        units = np.arange(k) if tau != self._tau else np.flatnonzero(sign != self._state)
        if len(units):
            rows = np.concatenate([units, units + k])
            self.lp.row_bounds(rows, *_sides(sign[units], self.b[units], tau))
            self._state, self._tau = sign.astype(np.int8).copy(), tau
        if plane is not None:
            for j in range(d):
                self.lp.h.changeCoeff(2 * k, j, float(plane[j]))
        bound = np.array([0.0 if plane is not None else _INF])
        self.lp.row_bounds(np.array([2 * k]), -bound, bound)
        excess = self.ncuts - 2 * d - (self.settings.pool or self.ncuts) * d
        if excess > 0:
            self.lp.delete_rows(2 * k + 1 + 2 * d, excess)
            self.ncuts -= excess
        for _ in range(self.settings.rounds):
            res = self.lp.solve()
            if not res.optimal or res.x[d] >= 1.0 - tau:
                return None
            x = res.x[:d]
            norm = float(np.linalg.norm(x))
            if norm <= 1.0 - tau:
                return x
            self._cut(x / norm)
        return None
