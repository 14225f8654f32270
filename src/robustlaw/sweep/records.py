"""Typed records of a sweep: what a runner measured, what a batch returns, what is stored.

- :class:`Metrics`: the flat measurements of one member (None: not measured). Its fields
  are columns of the store; a runner cannot report a metric that has no column.
- :class:`Bracket`: a member's certified interval on Lip with the method behind each end,
  tightened bound by bound; exact when the lipschitz package's closing rule holds.
- :class:`TrialOutcome`: what a runner reports for one trial.
- :class:`TrialRecord`: a trial's outcome with its config, timings and provenance, as
  :func:`robustlaw.sweep.run.run_batch` returns it and the driver stores it.
- :class:`Row`: one row of the store's ``trials`` table; its fields *are* the table's
  columns (:data:`COLUMNS`, :data:`BLOB_COLUMNS`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from robustlaw._names import unknown_name
from robustlaw.lipschitz.result import is_closed

if TYPE_CHECKING:
    from robustlaw.sweep.plan import TrialConfig

__all__ = [
    "BLOB_COLUMNS",
    "COLUMNS",
    "JSON",
    "STATUSES",
    "Bracket",
    "ErrorKind",
    "Metrics",
    "Row",
    "Status",
    "TrialOutcome",
    "TrialRecord",
    "error_kinds",
    "iso_time",
]

#: Final states of a trial: "done" (measured), "failed" (an error; rerun by the next run),
#: "diverged" (the fit produced NaN/inf: a result, not rerun).
STATUSES = ("done", "failed", "diverged")
Status = Literal["done", "failed", "diverged"]

#: JSON-ready data (reports of the fitting and Lipschitz packages, data metadata).
JSON = dict[str, Any]


def _as(kind: type, name: str, value: object) -> object:
    """``value`` as ``kind`` (int, float, bool or str); None stays None."""
    if value is None:
        return None
    if kind is bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise TypeError(f"metric {name} must be a bool or None, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise TypeError(f"metric {name} must be a string or None, got {value!r}")
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"metric {name} must be a number or None, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"metric {name} must be a number or None, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise TypeError(f"metric {name} must be an integer or None, got {value!r}")
        return int(number)
    return number


_KINDS = {"int | None": int, "float | None": float, "bool | None": bool, "str | None": str}


@dataclass(frozen=True)
class Metrics:
    """The flat measurements of one member, named as the store's columns.

    None means "not measured"; a float may also be NaN (measured, undefined). ``lip_upper``
    is certified (by ``lip_upper_method``), ``lip_lower`` is a value recomputed at a
    witness (by ``lip_lower_method``), ``lip_exact`` is set only when the interval closed
    or a proof gives the value, ``lip_floor`` is the data floor (the smallest Lipschitz
    constant of any exact interpolant), accuracies are fractions of held-out points.

    Build from a mapping with :meth:`of`: a key that is not a field is an error.
    """

    n: int | None = None
    d: int | None = None
    p: int | None = None
    width: int | None = None
    noise_level: float | None = None
    intrinsic_dim: float | None = None
    train_mse: float | None = None
    fit_reached: bool | None = None
    lip_lower: float | None = None
    lip_lower_method: str | None = None
    lip_upper: float | None = None
    lip_upper_method: str | None = None
    lip_exact: float | None = None
    lip_floor: float | None = None
    sensitivity: float | None = None
    clean_accuracy: float | None = None
    robust_accuracy: float | None = None
    certified_robust_accuracy: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            kind = _KINDS[str(item.type)]
            object.__setattr__(self, item.name, _as(kind, item.name, getattr(self, item.name)))

    @classmethod
    def of(cls, values: Metrics | Mapping[str, object]) -> Metrics:
        """Metrics from a mapping of field names (or Metrics, returned as they are).

        Raises
        ------
        ValueError
            For a key that is not a metric (the store has no column for it).
        """
        if isinstance(values, Metrics):
            return values
        if not isinstance(values, Mapping):
            raise TypeError(f"metrics must be Metrics or a mapping, got {type(values).__name__}")
        known = [item.name for item in fields(cls)]
        for key in values:
            if key not in known:
                raise ValueError(f"metrics: {unknown_name(key, known, 'metric')}")
        return cls(**values)  # type: ignore[arg-type]

    def measured(self) -> dict[str, object]:
        """The fields that were measured (not None)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def with_bracket(self, bracket: Bracket) -> Metrics:
        """These metrics with the Lipschitz columns taken from ``bracket``."""
        return _replace(
            self,
            lip_lower=bracket.lower,
            lip_lower_method=bracket.lower_method,
            lip_upper=bracket.upper,
            lip_upper_method=bracket.upper_method,
            lip_exact=bracket.exact,
        )


def _replace(metrics: Metrics, **changes: object) -> Metrics:
    return Metrics(**{**asdict(metrics), **changes})  # type: ignore[arg-type]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


@dataclass(frozen=True)
class Bracket:
    """A certified interval [lower, upper] on one member's Lip, the method behind each end.

    NaN marks an end nobody bounded. ``proven`` records an exact value given by a proof
    (a closed form); otherwise the value is exact when the interval has closed by the
    closing rule of :mod:`robustlaw.lipschitz`
    (:func:`robustlaw.lipschitz.result.is_closed`, with a positive lower bound).
    """

    lower: float = math.nan
    lower_method: str | None = None
    upper: float = math.nan
    upper_method: str | None = None
    proven: bool = False

    def tightened(
        self,
        lower: float | None,
        lower_method: str | None,
        upper: float | None,
        upper_method: str | None,
    ) -> Bracket:
        """The interval with either end replaced where the new bound is finite and tighter."""
        lo, lo_method = self.lower, self.lower_method
        up, up_method = self.upper, self.upper_method
        if _finite(lower) and not lower <= lo:  # type: ignore[operator]
            lo, lo_method = float(lower), lower_method  # type: ignore[arg-type]
        if _finite(upper) and not upper >= up:  # type: ignore[operator]
            up, up_method = float(upper), upper_method  # type: ignore[arg-type]
        return Bracket(lo, lo_method, up, up_method, self.proven)

    @property
    def closed(self) -> bool:
        """Whether the interval has closed (lipschitz's rule, on a positive lower bound)."""
        return self.lower > 0 and is_closed(self.lower, self.upper)

    @property
    def exact(self) -> float:
        """The exact value when proven or closed, else NaN."""
        return self.upper if self.proven or self.closed else math.nan


@dataclass(frozen=True)
class TrialOutcome:
    """What a runner reports for one trial.

    Attributes
    ----------
    status : {"done", "failed", "diverged"}
    metrics : Metrics
        Flat measured values (a mapping of metric names is converted; an unknown name is
        a ValueError).
    fit, lipschitz, meta, extra : dict or None
        JSON-ready blobs: the member's fit report, every Lipschitz result, the data's
        metadata, anything else worth keeping (candidate tables, construction reports).
    error : str or None
        Why the trial failed or diverged.
    fit_seconds, lip_seconds : float or None
        Time spent fitting and measuring this member (a batched step's time is split
        evenly over its members).
    """

    status: Status = "done"
    metrics: Metrics = field(default_factory=Metrics)
    fit: JSON | None = None
    lipschitz: JSON | None = None
    meta: JSON | None = None
    extra: JSON | None = None
    error: str | None = None
    fit_seconds: float | None = None
    lip_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        object.__setattr__(self, "metrics", Metrics.of(self.metrics))


@dataclass(frozen=True)
class ErrorKind:
    """Trials that ended the same way: "failed" with one exception type, or "diverged"."""

    status: Status
    kind: str
    count: int
    first: str


def error_kinds(ends: Iterable[tuple[str, str | None]]) -> tuple[ErrorKind, ...]:
    """Group (status, error) pairs of unfinished trials by status and exception type (the
    text before the first colon of a failure), keeping the first error of each kind."""
    groups: dict[tuple[str, str], list[str]] = {}
    for status, error in ends:
        if status == "done":
            continue
        text = error or "(no error recorded)"
        kind = text.split(":", 1)[0] if status == "failed" else status
        groups.setdefault((status, kind), []).append(text)
    return tuple(
        ErrorKind(status, kind, len(errors), errors[0])  # type: ignore[arg-type]
        for (status, kind), errors in groups.items()
    )


def iso_time(seconds: float) -> str:
    """A POSIX time as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class TrialRecord:
    """One trial's outcome (the fields of :class:`TrialOutcome`) with its identity,
    timings and provenance.

    ``seconds`` is the batch's wall time split evenly over its trials; ``finished_at`` is
    ISO 8601 (UTC).
    """

    trial_hash: str
    batch_key: str
    config: TrialConfig
    status: Status
    metrics: Metrics
    fit: JSON | None
    lipschitz: JSON | None
    meta: JSON | None
    extra: JSON | None
    error: str | None
    fit_seconds: float | None
    lip_seconds: float | None
    seconds: float
    batch_seconds: float
    device: str
    host: str
    finished_at: str
    package_version: str
    torch_version: str

    @classmethod
    def of(cls, outcome: TrialOutcome, **provenance: Any) -> TrialRecord:
        """The record of ``outcome`` with the other fields given by keyword."""
        return cls(
            **{item.name: getattr(outcome, item.name) for item in fields(outcome)}, **provenance
        )

    def row(self, spec_name: str, executor: str | None) -> Row:
        """The store's row: columns from the config, overridden by what was measured
        (e.g. n and d of a real data set, the noise level from the data's metadata)."""
        config = self.config
        data, model, fit, lip = config.data, config.model, config.fit, config.lipschitz
        family = model.construction if model.family == "construction" else model.family
        columns: dict[str, Any] = {
            "experiment": config.experiment,
            "spec_name": spec_name,
            "trial_hash": self.trial_hash,
            "status": self.status,
            "distribution": data.distribution or data.dataset,
            "labels": data.labels,
            "n": data.n,
            "d": data.d,
            "noise_level": data.noise_level,
            "family": family or model.family,
            "activation": model.activation,
            "width": model.width,
            "depth": model.hidden_layers + 1,
            "seed": config.seed,
            "target": fit.target,
            "eps": fit.eps,
            "pgd_radius": lip.pgd_radius,
            "kind": config.kind,
            "dataset": data.dataset,
            "domain": lip.domain,
            "batch_key": self.batch_key,
            "error": self.error,
            "fit_seconds": self.fit_seconds,
            "lip_seconds": self.lip_seconds,
            "seconds": self.seconds,
            "batch_seconds": self.batch_seconds,
            "package_version": self.package_version,
            "torch_version": self.torch_version,
            "device": self.device,
            "executor": executor,
            "host": self.host,
            "finished_at": self.finished_at,
            "config_json": json.dumps(config.model_dump(mode="json"), sort_keys=True),
            "metrics_json": json.dumps(self.metrics.measured(), sort_keys=True),
            **{
                f"{key}_json": _blob(getattr(self, key))
                for key in ("fit", "lipschitz", "meta", "extra")
            },
        }
        columns.update(self.metrics.measured())
        return Row(**columns)


def _blob(value: JSON | None) -> str | None:
    return None if value is None else json.dumps(value, default=str)


@dataclass(frozen=True)
class Row:
    """One row of the store's ``trials`` table; the fields are the table's columns.

    The first block is what :mod:`robustlaw.analysis` reads; every :class:`Metrics` field
    is a column (a metric without a column cannot be constructed); then provenance and
    bookkeeping; then JSON blobs (Python's json: NaN and inf round-trip).
    """

    experiment: str | None = None
    spec_name: str | None = None
    trial_hash: str | None = field(default=None, metadata={"sql": "TEXT PRIMARY KEY"})
    status: str | None = field(default=None, metadata={"sql": "TEXT NOT NULL"})
    distribution: str | None = None
    labels: str | None = None
    n: int | None = None
    d: int | None = None
    intrinsic_dim: float | None = None
    noise_level: float | None = None
    family: str | None = None
    activation: str | None = None
    width: int | None = None
    depth: int | None = None
    p: int | None = None
    seed: int | None = None
    target: str | None = None
    eps: float | None = None
    train_mse: float | None = None
    fit_reached: bool | None = None
    lip_lower: float | None = None
    lip_upper: float | None = None
    lip_upper_method: str | None = None
    lip_lower_method: str | None = None
    lip_exact: float | None = None
    sensitivity: float | None = None
    robust_accuracy: float | None = None
    pgd_radius: float | None = None
    clean_accuracy: float | None = None
    fit_seconds: float | None = None
    lip_seconds: float | None = None
    certified_robust_accuracy: float | None = None
    lip_floor: float | None = None
    kind: str | None = None
    dataset: str | None = None
    domain: str | None = None
    batch_key: str | None = None
    error: str | None = None
    seconds: float | None = None
    batch_seconds: float | None = None
    package_version: str | None = None
    torch_version: str | None = None
    device: str | None = None
    executor: str | None = None
    host: str | None = None
    finished_at: str | None = None
    config_json: str | None = field(default=None, metadata={"blob": True})
    metrics_json: str | None = field(default=None, metadata={"blob": True})
    fit_json: str | None = field(default=None, metadata={"blob": True})
    lipschitz_json: str | None = field(default=None, metadata={"blob": True})
    meta_json: str | None = field(default=None, metadata={"blob": True})
    extra_json: str | None = field(default=None, metadata={"blob": True})

    def values(self) -> tuple[object, ...]:
        """SQLite parameters in column order (NaN becomes NULL, +inf is kept)."""
        out: list[object] = []
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, bool):
                value = int(value)
            out.append(value)
        return tuple(out)


_SQL = {"int | None": "INTEGER", "bool | None": "INTEGER", "float | None": "REAL"}

#: Flat columns of ``trials`` and their SQLite types, in the order of :class:`Row`.
COLUMNS: dict[str, str] = {
    item.name: item.metadata.get("sql", _SQL.get(str(item.type), "TEXT"))
    for item in fields(Row)
    if not item.metadata.get("blob")
}
#: JSON columns of ``trials``.
BLOB_COLUMNS: tuple[str, ...] = tuple(
    item.name for item in fields(Row) if item.metadata.get("blob")
)
