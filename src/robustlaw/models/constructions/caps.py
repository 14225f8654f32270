"""The large end with ReLU units: the 2n-unit cap interpolant on the sphere.

For data x_i on the unit sphere S^{d-1} and labels y_i in [-1, 1],

    phi_i(x) = (1/s) [relu(<x_i, x> - (1 - s)) - relu(<x_i, x> - 1)],
    f(x) = sum_i y_i phi_i(x)                                        (docs/science.md section 4)

As a function of t = <x_i, x>, phi_i is 0 for t <= 1 - s, (t - 1 + s)/s on the slab
1 - s < t < 1 and 1 for t >= 1; on the sphere t <= 1 with equality only at x = x_i, so
phi_i(x_i) = 1 and phi_i vanishes outside the open cap C_i = {<x_i, x> > 1 - s}.
f interpolates exactly when no cap C_i holds another data point, i.e.
s <= 1 - max_{i != j} <x_i, x_j>.

Lipschitz constants (derivations in docs/constructions.md):

- sphere, disjoint caps (max_{i != j} <x_i, x_j> <= 2 (1 - s)^2 - 1): the tangential
  gradient of t is x_i - t x, of norm sqrt(1 - t^2), which on the cap (t in (1 - s, 1],
  t >= 0 since s <= 1) is largest at the rim t -> 1 - s, so

      Lip_sphere(f) = max_i |y_i| sqrt(2 s - s^2) / s = max_i |y_i| sqrt(2/s - 1);

- R^d: grad f(x) = (1/s) sum_{i in A(x)} y_i x_i with A(x) the slabs holding x; the
  slabs of non-parallel units always meet off the sphere, so

      Lip_rd(f) = (1/s) max_{A realizable} || sum_{i in A} y_i x_i ||,

  which equals (1/s) max over all subsets A when the x_i are linearly independent
  (every pattern is then realizable; for orthonormal x_i it is ||y||_2 / s), and is
  bounded above by that maximum in general.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robustlaw import theory
from robustlaw.models.constructions._bounds import max_subset_sum_norm
from robustlaw.models.constructions._common import (
    INTERPOLATION_TOL,
    ConstructionReport,
    LipschitzInterval,
    check_dtype,
    check_unit_interval_closed_right,
    max_inner_product,
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

__all__ = [
    "cap_interpolant",
    "cap_lipschitz_rd",
    "cap_lipschitz_sphere",
    "cap_s_disjoint",
    "cap_s_max",
    "cap_weights",
]


def cap_weights(X: np.ndarray) -> np.ndarray:
    """The units' weight vectors w_i = x_i / ||x_i||^2 (= x_i for unit data).

    <w_i, x_i> = 1 whatever the rounding of ||x_i||, so phi_i(x_i) = 1 exactly for data
    that are on the sphere only up to the 1e-6 tolerance (float32-normalized data, say);
    with w_i = x_i the error would be | ||x_i||^2 - 1 | / s.
    """
    X = np.asarray(X, dtype=np.float64)
    return X / (X * X).sum(axis=1, keepdims=True)


def cap_s_max(X: np.ndarray) -> float:
    """The largest s in (0, 1] for which no open cap {<w_i, x> > 1 - s} holds another
    data point: min(1, 1 - max_{i != j} <w_i, x_j>) (1 for a single point), with the unit
    weights w_i of :func:`cap_weights` (w_i = x_i for unit data).

    X: (n, d) rows on the sphere. Raises ValueError when two points are so close that no s
    is left.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] < 2:
        return 1.0
    G = cap_weights(X) @ X.T
    np.fill_diagonal(G, -np.inf)
    rho = float(G.max())
    s = 1.0 if rho == -math.inf else min(1.0, 1.0 - rho)
    if s <= 0.0:
        raise ValueError(
            f"X has points too close for caps: max <x_i, x_j> = {rho!r} leaves no s in (0, 1]"
        )
    return s


def cap_s_disjoint(X: np.ndarray) -> float:
    """The largest s in (0, 1] for which the open caps {<x_i, x> > 1 - s} are pairwise
    disjoint: caps of angular radius theta_s = arccos(1 - s) around points at angle
    theta_ij are disjoint iff theta_ij >= 2 theta_s, i.e. (1 - s)^2 >= (1 + <x_i, x_j>)/2,
    so s = min(1, 1 - sqrt((1 + rho) / 2)) with rho = max_{i != j} <x_i, x_j>.
    """
    rho = max_inner_product(np.asarray(X, dtype=np.float64))
    if rho == -math.inf:
        return 1.0
    clipped = min(1.0, max(-1.0, rho))
    s = min(1.0, 1.0 - math.sqrt((1.0 + clipped) / 2.0))
    if s <= 0.0:
        raise ValueError(f"X has points too close for disjoint caps: max <x_i, x_j> = {rho!r}")
    # Step just below the threshold so that rounding cannot leave two caps overlapping
    # (an overlap, however thin, adds two rim gradients and breaks the closed form).
    while not _caps_disjoint(rho, s):
        s *= 1.0 - 1e-9
    return s


def _caps_disjoint(rho: float, s: float) -> bool:
    """Open caps of height s around points with max inner product rho are disjoint.

    Caps at angular distance exactly 2 theta_s touch in one point and stay disjoint.
    """
    return rho <= 2.0 * (1.0 - s) ** 2 - 1.0


def cap_lipschitz_sphere(s: float, y_max: float = 1.0) -> float:
    """Lip over the sphere of the cap interpolant with disjoint caps: y_max sqrt(2s - s^2)/s.

    Attained (as a one-sided limit) at the rim <x_i, x> = 1 - s of the cap of a point with
    |y_i| = y_max, where the tangential gradient norm sqrt(1 - t^2)/s of t = <x_i, x> is
    largest over the cap.
    """
    s = check_unit_interval_closed_right("s", s)
    if isinstance(y_max, bool) or not 0.0 <= float(y_max) <= 1.0:
        raise ValueError(f"y_max must lie in [0, 1], got {y_max!r}")
    return float(y_max) * math.sqrt(2.0 * s - s * s) / s


def cap_lipschitz_rd(X: object, y: object, s: float) -> tuple[float, bool]:
    """(1/s) max over subsets A of || sum_{i in A} y_i x_i || and whether it is exact.

    An upper bound on Lip over R^d of the cap interpolant; its exact value when the x_i
    are linearly independent (every slab pattern is then realizable: the values
    <x_i, x> can be set independently). For orthonormal x_i it equals ||y||_2 / s.
    The maximum over subsets is computed exactly by enumeration (n <= 20) or over the
    central arrangement (d <= 3), otherwise bounded; the second value says whether the
    number returned is the exact Lipschitz constant.
    """
    Xn, yn = validate_data(X, y, sphere=True)
    s = check_unit_interval_closed_right("s", s)
    bound = max_subset_sum_norm((yn / s)[:, None] * cap_weights(Xn))
    independent = bool(np.linalg.matrix_rank(Xn) == Xn.shape[0])
    return float(bound.upper), bool(bound.exact and independent)


def cap_interpolant(
    X: object,
    y: object,
    s: float | str | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    seed: int = 0,
) -> tuple[TwoLayer, ConstructionReport]:
    """The 2n-unit cap interpolant f = sum_i y_i phi_i (see the module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Data on the unit sphere (| ||x_i|| - 1 | <= 1e-6).
    y : array or Tensor, shape (n,)
        Labels in [-1, 1].
    s : float in (0, 1], "max", "disjoint" or None
        Cap height. None or "max": :func:`cap_s_max`, the largest s that interpolates;
        "disjoint": :func:`cap_s_disjoint`, the largest s with pairwise disjoint caps
        (where the sphere closed form applies).
    dtype, device
        Of the returned family's tensors.
    seed : int
        Seeds the random rim points used for the sphere lower bound.

    Returns
    -------
    family : TwoLayer
        One member with 2n ReLU units: unit 2i is (x_i, -(1 - s)) with output weight
        y_i / s, unit 2i + 1 is (x_i, -1) with output weight -y_i / s (x_i / ||x_i||^2
        in place of x_i, see :func:`cap_weights`).
    report : ConstructionReport
        ``details`` holds s, s_max, s_disjoint, caps_disjoint, max_inner_product and the
        cap's angular radius; ``lipschitz`` the sphere and R^d intervals.
    """
    Xn, yn = validate_data(X, y, sphere=True)
    dtype = check_dtype(dtype)
    n, d = Xn.shape
    s_max = cap_s_max(Xn)
    s_disjoint = cap_s_disjoint(Xn)
    if s is None or s == "max":
        s_value = s_max
    elif s == "disjoint":
        s_value = s_disjoint
    elif isinstance(s, str):
        raise ValueError(f"s must be a number in (0, 1], 'max', 'disjoint' or None; got {s!r}")
    else:
        s_value = check_unit_interval_closed_right("s", s)
    rho = max_inner_product(Xn)
    disjoint = n == 1 or _caps_disjoint(rho, s_value)
    weights = cap_weights(Xn)
    W = np.repeat(weights, 2, axis=0)
    b = np.tile([-(1.0 - s_value), -1.0], n)
    a = np.stack([yn / s_value, -yn / s_value], axis=1).reshape(-1)
    family = build_family(
        W, b, a, None, "relu", {"construction": "caps", "s": s_value}, dtype, device
    )
    error = float(np.abs(evaluate(family, Xn) - yn).max())
    y_max = float(np.abs(yn).max())

    # Pair i is a ramp: gradient (y_i / s) w_i on the slab |<w_i, x> - (1 - s/2)| < s/2.
    rd, rd_witness_point, relaxation = ramp_rd_interval(
        relu_net(family),
        weights,
        np.full(n, -(1.0 - s_value / 2.0)),
        np.full(n, s_value / 2.0),
        yn / s_value,
        seed,
    )
    if disjoint:
        sphere = LipschitzInterval.closed_form(
            "sphere",
            y_max * math.sqrt(2.0 * s_value - s_value**2) / s_value,
            "closed form max|y_i| sqrt(2s - s^2)/s (disjoint caps)",
        )
    else:
        rng = np.random.default_rng(seed)
        unit = Xn / np.linalg.norm(Xn, axis=1, keepdims=True)
        starts = [unit, rim_points(unit, np.full(n, 1.0 - s_value), 16, rng)]
        if rd_witness_point is not None:
            starts.append(rd_witness_point[None])
        sphere = sphere_interval(
            relu_net(family),
            weights,
            np.full(n, -(1.0 - s_value / 2.0)),
            np.full(n, s_value / 2.0),
            yn / s_value,
            relaxation,
            starts,
            seed,
        )
    report = ConstructionReport(
        construction="caps",
        n=n,
        d=d,
        neurons=2 * n,
        params=theory.two_layer_param_count(d, 2 * n, hidden_bias=True, output_bias=False),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="no open cap {<x_i, x> > 1 - s} holds another data point: "
        "s <= 1 - max_{i != j} <x_i, x_j>",
        condition_met=bool(s_value <= s_max),
        lipschitz={"sphere": sphere, "rd": rd},
        details={
            "s": s_value,
            "s_max": s_max,
            "s_disjoint": s_disjoint,
            "caps_disjoint": bool(disjoint),
            "max_inner_product": None if n == 1 else rho,
            "cap_angle": math.acos(1.0 - s_value),
            "linearly_independent": bool(np.linalg.matrix_rank(Xn) == n),
        },
    )
    return family, report
