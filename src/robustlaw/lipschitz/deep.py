"""Lipschitz methods for deep relu / leaky-relu stacks, on the engine's deep module.

- ``deep_region_search`` (lower): the region search at any depth
  (:func:`robustlaw._pl.deep.deep_region_search`), witnesses recomputed on the network;
- ``deep_exact`` (exact, R^d): every region visited by
  :func:`robustlaw._pl.deep.enumerate_regions`; proven when the walk finishes within the
  budget (small d and widths), else no bound;
- ``deep_bnb`` (exact, R^d): branch and bound over the activation patterns of the layers
  (:func:`robustlaw._pl.deep_bnb.deep_bnb`), exact when its gap closes, the certified
  interval at the budget otherwise;
- ``lipsdp_schur`` (upper): LipSDP-Neuron solved on its multipliers alone
  (:func:`robustlaw._pl.deep_sdp.lipsdp_schur`), the certificate checked in float64 by
  :func:`robustlaw.lipschitz.lipsdp.certify_lipsdp`; no cvxpy.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from robustlaw._pl import RegionSearchSettings
from robustlaw._pl.deep import DeepNet, deep_region_search, enumerate_regions
from robustlaw._pl.deep_bnb import deep_bnb
from robustlaw._pl.deep_sdp import lipsdp_schur
from robustlaw._pl.settings import DeepBnBSettings, settings_from
from robustlaw.lipschitz._common import (
    SAFETY,
    as_points,
    lower_result,
    not_applicable,
    prepare,
    threads_for,
    upper_result,
)
from robustlaw.lipschitz.domain import point_values, project, witness_value
from robustlaw.lipschitz.lipsdp import certify_lipsdp, member_layers
from robustlaw.lipschitz.lower import _generator, candidate_points
from robustlaw.lipschitz.result import Budget, MethodResult, Witness, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = [
    "deep_bnb_method",
    "deep_exact",
    "deep_nets",
    "deep_region_search_method",
    "lipsdp_schur_bound",
]


def _why_not(stack: Stack) -> str | None:
    """Why the deep piecewise-linear methods do not apply, or None."""
    if stack.depth < 2:
        return "no hidden layer"
    slopes = set(stack.slopes())
    if not stack.piecewise_linear or len(slopes) != 1:
        return "needs relu / leaky-relu activations with the same two slopes in every layer"
    return None


def deep_nets(stack: Stack) -> list[DeepNet]:
    """One :class:`~robustlaw._pl.deep.DeepNet` per member of a piecewise-linear stack."""
    lo, hi = stack.slopes()[0]

    def arr(t: torch.Tensor | None, b: int, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape) if t is None else t[b].detach().cpu().numpy().astype(np.float64)

    out = []
    for b in range(stack.B):
        Ws = tuple(arr(W, b, ()) for W in stack.weights)
        bs = tuple(
            arr(bb, b, (W.shape[1],)) for bb, W in zip(stack.biases, stack.weights, strict=True)
        )
        v = arr(stack.skip, b, (stack.d,))
        out.append(DeepNet(Ws, bs, v, float(lo), float(hi)))
    return out


def _scale(X: torch.Tensor | None, d: int) -> float:
    scale = 1.0 if X is None else float(X.reshape(-1, d).norm(dim=1).median())
    return scale if scale > 0 else 1.0


@register_method(
    "deep_region_search",
    "lower",
    ("mlp",),
    ("rd", "ball", "sphere"),
    "line walks across regions and LP-checked flips at any depth (relu / leaky relu)",
)
def deep_region_search_method(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    starts: Any = None,
    settings: RegionSearchSettings | dict | None = None,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """The region search on deep piecewise-linear stacks, one member at a time.

    Parameters as for :func:`robustlaw.lipschitz.region_search`: ``X`` (data, the pool
    of starting points with random points and convex combinations, best distinct
    patterns first), ``starts`` (tried first), ``settings``, ``budget.seconds`` per member.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    settings = settings_from(RegionSearchSettings, settings)
    why = _why_not(stack)
    if why:
        return not_applicable("deep_region_search", "lower", domain, stack.B, why)
    X = as_points(X, stack)
    extra = as_points(starts, stack, "starts")
    scale = _scale(X, stack.d)
    with threads_for(1 << 16):
        pool = candidate_points(stack, domain, X, 1024, _generator(seed))
        values = point_values(stack, pool, domain)
    if pool.ndim == 2:
        pool = pool.expand(stack.B, *pool.shape)
    cands, status, info, total = [], [], [], 0.0
    for b, net in enumerate(deep_nets(stack)):
        P = pool[b].cpu().numpy()
        ranked, seen = [], set()
        for i in torch.argsort(values[b], descending=True).cpu().numpy():
            if values[b, i] <= 0:
                break
            if (key := net.pattern(P[i]).tobytes()) not in seen:
                seen.add(key)
                ranked.append(P[i])
        given = []
        if extra is not None:
            given = list(project(extra if extra.ndim == 2 else extra[b], domain).cpu().numpy())
        res = deep_region_search(
            net, domain, given, ranked, scale=scale, seconds=budget.seconds, seed=seed,
            settings=settings,
        )  # fmt: skip
        cands.append(None if res.x is None else (res.x, None))
        status.append("budget" if res.timed_out else "ok")
        info.append(res.stats)
        total += res.stats.get("seconds", 0.0)
    return lower_result("deep_region_search", domain, stack, cands, total, status, info)


@register_method(
    "deep_exact",
    "exact",
    ("mlp",),
    ("rd",),
    "every activation region of a deep relu / leaky-relu stack visited (small d)",
)
def deep_exact(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    max_dim: int = 3,
    device: Any = None,
) -> MethodResult:
    """Lip(f) on R^d as the largest ||g|| over every region, visited through facets.

    Members with d > ``max_dim`` get ``not_applicable`` (the number of regions grows
    like width^(d (depth - 1))). A member whose walk ends within ``budget.seconds`` is
    proven: lower = its witness (recomputed), upper = the maximum padded by SAFETY; one
    whose walk is cut short gets the witness of its best region and upper = inf.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    why = _why_not(stack)
    if why or stack.d > max_dim:
        why = why or f"d = {stack.d} > max_dim = {max_dim}"
        return not_applicable("deep_exact", "exact", domain, stack.B, why)
    X = as_points(X, stack)
    scale = _scale(X, stack.d)
    B = stack.B
    lower, upper, seconds = np.zeros(B), np.full(B, math.inf), np.zeros(B)
    status, info, witnesses = [], [], []
    for b, net in enumerate(deep_nets(stack)):
        t0 = time.perf_counter()
        res = enumerate_regions(net, np.zeros(stack.d), scale, budget.seconds)
        w = None
        if res.x is not None:
            probe = Witness(x=res.x, value=0.0)
            value = witness_value(stack, b, probe, domain)
            if value > 0:
                w, lower[b] = Witness(x=res.x, value=value), value
        if res.complete:
            upper[b] = max(res.value * (1.0 + SAFETY), lower[b])
            status.append("ok")
        else:
            status.append("budget")
        witnesses.append(w)
        info.append({"regions": res.regions, "complete": res.complete})
        seconds[b] = time.perf_counter() - t0
    return MethodResult(
        method="deep_exact",
        kind="exact",
        domain=domain,
        lower=lower,
        upper=upper,
        seconds=seconds,
        status=status,
        witnesses=witnesses,
        info=info,
    )


@register_method(
    "deep_bnb",
    "exact",
    ("mlp",),
    ("rd",),
    "branch and bound over the activation patterns of every layer (LP + pinned LipSDP)",
)
def deep_bnb_method(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    lower_hint: MethodResult | None = None,
    settings: DeepBnBSettings | dict | None = None,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """Lip(f) on R^d by branch and bound over the patterns of a deep relu / leaky-relu stack.

    Nodes fix units layer by layer; each is bounded by LipSDP-Neuron with its fixed
    units' slopes pinned (certified in float64) and checked for realizability by the
    region LP, which also fixes the units that cannot flip
    (:func:`robustlaw._pl.deep_bnb.deep_bnb`). The incumbent starts from the witnesses of
    ``lower_hint`` (estimate passes the best lower bounds so far) or, without one, from
    the region search run for a fifth of ``budget.seconds``. Status "ok" when the gap
    closed (lower = upper up to 1e-7), "budget" with the certified interval otherwise.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    settings = settings_from(DeepBnBSettings, settings)
    why = _why_not(stack)
    if why:
        return not_applicable("deep_bnb", "exact", domain, stack.B, why)
    X = as_points(X, stack)
    scale = _scale(X, stack.d)
    B = stack.B
    lower, upper, seconds = np.zeros(B), np.full(B, math.inf), np.zeros(B)
    status, info, witnesses = [], [], []
    if lower_hint is None:  # seed the incumbent with the region search
        sub = None if budget.seconds is None else budget.seconds / 5
        lower_hint = deep_region_search_method(stack, domain, Budget(seconds=sub), X=X, seed=seed)
    for b, net in enumerate(deep_nets(stack)):
        t0 = time.perf_counter()
        hint = lower_hint.witnesses[b] if lower_hint.witnesses else None
        points = [hint.x] if hint is not None and hint.x2 is None else []
        spent = float(lower_hint.seconds[b]) if lower_hint.method == "deep_region_search" else 0.0
        left = None if budget.seconds is None else max(budget.seconds - spent, 0.0)
        res = deep_bnb(net, scale, left, points, settings)
        w = None
        if res.x is not None:
            value = witness_value(stack, b, Witness(x=res.x, value=0.0), domain)
            if value > 0:
                w, lower[b] = Witness(x=res.x, value=value), value
        upper[b] = max(res.upper, lower[b])
        witnesses.append(w)
        status.append("ok" if res.closed else "budget")
        info.append(res.stats)
        seconds[b] = time.perf_counter() - t0
    return MethodResult(
        method="deep_bnb",
        kind="exact",
        domain=domain,
        lower=lower,
        upper=upper,
        seconds=seconds,
        status=status,
        witnesses=witnesses,
        info=info,
    )


@register_method(
    "lipsdp_schur",
    "upper",
    ("mlp",),
    ("rd", "ball", "sphere"),
    "LipSDP-Neuron on its multipliers (Schur complement, gradient steps), certified in float64",
)
def lipsdp_schur_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    max_iter: int = 500,
    device: Any = None,
) -> MethodResult:
    """LipSDP-Neuron's value without an SDP solver.

    rho(lam) = lambda_max(P - Q S^-1 Q^T) for M(0, lam) = [[P, Q], [Q^T, S]] (S < 0) is
    convex in the multipliers; it is minimized over log lam by gradient steps with its Danskin
    gradient (:func:`robustlaw._pl.deep_sdp.lipsdp_schur`). The returned multipliers are
    certified by :func:`robustlaw.lipschitz.lipsdp.certify_lipsdp` (float64 eigenvalue
    check of the whole matrix); status "budget" when the time ran out first.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    for act, (lo, hi) in zip(stack.activations, stack.slopes(), strict=True):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            why = f"activation {act.name!r} has unbounded slope"
            return not_applicable("lipsdp_schur", "upper", domain, stack.B, why)
    slopes = stack.slopes()
    upper, seconds = np.full(stack.B, math.inf), np.zeros(stack.B)
    status, info = [], []
    for b in range(stack.B):
        t0 = time.perf_counter()
        Ws, v = member_layers(stack, b)
        lams, sol = lipsdp_schur(Ws, v, slopes, budget.seconds, max_iter)
        value, cert = certify_lipsdp(Ws, v, slopes, lams)
        upper[b] = value
        ok = math.isfinite(value)
        status.append(("budget" if sol["timed_out"] else "ok") if ok else "not_converged")
        info.append({**sol, **cert})
        seconds[b] = time.perf_counter() - t0
    return upper_result("lipsdp_schur", domain, upper, seconds, status, info)
