"""Certified upper bounds on Lip(f) that hold by a theorem, written once.

Every function takes batched layer weights as torch tensors and is differentiable in
them: the Lipschitz methods call them on float64 copies, the fitting penalties on the
family's parameters. A feed-forward stack has weights W_1 (B, n_1, d), ..., W_D
(B, 1, n_{D-1}) and activations with slopes in [lo_j, hi_j]; a two-layer network is
``[W, a[:, None, :]]`` with an optional linear skip v (B, d). With m = (lo + hi) / 2 and
r = (hi - lo) / 2, psi'(t) = m + r sigma with |sigma| <= 1 (docs/science.md, Section 5):

- :func:`spectral`: prod_j Lip(psi_j) prod_j ||W_j||_op (+ ||v||) [BLN; BS, Section 3];
  with residual skips the middle factors are 1 + Lip(psi) ||W_j||;
- :func:`path_norm`: Lip(psi)^(D-1) |W_D| ... |W_2| (||w^1_l||)_l (+ ||v||); two layers:
  Lip(psi) sum_l |a_l| ||w_l||;
- :func:`averaged`: two layers ||m W^T a + v|| + r ||a|| ||W||_op (Combettes and Pesquet
  2020; LipLT, Fazlyab et al. 2023), deeper stacks by the same split layer by layer;
- :func:`balanced`: for positively homogeneous activations (relu, leaky relu) the
  network is unchanged when unit l's (w_l, b_l) is multiplied by t_l > 0 and a_l divided
  by it; at t_l = sqrt(|a_l| / ||w_l||) the spectral and averaged bounds are often lower;
- :func:`max_subset_norm`: max over s in {0, 1}^n of ||g + M^T s|| by enumeration
  (the pattern relaxation; exact Lip when every pattern is realizable);
- :func:`pattern_sdp`: the semidefinite relaxation of the same maximum, certified by a
  dual point (:func:`sdp_certificate`); on two layers its value is LipSDP-Neuron's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SAFETY",
    "averaged",
    "balanced",
    "max_subset_norm",
    "path_norm",
    "pattern_sdp",
    "sdp_certificate",
    "sign_columns",
    "slope_bounds",
    "spectral",
]

Slopes = tuple[float, float]

#: Relative padding added to every upper bound computed in floating point (float64
#: rounding in norms and eigenvalues is ~1e-15 relative; this leaves a wide margin while
#: staying far below the 1e-6 gap at which an interval counts as closed).
SAFETY = 1e-9


def _gelu_slope_range() -> Slopes:
    """Range of d/dt [t Phi(t)] = Phi(t) + t phi(t); its extremes sit at t = -sqrt 2, sqrt 2."""
    t = math.sqrt(2.0)
    phi = math.exp(-1.0) / math.sqrt(2.0 * math.pi)
    lo = 0.5 * (1.0 + math.erf(-t / math.sqrt(2.0))) - t * phi
    hi = 0.5 * (1.0 + math.erf(t / math.sqrt(2.0))) + t * phi
    return lo, hi


#: Slope ranges [inf psi', sup psi'] of the smooth activations known by name.
_SLOPES: dict[str, Slopes] = {
    "tanh": (0.0, 1.0),
    "softplus": (0.0, 1.0),
    "sigmoid": (0.0, 0.25),
    "gelu": _gelu_slope_range(),
    "cos": (-1.0, 1.0),
}


def slope_bounds(activation: Any) -> Slopes:
    """[lo, hi] with lo <= psi'(t) <= hi for almost every t (slope restriction).

    Piecewise-linear activations give their extreme slopes (relu: (0, 1)); the smooth
    ones known by name their exact ranges (sigmoid: (0, 1/4); gelu: about (-0.13, 1.13));
    linear polynomials their constant slope; any other activation with a finite
    Lipschitz constant L gives (-L, L); one with unbounded slope (-inf, inf).
    """
    if activation.piecewise_linear and activation.slopes:
        return float(min(activation.slopes)), float(max(activation.slopes))
    base = activation.name.split("(")[0]
    if base in _SLOPES:
        return _SLOPES[base]
    if base in ("poly1", "hermite1"):
        c = float(activation.derivative(torch.zeros(1, dtype=torch.float64))[0])
        return c, c
    L = float(activation.lipschitz)
    return (-L, L) if math.isfinite(L) else (-math.inf, math.inf)


def _lip(slopes: Slopes) -> float:
    return max(abs(slopes[0]), abs(slopes[1]))


def _op(W: Tensor) -> Tensor:
    """||W||_op per member, (B, o, i) -> (B,)."""
    if W.shape[-1] == 0 or W.shape[-2] == 0:
        return torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    return torch.linalg.matrix_norm(W, ord=2)


def _plus_skip(value: Tensor, skip: Tensor | None) -> Tensor:
    return value if skip is None else value + skip.norm(dim=1)


def spectral(
    weights: Sequence[Tensor],
    slopes: Sequence[Slopes],
    skip: Tensor | None = None,
    residual: bool = False,
) -> Tensor:
    """prod_j Lip(psi_j) prod_j ||W_j||_op (+ ||v||), per member (B,).

    With ``residual`` (h_{j+1} = h_j + psi(W_j h_j) between the first and the last
    layer) the middle factors are 1 + Lip(psi_j) ||W_j||_op.
    """
    value = _op(weights[0])
    for j, W in enumerate(weights[1:], start=1):
        lip = _lip(slopes[j - 1])
        middle = residual and j < len(weights) - 1
        value = value * (1.0 + lip * _op(W) if middle else lip * _op(W))
    return _plus_skip(value, skip)


def path_norm(
    weights: Sequence[Tensor], slopes: Sequence[Slopes], skip: Tensor | None = None
) -> Tensor:
    """Lip(psi)^(D-1) |W_D| ... |W_2| rho (+ ||v||), rho_l = ||w^1_l||, per member (B,).

    From grad f = W_1^T D_1 W_2^T ... W_D^T and the triangle inequality over first-layer
    units; for two layers the path norm Lip(psi) sum_l |a_l| ||w_l||.
    """
    r = weights[0].norm(dim=2)  # (B, n_1)
    for j, s in enumerate(slopes):
        r = (weights[j + 1].abs() @ (_lip(s) * r)[..., None])[..., 0]
    return _plus_skip(r[:, 0], skip)


def averaged(
    weights: Sequence[Tensor], slopes: Sequence[Slopes], skip: Tensor | None = None
) -> Tensor:
    """The averaged-slope bound, per member (B,).

    For two layers ||grad f|| = ||m W^T a + v + r W^T diag(sigma) a||
    <= ||m W^T a + v|| + r ||a|| ||W||_op. Deeper stacks apply the same split to each
    layer in turn: with Gamma_j(M, C) a bound on ||M dz_j/dx + C|| (z_j the
    pre-activations of layer j),

        Gamma_{j+1}(M, C) <= Gamma_j(m_j M W_{j+1}, C) + r_j ||M W_{j+1}|| Gamma_j(I, 0),

    Gamma_1(M, C) = ||M W_1 + C||, and Lip(f) <= Gamma_D(1, v^T).
    """
    ms = [(lo + hi) / 2 for lo, hi in slopes]
    rs = [(hi - lo) / 2 for lo, hi in slopes]
    memo: dict[int, Tensor] = {}

    def gamma(j: int, M: Tensor | None, C: Tensor | None) -> Tensor:
        """Bound on ||M dz_j/dx + C||_op; M None means the identity, C None means 0."""
        if M is None and C is None and j in memo:
            return memo[j]
        MW = weights[j] if M is None else M @ weights[j]
        if j == 0:
            out = _op(MW if C is None else MW + C)
        else:
            out = gamma(j - 1, ms[j - 1] * MW, C)
            if rs[j - 1] != 0:
                out = out + rs[j - 1] * _op(MW) * gamma(j - 1, None, None)
        if M is None and C is None:
            memo[j] = out
        return out

    return gamma(len(weights) - 1, None, None if skip is None else skip[:, None, :])


def balanced(weights: Sequence[Tensor]) -> list[Tensor]:
    """Two-layer weights [W (B, k, d), a (B, 1, k)] with every unit rescaled to
    |a_l| = ||w_l|| = sqrt(|a_l| ||w_l||): the same function for positively homogeneous
    activations (biases scale with w_l; a unit with w_l = 0 is constant and drops out of
    the gradient)."""
    W, a = weights[0], weights[1][:, 0, :]
    w_norm = W.norm(dim=2)
    size = torch.sqrt(a.abs() * w_norm + 1e-30)
    return [W / (w_norm + 1e-30)[..., None] * size[..., None], (torch.sign(a) * size)[:, None, :]]


def max_subset_norm(
    g: np.ndarray, M: np.ndarray, deadline: float | None = None
) -> tuple[float, np.ndarray, bool]:
    """max over s in {0, 1}^n of ||g + M^T s|| by enumeration, M: (n, d), g: (d,).

    The 2^n sums are split into a table over the first n // 2 rows and one block per
    pattern of the others (meet in the middle). Returns (value, a maximizing s (n,)
    bool, complete): past ``deadline`` (a :func:`time.perf_counter` value) the best so far
    with complete = False.
    """
    n = len(M)
    lo = n // 2
    bits = lambda m: (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1  # noqa: E731
    low, high = bits(lo), bits(n - lo)
    A = g + low @ M[:lo]  # (2^lo, d)
    C = high @ M[lo:]  # (2^(n - lo), d)
    rows = max(1, (1 << 22) // max(1, A.shape[0] * M.shape[1]))
    best, best_ij = -1.0, (0, 0)
    for start in range(0, len(C), rows):
        sq = ((A[None, :, :] + C[start : start + rows, None, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(int(np.argmax(sq)), sq.shape)
        if sq[i, j] > best:
            best, best_ij = float(sq[i, j]), (start + i, j)
        if deadline is not None and time.perf_counter() > deadline and start + rows < len(C):
            return math.sqrt(best), np.r_[low[best_ij[1]], high[best_ij[0]]] > 0, False
    return math.sqrt(max(best, 0.0)), np.r_[low[best_ij[1]], high[best_ij[0]]] > 0, True


def sign_columns(W: Tensor, a: Tensor, v: Tensor | None, slopes: Slopes) -> Tensor:
    """G = [c, N] (B, d, k+1) with grad f = G (1, sigma) for sigma in [-1, 1]^k.

    psi' = m + r sigma gives grad f = c + N sigma, c = v + m W^T a, N = r W^T diag(a);
    the maximum over sigma is at a vertex (the norm is convex): a maximum over sign
    vectors, whose semidefinite relaxation :func:`pattern_sdp` bounds.
    W: (B, k, d), a: (B, k), v: (B, d) or None.
    """
    lo, hi = slopes
    M = a[..., None] * W
    c = (lo + hi) / 2 * M.sum(dim=1)
    c = c if v is None else c + v
    return torch.cat([c[:, :, None], (hi - lo) / 2 * M.transpose(1, 2)], dim=2)


def sdp_certificate(G: Tensor, lam: Tensor) -> Tensor:
    """Certified value of max_{sigma in {-1,1}^n} ||G sigma|| from a dual point lam > 0.

    With A = G diag(1/lam) G^T (d x d) and t = lambda_max(A), diag(t lam) - G^T G is
    positive semidefinite (Schur complement), so for every sign vector
    ||G sigma||^2 <= sigma^T diag(t lam) sigma = t sum(lam). Returns sqrt(t sum(lam)).
    G: (B, d, n), lam: (B, n) -> (B,).
    """
    A = (G / lam[:, None, :]) @ G.transpose(1, 2)
    A = 0.5 * (A + A.transpose(1, 2))
    top = torch.linalg.eigvalsh(A)[:, -1].clamp(min=0.0)
    return torch.sqrt(top * lam.sum(dim=1))


def pattern_sdp(
    G: Tensor, tol: float = 1e-6, max_iter: int = 20_000, deadline: float | None = None
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Minimize sum(lam) * lambda_max(G diag(1/lam) G^T) over lam > 0, batched.

    This is the dual of the SDP relaxation max <G^T G, Y>, Y PSD, diag(Y) = 1 of
    max_{sigma in {-1,1}^n} ||G sigma||^2 (a MaxCut-like SDP), reduced to a d x d
    eigenvalue problem by the Schur complement. The fixed-point iteration
    lam_i = ||R^T g_i||, R <- (G diag(1/lam) G^T) R works on the dual variable
    P = R R^T of that problem (max 2 sum_i ||P^(1/2) g_i|| - tr P), which gives a lower
    bound on the SDP value at every step; the iteration stops when the certified value
    and that lower bound agree to ``tol`` (relative, on the squared value), or past
    ``deadline`` (a :func:`time.perf_counter` value).

    G : (B, d, n). Returns the best certified bound (B,) (:func:`sdp_certificate`), the
    dual point certifying it (B, n), the relative gap (B,) and the iterations run.
    """
    B, d, _ = G.shape
    gnorm = G.norm(dim=1)  # (B, n)
    live = gnorm > 0
    R = torch.eye(d, dtype=G.dtype, device=G.device).expand(B, d, d).clone()
    best = torch.full((B,), math.inf, dtype=G.dtype, device=G.device)
    best_lam = gnorm.clone()
    gap = torch.full((B,), math.inf, dtype=G.dtype, device=G.device)
    active = torch.ones(B, dtype=torch.bool, device=G.device)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        lam = (R.transpose(1, 2) @ G).norm(dim=1)  # (B, n)
        floor = (1e-30 * lam.amax(dim=1, keepdim=True)).clamp(min=1e-300)
        lam = torch.where(live, torch.maximum(lam, floor), floor)
        value = sdp_certificate(G, lam)
        better = (value < best) & active
        best = torch.where(better, value, best)
        best_lam[better] = lam[better]
        A = (G / lam[:, None, :]) @ G.transpose(1, 2)
        R_next = A @ R
        R_next = R_next / R_next.norm(dim=(1, 2), keepdim=True).clamp(min=1e-300)
        R = torch.where(active[:, None, None], R_next, R)
        S = (R.transpose(1, 2) @ G).norm(dim=1).sum(dim=1)  # ||R||_F = 1
        low = S * S
        gap = torch.where(active, (best * best - low) / low.clamp(min=1e-300), gap)
        # a member whose gap closed is frozen: its result does not depend on the others
        active = active & (gap > tol)
        if not bool(active.any()) or (deadline is not None and time.perf_counter() > deadline):
            break
    return best, best_lam, gap, it
