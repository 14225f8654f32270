"""The large end with a smooth interpolant: radial bumps (a Kirszbraun-type extension).

    f(x) = sum_i y_i g(||x - x_i||),   g(r) = (1 - r^2 / r0^2)^2 for r < r0, 0 for r >= r0.

g(0) = 1, g is C^1 on [0, inf) (g(r0) = g'(r0) = 0) and C^inf inside the ball, and
g(||z||) is a polynomial in ||z||^2 there, so f is C^1 on R^d. |g'(r)| = 4 r (1 - r^2/r0^2)
/ r0^2 is largest at r = r0 / sqrt(3), where it equals 8 / (3 sqrt(3) r0). When the data
are pairwise at least 2 r0 apart the open balls B(x_i, r0) are disjoint, so at every x at
most one term is non-zero and

    Lip(f) = max_i |y_i| * 8 / (3 sqrt(3) r0)          (over R^d),

attained on the sphere ||x - x_i|| = r0 / sqrt(3) around a point with the largest |y_i|.
The interpolant only needs r0 <= min_{i != j} ||x_i - x_j|| (g vanishes beyond r0).

This is **not** a two-layer network of F_k(psi): f is a sum of n radial functions, with
p = n (d + 1) parameters (the centres and the labels). It is returned as a small
``torch.nn.Module`` with its own exact input gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from robustlaw.models.constructions._common import (
    INTERPOLATION_TOL,
    ConstructionReport,
    LipschitzInterval,
    check_dtype,
    check_positive,
    min_distance,
    validate_data,
)

__all__ = ["BUMP_SLOPE", "RadialBumpInterpolant", "radial_bump_interpolant"]

#: max_r |g'(r)| * r0 for g(r) = (1 - r^2/r0^2)^2: 8 / (3 sqrt 3), attained at r = r0/sqrt 3.
BUMP_SLOPE = 8.0 / (3.0 * math.sqrt(3.0))


class RadialBumpInterpolant(nn.Module):
    """f(x) = sum_i y_i g(||x - x_i||) with the C^1 bump g(r) = (1 - r^2/r0^2)_+^2.

    Not a member of F_k: a sum of radial functions, p = n (d + 1) parameters.

    Parameters
    ----------
    centers : Tensor, shape (n, d)
    labels : Tensor, shape (n,)
    r0 : float
        Support radius of each bump.

    Attributes
    ----------
    centers, labels : buffers
    r0 : float
    """

    def __init__(self, centers: Tensor, labels: Tensor, r0: float) -> None:
        super().__init__()
        self.register_buffer("centers", centers)
        self.register_buffer("labels", labels)
        self.r0 = float(r0)

    @property
    def d(self) -> int:
        return self.centers.shape[1]

    @property
    def n(self) -> int:
        return self.centers.shape[0]

    @property
    def param_count(self) -> int:
        """n (d + 1): the centres and the labels."""
        return self.n * (self.d + 1)

    @property
    def lipschitz_constant(self) -> float:
        """max|y_i| * 8 / (3 sqrt 3 r0): exact over R^d when the bumps' supports are
        disjoint (points pairwise >= 2 r0 apart), an upper bound times the largest number
        of overlapping supports otherwise."""
        return float(self.labels.abs().max()) * BUMP_SLOPE / self.r0

    def _check(self, X: Tensor) -> None:
        if not isinstance(X, Tensor):
            raise TypeError(f"X must be a torch tensor, got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must have shape (m, {self.d}), got {tuple(X.shape)}")

    def _blocks(self, X: Tensor, chunk: int = 4096):
        for start in range(0, X.shape[0], chunk):
            block = X[start : start + chunk]
            diff = block[:, None, :] - self.centers[None, :, :]  # (m, n, d)
            q = (diff * diff).sum(dim=2) / (self.r0 * self.r0)  # ||x - x_i||^2 / r0^2
            yield diff, q

    def forward(self, X: Tensor) -> Tensor:
        """f at the rows of X. X: (m, d) -> (m,)."""
        self._check(X)
        out = []
        for _, q in self._blocks(X):
            g = torch.clamp(1.0 - q, min=0.0) ** 2
            out.append(g @ self.labels)
        return torch.cat(out)

    def input_gradient(self, X: Tensor) -> Tensor:
        """grad f at the rows of X, in closed form. X: (m, d) -> (m, d).

        d/dx (1 - ||x - x_i||^2 / r0^2)^2 = -4 (1 - ||x - x_i||^2 / r0^2) (x - x_i) / r0^2
        inside the ball, 0 outside.
        """
        self._check(X)
        out = []
        for diff, q in self._blocks(X):
            coef = -4.0 * torch.clamp(1.0 - q, min=0.0) / (self.r0 * self.r0) * self.labels
            out.append(torch.einsum("mn,mnd->md", coef, diff))
        return torch.cat(out)

    def extra_repr(self) -> str:
        return f"n={self.n}, d={self.d}, r0={self.r0:.6g}"


def radial_bump_interpolant(
    X: object,
    y: object,
    r0: float | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> tuple[RadialBumpInterpolant, ConstructionReport]:
    """The radial-bump interpolant f = sum_i y_i g(||x - x_i||) (module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Any distinct points (the sphere is not required).
    y : array or Tensor, shape (n,)
        Labels in [-1, 1].
    r0 : float, optional
        Support radius; default half the minimum pairwise distance, the largest radius
        with disjoint supports (where the closed form is exact).

    Returns
    -------
    module : RadialBumpInterpolant
    report : ConstructionReport
        ``neurons`` is None (not a two-layer network); ``params`` = n (d + 1);
        ``lipschitz["rd"]`` is the closed form when supports are disjoint, otherwise the
        interval [gradient at the peak-slope point of the largest bump, overlap count *
        closed form].
    """
    Xn, yn = validate_data(X, y)
    dtype = check_dtype(dtype)
    n, d = Xn.shape
    separation = min_distance(Xn)
    if r0 is None:
        r0_value = 1.0 if n == 1 else separation / 2.0
    else:
        r0_value = check_positive("r0", r0)
    kw = {"dtype": dtype, "device": device}
    module = RadialBumpInterpolant(torch.as_tensor(Xn, **kw), torch.as_tensor(yn, **kw), r0_value)
    as64 = RadialBumpInterpolant(
        torch.as_tensor(Xn, dtype=torch.float64, device=device),
        torch.as_tensor(yn, dtype=torch.float64, device=device),
        r0_value,
    )
    with torch.no_grad():
        values = as64(torch.as_tensor(Xn, dtype=torch.float64, device=device)).cpu().numpy()
    error = float(np.abs(values - yn).max())
    closed = float(np.abs(yn).max()) * BUMP_SLOPE / r0_value
    disjoint = n == 1 or separation >= 2.0 * r0_value
    if disjoint:
        interval = LipschitzInterval.closed_form(
            "rd", closed, "closed form max|y_i| 8/(3 sqrt(3) r0) (disjoint supports)"
        )
    else:
        # The gradient at the steepest point of the largest bump is a witness; at most
        # `overlap` supports contain any point, each contributing at most the closed form.
        i = int(np.abs(yn).argmax())
        direction = np.zeros(d)
        direction[0] = 1.0
        witness = Xn[i] + direction * r0_value / math.sqrt(3.0)
        with torch.no_grad():
            grad = as64.input_gradient(torch.as_tensor(witness[None], device=device))
        low = float(grad.norm())
        overlap = _max_overlap_bound(Xn, r0_value)
        interval = LipschitzInterval(
            "rd",
            low,
            max(low, overlap * closed),
            "witness: gradient at distance r0/sqrt(3) from the largest bump's centre",
            "sum of the closed form over the most supports one ball of radius r0 can meet",
            witness=witness.tolist(),
        )
    report = ConstructionReport(
        construction="radial_bump",
        n=n,
        d=d,
        neurons=None,
        params=n * (d + 1),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="interpolates when r0 <= min_{i != j} ||x_i - x_j||; the closed form "
        "Lip = max|y_i| 8/(3 sqrt(3) r0) holds when the points are pairwise >= 2 r0 apart",
        condition_met=bool(n == 1 or separation >= r0_value),
        lipschitz={"rd": interval},
        details={
            "r0": r0_value,
            "min_distance": None if n == 1 else separation,
            "supports_disjoint": bool(disjoint),
            "max_slope": BUMP_SLOPE / r0_value,
            "in_two_layer_class": False,
        },
    )
    return module, report


def _max_overlap_bound(X: np.ndarray, r0: float) -> int:
    """An upper bound on how many open balls B(x_i, r0) share a point: any such point is
    within r0 of each centre, so the centres lie in one ball of radius r0 around it and
    pairwise within 2 r0; the largest number of centres within 2 r0 of one centre bounds it."""
    diff = X[:, None, :] - X[None, :, :]
    dist = np.sqrt((diff * diff).sum(axis=2))
    return int((dist < 2.0 * r0).sum(axis=1).max())
