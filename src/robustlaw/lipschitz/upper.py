"""Certified upper bounds on Lip(f) as Lipschitz methods, computed in float64.

Every bound here is an upper bound on sup_x ||grad f(x)|| over R^d, hence also on the
ball and on the sphere (the tangential gradient is never longer than the gradient). The
formulas are the engine's (:mod:`robustlaw._pl.bounds`, with their references); the
activations enter through their slope range alpha <= psi' <= beta
(:func:`robustlaw._pl.slope_bounds`).

- ``spectral``, ``path_norm``, ``averaged``: any stack with finite slopes;
- ``spectral_balanced``, ``averaged_balanced`` (two layers, relu / leaky relu): the same
  bounds at the balanced rescaling |a_l| = ||w_l|| of the units (the same network);
- ``pattern_enum`` (two layers): max over s in {alpha, beta}^k of ||W^T diag(s) a + v||
  by enumeration (k <= 20 real units); the maximum of a convex function of s over the
  box [alpha, beta]^k, so a bound for any slope-restricted activation, and exactly Lip
  for relu when every activation pattern is realizable (e.g. k <= d, W of full rank);
- ``pattern_sdp`` (two layers): the semidefinite relaxation of the same maximum,
  certified by a dual feasible point checked in float64; on two-layer networks its
  value coincides with LipSDP-Neuron's (Fazlyab et al. 2019), here in milliseconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import Tensor

from robustlaw._pl import bounds
from robustlaw._pl.bounds import SAFETY
from robustlaw.lipschitz._common import (
    check_positive_int,
    not_applicable,
    prepare,
    threads_for,
    upper_result,
)
from robustlaw.lipschitz.result import Budget, MethodResult, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = [
    "averaged_balanced_bound",
    "averaged_bound",
    "path_norm_bound",
    "pattern_enum_bound",
    "pattern_sdp_bound",
    "spectral_balanced_bound",
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


def _balanced_check(stack: Stack) -> str | None:
    """Why the balanced rescaling does not apply (it needs positive homogeneity)."""
    if stack.depth != 2 or not stack.piecewise_linear:
        return "balanced rescaling needs a two-layer relu / leaky-relu network"
    return None


def _simple(
    name: str, formula: Callable[..., Tensor], description: str, doc: str, balanced: bool = False
) -> Callable[..., MethodResult]:
    """A registered method computing ``formula(weights, slopes, skip)`` per member."""

    def method(
        model: Any, domain: str = "rd", budget: Budget | None = None, device: Any = None
    ) -> MethodResult:
        start = time.perf_counter()
        stack, domain, budget = prepare(model, domain, budget, device)
        why = _slope_check(stack) or (_balanced_check(stack) if balanced else None)
        if why:
            return not_applicable(name, "upper", domain, stack.B, why)
        weights = bounds.balanced(stack.weights) if balanced else stack.weights
        value = formula(weights, stack.slopes(), stack.skip)
        upper = value.detach().cpu().numpy() * (1.0 + SAFETY)
        B = stack.B
        seconds = (time.perf_counter() - start) / B
        return upper_result(name, domain, upper, seconds, ["ok"] * B, [{} for _ in range(B)])

    method.__name__ = method.__qualname__ = f"{name}_bound"
    method.__doc__ = doc
    models = ("two_layer",) if balanced else _ALL_MODELS
    return register_method(name, "upper", models, _ALL_DOMAINS, description)(method)


spectral_bound = _simple(
    "spectral",
    bounds.spectral,
    "Lip(psi) ||a|| ||W||_op; the layer product for deep stacks",
    """Lip(f) <= prod_j Lip(psi_j) prod_j ||W_j||_op (+ ||v|| for a linear skip).

    The spectral proxy of [BLN] for two layers; the full layer product of [BS, Section 3]
    for deep stacks. Certified for any activation with finite Lip(psi).""",
)
path_norm_bound = _simple(
    "path_norm",
    bounds.path_norm,
    "Lip(psi) sum_l |a_l| ||w_l||; |W_D|...|W_2| (row norms of W_1) for deep stacks",
    """Lip(f) <= Lip(psi)^(D-1) |W_D| ... |W_2| rho (+ ||v||), rho_l = ||w^1_l||.

    For two layers the path norm Lip(psi) sum_l |a_l| ||w_l||.""",
)
averaged_bound = _simple(
    "averaged",
    bounds.averaged,
    "averaged-slope bound: (||W^T a|| + ||a|| ||W||_op)/2 for relu (LipLT)",
    """The averaged-slope bound (Combettes and Pesquet 2020; LipLT):
    ||m W^T a + v|| + r ||a|| ||W||_op for two layers (relu: (||W^T a|| + ||a|| ||W||_op)
    / 2), layer by layer for deeper stacks (:func:`robustlaw._pl.bounds.averaged`).""",
)
spectral_balanced_bound = _simple(
    "spectral_balanced",
    bounds.spectral,
    "the spectral bound at the balanced rescaling |a_l| = ||w_l|| (relu / leaky relu)",
    """The spectral bound of the same network with every unit rescaled to
    |a_l| = ||w_l|| = sqrt(|a_l| ||w_l||) (:func:`robustlaw._pl.bounds.balanced`).""",
    balanced=True,
)
averaged_balanced_bound = _simple(
    "averaged_balanced",
    bounds.averaged,
    "the averaged bound at the balanced rescaling |a_l| = ||w_l|| (relu / leaky relu)",
    """The averaged bound of the same network with every unit rescaled to
    |a_l| = ||w_l|| = sqrt(|a_l| ||w_l||) (:func:`robustlaw._pl.bounds.balanced`).""",
    balanced=True,
)


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
    W, a, v = stack.weights[0], stack.weights[1][:, 0, :], stack.skip
    M = (a[..., None] * W).cpu().numpy()
    v = np.zeros((stack.B, stack.d)) if v is None else v.cpu().numpy()
    lo, hi = stack.slopes()[0]
    upper = np.full(stack.B, math.inf)
    seconds = np.zeros(stack.B)
    status, info = [], []
    for b in range(stack.B):
        t0 = time.perf_counter()
        Mb = M[b][np.abs(M[b]).sum(axis=1) > 0]
        k = Mb.shape[0]
        info.append({"units": k})
        if k > max_units:
            status.append(f"not_applicable: {k} units > max_units = {max_units}")
            seconds[b] = time.perf_counter() - t0
            continue
        deadline = None if budget.seconds is None else t0 + budget.seconds
        base = v[b] + lo * Mb.sum(axis=0)
        value, _, complete = bounds.max_subset_norm(base, (hi - lo) * Mb, deadline)
        if complete:
            upper[b] = value * (1.0 + SAFETY)
            status.append("ok")
        else:
            status.append("not_converged: budget ran out before every pattern was seen")
        info[-1]["patterns"] = 2**k
        seconds[b] = time.perf_counter() - t0
    seconds += (time.perf_counter() - start - seconds.sum()) / stack.B
    return upper_result("pattern_enum", domain, upper, seconds, status, info)


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
    grad f = c + N sigma = G (1, sigma) for c = v + m W^T a, N = r W^T diag(a) and
    G = [c, N] (d x (k+1); :func:`robustlaw._pl.bounds.sign_columns`), a maximization
    over sign vectors whose semidefinite relaxation has the dual
    min sum(lam) s.t. diag(lam) >= G^T G. Any lam > 0 is made feasible by scaling, giving
    the certified value of :func:`robustlaw._pl.sdp_certificate`;
    :func:`robustlaw._pl.pattern_sdp` drives lam to the optimum. Batched over members;
    time and memory are O(k d^2) per iteration.
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
    G = bounds.sign_columns(
        stack.weights[0], stack.weights[1][:, 0, :], stack.skip, stack.slopes()[0]
    )
    deadline = None if budget.seconds is None else start + budget.seconds * stack.B
    with threads_for(G.numel() * G.shape[1]):
        _, lam, gap, iterations = bounds.pattern_sdp(G, tol, max_iter, deadline)
        # the final certificate, recomputed from the returned dual point alone
        certified = bounds.sdp_certificate(G, lam) * (1.0 + SAFETY)
    gaps = gap.cpu().numpy()
    status = ["ok" if g <= tol else "budget" for g in gaps]
    info = [{"iterations": iterations, "relative_gap": float(g), "tol": float(tol)} for g in gaps]
    seconds = (time.perf_counter() - start) / stack.B
    return upper_result("pattern_sdp", domain, certified.cpu().numpy(), seconds, status, info)
