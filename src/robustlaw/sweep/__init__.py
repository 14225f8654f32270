"""Sweeps: declarative experiment specs, batched execution (local or Ray), a results store.

::

    import robustlaw.sweep as sw
    spec = sw.load_spec("examples/two_layer_law.toml")   # pydantic-validated, unknown keys rejected
    trials = sw.expand(spec)                              # frozen configs with content hashes
    print(sw.size(spec, store="results.db"))              # trials, batches, CPU-hours
    summary = sw.run_sweep(spec, store="results.db")      # workers on every core; or "ray"
    frame = sw.load("results.db")                         # one row per trial, flat columns

Rerunning a spec skips the trials already finished; a killed run loses only the batches
in flight.
"""

from __future__ import annotations

from pathlib import Path

from robustlaw.sweep.driver import SweepSummary, plan_sweep, run_sweep, size
from robustlaw.sweep.executors import (
    EXECUTORS,
    BatchResult,
    Executor,
    LocalExecutor,
    RayExecutor,
    get_executor,
    register_executor,
    resolve_workers,
)
from robustlaw.sweep.plan import (
    Batch,
    Plan,
    Trial,
    TrialConfig,
    canonical_json,
    expand,
    group,
    make_plan,
    trial_hash,
)
from robustlaw.sweep.records import (
    Bracket,
    ErrorKind,
    Metrics,
    Row,
    TrialOutcome,
    TrialRecord,
)
from robustlaw.sweep.registry import (
    EXPERIMENTS,
    RUNNERS,
    register_experiment,
    register_runner,
)
from robustlaw.sweep.run import RunContext, run_batch
from robustlaw.sweep.sizing import SweepSize, batch_cost, trial_cost
from robustlaw.sweep.spec import Spec, SpecError, load_spec, parse_spec
from robustlaw.sweep.store import BLOB_COLUMNS, COLUMNS, DEFAULT_STORE, Failure, SpecStatus, Store

__all__ = [
    "BLOB_COLUMNS",
    "COLUMNS",
    "DEFAULT_STORE",
    "EXECUTORS",
    "EXPERIMENTS",
    "RUNNERS",
    "Batch",
    "BatchResult",
    "Bracket",
    "ErrorKind",
    "Executor",
    "Failure",
    "LocalExecutor",
    "Metrics",
    "Plan",
    "RayExecutor",
    "Row",
    "RunContext",
    "Spec",
    "SpecError",
    "SpecStatus",
    "Store",
    "SweepSize",
    "SweepSummary",
    "Trial",
    "TrialConfig",
    "TrialOutcome",
    "TrialRecord",
    "batch_cost",
    "canonical_json",
    "expand",
    "export",
    "get_executor",
    "group",
    "load",
    "load_spec",
    "make_plan",
    "parse_spec",
    "plan_sweep",
    "register_executor",
    "register_experiment",
    "register_runner",
    "resolve_workers",
    "run_batch",
    "run_sweep",
    "size",
    "status",
    "trial_cost",
    "trial_hash",
]


def load(store: str | Path = DEFAULT_STORE, spec_name: str | None = None):  # -> DataFrame
    """The results in ``store`` as a pandas DataFrame, one row per trial.

    Columns: ``experiment, spec_name, trial_hash, status, distribution, labels, n, d,
    intrinsic_dim, noise_level, family, activation, width, depth, p, seed, target, eps,
    train_mse, fit_reached, lip_lower, lip_upper, lip_upper_method, lip_lower_method,
    lip_exact, sensitivity, robust_accuracy, pgd_radius, clean_accuracy, fit_seconds,
    lip_seconds, certified_robust_accuracy, lip_floor`` (NaN / <NA> where not applicable;
    the fields of :class:`Row`),
    provenance columns (versions, device, executor, timings) and the JSON blobs
    ``config_json``, ``metrics_json``, ``fit_json``, ``lipschitz_json``, ``meta_json``,
    ``extra_json``.

    ``lip_exact`` is NaN unless the exact value was proven; ``lip_upper`` is certified
    (by ``lip_upper_method``); ``lip_lower`` is a value recomputed at a witness;
    ``lip_floor`` (interpolation targets and constructions) is the data floor, the smallest
    Lipschitz constant on the domain of any function that interpolates the labels exactly.

    With ``spec_name``, the trials of that spec's latest version.

    Raises
    ------
    FileNotFoundError
        When there is no store at ``store``.
    ValueError
        When ``store`` is not a results store, or ``spec_name`` is not in it.
    """
    with Store(store, create=False) as db:
        return db.load(spec_name)


def export(
    store: str | Path,
    path: str | Path,
    fmt: str | None = None,
    spec_name: str | None = None,
) -> Path:
    """Write the store's trials to Parquet or CSV (format from ``fmt`` or the suffix)."""
    with Store(store, create=False) as db:
        return db.export(path, fmt, spec_name)


def status(store: str | Path = DEFAULT_STORE) -> list[SpecStatus]:
    """Done / failed / diverged / pending trial counts and the failed trials of every
    version of every spec in ``store``."""
    with Store(store, create=False) as db:
        return db.status()
