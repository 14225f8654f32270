"""Fast lower bounds that seed the exact search: sampled points and greedy region ascent.

Every value here belongs to a region with a point strictly inside it, so it is a
certified lower bound once the point is checked against the network.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from robustlaw.lipschitz._exact_geometry import FEASIBLE_MARGIN, PatternProblem, RegionLP

__all__ = ["greedy_ascent", "sample_points"]


def sample_points(
    prob: PatternProblem,
    domain: str,
    n: int,
    rng: np.random.Generator,
    device: str | torch.device = "cpu",
    top: int = 8,
) -> list[tuple[float, np.ndarray]]:
    """The ``top`` best distinct regions hit by ``n`` random points of the domain.

    R^d: Gaussian directions with log-uniform radii from 1e-2 to 1e3 times the scale of
    the arrangement (1 + max |b_l|, rows being unit), so that unbounded regions far out
    are reached; ball: uniform in the ball; sphere: uniform on the sphere, valued by the
    tangential norm. Returns (value, point) pairs, best first.
    """
    d = prob.d
    dirs = rng.standard_normal((n, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    if domain == "rd":
        scale = 1.0 + (float(np.max(np.abs(prob.b))) if prob.k else 0.0)
        radii = scale * 10.0 ** rng.uniform(-2.0, 3.0, size=n)
        X = dirs * radii[:, None]
    elif domain == "ball":
        X = dirs * (rng.uniform(size=n) ** (1.0 / d))[:, None] * (1 - 1e-9)
    else:
        X = dirs
    dev = torch.device(device)
    Xt = torch.as_tensor(X, device=dev)
    pre = Xt @ torch.as_tensor(prob.W, device=dev).T + torch.as_tensor(prob.b, device=dev)
    S = pre > 0
    G = S.to(torch.float64) @ torch.as_tensor(prob.M, device=dev) + torch.as_tensor(
        prob.g0, device=dev
    )
    if domain == "sphere":
        G = G - (G * Xt).sum(dim=1, keepdim=True) * Xt
    ok = (
        (pre.abs() > FEASIBLE_MARGIN).all(dim=1)
        if prob.k
        else torch.ones(n, dtype=torch.bool, device=dev)
    )
    vals = torch.where(ok, G.norm(dim=1), torch.full((n,), -1.0, device=dev))
    order = torch.argsort(vals, descending=True).cpu().numpy()
    vals_np = vals.cpu().numpy()
    S_np = S.cpu().numpy()
    out: list[tuple[float, np.ndarray]] = []
    seen: set[bytes] = set()
    for i in order:
        if vals_np[i] < 0 or len(out) >= top:
            break
        key = S_np[i].tobytes()
        if key in seen:
            continue
        seen.add(key)
        out.append((float(vals_np[i]), X[i]))
    return out


def greedy_ascent(
    prob: PatternProblem,
    lp: RegionLP,
    x: np.ndarray,
    max_lps: int,
    deadline: float | None = None,
) -> tuple[float, np.ndarray, int]:
    """Move from the region of x to a realizable neighbour pattern (one unit flipped) of
    larger gradient norm while one exists; the flips are tried best gain first. Stops
    after ``max_lps`` LPs or at ``deadline`` (a :func:`time.perf_counter` value).

    Returns (value, point inside the final region, LPs used).
    """
    s = prob.pattern(x)
    g = prob.gradient(s)
    val = float(np.linalg.norm(g))
    used = 0
    while used < max_lps:
        flip = np.where(s, -1.0, 1.0)
        cand = np.linalg.norm(g + flip[:, None] * prob.M, axis=1)
        order = np.argsort(-cand)
        moved = False
        for unit in order:
            if cand[unit] <= val * (1 + 1e-12) or used >= max_lps:
                break
            if deadline is not None and time.perf_counter() > deadline:
                return val, x, used
            sign = np.where(s, 1, -1).astype(np.int8)
            sign[unit] = -sign[unit]
            res = lp.margin(sign)
            used += 1
            if res.witness:
                s = sign > 0
                g = prob.gradient(s)
                val = float(np.linalg.norm(g))
                x = res.x
                moved = True
                break
        if not moved:
            break
    return val, x, used
