"""Cone interpolants on the sphere: each data point's own cap with a piecewise-linear
profile, units spent where the data are tight.

For data x_i on the unit sphere S^{d-1} and labels y_i in [-1, 1], point i gets m_i ReLU
units sharing the direction w_i = x_i / ||x_i||^2 (so <w_i, x_i> = 1):

    f(x) = sum_i y_i h_i(<w_i, x>),   h_i(t) = sum_{p < m_i} alpha_ip relu(t - tau_ip),

with thresholds 1 > tau_i(m-1) > ... > tau_i0 = cos r_i and h_i(1) = 1, so f(x_i) = y_i
when no cap C_i = {<w_i, x> > tau_i0} holds another data point. The caps are made pairwise
disjoint (angular radii r_i + r_j <= theta_ij, r_i <= pi/2); then every point of the sphere
sees at most one cap and the Lipschitz constant on the sphere is a closed form.

**Closed form.** On cap C_i the tangential gradient of y_i h_i(<w_i, x>) has norm
|y_i| h_i'(t) sqrt(||w_i||^2 - t^2) (t = <w_i, x>); on piece p (tau_ip < t < tau_i(p+1)) h_i'
is the constant slope sigma_ip = sum_{q <= p} alpha_iq and sqrt(||w_i||^2 - t^2) is
largest at the piece's lower end (t >= 0), so

    Lip_sphere(f) = max_{i, p} |y_i| sigma_ip sqrt(||w_i||^2 - tau_ip^2),

a supremum approached from inside the lower end of a piece (docs/constructions.md).

**Profile.** With angles r_i = phi_0 > phi_1 > ... > phi_m = 0 (tau_p = cos phi_p) and every
piece at the same value L at its lower end (sigma_p = L / sin phi_p), h(1) = 1 gives
L = 1 / S_m with S_m = sum_p (cos phi_(p+1) - cos phi_p) / sin phi_p, a left Riemann sum of
int_0^r d(phi) = r: one piece gives the parabolic cap, cot(r/2) (the 2n-unit cap
interpolant's constant), many pieces tend to the cone's 1 / r. The angles maximizing S_m
solve sin phi_p / sin phi_(p-1) = (1 - cos phi_p cos phi_(p+1)) / sin^2 phi_p (stationarity),
found by shooting on phi_1.

**Allocation.** Radii start at half the nearest-neighbour angle and grow into the slack
left by their neighbours (r_i = min_j theta_ij - r_j, tightest points first); then the
smallest L for which sum_i m_i(L) <= k units suffice is found by bisection, m_i(L) the
fewest pieces with |y_i| / S_m(r_i) <= L. Points with y_i = 0 get no unit.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robustlaw import theory
from robustlaw.models.constructions._common import (
    INTERPOLATION_TOL,
    ConstructionReport,
    LipschitzInterval,
    check_dtype,
    check_positive_int,
    validate_data,
)
from robustlaw.models.constructions._network import build_family, evaluate
from robustlaw.models.constructions.caps import cap_weights
from robustlaw.models.two_layer import TwoLayer

__all__ = ["cone_interpolant", "cone_lipschitz_sphere", "cone_profile"]

#: Most pieces (units) one point's cap may get.
MAX_PIECES = 16


def _shoot(r: np.ndarray, phi1: np.ndarray, m: int) -> np.ndarray:
    """Angles phi_0..phi_m from phi_0 = r, phi_1 by the stationarity recurrence; NaN once
    the recurrence leaves (0, pi/2) (phi_1 too small); (len(r), m + 1)."""
    phis = np.full((len(r), m + 1), np.nan)
    phis[:, 0], phis[:, 1] = r, phi1
    for p in range(1, m):
        prev, cur = phis[:, p - 1], phis[:, p]
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (1.0 - np.sin(cur) ** 3 / np.sin(prev)) / np.cos(cur)
            phis[:, p + 1] = np.where(c < 1.0, np.arccos(np.clip(c, -1.0, 1.0)), -1.0)
    return phis


def cone_profile(r: np.ndarray | float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The best m-piece profile on caps of angular radius r (array (P,) or float).

    Returns (S (P,), phis (P, m + 1)): S_m and its angles r = phi_0 > ... > phi_m = 0; the
    profile's constant on the sphere is |y| / S_m. Any angles give an interpolant; these
    maximize S_m (to the bisection's precision).
    """
    r = np.atleast_1d(np.asarray(r, dtype=np.float64))
    if m == 1:
        return np.tan(r / 2.0), np.stack([r, np.zeros_like(r)], axis=1)
    lo, hi = np.zeros_like(r), r.copy()
    for _ in range(100):  # phi_1 too small: the recurrence reaches 0 before step m
        mid = 0.5 * (lo + hi)
        last = _shoot(r, mid, m)[:, m]
        early = ~(last > 0.0)  # NaN or negative: reached 0 early
        lo, hi = np.where(early, mid, lo), np.where(early, hi, mid)
    phis = _shoot(r, hi, m)
    phis[:, m] = 0.0
    bad = ~np.isfinite(phis).all(axis=1) | (np.diff(phis, axis=1) >= 0).any(axis=1)
    if bad.any():  # the recurrence lost precision: coordinate ascent from an even split
        phis[bad] = _ascend(r[bad, None] * np.linspace(1.0, 0.0, m + 1)[None, :])
    return _riemann(phis), phis


def _riemann(phis: np.ndarray) -> np.ndarray:
    """S_m = sum_p (cos phi_(p+1) - cos phi_p) / sin phi_p of angles (P, m + 1)."""
    c, s = np.cos(phis), np.sin(phis[:, :-1])
    return ((c[:, 1:] - c[:, :-1]) / s).sum(axis=1)


def _ascend(phis: np.ndarray) -> np.ndarray:
    """Raise S_m over the interior angles of every row at once (L-BFGS-B on the sum, which
    separates by row; the gradient in phi_p is -sin phi_p / sin phi_(p-1)
    + (1 - cos phi_p cos phi_(p+1)) / sin^2 phi_p); rows whose result is not decreasing
    or not better keep their start. (P, m + 1) -> same."""
    from scipy.optimize import minimize

    start = phis.copy()
    P, m1 = phis.shape
    top = np.repeat(phis[:, :1], m1 - 2, axis=1)

    def full(x: np.ndarray) -> np.ndarray:
        out = start.copy()
        out[:, 1:-1] = x.reshape(P, m1 - 2)
        return out

    def value_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        f = full(x)
        c, s = np.cos(f), np.sin(f)
        grad = -s[:, 1:-1] / s[:, :-2] + (1.0 - c[:, 1:-1] * c[:, 2:]) / s[:, 1:-1] ** 2
        return -float(_riemann(f).sum()), -grad.reshape(-1)

    bounds = list(zip((1e-9 * top).reshape(-1), (top * (1 - 1e-9)).reshape(-1), strict=True))
    options = {"maxiter": 300, "gtol": 1e-10, "ftol": 1e-13}
    x0 = start[:, 1:-1].reshape(-1)
    res = minimize(value_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    out = full(res.x)
    ok = (np.diff(out, axis=1) < 0).all(axis=1) & (_riemann(out) >= _riemann(start))
    out[~ok] = start[~ok]
    return out


def _radii(theta: np.ndarray) -> np.ndarray:
    """Angular radii with r_i + r_j <= theta_ij for all i != j and r_i <= pi/2."""
    n = theta.shape[0]
    if n == 1:
        return np.array([math.pi / 2])
    T = theta + np.diag(np.full(n, np.inf))
    nn = T.min(axis=1)
    r = np.minimum(nn / 2.0, math.pi / 2)
    for _ in range(3):
        for i in np.argsort(nn, kind="stable"):
            others = T[i] - r
            others[i] = np.inf
            r[i] = min(math.pi / 2, float(others.min()))
    return r * (1.0 - 1e-9)


def cone_lipschitz_sphere(W: np.ndarray, b: np.ndarray, a: np.ndarray, groups: np.ndarray) -> float:
    """max over pieces of |sigma| sqrt(||w||^2 - tau^2) from the built units: W (k, d),
    b (k,) (= -tau), a (k,), groups (k,) the point each unit belongs to (units of a group
    share w and are sorted by threshold)."""
    best = 0.0
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        idx = idx[np.argsort(-b[idx], kind="stable")]  # thresholds tau = -b ascending
        sigma = np.cumsum(a[idx])
        w2 = float(W[idx[0]] @ W[idx[0]])
        tau = -b[idx]
        best = max(best, float(np.max(np.abs(sigma) * np.sqrt(np.maximum(w2 - tau**2, 0.0)))))
    return best


def cone_interpolant(
    X: object,
    y: object,
    k: int | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> tuple[TwoLayer, ConstructionReport]:
    """The cone interpolant with at most ``k`` units (see the module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Data on the unit sphere (| ||x_i|| - 1 | <= 1e-6), no duplicates.
    y : array or Tensor, shape (n,)
        Labels in [-1, 1].
    k : int, optional
        Unit budget, at least the number of points with y_i != 0 (default 3n).
    dtype, device
        Of the returned family's tensors.

    Returns
    -------
    family : TwoLayer
        One member with sum_i m_i <= k ReLU units (tags ``construction = "cones"``).
    report : ConstructionReport
        ``lipschitz["sphere"]``: the closed form (exact); ``lipschitz["rd"]``: the sphere
        value (a lower bound: the tangential gradient is part of the gradient) and the path
        norm (an upper bound). ``details``: pieces per point, radii, the target constant.
    """
    Xn, yn = validate_data(X, y, sphere=True)
    dtype = check_dtype(dtype)
    n, d = Xn.shape
    live = np.flatnonzero(yn != 0.0)
    k = 3 * n if k is None else check_positive_int("k", k)
    if k < len(live):
        raise ValueError(
            f"k must be at least the number of points with y_i != 0 ({len(live)}), got {k}"
        )
    norms = np.linalg.norm(Xn, axis=1)
    U = Xn / norms[:, None]
    theta = np.arccos(np.clip(U @ U.T, -1.0, 1.0))
    r = _radii(theta)
    profiles = [cone_profile(r, m) for m in range(1, MAX_PIECES + 1)]  # S (n,), phis (n, m+1)
    table = np.stack([S for S, _ in profiles], axis=1)
    need = np.abs(yn)

    def pieces(L: float) -> np.ndarray | None:
        ok = table * L >= need[:, None] * (1.0 - 1e-12)
        ok[need == 0] = True
        if not ok.any(axis=1).all():
            return None
        m = ok.argmax(axis=1) + 1
        m[need == 0] = 0
        return m

    lo = float((need[live] / table[live, -1]).max()) if len(live) else 0.0
    hi = float((need[live] / table[live, 0]).max()) if len(live) else 0.0
    if len(live) and pieces(lo) is not None and pieces(lo).sum() <= k:
        hi = lo
    for _ in range(80):
        if hi - lo <= 1e-12 * max(hi, 1.0):
            break
        mid = 0.5 * (lo + hi)
        m = pieces(mid)
        if m is not None and m.sum() <= k:
            hi = mid
        else:
            lo = mid
    m = pieces(hi) if len(live) else np.zeros(n, dtype=int)
    weights = cap_weights(Xn)
    Ws, bs, as_, groups = [], [], [], []
    for i in np.flatnonzero(m > 0):
        phis = profiles[int(m[i]) - 1][1][i : i + 1]
        # thresholds on t = <w_i, x>, ||w_i|| = 1 / ||x_i||: the cap's angle is r_i exactly
        tau = np.cos(phis[0, :-1]) / norms[i]
        alpha = np.diff(np.concatenate([[0.0], 1.0 / np.sin(phis[0, :-1])]))
        alpha = alpha / float(alpha @ (1.0 - tau))  # h_i(<w_i, x_i>) = h_i(1) = 1
        for p in range(int(m[i])):
            Ws.append(weights[i])
            bs.append(-tau[p])
            as_.append(yn[i] * alpha[p])
            groups.append(i)
    if not Ws:  # every label is 0: one idle unit
        Ws, bs, as_, groups = [weights[0]], [0.0], [0.0], [0]
    W, b, a, groups = np.array(Ws), np.array(bs), np.array(as_), np.array(groups)
    family = build_family(W, b, a, None, "relu", {"construction": "cones"}, dtype, device)
    error = float(np.abs(evaluate(family, Xn) - yn).max())
    value = cone_lipschitz_sphere(W, b, a, groups)
    used = np.unique(groups)
    tau0 = np.array([-b[groups == g].max() for g in used])
    radius = np.arccos(np.clip(tau0 * norms[used], -1.0, 1.0))
    gap = theta[np.ix_(used, used)] - radius[:, None] - radius[None, :]
    np.fill_diagonal(gap, np.inf)
    if (gap < 0).any() or (tau0 < 0).any():
        raise RuntimeError("cone caps overlap after rounding; the closed form would not hold")
    sphere = LipschitzInterval.closed_form(
        "sphere", value, "closed form max |y_i| sigma_ip sqrt(||w_i||^2 - tau_ip^2) (disjoint caps)"
    )
    path = float(np.sum(np.abs(a) * np.linalg.norm(W, axis=1)))
    rd = LipschitzInterval(
        "rd", value, path, "sphere closed form (tangential part of the gradient)", "path norm"
    )
    report = ConstructionReport(
        construction="cones",
        n=n,
        d=d,
        neurons=int(W.shape[0]),
        params=theory.two_layer_param_count(
            d, int(W.shape[0]), hidden_bias=True, output_bias=False
        ),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="pairwise disjoint caps: r_i + r_j <= theta_ij (always arranged)",
        condition_met=True,
        lipschitz={"sphere": sphere, "rd": rd},
        details={
            "pieces": m.tolist(),
            "radii": radius.tolist(),
            "target": hi,
            "units_budget": k,
        },
    )
    return family, report
