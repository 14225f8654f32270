"""Warm starts for the smoothest-fit search from explicit interpolants on the sphere.

For data on the unit sphere, :mod:`robustlaw.models.constructions` builds interpolants of
known size and certified Lipschitz constant (docs/science.md section 4; docs/constructions.md):

- k >= n: the cone interpolant (each point's own disjoint cap with a piecewise-linear
  profile, the k units spent where the points are tightest); its sphere constant is a
  closed form;
- k >= 2n: the cap interpolant (2n units); with disjoint caps its sphere constant has the
  closed form max|y_i| sqrt(2s - s^2)/s, with the largest interpolating s the caps overlap
  (a different, larger constant, but a useful start for smoothing);
- n/d < k < 2n: the grouped-cap interpolant asked for k units (used when it fits in k);
- small k: the ReLU memorizer (4 ceil(m / d) units), when it fits in k and no cap
  construction does.

Each construction is padded to the width k with spare units (w random of the data's scale,
b = 0, a = 0: the function is unchanged and the spare units can be recruited by training).
Every start records its kind (``warm_start``) and the construction's certified interval on
the sphere (``construction_lower``, ``construction_upper``, ``construction_method``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from robustlaw.models.two_layer import TwoLayer

__all__ = ["KINDS", "construction_starts"]

#: The constructions :func:`construction_starts` can build.
KINDS = ("cones", "caps", "grouped", "memorizer")


def _pad(
    net: TwoLayer, k: int, gen: torch.Generator, dtype: torch.dtype, output_bias: bool
) -> tuple[Any, ...] | None:
    eff = net.effective_weights()
    keep = eff.mask[0]
    W0, a0 = eff.W[0][keep], eff.a[0][keep]
    b0 = torch.zeros_like(a0) if eff.b is None else eff.b[0][keep]
    units, d = W0.shape
    W = torch.randn(k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    a = torch.zeros(k, dtype=torch.float64)
    b = torch.zeros(k, dtype=torch.float64)
    W[:units], a[:units], b[:units] = W0.double().cpu(), a0.double().cpu(), b0.double().cpu()
    c = 0.0 if eff.c is None else float(eff.c[0])
    if c != 0.0 and not output_bias:
        if units >= k:
            return None
        # a constant unit relu(0 . x + 1) = 1 with output weight c carries the output bias
        W[units], b[units], a[units] = 0.0, 1.0, c
        units, c = units + 1, 0.0
    return W.to(dtype), a.to(dtype), b.to(dtype), c, units


def construction_starts(
    X: Tensor,
    y: Tensor,
    widths: Sequence[int],
    seed: int = 0,
    output_bias: bool = False,
    kinds: Sequence[str] = KINDS,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> TwoLayer | None:
    """Explicit interpolants padded to each width in ``widths`` (sphere data only).

    Parameters
    ----------
    X : Tensor (n, d)
        Data on the unit sphere.
    y : Tensor (n,)
        Labels in [-1, 1].
    widths : sequence of int
        Target widths k (duplicates are built once).
    seed : int
        Seeds the spare units and the grouped construction.
    kinds : sequence of str
        Which constructions to build (:data:`KINDS`: "cones", "caps", "grouped",
        "memorizer").
    output_bias : bool
        Give the family an output bias c (else a construction's output bias is carried by
        one spare unit relu(0 . x + 1) with output weight c, when the width leaves one).
    dtype, device
        Of the returned family (default: X's).

    Returns
    -------
    TwoLayer or None
        One ReLU member per (width, construction) that fits in the width; members carry
        ``width``, ``seed`` (the construction's name), ``warm_start`` and the
        construction's certified sphere interval. None when no construction fits.
    """
    from robustlaw.models import constructions as C

    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"kinds must be among {list(KINDS)}, got {unknown}")

    dtype = X.dtype if dtype is None else dtype
    device = X.device if device is None else device
    Xd = X.detach().to(device="cpu", dtype=torch.float64)
    yd = y.detach().to(device="cpu", dtype=torch.float64)
    n, d = Xd.shape
    gen = torch.Generator().manual_seed(int(seed))
    built: dict[str, tuple[TwoLayer, Any]] = {}

    def get(name: str, **kw: Any) -> tuple[TwoLayer, Any] | None:
        if name not in built:
            try:
                if name.startswith("cap"):
                    built[name] = C.cap_interpolant(Xd, yd, **kw)
                elif name.startswith("cones"):
                    built[name] = C.cone_interpolant(Xd, yd, **kw)
                elif name.startswith("grouped"):
                    built[name] = C.grouped_cap_interpolant(Xd, yd, seed=seed, **kw)
                else:
                    built[name] = C.relu_memorizer(Xd, yd, seed=seed)
            except ValueError:  # e.g. points too close for caps
                built[name] = None  # type: ignore[assignment]
        return built[name]

    rows: list[tuple[Tensor, Tensor, Tensor, float, dict[str, Any]]] = []
    for k in sorted({int(w) for w in widths}):
        options: list[tuple[str, dict[str, Any]]] = []
        if "cones" in kinds and k >= int((yd != 0).sum()):
            options.append((f"cones_{k}", {"k": k}))
        if "caps" in kinds and k >= 2 * n:
            options += [("cap_disjoint", {"s": "disjoint"}), ("cap_max", {"s": "max"})]
        if "grouped" in kinds and n / d < k < 2 * n:
            options.append((f"grouped_{k}", {"k": k}))
        if "memorizer" in kinds:
            options.append(("memorizer", {}))  # only where no cap construction fits
        fitted = False
        for name, kw in options:
            if name == "memorizer" and fitted:
                continue
            got = get(name, **kw)
            if got is None:
                continue
            net, report = got
            if int(net.widths[0]) > k:
                continue
            padded = _pad(net, k, gen, dtype, output_bias)
            if padded is None:
                continue
            W, a, b, c, units = padded
            fitted = True
            interval = report.lipschitz.get("sphere")
            kind = name.split("_")[0] if not name.startswith("cap_") else name
            rows.append(
                (
                    W,
                    a,
                    b,
                    c,
                    {
                        "width": k,
                        "seed": f"{kind}({units} units)",
                        "warm_start": kind,
                        "construction_units": units,
                        "construction_lower": None if interval is None else interval.lower,
                        "construction_upper": None if interval is None else interval.upper,
                        "construction_method": None if interval is None else interval.upper_method,
                    },
                )
            )
    if not rows:
        return None
    k_max = max(r[0].shape[0] for r in rows)
    B = len(rows)
    W = torch.zeros(B, k_max, d, dtype=dtype)
    a = torch.zeros(B, k_max, dtype=dtype)
    b = torch.zeros(B, k_max, dtype=dtype)
    mask = torch.zeros(B, k_max, dtype=torch.bool)
    for i, (Wi, ai, bi, _, _) in enumerate(rows):
        W[i, : Wi.shape[0]], a[i, : Wi.shape[0]], b[i, : Wi.shape[0]] = Wi, ai, bi
        mask[i, : Wi.shape[0]] = True
    c = torch.tensor([r[3] for r in rows], dtype=dtype) if output_bias else None
    family = TwoLayer.from_tensors(W, a, b=b, c=c, mask=mask, members=[r[4] for r in rows])
    return family.to(device)
