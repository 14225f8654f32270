"""Certified lower bounds on Lip(f) from sampled points, pairs and surrogate ascent.

Every value here is ``||grad f(x)||`` at a point where f is differentiable (tangential
on the sphere) or a difference quotient ``|f(x) - f(x')| / dist(x, x')``: each is at most
Lip(f), and each comes with its witness, recomputed in float64 (docs/science.md, Section 5).

- ``grad_data``: the data points;
- ``grad_random``: random points of the domain;
- ``grad_convex``: convex combinations of pairs and triples of data points;
- ``pairs``: difference quotients over pairs of data points and short pairs around the
  best gradient points (valid for any network, even discontinuous ones);
- ``ascent``: gradient ascent on ||grad f||^2 of a smoothed surrogate. For ReLU-type
  activations the true gradient is piecewise constant and autograd ascent does not move,
  so each kink max(0, t) is replaced by softplus_kappa(t) = log(1 + exp(kappa t)) / kappa
  with kappa increased in stages; every iterate is re-evaluated on the true network.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw.lipschitz._common import (
    Clock,
    as_points,
    best_per_member,
    check_positive_int,
    lower_result,
    not_applicable,
    prepare,
    threads_for,
)
from robustlaw.lipschitz.domain import (
    distance,
    domain_norms,
    pair_values,
    point_values,
    project,
    sample_domain,
)
from robustlaw.lipschitz.result import Budget, MethodResult, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = [
    "ascent_lower_bound",
    "candidate_points",
    "convex_lower_bound",
    "data_lower_bound",
    "pairs_lower_bound",
    "random_lower_bound",
]

_ALL_MODELS = ("two_layer", "mlp")
_ALL_DOMAINS = ("rd", "ball", "sphere")


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _scale(X: Tensor | None) -> float:
    """Typical norm of the data (1 without data): the length scale of random points."""
    if X is None:
        return 1.0
    norms = X.reshape(-1, X.shape[-1]).norm(dim=1)
    med = float(norms.median())
    return med if med > 0 else 1.0


def _evaluate(
    stack: Stack, X: Tensor, domain: str, clock: Clock, block: int = 4096
) -> tuple[Tensor, Tensor, bool]:
    """Gradient values at X (n, d) or (B, n, d) in blocks until the clock runs out.

    Returns values (B, m), the points evaluated (first m of X), and whether all were.
    """
    n = X.shape[-2]
    parts = []
    done = 0
    for start in range(0, n, block):
        parts.append(point_values(stack, X[..., start : start + block, :], domain))
        done = min(n, start + block)
        if clock.out:
            break
    values = torch.cat(parts, dim=1)
    return values, X[..., :done, :], done == n


def _convex_points(X: Tensor, n_points: int, gen: torch.Generator) -> Tensor:
    """Random convex combinations of 2 (two thirds) and 3 (one third) data points.

    X: (n, d) or (B, n, d) -> (n_points, d) or (B, n_points, d).
    """
    n = X.shape[-2]
    m3 = n_points // 3
    m2 = n_points - m3
    i2 = torch.randint(n, (m2, 2), generator=gen)
    t = torch.rand(m2, 1, generator=gen, dtype=torch.float64)
    i3 = torch.randint(n, (m3, 3), generator=gen)
    w3 = -torch.log(torch.rand(m3, 3, generator=gen, dtype=torch.float64).clamp(min=1e-300))
    w3 = w3 / w3.sum(dim=1, keepdim=True)
    t = t.to(X.device)
    w3 = w3.to(X.device)
    two = t * X[..., i2[:, 0], :] + (1 - t) * X[..., i2[:, 1], :]
    three = (w3[..., None] * X[..., i3, :]).sum(dim=-2)
    return torch.cat([two, three], dim=-2)


def candidate_points(
    stack: Stack,
    domain: str,
    X: Tensor | None,
    n_random: int,
    gen: torch.Generator,
) -> Tensor:
    """The pool of starting points shared by the search methods: data, convex
    combinations of data, and random points of the domain, all inside the domain.

    Returns (B, m, d) when X is per member, else (m, d).
    """
    scale = _scale(X)
    parts = []
    R = sample_domain(domain, n_random, stack.d, gen, scale=scale, device=stack.device)
    if X is not None:
        data = project(X, domain)
        parts.append(data)
        if X.shape[-2] >= 2:
            parts.append(project(_convex_points(X, n_random, gen), domain))
        if X.ndim == 3:
            R = R.expand(stack.B, *R.shape)
    parts.append(R)
    return torch.cat(parts, dim=-2)


def _finish(
    method: str,
    domain: str,
    stack: Stack,
    values: Tensor,
    points: Tensor,
    clock: Clock,
    complete: bool,
    info: dict[str, Any],
) -> MethodResult:
    status = ["ok" if complete else "budget"] * stack.B
    return lower_result(
        method,
        domain,
        stack,
        best_per_member(values, points),
        clock.elapsed,
        status=status,
        info=[dict(info) for _ in range(stack.B)],
    )


# --------------------------------------------------------------------------- sampling


@register_method(
    "grad_data",
    "lower",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "max gradient norm over the given data points (projected into the domain)",
)
def data_lower_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    device: Any = None,
) -> MethodResult:
    """max_i ||grad f(x_i)|| over data points X (n, d) or (B, n, d).

    Points outside the domain are projected into it (radially onto the ball or the
    sphere). Without data the result says ``not_applicable``.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    X = as_points(X, stack)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    if X is None:
        return not_applicable("grad_data", "lower", domain, stack.B, "no data points X given")
    values, pts, complete = _evaluate(stack, project(X, domain), domain, clock)
    return _finish(
        "grad_data", domain, stack, values, pts, clock, complete, {"points": pts.shape[-2]}
    )


@register_method(
    "grad_random",
    "lower",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "max gradient norm over random points of the domain",
)
def random_lower_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    n_points: int = 10_000,
    seed: int = 0,
    X: Any = None,
    device: Any = None,
) -> MethodResult:
    """max ||grad f|| over ``n_points`` random points of the domain.

    Sphere: uniform; ball: uniform; R^d: uniform directions with log-uniform radii in
    [s / 4, 16 s], s the median data norm (1 without data). The points are shared by all
    members (a member's result does not depend on the rest of the family).
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    n_points = check_positive_int("n_points", n_points)
    X = as_points(X, stack)
    gen = _generator(seed)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    R = sample_domain(domain, n_points, stack.d, gen, scale=_scale(X), device=stack.device)
    values, pts, complete = _evaluate(stack, R, domain, clock)
    return _finish(
        "grad_random", domain, stack, values, pts, clock, complete, {"points": pts.shape[-2]}
    )


@register_method(
    "grad_convex",
    "lower",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "max gradient norm over convex combinations of data points",
)
def convex_lower_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    n_points: int = 10_000,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """max ||grad f|| over random convex combinations of 2 and 3 data points.

    On the sphere and the ball the combinations are projected into the domain.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    n_points = check_positive_int("n_points", n_points)
    X = as_points(X, stack)
    if X is None or X.shape[-2] < 2:
        return not_applicable(
            "grad_convex", "lower", domain, stack.B, "needs at least two data points X"
        )
    gen = _generator(seed)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    C = project(_convex_points(X, n_points, gen), domain)
    values, pts, complete = _evaluate(stack, C, domain, clock)
    return _finish(
        "grad_convex", domain, stack, values, pts, clock, complete, {"points": pts.shape[-2]}
    )


# --------------------------------------------------------------------------- pairs


@register_method(
    "pairs",
    "lower",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "difference quotients |f(x)-f(x')|/dist(x,x') over data pairs and short pairs",
)
def pairs_lower_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    max_pairs: int = 200_000,
    n_short: int = 64,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """max |f(x) - f(x')| / dist(x, x') over pairs (geodesic distance on the sphere).

    Pairs: all pairs of data points when there are at most ``max_pairs`` of them (else
    ``max_pairs`` random pairs; without data, 1000 random points of the domain), plus
    short pairs (x, x + h u) around the ``n_short`` points of largest gradient, with u the
    gradient direction (tangential on the sphere, then back onto it) or a random one, and
    h in {1e-2, 1e-4} times the data scale (shorter pairs would lose the quotient to
    float64 cancellation). Valid for any network, including ones
    that are not differentiable (a jump shows as a quotient growing like 1/h).
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    max_pairs = check_positive_int("max_pairs", max_pairs)
    n_short = check_positive_int("n_short", n_short)
    X = as_points(X, stack)
    gen = _generator(seed)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    scale = _scale(X)
    P = project(X, domain) if X is not None else None
    if P is None:
        P = sample_domain(domain, 1000, stack.d, gen, scale=scale, device=stack.device)
    if P.ndim == 2:
        P = P.expand(stack.B, *P.shape)
    n = P.shape[1]
    total = n * (n - 1) // 2
    if total <= max_pairs:
        i, j = torch.triu_indices(n, n, offset=1)
    else:
        i = torch.randint(n, (max_pairs,), generator=gen)
        j = torch.randint(n, (max_pairs,), generator=gen)
    i, j = i.to(stack.device), j.to(stack.device)
    f = stack.forward(P)  # (B, n)
    best_val = torch.zeros(stack.B, dtype=torch.float64, device=stack.device)
    best_pair = [None] * stack.B
    block = 1 << 18
    for start in range(0, len(i), block):
        ii, jj = i[start : start + block], j[start : start + block]
        dist = distance(P[:, ii], P[:, jj], domain)
        ok = dist > 0
        q = torch.where(ok, (f[:, ii] - f[:, jj]).abs() / torch.where(ok, dist, 1.0), 0.0)
        val, arg = q.max(dim=1)
        for b in range(stack.B):
            if val[b] > best_val[b]:
                best_val[b] = val[b]
                best_pair[b] = (int(ii[arg[b]]), int(jj[arg[b]]), P)
        if clock.out:
            break
    # Short pairs along the gradient at the best gradient points.
    values = point_values(stack, P, domain)
    top = values.topk(min(n_short, n), dim=1).indices  # (B, m)
    Xs = torch.gather(P, 1, top[..., None].expand(-1, -1, stack.d))
    grad, _ = stack.gradient(Xs)
    if domain == "sphere":
        grad = grad - (grad * Xs).sum(-1, keepdim=True) * Xs
    u_grad = grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-300)
    r = torch.randn(Xs.shape[1], stack.d, generator=gen, dtype=torch.float64).to(stack.device)
    u_rand = (r / r.norm(dim=-1, keepdim=True)).expand_as(Xs)
    short_best: list[tuple[float, np.ndarray, np.ndarray] | None] = [None] * stack.B
    for h, u in itertools.product((1e-2, 1e-4), (u_grad, u_rand)):
        X2 = project(Xs + h * scale * u, domain)
        q = pair_values(stack, Xs, X2, domain)
        val, arg = q.max(dim=1)
        for b in range(stack.B):
            if val[b] > best_val[b]:
                best_val[b] = val[b]
                best_pair[b] = None
                short_best[b] = (
                    float(val[b]),
                    Xs[b, arg[b]].cpu().numpy(),
                    X2[b, arg[b]].cpu().numpy(),
                )
    cands: list[tuple[np.ndarray, np.ndarray] | None] = []
    for b in range(stack.B):
        if short_best[b] is not None and best_pair[b] is None:
            cands.append((short_best[b][1], short_best[b][2]))
        elif best_pair[b] is not None:
            ii, jj, PP = best_pair[b]
            cands.append((PP[b, ii].cpu().numpy(), PP[b, jj].cpu().numpy()))
        else:
            cands.append(None)
    status = ["budget" if clock.out else "ok"] * stack.B
    return lower_result(
        "pairs",
        domain,
        stack,
        cands,
        clock.elapsed,
        status=status,
        info=[{"pairs": int(min(len(i), total if total <= max_pairs else max_pairs))}] * stack.B,
    )


# --------------------------------------------------------------------------- ascent


def _surrogate_forward(stack: Stack, X: Tensor, kappa: float | None) -> Tensor:
    """f with every kink max(0, t) smoothed to softplus_kappa (kappa None: the network)."""
    h = X
    for j, (W, b) in enumerate(zip(stack.weights, stack.biases, strict=True)):
        h = h @ W.transpose(1, 2)
        if b is not None:
            h = h + b[:, None, :]
        if j < len(stack.activations):
            act = stack.activations[j]
            if kappa is not None and act.piecewise_linear and len(act.slopes) == 2:
                lo, hi = min(act.slopes), max(act.slopes)
                h = lo * h + (hi - lo) * torch.nn.functional.softplus(h, beta=kappa)
            else:
                h = act(h)
    out = h[..., 0]
    if stack.skip is not None:
        out = out + (X @ stack.skip[:, :, None])[..., 0]
    return out


def _preactivation_scale(stack: Stack, X: Tensor) -> float:
    W, b = stack.weights[0], stack.biases[0]
    z = (X if X.ndim == 3 else X.expand(stack.B, *X.shape)) @ W.transpose(1, 2)
    if b is not None:
        z = z + b[:, None, :]
    z = z.abs()
    z = z[z > 0]
    return float(z.median()) if z.numel() else 1.0


def ascend(
    stack: Stack,
    domain: str,
    starts: Tensor,
    kappas: list[float | None],
    steps: int,
    lr: float,
    clock: Clock,
) -> tuple[Tensor, Tensor]:
    """Adam ascent of ||grad f_kappa||^2 from starts (B, S, d), stage by stage.

    Returns the best true value per member (B,) and the point where it was seen (B, d).
    Every iterate is evaluated on the true network, so a smoothed stage can only help.
    """
    x = starts.clone()
    best_val = point_values(stack, x, domain)
    arg = best_val.argmax(dim=1)
    best_x = x[torch.arange(stack.B), arg].clone()
    best_val = best_val.max(dim=1).values
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for kappa in kappas:
        x = x.detach().requires_grad_(True)
        m1, m2 = torch.zeros_like(x), torch.zeros_like(x)
        for t in range(1, steps + 1):
            f = _surrogate_forward(stack, x, kappa)
            (g,) = torch.autograd.grad(f.sum(), x, create_graph=True)
            obj = domain_norms(g, x, domain).pow(2).sum()
            (step,) = torch.autograd.grad(-obj, x)
            with torch.no_grad():
                # Adam (Kingma & Ba 2015, Algorithm 1), as torch.optim.Adam's defaults;
                # written out because torch.optim's first use imports torch._dynamo.
                m1.mul_(beta1).add_(step, alpha=1 - beta1)
                m2.mul_(beta2).addcmul_(step, step, value=1 - beta2)
                denom = (m2 / (1 - beta2**t)).sqrt_().add_(eps)
                x.addcdiv_(m1, denom, value=-lr / (1 - beta1**t))
                x.copy_(project(x, domain))
                vals = point_values(stack, x, domain)
                v, a = vals.max(dim=1)
                better = v > best_val
                best_val = torch.where(better, v, best_val)
                best_x[better] = x[torch.arange(stack.B), a][better]
            if clock.out:
                return best_val, best_x
    return best_val, best_x


@register_method(
    "ascent",
    "lower",
    _ALL_MODELS,
    _ALL_DOMAINS,
    "ascent on ||grad f|| of a softplus-smoothed surrogate, re-evaluated on the network",
)
def ascent_lower_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    X: Any = None,
    starts: Any = None,
    n_starts: int = 64,
    steps: int = 60,
    sharpness: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0),
    lr: float = 0.02,
    seed: int = 0,
    device: Any = None,
) -> MethodResult:
    """Surrogate gradient ascent on ||grad f(x)||^2 (tangential on the sphere).

    Parameters
    ----------
    X : array, shape (n, d) or (B, n, d), optional
        Data; with random points of the domain and convex combinations it forms the pool
        from which the ``n_starts`` starting points are taken (half the best points of the
        pool per member, half random ones).
    starts : array, shape (m, d) or (B, m, d), optional
        Extra starting points (e.g. the witnesses of other methods).
    sharpness : tuple of float
        Stages of kappa, in units of 1 / (median |pre-activation|) at the starts; for
        activations without kinks a single stage on the network itself is run.
    steps : int
        Adam steps per stage; ``lr`` is relative to the data scale.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    n_starts = check_positive_int("n_starts", n_starts)
    steps = check_positive_int("steps", steps)
    X = as_points(X, stack)
    extra = as_points(starts, stack, "starts")
    gen = _generator(seed)
    clock = Clock(None if budget.seconds is None else budget.seconds * stack.B)
    pool = candidate_points(stack, domain, X, 2048, gen)
    values = point_values(stack, pool, domain)  # (B, m)
    if pool.ndim == 2:
        pool = pool.expand(stack.B, *pool.shape)
    m = pool.shape[1]
    n_top = min(m, max(1, n_starts // 2))
    top = values.topk(n_top, dim=1).indices
    rand = torch.randint(m, (n_starts - n_top,), generator=gen).to(stack.device)
    idx = torch.cat([top, rand.expand(stack.B, -1)], dim=1)
    S = torch.gather(pool, 1, idx[..., None].expand(-1, -1, stack.d))
    if extra is not None:
        extra = project(extra, domain)
        if extra.ndim == 2:
            extra = extra.expand(stack.B, *extra.shape)
        S = torch.cat([S, extra], dim=1)
    smooth_kinks = any(a.piecewise_linear for a in stack.activations)
    scale = _preactivation_scale(stack, S)
    kappas: list[float | None] = [k / scale for k in sharpness] if smooth_kinks else [None]
    with threads_for(stack.B * S.shape[1] * max([stack.d, *stack.widths])):
        best_val, best_x = ascend(stack, domain, S, kappas, steps, lr * _scale(X), clock)
    cands = [
        (best_x[b].detach().cpu().numpy(), None) if best_val[b] > 0 else None
        for b in range(stack.B)
    ]
    status = ["budget" if clock.out else "ok"] * stack.B
    info = {"starts": int(S.shape[1]), "stages": len(kappas), "steps": steps}
    return lower_result(
        "ascent", domain, stack, cands, clock.elapsed, status, [dict(info) for _ in cands]
    )
