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

Each trial's metrics use the store's column names; ``lip_upper`` is always certified
(named by ``lip_upper_method``), ``lip_lower`` is a value recomputed at a witness, and
``lip_exact`` is set only when the interval is proven closed.
"""

from __future__ import annotations

import importlib
import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from robustlaw.sweep.plan import Batch, TrialConfig
from robustlaw.sweep.run import RunContext, TrialOutcome, register_runner

__all__ = ["CONSTRUCTIONS", "run_construction", "run_features", "run_train"]

#: Construction name -> (module of robustlaw.models.constructions, function).
CONSTRUCTIONS: dict[str, tuple[str, str]] = {
    "caps": ("caps", "cap_interpolant"),
    "grouped_caps": ("grouped", "grouped_cap_interpolant"),
    "relu_memorizer": ("small", "relu_memorizer"),
    "baum": ("small", "baum_memorizer"),
    "radial_bump": ("bump", "radial_bump_interpolant"),
}

#: Relative gap below which a certified interval counts as closed (as MethodResult.proven).
_PROVEN_GAP = 1e-6


# --------------------------------------------------------------------------- data


@dataclass
class _Data:
    """A trial's data: training points, held-out points, and what is known about them."""

    X: Any  # (n, d) tensor
    y: Any  # (n,) tensor
    X_test: Any  # (m, d) tensor, m may be 0
    y_test: Any  # (m,) tensor
    meta: dict[str, Any]
    noise_level: float | None
    intrinsic_dim: float | None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])


def _torch_dtype(cfg: TrialConfig) -> Any:
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
            meta = _replace_noise(meta, drawn)
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
    noise = spec.noise_level if spec.noise_level is not None else meta_dict.get("noise_level")
    intrinsic = meta_dict.get("intrinsic_dim")
    return _Data(X, y, X_test, y_test, meta_dict, noise, intrinsic)


def _replace_noise(meta: Any, drawn: Any) -> Any:
    from dataclasses import replace

    return replace(
        meta,
        labels=drawn.name if hasattr(drawn, "name") else meta.labels,
        noise_level=drawn.noise_level,
        noise_level_kind=drawn.noise_level_kind,
        noise_level_stderr=drawn.noise_level_stderr,
    )


def _estimated_intrinsic_dim(data: _Data) -> tuple[float | None, dict[str, Any] | None]:
    """TwoNN estimate for real data (its metadata has no intrinsic dimension)."""
    if data.intrinsic_dim is not None or data.n < 20:
        return data.intrinsic_dim, None
    from robustlaw import data as rl_data

    result = rl_data.intrinsic_dimension(data.X.detach().cpu(), method="twonn")
    plain = result.to_dict() if hasattr(result, "to_dict") else {"estimate": result.estimate}
    return float(result.estimate), plain


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


def _budget(cfg: TrialConfig) -> Any:
    from robustlaw.lipschitz import Budget

    lip = cfg.lipschitz
    return Budget(seconds=lip.budget_seconds, nodes=lip.budget_nodes)


def _estimate(family: Any, cfg: TrialConfig, X: Any) -> tuple[list[dict[str, Any]], float]:
    """Per-member Lipschitz records from :func:`robustlaw.lipschitz.estimate`."""
    import robustlaw.lipschitz as lipschitz

    if not hasattr(lipschitz, "estimate"):
        raise RuntimeError(
            "robustlaw.lipschitz.estimate is not available in this installation; "
            "set lipschitz.methods = [] to skip the measurement"
        )
    start = time.perf_counter()
    report = lipschitz.estimate(
        family,
        domain=cfg.lipschitz.domain,
        methods=tuple(cfg.lipschitz.methods),
        budget=_budget(cfg),
        X=X,
        seed=cfg.seed,
        options=dict(cfg.lipschitz.options) or None,
    )
    return list(report.to_records()), time.perf_counter() - start


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def lipschitz_metrics(record: dict[str, Any]) -> dict[str, Any]:
    """The flat Lipschitz columns from one member's :func:`estimate` record.

    ``lip_exact`` is set only when the record says the value is proven, or when the
    certified interval has closed (relative gap <= 1e-6).
    """
    lower = _number(record.get("lower"))
    upper = _number(record.get("upper"))
    exact = _number(record.get("exact"))
    if not math.isfinite(exact) and math.isfinite(upper) and lower > 0:
        if upper - lower <= _PROVEN_GAP * upper:
            exact = upper
    return {
        "lip_lower": lower,
        "lip_upper": upper,
        "lip_lower_method": record.get("lower_method"),
        "lip_upper_method": record.get("upper_method"),
        "lip_exact": exact,
    }


def _combine(
    metrics: dict[str, Any], lower: float, lower_method: str, upper: float, upper_method: str
) -> None:
    """Tighten a member's certified interval with another certified bound pair."""
    if math.isfinite(lower) and not lower <= _number(metrics.get("lip_lower")):
        metrics["lip_lower"], metrics["lip_lower_method"] = lower, lower_method
    if math.isfinite(upper) and not upper >= _number(metrics.get("lip_upper")):
        metrics["lip_upper"], metrics["lip_upper_method"] = upper, upper_method
    lo, up = _number(metrics.get("lip_lower")), _number(metrics.get("lip_upper"))
    if math.isfinite(up) and lo > 0 and up - lo <= _PROVEN_GAP * up:
        metrics["lip_exact"] = up
    else:
        metrics.setdefault("lip_exact", math.nan)


# --------------------------------------------------------------------------- accuracy


def pgd_robust_accuracy(
    family: Any, X: Any, y: Any, radius: float, steps: int = 20
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
    family: Any, X: Any, y: Any, radius: float, lip_upper: Sequence[float]
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


def _build_family(cfg: TrialConfig, widths: Sequence[int], d: int, device: str) -> Any:
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


def _target(cfg: TrialConfig, noise_level: float | None) -> Any:
    from robustlaw import fitting

    if cfg.fit.target == "interpolate":
        return fitting.Interpolate(tol=cfg.fit.tol)
    if noise_level is None:
        raise ValueError(
            "target 'below_noise' needs the noise level: the data's label model does not "
            "know it; declare it with data.noise_level"
        )
    return fitting.BelowNoise(eps=cfg.fit.eps, noise_level=noise_level)


def _fit_options(cfg: TrialConfig) -> dict[str, Any]:
    fit = cfg.fit
    options = {
        key: value
        for key, value in (("optimizer", fit.optimizer), ("lr", fit.lr), ("steps", fit.steps))
        if value is not None
    }
    options.update(fit.options)
    return options


def _plain(value: Any) -> Any:
    """JSON-ready data from reports (dataclasses, numpy and torch values)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)


def _fit_members(family: Any, data: _Data, cfg: TrialConfig) -> tuple[Any, list[dict], list, float]:
    """Fit the family: (fitted family, per-member fit dicts, per-member extras, seconds).

    With ``smoothest``, :func:`robustlaw.fitting.smoothest_fit` picks per width the
    fitting candidate with the smallest simple certified upper bound; its fit dict then
    carries that bound (``upper``, ``upper_name``) and the sampled lower bound.
    """
    from robustlaw import fitting

    target = _target(cfg, data.noise_level)
    start = time.perf_counter()
    if cfg.fit.smoothest:
        kwargs: dict[str, Any] = {"strengths": list(cfg.fit.strengths)}
        for key, value in (
            ("penalty", cfg.fit.penalty),
            ("lr", cfg.fit.lr),
            ("steps", cfg.fit.steps),
        ):
            if value is not None:
                kwargs[key] = value
        kwargs.update(cfg.fit.options)
        search = getattr(fitting, "smoothest_fit", None)
        if search is None:  # not re-exported by every version of the fitting package
            search = importlib.import_module("robustlaw.fitting.smoothest").smoothest_fit
        result = search(family, data.X, data.y, target, progress=False, **kwargs)
        fitted = result.family
        steps = {name: report.counts() for name, report in result.reports.items()}
        fits, extras = [], []
        for b, row in enumerate(result.best):
            status = "reached" if row["fits"] else "budget"
            if not math.isfinite(row["mse"]):
                status = "diverged"
            fits.append(
                {
                    "method": "smoothest_fit",
                    "status": status,
                    "threshold": result.threshold,
                    **_plain(row),
                    "steps": steps,
                }
            )
            extras.append({"candidates": [_plain(r) for r in result.table if r["base"] == b]})
    else:
        fitted, report = fitting.fit(
            family, data.X, data.y, target, progress=False, **_fit_options(cfg)
        )
        fits = _member_reports(report, family.B)
        extras = [None] * family.B
    return fitted, fits, extras, time.perf_counter() - start


def _member_reports(report: Any, B: int) -> list[dict[str, Any]]:
    """Per-member plain dicts from a :class:`robustlaw.fitting.FitReport`."""
    out = [_plain(m) for m in report.members]
    if len(out) != B:
        raise RuntimeError(f"fit report has {len(out)} member entries for {B} members")
    return out


def _mse_and_status(family: Any, data: _Data) -> tuple[list[float], list[bool]]:
    import torch

    with torch.no_grad():
        mse = ((family(data.X) - data.y[None]) ** 2).mean(dim=1)
    finite = torch.isfinite(mse)
    return mse.tolist(), finite.tolist()


def _reached(cfg: TrialConfig, mse: float, noise_level: float | None) -> bool | None:
    if not math.isfinite(mse):
        return False
    if cfg.fit.target == "interpolate":
        return mse <= cfg.fit.tol
    if noise_level is None:
        return None
    return mse <= noise_level - cfg.fit.eps


@register_runner("train")
def run_train(batch: Batch, ctx: RunContext) -> list[TrialOutcome]:
    """Sample data, build one family over the batch's widths, fit, measure."""
    cfg = batch.config
    data = _load_data(cfg, ctx)
    intrinsic, intrinsic_info = _estimated_intrinsic_dim(data)
    family = _build_family(cfg, batch.widths, data.d, ctx.device)
    family, fits, extras, fit_seconds = _fit_members(family, data, cfg)
    mse, finite = _mse_and_status(family, data)
    B = len(batch)
    # interpolation targets: no fitting network can be smoother than the data allow
    floor = data_floor(data, cfg.lipschitz.domain) if cfg.fit.target == "interpolate" else None
    metrics: list[dict[str, Any]] = [
        {
            "n": data.n,
            "d": data.d,
            "p": family.param_counts[b],
            "noise_level": data.noise_level,
            "intrinsic_dim": intrinsic,
            "train_mse": mse[b],
            "fit_reached": _reached(cfg, mse[b], data.noise_level),
            **({} if floor is None else {"lip_floor": floor}),
        }
        for b in range(B)
    ]
    diverged = [not finite[b] or fits[b].get("status") == "diverged" for b in range(B)]
    for b in range(B):
        if cfg.fit.smoothest and not diverged[b]:
            # the search's certified bound holds where it was certified (an R^d bound holds
            # on every domain); the sampled lower bound holds on R^d only
            rd = cfg.lipschitz.domain == "rd"
            holds = fits[b].get("upper_domain", "rd") in ("rd", cfg.lipschitz.domain)
            _combine(
                metrics[b],
                _number(fits[b]["lower_sampled"]) if rd else math.nan,
                "max gradient norm at data and support points (smoothest_fit)",
                _number(fits[b]["upper"]) if holds else math.nan,
                f"{fits[b]['upper_name']} (smoothest_fit)",
            )
    lip_records: list[dict[str, Any] | None] = [None] * B
    lip_seconds = 0.0
    alive = [b for b in range(B) if not diverged[b]]
    if cfg.lipschitz.methods and alive:
        measured = family.select(alive) if len(alive) < B else family
        records, lip_seconds = _estimate(measured, cfg, data.X)
        for b, record in zip(alive, records, strict=True):
            lip_records[b] = _plain(record)
            measured_metrics = lipschitz_metrics(record)
            _combine(
                metrics[b],
                _number(measured_metrics["lip_lower"]),
                str(measured_metrics["lip_lower_method"]),
                _number(measured_metrics["lip_upper"]),
                str(measured_metrics["lip_upper_method"]),
            )
            if math.isfinite(_number(measured_metrics["lip_exact"])):
                metrics[b]["lip_exact"] = measured_metrics["lip_exact"]
    if cfg.lipschitz.pgd_radius is not None and alive and data.X_test.shape[0] > 0:
        measured = family.select(alive) if len(alive) < B else family
        clean, robust = pgd_robust_accuracy(
            measured, data.X_test, data.y_test, cfg.lipschitz.pgd_radius, cfg.lipschitz.pgd_steps
        )
        # a certificate needs Lip on all of R^d: a sphere or ball constant does not bound
        # f on the perturbed points
        uppers = [
            _number(metrics[b].get("lip_upper")) if cfg.lipschitz.domain == "rd" else math.nan
            for b in alive
        ]
        certified = certified_robust_accuracy(
            measured, data.X_test, data.y_test, cfg.lipschitz.pgd_radius, uppers
        )
        for i, b in enumerate(alive):
            metrics[b].update(
                clean_accuracy=clean[i],
                robust_accuracy=robust[i],
                certified_robust_accuracy=certified[i],
            )
    test_mse = _test_mse(family, data)
    outcomes = []
    for b in range(B):
        extra = {
            "test_mse": test_mse[b],
            "test_points": int(data.X_test.shape[0]),
            "member": _plain(family.members[b]),
        }
        if intrinsic_info is not None:
            extra["intrinsic_dim_estimate"] = intrinsic_info
        if extras[b] is not None:
            extra["smoothest"] = extras[b]
        outcomes.append(
            TrialOutcome(
                status="diverged" if diverged[b] else "done",
                metrics=metrics[b] if not diverged[b] else {**metrics[b], "fit_reached": False},
                fit=fits[b],
                lipschitz=lip_records[b],
                meta=data.meta,
                extra=extra,
                error="the fit diverged (non-finite loss)" if diverged[b] else None,
                fit_seconds=_number(fits[b].get("seconds", fit_seconds / B)),
                lip_seconds=lip_seconds / max(len(alive), 1) if not diverged[b] else None,
            )
        )
    return outcomes


def _test_mse(family: Any, data: _Data) -> list[float]:
    import torch

    if data.X_test.shape[0] == 0:
        return [math.nan] * family.B
    with torch.no_grad():
        return ((family(data.X_test) - data.y_test[None]) ** 2).mean(dim=1).tolist()


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
    points = torch.cat([data.X, data.X_test]) if data.X_test.shape[0] else data.X
    with torch.no_grad():
        norms = family.input_gradient(points).norm(dim=-1)  # (B, n + m)
    best, where = norms.max(dim=1)
    sensitivity = (
        family.sensitivity(data.X_test).mean(dim=1).tolist()
        if data.X_test.shape[0]
        else [math.nan] * family.B
    )
    lip_seconds = time.perf_counter() - start
    records: list[dict[str, Any] | None] = [None] * family.B
    upper = [math.nan] * family.B
    upper_method: list[str | None] = [None] * family.B
    if cfg.lipschitz.methods and cls is RandomFeatures:
        two_layer = family.to_two_layer()
        measured, seconds = _estimate(two_layer, cfg, data.X)
        lip_seconds += seconds
        for b, record in enumerate(measured):
            records[b] = _plain(record)
    outcomes = []
    for b in range(family.B):
        finite = math.isfinite(mse[b])
        metrics: dict[str, Any] = {
            "n": data.n,
            "d": data.d,
            "p": family.param_counts[b],
            "noise_level": data.noise_level,
            "intrinsic_dim": data.intrinsic_dim,
            "train_mse": mse[b],
            "fit_reached": _reached(cfg, mse[b], data.noise_level),
            "sensitivity": sensitivity[b],
            "lip_lower": float(best[b]),
            "lip_lower_method": "max gradient norm at data and test points",
            "lip_upper": upper[b],
            "lip_upper_method": upper_method[b],
            "lip_exact": math.nan,
        }
        if records[b] is not None:
            measured_metrics = lipschitz_metrics(records[b])
            metrics.update(
                {k: v for k, v in measured_metrics.items() if not k.startswith("lip_lower")}
            )
            _combine(
                metrics,
                _number(measured_metrics["lip_lower"]),
                str(measured_metrics["lip_lower_method"]),
                math.inf,
                "",
            )
        witness = points[int(where[b])].detach().cpu().tolist()
        outcomes.append(
            TrialOutcome(
                status="done" if finite else "diverged",
                metrics=metrics,
                fit={"method": "min_norm", "ridge": cfg.fit.ridge or 0.0, "mse": mse[b]},
                lipschitz={
                    "gradient_witness": {"x": witness, "value": float(best[b])},
                    "estimate": records[b],
                },
                meta=data.meta,
                extra={"member": _plain(family.members[b]), "test_points": data.X_test.shape[0]},
                error=None if finite else "the min-norm solve gave a non-finite fit",
                fit_seconds=fit_seconds / family.B,
                lip_seconds=lip_seconds / family.B,
            )
        )
    return outcomes


# --------------------------------------------------------------------------- constructions


def construction_function(name: str) -> Any:
    """The construction function registered under ``name`` in :data:`CONSTRUCTIONS`."""
    if name not in CONSTRUCTIONS:
        raise ValueError(f"unknown construction {name!r} (known: {', '.join(CONSTRUCTIONS)})")
    module_name, function_name = CONSTRUCTIONS[name]
    package = importlib.import_module("robustlaw.models.constructions")
    fn = getattr(package, function_name, None)
    if fn is None:
        module = importlib.import_module(f"robustlaw.models.constructions.{module_name}")
        fn = getattr(module, function_name)
    return fn


@register_runner("construction")
def run_construction(batch: Batch, ctx: RunContext) -> list[TrialOutcome]:
    """Explicit interpolants: one construction per trial on the batch's data."""
    import torch

    from robustlaw.models import TwoLayer

    cfg = batch.config
    data = _load_data(cfg, ctx)
    fn = construction_function(cfg.model.construction)
    accepted = inspect.signature(fn).parameters
    floor = data_floor(data, cfg.lipschitz.domain)
    outcomes = []
    for trial in batch.trials:
        width = trial.config.model.width
        kwargs: dict[str, Any] = dict(cfg.model.options)
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
        metrics: dict[str, Any] = {
            "n": data.n,
            "d": data.d,
            "p": report.params,
            "width": report.neurons,
            "noise_level": data.noise_level,
            "intrinsic_dim": data.intrinsic_dim,
            "train_mse": mse,
            "fit_reached": bool(report.interpolates),
            "lip_lower": math.nan,
            "lip_upper": math.nan,
            "lip_exact": math.nan,
            "lip_floor": floor,
        }
        interval = report.lipschitz.get(cfg.lipschitz.domain)
        if interval is not None and interval.exact:
            metrics.update(
                lip_lower=interval.lower,
                lip_upper=interval.upper,
                lip_exact=interval.upper,
                lip_lower_method=f"construction: {interval.lower_method}",
                lip_upper_method=f"construction: {interval.upper_method}",
            )
        elif interval is not None:
            _combine(
                metrics,
                interval.lower,
                f"construction: {interval.lower_method}",
                interval.upper,
                f"construction: {interval.upper_method}",
            )
        lip_record = None
        lip_seconds = 0.0
        if cfg.lipschitz.methods and isinstance(network, TwoLayer):
            if network.activation.name != "threshold":  # threshold units: Lip = inf
                (record,), lip_seconds = _estimate(network, cfg, data.X)
                lip_record = _plain(record)
                measured = lipschitz_metrics(record)
                _combine(
                    metrics,
                    _number(measured["lip_lower"]),
                    str(measured["lip_lower_method"]),
                    _number(measured["lip_upper"]),
                    str(measured["lip_upper_method"]),
                )
        outcomes.append(
            TrialOutcome(
                status="done",
                metrics=metrics,
                fit={"construction": report_dict},
                lipschitz={"construction": report_dict.get("lipschitz"), "estimate": lip_record},
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
