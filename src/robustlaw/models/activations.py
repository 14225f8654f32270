"""Activations with their derivative and Lipschitz constant, in one registry.

Every activation psi knows psi, psi' and Lip(psi) = sup_t |psi'(t)| (``math.inf`` when
psi' is unbounded on R), and whether it is piecewise linear (which the exact Lipschitz
methods need). Adding an activation is one :class:`Activation` and one registry line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Polynomial",
    "get_activation",
    "hermite_coefficients",
    "module_for",
    "name_of_module",
    "polynomial_activation",
    "register_activation",
]


@dataclass(frozen=True)
class Activation:
    """A scalar non-linearity psi: R -> R applied elementwise.

    Attributes
    ----------
    name : str
        Registry key, as specs and the CLI spell it.
    fn : callable
        psi, elementwise on tensors of any shape.
    derivative : callable
        psi', elementwise (a fixed choice at kinks, e.g. relu'(0) = 0).
    lipschitz : float
        sup_t |psi'(t)|; ``math.inf`` when unbounded (x^2/2, polynomials) or when psi is
        discontinuous (threshold).
    piecewise_linear : bool
        True for relu and leaky_relu (the exact methods over activation patterns apply).
    module : callable
        Builds the equivalent ``torch.nn.Module`` for export.
    slopes : tuple of float
        For piecewise-linear activations, the slopes of the pieces (relu: (0, 1)).
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    derivative: Callable[[Tensor], Tensor]
    lipschitz: float
    piecewise_linear: bool
    module: Callable[[], nn.Module]
    slopes: tuple[float, ...] = field(default=())

    def __call__(self, t: Tensor) -> Tensor:
        return self.fn(t)


class Cos(nn.Module):
    """cos(t) as a module."""

    def forward(self, t: Tensor) -> Tensor:
        return torch.cos(t)


class HalfSquare(nn.Module):
    """t^2 / 2 as a module."""

    def forward(self, t: Tensor) -> Tensor:
        return 0.5 * t * t


class Threshold(nn.Module):
    """The unit step 1[t > 0] as a module (Baum's threshold units)."""

    def forward(self, t: Tensor) -> Tensor:
        return (t > 0).to(t.dtype)


LEAKY_SLOPE = 0.01


def _gelu_lipschitz() -> float:
    """sup_t d/dt [t Phi(t)] = Phi(sqrt 2) + sqrt 2 phi(sqrt 2): the derivative peaks at sqrt 2."""
    t = math.sqrt(2.0)
    Phi = 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))
    phi = math.exp(-t * t / 2.0) / math.sqrt(2.0 * math.pi)
    return Phi + t * phi


def _gelu_derivative(t: Tensor) -> Tensor:
    Phi = 0.5 * (1.0 + torch.erf(t / math.sqrt(2.0)))
    phi = torch.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
    return Phi + t * phi


ACTIVATIONS: dict[str, Activation] = {}


def register_activation(activation: Activation) -> Activation:
    """Add an activation to the registry (its name must be new)."""
    if activation.name in ACTIVATIONS:
        raise ValueError(f"activation {activation.name!r} is already registered")
    ACTIVATIONS[activation.name] = activation
    return activation


for _activation in (
    Activation(
        "relu",
        torch.relu,
        lambda t: (t > 0).to(t.dtype),
        1.0,
        True,
        nn.ReLU,
        (0.0, 1.0),
    ),
    Activation(
        "leaky_relu",
        lambda t: torch.nn.functional.leaky_relu(t, LEAKY_SLOPE),
        lambda t: torch.where(t > 0, torch.ones_like(t), torch.full_like(t, LEAKY_SLOPE)),
        1.0,
        True,
        lambda: nn.LeakyReLU(LEAKY_SLOPE),
        (LEAKY_SLOPE, 1.0),
    ),
    Activation("tanh", torch.tanh, lambda t: 1.0 - torch.tanh(t) ** 2, 1.0, False, nn.Tanh),
    Activation("softplus", torch.nn.functional.softplus, torch.sigmoid, 1.0, False, nn.Softplus),
    Activation(
        "sigmoid",
        torch.sigmoid,
        lambda t: torch.sigmoid(t) * (1.0 - torch.sigmoid(t)),
        0.25,
        False,
        nn.Sigmoid,
    ),
    Activation(
        "gelu", torch.nn.functional.gelu, _gelu_derivative, _gelu_lipschitz(), False, nn.GELU
    ),
    Activation("cos", torch.cos, lambda t: -torch.sin(t), 1.0, False, Cos),
    Activation("square", lambda t: 0.5 * t * t, lambda t: t, math.inf, False, HalfSquare),
    Activation(
        "threshold",
        lambda t: (t > 0).to(t.dtype),
        torch.zeros_like,
        math.inf,
        False,
        Threshold,
    ),
):
    register_activation(_activation)


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name (an :class:`Activation` passes through).

    Polynomials of any degree q >= 1 are created on first use: ``"poly<q>"`` (t^q) and
    ``"hermite<q>"`` (normalized Hermite polynomial), see :func:`polynomial_activation`.
    """
    if isinstance(name, Activation):
        return name
    if isinstance(name, str) and name not in ACTIVATIONS:
        match = _POLYNOMIAL_NAME.fullmatch(name)
        if match is not None and int(match.group(2)) >= 1:
            kind = "monomial" if match.group(1) == "poly" else "hermite"
            return polynomial_activation(int(match.group(2)), kind)
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)} (or 'poly<q>' / 'hermite<q>' "
            f"with q >= 1), got {name!r}"
        )
    return ACTIVATIONS[name]


def module_for(name: str | Activation) -> nn.Module:
    """The ``torch.nn.Module`` computing the activation."""
    return get_activation(name).module()


_MODULE_NAMES: list[tuple[type[nn.Module], str]] = [
    (nn.ReLU, "relu"),
    (nn.Tanh, "tanh"),
    (nn.Sigmoid, "sigmoid"),
    (nn.GELU, "gelu"),
    (Cos, "cos"),
    (HalfSquare, "square"),
    (Threshold, "threshold"),
]


def name_of_module(module: nn.Module) -> str | None:
    """The registry name of an activation module, or ``None`` when it is not one we know.

    Softplus and LeakyReLU are recognized only with the parameters the registry uses
    (beta = 1, threshold = 20; negative slope 0.01); GELU only with approximate='none'.
    """
    if isinstance(module, nn.Softplus):
        return "softplus" if module.beta == 1 and module.threshold == 20 else None
    if isinstance(module, nn.LeakyReLU):
        return "leaky_relu" if module.negative_slope == LEAKY_SLOPE else None
    if isinstance(module, nn.GELU) and module.approximate != "none":
        return None
    if isinstance(module, Polynomial):
        known = ACTIVATIONS.get(module.name)
        if known is None:
            match = _POLYNOMIAL_NAME.fullmatch(module.name)
            known = None if match is None else get_activation(module.name)
        if known is None:
            return None
        expected = _POLYNOMIAL_COEFFICIENTS[known.name]
        coefficients = module.coefficients.detach().cpu().to(torch.float64).numpy()
        same = len(coefficients) == len(expected) and np.allclose(
            coefficients, expected, rtol=1e-12, atol=0.0
        )
        return known.name if same else None
    for cls, name in _MODULE_NAMES:
        if type(module) is cls:
            return name
    return None


# --------------------------------------------------------------------------- polynomials

_POLYNOMIAL_NAME = re.compile(r"(poly|hermite)(\d+)")
_POLYNOMIAL_COEFFICIENTS: dict[str, np.ndarray] = {}


def hermite_coefficients(q: int) -> np.ndarray:
    """Monomial coefficients (c_0, ..., c_q) of the normalized Hermite polynomial h_q.

    h_q = He_q / sqrt(q!), with He_q the probabilists' Hermite polynomial
    (He_0 = 1, He_1 = t, He_{j+1} = t He_j - j He_{j-1}); the h_q are orthonormal under
    N(0, 1), the basis in which [BLN, Section 5] expands polynomial activations.
    """
    if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 0:
        raise ValueError(f"q must be a non-negative integer, got {q!r}")
    previous, current = np.zeros(1), np.ones(1)  # He_{-1} = 0, He_0 = 1
    for j in range(int(q)):
        nxt = np.zeros(j + 2)
        nxt[1:] = current  # t * He_j
        nxt[: len(previous)] -= j * previous
        previous, current = current, nxt
    return current / math.sqrt(math.factorial(int(q)))


def _horner(coefficients: Tensor, t: Tensor) -> Tensor:
    out = torch.full_like(t, float(coefficients[-1]))
    for c in reversed(coefficients[:-1].tolist()):
        out = out * t + c
    return out


class Polynomial(nn.Module):
    """psi(t) = sum_j c_j t^j as a module (registry name in ``name``)."""

    def __init__(self, coefficients: Sequence[float] | np.ndarray, name: str) -> None:
        super().__init__()
        self.name = name
        self.register_buffer(
            "coefficients", torch.as_tensor(np.asarray(coefficients, dtype=np.float64))
        )

    def forward(self, t: Tensor) -> Tensor:
        return _horner(self.coefficients.to(t.dtype), t)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def polynomial_activation(q: int, kind: str = "monomial") -> Activation:
    """The degree-q polynomial activation, registered on first use.

    Parameters
    ----------
    q : int
        Degree, q >= 1.
    kind : {"monomial", "hermite"}
        ``"monomial"``: psi(t) = t^q, registry name ``"poly<q>"``.
        ``"hermite"``: psi = h_q, the normalized Hermite polynomial
        (:func:`hermite_coefficients`), registry name ``"hermite<q>"``.

    Lip(psi) is 1 for q = 1 and ``math.inf`` for q >= 2 (psi' unbounded on R); polynomial
    activations are the case [BLN] prove the two-layer law for when n ~ d^q.
    """
    if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 1:
        raise ValueError(f"q must be an integer >= 1, got {q!r}")
    if kind not in ("monomial", "hermite"):
        raise ValueError(f"kind must be 'monomial' or 'hermite', got {kind!r}")
    q = int(q)
    name = f"poly{q}" if kind == "monomial" else f"hermite{q}"
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    if kind == "monomial":
        coefficients = np.zeros(q + 1)
        coefficients[q] = 1.0
    else:
        coefficients = hermite_coefficients(q)
    slope = np.arange(1, q + 1) * coefficients[1:]
    c = torch.as_tensor(coefficients)
    dc = torch.as_tensor(slope)
    lipschitz = abs(float(slope[0])) if q == 1 else math.inf
    _POLYNOMIAL_COEFFICIENTS[name] = coefficients
    return register_activation(
        Activation(
            name,
            lambda t, c=c: _horner(c, t),
            lambda t, dc=dc: _horner(dc, t),
            lipschitz,
            False,
            lambda coefficients=coefficients, name=name: Polynomial(coefficients, name),
        )
    )


for _q in range(1, 5):
    polynomial_activation(_q, "monomial")
    polynomial_activation(_q, "hermite")
