"""The internal form every Lipschitz method works on: a batch of feed-forward stacks.

A :class:`Stack` holds B scalar networks with the same layer sizes,

    z_1 = W_1 x + b_1,   z_j = W_j psi_{j-1}(z_{j-1}) + b_j   (j = 2..D),   f(x) = z_D [+ v . x],

as per-layer tensors with a leading batch dimension (members of different widths are
padded with zero units, which change neither f nor its gradient). It is built by
:func:`as_stack` from a :class:`~robustlaw.models.TwoLayer` family, from any family that
exposes ``layers()`` (the MLP family), from an ``nn.Sequential`` of ``nn.Linear`` and
activation layers, from a list of such modules (one member each) or from a stack.

Everything is held in float64: certified bounds and witness values are recomputed in
double precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from robustlaw._pl import PLNet, pl_nets, slope_bounds
from robustlaw.models.activations import Activation, get_activation, name_of_module

__all__ = [
    "Stack",
    "activation_from_module",
    "as_stack",
    "slope_bounds",
]


# --------------------------------------------------------------------------- activations


def _leaky(alpha: float) -> Activation:
    alpha = float(alpha)
    return Activation(
        f"leaky_relu({alpha:g})",
        lambda t: torch.nn.functional.leaky_relu(t, alpha),
        lambda t: torch.where(t > 0, torch.ones_like(t), torch.full_like(t, alpha)),
        max(1.0, abs(alpha)),
        True,
        lambda: nn.LeakyReLU(alpha),
        (alpha, 1.0),
    )


def _softplus(beta: float, threshold: float) -> Activation:
    beta, threshold = float(beta), float(threshold)
    return Activation(
        f"softplus(beta={beta:g})",
        lambda t: torch.nn.functional.softplus(t, beta, threshold),
        lambda t: torch.sigmoid(beta * t),
        1.0,
        False,
        lambda: nn.Softplus(beta, threshold),
    )


def activation_from_module(module: nn.Module) -> Activation | None:
    """The :class:`Activation` computed by an activation layer, or None if unsupported.

    Knows every layer of the activation registry plus ``nn.LeakyReLU`` with any slope
    and ``nn.Softplus`` with any beta.
    """
    name = name_of_module(module)
    if name is not None:
        return get_activation(name)
    if isinstance(module, nn.LeakyReLU):
        return _leaky(module.negative_slope)
    if isinstance(module, nn.Softplus):
        return _softplus(module.beta, module.threshold)
    return None


# --------------------------------------------------------------------------- the stack


@dataclass(frozen=True, eq=False)
class Stack:
    """B scalar feed-forward networks with the same layer sizes, in float64.

    Attributes
    ----------
    weights : tuple of Tensor
        ``weights[j]`` has shape (B, n_{j+1}, n_j); n_0 = d and the last layer has one
        output row.
    biases : tuple of (Tensor or None)
        ``biases[j]`` has shape (B, n_{j+1}).
    activations : tuple of Activation
        ``activations[j]`` follows layer j; one fewer than layers.
    skip : Tensor or None
        (B, d): a linear skip v added to the output (two-layer families).
    members : list of dict
        Per-member metadata carried from the source family.
    """

    weights: tuple[Tensor, ...]
    biases: tuple[Tensor | None, ...]
    activations: tuple[Activation, ...]
    skip: Tensor | None = None
    members: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.weights) < 1 or len(self.biases) != len(self.weights):
            raise ValueError("a stack needs at least one layer and one bias entry per layer")
        if len(self.activations) != len(self.weights) - 1:
            raise ValueError("a stack needs exactly one activation between consecutive layers")
        B = self.weights[0].shape[0]
        for j, W in enumerate(self.weights):
            if W.ndim != 3 or W.shape[0] != B:
                raise ValueError(f"weights[{j}] must have shape (B={B}, out, in)")
            if j and W.shape[2] != self.weights[j - 1].shape[1]:
                raise ValueError(f"weights[{j}] does not chain onto weights[{j - 1}]")
        if self.weights[-1].shape[1] != 1:
            raise ValueError(
                "Lipschitz constants are computed for scalar networks; the last layer has "
                f"{self.weights[-1].shape[1]} outputs"
            )
        tensors = [*self.weights, *(t for t in self.biases if t is not None)]
        if self.skip is not None:
            tensors.append(self.skip)
        for t in tensors:
            if not torch.isfinite(t).all():
                raise ValueError("network weights must be finite (found NaN or inf)")
        if not self.members:
            object.__setattr__(self, "members", [{} for _ in range(B)])

    # ------------------------------------------------------------------ shape

    @property
    def B(self) -> int:
        """Number of members."""
        return self.weights[0].shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.weights[0].shape[2]

    @property
    def depth(self) -> int:
        """Number of affine layers D (two-layer networks have D = 2)."""
        return len(self.weights)

    @property
    def widths(self) -> list[int]:
        """Hidden layer sizes (padded)."""
        return [W.shape[1] for W in self.weights[:-1]]

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def kind(self) -> str:
        """ "two_layer" for one hidden layer, "mlp" for deeper stacks, "linear" for none."""
        return {1: "linear", 2: "two_layer"}.get(self.depth, "mlp")

    @property
    def piecewise_linear(self) -> bool:
        """Every activation is piecewise linear (relu, leaky relu)."""
        return all(act.piecewise_linear for act in self.activations)

    def slopes(self) -> list[tuple[float, float]]:
        """Slope range [alpha_j, beta_j] of every activation (see :func:`slope_bounds`)."""
        return [slope_bounds(act) for act in self.activations]

    # ------------------------------------------------------------------ evaluation

    def _inputs(self, X: Tensor) -> Tensor:
        X = torch.as_tensor(X, dtype=torch.float64, device=self.device)
        if X.ndim == 2:
            X = X.expand(self.B, *X.shape)
        if X.ndim != 3 or X.shape[0] != self.B or X.shape[2] != self.d:
            raise ValueError(
                f"X must have shape (n, {self.d}) or ({self.B}, n, {self.d}), got {tuple(X.shape)}"
            )
        return X

    def forward(self, X: Tensor) -> Tensor:
        """f_b(x_i). X: (n, d) or (B, n, d) -> (B, n)."""
        X = self._inputs(X)
        h = X
        for j, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ W.transpose(1, 2)
            if b is not None:
                h = h + b[:, None, :]
            if j < len(self.activations):
                h = self.activations[j](h)
        out = h[..., 0]
        if self.skip is not None:
            out = out + (X @ self.skip[:, :, None])[..., 0]
        return out

    def gradient(self, X: Tensor, with_margin: bool = False) -> tuple[Tensor, Tensor | None]:
        """grad_x f_b(x_i) by the chain rule, and optionally the kink margin.

        Parameters
        ----------
        X : Tensor, shape (n, d) or (B, n, d)
        with_margin : bool
            Also return, per point, the smallest relative distance of a pre-activation to
            a kink of a piecewise-linear activation, min_l |z_l| / (|W_l| |h| + |b_l|)
            (inf when no activation has kinks). A point with margin > 0 has a
            neighbourhood on which f is affine, so its gradient is a valid lower bound.

        Returns
        -------
        grad : Tensor, shape (B, n, d)
        margin : Tensor, shape (B, n), or None
        """
        X = self._inputs(X)
        h = X
        slopes = []
        margin = None
        if with_margin:
            margin = torch.full(X.shape[:2], math.inf, dtype=X.dtype, device=X.device)
        for j, act in enumerate(self.activations):
            W, b = self.weights[j], self.biases[j]
            z = h @ W.transpose(1, 2)
            if b is not None:
                z = z + b[:, None, :]
            if with_margin and act.piecewise_linear:
                scale = h.abs() @ W.abs().transpose(1, 2)
                if b is not None:
                    scale = scale + b.abs()[:, None, :]
                # units with no incoming weight are constant: they never reach a kink
                live = (W != 0).any(dim=2)[:, None, :].expand_as(z)
                rel = torch.where(live, z.abs() / scale.clamp(min=1e-300), math.inf)
                margin = torch.minimum(margin, rel.amin(dim=2))
            slopes.append(act.derivative(z))
            h = act(z)
        last = self.weights[-1][:, 0, :]
        grad = last[:, None, :].expand(-1, X.shape[1], -1)
        for j in range(len(self.activations) - 1, -1, -1):
            grad = (grad * slopes[j]) @ self.weights[j]
        if self.skip is not None:
            grad = grad + self.skip[:, None, :]
        return grad, margin

    def pattern(self, X: Tensor) -> list[Tensor]:
        """Activation patterns (z > 0) of every hidden layer: list of (B, n, n_j) bool."""
        X = self._inputs(X)
        h = X
        out = []
        for j, act in enumerate(self.activations):
            z = h @ self.weights[j].transpose(1, 2)
            if self.biases[j] is not None:
                z = z + self.biases[j][:, None, :]
            out.append(z > 0)
            h = act(z)
        return out

    # ------------------------------------------------------------------ members

    def select(self, indices: Sequence[int]) -> Stack:
        """A stack of the given members, in the given order."""
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Stack(
            weights=tuple(W[idx] for W in self.weights),
            biases=tuple(pick(b) for b in self.biases),
            activations=self.activations,
            skip=pick(self.skip),
            members=[self.members[i] for i in idx.tolist()],
        )

    def pl_nets(self) -> list[PLNet]:
        """The members of a two-layer stack as :class:`~robustlaw._pl.PLNet` (float64
        numpy; padded units are inert and the engine leaves them out of its searches)."""
        if self.depth != 2:
            raise ValueError(f"pl_nets needs a two-layer stack, depth is {self.depth}")
        a = self.weights[1][:, 0, :]
        return pl_nets(self.weights[0], self.biases[0], a, self.skip, self.slopes()[0])

    def to_two_layer(self):  # -> TwoLayer (import kept local: models never import lipschitz)
        """The stack as a :class:`robustlaw.models.TwoLayer` family (depth 2 only)."""
        from robustlaw.models.two_layer import TwoLayer

        if self.depth != 2:
            raise ValueError(f"only two-layer stacks convert to TwoLayer, depth is {self.depth}")
        out_bias = self.biases[1]
        mask = (self.weights[1][:, 0, :] != 0) | (self.weights[0] != 0).any(dim=2)
        mask[~mask.any(dim=1), 0] = True  # a constant member keeps one (zero) unit
        return TwoLayer.from_tensors(
            W=self.weights[0],
            a=self.weights[1][:, 0, :],
            b=self.biases[0],
            c=None if out_bias is None else out_bias[:, 0],
            v=self.skip,
            activation=self.activations[0],
            mask=mask,
            members=self.members,
        )


# --------------------------------------------------------------------------- import


def _f64(t: Tensor | None, device: torch.device | str | None) -> Tensor | None:
    if t is None:
        return None
    return t.detach().to(dtype=torch.float64, device=device if device is not None else t.device)


def _from_two_layer(family: Any, device: Any) -> Stack:
    w = family.effective_weights()
    act = w.activation
    if w.activation is None:
        raise ValueError("the two-layer family has no activation")
    return Stack(
        weights=(_f64(w.W, device), _f64(w.a, device)[:, None, :]),
        biases=(_f64(w.b, device), None if w.c is None else _f64(w.c, device)[:, None]),
        activations=(act,),
        skip=_f64(w.v, device),
        members=[dict(m) for m in getattr(family, "members", [])] or [],
    )


def _from_layers(family: Any, device: Any) -> Stack:
    if getattr(family, "skip", False) not in (False, None):
        raise ValueError("families with skip connections between layers are not supported")
    layers = list(family.layers())
    act = getattr(family, "activation", None)
    if act is None:
        raise ValueError(f"{type(family).__name__} has layers() but no activation attribute")
    acts = act if isinstance(act, list | tuple) else [act] * (len(layers) - 1)
    acts = [get_activation(a) for a in acts]
    return Stack(
        weights=tuple(_f64(W, device) for W, _ in layers),
        biases=tuple(_f64(b, device) for _, b in layers),
        activations=tuple(acts),
        members=[dict(m) for m in getattr(family, "members", [])] or [],
    )


def _flatten(module: nn.Module, where: str) -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        out = []
        for name, child in module.named_children():
            out.extend(_flatten(child, f"{where}[{name}]" if where else f"[{name}]"))
        return out
    return [(where or type(module).__name__, module)]


def _parse_module(module: nn.Module, label: str) -> tuple[list, list, list, Tensor | None]:
    """(weights (out, in), biases, activations, skip) of one Linear/activation stack."""
    skip = None
    if hasattr(module, "body") and hasattr(module, "skip") and isinstance(module.skip, nn.Linear):
        # TwoLayerSkipNet: body(x) + skip(x), the export format of skip two-layer families.
        if module.skip.bias is not None and bool((module.skip.bias != 0).any()):
            raise ValueError(f"{label}.skip must have no bias")
        skip = module.skip.weight.detach()[0]
        module = module.body
    if not isinstance(module, nn.Sequential):
        raise ValueError(
            f"{label} must be an nn.Sequential of nn.Linear and activation layers; "
            f"first unsupported layer: {label} ({type(module).__name__})"
        )
    items = _flatten(module, "")
    weights: list[Tensor] = []
    biases: list[Tensor | None] = []
    acts: list[Activation] = []
    pending_linear = False  # the last thing seen was a Linear (awaiting an activation)
    for where, layer in items:
        if isinstance(layer, nn.Identity):
            continue
        if isinstance(layer, nn.Linear):
            W = layer.weight.detach()
            b = None if layer.bias is None else layer.bias.detach()
            if pending_linear:  # two affine maps in a row compose into one
                W_prev, b_prev = weights.pop(), biases.pop()
                b_new = W @ b_prev if b_prev is not None else None
                if b is not None:
                    b_new = b if b_new is None else b_new + b
                W, b = W @ W_prev, b_new
            weights.append(W)
            biases.append(b)
            pending_linear = True
            continue
        act = activation_from_module(layer)
        if act is None:
            raise ValueError(
                f"unsupported layer {label}{where}: {layer!r} (supported: nn.Linear, nn.Identity "
                "and the activations relu, leaky_relu, tanh, softplus, sigmoid, gelu, cos, "
                "square, threshold, polynomials)"
            )
        if not pending_linear:
            raise ValueError(
                f"unsupported layer {label}{where}: an activation must follow an nn.Linear layer"
            )
        acts.append(act)
        pending_linear = False
    if not weights:
        raise ValueError(f"{label} holds no nn.Linear layer")
    if not pending_linear:
        # A final activation: append the identity 1 -> 1 read-out so the stack ends affine.
        eye = torch.ones(1, 1, dtype=weights[-1].dtype, device=weights[-1].device)
        weights.append(eye)
        biases.append(None)
    return weights, biases, acts, skip


def _from_modules(modules: Sequence[nn.Module], device: Any) -> Stack:
    parsed = []
    for i, module in enumerate(modules):
        label = "module" if len(modules) == 1 else f"modules[{i}]"
        parsed.append(_parse_module(module, label))
    depths = {len(p[0]) for p in parsed}
    if len(depths) != 1:
        raise ValueError(f"all modules must have the same number of layers, got {sorted(depths)}")
    names = {tuple(a.name for a in p[2]) for p in parsed}
    if len(names) != 1:
        raise ValueError(f"all modules must use the same activations, got {sorted(names)}")
    ds = {p[0][0].shape[1] for p in parsed}
    if len(ds) != 1:
        raise ValueError(f"all modules must have the same input dimension, got {sorted(ds)}")
    depth = depths.pop()
    dev = device if device is not None else parsed[0][0][0].device
    sizes = [ds.pop()] + [max(p[0][j].shape[0] for p in parsed) for j in range(depth)]
    if sizes[-1] != 1:
        raise ValueError(
            f"the network must have one output, its last nn.Linear has {sizes[-1]} outputs"
        )
    B = len(parsed)
    weights, biases = [], []
    for j in range(depth):
        W = torch.zeros(B, sizes[j + 1], sizes[j], dtype=torch.float64, device=dev)
        has_b = any(p[1][j] is not None for p in parsed)
        b = torch.zeros(B, sizes[j + 1], dtype=torch.float64, device=dev) if has_b else None
        for i, p in enumerate(parsed):
            Wi = p[0][j].to(dtype=torch.float64, device=dev)
            W[i, : Wi.shape[0], : Wi.shape[1]] = Wi
            if p[1][j] is not None:
                b[i, : Wi.shape[0]] = p[1][j].to(dtype=torch.float64, device=dev)
        weights.append(W)
        biases.append(b)
    skips = [p[3] for p in parsed]
    skip = None
    if any(s is not None for s in skips):
        skip = torch.zeros(B, sizes[0], dtype=torch.float64, device=dev)
        for i, s in enumerate(skips):
            if s is not None:
                skip[i] = s.to(dtype=torch.float64, device=dev)
    return Stack(
        weights=tuple(weights),
        biases=tuple(biases),
        activations=tuple(parsed[0][2]),
        skip=skip,
        members=[{} for _ in range(B)],
    )


def as_stack(model: Any, device: str | torch.device | None = None) -> Stack:
    """Build the :class:`Stack` of a model.

    Parameters
    ----------
    model : TwoLayer, MLP family, nn.Module, sequence of nn.Module, or Stack
        A family (anything with ``effective_weights()`` or ``layers()``), an
        ``nn.Sequential`` of ``nn.Linear`` and activation layers (one member), a list of
        them (one member each; widths may differ) or a stack.
    device : str or torch.device, optional
        Where the float64 tensors live (default: the model's device).

    Raises
    ------
    ValueError
        For a module that is not a Linear/activation stack (naming the first unsupported
        layer), a network with more than one output, or NaN/inf weights.
    TypeError
        For an object that is none of the above.
    """
    if isinstance(model, Stack):
        if device is None or torch.device(device) == model.device:
            return model
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Stack(
            weights=tuple(W.to(device) for W in model.weights),
            biases=tuple(move(b) for b in model.biases),
            activations=model.activations,
            skip=move(model.skip),
            members=model.members,
        )
    if hasattr(model, "effective_weights"):
        return _from_two_layer(model, device)
    if hasattr(model, "layers") and callable(model.layers):
        return _from_layers(model, device)
    if isinstance(model, nn.Module):
        return _from_modules([model], device)
    if isinstance(model, list | tuple) and model and all(isinstance(m, nn.Module) for m in model):
        return _from_modules(list(model), device)
    raise TypeError(
        "model must be a TwoLayer or MLP family, an nn.Sequential of Linear and activation "
        f"layers, a list of them, or a Stack; got {type(model).__name__}"
    )
