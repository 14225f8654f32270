"""The domains on which Lip is measured, and their points.

``"rd"`` (R^d, alias ``"R^d"``), ``"ball"`` (the closed unit ball), ``"sphere"`` (the
unit sphere S^{d-1}, where Lip is the supremum of the tangential gradient norm
||(I - x x^T) grad f(x)||, i.e. the Lipschitz constant for the geodesic distance).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DOMAINS", "normalize_domain", "project", "sample_domain"]

DOMAINS = ("rd", "ball", "sphere")
_ALIASES = {"rd": "rd", "r^d": "rd", "R^d": "rd", "ball": "ball", "sphere": "sphere"}


def normalize_domain(domain: str) -> str:
    """Map "R^d" / "rd" / "ball" / "sphere" to the canonical name; ValueError otherwise."""
    if not isinstance(domain, str) or domain not in _ALIASES:
        raise ValueError(f"domain must be one of 'R^d' (or 'rd'), 'ball', 'sphere'; got {domain!r}")
    return _ALIASES[domain]


def project(X: Tensor, domain: str) -> Tensor:
    """Map points into the domain: identity on R^d, radial projection onto the ball or
    the sphere (the origin maps to e_1 on the sphere). X: (..., d)."""
    if domain == "rd":
        return X
    norms = X.norm(dim=-1, keepdim=True)
    if domain == "ball":
        return X / norms.clamp(min=1.0)
    e1 = torch.zeros_like(X)
    e1[..., 0] = 1.0
    return torch.where(norms > 0, X / norms.clamp(min=1e-300), e1)


def sample_domain(
    domain: str,
    n: int,
    d: int,
    generator: torch.Generator,
    scale: float = 1.0,
    device: torch.device | str | None = None,
) -> Tensor:
    """n random points of the domain, float64, shape (n, d).

    Sphere: uniform on S^{d-1}. Ball: uniform in the unit ball. R^d: uniform directions
    with radii log-uniform in [scale / 4, 16 scale], so that both the bounded regions near
    the data and the unbounded ones far away are visited.
    """
    Z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    U = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    directions = Z / Z.norm(dim=1, keepdim=True).clamp(min=1e-300)
    if domain == "sphere":
        out = directions
    elif domain == "ball":
        out = directions * U ** (1.0 / d)
    else:
        out = directions * scale * 2.0 ** (6.0 * U - 2.0)
    return out.to(device) if device is not None else out
