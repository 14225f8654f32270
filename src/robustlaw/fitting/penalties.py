"""Lipschitz penalties for the smoothest-fit search, and simple certified upper bounds.

Two-layer networks f(x) = sum_l a_l psi(w_l . x + b_l) [+ c] [+ v . x] have
grad f(x) = v + W^T diag(psi'(W x + b)) a. When psi' takes values in [lo, hi], write
psi' = mid + half * e with mid = (lo + hi)/2, half = (hi - lo)/2 and |e_l| <= 1; then for
every x (docs/science.md section 5)

- spectral product:  ||grad f(x)|| <= ||v|| + Lip(psi) ||a|| ||W||_op            [BLN]
- path norm:         ||grad f(x)|| <= ||v|| + Lip(psi) sum_l |a_l| ||w_l||
- averaged bound:    ||grad f(x)|| <= ||v + mid W^T a|| + half ||a|| ||W||_op
  (for ReLU ½(||W^T a|| + ||a|| ||W||_op); Combettes-Pesquet, LipLT),

so each is a certified upper bound on Lip(f) over R^d (hence over any domain). For
positively homogeneous activations (ReLU, leaky ReLU) the network is unchanged when a unit's
(w_l, b_l) is multiplied by t_l > 0 and a_l divided by t_l, so the bounds also hold for the
*balanced* rescaling t_l = sqrt(|a_l| / ||(w_l)||), which often lowers the spectral and
averaged bounds. For MLPs the certified bound is the layer product
Lip(psi)^L prod_l ||W_l||_op [BS, Section 3] (with residual skips prod_l (1 + Lip ||W_l||)).

Penalties are differentiable versions of these bounds (and a soft maximum of the gradient
norm at data and support points, which is an estimate, not a bound), each returning one
value per member.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from robustlaw.models.activations import LEAKY_SLOPE, Activation
from robustlaw.models.mlp import MLP
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "PENALTIES",
    "CertifiedBounds",
    "Penalty",
    "certified_bounds",
    "get_penalty",
    "grad_norm_penalty",
    "slope_range",
]


def slope_range(activation: Activation) -> tuple[float, float] | None:
    """[lo, hi] containing psi'(t) for all t, or None when unknown or unbounded."""
    name = activation.name
    if name == "relu":
        return (0.0, 1.0)
    if name == "leaky_relu":
        return (LEAKY_SLOPE, 1.0)
    if name in ("tanh", "softplus"):
        return (0.0, 1.0)
    if name == "sigmoid":
        return (0.0, 0.25)
    if name == "cos":
        return (-1.0, 1.0)
    if name == "gelu":
        hi = activation.lipschitz
        return (1.0 - hi, hi)  # psi'(-t) = 1 - psi'(t) for t Phi(t)
    if name in ("poly1", "hermite1"):
        c = float(activation.derivative(torch.zeros(1, dtype=torch.float64)).item())
        return (c, c)
    return None


_HOMOGENEOUS = ("relu", "leaky_relu")


# --------------------------------------------------------------------------- certified bounds


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


def _two_layer_bounds(family: TwoLayer) -> dict[str, np.ndarray]:
    eff = family.effective_weights()
    W = eff.W.detach().to(device="cpu", dtype=torch.float64)
    a = eff.a.detach().to(device="cpu", dtype=torch.float64)
    v = None if eff.v is None else eff.v.detach().to(device="cpu", dtype=torch.float64)
    act = eff.activation
    lip = act.lipschitz
    B = W.shape[0]
    v_norm = torch.zeros(B, dtype=torch.float64) if v is None else v.norm(dim=1)
    out: dict[str, np.ndarray] = {}

    def spectral_terms(W_: Tensor, a_: Tensor) -> tuple[Tensor, Tensor]:
        return a_.norm(dim=1), torch.linalg.matrix_norm(W_, ord=2)

    variants = [("", W, a)]
    if act.name in _HOMOGENEOUS:
        # balanced rescaling of each unit (same function): |a_l| = ||w_l|| = sqrt(|a_l| ||w_l||);
        # a unit with w_l = 0 is constant and drops out of the gradient.
        variants.append(("_balanced", *_balanced(W, a)))
    sr = slope_range(act)
    for suffix, W_, a_ in variants:
        a_norm, W_op = spectral_terms(W_, a_)
        if math.isfinite(lip):
            out["spectral" + suffix] = (v_norm + lip * a_norm * W_op).numpy()
        else:
            out["spectral" + suffix] = np.full(B, np.inf)
        if sr is not None:
            lo, hi = sr
            mid, half = (lo + hi) / 2, (hi - lo) / 2
            lin = torch.einsum("bkd,bk->bd", W_, a_) * mid
            if v is not None:
                lin = lin + v
            out["averaged" + suffix] = (lin.norm(dim=1) + half * a_norm * W_op).numpy()
    if math.isfinite(lip):
        out["path_norm"] = (v_norm + lip * (a.abs() * W.norm(dim=2)).sum(dim=1)).numpy()
    else:
        out["path_norm"] = np.full(B, np.inf)
    return out


def _mlp_bounds(family: MLP) -> dict[str, np.ndarray]:
    lip = family.activation.lipschitz
    layers = family.layers()
    B = family.B
    if not math.isfinite(lip):
        return {"spectral": np.full(B, np.inf)}
    norms = [
        torch.linalg.matrix_norm(W.to(device="cpu", dtype=torch.float64), ord=2) for W, _ in layers
    ]
    if family.skip:
        total = lip * norms[0] * norms[-1]
        for nrm in norms[1:-1]:
            total = total * (1.0 + lip * nrm)
    else:
        total = torch.ones(B, dtype=torch.float64) * lip ** (len(layers) - 1)
        for nrm in norms:
            total = total * nrm
    return {"spectral": total.numpy()}


def certified_bounds(family: TwoLayer | MLP) -> CertifiedBounds:
    """Simple certified upper bounds on Lip over R^d from the family's masked weights.

    Computed in float64 on the CPU from ``effective_weights()`` (two-layer) or ``layers()``
    (MLP); see the module docstring for the formulas. Random-feature families can be
    certified through ``to_two_layer()``.
    """
    if isinstance(family, TwoLayer):
        bounds = _two_layer_bounds(family)
    elif isinstance(family, MLP):
        bounds = _mlp_bounds(family)
    elif hasattr(family, "to_two_layer"):
        bounds = _two_layer_bounds(family.to_two_layer())
    else:
        raise TypeError(f"family must be a TwoLayer or MLP family, got {type(family).__name__}")
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


def _masked_two_layer(family: TwoLayer) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    m = family.mask.to(family.W.dtype)
    b = None if family.b is None else family.b * m
    return family.W * m[..., None], family.a * m, b, family.v


def _require_two_layer(family: object, name: str) -> TwoLayer:
    if not isinstance(family, TwoLayer):
        kind = type(family).__name__
        raise TypeError(f"penalty {name!r} applies to TwoLayer families, got {kind}")
    return family


def _spectral_norm(W: Tensor) -> Tensor:
    return torch.linalg.matrix_norm(W, ord=2)


def _spectral_penalty(family: TwoLayer | MLP) -> Tensor:
    if isinstance(family, MLP):
        lip = family.activation.lipschitz
        if not math.isfinite(lip):
            raise ValueError(f"the spectral penalty needs a Lipschitz activation, got {lip}")
        full = family._full_masks()
        total = None
        for j, W in enumerate(family.weights):
            m = (full[j + 1][:, :, None] & full[j][:, None, :]).to(W.dtype)
            nrm = _spectral_norm(W * m)
            if family.skip and 0 < j < len(family.weights) - 1:
                nrm = 1.0 + lip * nrm
            elif j < len(family.weights) - 1:
                nrm = lip * nrm
            total = nrm if total is None else total * nrm
        return total
    family = _require_two_layer(family, "spectral")
    lip = family.activation.lipschitz
    if not math.isfinite(lip):
        raise ValueError(f"the spectral penalty needs a Lipschitz activation, got Lip = {lip}")
    W, a, _, v = _masked_two_layer(family)
    out = lip * a.norm(dim=1) * _spectral_norm(W)
    return out if v is None else out + v.norm(dim=1)


def _path_norm_penalty(family: TwoLayer | MLP) -> Tensor:
    family = _require_two_layer(family, "path_norm")
    lip = family.activation.lipschitz
    if not math.isfinite(lip):
        raise ValueError(f"the path-norm penalty needs a Lipschitz activation, got Lip = {lip}")
    W, a, _, v = _masked_two_layer(family)
    out = lip * (a.abs() * W.norm(dim=2)).sum(dim=1)
    return out if v is None else out + v.norm(dim=1)


def _averaged_penalty(family: TwoLayer | MLP) -> Tensor:
    family = _require_two_layer(family, "averaged")
    sr = slope_range(family.activation)
    if sr is None:
        raise ValueError(
            f"the averaged bound needs psi' in a known interval; activation "
            f"{family.activation.name!r} has none (use 'spectral' or 'path_norm')"
        )
    lo, hi = sr
    W, a, _, v = _masked_two_layer(family)
    lin = torch.einsum("bkd,bk->bd", W, a) * ((lo + hi) / 2)
    if v is not None:
        lin = lin + v
    if family.activation.name in _HOMOGENEOUS:
        # the bound at the balanced rescaling, which depends on the function only
        W, a = _balanced(W, a)
    return lin.norm(dim=1) + (hi - lo) / 2 * a.norm(dim=1) * _spectral_norm(W)


def _balanced(W: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:
    """Units rescaled to |a_l| = ||w_l|| = sqrt(|a_l| ||w_l||) (same function for ReLU)."""
    w_norm = W.norm(dim=2)
    size = torch.sqrt(a.abs() * w_norm + 1e-30)
    direction = W / (w_norm + 1e-30)[..., None]
    return direction * size[..., None], torch.sign(a) * size


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
