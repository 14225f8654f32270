"""How much a sweep costs: a cost model for planning and an estimate before running.

:func:`trial_cost` is a formula over a trial's config (work of the full-batch steps plus the
Lipschitz methods' time budgets), in seconds of one core of a typical machine. It is a
planning heuristic, never a measurement: it orders batches longest first, deals a group's
widths into batches of about equal cost (:func:`split_group`) and extrapolates measured
timings to a whole sweep. :func:`size_sweep` estimates the CPU time of a sweep's pending
trials from timings the store holds for trials of the same shape (earlier runs), or else
by running a few trials now in this process (nothing is written to the store).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robustlaw.sweep.plan import Batch, Plan, Trial, TrialConfig
    from robustlaw.sweep.spec import Spec

__all__ = ["SweepSize", "batch_cost", "size_sweep", "split_group", "trial_cost"]

#: Multiply-adds per second of one core in the small full-batch GEMMs of a fit (an order
#: of magnitude; only ratios of costs matter for planning).
_MACS_PER_SECOND = 2e9
#: Fixed seconds per optimizer step of one member (dispatch, bookkeeping).
_STEP_SECONDS = 2e-4
#: Step budgets of the smoothest-fit search when its options leave them unset.
_SMOOTHEST_STEPS = {"fit_steps": 3000, "steps": 3000, "polish_steps": 1000}
#: Budget units (multiples of ``budget_seconds``) of a Lipschitz method group or name.
_METHOD_UNITS = {"lower": 1.0, "upper": 0.5, "exact": 1.0}
#: Seconds per budget unit when the spec sets no time budget.
_UNBUDGETED_SECONDS = 1.0
#: Kinds of the built-in runners, which the model describes; a trial of another kind
#: counts as this many seconds.
_MODELLED_KINDS = frozenset({"train", "features", "construction"})
_UNKNOWN_KIND_SECONDS = 1.0


def _fit_steps(config: TrialConfig) -> float:
    fit = config.fit
    if config.kind != "train":
        return 0.0
    if not fit.smoothest:
        return float(fit.steps or 1000)
    options = {**_SMOOTHEST_STEPS, "steps": fit.steps or _SMOOTHEST_STEPS["steps"]}
    options.update({k: v for k, v in fit.options.items() if k in _SMOOTHEST_STEPS})
    replicas = 1 + len(fit.strengths)
    return float(replicas * sum(float(v) for v in options.values() if v))


def trial_cost(config: TrialConfig) -> float:
    """Estimated seconds of one trial on one core, from its config alone (a heuristic).

    Fit: every optimizer step of a member costs a fixed overhead plus
    ``n · width · (d + 2) · layers`` multiply-adds forward and twice that backward (the
    smoothest-fit search counts each of its strength replicas). Lipschitz: the time budget
    of each method group (``lower`` and ``exact`` one budget each, ``upper`` half of one).
    A trial of a kind without a built-in runner counts as one second.
    """
    if config.kind not in _MODELLED_KINDS:
        return _UNKNOWN_KIND_SECONDS
    data, model = config.data, config.model
    n = float(data.n or 1000)
    d = float(data.d or 10)
    width = float(model.width or 1)
    steps = _fit_steps(config)
    macs = 3.0 * n * width * (d + 2.0) * max(1, model.hidden_layers)
    fit = steps * (_STEP_SECONDS + macs / _MACS_PER_SECOND)
    if config.kind == "features":  # a closed-form least-squares solve
        fit = n * width * min(n, width) / _MACS_PER_SECOND
    budget = config.lipschitz.budget_seconds or _UNBUDGETED_SECONDS
    units = sum(_METHOD_UNITS.get(name, 0.5) for name in config.lipschitz.methods)
    return fit + budget * units + 1e-3


def batch_cost(batch: Batch) -> float:
    """Estimated seconds of a batch: the sum of its trials' :func:`trial_cost`."""
    return sum(trial_cost(t.config) for t in batch.trials)


def split_group(trials: Sequence[Trial], parts: int) -> list[list[Trial]]:
    """Deal one group's trials into ``parts`` lists of about equal estimated cost.

    Greedy longest-processing-time: trials by decreasing :func:`trial_cost` (ties by width,
    then hash), each to the list with the smallest total so far (ties: the first). Each
    list is ordered by width; lists are ordered by their first width. Depends on the
    trials alone, so the same group always gives the same batches.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts <= 0:
        raise ValueError(f"split must be a positive integer, got {parts!r}")
    parts = min(parts, len(trials))
    if parts <= 1:
        return [list(trials)] if trials else []
    costs = {t.hash: trial_cost(t.config) for t in trials}
    order = sorted(trials, key=lambda t: (-costs[t.hash], t.config.model.width or 0, t.hash))
    lists: list[list[Trial]] = [[] for _ in range(parts)]
    totals = [0.0] * parts
    for trial in order:
        i = min(range(parts), key=lambda j: (totals[j], j))
        lists[i].append(trial)
        totals[i] += costs[trial.hash]
    for members in lists:
        members.sort(key=lambda t: (t.config.model.width or 0, t.hash))
    return sorted(lists, key=lambda m: (m[0].config.model.width or 0, m[0].hash))


@dataclass(frozen=True)
class SweepSize:
    """What running a spec's pending trials will take (an estimate, made before running).

    Attributes
    ----------
    spec_name : str
    trials, finished, pending, batches, largest_batch : int
        Counts of the plan (finished trials are skipped by a run).
    cpu_seconds : float
        Estimated CPU time of the pending trials (seconds of one core).
    cpu_hours : float
        The same in hours.
    wall_seconds : float
        Estimated wall time on ``workers`` local worker processes: the CPU time spread
        over the workers, or the longest batch when that is longer.
    workers : int
    basis : str
        Where the per-trial cost comes from: stored timings of earlier runs, trials run
        now, or the cost model alone (when there is nothing pending).
    """

    spec_name: str
    trials: int
    finished: int
    pending: int
    batches: int
    largest_batch: int
    cpu_seconds: float
    cpu_hours: float
    wall_seconds: float
    workers: int
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shape(config: TrialConfig) -> str:
    """A trial's identity without seed and width: trials that cost about the same."""
    from robustlaw.sweep.plan import canonical_json

    identity = config.model_dump(mode="json")
    identity.pop("seed")
    identity["model"].pop("width")
    return canonical_json(identity)


def _stored_scale(plan: Plan, store: str | Path | None) -> tuple[float, int] | None:
    """Seconds per cost unit from stored trials of the pending trials' shapes."""
    from robustlaw.sweep.plan import TrialConfig
    from robustlaw.sweep.store import Store

    if store is None or not Path(store).is_file():
        return None
    shapes = {_shape(t.config) for t in plan.pending}
    with Store(store, create=False) as db:
        timed = db.timings()
    seconds = units = 0.0
    count = 0
    for value, config_json in timed:
        config = TrialConfig.model_validate_json(config_json)
        if _shape(config) in shapes:
            seconds += value
            units += trial_cost(config)
            count += 1
    return (seconds / units, count) if count else None


def _probe_trials(trials: Sequence[Trial], probe: int) -> tuple[Trial, ...]:
    """Up to ``probe`` of a group's trials, spread over its cost range, ordered by width."""
    ranked = sorted(trials, key=lambda t: (trial_cost(t.config), t.hash))
    if len(ranked) > probe:
        picks = {round(i * (len(ranked) - 1) / max(1, probe - 1)) for i in range(probe)}
        ranked = [ranked[i] for i in sorted(picks)]
    return tuple(sorted(ranked, key=lambda t: (t.config.model.width or 0, t.hash)))


def _measured_scale(plan: Plan, probe: int, device: str) -> tuple[float, int, float]:
    """Seconds per cost unit from running a few trials of the plan's first group here."""
    from robustlaw.sweep.plan import Batch
    from robustlaw.sweep.run import run_batch

    first = plan.batches[0]
    members = [t for t in plan.pending if t.batch_key == first.trials[0].batch_key]
    trials = _probe_trials(members, probe)
    sample = Batch(key=f"{first.key}#probe", kind=first.kind, trials=trials)
    start = time.perf_counter()
    records = run_batch(sample, device=device, threads=1)
    elapsed = time.perf_counter() - start
    failed = [r for r in records if r.status == "failed"]
    if failed:
        raise RuntimeError(f"a trial run to size the sweep failed: {failed[0].error}")
    return elapsed / batch_cost(sample), len(trials), elapsed


def size_sweep(
    spec: Spec,
    plan: Plan,
    store: str | Path | None = None,
    *,
    workers: int = 1,
    probe: int = 3,
    device: str = "cpu",
) -> SweepSize:
    """Estimate the CPU time of a plan's pending trials; nothing is written to the store.

    Parameters
    ----------
    spec : Spec
    plan : Plan
        The spec's plan against ``store`` (:func:`robustlaw.sweep.plan_sweep`).
    store : str or Path, optional
        Timings of stored trials with the pending trials' shape (config without seed and
        width) calibrate the cost model; without any, ``probe`` trials of the first
        pending batch (spread over its widths) are run in this process, one thread.
    workers : int
        Local worker processes the wall time is estimated for.
    probe : int
        Trials run when the store has no timings.
    device : str

    Returns
    -------
    SweepSize
    """
    if isinstance(probe, bool) or not isinstance(probe, int) or probe <= 0:
        raise ValueError(f"probe must be a positive integer, got {probe!r}")
    costs = [batch_cost(b) for b in plan.batches]
    if not plan.batches:
        scale, basis = 0.0, "nothing pending"
    elif (stored := _stored_scale(plan, store)) is not None:
        scale, count = stored
        basis = f"stored timings of {count} trials of the same shape"
    else:
        scale, count, elapsed = _measured_scale(plan, probe, device)
        basis = f"{count} trials run now ({elapsed:.1f} s), scaled by the cost model"
    cpu = scale * sum(costs)
    wall = max(cpu / max(1, min(workers, len(costs) or 1)), scale * max(costs, default=0.0))
    return SweepSize(
        spec_name=spec.name,
        trials=len(plan.trials),
        finished=plan.skipped,
        pending=len(plan.pending),
        batches=len(plan.batches),
        largest_batch=max((len(b) for b in plan.batches), default=0),
        cpu_seconds=cpu,
        cpu_hours=cpu / 3600.0,
        wall_seconds=wall if math.isfinite(wall) else math.nan,
        workers=workers,
        basis=basis,
    )
