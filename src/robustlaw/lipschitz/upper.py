"""Certified upper bounds on Lip(f) that hold by a theorem, computed in float64.

Every bound here is an upper bound on sup_x ||grad f(x)|| over R^d, hence also on the
ball and on the sphere (the tangential gradient is never longer than the gradient).
Activations enter through their slope range alpha <= psi' <= beta
(:func:`robustlaw.lipschitz.stack.slope_bounds`); write m = (alpha + beta) / 2 and
r = (beta - alpha) / 2, so psi'(t) = m + r sigma with |sigma| <= 1.

- ``spectral``: Lip(psi)^(D-1) prod_j ||W_j||_op (+ ||v||) [BLN; BS, Section 3].
- ``path_norm``: Lip(psi)^(D-1) |W_D| ... |W_2| (||w^1_l||)_l (+ ||v||); two layers:
  Lip(psi) sum_l |a_l| ||w_l||.
- ``averaged``: two layers ||m W^T a + v|| + r ||a|| ||W||_op — for relu
  (||W^T a|| + ||a|| ||W||_op) / 2 (Combettes and Pesquet 2020; LipLT, Fazlyab et al.
  2023); deeper stacks by the same split applied layer by layer (see
  :func:`averaged_bound`).
- ``pattern_enum`` (two layers): max over s in {alpha, beta}^k of ||W^T diag(s) a + v||
  by enumeration (k <= 20 real units); the maximum of a convex function of s over the
  box [alpha, beta]^k, so a bound for any slope-restricted activation, and exactly Lip
  for relu when every activation pattern is realizable (e.g. k <= d, W of full rank).
- ``pattern_sdp`` (two layers): the semidefinite relaxation of the same maximum,
  certified by a dual feasible point checked in float64 (:func:`pattern_sdp_bound`).
  On two-layer networks its value coincides with LipSDP-Neuron's (Fazlyab et al. 2019);
  it is solved here in milliseconds by a fixed-point iteration on a d x d problem.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw.lipschitz._common import (
    SAFETY,
    Clock,
    check_positive_int,
    not_applicable,
    prepare,
    threads_for,
    upper_result,
)
from robustlaw.lipschitz.result import Budget, MethodResult, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = [
    "averaged_bound",
    "path_norm_bound",
    "pattern_enum_bound",
    "pattern_sdp_bound",
    "sdp_dual_certificate",
    "spectral_bound",
]

_ALL_MODELS = ("two_layer", "mlp")
_ALL_DOMAINS = ("rd", "ball", "sphere")

#: Largest number of real units for which ``pattern_enum`` enumerates 2^k patterns.
ENUM_LIMIT = 20


def _slope_check(stack: Stack) -> str | None:
    """Why the slope-based bounds do not apply, or None when they do."""
    for act, (lo, hi) in zip(stack.activations, stack.slopes(), strict=True):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return f"activation {act.name!r} has unbounded slope (Lip(psi) = inf)"
    return None


def _op_norm(W: Tensor) -> Tensor:
    """||W||_op per member, (B, o, i) -> (B,)."""
    if W.shape[-1] == 0 or W.shape[-2] == 0:
        return torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    return torch.linalg.matrix_norm(W, ord=2)


def _skip_norm(stack: Stack) -> Tensor:
    if stack.skip is None:
        return torch.zeros(stack.B, dtype=torch.float64, device=stack.device)
    return stack.skip.norm(dim=1)


def _finish_simple(
    name: str, stack: Stack, domain: str, values: Tensor, start: float, info: dict | None = None
) -> MethodResult:
    upper = values.detach().cpu().numpy() * (1.0 + SAFETY)
    seconds = (time.perf_counter() - start) / stack.B
    return upper_result(
        name,
        domain,
        upper,
        seconds,
        ["ok"] * stack.B,
        [dict(info or {}) for _ in range(stack.B)],
    )


# --------------------------------------------------------------------------- products


@register_method(
    "spectral",
    "upper",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "Lip(psi) ||a|| ||W||_op; the layer product for deep stacks",
)
def spectral_bound(
    model: Any, domain: str = "rd", budget: Budget | None = None, device: Any = None
) -> MethodResult:
    """Lip(f) <= prod_j Lip(psi_j) prod_j ||W_j||_op (+ ||v|| for a linear skip).

    The spectral proxy of [BLN] for two layers; the full layer product of [BS, Section 3]
    for deep stacks. Certified for any activation with finite Lip(psi).
    """
    start = time.perf_counter()
    stack, domain, budget = prepare(model, domain, budget, device)
    why = _slope_check(stack)
    if why:
        return not_applicable("spectral", "upper", domain, stack.B, why)
    value = torch.ones(stack.B, dtype=torch.float64, device=stack.device)
    for W in stack.weights:
        value = value * _op_norm(W)
    for lo, hi in stack.slopes():
        value = value * max(abs(lo), abs(hi))
    return _finish_simple("spectral", stack, domain, value + _skip_norm(stack), start)


@register_method(
    "path_norm",
    "upper",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "Lip(psi) sum_l |a_l| ||w_l||; |W_D|...|W_2| (row norms of W_1) for deep stacks",
)
def path_norm_bound(
    model: Any, domain: str = "rd", budget: Budget | None = None, device: Any = None
) -> MethodResult:
    """Lip(f) <= Lip(psi)^(D-1) * |W_D| |W_{D-1}| ... |W_2| rho (+ ||v||), rho_l = ||w^1_l||.

    From grad f = W_1^T D_1 W_2^T ... W_D^T and the triangle inequality over first-layer
    units; for two layers it is the path norm Lip(psi) sum_l |a_l| ||w_l||.
    """
    start = time.perf_counter()
    stack, domain, budget = prepare(model, domain, budget, device)
    why = _slope_check(stack)
    if why:
        return not_applicable("path_norm", "upper", domain, stack.B, why)
    r = stack.weights[0].norm(dim=2)  # (B, n_1)
    for j, (lo, hi) in enumerate(stack.slopes()):
        r = (stack.weights[j + 1].abs() @ (max(abs(lo), abs(hi)) * r)[..., None])[..., 0]
    return _finish_simple("path_norm", stack, domain, r[:, 0] + _skip_norm(stack), start)


def _averaged(stack: Stack) -> Tensor:
    """The averaged-slope bound of the whole stack, per member (B,)."""
    slopes = stack.slopes()
    ms = [(lo + hi) / 2 for lo, hi in slopes]
    rs = [(hi - lo) / 2 for lo, hi in slopes]
    Ws = stack.weights
    memo: dict[int, Tensor] = {}

    def gamma(j: int, M: Tensor | None, C: Tensor | None) -> Tensor:
        """Bound on ||M dz_j/dx + C||_op; z_j = pre-activation of layer j (0-based);
        M None means the identity, C None means 0."""
        if M is None and C is None and j in memo:
            return memo[j]
        MW = Ws[j] if M is None else M @ Ws[j]
        if j == 0:
            out = _op_norm(MW if C is None else MW + C)
        else:
            out = gamma(j - 1, ms[j - 1] * MW, C)
            if rs[j - 1] != 0:
                out = out + rs[j - 1] * _op_norm(MW) * gamma(j - 1, None, None)
        if M is None and C is None:
            memo[j] = out
        return out

    C = None if stack.skip is None else stack.skip[:, None, :]
    return gamma(stack.depth - 1, None, C)


@register_method(
    "averaged",
    "upper",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "averaged-slope bound: (||W^T a|| + ||a|| ||W||_op)/2 for relu (LipLT)",
)
def averaged_bound(
    model: Any, domain: str = "rd", budget: Budget | None = None, device: Any = None
) -> MethodResult:
    """The averaged-slope bound (Combettes and Pesquet 2020; LipLT).

    Writing psi' = m + r sigma with |sigma| <= 1 (m, r the mid-point and half-width of the
    slope range), for two layers

        ||grad f|| = ||m W^T a + v + r W^T diag(sigma) a|| <= ||m W^T a + v|| + r ||a|| ||W||_op,

    which for relu is (||W^T a|| + ||a|| ||W||_op) / 2 and for leaky relu with slopes
    (alpha, 1) is ((1 + alpha) ||W^T a|| + (1 - alpha) ||a|| ||W||_op) / 2. Deeper stacks
    apply the same split to each layer in turn: with Gamma_j(M, C) a bound on
    ||M dz_j/dx + C|| (z_j the pre-activations of layer j),

        Gamma_{j+1}(M, C) <= Gamma_j(m_j M W_{j+1}, C) + r_j ||M W_{j+1}|| Gamma_j(I, 0),

    Gamma_1(M, C) = ||M W_1 + C||, and Lip(f) <= Gamma_D(1, v^T).
    """
    start = time.perf_counter()
    stack, domain, budget = prepare(model, domain, budget, device)
    why = _slope_check(stack)
    if why:
        return not_applicable("averaged", "upper", domain, stack.B, why)
    return _finish_simple("averaged", stack, domain, _averaged(stack), start)


# --------------------------------------------------------------------------- patterns


def _two_layer_columns(stack: Stack) -> tuple[Tensor, Tensor, float, float]:
    """Columns m_l = a_l w_l (B, k, d), the skip v (B, d), and the slope range."""
    W = stack.weights[0]
    a = stack.weights[1][:, 0, :]
    M = a[..., None] * W
    v = stack.skip if stack.skip is not None else torch.zeros_like(W[:, 0, :])
    lo, hi = stack.slopes()[0]
    return M, v, lo, hi


def _enumerate_member(M: Tensor, base: Tensor, delta: float, clock: Clock) -> tuple[float, bool]:
    """max over subsets S of ||base + delta sum_{l in S} m_l||. M: (k, d), base: (d,)."""
    k, d = M.shape
    k1 = k // 2

    def subset_sums(cols: Tensor) -> Tensor:
        n = cols.shape[0]
        masks = (
            torch.arange(2**n, device=cols.device)[:, None]
            >> torch.arange(n, device=cols.device)[None, :]
        ) & 1
        return masks.to(cols.dtype) @ cols  # (2^n, d)

    A = base + delta * subset_sums(M[:k1])  # (2^k1, d)
    C = delta * subset_sums(M[k1:])  # (2^k2, d)
    best = torch.zeros((), dtype=M.dtype, device=M.device)
    rows = max(1, (1 << 22) // max(1, A.shape[0] * d))
    for start in range(0, C.shape[0], rows):
        block = C[start : start + rows]
        norms = (A[None, :, :] + block[:, None, :]).norm(dim=2)
        best = torch.maximum(best, norms.max())
        if clock.out and start + rows < C.shape[0]:
            return float(best), False
    return float(best), True


@register_method(
    "pattern_enum",
    "upper",
    ("two_layer",),
    _ALL_DOMAINS,
    "max over s in {alpha,beta}^k of ||W^T diag(s) a + v|| by enumeration (k <= 20)",
)
def pattern_enum_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    max_units: int = ENUM_LIMIT,
    device: Any = None,
) -> MethodResult:
    """The pattern relaxation max_{s in {alpha, beta}^k} ||W^T diag(s) a + v||, enumerated.

    For relu, s ranges over {0, 1}^k: every activation pattern whether realizable or not,
    so the value is >= Lip(f) and equals it when every pattern is realizable (k <= d with
    W of full rank). For any activation with slopes in [alpha, beta] it bounds
    sup ||W^T diag(psi'(z)) a + v|| because a convex function is maximized at a vertex of
    the box. Members with more than ``max_units`` real units get ``not_applicable``.
    """
    start = time.perf_counter()
    stack, domain, budget = prepare(model, domain, budget, device)
    max_units = check_positive_int("max_units", max_units)
    if stack.depth != 2:
        return not_applicable("pattern_enum", "upper", domain, stack.B, "two-layer only")
    why = _slope_check(stack)
    if why:
        return not_applicable("pattern_enum", "upper", domain, stack.B, why)
    M, v, lo, hi = _two_layer_columns(stack)
    upper = np.full(stack.B, math.inf)
    seconds = np.zeros(stack.B)
    status, info = [], []
    for b in range(stack.B):
        t0 = time.perf_counter()
        keep = M[b].abs().sum(dim=1) > 0
        Mb = M[b][keep]
        k = Mb.shape[0]
        if k > max_units:
            status.append(f"not_applicable: {k} units > max_units = {max_units}")
            info.append({"units": k})
            seconds[b] = time.perf_counter() - t0
            continue
        clock = Clock(budget.seconds)
        base = v[b] + lo * Mb.sum(dim=0)
        with threads_for(1 << 16):
            value, complete = _enumerate_member(Mb, base, hi - lo, clock)
        if complete:
            upper[b] = value * (1.0 + SAFETY)
            status.append("ok")
        else:
            status.append("not_converged: budget ran out before every pattern was seen")
        info.append({"units": k, "patterns": 2**k})
        seconds[b] = time.perf_counter() - t0
    seconds += (time.perf_counter() - start - seconds.sum()) / stack.B
    return upper_result("pattern_enum", domain, upper, seconds, status, info)


# --------------------------------------------------------------------------- the SDP


def sdp_dual_certificate(G: Tensor, lam: Tensor) -> Tensor:
    """Certified value of max_{sigma in {-1,1}^n} ||G sigma|| from a dual point lam > 0.

    With A = G diag(1/lam) G^T (d x d) and t = lambda_max(A), diag(t lam) - G^T G is
    positive semidefinite (Schur complement), so for every sign vector
    ||G sigma||^2 <= sigma^T diag(t lam) sigma = t sum(lam). Returns sqrt(t sum(lam)),
    computed in float64. G: (B, d, n), lam: (B, n) -> (B,).
    """
    A = (G / lam[:, None, :]) @ G.transpose(1, 2)
    A = 0.5 * (A + A.transpose(1, 2))
    top = torch.linalg.eigvalsh(A)[:, -1].clamp(min=0.0)
    return torch.sqrt(top * lam.sum(dim=1))


def solve_pattern_sdp(
    G: Tensor, tol: float = 1e-6, max_iter: int = 20_000, clock: Clock | None = None
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Minimize sum(lam) * lambda_max(G diag(1/lam) G^T) over lam > 0, batched.

    This is the dual of the SDP relaxation max <G^T G, Y>, Y PSD, diag(Y) = 1 of
    max_{sigma in {-1,1}^n} ||G sigma||^2 (a MaxCut-like SDP), reduced to a d x d
    eigenvalue problem by the Schur complement. The fixed-point iteration
    lam_i = ||R^T g_i||, R <- (G diag(1/lam) G^T) R works on the dual variable
    P = R R^T of that problem (max 2 sum_i ||P^(1/2) g_i|| - tr P), which gives a lower
    bound on the SDP value at every step; the iteration stops when the certified value
    and that lower bound agree to ``tol`` (relative, on the squared value).

    Parameters
    ----------
    G : Tensor, shape (B, d, n)

    Returns
    -------
    value : Tensor (B,)
        Best certified sqrt(SDP value) bound seen (see :func:`sdp_dual_certificate`).
    lam : Tensor (B, n)
        The dual point certifying it.
    gap : Tensor (B,)
        Relative gap between the certified square and the dual lower bound.
    iterations : int
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
        value = sdp_dual_certificate(G, lam)
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
        # A member whose gap closed is frozen, so its result does not depend on the
        # rest of the family.
        active = active & (gap > tol)
        if not bool(active.any()) or (clock is not None and clock.out):
            break
    return best, best_lam, gap, it


def _sdp_columns(stack: Stack) -> Tensor:
    """G = [c, N] (B, d, k+1): c = v + m sum_l m_l, N = r [m_1 ... m_k]."""
    M, v, lo, hi = _two_layer_columns(stack)
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    c = v + mid * M.sum(dim=1)
    return torch.cat([c[:, :, None], rad * M.transpose(1, 2)], dim=2)


@register_method(
    "pattern_sdp",
    "upper",
    ("two_layer",),
    _ALL_DOMAINS,
    "SDP relaxation of the pattern maximum (= LipSDP-Neuron value), certified dual point",
)
def pattern_sdp_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    tol: float = 1e-6,
    max_iter: int = 20_000,
    device: Any = None,
) -> MethodResult:
    """Certified bound from the SDP relaxation of max_{s} ||W^T diag(s) a + v||.

    With psi' = m + r sigma, sigma in [-1, 1]^k (vertices suffice, the norm is convex),
    grad f = c + N sigma for c = v + m W^T a and N = r W^T diag(a), and

        ||c + N sigma||^2 = ||G (1, sigma)||^2,   G = [c, N] (d x (k+1)),

    a maximization over sign vectors whose semidefinite relaxation has the dual
    min sum(lam) s.t. diag(lam) >= G^T G. Any lam > 0 is made feasible by scaling, giving
    the certified value of :func:`sdp_dual_certificate`; :func:`solve_pattern_sdp`
    drives lam to the optimum. Batched over members; time and memory are O(k d^2) per
    iteration. On two-layer networks the value agrees with LipSDP-Neuron's.
    """
    start = time.perf_counter()
    stack, domain, budget = prepare(model, domain, budget, device)
    if isinstance(tol, bool) or not (isinstance(tol, float | int) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    max_iter = check_positive_int("max_iter", max_iter)
    if stack.depth != 2:
        return not_applicable("pattern_sdp", "upper", domain, stack.B, "two-layer only")
    why = _slope_check(stack)
    if why:
        return not_applicable("pattern_sdp", "upper", domain, stack.B, why)
    G = _sdp_columns(stack)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    with threads_for(G.numel() * G.shape[1]):
        _, lam, gap, iterations = solve_pattern_sdp(G, tol, max_iter, clock)
        # Final certificate, recomputed from the returned dual point alone.
        certified = sdp_dual_certificate(G, lam) * (1.0 + SAFETY)
    gaps = gap.cpu().numpy()
    status = ["ok" if g <= tol else "budget" for g in gaps]
    info = [{"iterations": iterations, "relative_gap": float(g), "tol": float(tol)} for g in gaps]
    return upper_result(
        "pattern_sdp",
        domain,
        certified.cpu().numpy(),
        (time.perf_counter() - start) / stack.B,
        status,
        info,
    )
