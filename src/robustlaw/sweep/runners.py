"""Built-in runners: how one batch of each kind of trial is executed.

Every runner samples (or loads) the batch's data once, builds one family whose members are
the batch's widths, fits it, measures it, and returns one
:class:`~robustlaw.sweep.run.TrialOutcome` per trial:

``train`` (families "two_layer", "mlp")
    :func:`robustlaw.fitting.fit` (or :func:`robustlaw.fitting.smoothest_fit`) to the
    trial's target, then :func:`robustlaw.lipschitz.estimate`; with a PGD radius, the
    clean and robust test accuracy (an L2 PGD attack: an *estimate*, an upper bound on
    the true robust accuracy) and the certified robust accuracy from the certified
    Lipschitz upper bound (|f(x)| > L_upper * r).
``features`` (families "random_features", "ntk")
    The minimum-norm interpolator in closed form
    (:meth:`robustlaw.models.features.FeatureFamily.fit_min_norm`); the sensitivity
    sqrt(d)·||grad f(z)|| averaged over test points [Bombari et al. 2023]; a certified
    lower bound on Lip from the largest gradient norm at the data and test points; for
    random features with a registered Lipschitz method, :func:`robustlaw.lipschitz.estimate`
    of the equivalent two-layer network.
``construction`` (family "construction")
    An explicit interpolant of :mod:`robustlaw.models.constructions`; its certified
    closed-form interval, tightened by :func:`robustlaw.lipschitz.estimate` where the
    network is a two-layer family.

Each trial's measurements are a :class:`~robustlaw.sweep.records.Metrics` record (the
store's columns); ``lip_upper`` is always certified (named by ``lip_upper_method``),
``lip_lower`` is a value recomputed at a witness, and ``lip_exact`` is set only when the
interval is proven closed (:class:`~robustlaw.sweep.records.Bracket`).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from robustlaw.sweep.plan import Batch, TrialConfig
from robustlaw.sweep.records import JSON, Bracket, Metrics, TrialOutcome
from robustlaw.sweep.registry import construction, register_runner
from robustlaw.sweep.run import RunContext

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from robustlaw.data import Labels, SampleMeta
    from robustlaw.lipschitz import LipschitzReport
    from robustlaw.models import TwoLayer
    from robustlaw.models.features import FeatureFamily
    from robustlaw.models.mlp import MLP

    Family = TwoLayer | MLP | FeatureFamily

__all__ = [
    "certified_robust_accuracy",
    "data_floor",
    "pgd_robust_accuracy",
    "run_construction",
    "run_features",
    "run_train",
]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Data:
    """A trial's data: training points, held-out points, and what is known about them."""

    X: Tensor  # (n, d)
    y: Tensor  # (n,)
    X_test: Tensor  # (m, d), m may be 0
    y_test: Tensor  # (m,)
    meta: JSON
    noise_level: float | None
    intrinsic_dim: float | None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    @property
    def m(self) -> int:
        return int(self.X_test.shape[0])


def _torch_dtype(cfg: TrialConfig) -> torch.dtype:
    import torch

    return torch.float64 if cfg.model.dtype == "float64" else torch.float32


def _load_data(cfg: TrialConfig, ctx: RunContext) -> _Data:
    """Sample n + test_points points (the first n train) or load and split a data set."""
    import torch

    from robustlaw import data as rl_data

    dtype = _torch_dtype(cfg)
    spec = cfg.data
    test = cfg.lipschitz.test_points
    if spec.distribution is not None:
        drawn = rl_data.sample(
            spec.distribution,
            n=spec.n + test,
            d=spec.d,
            seed=cfg.seed,
            labels=spec.labels,
            label_params=dict(spec.label_params),
            dtype=dtype,
            device=ctx.device,
            **spec.params,
        )
        X, y, meta = drawn.X[: spec.n], drawn.y[: spec.n], drawn.meta
        X_test, y_test = drawn.X[spec.n :], drawn.y[spec.n :]
    else:
        loaded = rl_data.load_dataset(
            spec.dataset,
            seed=cfg.seed,
            dtype=dtype,
            device=ctx.device,
            labels=True,
            **spec.options,
        )
        X_all, y_all, meta = loaded.X, loaded.y, loaded.meta
        if spec.labels != "dataset":
            model = rl_data.labels.resolve_label_model(spec.labels, dict(spec.label_params))
            gen = torch.Generator().manual_seed(rl_data.sampling.derived_seed(cfg.seed, 1))
            drawn = model.sample(X_all.to(torch.float64).cpu(), gen)
            y_all = drawn.y.to(dtype=dtype, device=X_all.device)
            meta = _relabelled(meta, spec.labels, drawn)
        if y_all is None:
            raise ValueError(f"data set {spec.dataset!r} has no labels")
        total = X_all.shape[0]
        order = torch.randperm(total, generator=torch.Generator().manual_seed(cfg.seed))
        order = order.to(X_all.device)
        n = spec.n if spec.n is not None else max(1, total - min(test, total // 5))
        if n > total:
            raise ValueError(f"data.n = {n} exceeds the {total} points of {spec.dataset!r}")
        held = order[n : n + test]
        X, y = X_all[order[:n]], y_all[order[:n]]
        X_test, y_test = X_all[held], y_all[held]
    meta_dict = meta.to_dict()
    noise = spec.noise_level if spec.noise_level is not None else meta.noise_level
    return _Data(X, y, X_test, y_test, meta_dict, noise, meta.intrinsic_dim)


def _relabelled(meta: SampleMeta, labels: str, drawn: Labels) -> SampleMeta:
    return replace(
        meta,
        labels=labels,
        noise_level=drawn.noise_level,
        noise_level_kind=drawn.noise_level_kind,
        noise_level_stderr=drawn.noise_level_stderr,
    )


def _estimated_intrinsic_dim(data: _Data) -> tuple[float | None, JSON | None]:
    """TwoNN estimate for real data (its metadata has no intrinsic dimension)."""
    if data.intrinsic_dim is not None or data.n < 20:
        return data.intrinsic_dim, None
    from robustlaw import data as rl_data

    result = rl_data.intrinsic_dimension(data.X.detach().cpu(), method="twonn")
    return float(result.estimate), result.to_dict()


def data_floor(data: _Data, domain: str) -> float:
    """The data floor: the smallest Lipschitz constant on ``domain`` of any function with
    f(x_i) = y_i (exact; see :func:`robustlaw.data.separation`). NaN where it does not apply
    (unlabelled data, or points off the sphere for the sphere domain)."""
    from robustlaw import data as rl_data

    if data.y is None or data.n < 2:
        return math.nan
    try:
        result = rl_data.separation(data.X.detach(), data.y.detach(), domain=domain)
    except ValueError:  # e.g. data not on the sphere: no sphere floor
        return math.nan
    value = result.interpolation_lipschitz
    return math.nan if value is None else float(value)


# --------------------------------------------------------------------------- Lipschitz


def _estimate(family: Family, cfg: TrialConfig, X: Tensor) -> tuple[LipschitzReport, float]:
    """:func:`robustlaw.lipschitz.estimate` of every member, and the seconds it took.

    ``lipschitz.budget_seconds`` is per network: the whole call gets that many seconds for
    each of the family's members (``estimate``'s budget bounds the whole call).
    """
    from robustlaw.lipschitz import Budget, estimate

    lip = cfg.lipschitz
    seconds = None if lip.budget_seconds is None else lip.budget_seconds * family.B
    start = time.perf_counter()
    report = estimate(
        family,
        domain=lip.domain,
        methods=tuple(lip.methods),
        budget=Budget(seconds=seconds, nodes=lip.budget_nodes),
        X=X,
        seed=cfg.seed,
        options=dict(lip.options) or None,
    )
    return report, time.perf_counter() - start


def _brackets(report: LipschitzReport) -> list[Bracket]:
    """Each member's combined certified interval from a report."""
    lower, upper = report.lower, report.upper
    return [
        Bracket(float(lower[b]), lower_method, float(upper[b]), upper_method)
        for b, (lower_method, upper_method) in enumerate(
            zip(report.lower_method, report.upper_method, strict=True)
        )
    ]


def _tightened(bracket: Bracket, other: Bracket) -> Bracket:
    return bracket.tightened(other.lower, other.lower_method, other.upper, other.upper_method)


def _plain(value: object) -> Any:
    """JSON-ready data from reports (dataclasses, numpy and torch values)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return str(value)


# --------------------------------------------------------------------------- accuracy


def pgd_robust_accuracy(
    family: Family, X: Tensor, y: Tensor, radius: float, steps: int = 20
) -> tuple[list[float], list[float]]:
    """Clean and PGD-robust accuracy of every member against L2 perturbations.

    An L2 projected-gradient attack (Madry et al. 2018) on the margin y·f(x + delta),
    ||delta|| <= radius, with step 2.5·radius/steps, run on all members at once
    (X broadcast to (B, m, d)). A point counts as robust when its label is still
    predicted after the attack, so the robust accuracy is an **estimate** (an upper bound
    on the true robust accuracy; certified values come from Lipschitz bounds).

    Parameters
    ----------
    family : TwoLayer or MLP
        Any family with ``forward`` (B, m) and ``input_gradient`` (B, m, d).
    X : Tensor, shape (m, d)
    y : Tensor, shape (m,), labels in {-1, 1}
    radius : float
        L2 radius.
    steps : int

    Returns
    -------
    clean, robust : list of float, length B
    """
    import torch

    if radius <= 0 or steps <= 0:
        raise ValueError(f"radius and steps must be positive, got {radius!r}, {steps!r}")
    with torch.no_grad():
        B = family(X).shape[0]
        sign = torch.sign(y).to(X.dtype)
        base = X.expand(B, *X.shape).clone()
        delta = torch.zeros_like(base)
        alpha = 2.5 * radius / steps
        for _ in range(steps):
            grad = family.input_gradient(base + delta)  # (B, m, d)
            ascent = -sign[None, :, None] * grad  # increases the loss -y f
            norm = ascent.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = delta + alpha * ascent / norm
            length = delta.norm(dim=-1, keepdim=True)
            delta = delta * torch.clamp(radius / length.clamp_min(1e-12), max=1.0)
        clean = (torch.sign(family(X)) == sign[None]).to(torch.float64)
        attacked = (torch.sign(family(base + delta)) == sign[None]).to(torch.float64)
    return clean.mean(dim=1).tolist(), (clean * attacked).mean(dim=1).tolist()


def certified_robust_accuracy(
    family: Family, X: Tensor, y: Tensor, radius: float, lip_upper: Sequence[float]
) -> list[float]:
    """Fraction of points certified robust at ``radius``: correct with
    y·f(x) > Lip_upper·radius (a certified Lipschitz upper bound on R^d), per member;
    NaN for a member without a finite certified bound."""
    import torch

    with torch.no_grad():
        out = family(X)
    bounds = torch.tensor([float(v) for v in lip_upper], dtype=out.dtype, device=out.device)
    margin = torch.sign(y)[None].to(out.dtype) * out
    share = (margin > bounds[:, None] * radius).to(torch.float64).mean(dim=1)
    return torch.where(torch.isfinite(bounds), share, torch.nan).tolist()


# --------------------------------------------------------------------------- train


def _build_family(cfg: TrialConfig, widths: Sequence[int], d: int, device: str) -> Family:
    model = cfg.model
    dtype = _torch_dtype(cfg)
    if model.family == "two_layer":
        from robustlaw.models import TwoLayer

        return TwoLayer(
            d,
            list(widths),
            activation=model.activation,
            seeds=[cfg.seed],
            init=model.init,
            hidden_bias=model.hidden_bias,
            output_bias=model.output_bias,
            skip=model.skip,
            dtype=dtype,
            device=device,
            **model.options,
        )
    if model.family == "mlp":
        from robustlaw.models.mlp import MLP

        return MLP(
            d,
            hidden=[[w] * model.hidden_layers for w in widths],
            activation=model.activation,
            seeds=[cfg.seed],
            init=model.init,
            bias=model.hidden_bias,
            skip=model.skip,
            dtype=dtype,
            device=device,
            **model.options,
        )
    raise ValueError(f"the train runner builds two_layer and mlp families, got {model.family!r}")


def _target(cfg: TrialConfig, noise_level: float | None) -> object:
    from robustlaw import fitting

    if cfg.fit.target == "interpolate":
        return fitting.Interpolate(tol=cfg.fit.tol)
    if noise_level is None:
        raise ValueError(
            "target 'below_noise' needs the noise level: the data's label model does not "
            "know it; declare it with data.noise_level"
        )
    return fitting.BelowNoise(eps=cfg.fit.eps, noise_level=noise_level)


@dataclass(frozen=True)
class _MemberFit:
    """How one member's fit ended: its status, its report (the fit blob), the certified
    bounds the fit itself found (smoothest_fit), its time and extra blobs."""

    status: str
    report: JSON
    bounds: Bracket = field(default_factory=Bracket)
    seconds: float | None = None
    extra: JSON | None = None


def _fit_members(family: Family, data: _Data, cfg: TrialConfig) -> tuple[Family, list[_MemberFit]]:
    """Fit the family: the fitted family and each member's :class:`_MemberFit`.

    With ``smoothest``, :func:`robustlaw.fitting.smoothest_fit` picks per width the
    fitting candidate with the smallest simple certified upper bound; that bound and the
    sampled lower bound (a witness bound on R^d only) are the member's fit bounds.
    """
    from robustlaw import fitting

    target = _target(cfg, data.noise_level)
    fit = cfg.fit
    start = time.perf_counter()
    if not fit.smoothest:
        options = {
            key: value
            for key, value in (("optimizer", fit.optimizer), ("lr", fit.lr), ("steps", fit.steps))
            if value is not None
        }
        options.update(fit.options)
        fitted, report = fitting.fit(family, data.X, data.y, target, progress=False, **options)
        if len(report.members) != family.B:
            raise RuntimeError(f"fit report has {len(report.members)} members for {family.B}")
        return fitted, [_MemberFit(m.status, _plain(m), seconds=m.seconds) for m in report.members]
    kwargs: dict[str, object] = {"strengths": list(fit.strengths)}
    for key, value in (("penalty", fit.penalty), ("lr", fit.lr), ("steps", fit.steps)):
        if value is not None:
            kwargs[key] = value
    kwargs.update(fit.options)
    result = fitting.smoothest_fit(family, data.X, data.y, target, progress=False, **kwargs)
    seconds = (time.perf_counter() - start) / family.B
    steps = {name: report.counts() for name, report in result.reports.items()}
    on_rd = cfg.lipschitz.domain == "rd"  # the sampled lower bound holds on R^d only
    members = []
    for b, row in enumerate(result.best):
        status = "reached" if row["fits"] else "budget"
        if not math.isfinite(row["mse"]):
            status = "diverged"
        # the search's certified bound holds where it was certified (an R^d bound holds
        # on every domain)
        holds = row.get("upper_domain", "rd") in ("rd", cfg.lipschitz.domain)
        bounds = Bracket().tightened(
            float(row["lower_sampled"]) if on_rd else math.nan,
            "max gradient norm at data and support points (smoothest_fit)",
            float(row["upper"]) if holds else math.nan,
            f"{row['upper_name']} (smoothest_fit)",
        )
        blob = {
            "method": "smoothest_fit",
            "status": status,
            "threshold": result.threshold,
            **_plain(row),
            "steps": steps,
        }
        candidates = [_plain(r) for r in result.table if r["base"] == b]
        members.append(_MemberFit(status, blob, bounds, seconds, {"candidates": candidates}))
    return result.family, members


def _mse(family: Family, X: Tensor, y: Tensor) -> list[float]:
    """(B,) mean squared error of every member on (X, y); NaN for every member when empty."""
    import torch

    if X.shape[0] == 0:
        return [math.nan] * family.B
    with torch.no_grad():
        return ((family(X) - y[None]) ** 2).mean(dim=1).tolist()


def _reached(cfg: TrialConfig, mse: float, noise_level: float | None) -> bool | None:
    if not math.isfinite(mse):
        return False
    if cfg.fit.target == "interpolate":
        return mse <= cfg.fit.tol
    if noise_level is None:
        return None
    return mse <= noise_level - cfg.fit.eps


def _accuracies(
    family: Family, data: _Data, cfg: TrialConfig, brackets: Sequence[Bracket]
) -> list[dict[str, float]]:
    """Clean, PGD-robust and certified robust accuracy of every member on the test points.

    A certificate needs Lip on all of R^d: a sphere or ball constant does not bound f on
    the perturbed points, so the certified accuracy is NaN on the other domains.
    """
    radius = cfg.lipschitz.pgd_radius
    clean, robust = pgd_robust_accuracy(
        family, data.X_test, data.y_test, radius, cfg.lipschitz.pgd_steps
    )
    rd = cfg.lipschitz.domain == "rd"
    uppers = [bracket.upper if rd else math.nan for bracket in brackets]
    certified = certified_robust_accuracy(family, data.X_test, data.y_test, radius, uppers)
    return [
        {"clean_accuracy": c, "robust_accuracy": r, "certified_robust_accuracy": z}
        for c, r, z in zip(clean, robust, certified, strict=True)
    ]


@register_runner("train")
def run_train(batch: Batch, ctx: RunContext) -> list[TrialOutcome]:
    """Sample data, build one family over the batch's widths, fit, measure."""
    cfg = batch.config
    data = _load_data(cfg, ctx)
    intrinsic, intrinsic_info = _estimated_intrinsic_dim(data)
    family, fits = _fit_members(_build_family(cfg, batch.widths, data.d, ctx.device), data, cfg)
    mse = _mse(family, data.X, data.y)
    B = len(batch)
    diverged = [not math.isfinite(mse[b]) or fits[b].status == "diverged" for b in range(B)]
    alive = [b for b in range(B) if not diverged[b]]
    brackets = [fits[b].bounds for b in range(B)]
    measured = family.select(alive) if len(alive) < B else family
    lip_blobs: list[JSON | None] = [None] * B
    lip_seconds = 0.0
    if cfg.lipschitz.methods and alive:
        report, lip_seconds = _estimate(measured, cfg, data.X)
        for b, record, bracket in zip(alive, report.to_records(), _brackets(report), strict=True):
            lip_blobs[b] = _plain(record)
            brackets[b] = _tightened(brackets[b], bracket)
    accuracy: dict[int, dict[str, float]] = {}
    if cfg.lipschitz.pgd_radius is not None and alive and data.m > 0:
        found = _accuracies(measured, data, cfg, [brackets[b] for b in alive])
        accuracy = dict(zip(alive, found, strict=True))
    # interpolation targets: no fitting network can be smoother than the data allow
    floor = data_floor(data, cfg.lipschitz.domain) if cfg.fit.target == "interpolate" else None
    test_mse = _mse(family, data.X_test, data.y_test)
    outcomes = []
    for b in range(B):
        metrics = Metrics(
            n=data.n,
            d=data.d,
            p=family.param_counts[b],
            noise_level=data.noise_level,
            intrinsic_dim=intrinsic,
            train_mse=mse[b],
            fit_reached=False if diverged[b] else _reached(cfg, mse[b], data.noise_level),
            lip_floor=floor,
            **accuracy.get(b, {}),
        )
        extra: JSON = {
            "test_mse": test_mse[b],
            "test_points": data.m,
            "member": _plain(family.members[b]),
        }
        if intrinsic_info is not None:
            extra["intrinsic_dim_estimate"] = intrinsic_info
        if fits[b].extra is not None:
            extra["smoothest"] = fits[b].extra
        outcomes.append(
            TrialOutcome(
                status="diverged" if diverged[b] else "done",
                metrics=metrics if diverged[b] else metrics.with_bracket(brackets[b]),
                fit=fits[b].report,
                lipschitz=lip_blobs[b],
                meta=data.meta,
                extra=extra,
                error="the fit diverged (non-finite loss)" if diverged[b] else None,
                fit_seconds=fits[b].seconds,
                lip_seconds=None if diverged[b] else lip_seconds / len(alive),
            )
        )
    return outcomes


# --------------------------------------------------------------------------- features


@register_runner("features")
def run_features(batch: Batch, ctx: RunContext) -> list[TrialOutcome]:
    """Random-feature / NTK-feature members, fitted by the minimum-norm interpolator."""
    import torch

    from robustlaw.models.features import NTKFeatures, RandomFeatures

    cfg = batch.config
    data = _load_data(cfg, ctx)
    cls = RandomFeatures if cfg.model.family == "random_features" else NTKFeatures
    family = cls(
        data.d,
        batch.widths,
        activation=cfg.model.activation,
        seeds=[cfg.seed],
        dtype=_torch_dtype(cfg),
        device=ctx.device,
        **cfg.model.options,
    )
    start = time.perf_counter()
    mse = family.fit_min_norm(data.X, data.y, ridge=cfg.fit.ridge or 0.0).tolist()
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    points = torch.cat([data.X, data.X_test]) if data.m else data.X
    with torch.no_grad():
        norms = family.input_gradient(points).norm(dim=-1)  # (B, n + m)
    best, where = norms.max(dim=1)
    sensitivity = (
        family.sensitivity(data.X_test).mean(dim=1).tolist() if data.m else [math.nan] * family.B
    )
    lip_seconds = time.perf_counter() - start
    gradient_method = "max gradient norm at data and test points"
    brackets = [Bracket().tightened(float(v), gradient_method, None, None) for v in best]
    records: list[JSON | None] = [None] * family.B
    if cfg.lipschitz.methods and cls is RandomFeatures:
        report, seconds = _estimate(family.to_two_layer(), cfg, data.X)
        lip_seconds += seconds
        for b, (record, bracket) in enumerate(
            zip(report.to_records(), _brackets(report), strict=True)
        ):
            records[b] = _plain(record)
            brackets[b] = _tightened(brackets[b], bracket)
    outcomes = []
    for b in range(family.B):
        finite = math.isfinite(mse[b])
        metrics = Metrics(
            n=data.n,
            d=data.d,
            p=family.param_counts[b],
            noise_level=data.noise_level,
            intrinsic_dim=data.intrinsic_dim,
            train_mse=mse[b],
            fit_reached=_reached(cfg, mse[b], data.noise_level),
            sensitivity=sensitivity[b],
        )
        witness = points[int(where[b])].detach().cpu().tolist()
        outcomes.append(
            TrialOutcome(
                status="done" if finite else "diverged",
                metrics=metrics.with_bracket(brackets[b]),
                fit={"method": "min_norm", "ridge": cfg.fit.ridge or 0.0, "mse": mse[b]},
                lipschitz={
                    "gradient_witness": {"x": witness, "value": float(best[b])},
                    "estimate": records[b],
                },
                meta=data.meta,
                extra={"member": _plain(family.members[b]), "test_points": data.m},
                error=None if finite else "the min-norm solve gave a non-finite fit",
                fit_seconds=fit_seconds / family.B,
                lip_seconds=lip_seconds / family.B,
            )
        )
    return outcomes


# --------------------------------------------------------------------------- constructions


@register_runner("construction")
def run_construction(batch: Batch, ctx: RunContext) -> list[TrialOutcome]:
    """Explicit interpolants: one construction per trial on the batch's data."""
    import torch

    from robustlaw.models import TwoLayer

    cfg = batch.config
    data = _load_data(cfg, ctx)
    fn = construction(cfg.model.construction)
    accepted = inspect.signature(fn).parameters
    floor = data_floor(data, cfg.lipschitz.domain)
    outcomes = []
    for trial in batch.trials:
        width = trial.config.model.width
        kwargs: dict[str, object] = dict(cfg.model.options)
        if "seed" in accepted:
            kwargs.setdefault("seed", cfg.seed)
        if width is not None:
            if "k" not in accepted:
                raise ValueError(
                    f"construction {cfg.model.construction!r} sets its own width; remove widths"
                )
            kwargs["k"] = width
        start = time.perf_counter()
        network, report = fn(data.X, data.y, dtype=_torch_dtype(cfg), device=ctx.device, **kwargs)
        fit_seconds = time.perf_counter() - start
        with torch.no_grad():
            out = network(data.X)
            out = out[0] if out.ndim == 2 else out
            mse = float(((out.reshape(-1) - data.y) ** 2).mean())
        report_dict = _plain(report)
        bracket = Bracket()
        interval = report.lipschitz.get(cfg.lipschitz.domain)
        if interval is not None:
            ends = (
                interval.lower,
                f"construction: {interval.lower_method}",
                interval.upper,
                f"construction: {interval.upper_method}",
            )
            # a proven value is kept as it is, infinite for threshold units
            bracket = Bracket(*ends, proven=True) if interval.exact else bracket.tightened(*ends)
        lip_record = None
        lip_seconds = 0.0
        # threshold units have Lip = inf: nothing to measure
        if cfg.lipschitz.methods and isinstance(network, TwoLayer):
            if network.activation.name != "threshold":
                estimated, lip_seconds = _estimate(network, cfg, data.X)
                (lip_record,) = estimated.to_records()
                (measured,) = _brackets(estimated)
                bracket = _tightened(bracket, measured)
        metrics = Metrics(
            n=data.n,
            d=data.d,
            p=report.params,
            width=report.neurons,
            noise_level=data.noise_level,
            intrinsic_dim=data.intrinsic_dim,
            train_mse=mse,
            fit_reached=bool(report.interpolates),
            lip_floor=floor,
        )
        outcomes.append(
            TrialOutcome(
                status="done",
                metrics=metrics.with_bracket(bracket),
                fit={"construction": report_dict},
                lipschitz={
                    "construction": report_dict.get("lipschitz"),
                    "estimate": None if lip_record is None else _plain(lip_record),
                },
                meta=data.meta,
                extra={
                    "details": report_dict.get("details"),
                    "condition_met": report.condition_met,
                },
                fit_seconds=fit_seconds,
                lip_seconds=lip_seconds,
            )
        )
    return outcomes
