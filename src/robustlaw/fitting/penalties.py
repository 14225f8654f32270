"""Lipschitz penalties for the smoothest-fit search, and simple certified upper bounds.

The bounds are the engine's (:mod:`robustlaw._pl.bounds`, where the formulas and their
references are): for two-layer networks the spectral product, the path norm and the
averaged bound, each a certified upper bound on Lip(f) over R^d (hence over any domain),
and for positively homogeneous activations (relu, leaky relu) the same at the balanced
rescaling of the units (the same network), which often lowers the spectral and averaged
bounds; for MLPs the layer product Lip(psi)^L prod_l ||W_l||_op [BS, Section 3] (with
residual skips prod_l (1 + Lip ||W_l||)).

Penalties are the same functions on the family's parameters (differentiable), and a soft
maximum of the gradient norm at data and support points (an estimate, not a bound), each
returning one value per member.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import averaged, balanced, path_norm, slope_bounds, spectral
from robustlaw.models.mlp import MLP
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "PENALTIES",
    "CertifiedBounds",
    "Penalty",
    "certified_bounds",
    "get_penalty",
    "grad_norm_penalty",
]


@dataclass(frozen=True)
class CertifiedBounds:
    """Certified upper bounds on Lip(f_b) over R^d, one array of shape (B,) per bound.

    Attributes
    ----------
    bounds : dict of str -> ndarray (B,)
        ``spectral``, ``path_norm``, ``averaged`` and their ``*_balanced`` versions where
        they apply (inf where a bound does not apply, e.g. Lip(psi) = inf).
    best : ndarray (B,)
        The smallest of them, per member.
    best_name : list of str
        Which bound gave ``best``.
    """

    bounds: dict[str, np.ndarray]
    best: np.ndarray
    best_name: list[str]

    def to_dict(self) -> dict:
        return {
            "bounds": {k: v.tolist() for k, v in self.bounds.items()},
            "best": self.best.tolist(),
            "best_name": list(self.best_name),
        }


Layers = tuple[list[Tensor], list[tuple[float, float]], Tensor | None]


def _layers(family: TwoLayer | MLP, f64: bool = False) -> Layers:
    """The masked weights, slope ranges and linear skip of a family: differentiable in
    its parameters, or (``f64``) detached float64 copies on the CPU."""
    cast = (lambda t: t.detach().to("cpu", torch.float64)) if f64 else (lambda t: t)
    slopes = slope_bounds(family.activation)
    if isinstance(family, TwoLayer):
        m = family.mask.to(family.W.dtype)
        v = None if family.v is None else cast(family.v)
        return [cast(family.W * m[..., None]), cast(family.a * m)[:, None, :]], [slopes], v
    full = family._full_masks()
    weights = [
        cast(W * (full[j + 1][:, :, None] & full[j][:, None, :]).to(W.dtype))
        for j, W in enumerate(family.weights)
    ]
    return weights, [slopes] * (len(weights) - 1), None


def _homogeneous(family: TwoLayer | MLP) -> bool:
    act = family.activation
    return isinstance(family, TwoLayer) and act.piecewise_linear and len(act.slopes) == 2


def _bounds(family: TwoLayer | MLP) -> dict[str, Tensor]:
    weights, slopes, v = _layers(family, f64=True)
    finite = all(math.isfinite(x) for s in slopes for x in s)
    inf = torch.full((family.B,), math.inf, dtype=weights[0].dtype)
    if isinstance(family, MLP):
        return {
            "spectral": spectral(weights, slopes, residual=bool(family.skip)) if finite else inf
        }
    out: dict[str, Tensor] = {}
    variants = [("", weights)]
    if _homogeneous(family):
        variants.append(("_balanced", balanced(weights)))
    for suffix, ws in variants:
        out["spectral" + suffix] = spectral(ws, slopes, v) if finite else inf
        if finite:
            out["averaged" + suffix] = averaged(ws, slopes, v)
    out["path_norm"] = path_norm(weights, slopes, v) if finite else inf
    return out


def certified_bounds(family: TwoLayer | MLP) -> CertifiedBounds:
    """Simple certified upper bounds on Lip over R^d from the family's masked weights.

    Computed in float64 on the CPU (see the module docstring for the bounds).
    Random-feature families can be certified through ``to_two_layer()``.
    """
    if not isinstance(family, TwoLayer | MLP) and hasattr(family, "to_two_layer"):
        family = family.to_two_layer()
    if not isinstance(family, TwoLayer | MLP):
        raise TypeError(f"family must be a TwoLayer or MLP family, got {type(family).__name__}")
    with torch.no_grad():
        bounds = {k: v.numpy() for k, v in _bounds(family).items()}
    names = list(bounds)
    stacked = np.stack([bounds[k] for k in names], axis=0)
    best_idx = np.argmin(stacked, axis=0)
    best = stacked[best_idx, np.arange(stacked.shape[1])]
    return CertifiedBounds(bounds, best, [names[i] for i in best_idx])


# --------------------------------------------------------------------------- penalties


@dataclass(frozen=True)
class Penalty:
    """A per-member Lipschitz penalty.

    Attributes
    ----------
    name : str
    fn : callable
        family -> Tensor (B,), differentiable in the family's parameters.
    certified : bool
        The value is a certified upper bound on Lip (else an estimate).
    uses_data : bool
        The value depends on points (not only on the weights).
    """

    name: str
    fn: Callable[[TwoLayer | MLP], Tensor]
    certified: bool
    uses_data: bool = False

    def __call__(self, family: TwoLayer | MLP) -> Tensor:
        return self.fn(family)


def _check(family: object, name: str) -> TwoLayer | MLP:
    """The family, when the penalty ``name`` applies to it (ValueError / TypeError)."""
    if name != "spectral" and not isinstance(family, TwoLayer):
        kind = type(family).__name__
        raise TypeError(f"penalty {name!r} applies to TwoLayer families, got {kind}")
    lo, hi = slope_bounds(family.activation)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(
            f"the {name} penalty needs a Lipschitz activation (psi' in a known interval); "
            f"activation {family.activation.name!r} has Lip = inf"
        )
    return family


def _spectral_penalty(family: TwoLayer | MLP) -> Tensor:
    weights, slopes, v = _layers(_check(family, "spectral"))
    return spectral(weights, slopes, v, residual=isinstance(family, MLP) and bool(family.skip))


def _path_norm_penalty(family: TwoLayer | MLP) -> Tensor:
    return path_norm(*_layers(_check(family, "path_norm")))


def _averaged_penalty(family: TwoLayer | MLP) -> Tensor:
    """The averaged bound, at the balanced rescaling (which depends on the function only)
    for relu and leaky relu."""
    weights, slopes, v = _layers(_check(family, "averaged"))
    return averaged(balanced(weights) if _homogeneous(family) else weights, slopes, v)


def grad_norm_penalty(points: Tensor, power: float = 8.0) -> Penalty:
    """Soft maximum of ||grad f|| over ``points`` (m, d): (mean_z ||grad f(z)||^q)^{1/q}.

    An *estimate* (a smoothed lower estimate of the sup), not a certified bound; ``points``
    are typically the data plus random points of the data's support.
    """
    if not isinstance(points, Tensor) or points.ndim != 2:
        raise ValueError("points must be a tensor of shape (m, d)")
    if not power >= 1:
        raise ValueError(f"power must be >= 1, got {power!r}")

    def fn(family: TwoLayer | MLP) -> Tensor:
        Z = points.to(dtype=_dtype_of(family), device=_device_of(family))
        g = family.input_gradient(Z).norm(dim=-1)  # (B, m)
        scale = g.detach().amax(dim=1, keepdim=True).clamp_min(1e-30)
        return scale[:, 0] * ((g / scale) ** power).mean(dim=1) ** (1.0 / power)

    return Penalty("grad_norm", fn, certified=False, uses_data=True)


def _dtype_of(family: TwoLayer | MLP) -> torch.dtype:
    return next(family.parameters()).dtype


def _device_of(family: TwoLayer | MLP) -> torch.device:
    return next(family.parameters()).device


#: Weight-only penalties by name; "grad_norm" is built with its points by
#: :func:`grad_norm_penalty`.
PENALTIES: dict[str, Penalty] = {
    "spectral": Penalty("spectral", _spectral_penalty, certified=True),
    "path_norm": Penalty("path_norm", _path_norm_penalty, certified=True),
    "averaged": Penalty("averaged", _averaged_penalty, certified=True),
}


def get_penalty(penalty: str | Penalty, points: Tensor | None = None) -> Penalty:
    """A penalty by name (``"grad_norm"`` needs ``points``) or passed through."""
    if isinstance(penalty, Penalty):
        return penalty
    if penalty == "grad_norm":
        if points is None:
            raise ValueError("penalty 'grad_norm' needs points (data and support points)")
        return grad_norm_penalty(points)
    if not isinstance(penalty, str) or penalty not in PENALTIES:
        raise ValueError(
            f"penalty must be one of {[*sorted(PENALTIES), 'grad_norm']}, got {penalty!r}"
        )
    return PENALTIES[penalty]
