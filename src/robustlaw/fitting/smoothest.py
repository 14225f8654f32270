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
   while the fit is held); on the ball and the sphere (``mode="proxy"``) also a min-max
   step against the domain gradient norm (:mod:`robustlaw.fitting.domain_search`);
3. **polish**: plain least squares for the members that drifted above the threshold;
4. with ``mode="certified"``, **descend on the certificate**: the best candidates of each
   (width, seed) minimize the pattern-SDP certificate itself while their fit is held
   (:mod:`robustlaw.fitting.certified_search`);
5. **certify**: simple certified upper bounds (spectral product, path norm, averaged ReLU
   bound, and their balanced-rescaling versions; :func:`certified_bounds`), the pattern
   SDP (``mode="certified"``), closed forms of explicit constructions and certified
   intervals on the domain, or a caller's bound; a sampled lower bound max ||grad f|| at the
   data and support points is reported next to them.

Explicit interpolants (``robustlaw.models.constructions``, via
:mod:`robustlaw.fitting.warm_starts`) or a caller's warm-start family add candidates that
skip step 1. The result keeps every candidate (a table and a family) so that tighter
certified bounds can re-rank them later (:meth:`SmoothestResult.rerank`). Budgets come from
a :class:`~robustlaw.fitting.settings.SearchSettings` (effort presets in
:data:`~robustlaw.fitting.settings.EFFORTS`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import normalize_domain, threads_for
from robustlaw._progress import progress_bar
from robustlaw.fitting._certify import certified_interval, pattern_sdp_value
from robustlaw.fitting.certified_search import certified_descent, supports_certified_descent
from robustlaw.fitting.domain_penalty import PointPool, on_sphere
from robustlaw.fitting.domain_search import assign_slots, smooth_on_domain
from robustlaw.fitting.engine import fit
from robustlaw.fitting.objective import Hinge
from robustlaw.fitting.penalties import Penalty, certified_bounds, get_penalty
from robustlaw.fitting.report import FitReport
from robustlaw.fitting.settings import EFFORTS, SearchSettings
from robustlaw.fitting.targets import BelowNoise, Interpolate, resolve_threshold
from robustlaw.fitting.warm_starts import KINDS, construction_starts
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


MODES = ("proxy", "certified")


class _Bar:
    """One progress bar over the whole search (rich, on stderr, only on a terminal)."""

    def __init__(self, enabled: bool | None, total: int) -> None:
        self.progress = progress_bar(enabled, "{task.percentage:>3.0f}%")
        self.task = self.progress.add_task("smoothest fit", total=max(total, 1))

    def stage(self, name: str) -> None:
        self.progress.update(self.task, description=f"smoothest fit: {name}")

    def advance(self, amount: float) -> None:
        self.progress.advance(self.task, amount)

    @contextlib.contextmanager
    def shown(self) -> Iterator[_Bar]:
        with self.progress:
            yield self


def _resolve_settings(
    effort: str | None, settings: SearchSettings | None, overrides: dict[str, Any]
) -> SearchSettings:
    """Settings from a preset name or a value, with keyword overrides (None values skipped)."""
    if settings is not None and effort is not None:
        raise ValueError("give effort or settings, not both")
    if settings is not None and not isinstance(settings, SearchSettings):
        raise TypeError(f"settings must be a SearchSettings, got {type(settings).__name__}")
    if effort is not None and effort not in EFFORTS:
        raise ValueError(f"effort must be one of {sorted(EFFORTS)} or None, got {effort!r}")
    base = settings if settings is not None else EFFORTS[effort or "lean"]
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})


def _grids(names: list[str], strengths: Sequence[float] | dict[str, Sequence[float]]) -> dict:
    grids: dict[str, list[float]] = {}
    for name in names:
        grid = strengths.get(name) if isinstance(strengths, dict) else strengths
        if grid is None:
            raise ValueError(f"strengths has no grid for penalty {name!r}")
        grid = [float(v) for v in grid]
        if not grid or any(not (math.isfinite(v) and v > 0) for v in grid):
            raise ValueError(f"strengths must be positive and finite, got {grid}")
        grids[name] = grid
    return grids


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


@dataclass
class _Search:
    """What every step of one search shares."""

    X: Tensor
    y: Tensor
    target: Interpolate | BelowNoise
    threshold: float
    settings: SearchSettings
    domain: str
    bar: _Bar
    common: dict[str, Any]
    reports: dict[str, FitReport] = field(default_factory=dict)

    @property
    def tau(self) -> float:
        return (1.0 - self.settings.margin) * self.threshold

    def fit(self, name: str, family: TwoLayer, steps: int, **kwargs: Any) -> TwoLayer:
        self.bar.stage(name)
        family, self.reports[name] = fit(
            family, self.X, self.y, self.target, lr=self.settings.lr, steps=steps,
            progress=False, **self.common, **kwargs,
        )  # fmt: skip
        self.bar.advance(steps)
        return family


def _warm_starts(
    family: TwoLayer,
    X: Tensor,
    y: Tensor,
    warm_start: TwoLayer | str | None,
    domain: str,
    kinds: Sequence[str],
) -> list[TwoLayer]:
    """Extra starting networks: the caller's family, and the explicit constructions."""
    pools = []
    n_base = family.B
    if isinstance(warm_start, TwoLayer):
        if warm_start.d != family.d:
            raise ValueError(f"warm_start has d = {warm_start.d}, the family d = {family.d}")
        warm = warm_start.select(range(warm_start.B))
        if warm.activation.name != family.activation.name:
            raise ValueError(
                f"warm_start uses {warm.activation.name!r}, the family {family.activation.name!r}"
            )
        for i, m in enumerate(warm.members):
            m.update(base=n_base + i, strength=0.0, warm_start=True, penalty=None)
        pools.append(warm)
    use = warm_start == "constructions" or (
        warm_start == "auto" and domain == "sphere" and on_sphere(X)
    )
    if use and family.activation.name == "relu" and family.b is not None:
        built = construction_starts(
            X, y, family.widths.tolist(), output_bias=family.c is not None, kinds=kinds
        )
        if built is not None:
            if family.v is not None:
                built = TwoLayer.from_tensors(
                    built.W.detach(), built.a.detach(), b=built.b.detach(),
                    c=None if built.c is None else built.c.detach(),
                    v=torch.zeros(built.B, family.d, dtype=X.dtype, device=X.device),
                    mask=built.mask, members=built.members,
                )  # fmt: skip
            for m in built.members:
                m.update(base=None, strength=0.0, penalty=None)
            pools.append(built)
    return pools


def _smooth(
    s: _Search, starts: TwoLayer, pens: list[Penalty], grids: dict, points: Tensor
) -> tuple[list[TwoLayer], Tensor | None]:
    """Step 2: every start replicated over the strengths, one batch per penalty; on the
    ball and the sphere (proxy mode) also the min-max step against the domain gradient."""
    st = s.settings
    per_stage = st.steps // st.stages
    smoothed = []
    for pen in pens:
        grid = grids[pen.name]
        smooth = starts.select([i for _ in grid for i in range(starts.B)])
        lam = torch.tensor([v for v in grid for _ in range(starts.B)], dtype=torch.float64)
        for j, m in enumerate(smooth.members):
            m.update(strength=float(lam[j]), penalty=pen.name)
        for stage in range(1, st.stages + 1):
            smooth = s.fit(
                f"smooth_{pen.name}_{stage}", smooth, per_stage, stop_at_target=False,
                penalty=pen, strengths=lam * stage / st.stages,
                data_term=Hinge(tau=s.tau, weight=1.0),
            )  # fmt: skip
        smoothed.append(smooth)
    return smoothed


def _domain_points(s: _Search, points: Tensor) -> Tensor:
    """Shared points of the domain penalty and witnesses: data and support points, on the
    sphere the data, points near them and the support points projected onto it."""
    X = s.X
    if s.domain != "sphere":
        return torch.cat([X, points])
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(X.shape, generator=gen, dtype=torch.float64).to(X)
    near = torch.nn.functional.normalize(X + 0.1 * noise / math.sqrt(X.shape[1]), dim=1)
    return torch.cat([X, near, torch.nn.functional.normalize(points, dim=1)])


def _smooth_on_domain(s: _Search, starts: TwoLayer, shared: Tensor) -> TwoLayer:
    st = s.settings
    grid = st.domain_strengths
    smooth = starts.select([i for _ in grid for i in range(starts.B)])
    lam = torch.tensor([v for v in grid for _ in range(starts.B)], dtype=torch.float64)
    for j, m in enumerate(smooth.members):
        m.update(strength=float(lam[j]), penalty="domain_grad")
    assign_slots(smooth)
    pool = PointPool(shared, smooth.B, st.n_adversarial, s.domain)
    s.bar.stage("domain smoothing")
    smooth, reports, _ = smooth_on_domain(
        smooth, s.X, s.y, s.target, pool, lam, tau=s.tau, steps=st.steps,
        refresh_every=st.refresh_every, ascent_steps=st.ascent_steps, lr=st.lr,
        common=s.common, progress=False,
    )  # fmt: skip
    s.bar.advance(st.steps)
    s.reports.update(reports)
    for m in smooth.members:
        m.pop("pool_slot", None)
    return smooth


def _group_key(member: dict[str, Any], width: int) -> Any:
    return member["base"] if member["base"] is not None else ("w", width)


def _descend(
    s: _Search, candidates: TwoLayer, upper: np.ndarray, fits: np.ndarray
) -> tuple[TwoLayer | None, np.ndarray]:
    """Step 4: the certified search from the ``minmax_top`` fitting candidates of every
    (width, seed) with the smallest certified bound (shared constructions excluded: their
    certificates are closed forms on the domain, not the pattern SDP), width by width."""
    st = s.settings
    groups: dict[Any, list[int]] = {}
    for i, m in enumerate(candidates.members):
        if fits[i] and m["base"] is not None:
            groups.setdefault(m["base"], []).append(i)
    picks = sorted(
        i for rows in groups.values() for i in sorted(rows, key=lambda j: upper[j])[: st.minmax_top]
    )
    s.bar.stage("certified descent")
    parts, values = [], []
    by_width: dict[int, list[int]] = {}
    for i in picks:
        by_width.setdefault(int(candidates.widths[i]), []).append(i)
    for _, rows in sorted(by_width.items()):
        share = st.minmax_steps * len(rows) / len(picks)
        done = certified_descent(
            candidates.select(rows), s.X, s.y, s.threshold, tau=s.tau,
            rounds=st.minmax_rounds, steps=st.minmax_steps, patience=st.minmax_patience,
            lr=st.lr, temperature=st.minmax_temperature,
            on_round=lambda _r, share=share: s.bar.advance(share),
        )  # fmt: skip
        for j, m in enumerate(done.family.members):
            m.update(penalty="certified", strength=0.0, descended_from=int(rows[j]))
        parts.append(done.family)
        values.append(done.value)
    if not parts:
        return None, np.zeros(0)
    return _concat(parts), np.concatenate(values)


def _certify(
    s: _Search,
    candidates: TwoLayer,
    shared: Tensor | None,
    bound: BoundFn | None,
    mode: str,
    sdp: np.ndarray | None,
) -> tuple[np.ndarray, list[str], np.ndarray | None, Any]:
    """Step 5: the certified upper bound each candidate is chosen on, and its name; the
    domain witness (certified lower bound on the domain) where the domain is not R^d."""
    st = s.settings
    simple = certified_bounds(candidates)
    if bound is not None:
        return (
            np.asarray(bound(candidates), dtype=np.float64),
            ["custom"] * candidates.B,
            None,
            simple,
        )
    upper = np.array(simple.best, dtype=np.float64)
    names = list(simple.best_name)
    if sdp is not None:
        better = sdp < upper
        upper = np.where(better, sdp, upper)
        names = ["pattern_sdp" if b else n for b, n in zip(better, names, strict=True)]
    if s.domain == "rd":
        return upper, names, None, simple
    s.bar.stage("certifying on the domain")
    ascent = st.ascent_steps if mode == "proxy" else 0  # certified mode ranks on certificates
    lower_domain = _domain_witness(candidates, shared, s.domain, st.n_adversarial, ascent, seed=1)
    names = [f"{n} (rd)" for n in names]
    exact64 = candidates.W.dtype == torch.float64
    for i, m in enumerate(candidates.members):
        cu = m.get("construction_upper")
        if (
            exact64 and m["warm_start"] and m["penalty"] is None and cu is not None
            and math.isfinite(cu) and cu < upper[i]
        ):  # fmt: skip
            upper[i], names[i] = cu, f"{m['construction_method']} ({s.domain})"
    fits = _fits(s, candidates)
    groups: dict[Any, list[int]] = {}
    for i, m in enumerate(candidates.members):
        if fits[i]:
            groups.setdefault(_group_key(m, int(candidates.widths[i])), []).append(i)
    rank = lower_domain if mode == "proxy" else upper
    picks = sorted(
        {
            i
            for rows in groups.values()
            for i in sorted(rows, key=lambda j: rank[j])[: st.certify_top]
        }
    )
    methods = st.certify_methods
    if sdp is not None:  # the pattern SDP is known already
        methods = tuple(m for m in methods if m != "pattern_sdp")
    if picks and methods:
        cert_up, cert_name, cert_low = certified_interval(
            candidates.select(picks), s.domain, s.X, st.certify_seconds, methods
        )
        for j, i in enumerate(picks):
            lower_domain[i] = max(lower_domain[i], float(cert_low[j]))
            if cert_up[j] < upper[i]:
                upper[i], names[i] = float(cert_up[j]), cert_name[j]
    s.bar.advance(1)
    return upper, names, lower_domain, simple


def _fits(s: _Search, family: TwoLayer) -> np.ndarray:
    with torch.no_grad():
        mse = ((family(s.X) - s.y) ** 2).mean(dim=1).to(device="cpu", dtype=torch.float64)
    return mse.numpy() <= s.threshold


def _table(
    s: _Search,
    candidates: TwoLayer,
    upper: np.ndarray,
    names: list[str],
    lower: np.ndarray,
    lower_domain: np.ndarray | None,
    simple: Any,
) -> list[dict[str, Any]]:
    with torch.no_grad():
        mse = ((candidates(s.X) - s.y) ** 2).mean(dim=1).to(device="cpu", dtype=torch.float64)
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
            "fits": bool(mse[i] <= s.threshold),
            "upper": float(upper[i]),
            "upper_name": names[i],
            "upper_domain": s.domain if "(rd)" not in names[i] and s.domain != "rd" else "rd",
            "lower_sampled": float(lower[i]),
        }
        if lower_domain is not None:
            row["domain"] = s.domain
            row["lower_domain"] = float(lower_domain[i])
            row["upper_rd"] = float(simple.best[i])
            if m.get("construction_upper") is not None:
                row["construction_upper"] = float(m["construction_upper"])
        for name, values in simple.bounds.items():
            row[f"upper_{name}"] = float(values[i])
        table.append(row)
    return table


def smoothest_fit(
    family: TwoLayer,
    X: Tensor,
    y: Tensor,
    target: Interpolate | BelowNoise,
    *,
    mode: str = "proxy",
    penalty: str | Penalty | Sequence[str | Penalty] = ("averaged", "grad_norm"),
    strengths: Sequence[float] | dict[str, Sequence[float]] = (3e-3, 1e-2, 3e-2, 1e-1),
    domain: str = "rd",
    effort: str | None = None,
    settings: SearchSettings | None = None,
    warm_start: TwoLayer | str | None = "auto",
    support: Tensor | None = None,
    bound: BoundFn | None = None,
    meta: Any = None,
    noise_level: float | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> SmoothestResult:
    """For each member (width, seed), the fitting network with the smallest certified Lip.

    Parameters
    ----------
    family : TwoLayer
        Base members (initializations); each is replicated over ``strengths``.
    X : Tensor (n, d)
    y : Tensor (n,)
    target : Interpolate or BelowNoise
    mode : {"proxy", "certified"}
        "proxy" (default): steps 1-3 push penalties (proxies of Lip) down and the
        candidates are certified afterwards. "certified": after them the best candidates
        of every (width, seed) minimize the pattern-SDP certificate itself with their fit
        held (:func:`robustlaw.fitting.certified_search.certified_descent`; relu and
        leaky-relu families), every candidate is certified by the pattern SDP too, and
        explicit constructions are candidates as built (not smoothed).
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
        Where the Lipschitz constant is measured; the choice is made on bounds certified
        there: the simple R^d bounds (valid on every domain), the closed-form interval of
        an explicit construction taken as built (float64 families only), and the
        certified interval on the domain (``certify_methods``: the pattern SDP and the
        exact branch and bound under ``certify_seconds``) of the ``certify_top``
        candidates per (width, seed). In proxy mode on "ball" and "sphere" the search adds
        a min-max smoothing step against the soft maximum of the domain gradient norm
        (tangential on the sphere) over a pool of data, random and adversarial points
        (:mod:`robustlaw.fitting.domain_search`).
    effort : str, optional
        A preset of :data:`robustlaw.fitting.settings.EFFORTS` ("lean", the default,
        "quick", "standard", "thorough", "legacy").
    settings : SearchSettings, optional
        All budgets at once (instead of ``effort``).
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
    support : Tensor (m, d), optional
        Support points for the sampled lower bound and the "grad_norm" penalty (default
        :func:`support_points` of the data, ``n_support`` of them).
    bound : callable, optional
        Certified upper bound used to choose (family -> (B,) array) instead of the above.
    meta, noise_level
        Noise level for ``BelowNoise`` targets, as in :func:`robustlaw.fitting.fit`.
    device : str or torch.device, optional
        Move the family (and warm starts) there first; data follow the family.
    progress : bool, optional
        A progress bar on stderr when it is a terminal (default); False silences it.
    **overrides
        Fields of :class:`SearchSettings` (``fit_steps``, ``steps``, ``stages``,
        ``polish_steps``, ``lr``, ``margin``, ``n_support``, ``certify_seconds``, ...) that
        replace the preset's values; None leaves a value as it is.
    """
    if not isinstance(family, TwoLayer):
        raise TypeError(f"family must be a TwoLayer family, got {type(family).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if warm_start is not None and not isinstance(warm_start, TwoLayer | str):
        raise TypeError(f"warm_start must be a TwoLayer family, got {type(warm_start).__name__}")
    if isinstance(warm_start, str) and warm_start not in ("auto", "constructions"):
        raise ValueError(
            f"warm_start must be a TwoLayer, 'auto', 'constructions' or None, got {warm_start!r}"
        )
    domain = normalize_domain(domain)
    st = _resolve_settings(effort, settings, overrides)
    threshold = resolve_threshold(target, meta=meta, noise_level=noise_level)
    penalties = [penalty] if isinstance(penalty, str | Penalty) else list(penalty)
    if not penalties:
        raise ValueError("penalty must name at least one penalty")
    names = [p if isinstance(p, str) else p.name for p in penalties]
    grids = _grids(names, strengths)
    if mode == "certified" and not supports_certified_descent(family):
        raise ValueError(
            f"mode 'certified' needs relu or leaky_relu units, got {family.activation.name!r}"
        )
    if device is not None:
        family.to(device)
        if isinstance(warm_start, TwoLayer):
            warm_start.to(device)
    param = family.W
    X = torch.as_tensor(X).to(device=param.device, dtype=param.dtype)
    y = torch.as_tensor(y).to(device=param.device, dtype=param.dtype)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[1] != family.d:
        raise ValueError(
            f"smoothest_fit needs shared data X (n, {family.d}) and y (n,), got "
            f"{tuple(X.shape)} and {tuple(y.shape)}"
        )
    if warm_start == "constructions" and not on_sphere(X):
        raise ValueError("warm_start='constructions' needs data on the unit sphere")
    points = support if support is not None else support_points(X, st.n_support)
    points = torch.as_tensor(points).to(device=param.device, dtype=param.dtype)
    if points.ndim != 2 or points.shape[1] != family.d:
        raise ValueError(f"support must have shape (m, {family.d}), got {tuple(points.shape)}")
    pens = [get_penalty(p, torch.cat([X, points])) for p in penalties]
    total = st.fit_steps + st.steps * len(pens) + st.polish_steps + 1
    total += st.steps if (domain != "rd" and mode == "proxy") else 0
    total += st.minmax_rounds * st.minmax_steps if mode == "certified" else 0
    elements = family.B * X.shape[0] * family.k_max * (len(pens) * 4 + 1)
    with threads_for(elements), _Bar(progress, total).shown() as bar:
        s = _Search(
            X, y, target, threshold, st, domain, bar,
            {"meta": meta, "noise_level": noise_level, "chunk_bytes": st.chunk_bytes},
        )  # fmt: skip
        return _run(s, family, pens, grids, points, warm_start, bound, mode)


def _run(
    s: _Search,
    family: TwoLayer,
    pens: list[Penalty],
    grids: dict,
    points: Tensor,
    warm_start: TwoLayer | str | None,
    bound: BoundFn | None,
    mode: str,
) -> SmoothestResult:
    # 1. plain fit of the base members
    base = family.select(range(family.B))
    for i, m in enumerate(base.members):
        m.update(base=i, strength=0.0, warm_start=False, penalty=None)
    base = s.fit("fit", base, s.settings.fit_steps)
    # certified mode: the cone interpolant is the best construction wherever one fits
    kinds = ("cones",) if mode == "certified" else KINDS
    extra = _warm_starts(family, s.X, s.y, warm_start, s.domain, kinds)
    if mode == "certified":  # explicit constructions are candidates as built only
        kept = [w for w in extra if any(m["base"] is None for m in w.members)]
        extra = [w for w in extra if w not in kept]
    else:
        kept = []
    starts = _concat([base, *extra]) if extra else base
    # 2. smoothing; 3. polish
    smoothed = _smooth(s, starts, pens, grids, points)
    shared = _domain_points(s, points) if s.domain != "rd" else None
    if s.domain != "rd" and mode == "proxy":
        smoothed.append(_smooth_on_domain(s, starts, shared))
    smooth = _concat(smoothed) if len(smoothed) > 1 else smoothed[0]
    smooth = s.fit("polish", smooth, s.settings.polish_steps)
    candidates = _concat([starts, smooth, *kept])
    # 4. descent on the certificate (certified mode)
    sdp = None
    if mode == "certified":
        sdp = pattern_sdp_value(candidates)
        upper = np.minimum(certified_bounds(candidates).best, sdp)
        descended, values = _descend(s, candidates, upper, _fits(s, candidates))
        if descended is not None:
            candidates = _concat([candidates, descended])
            sdp = np.concatenate([sdp, values])
    # 5. certify every candidate and choose
    upper, names, lower_domain, simple = _certify(s, candidates, shared, bound, mode, sdp)
    lower = _sampled_lower(candidates, torch.cat([s.X, points]))
    table = _table(s, candidates, upper, names, lower, lower_domain, simple)
    chosen = _choose(table)
    best_family = candidates.select([table[i]["candidate"] for i in chosen])
    return SmoothestResult(
        best_family, _best_rows(table, chosen), table, candidates, s.threshold, s.reports
    )
