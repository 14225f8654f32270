"""Region search as a Lipschitz method ("region_search"): lower bounds with witnesses.

A thin layer over the engine's search (:func:`robustlaw._pl.region_search`, where the
algorithm is described): per member, the pool of starting points (data, convex
combinations, random points of the domain; the best points with distinct patterns
first) and the given starts go to the search, and its witness is recomputed on the
network in float64.
"""

from __future__ import annotations

from typing import Any

import torch

from robustlaw._pl import RegionSearchSettings
from robustlaw._pl import region_search as search
from robustlaw._pl.settings import settings_from
from robustlaw.lipschitz._common import (
    as_points,
    lower_result,
    not_applicable,
    prepare,
    threads_for,
)
from robustlaw.lipschitz.domain import point_values, project
from robustlaw.lipschitz.lower import _generator, candidate_points
from robustlaw.lipschitz.result import Budget, MethodResult, register_method

__all__ = ["region_search"]


@register_method(
    "region_search",
    "lower",
    ("two_layer",),
    ("rd", "ball", "sphere"),
    "line search across activation regions and LP-checked flips (two-layer relu/leaky)",
)
def region_search(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    starts: Any = None,
    settings: RegionSearchSettings | dict | None = None,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """Search activation regions of two-layer piecewise-linear networks for large ||g||.

    Parameters
    ----------
    X : array (n, d) or (B, n, d), optional
        Data; with random points of the domain and convex combinations it forms the pool
        from which starting points are drawn (the best points with distinct patterns).
    starts : array (m, d) or (B, m, d), optional
        Extra starting points, tried first (e.g. other methods' witnesses).
    settings : RegionSearchSettings or mapping of its fields, optional
        Starts per round, random lines, LP flips, directions, expansions, rounds.
    budget : Budget
        ``seconds`` per member (default: none; the search ends at local maxima).
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    settings = settings_from(RegionSearchSettings, settings)
    if stack.depth != 2:
        return not_applicable("region_search", "lower", domain, stack.B, "two-layer only")
    act = stack.activations[0]
    if not (act.piecewise_linear and len(act.slopes) == 2):
        why = f"activation {act.name!r} is not piecewise linear with two pieces"
        return not_applicable("region_search", "lower", domain, stack.B, why)
    X = as_points(X, stack)
    extra = as_points(starts, stack, "starts")
    scale = 1.0 if X is None else float(X.reshape(-1, stack.d).norm(dim=1).median())
    scale = scale if scale > 0 else 1.0
    with threads_for(1 << 16):
        pool = candidate_points(stack, domain, X, 2048, _generator(seed))
        values = point_values(stack, pool, domain)
    if pool.ndim == 2:
        pool = pool.expand(stack.B, *pool.shape)
    cands, status, info, total = [], [], [], 0.0
    for b, net in enumerate(stack.pl_nets()):
        P = pool[b].cpu().numpy()
        ranked, seen = [], set()  # pool points with distinct patterns, best first
        for i in torch.argsort(values[b], descending=True).cpu().numpy():
            if values[b, i] <= 0:
                break
            if (key := net.arrangement.pattern(P[i]).tobytes()) not in seen:
                seen.add(key)
                ranked.append(P[i])
        given = []
        if extra is not None:
            given = list(project(extra if extra.ndim == 2 else extra[b], domain).cpu().numpy())
        with threads_for(1 << 16):
            res = search(
                net, domain, given, ranked, scale=scale, seconds=budget.seconds, seed=seed,
                settings=settings,
            )  # fmt: skip
        cands.append(None if res.x is None else (res.x, None))
        status.append("budget" if res.timed_out else "ok")
        info.append(res.stats)
        total += res.stats.get("seconds", 0.0)
    return lower_result("region_search", domain, stack, cands, total, status, info)
