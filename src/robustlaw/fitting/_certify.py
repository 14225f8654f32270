"""The one place where fitting reaches the piecewise-linear geometry and certified bounds.

The smoothest-fit search needs points of a domain, the pattern-SDP certificate (its value
at a dual point and the dual fixed-point iteration) and certified intervals on a domain
(the semidefinite bound and the exact branch and bound). These live in the Lipschitz
package today; every module of :mod:`robustlaw.fitting` takes them from here, so that
moving them onto a shared engine changes this file only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw.lipschitz._common import threads_for
from robustlaw.lipschitz.domain import project, sample_domain
from robustlaw.lipschitz.result import normalize_domain
from robustlaw.lipschitz.upper import SAFETY, sdp_dual_certificate, solve_pattern_sdp

__all__ = [
    "SAFETY",
    "certified_interval",
    "normalize_domain",
    "pattern_sdp_dual",
    "pattern_sdp_value",
    "project",
    "sample_domain",
    "sdp_certificate",
    "sign_columns",
    "threads_for",
]


def sign_columns(W: Tensor, a: Tensor, v: Tensor | None, slopes: tuple[float, float]) -> Tensor:
    """G = [c, N] (B, d, k+1) with grad f = G (1, sigma), sigma in [-1, 1]^k.

    psi' = m + r sigma (m, r the mid-point and half-width of the slope range) gives
    grad f = c + N sigma with c = v + m W^T a and N = r W^T diag(a) (docs/science.md
    section 5). W: (B, k, d), a: (B, k), v: (B, d) or None. Differentiable.
    """
    lo, hi = slopes
    M = a[..., None] * W
    c = (lo + hi) / 2 * M.sum(dim=1)
    c = c if v is None else c + v
    return torch.cat([c[:, :, None], (hi - lo) / 2 * M.transpose(1, 2)], dim=2)


def sdp_certificate(G: Tensor, lam: Tensor, temperature: float = 0.0) -> Tensor:
    """Certified max over sign vectors sigma of ||G sigma|| from a dual point lam > 0,
    (B, d, n), (B, n) -> (B,): sqrt(lambda_max(G diag(1/lam) G^T) sum(lam)), so an upper
    bound on Lip over R^d (hence on the ball and the sphere) for every lam > 0, and
    differentiable in G and lam.

    With ``temperature`` t > 0 lambda_max is replaced by the soft maximum
    e_max + t e_max log sum_j exp((e_j - e_max) / (t e_max)) >= lambda_max of the
    eigenvalues e_j, a larger (still certified) value that is smooth where eigenvalues meet.
    """
    if temperature <= 0:
        return sdp_dual_certificate(G, lam)
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
        value, lam, _, _ = solve_pattern_sdp(G.detach(), tol=1e-7, max_iter=int(iterations))
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
    slopes = (float(min(act.slopes)), float(max(act.slopes)))
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

    ``methods``: ``pattern_sdp`` (certified over R^d, hence on every domain) and/or
    ``exact`` (branch and bound on the domain, a certified interval when its ``seconds``
    per member run out).
    """
    from robustlaw.lipschitz import Budget, estimate

    X64 = X.detach().to(device=family.W.device, dtype=family.W.dtype)
    report = estimate(
        family,
        domain=domain,
        methods=tuple(methods),
        budget=Budget(seconds=float(seconds)),
        X=X64,
        seed=seed,
    )
    names = [f"{m} ({domain})" if m else "none" for m in report.upper_method]
    return np.asarray(report.upper, dtype=np.float64), names, np.asarray(report.lower)
