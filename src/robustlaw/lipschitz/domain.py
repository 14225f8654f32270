"""Points of a domain, gradient norms on it, and recomputation of witnesses.

Domains (see :mod:`robustlaw.lipschitz.result`): ``"rd"`` (R^d), ``"ball"`` (the closed
unit ball), ``"sphere"`` (the unit sphere S^{d-1}, where Lip is the supremum of the
tangential gradient norm ||(I - x x^T) grad f(x)||, i.e. the Lipschitz constant for the
geodesic distance).

A point x is a valid lower-bound witness when f is differentiable on a neighbourhood of
x: for piecewise-linear networks we require every pre-activation to be away from its
kink by a relative margin (:data:`MARGIN`), so that the gradient computed at x is the
gradient of the affine piece around x. (At a kink the chain rule with relu'(0) = 0 can
return a vector larger than every nearby gradient.) A pair (x, x') is always valid:
|f(x) - f(x')| / dist(x, x') <= Lip, with the geodesic distance on the sphere.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import normalize_domain, project, sample_domain, tangential
from robustlaw.lipschitz.result import Witness
from robustlaw.lipschitz.stack import Stack, as_stack

__all__ = [
    "MARGIN",
    "distance",
    "domain_norms",
    "in_domain",
    "pair_values",
    "point_values",
    "project",
    "sample_domain",
    "witness_value",
]

#: Smallest relative distance of a pre-activation to a kink for a gradient to count.
MARGIN = 1e-9

#: Points evaluated at once per member (bounds memory at B * chunk * width floats).
_CHUNK_ELEMENTS = 2**22


def in_domain(x: np.ndarray, domain: str, tol: float = 1e-9) -> bool:
    """Whether a point lies in the domain (up to a relative tolerance on the norm)."""
    if domain == "rd":
        return bool(np.isfinite(x).all())
    r = float(np.linalg.norm(x))
    if domain == "ball":
        return r <= 1.0 + tol
    return abs(r - 1.0) <= tol


def distance(x: Tensor, x2: Tensor, domain: str) -> Tensor:
    """Euclidean distance, or the geodesic (great-circle) distance on the sphere
    (infinite between the two points of S^0)."""
    if domain == "sphere":
        if x.shape[-1] == 1:  # S^0 = {-1, 1} has no path between its two points
            return torch.where((x - x2).abs()[..., 0] > 0, math.inf, 0.0).to(x.dtype)
        xn = x / x.norm(dim=-1, keepdim=True)
        x2n = x2 / x2.norm(dim=-1, keepdim=True)
        # atan2 form: accurate for nearby and for antipodal points alike.
        cross = (xn - x2n).norm(dim=-1)
        plus = (xn + x2n).norm(dim=-1)
        return 2.0 * torch.atan2(cross, plus)
    return (x - x2).norm(dim=-1)


def domain_norms(grad: Tensor, X: Tensor, domain: str) -> Tensor:
    """||grad|| on R^d and the ball; ||(I - x^T x / |x|^2) grad|| on the sphere."""
    return tangential(grad, X) if domain == "sphere" else grad.norm(dim=-1)


def point_values(stack: Stack, X: Tensor, domain: str) -> Tensor:
    """Gradient norms on the domain with kink-margin validity, chunked.

    Parameters
    ----------
    X : Tensor, shape (n, d) or (B, n, d)
        Points (assumed to lie in the domain).

    Returns
    -------
    Tensor, shape (B, n)
        The (tangential, on the sphere) gradient norm at each point, 0 where the point
        sits within :data:`MARGIN` of a kink.
    """
    X = torch.as_tensor(X, dtype=torch.float64, device=stack.device)
    n = X.shape[-2]
    width = max([stack.d, *stack.widths])
    chunk = max(1, _CHUNK_ELEMENTS // max(1, stack.B * width))
    out = []
    for start in range(0, n, chunk):
        Xc = X[..., start : start + chunk, :]
        grad, margin = stack.gradient(Xc, with_margin=True)
        Xe = Xc.expand(stack.B, *Xc.shape[-2:]) if Xc.ndim == 2 else Xc
        values = domain_norms(grad, Xe, domain)
        out.append(torch.where(margin > MARGIN, values, torch.zeros_like(values)))
    return torch.cat(out, dim=1) if out else torch.zeros(stack.B, 0, dtype=torch.float64)


def pair_values(stack: Stack, X: Tensor, X2: Tensor, domain: str) -> Tensor:
    """|f(x) - f(x')| / dist(x, x') for matched rows. X, X2: (B, n, d) -> (B, n)."""
    f1 = stack.forward(X)
    f2 = stack.forward(X2)
    dist = distance(X, X2, domain)
    ok = dist > 0
    return torch.where(ok, (f1 - f2).abs() / torch.where(ok, dist, 1.0), torch.zeros_like(f1))


def witness_value(model, member: int, witness: Witness, domain: str) -> float:
    """Recompute, in float64, the value a witness certifies for member ``member``.

    For a point: the (tangential) gradient norm there, or 0 if the point lies within
    :data:`MARGIN` of a kink or outside the domain. For a pair: the difference quotient
    (geodesic on the sphere), or 0 if a point lies outside the domain.
    """
    domain = normalize_domain(domain)
    stack = as_stack(model)
    if not 0 <= member < stack.B:
        raise ValueError(f"member must lie in [0, {stack.B}), got {member}")
    one = stack.select([member])
    x = np.asarray(witness.x, dtype=np.float64)
    if x.shape != (stack.d,):
        raise ValueError(f"witness.x must have shape ({stack.d},), got {x.shape}")
    if not in_domain(x, domain):
        return 0.0
    X = torch.as_tensor(x, device=stack.device)[None, None, :]
    if witness.x2 is None:
        return float(point_values(one, X, domain)[0, 0])
    x2 = np.asarray(witness.x2, dtype=np.float64)
    if x2.shape != (stack.d,) or not in_domain(x2, domain):
        return 0.0
    X2 = torch.as_tensor(x2, device=stack.device)[None, None, :]
    value = float(pair_values(one, X, X2, domain)[0, 0])
    return value if math.isfinite(value) else 0.0
