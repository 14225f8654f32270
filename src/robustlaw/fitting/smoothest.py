"""The search for the smoothest fit: per (width, seed), the fitting network with the
smallest certified Lipschitz upper bound.

The law of robustness is about the *smallest* Lipschitz constant among k-neuron networks
that fit (docs/science.md sections 2 and 8); plain training finds *a* fit, not the smoothest.
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

from robustlaw._pl import normalize_domain
from robustlaw.fitting.domain_penalty import PointPool, on_sphere
from robustlaw.fitting.domain_search import (
    DOMAIN_STRENGTHS,
    EFFORTS,
    assign_slots,
    certify_on_domain,
    smooth_on_domain,
)
from robustlaw.fitting.engine import fit
from robustlaw.fitting.objective import Hinge
from robustlaw.fitting.penalties import Penalty, certified_bounds, get_penalty
from robustlaw.fitting.report import FitReport
from robustlaw.fitting.targets import BelowNoise, Interpolate, resolve_threshold
from robustlaw.fitting.warm_starts import construction_starts
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
            _best_rows(table, chosen),
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
    (ties: smaller MSE), else the row with the smallest MSE. Rows with ``base = None``
    (shared warm starts) compete for every base member of their width."""
    by_base: dict[int, list[int]] = {}
    widths: dict[int, int] = {}
    shared: dict[int, list[int]] = {}
    for i, row in enumerate(table):
        if row["base"] is None:
            shared.setdefault(row["width"], []).append(i)
        else:
            by_base.setdefault(row["base"], []).append(i)
            widths.setdefault(row["base"], row["width"])
    chosen = []
    for base in sorted(by_base):
        rows = by_base[base] + shared.get(widths[base], [])
        fitting = [i for i in rows if table[i]["fits"]]
        if fitting:
            chosen.append(min(fitting, key=lambda i: (table[i]["upper"], table[i]["mse"])))
        else:
            chosen.append(min(rows, key=lambda i: table[i]["mse"]))
    return chosen


def _best_rows(table: list[dict[str, Any]], chosen: list[int]) -> list[dict[str, Any]]:
    """The chosen rows, a shared row restated for the base member it was chosen for."""
    bases = sorted({r["base"] for r in table if r["base"] is not None})
    seeds = {}
    for r in table:
        if r["base"] is not None:
            seeds.setdefault(r["base"], r["seed"])
    out = []
    for base, i in zip(bases, chosen, strict=True):
        row = dict(table[i])
        if row["base"] is None:
            row.update(base=base, seed=seeds[base], shared=True)
        out.append(row)
    return out


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


_OLD_DEFAULTS = {"fit_steps": 3000, "steps": 3000, "stages": 3, "polish_steps": 1000}


def _budgets(effort: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """Explicit arguments first, then the effort level's budgets, then the defaults."""
    if effort is not None and effort not in EFFORTS:
        raise ValueError(f"effort must be one of {sorted(EFFORTS)} or None, got {effort!r}")
    base = dict(EFFORTS["standard"])
    base.update(_OLD_DEFAULTS if effort is None else EFFORTS[effort])
    return {k: (given[k] if given.get(k) is not None else base[k]) for k in base}


def _domain_witness(
    candidates: TwoLayer, points: Tensor, domain: str, n_points: int, steps: int, seed: int
) -> np.ndarray:
    """A certified lower bound on Lip over the domain per member: the best domain gradient
    norm at ``points`` and at ``n_points`` ascended points per member (witnesses)."""
    pool = PointPool(points, candidates.B, n_points, domain, seed=seed)
    for i, m in enumerate(candidates.members):
        m["pool_slot"] = i
    try:
        values = pool.refresh(candidates, steps=steps, fresh=0.5)
    finally:
        for m in candidates.members:
            m.pop("pool_slot", None)
    return values.numpy()


def smoothest_fit(
    family: TwoLayer,
    X: Tensor,
    y: Tensor,
    target: Interpolate | BelowNoise,
    *,
    penalty: str | Penalty | Sequence[str | Penalty] = ("averaged", "grad_norm"),
    strengths: Sequence[float] | dict[str, Sequence[float]] = (3e-3, 1e-2, 3e-2, 1e-1),
    domain: str = "rd",
    effort: str | None = None,
    warm_start: TwoLayer | str | None = "auto",
    fit_steps: int | None = None,
    steps: int | None = None,
    stages: int | None = None,
    polish_steps: int | None = None,
    lr: float = 3e-3,
    margin: float = 0.1,
    support: Tensor | None = None,
    n_support: int = 512,
    bound: BoundFn | None = None,
    domain_strengths: Sequence[float] = DOMAIN_STRENGTHS,
    certify_top: int | None = None,
    certify_seconds: float | None = None,
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
    domain : {"rd" (or "R^d"), "ball", "sphere"}
        Where the Lipschitz constant is measured. On "ball" and "sphere" the search adds a
        min-max smoothing step against the soft maximum of the domain gradient norm
        (tangential on the sphere) over a pool of data, random and adversarial points
        (:mod:`robustlaw.fitting.domain_search`), and chooses on certified bounds *on the
        domain*: the simple R^d bounds for every candidate (valid on every domain, loose),
        ``pattern_sdp`` and the exact branch and bound on the domain under
        ``certify_seconds`` for the ``certify_top`` candidates per (width, seed) with the
        smallest witnessed domain constant, and the closed-form interval of an explicit
        construction taken as built (float64 families only). "rd" keeps the R^d search.
    effort : {"quick", "standard", "thorough"}, optional
        Budgets of every step (:data:`robustlaw.fitting.domain_search.EFFORTS`); arguments
        given explicitly win. None: the historical budgets (3000 / 3000 / 3 / 1000).
    warm_start : TwoLayer, "auto", "constructions" or None
        A TwoLayer adds extra starting networks (e.g. explicit interpolants), replicated
        over the strengths and also candidates as they are; tagged ``warm_start = True``;
        each forms its own base (its (width, seed) from its ``members`` metadata).
        "constructions" adds the explicit interpolants of
        :func:`robustlaw.fitting.warm_starts.construction_starts` for every width of the
        family (data on the unit sphere); they are shared by all base members of their
        width (rows with ``base = None``, ``warm_start`` naming the construction).
        "auto" (default): "constructions" when ``domain = "sphere"`` and the data lie on
        the sphere, else none.
    fit_steps, steps, stages, polish_steps : int, optional
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
        simple certified bound (:func:`robustlaw.fitting.certified_bounds`), and on "ball"
        or "sphere" the best certified bound on the domain described above.
    domain_strengths : sequence of float
        Strengths of the domain gradient penalty ("ball" and "sphere").
    certify_top, certify_seconds : optional
        Candidates per (width, seed) certified on the domain, and seconds per candidate.
    meta, noise_level
        Noise level for ``BelowNoise`` targets, as in :func:`robustlaw.fitting.fit`.
    chunk_bytes, device, progress
        As in :func:`robustlaw.fitting.fit`.
    """
    if not isinstance(family, TwoLayer):
        raise TypeError(f"family must be a TwoLayer family, got {type(family).__name__}")
    if warm_start is not None and not isinstance(warm_start, TwoLayer | str):
        raise TypeError(f"warm_start must be a TwoLayer family, got {type(warm_start).__name__}")
    if isinstance(warm_start, str) and warm_start not in ("auto", "constructions"):
        raise ValueError(
            f"warm_start must be a TwoLayer, 'auto', 'constructions' or None, got {warm_start!r}"
        )
    domain = normalize_domain(domain)
    budgets = _budgets(
        effort,
        {
            "fit_steps": fit_steps,
            "steps": steps,
            "stages": stages,
            "polish_steps": polish_steps,
            "certify_top": certify_top,
            "certify_seconds": certify_seconds,
        },
    )
    fit_steps, steps = budgets["fit_steps"], budgets["steps"]
    stages, polish_steps = budgets["stages"], budgets["polish_steps"]
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
    dom_grid = [float(v) for v in domain_strengths]
    if domain != "rd" and (not dom_grid or any(not (math.isfinite(v) and v > 0) for v in dom_grid)):
        raise ValueError(f"domain_strengths must be positive and finite, got {dom_grid}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must lie in [0, 1), got {margin!r}")
    for name, value in (("fit_steps", fit_steps), ("steps", steps), ("polish_steps", polish_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"stages must be a positive integer, got {stages!r}")
    pools_budget = EFFORTS[effort or "standard"]  # pool sizes and refresh schedule
    top = budgets["certify_top"]
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"certify_top must be a non-negative integer, got {top!r}")
    if not (isinstance(budgets["certify_seconds"], int | float) and budgets["certify_seconds"] > 0):
        raise ValueError(f"certify_seconds must be positive, got {budgets['certify_seconds']!r}")
    if device is not None:
        family.to(device)
        if isinstance(warm_start, TwoLayer):
            warm_start.to(device)
    param = family.W
    if isinstance(warm_start, TwoLayer) and (warm_start.d != family.d):
        raise ValueError(f"warm_start has d = {warm_start.d}, the family d = {family.d}")
    X = torch.as_tensor(X).to(device=param.device, dtype=param.dtype)
    y = torch.as_tensor(y).to(device=param.device, dtype=param.dtype)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[1] != family.d:
        raise ValueError(
            f"smoothest_fit needs shared data X (n, {family.d}) and y (n,), got "
            f"{tuple(X.shape)} and {tuple(y.shape)}"
        )
    use_constructions = warm_start == "constructions" or (
        warm_start == "auto" and domain == "sphere" and on_sphere(X)
    )
    if warm_start == "constructions" and not on_sphere(X):
        raise ValueError("warm_start='constructions' needs data on the unit sphere")
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
    if isinstance(warm_start, TwoLayer):
        warm = warm_start.select(range(warm_start.B))
        if warm.activation.name != family.activation.name:
            raise ValueError(
                f"warm_start uses {warm.activation.name!r}, the family {family.activation.name!r}"
            )
        for i, m in enumerate(warm.members):
            m.update(base=n_base + i, strength=0.0, warm_start=True, penalty=None)
        pools.append(warm)
    if use_constructions and family.activation.name == "relu":
        built = construction_starts(X, y, family.widths.tolist(), output_bias=family.c is not None)
        if built is not None and (family.b is not None):
            if family.v is not None:
                built = TwoLayer.from_tensors(
                    built.W.detach(), built.a.detach(), b=built.b.detach(),
                    c=None if built.c is None else built.c.detach(),
                    v=torch.zeros(built.B, family.d, dtype=param.dtype, device=param.device),
                    mask=built.mask, members=built.members,
                )  # fmt: skip
            for m in built.members:
                m.update(base=None, strength=0.0, penalty=None)
            pools.append(built)
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
    domain_points_ = torch.cat([X, points]) if domain != "sphere" else None
    if domain != "rd":
        # 2b. min-max smoothing against the domain gradient norm
        if domain == "sphere":
            near = torch.nn.functional.normalize(
                X + 0.1 * torch.randn_like(X) / math.sqrt(X.shape[1]), dim=1
            )
            shell = torch.nn.functional.normalize(points, dim=1)
            domain_points_ = torch.cat([X, near, shell])
        smooth = starts.select([i for _ in dom_grid for i in range(starts.B)])
        lam = torch.tensor([v for v in dom_grid for _ in range(starts.B)], dtype=torch.float64)
        for j, m in enumerate(smooth.members):
            m.update(strength=float(lam[j]), penalty="domain_grad")
        assign_slots(smooth)
        pool = PointPool(domain_points_, smooth.B, pools_budget["n_adversarial"], domain)
        smooth, dom_reports, _ = smooth_on_domain(
            smooth, X, y, target, pool, lam, tau=tau, steps=steps,
            refresh_every=pools_budget["refresh_every"],
            ascent_steps=pools_budget["ascent_steps"], lr=lr,
            common=common, progress=progress,
        )  # fmt: skip
        reports.update(dom_reports)
        for m in smooth.members:
            m.pop("pool_slot", None)
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
    upper = np.array(upper, dtype=np.float64)
    upper_name = list(upper_name)
    lower = _sampled_lower(candidates, torch.cat([X, points]))
    fits = mse.numpy() <= threshold
    lower_domain = None
    if domain != "rd":
        eff = pools_budget
        lower_domain = _domain_witness(
            candidates, domain_points_, domain, eff["n_adversarial"], eff["ascent_steps"], seed=1
        )
        if bound is None:
            upper_name = [f"{n} (rd)" for n in upper_name]
            exact64 = candidates.W.dtype == torch.float64
            for i, m in enumerate(candidates.members):
                cu = m.get("construction_upper")
                if (
                    exact64 and m["warm_start"] and m["penalty"] is None and cu is not None
                    and math.isfinite(cu) and cu < upper[i]
                ):  # fmt: skip
                    upper[i], upper_name[i] = cu, f"{m['construction_method']} ({domain})"
            # the most promising fitting candidates per (width, seed) group, on the domain
            groups: dict[Any, list[int]] = {}
            for i, m in enumerate(candidates.members):
                key = m["base"] if m["base"] is not None else ("w", int(candidates.widths[i]))
                if fits[i]:
                    groups.setdefault(key, []).append(i)
            picks = sorted(
                {
                    i
                    for rows in groups.values()
                    for i in sorted(rows, key=lambda j: lower_domain[j])[:top]
                }
            )
            if picks:
                cert_up, cert_name, cert_low = certify_on_domain(
                    candidates.select(picks),
                    domain,
                    X,
                    budgets["certify_seconds"],
                    pools_budget["certify_methods"],
                )
                for j, i in enumerate(picks):
                    lower_domain[i] = max(lower_domain[i], float(cert_low[j]))
                    if cert_up[j] < upper[i]:
                        upper[i], upper_name[i] = float(cert_up[j]), cert_name[j]
    table = []
    for i, m in enumerate(candidates.members):
        row = {
            "candidate": i,
            "base": None if m["base"] is None else int(m["base"]),
            "width": int(candidates.widths[i]),
            "seed": m.get("seed"),
            "strength": float(m["strength"]),
            "warm_start": m["warm_start"],
            "penalty": m["penalty"],
            "mse": float(mse[i]),
            "fits": bool(fits[i]),
            "upper": float(upper[i]),
            "upper_name": upper_name[i],
            "lower_sampled": float(lower[i]),
        }
        if lower_domain is not None:
            row["domain"] = domain
            row["lower_domain"] = float(lower_domain[i])
            row["upper_rd"] = float(simple.best[i])
            if m.get("construction_upper") is not None:
                row["construction_upper"] = float(m["construction_upper"])
        for name, values in simple.bounds.items():
            row[f"upper_{name}"] = float(values[i])
        table.append(row)
    chosen = _choose(table)
    best_family = candidates.select([table[i]["candidate"] for i in chosen])
    return SmoothestResult(
        best_family, _best_rows(table, chosen), table, candidates, threshold, reports
    )
