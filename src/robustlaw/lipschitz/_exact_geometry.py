"""Geometry for the exact Lipschitz constant of one two-layer piecewise-linear network.

A member f(x) = sum_l a_l psi(w_l . x + b_l) + c + v . x with psi piecewise linear with
slopes (alpha, 1) has, on the region with activation pattern s in {0, 1}^k,

    grad f = v + alpha W^T a + W^T diag(s) ((1 - alpha) a) = g0 + M^T s,

with g0 = v + alpha sum_l a_l w_l and rows m_l = (1 - alpha) a_l w_l (relu: alpha = 0).
This module reduces a member to that form (:class:`PatternProblem`), and decides whether
a sign pattern on some of the units is realizable by a region with non-empty interior
(meeting the unit ball when asked) by linear programming with a margin
(:class:`RegionLP`): maximize t subject to sigma_l (w_l . x + b_l) >= t for the fixed
units, with unit-norm rows so that t is the radius of a ball inside the region.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

try:  # HiGHS through its own bindings: warm-started re-solves, about 5x less overhead
    import highspy

    _HAVE_HIGHSPY = True
except ImportError:  # pragma: no cover - the scipy path is exercised by forcing it
    highspy = None
    _HAVE_HIGHSPY = False

from scipy.optimize import linprog

from robustlaw.lipschitz._exact_nogoods import NoGoods

__all__ = [
    "FEASIBLE_MARGIN",
    "INFEASIBLE_MARGIN",
    "PatternProblem",
    "RegionLP",
    "member_problem",
    "network_gradient",
]

#: Numerical resolution of the search, in units of distance (rows are normalized): a
#: region counts when it contains a ball of this radius (capped at 1 on R^d, inside the
#: unit ball for the ball and the sphere), and its witness is the centre of such a ball.
#: Regions thinner than that (including the empty ones, whose LP optimum is <= 0) are
#: not counted: an LP solution this close to 0 cannot tell them apart.
FEASIBLE_MARGIN = 1e-9
INFEASIBLE_MARGIN = FEASIBLE_MARGIN
#: Tangent cuts of the ball kept (times d) besides the box; None keeps all.
CUT_POOL: int | None = 2


@dataclass
class PatternProblem:
    """One member reduced to grad f = g0 + M^T s over realizable patterns s.

    Attributes
    ----------
    W : ndarray, shape (k, d)
        Hidden weights with unit rows (units with w_l = 0 or zero gradient contribution
        removed; duplicated hyperplanes merged).
    b : ndarray, shape (k,)
        Biases divided by the original row norms (same hyperplanes, same sides).
    M : ndarray, shape (k, d)
        Gradient contribution of each unit when active, m_l = (1 - alpha) a_l w_l.
    g0 : ndarray, shape (d,)
        Gradient with every unit inactive.
    d : int
    net : dict
        The original member in float64 (``W``, ``b``, ``a``, ``v``, ``alpha``), used to
        verify witnesses.
    """

    W: np.ndarray
    b: np.ndarray
    M: np.ndarray
    g0: np.ndarray
    net: dict = field(repr=False)

    @property
    def k(self) -> int:
        return self.W.shape[0]

    @property
    def d(self) -> int:
        return self.g0.shape[0]

    def gradient(self, s: np.ndarray) -> np.ndarray:
        """g0 + M^T s for patterns s: (k,) or (n, k) -> (d,) or (n, d)."""
        return self.g0 + s.astype(np.float64) @ self.M

    def pattern(self, x: np.ndarray) -> np.ndarray:
        """Activation pattern (pre-activation > 0) at x: (d,) or (n, d) -> bool (k,) or (n, k)."""
        return x @ self.W.T + self.b > 0


def network_gradient(net: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Gradient of the original member at x in float64, its pattern and its margin.

    Returns ``(grad (d,), pattern (k_member,) bool, margin)`` where ``margin`` is the
    smallest |w_l . x + b_l| / ||w_l|| over units with w_l != 0 (the distance from x to
    the nearest kink); the gradient is that of every point within ``margin`` of x.
    """
    W, b, a, v, alpha = net["W"], net["b"], net["a"], net["v"], net["alpha"]
    pre = W @ x + b
    pattern = pre > 0
    slope = np.where(pattern, 1.0, alpha)
    grad = (slope * a) @ W + v
    norms = np.linalg.norm(W, axis=1)
    live = norms > 0
    margin = float(np.min(np.abs(pre[live]) / norms[live])) if live.any() else math.inf
    return grad, pattern, margin


def member_problem(
    W: np.ndarray,
    b: np.ndarray | None,
    a: np.ndarray,
    v: np.ndarray | None,
    alpha: float,
) -> PatternProblem:
    """Reduce one member (float64 arrays of its real units) to a :class:`PatternProblem`.

    Units with w_l = 0 are constant and units with a_l = 0 do not move the gradient: both
    are dropped (the arrangement of the others has the same maximal gradient, since each
    of its regions contains a region of the full arrangement). Units on the same
    hyperplane with the same side are merged (their contributions add); units on the
    same hyperplane with opposite sides are merged with s' = 1 - s.
    """
    W = np.asarray(W, dtype=np.float64)
    k, d = W.shape
    b = np.zeros(k) if b is None else np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    v = np.zeros(d) if v is None else np.asarray(v, dtype=np.float64)
    net = {"W": W.copy(), "b": b.copy(), "a": a.copy(), "v": v.copy(), "alpha": float(alpha)}
    norms = np.linalg.norm(W, axis=1)
    g0 = v + alpha * (a @ W)
    M = (1.0 - alpha) * a[:, None] * W
    keep = (norms > 0) & (np.abs(a) > 0) & (alpha != 1.0)
    Wn = W[keep] / norms[keep, None]
    bn = b[keep] / norms[keep]
    M = M[keep]
    # merge units on one hyperplane (same side: add; opposite side: s' = 1 - s)
    if len(Wn) > 1:
        key = np.c_[Wn, bn]
        flip = _canonical_sign(key)
        canon = key * flip[:, None]
        order = np.lexsort(canon.T[::-1])
        canon_sorted = canon[order]
        same = np.all(np.abs(np.diff(canon_sorted, axis=0)) <= 1e-12, axis=1)
        if same.any():
            groups: list[list[int]] = [[int(order[0])]]
            for i, dup in enumerate(same):
                if dup:
                    groups[-1].append(int(order[i + 1]))
                else:
                    groups.append([int(order[i + 1])])
            W_new, b_new, M_new = [], [], []
            for group in groups:
                head = group[0]
                m = np.zeros(d)
                for j in group:
                    if flip[j] == flip[head]:
                        m += M[j]
                    else:  # opposite side: s_j = 1 - s_head
                        g0 = g0 + M[j]
                        m -= M[j]
                if np.any(m != 0):
                    W_new.append(Wn[head])
                    b_new.append(bn[head])
                    M_new.append(m)
            Wn = np.array(W_new).reshape(-1, d)
            bn = np.array(b_new)
            M = np.array(M_new).reshape(-1, d)
    return PatternProblem(W=Wn, b=bn, M=M, g0=g0, net=net)


def _canonical_sign(rows: np.ndarray) -> np.ndarray:
    """+1 or -1 per row so that the first entry of larger magnitude than 1e-12 is positive."""
    sign = np.ones(len(rows))
    for i, row in enumerate(rows):
        nz = np.flatnonzero(np.abs(row) > 1e-12)
        if len(nz) and row[nz[0]] < 0:
            sign[i] = -1.0
    return sign


@dataclass
class Margin:
    """Outcome of a realizability LP: the largest margin t and a point attaining it."""

    t: float
    x: np.ndarray | None

    @property
    def empty(self) -> bool:
        """No point has a margin above INFEASIBLE_MARGIN (the region is empty or thinner
        than the resolution)."""
        return self.t <= INFEASIBLE_MARGIN

    @property
    def witness(self) -> bool:
        return self.x is not None and self.t > FEASIBLE_MARGIN


class RegionLP:
    """Largest margin of a partial sign pattern: max t s.t. sigma_l (w_l . x + b_l) >= t.

    With ``ball=True`` the point must also lie in the open unit ball with the same margin,
    ||x|| <= 1 - t, handled by cutting planes u . x + t <= 1 (valid outer approximations
    of the ball, shared by all calls). t is capped at 1.

    Parameters
    ----------
    W : ndarray, shape (k, d), unit rows
    b : ndarray, shape (k,)
    ball : bool
    backend : {"auto", "highs", "scipy"}
        "highs" keeps one warm-started HiGHS model (bounds change between calls); "scipy"
        calls :func:`scipy.optimize.linprog` each time.
    """

    def __init__(
        self, W: np.ndarray, b: np.ndarray, ball: bool = False, backend: str = "auto"
    ) -> None:
        self.W = W
        self.b = b
        self.k, self.d = W.shape
        self.ball = ball
        self.calls = 0
        #: store of learned no-goods (:class:`~robustlaw.lipschitz._exact_nogoods.NoGoods`):
        #: every LP that finds a region empty records its dual certificate there
        self.nogoods: NoGoods | None = None
        #: radius within which a learned certificate must hold (see NoGoods.add_certificate)
        self.certificate_radius = 1e6 * (1.0 + (float(np.max(np.abs(b))) if len(b) else 0.0))
        #: time.perf_counter() value after which :meth:`margin` stops adding cuts
        self.deadline: float | None = None
        if backend == "auto":
            backend = "highs" if _HAVE_HIGHSPY else "scipy"
        self.backend = backend
        self.cuts: list[np.ndarray] = []
        if ball:
            eye = np.eye(self.d)
            self.cuts = [row for row in np.vstack([eye, -eye])]
        if backend == "highs":
            self._setup_highs()

    # ------------------------------------------------------------------ HiGHS backend

    def _setup_highs(self) -> None:
        inf = highspy.kHighsInf
        k, d = self.k, self.d
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        lower = np.r_[np.full(d, -inf), -inf]
        upper = np.r_[np.full(d, inf), 1.0]
        cost = np.r_[np.zeros(d), -1.0]
        empty_i = np.array([], dtype=np.int32)
        h.addCols(d + 1, cost, lower, upper, 0, empty_i, empty_i, np.array([]))
        # rows 0..k-1: w.x - t >= -b (unit on); rows k..2k-1: w.x + t <= -b (unit off)
        if k:
            A = np.vstack([np.c_[self.W, -np.ones(k)], np.c_[self.W, np.ones(k)]])
            starts = np.arange(0, 2 * k * (d + 1), d + 1, dtype=np.int32)
            index = np.tile(np.arange(d + 1, dtype=np.int32), 2 * k)
            h.addRows(
                2 * k,
                np.full(2 * k, -inf),
                np.full(2 * k, inf),
                len(index),
                starts,
                index,
                A.ravel(),
            )
        self._h = h
        self._rows = 2 * k
        self._state = np.zeros(k, dtype=np.int8)
        for cut in self.cuts:
            self._add_cut_highs(cut)

    def _add_cut_highs(self, u: np.ndarray) -> None:
        inf = highspy.kHighsInf
        d = self.d
        index = np.arange(d + 1, dtype=np.int32)
        self._h.addRows(
            1,
            np.array([-inf]),
            np.array([1.0]),
            d + 1,
            np.array([0], dtype=np.int32),
            index,
            np.r_[u, 1.0],
        )
        self._rows += 1

    def _solve_highs(self, sign: np.ndarray) -> Margin:
        inf = highspy.kHighsInf
        changed = np.flatnonzero(sign != self._state)
        if len(changed):
            rows = np.r_[changed, changed + self.k].astype(np.int32)
            new = sign[changed]
            lo_on = np.where(new > 0, -self.b[changed], -inf)
            up_off = np.where(new < 0, -self.b[changed], inf)
            lower = np.r_[lo_on, np.full(len(changed), -inf)]
            upper = np.r_[np.full(len(changed), inf), up_off]
            self._h.changeRowsBounds(len(rows), rows, lower, upper)
            self._state = sign.astype(np.int8).copy()
        self._h.run()
        status = self._h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            solution = self._h.getSolution()
            sol = np.array(solution.col_value)
            if sol[-1] <= INFEASIBLE_MARGIN and self.nogoods is not None:
                duals = np.abs(np.array(solution.row_dual))
                on, off = duals[: self.k], duals[self.k : 2 * self.k]
                side = np.where(on > 0, 1, np.where(off > 0, -1, 0))
                self._learn(on + off, side, sign, duals[2 * self.k :])
            return Margin(float(sol[-1]), sol[:-1].copy())
        if status == highspy.HighsModelStatus.kInfeasible:
            return Margin(-math.inf, None)
        # anything else: retry from scratch once, then fall back to scipy
        self._h.clearSolver()
        self._h.run()
        if self._h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            sol = np.array(self._h.getSolution().col_value)
            return Margin(float(sol[-1]), sol[:-1].copy())
        return self._solve_scipy(sign)

    # ------------------------------------------------------------------ scipy backend

    def _solve_scipy(self, sign: np.ndarray) -> Margin:
        idx = np.flatnonzero(sign)
        sg = sign[idx].astype(np.float64)
        # sigma (w.x + b) >= t  <=>  -sigma w.x + t <= sigma b
        A = np.c_[-(sg[:, None] * self.W[idx]), np.ones(len(idx))]
        rhs = sg * self.b[idx]
        if self.cuts:
            C = np.array(self.cuts)
            A = np.vstack([A, np.c_[C, np.ones(len(C))]])
            rhs = np.r_[rhs, np.ones(len(C))]
        cost = np.r_[np.zeros(self.d), -1.0]
        bounds = [(None, None)] * self.d + [(None, 1.0)]
        res = linprog(
            cost,
            A_ub=A if len(A) else None,
            b_ub=rhs if len(A) else None,
            bounds=bounds,
            method="highs",
            options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
        )
        if res.status == 0:
            if res.x[-1] <= INFEASIBLE_MARGIN and self.nogoods is not None:
                mu = np.zeros(self.k)
                mu[idx] = np.abs(res.ineqlin.marginals[: len(idx)])
                side = np.zeros(self.k, dtype=np.int8)
                side[idx] = sg
                self._learn(mu, side, sign, np.abs(res.ineqlin.marginals[len(idx) :]))
            return Margin(float(res.x[-1]), res.x[:-1].copy())
        if res.status == 2:
            return Margin(-math.inf, None)
        # the solver could not decide: keep the region (upper bound), without a witness
        return Margin(1.0, None)

    def _learn(self, mu: np.ndarray, side: np.ndarray, sign: np.ndarray, nu: np.ndarray) -> None:
        """Record the dual certificate of an empty region (weights mu (k,) >= 0 on rows
        of sides ``side``, nu on the ball's cuts in order) as a no-good; its sides must be
        those of ``sign``. On the ball the certificate holds for points of the ball (the
        cuts 1 - u . x >= 0 hold there), the only points the search counts."""
        assert self.nogoods is not None
        support = mu > 0
        if not support.any() or not np.array_equal(side[support], sign[support]):
            return
        extra_w, extra_b, extra_total, radius = None, 0.0, 0.0, self.certificate_radius
        if self.ball:
            if len(nu) != len(self.cuts):
                return
            extra_w = -(nu @ np.array(self.cuts)) if len(nu) else None
            extra_b = extra_total = float(nu.sum())
            radius = 1.0
        self.nogoods.add_certificate(
            self.W,
            self.b,
            mu,
            side,
            radius,
            INFEASIBLE_MARGIN,
            extra_w,
            extra_b,
            extra_total,
        )

    # ------------------------------------------------------------------ public

    def _solve(self, sign: np.ndarray) -> Margin:
        self.calls += 1
        if self.backend == "highs":
            return self._solve_highs(sign)
        return self._solve_scipy(sign)

    def add_cut(self, u: np.ndarray) -> None:
        self.cuts.append(u)
        if self.backend == "highs":
            self._add_cut_highs(u)

    def _trim_cuts(self) -> None:
        """Keep the 2 d box cuts and the newest ``CUT_POOL * d`` tangent cuts: every LP
        row costs time, while old tangent cuts seldom spare a round (on a trained d = 10,
        k = 64 net, with about 8,000 kept cuts a margin still took 10 rounds)."""
        box = 2 * self.d
        excess = len(self.cuts) - box - CUT_POOL * self.d
        if excess <= 0:
            return
        del self.cuts[box : box + excess]
        if self.backend == "highs":
            first = 2 * self.k + box
            self._h.deleteRows(excess, np.arange(first, first + excess, dtype=np.int32))
            self._rows -= excess

    def margin(self, sign: np.ndarray, max_cuts: int = 60) -> Margin:
        """Largest margin of the partial pattern ``sign`` ((k,) in {-1, 0, +1}; 0 = free).

        With ``ball=True`` cutting planes are added until the maximizer lies in the ball
        with the margin (then ``x`` is a witness) or the outer approximation is empty
        (then the region certainly misses the ball). If neither happens within
        ``max_cuts`` rounds (or before :attr:`deadline`) the returned margin is the outer
        approximation's (an upper bound on the true margin, so the region is kept) and
        ``x`` is None.
        """
        res = self._solve(sign)
        if not self.ball or res.x is None or res.empty:
            return res
        if CUT_POOL is not None:
            self._trim_cuts()
        for _ in range(max_cuts):
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

    def point_margins(self, X: np.ndarray, sign: np.ndarray) -> np.ndarray:
        """:meth:`point_margin` of every row of X (n, d): (n,)."""
        idx = np.flatnonzero(sign)
        t = np.full(len(X), math.inf)
        if len(idx):
            t = np.min(sign[idx] * (X @ self.W[idx].T + self.b[idx]), axis=1)
        if self.ball:
            t = np.minimum(t, 1.0 - np.linalg.norm(X, axis=1))
        return t

    def point_margin(self, x: np.ndarray, sign: np.ndarray) -> float:
        """Margin of x for the partial pattern ``sign`` (and the ball, when set)."""
        idx = np.flatnonzero(sign)
        t = math.inf
        if len(idx):
            t = float(np.min(sign[idx] * (self.W[idx] @ x + self.b[idx])))
        if self.ball:
            t = min(t, 1.0 - float(np.linalg.norm(x)))
        return t
