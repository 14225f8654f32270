"""Families of two-layer networks F_k(psi) held in one set of tensors.

A family holds B independent networks

    f_b(x) = sum_{l <= k_b} a_bl psi(w_bl . x + b_bl)  [+ c_b]  [+ v_b . x]

(the class F_k(psi) of Bubeck, Li, Nagaraj, COLT 2021, with an optional output bias and
linear skip) with a leading batch dimension, so that data is shared, every member trains
in the same full-batch steps and every Lipschitz method measures all members at once.
Members may have different widths: units beyond a member's width are masked, carry zeros
and receive zero gradient.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from robustlaw import theory
from robustlaw.models._checks import (
    check_dtype,
    check_seeds,
    check_widths,
    member_index,
    positive_int,
)
from robustlaw.models.activations import Activation, get_activation, name_of_module

__all__ = ["INITS", "TwoLayer", "TwoLayerWeights"]

#: Initialization schemes. All draw W with rows of scale 1/sqrt(d); they differ in the
#: output layer: "standard" (PyTorch's nn.Linear default, uniform +-1/sqrt(fan_in)),
#: "ntk" (a ~ N(0, 1/k)), "mean_field" (a ~ N(0, 1/k^2)).
INITS = ("standard", "ntk", "mean_field")


class TwoLayerWeights(NamedTuple):
    """Masked weights of a two-layer family (what every Lipschitz method consumes).

    Attributes
    ----------
    W : Tensor, shape (B, k_max, d)
    b : Tensor, shape (B, k_max) or None
    a : Tensor, shape (B, k_max)
    c : Tensor, shape (B,) or None
    v : Tensor, shape (B, d) or None
    mask : Tensor, shape (B, k_max), bool
    activation : Activation
    """

    W: Tensor
    b: Tensor | None
    a: Tensor
    c: Tensor | None
    v: Tensor | None
    mask: Tensor
    activation: Activation


def _member_generator(seed: int, width: int, d: int) -> torch.Generator:
    """A CPU generator determined by (seed, width, d) only, so a member's initialization
    does not depend on its position in the family or on the device."""
    entropy = np.random.SeedSequence([int(seed), int(width), int(d)]).generate_state(2)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


class TwoLayer(nn.Module):
    """B two-layer networks in one set of tensors.

    Parameters
    ----------
    d : int
        Input dimension.
    widths : sequence of int
        Hidden widths k; the family holds one member per (width, seed) pair, widths
        outermost.
    activation : str or Activation
        Name from :data:`robustlaw.models.activations.ACTIVATIONS`.
    seeds : sequence of int
        Initialization seeds; a member's initial weights depend only on (seed, width, d).
    init : {"standard", "ntk", "mean_field"}
        Initialization scheme, see :data:`INITS`.
    hidden_bias, output_bias, skip : bool
        Include b (hidden biases), c (output bias), v (linear skip).
    dtype : torch.dtype
    device : str or torch.device, optional

    Attributes
    ----------
    W : Parameter, shape (B, k_max, d)
    b : Parameter, shape (B, k_max), or None
    a : Parameter, shape (B, k_max)
    c : Parameter, shape (B,), or None
    v : Parameter, shape (B, d), or None
    mask : buffer, shape (B, k_max), bool
    widths : buffer, shape (B,), int64
    members : list of dict
        One dict per member: ``width``, ``seed`` and any tags added later.
    """

    def __init__(
        self,
        d: int,
        widths: Sequence[int],
        activation: str | Activation = "relu",
        seeds: Sequence[int] = (0,),
        init: str = "standard",
        hidden_bias: bool = True,
        output_bias: bool = False,
        skip: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        d = positive_int("d", d)
        widths = check_widths(widths)
        seeds = check_seeds(seeds)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        check_dtype(dtype)
        act = get_activation(activation)
        pairs = list(itertools.product(widths, seeds))
        k_max = max(widths)
        B = len(pairs)
        W = torch.zeros(B, k_max, d, dtype=torch.float64)
        b = torch.zeros(B, k_max, dtype=torch.float64)
        a = torch.zeros(B, k_max, dtype=torch.float64)
        for i, (width, seed) in enumerate(pairs):
            gen = _member_generator(seed, width, d)
            if init == "standard":
                bound = 1.0 / math.sqrt(d)
                W[i, :width] = (
                    torch.rand(width, d, generator=gen, dtype=torch.float64) * 2 - 1
                ) * bound
                b[i, :width] = (
                    torch.rand(width, generator=gen, dtype=torch.float64) * 2 - 1
                ) * bound
                a[i, :width] = (
                    torch.rand(width, generator=gen, dtype=torch.float64) * 2 - 1
                ) / math.sqrt(width)
            else:
                W[i, :width] = torch.randn(
                    width, d, generator=gen, dtype=torch.float64
                ) / math.sqrt(d)
                scale = 1.0 / math.sqrt(width) if init == "ntk" else 1.0 / width
                a[i, :width] = torch.randn(width, generator=gen, dtype=torch.float64) * scale
        mask = torch.zeros(B, k_max, dtype=torch.bool)
        for i, (width, _) in enumerate(pairs):
            mask[i, :width] = True
        self._setup(
            W=W,
            b=b if hidden_bias else None,
            a=a,
            c=torch.zeros(B, dtype=torch.float64) if output_bias else None,
            v=torch.zeros(B, d, dtype=torch.float64) if skip else None,
            mask=mask,
            activation=act,
            members=[{"width": int(w), "seed": int(s)} for w, s in pairs],
            dtype=dtype,
            device=device,
        )

    # ------------------------------------------------------------------ construction

    def _setup(
        self,
        W: Tensor,
        b: Tensor | None,
        a: Tensor,
        c: Tensor | None,
        v: Tensor | None,
        mask: Tensor,
        activation: Activation,
        members: list[dict],
        dtype: torch.dtype,
        device: str | torch.device | None,
    ) -> None:
        kw = {"dtype": dtype, "device": device}
        m = mask.to(device=device)
        self.activation = activation
        self.members = members
        self.W = nn.Parameter((W * m[..., None].to(W.dtype)).to(**kw))
        self.b = None if b is None else nn.Parameter((b * m.to(b.dtype)).to(**kw))
        self.a = nn.Parameter((a * m.to(a.dtype)).to(**kw))
        self.c = None if c is None else nn.Parameter(c.to(**kw))
        self.v = None if v is None else nn.Parameter(v.to(**kw))
        self.register_buffer("mask", m)
        self.register_buffer("widths", m.sum(dim=1).to(torch.int64))

    @classmethod
    def from_tensors(
        cls,
        W: Tensor,
        a: Tensor,
        b: Tensor | None = None,
        c: Tensor | None = None,
        v: Tensor | None = None,
        activation: str | Activation = "relu",
        mask: Tensor | None = None,
        members: list[dict] | None = None,
    ) -> TwoLayer:
        """A family with given weights (shapes as in the class docstring; B may be 1).

        ``W`` of shape (k, d) and ``a`` of shape (k,) are accepted for a single member.
        The dtype and device are those of ``W``. Entries outside ``mask`` are zeroed.
        """
        if not isinstance(W, Tensor) or not isinstance(a, Tensor):
            raise TypeError("W and a must be torch tensors")
        if W.ndim == 2:
            W = W[None]
            a = a[None] if a.ndim == 1 else a
            b = b[None] if b is not None and b.ndim == 1 else b
            c = c.reshape(1) if c is not None and c.ndim == 0 else c
            v = v[None] if v is not None and v.ndim == 1 else v
            mask = mask[None] if mask is not None and mask.ndim == 1 else mask
        if W.ndim != 3:
            raise ValueError(f"W must have shape (B, k, d) or (k, d), got {tuple(W.shape)}")
        B, k, d = W.shape
        if k == 0 or d == 0 or B == 0:
            raise ValueError(f"W must have non-empty dimensions, got shape {tuple(W.shape)}")
        expected = {"a": (B, k), "b": (B, k), "c": (B,), "v": (B, d), "mask": (B, k)}
        for name, tensor in (("a", a), ("b", b), ("c", c), ("v", v), ("mask", mask)):
            if tensor is not None and tuple(tensor.shape) != expected[name]:
                raise ValueError(
                    f"{name} must have shape {expected[name]} to match W {tuple(W.shape)}, "
                    f"got {tuple(tensor.shape)}"
                )
        for name, tensor in (("W", W), ("a", a), ("b", b), ("c", c), ("v", v)):
            if tensor is not None and not torch.isfinite(tensor).all():
                raise ValueError(f"{name} must be finite (found NaN or inf)")
        if W.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"W must be float32 or float64, got {W.dtype}")
        if mask is None:
            mask = torch.ones(B, k, dtype=torch.bool, device=W.device)
        mask = mask.to(torch.bool)
        if not mask.any(dim=1).all():
            raise ValueError("every member needs at least one unit: a row of mask is all False")
        if members is None:
            members = [{"width": int(w)} for w in mask.sum(dim=1).tolist()]
        if len(members) != B:
            raise ValueError(f"members must have one entry per member ({B}), got {len(members)}")
        family = cls.__new__(cls)
        nn.Module.__init__(family)
        detach = lambda t: None if t is None else t.detach().clone()  # noqa: E731
        family._setup(
            W=detach(W),
            b=detach(b),
            a=detach(a),
            c=detach(c),
            v=detach(v),
            mask=mask.to(W.device),
            activation=get_activation(activation),
            members=[dict(m) for m in members],
            dtype=W.dtype,
            device=W.device,
        )
        return family

    @classmethod
    def from_module(cls, modules: nn.Module | Sequence[nn.Module]) -> TwoLayer:
        """Import ``nn.Sequential(nn.Linear(d, k), activation, nn.Linear(k, 1))`` networks.

        Several modules (same d, same activation, widths may differ) become one family.
        A module of another shape raises a ValueError naming the first unsupported layer.
        """
        if isinstance(modules, nn.Module):
            modules = [modules]
        modules = list(modules)
        if not modules:
            raise ValueError("modules must hold at least one network, got an empty list")
        parsed = [_parse_two_layer_module(m, i) for i, m in enumerate(modules)]
        ds = {p[0].in_features for p in parsed}
        names = {p[1] for p in parsed}
        if len(ds) != 1:
            raise ValueError(f"all modules must have the same input dimension, got {sorted(ds)}")
        if len(names) != 1:
            raise ValueError(f"all modules must use the same activation, got {sorted(names)}")
        d = ds.pop()
        k_max = max(p[0].out_features for p in parsed)
        B = len(parsed)
        ref = parsed[0][0].weight
        kw = {"dtype": ref.dtype, "device": ref.device}
        W = torch.zeros(B, k_max, d, **kw)
        b = torch.zeros(B, k_max, **kw)
        a = torch.zeros(B, k_max, **kw)
        c = torch.zeros(B, **kw)
        mask = torch.zeros(B, k_max, dtype=torch.bool, device=ref.device)
        has_b = parsed[0][0].bias is not None
        has_c = parsed[0][2].bias is not None
        for i, (hidden, _, out) in enumerate(parsed):
            k = hidden.out_features
            if (hidden.bias is not None) != has_b or (out.bias is not None) != has_c:
                raise ValueError(f"modules[{i}] differs from modules[0] in which biases it has")
            W[i, :k] = hidden.weight.detach()
            if has_b:
                b[i, :k] = hidden.bias.detach()
            a[i, :k] = out.weight.detach()[0]
            if has_c:
                c[i] = out.bias.detach()[0]
            mask[i, :k] = True
        return cls.from_tensors(
            W, a, b if has_b else None, c if has_c else None, None, names.pop(), mask
        )

    # ------------------------------------------------------------------ properties

    @property
    def B(self) -> int:
        """Number of members."""
        return self.W.shape[0]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.W.shape[2]

    @property
    def k_max(self) -> int:
        """Largest width in the family (the padded hidden dimension)."""
        return self.W.shape[1]

    @property
    def param_counts(self) -> list[int]:
        """p per member, counted as :func:`robustlaw.theory.two_layer_param_count` does."""
        return [
            theory.two_layer_param_count(
                self.d,
                int(k),
                hidden_bias=self.b is not None,
                output_bias=self.c is not None,
                skip=self.v is not None,
            )
            for k in self.widths.tolist()
        ]

    def effective_weights(self) -> TwoLayerWeights:
        """Masked weights (masked units exactly zero), detached from autograd."""
        m = self.mask.to(self.W.dtype)
        return TwoLayerWeights(
            W=(self.W * m[..., None]).detach(),
            b=None if self.b is None else (self.b * m).detach(),
            a=(self.a * m).detach(),
            c=None if self.c is None else self.c.detach(),
            v=None if self.v is None else self.v.detach(),
            mask=self.mask,
            activation=self.activation,
        )

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

    def preactivations(self, X: Tensor) -> Tensor:
        """w_bl . x + b_bl. X: (n, d) or (B, n, d) -> (B, n, k_max)."""
        self._check_input(X)
        if X.ndim == 2:
            pre = torch.einsum("bkd,nd->bnk", self.W, X)
        else:
            pre = torch.einsum("bkd,bnd->bnk", self.W, X)
        if self.b is not None:
            pre = pre + self.b[:, None, :]
        return pre

    def forward(self, X: Tensor) -> Tensor:
        """f_b(x_i) for every member. X: (n, d) or (B, n, d) -> (B, n)."""
        hidden = self.activation(self.preactivations(X))
        out = torch.einsum("bnk,bk->bn", hidden, self.a * self.mask.to(self.a.dtype))
        if self.c is not None:
            out = out + self.c[:, None]
        if self.v is not None:
            out = out + (
                torch.einsum("bd,nd->bn", self.v, X)
                if X.ndim == 2
                else torch.einsum("bd,bnd->bn", self.v, X)
            )
        return out

    def input_gradient(self, X: Tensor) -> Tensor:
        """grad_x f_b(x_i) = W_b^T diag(psi'(W_b x + b_b)) a_b [+ v_b].

        X: (n, d) or (B, n, d) -> (B, n, d). Differentiable in the weights.
        """
        slope = self.activation.derivative(self.preactivations(X))
        coef = slope * (self.a * self.mask.to(self.a.dtype))[:, None, :]
        grad = torch.einsum("bnk,bkd->bnd", coef, self.W)
        if self.v is not None:
            grad = grad + self.v[:, None, :]
        return grad

    # ------------------------------------------------------------------ members

    def select(self, indices: Sequence[int] | Tensor) -> TwoLayer:
        """A new family holding copies of the given members, in the given order."""
        dev = self.W.device
        idx = member_index(indices, self.B, dev)
        pick = lambda t: None if t is None else t.detach()[idx]  # noqa: E731
        return TwoLayer.from_tensors(
            W=pick(self.W),
            a=pick(self.a),
            b=pick(self.b),
            c=pick(self.c),
            v=pick(self.v),
            activation=self.activation,
            mask=self.mask[idx],
            members=[self.members[i] for i in idx.tolist()],
        )

    def member_module(self, i: int) -> nn.Module:
        """Member i as a plain module: ``nn.Sequential(Linear(d, k), act, Linear(k, 1))``.

        With a linear skip the result is a :class:`TwoLayerSkipNet`. The module maps
        (n, d) to (n, 1).
        """
        if not 0 <= i < self.B:
            raise ValueError(f"i must lie in [0, {self.B}), got {i}")
        k = int(self.widths[i])
        units = torch.nonzero(self.mask[i]).flatten()
        hidden = nn.Linear(self.d, k, bias=self.b is not None)
        out = nn.Linear(k, 1, bias=self.c is not None)
        kw = {"dtype": self.W.dtype, "device": self.W.device}
        hidden.to(**kw)
        out.to(**kw)
        with torch.no_grad():
            hidden.weight.copy_(self.W[i, units])
            if self.b is not None:
                hidden.bias.copy_(self.b[i, units])
            out.weight.copy_(self.a[i, units][None])
            if self.c is not None:
                out.bias.copy_(self.c[i].reshape(1))
        body = nn.Sequential(hidden, self.activation.module(), out)
        if self.v is None:
            return body
        skip = nn.Linear(self.d, 1, bias=False).to(**kw)
        with torch.no_grad():
            skip.weight.copy_(self.v[i][None])
        return TwoLayerSkipNet(body, skip)

    def extra_repr(self) -> str:
        widths = sorted(set(self.widths.tolist()))
        return (
            f"B={self.B}, d={self.d}, widths={widths}, activation={self.activation.name}, "
            f"hidden_bias={self.b is not None}, output_bias={self.c is not None}, "
            f"skip={self.v is not None}"
        )


class TwoLayerSkipNet(nn.Module):
    """A two-layer network plus a linear skip: body(x) + skip(x)."""

    def __init__(self, body: nn.Sequential, skip: nn.Linear) -> None:
        super().__init__()
        self.body = body
        self.skip = skip

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


def _parse_two_layer_module(module: nn.Module, index: int) -> tuple[nn.Linear, str, nn.Linear]:
    """(hidden Linear, activation name, output Linear) of a Sequential two-layer network."""
    if not isinstance(module, nn.Sequential):
        raise ValueError(
            f"modules[{index}] must be nn.Sequential(Linear, activation, Linear), "
            f"got {type(module).__name__}"
        )
    layers = list(module)
    if len(layers) != 3:
        raise ValueError(
            f"modules[{index}] must have exactly 3 layers (Linear, activation, Linear), "
            f"got {len(layers)}"
        )
    hidden, act, out = layers
    if not isinstance(hidden, nn.Linear):
        raise ValueError(f"modules[{index}][0] must be nn.Linear, got {type(hidden).__name__}")
    name = name_of_module(act)
    if name is None:
        raise ValueError(f"modules[{index}][1]: unsupported activation layer {act!r}")
    if not isinstance(out, nn.Linear):
        raise ValueError(f"modules[{index}][2] must be nn.Linear, got {type(out).__name__}")
    if out.in_features != hidden.out_features or out.out_features != 1:
        raise ValueError(
            f"modules[{index}][2] must map {hidden.out_features} features to 1 output, "
            f"got Linear({out.in_features}, {out.out_features})"
        )
    return hidden, name, out
