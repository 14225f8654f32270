"""The search for the smoothest fit: per (width, seed), the fitting network with the
smallest certified Lipschitz upper bound.

The law of robustness is about the *smallest* Lipschitz constant among k-neuron networks
that fit (SCIENCE.md sections 2 and 8); plain training finds *a* fit, not the smoothest.
:func:`smoothest_fit` runs, in one batch, every base member replicated over a grid of
penalty strengths lambda (tags ``strength``, ``base``, ``penalty`` in ``members``):

1. **fit**: plain least squares to the target (members stop when they reach it);
2. **smooth**: objective  max(0, MSE - tau) + lambda_stage * P(theta)  with tau a margin
   below the target's threshold (the hinge holds the fit, the penalty pushes a Lipschitz
   bound down), lambda ramped up over ``stages`` stages (continuation: the penalty grows
   while the fit is held);
3. **polish**: plain least squares for the members that drifted above the threshold;
4. **certify**: simple certified upper bounds (spectral product, path norm, averaged ReLU
   bound, and their balanced-rescaling versions; :func:`certified_bounds`) or a caller's
   bound; a sampled lower bound max ||grad f|| at the data and support points is reported
   next to them.

A warm-start family (e.g. an explicit interpolant from ``robustlaw.models.constructions``)
adds candidates that skip step 1. The result keeps every candidate (a table and a family)
so that tighter certified bounds can re-rank them later (:meth:`SmoothestResult.rerank`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw.fitting.engine import fit
from robustlaw.fitting.objective import Hinge
from robustlaw.fitting.penalties import Penalty, certified_bounds, get_penalty
from robustlaw.fitting.report import FitReport
from robustlaw.fitting.targets import BelowNoise, Interpolate, resolve_threshold
from robustlaw.models.two_layer import TwoLayer

__all__ = ["SmoothestResult", "smoothest_fit", "support_points"]

BoundFn = Callable[[TwoLayer], np.ndarray]


@dataclass(frozen=True)
class SmoothestResult:
    """Outcome of :func:`smoothest_fit`.

    Attributes
    ----------
    family : TwoLayer
        The chosen member per base member (its (width, seed)), in base order; a base member
        with no fitting candidate is represented by its smallest-MSE candidate and marked
        ``fits = False`` in ``best``.
    best : list of dict
        One row per base member: the chosen candidate's row of ``table``.
    table : list of dict
        Every candidate: ``candidate`` (index in ``candidates``), ``base``, ``width``,
        ``seed``, ``strength``, ``warm_start``, ``mse``, ``fits``, ``upper`` (the certified
        bound used for choosing), ``upper_name``, every simple certified bound
        (``upper_<name>``), and ``lower_sampled`` (max ||grad f|| over data and support
        points: a certified *lower* bound, from those witnesses).
    candidates : TwoLayer
        All candidates' final weights.
    threshold : float
        The target's MSE threshold.
    reports : dict of str -> FitReport
        The runs of each step ("fit", "smooth_<j>", "polish").
    """

    family: TwoLayer
    best: list[dict[str, Any]]
    table: list[dict[str, Any]]
    candidates: TwoLayer
    threshold: float
    reports: dict[str, FitReport] = field(default_factory=dict)

    def rerank(self, upper: np.ndarray, name: str = "custom") -> SmoothestResult:
        """Choose again with other certified upper bounds (B_candidates,), e.g. LipSDP."""
        upper = np.asarray(upper, dtype=np.float64)
        if upper.shape != (self.candidates.B,):
            raise ValueError(f"upper must have shape ({self.candidates.B},), got {upper.shape}")
        table = [
            dict(row, upper=float(u), upper_name=name)
            for row, u in zip(self.table, upper, strict=True)
        ]
        chosen = _choose(table)
        family = self.candidates.select([table[i]["candidate"] for i in chosen])
        return SmoothestResult(
            family,
            [table[i] for i in chosen],
            table,
            self.candidates,
            self.threshold,
            self.reports,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": [dict(r) for r in self.best],
            "table": [dict(r) for r in self.table],
            "threshold": self.threshold,
            "reports": {k: v.to_dict() for k, v in self.reports.items()},
        }


def support_points(X: Tensor, m: int, seed: int = 0) -> Tensor:
    """m random points of the data's support: uniform on the sphere when every ||x_i|| = 1
    (within 1e-6), else Gaussian with the data's mean and covariance."""
    gen = torch.Generator().manual_seed(int(seed))
    Xc = X.detach().to(device="cpu", dtype=torch.float64)
    Z = torch.randn(m, X.shape[1], generator=gen, dtype=torch.float64)
    norms = Xc.norm(dim=1)
    if bool(((norms - 1).abs() < 1e-6).all()):
        Z = Z / Z.norm(dim=1, keepdim=True)
    else:
        mean = Xc.mean(dim=0)
        cov = torch.cov(Xc.T).reshape(X.shape[1], X.shape[1])
        L = torch.linalg.cholesky(cov + 1e-9 * torch.eye(X.shape[1], dtype=torch.float64))
        Z = mean + Z @ L.T
    return Z.to(device=X.device, dtype=X.dtype)


def _sampled_lower(family: TwoLayer, points: Tensor, chunk: int = 4096) -> np.ndarray:
    """max_z ||grad f_b(z)|| over ``points``: a lower bound on Lip(f_b) (witnesses)."""
    best = torch.zeros(family.B, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk):
            g = family.input_gradient(points[start : start + chunk]).norm(dim=-1)
            best = torch.maximum(best, g.amax(dim=1).to(device="cpu", dtype=torch.float64))
    return best.numpy()


def _choose(table: list[dict[str, Any]]) -> list[int]:
    """Row index per base member: the fitting row with the smallest certified upper bound
    (ties: smaller MSE), else the row with the smallest MSE."""
    by_base: dict[int, list[int]] = {}
    for i, row in enumerate(table):
        by_base.setdefault(row["base"], []).append(i)
    chosen = []
    for base in sorted(by_base):
        rows = by_base[base]
        fitting = [i for i in rows if table[i]["fits"]]
        if fitting:
            chosen.append(min(fitting, key=lambda i: (table[i]["upper"], table[i]["mse"])))
        else:
            chosen.append(min(rows, key=lambda i: table[i]["mse"]))
    return chosen


def _concat(families: Sequence[TwoLayer]) -> TwoLayer:
    """One family holding the members of several two-layer families (same d, activation)."""
    k = max(f.k_max for f in families)
    ref = families[0]

    def pad(t: Tensor | None, fam: TwoLayer) -> Tensor | None:
        if t is None:
            return None
        out = torch.zeros(t.shape[0], k, *t.shape[2:], dtype=t.dtype, device=t.device)
        out[:, : t.shape[1]] = t
        return out

    def field_of(name: str) -> Tensor | None:
        parts = [getattr(f, name) for f in families]
        if all(p is None for p in parts):
            return None
        if any(p is None for p in parts):
            raise ValueError(f"all families must agree on having {name!r}")
        if name in ("c", "v"):
            return torch.cat([p.detach() for p in parts])
        return torch.cat([pad(p.detach(), f) for p, f in zip(parts, families, strict=True)])

    mask = torch.cat(
        [torch.nn.functional.pad(f.mask, (0, k - f.k_max), value=False) for f in families]
    )
    return TwoLayer.from_tensors(
        field_of("W"),
        field_of("a"),
        b=field_of("b"),
        c=field_of("c"),
        v=field_of("v"),
        activation=ref.activation,
        mask=mask,
        members=[dict(m) for f in families for m in f.members],
    )


def smoothest_fit(
    family: TwoLayer,
    X: Tensor,
    y: Tensor,
    target: Interpolate | BelowNoise,
    *,
    penalty: str | Penalty | Sequence[str | Penalty] = ("averaged", "grad_norm"),
    strengths: Sequence[float] | dict[str, Sequence[float]] = (3e-3, 1e-2, 3e-2, 1e-1),
    warm_start: TwoLayer | None = None,
    fit_steps: int = 3000,
    steps: int = 3000,
    stages: int = 3,
    polish_steps: int = 1000,
    lr: float = 3e-3,
    margin: float = 0.1,
    support: Tensor | None = None,
    n_support: int = 512,
    bound: BoundFn | None = None,
    meta: Any = None,
    noise_level: float | None = None,
    chunk_bytes: int | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> SmoothestResult:
    """For each member (width, seed), the fitting network with the smallest certified Lip.

    Parameters
    ----------
    family : TwoLayer
        Base members (initializations); each is replicated over ``strengths``.
    X : Tensor (n, d)
    y : Tensor (n,)
    target : Interpolate or BelowNoise
    penalty : str, Penalty, or a sequence of them
        "averaged" (the averaged certified bound at the balanced rescaling; needs psi' in a
        known interval), "spectral", "path_norm", "grad_norm" (soft maximum of ||grad f|| at
        the data and support points: an estimate, which pushes the true Lipschitz constant
        down where certified proxies stall), or a :class:`Penalty`. With several, every
        base member is trained under each (one batch per penalty) and all are candidates.
    strengths : sequence of float, or dict penalty name -> sequence
        Final penalty strengths lambda; every base member is trained once per strength
        (strength 0, the plain fit, is always a candidate too).
    warm_start : TwoLayer, optional
        Extra starting networks (e.g. explicit interpolants), replicated over the strengths
        and also candidates as they are; tagged ``warm_start = True``. Each warm-start member
        forms its own base (its (width, seed) from its ``members`` metadata).
    fit_steps, steps, stages, polish_steps : int
        Budgets of the fit step, of the smoothing step (split evenly over ``stages``
        continuation stages with lambda_j = lambda j / stages) and of the polish step.
    lr : float
        Adam's learning rate.
    margin : float
        The hinge holds MSE <= (1 - margin) * threshold during smoothing.
    support : Tensor (m, d), optional
        Support points for the sampled lower bound and the "grad_norm" penalty (default
        :func:`support_points` of the data, ``n_support`` of them).
    bound : callable, optional
        Certified upper bound used to choose (family -> (B,) array); default the smallest
        simple certified bound (:func:`robustlaw.fitting.certified_bounds`).
    meta, noise_level
        Noise level for ``BelowNoise`` targets, as in :func:`robustlaw.fitting.fit`.
    chunk_bytes, device, progress
        As in :func:`robustlaw.fitting.fit`.
    """
    if not isinstance(family, TwoLayer):
        raise TypeError(f"family must be a TwoLayer family, got {type(family).__name__}")
    if warm_start is not None and not isinstance(warm_start, TwoLayer):
        raise TypeError(f"warm_start must be a TwoLayer family, got {type(warm_start).__name__}")
    threshold = resolve_threshold(target, meta=meta, noise_level=noise_level)
    penalties = [penalty] if isinstance(penalty, str | Penalty) else list(penalty)
    if not penalties:
        raise ValueError("penalty must name at least one penalty")
    names = [p if isinstance(p, str) else p.name for p in penalties]
    grids: dict[str, list[float]] = {}
    for name in names:
        grid = strengths.get(name) if isinstance(strengths, dict) else strengths
        if grid is None:
            raise ValueError(f"strengths has no grid for penalty {name!r}")
        grid = [float(v) for v in grid]
        if not grid or any(not (math.isfinite(v) and v > 0) for v in grid):
            raise ValueError(f"strengths must be positive and finite, got {grid}")
        grids[name] = grid
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    for name, value in (("fit_steps", fit_steps), ("steps", steps), ("polish_steps", polish_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"stages must be a positive integer, got {stages!r}")
    if device is not None:
        family.to(device)
        if warm_start is not None:
            warm_start.to(device)
    param = family.W
    if warm_start is not None and (warm_start.d != family.d):
        raise ValueError(f"warm_start has d = {warm_start.d}, the family d = {family.d}")
    X = torch.as_tensor(X).to(device=param.device, dtype=param.dtype)
    y = torch.as_tensor(y).to(device=param.device, dtype=param.dtype)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[1] != family.d:
        raise ValueError(
            f"smoothest_fit needs shared data X (n, {family.d}) and y (n,), got "
            f"{tuple(X.shape)} and {tuple(y.shape)}"
        )
    points = support if support is not None else support_points(X, n_support)
    points = torch.as_tensor(points).to(device=param.device, dtype=param.dtype)
    if points.ndim != 2 or points.shape[1] != family.d:
        raise ValueError(f"support must have shape (m, {family.d}), got {tuple(points.shape)}")
    pens = [get_penalty(p, torch.cat([X, points])) for p in penalties]
    common = {"meta": meta, "noise_level": noise_level, "chunk_bytes": chunk_bytes}
    reports: dict[str, FitReport] = {}

    # 1. plain fit of the base members
    base = family.select(range(family.B))
    for i, m in enumerate(base.members):
        m.update(base=i, strength=0.0, warm_start=False, penalty=None)
    base, reports["fit"] = fit(
        base, X, y, target, lr=lr, steps=fit_steps, progress=progress, **common
    )
    pools = [base]
    n_base = family.B
    if warm_start is not None:
        warm = warm_start.select(range(warm_start.B))
        if warm.activation.name != family.activation.name:
            raise ValueError(
                f"warm_start uses {warm.activation.name!r}, the family {family.activation.name!r}"
            )
        for i, m in enumerate(warm.members):
            m.update(base=n_base + i, strength=0.0, warm_start=True, penalty=None)
        pools.append(warm)
    starts = _concat(pools) if len(pools) > 1 else pools[0]

    # 2. smoothing: every start replicated over the strengths, one batch per penalty
    tau = (1.0 - margin) * threshold
    per_stage = steps // stages
    smoothed = []
    for pen, name in zip(pens, names, strict=True):
        grid = grids[name]
        smooth = starts.select([i for _ in grid for i in range(starts.B)])
        lam = torch.tensor([v for v in grid for _ in range(starts.B)], dtype=torch.float64)
        for j, m in enumerate(smooth.members):
            m.update(strength=float(lam[j]), penalty=pen.name)
        for stage in range(1, stages + 1):
            smooth, reports[f"smooth_{pen.name}_{stage}"] = fit(
                smooth,
                X,
                y,
                target,
                lr=lr,
                steps=per_stage,
                stop_at_target=False,
                penalty=pen,
                strengths=lam * stage / stages,
                data_term=Hinge(tau=tau, weight=1.0),
                progress=progress,
                **common,
            )
        smoothed.append(smooth)
    smooth = _concat(smoothed) if len(smoothed) > 1 else smoothed[0]
    # 3. polish: plain fit for members that drifted above the threshold
    smooth, reports["polish"] = fit(
        smooth, X, y, target, lr=lr, steps=polish_steps, progress=progress, **common
    )

    # 4. certify every candidate
    candidates = _concat([starts, smooth])
    with torch.no_grad():
        mse = ((candidates(X) - y) ** 2).mean(dim=1).to(device="cpu", dtype=torch.float64)
    simple = certified_bounds(candidates)
    upper = simple.best if bound is None else np.asarray(bound(candidates), dtype=np.float64)
    upper_name = simple.best_name if bound is None else ["custom"] * candidates.B
    lower = _sampled_lower(candidates, torch.cat([X, points]))
    table = []
    for i, m in enumerate(candidates.members):
        row = {
            "candidate": i,
            "base": int(m["base"]),
            "width": int(candidates.widths[i]),
            "seed": m.get("seed"),
            "strength": float(m["strength"]),
            "warm_start": bool(m["warm_start"]),
            "penalty": m["penalty"],
            "mse": float(mse[i]),
            "fits": bool(mse[i] <= threshold),
            "upper": float(upper[i]),
            "upper_name": upper_name[i],
            "lower_sampled": float(lower[i]),
        }
        for name, values in simple.bounds.items():
            row[f"upper_{name}"] = float(values[i])
        table.append(row)
    chosen = _choose(table)
    best_family = candidates.select([table[i]["candidate"] for i in chosen])
    return SmoothestResult(
        best_family, [table[i] for i in chosen], table, candidates, threshold, reports
    )
