"""Grouping members by width and cutting the work into cache-sized chunks.

A family padded to its largest width wastes most FLOPs on padding when widths differ
(16 to 1024 in one family: 7/8 of a padded step is zeros). Members are therefore trained in
*groups* of equal width signature, each packed to exactly its width (:func:`extract`) and
written back afterwards (:func:`write_back`). Within a group, every objective evaluation
runs over the data in row chunks so that one chunk's activations (members x rows x units)
stay within ``chunk_bytes``: on CPU the throughput of the elementwise passes collapses once
that working set outgrows the caches (and large temporary buffers cost page faults on every
allocation); ``bench/fit_throughput.py`` measures this. When even ``min_rows`` rows of all
members of a group exceed the budget, the group is split into member chunks that are trained
one after the other (members are independent, so results do not change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlaw.models.mlp import MLP
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "Chunk",
    "default_chunk_bytes",
    "extract",
    "group_signature",
    "plan_chunks",
    "write_back",
]

#: Default activation budget per row chunk on CPU: half the L2 cache of one core of the
#: development machine (2 MiB), since a chunk's forward and backward keep several tensors of
#: that size alive; bench/fit_throughput.py measured 1 to 2 MiB best, 0.25 MiB and >= 8 MiB
#: 1.2 to 1.8x slower. Re-measured with the hand-derived two-layer pass
#: (:mod:`robustlaw.fitting.analytic`, one reused buffer per group): flat from 0.5 to 4 MiB,
#: 0.25 MiB about 1.2-1.3x and 16 MiB 1.1-1.5x slower, so the budget stays.
CPU_CHUNK_BYTES = 2**20
#: On accelerators the budget only bounds memory.
ACCELERATOR_CHUNK_BYTES = 512 * 2**20


def default_chunk_bytes(device: torch.device | str) -> int:
    """The activation budget per row chunk for ``device``."""
    return CPU_CHUNK_BYTES if torch.device(device).type == "cpu" else ACCELERATOR_CHUNK_BYTES


@dataclass(frozen=True)
class Chunk:
    """Members trained together and the number of data rows per evaluation chunk.

    Attributes
    ----------
    indices : tuple of int
        Member indices in the family.
    signature : tuple of int
        The members' common hidden widths.
    rows : int
        Data rows per evaluation chunk.
    """

    indices: tuple[int, ...]
    signature: tuple[int, ...]
    rows: int


def group_signature(family: TwoLayer | MLP, i: int) -> tuple[int, ...]:
    """Hidden widths of member i (what members of one group share)."""
    if isinstance(family, TwoLayer):
        return (int(family.widths[i]),)
    return tuple(int(w) for w in family.widths[i].tolist())


def plan_chunks(
    family: TwoLayer | MLP,
    n: int,
    chunk_bytes: int | None = None,
    min_rows: int = 32,
    members: Sequence[int] | None = None,
) -> list[Chunk]:
    """Group members by width signature and size row and member chunks.

    Parameters
    ----------
    family : TwoLayer or MLP
    n : int
        Number of data points.
    chunk_bytes : int, optional
        Activation budget of one row chunk (default :func:`default_chunk_bytes`).
    min_rows : int
        Fewest rows per chunk (smaller chunks cost more in per-operation overhead than
        they gain in locality).
    members : sequence of int, optional
        Plan only these members (default all), keeping their relative order in groups.
    """
    param = next(family.parameters())
    if chunk_bytes is None:
        chunk_bytes = default_chunk_bytes(param.device)
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes!r}")
    elem = param.element_size()
    order = list(range(family.B)) if members is None else [int(i) for i in members]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i in order:
        groups.setdefault(group_signature(family, i), []).append(i)
    chunks = []
    for signature, idx in groups.items():
        units = max(1, sum(signature))
        rows_min = min(n, min_rows)
        per_member = units * rows_min * elem
        size = max(1, chunk_bytes // per_member)
        for start in range(0, len(idx), size):
            piece = idx[start : start + size]
            rows = chunk_bytes // (len(piece) * units * elem)
            rows = int(min(n, max(rows_min, rows)))
            chunks.append(Chunk(tuple(piece), signature, rows))
    return chunks


# --------------------------------------------------------------------------- packing


def _real_first(mask: Tensor, width: int) -> Tensor:
    """(s, width) indices of each row's True entries first (in order), then padding."""
    key = (~mask).to(torch.int8)
    return torch.argsort(key, dim=1, stable=True)[:, :width]


def extract(family: TwoLayer | MLP, indices: Sequence[int]) -> tuple[TwoLayer | MLP, list[Tensor]]:
    """A packed copy of the given members, trimmed to their largest width.

    Returns the sub-family and the unit orders needed by :func:`write_back`.
    """
    dev = next(family.parameters()).device
    idx = torch.as_tensor(list(indices), dtype=torch.long, device=dev)
    members = [family.members[i] for i in idx.tolist()]
    if isinstance(family, TwoLayer):
        mask = family.mask[idx]
        width = int(mask.sum(dim=1).max())
        order = _real_first(mask, width)
        d = family.d

        def take(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.detach()[idx].gather(1, order)

        W = family.W.detach()[idx].gather(1, order[..., None].expand(-1, -1, d))
        sub = TwoLayer.from_tensors(
            W,
            take(family.a),
            b=take(family.b),
            c=None if family.c is None else family.c.detach()[idx],
            v=None if family.v is None else family.v.detach()[idx],
            activation=family.activation,
            mask=mask.gather(1, order),
            members=members,
        )
        return sub, [order]
    if isinstance(family, MLP):
        orders = []
        for m in family.masks:
            mk = m[idx]
            orders.append(_real_first(mk, int(mk.sum(dim=1).max())))
        s = len(idx)
        full = [
            torch.arange(family.d, device=dev).expand(s, -1),
            *orders,
            torch.zeros(s, 1, dtype=torch.long, device=dev),
        ]
        weights, biases = [], []
        for j, W in enumerate(family.weights):
            rows, cols = full[j + 1], full[j]
            Wi = W.detach()[idx]
            Wi = Wi.gather(1, rows[..., None].expand(-1, -1, Wi.shape[2]))
            weights.append(Wi.gather(2, cols[:, None, :].expand(-1, Wi.shape[1], -1)))
            if family.biases is not None:
                biases.append(family.biases[j].detach()[idx].gather(1, rows))
        masks = [m[idx].gather(1, o) for m, o in zip(family.masks, orders, strict=True)]
        sub = MLP.from_tensors(
            weights,
            biases if family.biases is not None else None,
            family.activation,
            masks,
            skip=family.skip,
            members=members,
        )
        return sub, orders
    raise TypeError(f"family must be a TwoLayer or MLP family, got {type(family).__name__}")


@torch.no_grad()
def write_back(
    family: TwoLayer | MLP,
    indices: Sequence[int],
    params: Sequence[Tensor],
    orders: list[Tensor],
    positions: Sequence[int] | Tensor | None = None,
) -> None:
    """Copy packed member weights into the family.

    Parameters
    ----------
    family : TwoLayer or MLP
        The full family (modified in place).
    indices : sequence of int
        Family indices of the members written.
    params : sequence of Tensor
        The packed weights of exactly these members, in the parameter order of the packed
        sub-family (``list(sub.parameters())``).
    orders : list of Tensor
        Unit orders returned by :func:`extract` for the sub-family's original members.
    positions : sequence of int, optional
        Positions of the written members among the sub-family's original members (default
        0, 1, ...), to index ``orders``.
    """
    dev = next(family.parameters()).device
    idx = torch.as_tensor(list(indices), dtype=torch.long, device=dev)
    pos = (
        torch.arange(len(idx), device=dev)
        if positions is None
        else torch.as_tensor(positions, dtype=torch.long, device=dev)
    )
    params = list(params)
    if isinstance(family, TwoLayer):
        order = orders[0][pos]
        rows = idx[:, None]
        names = ["W"] + (["b"] if family.b is not None else []) + ["a"]
        names += (["c"] if family.c is not None else []) + (["v"] if family.v is not None else [])
        for name, value in zip(names, params, strict=True):
            target = getattr(family, name).data
            if name in ("c", "v"):
                target[idx] = value
            else:
                target[rows, order] = value
        return
    s = len(idx)
    full = [
        torch.arange(family.d, device=dev).expand(s, -1),
        *[o[pos] for o in orders],
        torch.zeros(s, 1, dtype=torch.long, device=dev),
    ]
    L1 = len(family.weights)
    for j, W in enumerate(family.weights):
        r, c = full[j + 1], full[j]
        W.data[idx[:, None, None], r[:, :, None], c[:, None, :]] = params[j]
        if family.biases is not None:
            family.biases[j].data[idx[:, None], r] = params[L1 + j]
