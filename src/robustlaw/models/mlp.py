"""Families of deep fully connected networks (MLPs) held in one set of tensors.

A family holds B independent networks with the same depth L (hidden layers) and
activation psi,

    h_0 = x,   h_l = psi(W_l h_{l-1} + b_l)  (l = 1..L),   f(x) = W_{L+1} h_L + b_{L+1},

optionally with residual skips h_l = h_{l-1} + psi(W_l h_{l-1} + b_l) for the hidden-to-hidden
layers l = 2..L (which then need equal widths). Hidden widths may differ between members:
units beyond a member's width are masked, carry zeros, output zero and receive zero gradient.
These are the deep networks of [BS, Section 3], whose Lipschitz constants are bounded by the
product of the layers' operator norms (``robustlaw.theory.layer_product_bound``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from robustlaw import theory
from robustlaw.models._checks import check_dtype, check_seeds, member_index, positive_int
from robustlaw.models.activations import Activation, get_activation, name_of_module

__all__ = ["MLP", "MLP_INITS", "ResidualMLPNet"]

#: Initialization schemes: "standard" (PyTorch's nn.Linear default: weights and biases
#: uniform in +-1/sqrt(fan_in)), "ntk" (weights N(0, 1/fan_in), zero biases),
#: "mean_field" (as "ntk" but the output layer N(0, 1/fan_in^2)).
MLP_INITS = ("standard", "ntk", "mean_field")


def _member_generator(seed: int, hidden: Sequence[int], d: int) -> torch.Generator:
    """A CPU generator determined by (seed, architecture, d) only."""
    entropy = np.random.SeedSequence(
        [int(seed), int(d), len(hidden), *[int(h) for h in hidden]]
    ).generate_state(2)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


def _normalize_hidden(hidden: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """One architecture (list of ints) or several of the same depth (list of lists)."""
    items = list(hidden)
    if not items:
        raise ValueError("hidden must list at least one hidden width, got an empty list")
    nested = not all(isinstance(h, int | np.integer) and not isinstance(h, bool) for h in items)
    if not nested:
        archs = [tuple(items)]
    elif all(isinstance(h, Sequence) and not isinstance(h, str) for h in items):
        archs = [tuple(h) for h in items]
    else:
        raise ValueError(
            f"hidden must be a list of widths or a list of architectures, got {hidden!r}"
        )
    depths = {len(a) for a in archs}
    if len(depths) != 1 or 0 in depths:
        raise ValueError(
            f"all architectures must have the same positive number of hidden layers, got {archs}"
        )
    for i, arch in enumerate(archs):
        for j, width in enumerate(arch):
            positive_int(f"hidden[{i}][{j}]" if nested else f"hidden[{j}]", width)
    return [tuple(int(w) for w in a) for a in archs]


class MLP(nn.Module):
    """B deep fully connected networks in one set of tensors.

    Parameters
    ----------
    d : int
        Input dimension.
    hidden : sequence of int, or sequence of sequences of int
        Hidden widths [h_1, ..., h_L] of one architecture, or several architectures of
        the same depth L (members may then differ in width). The family holds one member
        per (architecture, seed) pair, architectures outermost.
    activation : str or Activation
        Name from :data:`robustlaw.models.activations.ACTIVATIONS`.
    seeds : sequence of int
        Initialization seeds; a member's initial weights depend only on
        (seed, architecture, d).
    init : {"standard", "ntk", "mean_field"}
        See :data:`MLP_INITS`.
    bias : bool
        Every layer has a bias.
    skip : bool
        Residual skips h_l = h_{l-1} + psi(W_l h_{l-1} + b_l) for l = 2..L; each member's
        hidden widths must then be equal.
    dtype : torch.dtype
    device : str or torch.device, optional

    Attributes
    ----------
    weights : ParameterList of L + 1 tensors, shapes (B, h_l, h_{l-1})
        h_0 = d and h_{L+1} = 1; padded to the largest width in the family.
    biases : ParameterList of L + 1 tensors, shapes (B, h_l), or None
    masks : list of L bool tensors, shapes (B, h_l)
        True for units that exist.
    members : list of dict
        One dict per member: ``hidden`` (list), ``width`` (largest hidden width),
        ``depth`` (number of linear layers, L + 1), ``seed`` and any tags added later.
    """

    def __init__(
        self,
        d: int,
        hidden: Sequence[int] | Sequence[Sequence[int]],
        activation: str | Activation = "relu",
        seeds: Sequence[int] = (0,),
        init: str = "standard",
        bias: bool = True,
        skip: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        d = positive_int("d", d)
        archs = _normalize_hidden(hidden)
        seeds = check_seeds(seeds)
        if init not in MLP_INITS:
            raise ValueError(f"init must be one of {MLP_INITS}, got {init!r}")
        check_dtype(dtype)
        if skip:
            for arch in archs:
                if len(set(arch)) != 1:
                    raise ValueError(
                        f"skip=True needs equal hidden widths in each member, got {list(arch)}"
                    )
        act = get_activation(activation)
        pairs = list(itertools.product(archs, seeds))
        B = len(pairs)
        L = len(archs[0])
        maxw = [max(a[j] for a in archs) for j in range(L)]
        sizes = [d, *maxw, 1]
        weights = [
            torch.zeros(B, sizes[j + 1], sizes[j], dtype=torch.float64) for j in range(L + 1)
        ]
        biases = [torch.zeros(B, sizes[j + 1], dtype=torch.float64) for j in range(L + 1)]
        masks = [torch.zeros(B, maxw[j], dtype=torch.bool) for j in range(L)]
        for i, (arch, seed) in enumerate(pairs):
            gen = _member_generator(seed, arch, d)
            real = [d, *arch, 1]
            for j in range(L + 1):
                fan_in, fan_out = real[j], real[j + 1]
                if init == "standard":
                    bound = 1.0 / math.sqrt(fan_in)
                    weights[j][i, :fan_out, :fan_in] = (
                        torch.rand(fan_out, fan_in, generator=gen, dtype=torch.float64) * 2 - 1
                    ) * bound
                    biases[j][i, :fan_out] = (
                        torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1
                    ) * bound
                else:
                    scale = 1.0 / math.sqrt(fan_in)
                    if init == "mean_field" and j == L:
                        scale = 1.0 / fan_in
                    weights[j][i, :fan_out, :fan_in] = (
                        torch.randn(fan_out, fan_in, generator=gen, dtype=torch.float64) * scale
                    )
            for j in range(L):
                masks[j][i, : arch[j]] = True
        self._setup(
            weights=weights,
            biases=biases if bias else None,
            masks=masks,
            activation=act,
            skip=skip,
            members=[
                {"hidden": list(a), "width": max(a), "depth": L + 1, "seed": int(s)}
                for a, s in pairs
            ],
            dtype=dtype,
            device=device,
        )

    # ------------------------------------------------------------------ construction

    def _setup(
        self,
        weights: list[Tensor],
        biases: list[Tensor] | None,
        masks: list[Tensor],
        activation: Activation,
        skip: bool,
        members: list[dict],
        dtype: torch.dtype,
        device: str | torch.device | None,
    ) -> None:
        kw = {"dtype": dtype, "device": device}
        B = weights[0].shape[0]
        dev = weights[0].device
        full = [
            torch.ones(B, weights[0].shape[2], dtype=torch.bool, device=dev),
            *[m.to(device=dev, dtype=torch.bool) for m in masks],
            torch.ones(B, 1, dtype=torch.bool, device=dev),
        ]
        self.activation = activation
        self.skip = bool(skip)
        self.members = members
        self.weights = nn.ParameterList(
            [
                nn.Parameter(
                    (w * (full[j + 1][:, :, None] & full[j][:, None, :]).to(w.dtype)).to(**kw)
                )
                for j, w in enumerate(weights)
            ]
        )
        self.biases = (
            None
            if biases is None
            else nn.ParameterList(
                [nn.Parameter((b * full[j + 1].to(b.dtype)).to(**kw)) for j, b in enumerate(biases)]
            )
        )
        self._n_masks = len(masks)
        for j, m in enumerate(masks):
            self.register_buffer(f"mask{j}", m.to(device=device, dtype=torch.bool))

    @classmethod
    def from_tensors(
        cls,
        weights: Sequence[Tensor],
        biases: Sequence[Tensor] | None = None,
        activation: str | Activation = "relu",
        masks: Sequence[Tensor] | None = None,
        skip: bool = False,
        members: list[dict] | None = None,
    ) -> MLP:
        """A family with given weights: ``weights[j]`` of shape (B, h_{j+1}, h_j).

        The last layer must have one output. dtype and device are those of ``weights[0]``.
        Entries outside the masks (default: all units exist) are zeroed.
        """
        weights = list(weights)
        if len(weights) < 2:
            raise ValueError(f"weights must hold at least 2 layers, got {len(weights)}")
        for j, w in enumerate(weights):
            if not isinstance(w, Tensor) or w.ndim != 3:
                raise ValueError(f"weights[{j}] must be a tensor of shape (B, out, in)")
        B, _, d = weights[0].shape
        if B == 0 or d == 0:
            raise ValueError(f"weights[0] must have non-empty dimensions, got {weights[0].shape}")
        for j in range(1, len(weights)):
            if weights[j].shape[0] != B or weights[j].shape[2] != weights[j - 1].shape[1]:
                raise ValueError(
                    f"weights[{j}] has shape {tuple(weights[j].shape)}, which does not follow "
                    f"weights[{j - 1}] of shape {tuple(weights[j - 1].shape)}"
                )
        if weights[-1].shape[1] != 1:
            raise ValueError(f"the last layer must have 1 output, got {weights[-1].shape[1]}")
        if weights[0].dtype not in (torch.float32, torch.float64):
            raise ValueError(f"weights must be float32 or float64, got {weights[0].dtype}")
        if biases is not None:
            biases = list(biases)
            if len(biases) != len(weights):
                raise ValueError("biases must have one entry per layer")
            for j, (w, b) in enumerate(zip(weights, biases, strict=True)):
                if tuple(b.shape) != (B, w.shape[1]):
                    raise ValueError(
                        f"biases[{j}] must have shape {(B, w.shape[1])}, got {tuple(b.shape)}"
                    )
        for name, group in (("weights", weights), ("biases", biases or [])):
            for j, t in enumerate(group):
                if not torch.isfinite(t).all():
                    raise ValueError(f"{name}[{j}] must be finite (found NaN or inf)")
        L = len(weights) - 1
        if masks is None:
            masks = [
                torch.ones(B, w.shape[1], dtype=torch.bool, device=w.device) for w in weights[:-1]
            ]
        masks = [m.to(torch.bool) for m in masks]
        if len(masks) != L:
            raise ValueError(f"masks must have one entry per hidden layer ({L}), got {len(masks)}")
        for j, m in enumerate(masks):
            if tuple(m.shape) != (B, weights[j].shape[1]):
                raise ValueError(
                    f"masks[{j}] must have shape {(B, weights[j].shape[1])}, got {tuple(m.shape)}"
                )
            if not m.any(dim=1).all():
                raise ValueError(f"every member needs at least one unit in hidden layer {j}")
        if skip:
            counts = torch.stack([m.sum(dim=1) for m in masks], dim=1)
            if not (counts == counts[:, :1]).all() or len({w.shape[1] for w in weights[:-1]}) != 1:
                raise ValueError("skip=True needs equal hidden widths in each member")
        if members is None:
            members = []
            for i in range(B):
                arch = [int(m[i].sum()) for m in masks]
                members.append({"hidden": arch, "width": max(arch), "depth": L + 1})
        if len(members) != B:
            raise ValueError(f"members must have one entry per member ({B}), got {len(members)}")
        family = cls.__new__(cls)
        nn.Module.__init__(family)
        family._setup(
            weights=[w.detach().clone() for w in weights],
            biases=None if biases is None else [b.detach().clone() for b in biases],
            masks=[m.to(weights[0].device) for m in masks],
            activation=get_activation(activation),
            skip=skip,
            members=[dict(m) for m in members],
            dtype=weights[0].dtype,
            device=weights[0].device,
        )
        return family

    @classmethod
    def from_module(cls, modules: nn.Module | Sequence[nn.Module]) -> MLP:
        """Import ``nn.Sequential(Linear, act, Linear, act, ..., Linear(h_L, 1))`` networks.

        Several modules (same input dimension, depth, activation and bias layout; widths
        may differ) become one family. A ``ResidualMLPNet`` (as exported with skips) is
        accepted too. A module of another shape raises a ValueError naming the first
        unsupported layer.
        """
        if isinstance(modules, nn.Module):
            modules = [modules]
        modules = list(modules)
        if not modules:
            raise ValueError("modules must hold at least one network, got an empty list")
        parsed = [_parse_mlp_module(m, i) for i, m in enumerate(modules)]
        skips = {p[2] for p in parsed}
        names = {p[1] for p in parsed}
        depths = {len(p[0]) for p in parsed}
        ds = {p[0][0].in_features for p in parsed}
        for label, values in (
            ("input dimension", ds),
            ("depth", depths),
            ("activation", names),
            ("skip layout", skips),
        ):
            if len(values) != 1:
                raise ValueError(f"all modules must have the same {label}, got {sorted(values)}")
        has_bias = {tuple(lin.bias is not None for lin in p[0]) for p in parsed}
        if len(has_bias) != 1 or len(set(next(iter(has_bias)))) != 1:
            raise ValueError("every Linear layer of every module must have a bias, or none")
        bias = next(iter(has_bias))[0]
        n_layers = depths.pop()
        B = len(parsed)
        ref = parsed[0][0][0].weight
        kw = {"dtype": ref.dtype, "device": ref.device}
        sizes = [ds.pop()] + [max(p[0][j].out_features for p in parsed) for j in range(n_layers)]
        weights = [torch.zeros(B, sizes[j + 1], sizes[j], **kw) for j in range(n_layers)]
        biases = [torch.zeros(B, sizes[j + 1], **kw) for j in range(n_layers)]
        masks = [
            torch.zeros(B, sizes[j + 1], dtype=torch.bool, device=ref.device)
            for j in range(n_layers - 1)
        ]
        for i, (linears, _, _) in enumerate(parsed):
            for j, lin in enumerate(linears):
                weights[j][i, : lin.out_features, : lin.in_features] = lin.weight.detach()
                if bias:
                    biases[j][i, : lin.out_features] = lin.bias.detach()
                if j < n_layers - 1:
                    masks[j][i, : lin.out_features] = True
        return cls.from_tensors(
            weights, biases if bias else None, names.pop(), masks, skip=skips.pop()
        )

    # ------------------------------------------------------------------ properties

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
        """Number of linear layers (hidden layers + 1), the D of [BS, Section 3]."""
        return len(self.weights)

    @property
    def masks(self) -> list[Tensor]:
        """Hidden-unit masks, one (B, h_l) bool tensor per hidden layer."""
        return [getattr(self, f"mask{j}") for j in range(self._n_masks)]

    @property
    def widths(self) -> Tensor:
        """(B, L) int64: the hidden widths of every member."""
        return torch.stack([m.sum(dim=1) for m in self.masks], dim=1).to(torch.int64)

    @property
    def param_counts(self) -> list[int]:
        """p per member, counted as :func:`robustlaw.theory.mlp_param_count` does."""
        return [
            theory.mlp_param_count([self.d, *row, 1], bias=self.biases is not None)
            for row in self.widths.tolist()
        ]

    def _full_masks(self) -> list[Tensor]:
        """Masks of every layer's outputs, input (all True) first and output last."""
        B = self.B
        dev = self.weights[0].device
        return [
            torch.ones(B, self.d, dtype=torch.bool, device=dev),
            *self.masks,
            torch.ones(B, 1, dtype=torch.bool, device=dev),
        ]

    def layers(self) -> list[tuple[Tensor, Tensor | None]]:
        """Masked layer weights [(W_l (B, out, in), b_l (B, out) or None), ...], detached.

        The deep-network Lipschitz methods consume this; masked rows and columns are
        exactly zero. With ``skip=True`` layers 2..L are residual blocks
        h -> h + psi(W h + b) (see :attr:`skip`).
        """
        full = self._full_masks()
        out = []
        for j, W in enumerate(self.weights):
            m = (full[j + 1][:, :, None] & full[j][:, None, :]).to(W.dtype)
            b = None if self.biases is None else (self.biases[j] * full[j + 1].to(W.dtype))
            out.append(((W * m).detach(), None if b is None else b.detach()))
        return out

    # ------------------------------------------------------------------ evaluation

    def _check_input(self, X: Tensor) -> None:
        if not isinstance(X, Tensor):
            raise TypeError(f"X must be a torch tensor, got {type(X).__name__}")
        if X.ndim == 2:
            ok = X.shape[1] == self.d
        elif X.ndim == 3:
            ok = X.shape[0] == self.B and X.shape[2] == self.d
        else:
            ok = False
        if not ok:
            raise ValueError(
                f"X must have shape (n, {self.d}) or ({self.B}, n, {self.d}), got {tuple(X.shape)}"
            )

    def _linear(self, j: int, h: Tensor, shared: bool) -> Tensor:
        W = self.weights[j]
        pre = torch.einsum("bod,nd->bno", W, h) if shared else torch.einsum("bod,bnd->bno", W, h)
        if self.biases is not None:
            pre = pre + self.biases[j][:, None, :]
        return pre

    def _hidden(self, X: Tensor) -> tuple[list[Tensor], Tensor]:
        """Pre-activations of every hidden layer and the last hidden output (B, n, h_L)."""
        self._check_input(X)
        masks = [m.to(self.weights[0].dtype)[:, None, :] for m in self.masks]
        pres = []
        h = X
        shared = X.ndim == 2
        for j in range(self._n_masks):
            pre = self._linear(j, h, shared)
            pres.append(pre)
            act = self.activation(pre) * masks[j]
            h = h + act if (self.skip and j > 0) else act
            shared = False
        return pres, h

    def forward(self, X: Tensor) -> Tensor:
        """f_b(x_i) for every member. X: (n, d) or (B, n, d) -> (B, n)."""
        _, h = self._hidden(X)
        return self._linear(self.depth - 1, h, False)[..., 0]

    def input_gradient(self, X: Tensor) -> Tensor:
        """grad_x f_b(x_i), by the chain rule through the layers.

        X: (n, d) or (B, n, d) -> (B, n, d). Differentiable in the weights.
        """
        pres, _ = self._hidden(X)
        masks = [m.to(self.weights[0].dtype)[:, None, :] for m in self.masks]
        n = X.shape[-2]
        g = self.weights[-1][:, 0, :][:, None, :].expand(self.B, n, -1)  # (B, n, h_L)
        for j in range(self._n_masks - 1, -1, -1):
            through = g * self.activation.derivative(pres[j]) * masks[j]
            back = torch.einsum("bno,boi->bni", through, self.weights[j])
            g = g + back if (self.skip and j > 0) else back
        return g

    # ------------------------------------------------------------------ members

    def select(self, indices: Sequence[int] | Tensor) -> MLP:
        """A new family holding copies of the given members, in the given order."""
        idx = member_index(indices, self.B, self.weights[0].device)
        return MLP.from_tensors(
            [w.detach()[idx] for w in self.weights],
            None if self.biases is None else [b.detach()[idx] for b in self.biases],
            self.activation,
            [m[idx] for m in self.masks],
            skip=self.skip,
            members=[self.members[i] for i in idx.tolist()],
        )

    def member_module(self, i: int) -> nn.Module:
        """Member i as a plain module mapping (n, d) to (n, 1).

        Without skips: ``nn.Sequential(Linear, act, ..., Linear)`` trimmed to the member's
        real units; with skips a :class:`ResidualMLPNet`.
        """
        if not 0 <= i < self.B:
            raise ValueError(f"i must lie in [0, {self.B}), got {i}")
        full = self._full_masks()
        units = [torch.nonzero(m[i]).flatten() for m in full]
        kw = {"dtype": self.weights[0].dtype, "device": self.weights[0].device}
        linears = []
        for j, W in enumerate(self.weights):
            lin = nn.Linear(len(units[j]), len(units[j + 1]), bias=self.biases is not None)
            lin.to(**kw)
            with torch.no_grad():
                lin.weight.copy_(W[i][units[j + 1]][:, units[j]])
                if self.biases is not None:
                    lin.bias.copy_(self.biases[j][i, units[j + 1]])
            linears.append(lin)
        if self.skip:
            return ResidualMLPNet(linears, self.activation.module())
        layers: list[nn.Module] = []
        for lin in linears[:-1]:
            layers += [lin, self.activation.module()]
        layers.append(linears[-1])
        return nn.Sequential(*layers)

    def extra_repr(self) -> str:
        archs = sorted({tuple(m["hidden"]) for m in self.members})
        return (
            f"B={self.B}, d={self.d}, hidden={[list(a) for a in archs]}, "
            f"activation={self.activation.name}, bias={self.biases is not None}, skip={self.skip}"
        )


class ResidualMLPNet(nn.Module):
    """An MLP with residual hidden-to-hidden skips: h_l = h_{l-1} + psi(W_l h_{l-1} + b_l).

    ``linears`` are the L + 1 Linear layers; the first maps x to h_1 = psi(W_1 x + b_1)
    and the last is the output layer (no activation).
    """

    def __init__(self, linears: Sequence[nn.Linear], activation: nn.Module) -> None:
        super().__init__()
        self.linears = nn.ModuleList(linears)
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        h = self.activation(self.linears[0](x))
        for lin in self.linears[1:-1]:
            h = h + self.activation(lin(h))
        return self.linears[-1](h)


def _parse_mlp_module(module: nn.Module, index: int) -> tuple[list[nn.Linear], str, bool]:
    """(Linear layers, activation name, skip) of a Sequential or residual MLP."""
    if isinstance(module, ResidualMLPNet):
        name = name_of_module(module.activation)
        if name is None:
            raise ValueError(
                f"modules[{index}].activation: unsupported activation layer {module.activation!r}"
            )
        linears = list(module.linears)
        _check_linear_chain(linears, index)
        return linears, name, True
    if not isinstance(module, nn.Sequential):
        raise ValueError(
            f"modules[{index}] must be nn.Sequential(Linear, activation, ..., Linear), "
            f"got {type(module).__name__}"
        )
    layers = list(module)
    linears: list[nn.Linear] = []
    names: set[str] = set()
    for j, layer in enumerate(layers):
        expect_linear = j % 2 == 0
        if expect_linear:
            if not isinstance(layer, nn.Linear):
                raise ValueError(
                    f"modules[{index}][{j}]: unsupported layer {layer!r} (expected nn.Linear)"
                )
            linears.append(layer)
        else:
            name = name_of_module(layer)
            if name is None:
                raise ValueError(f"modules[{index}][{j}]: unsupported activation layer {layer!r}")
            names.add(name)
    if len(layers) < 3 or len(layers) % 2 == 0:
        raise ValueError(
            f"modules[{index}] must alternate Linear and activation layers and end with a "
            f"Linear layer (at least Linear, activation, Linear), got {len(layers)} layers"
        )
    if len(names) != 1:
        raise ValueError(f"modules[{index}] must use one activation, got {sorted(names)}")
    _check_linear_chain(linears, index)
    return linears, names.pop(), False


def _check_linear_chain(linears: list[nn.Linear], index: int) -> None:
    for j in range(1, len(linears)):
        if linears[j].in_features != linears[j - 1].out_features:
            raise ValueError(
                f"modules[{index}]: Linear layer {j} expects {linears[j].in_features} inputs "
                f"but layer {j - 1} gives {linears[j - 1].out_features}"
            )
    if linears[-1].out_features != 1:
        raise ValueError(
            f"modules[{index}]: the last Linear layer must have 1 output, "
            f"got {linears[-1].out_features}"
        )
