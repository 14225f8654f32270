"""In between: one ReLU unit per group of nearby same-sign points (n/d < k <= n units).

Data on the unit sphere, labels in [-1, 1]. Points with positive labels are grouped among
themselves, points with negative labels among themselves (points labelled 0 need no unit);
group G gets one unit sign(y_G) relu(<u, x> - sigma), active on the cap {<u, x> > sigma}
that holds the group and no other data point, with value |y_i| at each x_i of the group:

    <u, x_i> - sigma = |y_i|   (i in G),        <u, x_k> - sigma <= 0   (k not in G).

Inside its cap the unit is an affine function, the "linear correction" that fits the
group's labels. Restricting u to the span of the group's points, u = X_G^T alpha, the
equalities give alpha = K^{-1} (|y_G| + sigma 1) with K = X_G X_G^T, so u(sigma) is affine
in sigma, the inequalities cut an interval of admissible sigma, and ||u(sigma)||^2 is a
convex quadratic in sigma: the admissible sigma with the smallest ||u|| is found in
closed form. A group of a single point gets u = |y_i| x_i / s_i, sigma = |y_i| (1 - s_i)/s_i
with s_i = 1 - max(0, max_k <x_i, x_k>) when that point's nearest neighbour is in front of
it (rho_i > 0): one cap unit, the sphere half of the cap interpolant with its own height.

Groups are grown greedily: from the first ungrouped point, the same-sign point (among the
``candidates`` nearest the group's centre) whose joining keeps ||u|| smallest is added,
while some point can join, up to ``group_size`` points (at most d: the points must be
linearly independent). ``group_size = 1`` gives n
units (one per non-zero label); larger groups give fewer units, k >= n / group_size.

Every unit's gradient a_l u_l is constant where it is active, so Lip over R^d and over the
sphere is at most the subset relaxation max_A ||sum_{l in A} a_l u_l||; lower bounds are
gradient norms at points (recomputed with the network).
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
from robustlaw.models.constructions._network import (
    build_family,
    evaluate,
    ramp_rd_interval,
    relu_net,
    rim_points,
    sphere_interval,
)
from robustlaw.models.two_layer import TwoLayer

__all__ = ["group_unit", "grouped_cap_interpolant"]


def group_unit(
    X: np.ndarray, values: np.ndarray, group: np.ndarray, margin: float = 0.0
) -> tuple[np.ndarray, float] | None:
    """(u, sigma) for one group (module docstring), or None when no sigma is admissible.

    X: (n, d) unit rows; values: (n,) the targets |y_i| (used on the group only);
    group: indices; margin: the other points must satisfy <u, x_k> - sigma <= -margin *
    max_G |y_i| (0: they may touch the cap's rim). The solution has the smallest ||u|| among
    u in span{x_i : i in G}.
    """
    P = X[group]
    K = P @ P.T
    try:
        chol = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        return None
    if np.linalg.cond(K) > 1e10:
        return None

    def solve(rhs: np.ndarray) -> np.ndarray:
        return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))

    target = values[group]
    ones = np.ones(len(group))
    alpha_y, alpha_1 = solve(target), solve(ones)
    # u(sigma) = P^T (alpha_y + sigma alpha_1); <u, x_k> = p_k + sigma q_k
    others = np.setdiff1d(np.arange(X.shape[0]), group)
    cross = X[others] @ P.T
    p, q = cross @ alpha_y, cross @ alpha_1
    p = p + margin * float(target.max())
    lo, hi = -math.inf, math.inf
    slope = 1.0 - q  # constraint: sigma (1 - q_k) >= p_k
    for pk, sk in zip(p, slope, strict=True):
        if abs(sk) <= 1e-14:
            if pk > 1e-12:
                return None
        elif sk > 0:
            lo = max(lo, pk / sk)
        else:
            hi = min(hi, pk / sk)
    if lo > hi:
        return None
    # ||u||^2 = (t + sigma 1)^T K^{-1} (t + sigma 1): minimized at -1^T K^-1 t / 1^T K^-1 1.
    sigma = -float(ones @ alpha_y) / float(ones @ alpha_1)
    sigma = min(max(sigma, lo), hi)
    u = P.T @ (alpha_y + sigma * alpha_1)
    return u, float(sigma)


def grouped_cap_interpolant(
    X: object,
    y: object,
    group_size: int | None = None,
    *,
    k: int | None = None,
    margin: float = 0.0,
    candidates: int = 16,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> tuple[TwoLayer, ConstructionReport]:
    """Interpolate with about n / group_size ReLU units, one cap per group (module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Data on the unit sphere.
    y : array or Tensor, shape (n,)
        Labels in [-1, 1].
    group_size : int, optional
        Largest group (1 <= group_size <= d). Give this or ``k``.
    k : int, optional
        Target number of units: group_size = ceil(m / k) with m the number of non-zero
        labels (clipped to [1, d]); the count reached is in the report (groups may stop
        short of group_size when a neighbour cannot join, so it can exceed k).
    margin : float
        Other points must stay below -margin * max_G |y_i| on each group's unit (0: they
        may touch its cap's rim). A positive margin shrinks the caps relative to their
        neighbours (less overlap between groups) at the price of steeper units.
    candidates : int
        How many of the nearest same-sign points are tried at each step of a group's growth.
    seed : int
        Seeds the rim points used for the sphere lower bound and the relaxation.

    Returns
    -------
    family : TwoLayer
        One member, ReLU, no output bias; one unit per group.
    report : ConstructionReport
        ``details`` holds the groups, group_size and the units' (sigma, ||u||);
        ``lipschitz`` the sphere and R^d intervals.
    """
    Xn, yn = validate_data(X, y, sphere=True)
    dtype = check_dtype(dtype)
    n, d = Xn.shape
    nonzero = np.flatnonzero(yn != 0)
    if (group_size is None) == (k is None):
        raise ValueError(f"give exactly one of group_size and k, got {group_size=}, {k=}")
    if k is not None:
        k = check_positive_int("k", k)
        size = min(d, max(1, math.ceil(len(nonzero) / k)))
    else:
        size = check_positive_int("group_size", group_size)
        if size > d:
            raise ValueError(f"group_size must be at most d = {d}, got {group_size}")
    candidates = check_positive_int("candidates", candidates)
    if (
        isinstance(margin, bool)
        or not isinstance(margin, int | float)
        or not math.isfinite(margin)
        or margin < 0
    ):
        raise ValueError(f"margin must be a non-negative number, got {margin!r}")
    margin = float(margin)
    values = np.abs(yn)
    groups: list[np.ndarray] = []
    units: list[tuple[np.ndarray, float, float]] = []
    for sign in (1.0, -1.0):
        remaining = [int(i) for i in nonzero if np.sign(yn[i]) == sign]
        while remaining:
            group = [remaining[0]]
            solution = group_unit(Xn, values, np.array(group), margin)
            if solution is None:
                raise ValueError(
                    f"X[{group[0]}] cannot get its own cap: another data point is too close"
                )
            while len(group) < size:
                # Among the same-sign points nearest the group's centre, the one whose
                # joining keeps ||u|| smallest; stop when none can join.
                centre = Xn[group].sum(axis=0)
                pool = sorted(
                    (j for j in remaining if j not in group), key=lambda j: -float(Xn[j] @ centre)
                )[:candidates]
                best = None
                for j in pool:
                    trial = group_unit(Xn, values, np.array([*group, j]), margin)
                    if trial is not None and (best is None or _norm(trial) < _norm(best[1])):
                        best = (j, trial)
                if best is None:
                    break
                group.append(best[0])
                solution = best[1]
            groups.append(np.array(group))
            units.append((solution[0], solution[1], sign))
            remaining = [i for i in remaining if i not in group]
    if units:
        W = np.array([u for u, _, _ in units])
        b = np.array([-sigma for _, sigma, _ in units])
        a = np.array([sign for _, _, sign in units])
    else:
        W, b, a = np.zeros((1, d)), np.array([-1.0]), np.array([0.0])
    family = build_family(
        W,
        b,
        a,
        None,
        "relu",
        {"construction": "grouped_caps", "group_size": size, "margin": margin},
        dtype,
        device,
    )
    error = float(np.abs(evaluate(family, Xn) - yn).max())
    lipschitz: dict[str, LipschitzInterval] = {}
    if units:
        half = np.full(W.shape[0], math.inf)
        rd, witness, relaxation = ramp_rd_interval(relu_net(family), W, b, half, a, seed)
        norms = np.linalg.norm(W, axis=1)
        rng = np.random.default_rng(seed)
        starts = [Xn, rim_points(W / norms[:, None], -b / norms, 16, rng)]
        if witness is not None:
            starts.append(witness[None])
        lipschitz["rd"] = rd
        lipschitz["sphere"] = sphere_interval(
            relu_net(family), W, b, half, a, relaxation, starts, seed
        )
    else:
        zero = "constant network"
        lipschitz = {
            "rd": LipschitzInterval("rd", 0.0, 0.0, zero, zero, True),
            "sphere": LipschitzInterval("sphere", 0.0, 0.0, zero, zero, True),
        }
    k_used = W.shape[0]
    report = ConstructionReport(
        construction="grouped_caps",
        n=n,
        d=d,
        neurons=k_used,
        params=theory.two_layer_param_count(d, k_used, hidden_bias=True, output_bias=False),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="each group's cap {<u, x> > sigma} holds no other data point "
        "(checked while the groups are built)",
        condition_met=True,
        lipschitz=lipschitz,
        details={
            "group_size": size,
            "margin": margin,
            "groups": [g.tolist() for g in groups],
            "sigma": [s for _, s, _ in units],
            "unit_norms": [float(np.linalg.norm(u)) for u, _, _ in units],
        },
    )
    return family, report


def _norm(solution: tuple[np.ndarray, float]) -> float:
    return float(np.linalg.norm(solution[0]))
