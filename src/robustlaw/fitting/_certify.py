"""Certified bounds the smoothest-fit search takes from the engine (:mod:`robustlaw._pl`).

The engine holds the pattern SDP (:func:`~robustlaw._pl.pattern_sdp`, its certificate
:func:`~robustlaw._pl.sdp_certificate` and the sign columns
:func:`~robustlaw._pl.sign_columns`) and the exact branch and bound
(:func:`~robustlaw._pl.solve_exact`). This module adds what the search needs on top:
a smoothed certificate to descend on, a dual point after a fixed number of steps, the
pattern-SDP bound of a family grouped by width, and certified intervals on a domain.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import (
    family_nets,
    pattern_sdp,
    sign_columns,
    slope_bounds,
    solve_exact,
    threads_for,
)
from robustlaw._pl import sdp_certificate as _sdp_certificate
from robustlaw._pl.bounds import SAFETY

__all__ = ["certified_interval", "pattern_sdp_dual", "pattern_sdp_value", "sdp_certificate"]


def sdp_certificate(G: Tensor, lam: Tensor, temperature: float = 0.0) -> Tensor:
    """Certified max over sign vectors sigma of ||G sigma|| from a dual point lam > 0,
    (B, d, n), (B, n) -> (B,): sqrt(lambda_max(G diag(1/lam) G^T) sum(lam)), so an upper
    bound on Lip over R^d (hence on the ball and the sphere) for every lam > 0, and
    differentiable in G and lam (:func:`robustlaw._pl.sdp_certificate`).

    With ``temperature`` t > 0 lambda_max is replaced by the soft maximum
    e_max + t e_max log sum_j exp((e_j - e_max) / (t e_max)) >= lambda_max of the
    eigenvalues e_j, a larger (still certified) value that is smooth where eigenvalues meet.
    """
    if temperature <= 0:
        return _sdp_certificate(G, lam)
    A = (G / lam[:, None, :]) @ G.transpose(1, 2)
    ev = torch.linalg.eigvalsh(0.5 * (A + A.transpose(1, 2))).clamp(min=0.0)
    top = ev[:, -1:].detach().clamp(min=1e-300)
    scale = temperature * top
    soft = ev[:, -1] + scale[:, 0] * torch.logsumexp((ev - ev[:, -1:]) / scale, dim=1)
    return torch.sqrt(soft * lam.sum(dim=1))


def pattern_sdp_dual(G: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
    """A good dual point of the pattern SDP by ``iterations`` fixed-point steps, (B, d, n)
    -> (value (B,), lam (B, n)); the value is certified (its dual point checked)."""
    with torch.no_grad():
        value, lam, _, _ = pattern_sdp(G.detach(), tol=1e-7, max_iter=int(iterations))
    return value, lam


def pattern_sdp_value(family: Any, iterations: int = 200) -> np.ndarray:
    """The certified pattern-SDP bound on Lip over R^d of every member of a two-layer
    family with a piecewise-linear activation (inf for others), (B,), in float64; members
    are grouped by width so that no work goes to masked units."""
    act = family.activation
    out = np.full(family.B, np.inf)
    if not (act.piecewise_linear and len(act.slopes) == 2):
        return out
    eff = family.effective_weights()
    cast = lambda t: None if t is None else t.to(torch.float64)  # noqa: E731
    slopes = slope_bounds(act)
    widths = eff.mask.sum(dim=1).cpu()
    for k in torch.unique(widths).tolist():
        rows = torch.nonzero(widths == k)[:, 0]
        keep = eff.mask[rows]  # every member of the group has exactly k real units
        W = cast(eff.W[rows][keep].reshape(len(rows), int(k), -1))
        a = cast(eff.a[rows][keep].reshape(len(rows), int(k)))
        G = sign_columns(W, a, None if eff.v is None else cast(eff.v[rows]), slopes)
        with threads_for(G.numel() * G.shape[1]):
            value, _ = pattern_sdp_dual(G, iterations)
        out[rows.numpy()] = (value * (1.0 + SAFETY)).cpu().numpy()
    return out


def certified_interval(
    family: Any, domain: str, X: Tensor, seconds: float, methods: tuple[str, ...], seed: int = 0
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Certified bounds on Lip over ``domain`` per member: (upper (B,), the method that
    gave each as ``"<method> (<domain>)"``, lower (B,), a witness value).

    ``methods``: ``pattern_sdp`` (:func:`robustlaw._pl.pattern_sdp`, certified over R^d,
    hence on every domain) and/or ``exact`` (:func:`robustlaw._pl.solve_exact`, the branch
    and bound on the domain, a certified interval when its ``seconds`` per member run out;
    relu / leaky relu only, the data points ``X`` seed its incumbent).
    """
    w = family.effective_weights()
    slopes = slope_bounds(w.activation)
    f64 = lambda t: None if t is None else t.detach().to("cpu", torch.float64)  # noqa: E731
    B = family.B
    upper, lower, names = np.full(B, math.inf), np.zeros(B), ["none"] * B
    if "pattern_sdp" in methods and all(math.isfinite(x) for x in slopes):
        G = sign_columns(f64(w.W), f64(w.a), f64(w.v), slopes)
        with threads_for(G.numel() * G.shape[1]):
            _, lam, _, _ = pattern_sdp(G, deadline=time.perf_counter() + seconds * B)
            upper = _sdp_certificate(G, lam).numpy() * (1.0 + SAFETY)
        names = [f"pattern_sdp ({domain})"] * B
    act = w.activation
    if "exact" in methods and act.piecewise_linear and len(act.slopes) == 2:
        hints = list(X.detach().to("cpu", torch.float64).numpy())
        for i, net in enumerate(family_nets(family)):
            res = solve_exact(net, domain, seconds=seconds, hints=hints, seed=seed)
            lower[i] = res.lower
            if res.upper < upper[i]:
                upper[i], names[i] = res.upper, f"exact ({domain})"
    return upper, names, lower
