"""Run a packaged experiment end to end: sweep → store → verdicts → HTML report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustlaw.experiments.catalog import CATALOG, experiment_spec, spec_text
from robustlaw.sweep import SweepSummary, load, run_sweep
from robustlaw.sweep.driver import resolve_device

__all__ = ["ExperimentResult", "run_experiment"]

#: Where results go when no directory is given: the store and one report per spec.
DEFAULT_OUT = Path("robustlaw-results")


@dataclass(frozen=True)
class ExperimentResult:
    """What one run of an experiment produced.

    Attributes
    ----------
    name, scale, spec_name : str
    summary : SweepSummary
        Trials run now, skipped (already in the store), failed, timings.
    store : Path
        The SQLite store holding every trial.
    report : Path or None
        The HTML report (None when ``report=False``).
    verdicts : list
        Every :class:`robustlaw.analysis.verdicts.Verdict` of the experiment's records.
    headline : list
        The verdicts of the experiment's headline relations.
    records : pandas.DataFrame or None
        The spec's member records as read from the store (see :func:`robustlaw.sweep.load`).
    """

    name: str
    scale: str
    spec_name: str
    summary: SweepSummary
    store: Path
    report: Path | None
    verdicts: list[Any] = field(default_factory=list)
    headline: list[Any] = field(default_factory=list)
    records: Any = None


def run_experiment(
    name: str,
    scale: str = "small",
    *,
    out_dir: str | Path = DEFAULT_OUT,
    executor: str = "local",
    executor_options: Mapping[str, Any] | None = None,
    device: str | None = None,
    progress: bool | None = None,
    report: bool = True,
    log: Callable[[str], None] | None = None,
    workers: int | str | None = None,
) -> ExperimentResult:
    """Run (or resume) a packaged experiment, analyse it and write its report.

    Parameters
    ----------
    name : str
        A key of :data:`robustlaw.experiments.CATALOG` (``"demo"``, ``"two-layer-law"``, ...).
    scale : str
        One of the experiment's scales (``"tiny"``, ``"small"``, ``"full"``; the demo has
        ``"default"`` and ``"tiny"``).
    out_dir : str or Path
        Holds ``results.db`` (shared by every experiment; finished trials are skipped on a
        rerun) and ``<spec name>-report/report.html``.
    executor, executor_options, device, progress
        Passed to :func:`robustlaw.sweep.run_sweep`.
    report : bool
        Write the HTML report (figures as PNG and PDF next to it).
    log : callable, optional
        Receives one line per step.
    workers : int or "auto", optional
        Local worker processes (default: the spec's ``run.workers``, one per core).

    Returns
    -------
    ExperimentResult
    """
    from robustlaw.analysis.report import SpecText, build_report
    from robustlaw.analysis.verdicts import assess

    experiment = CATALOG.get(name)
    if experiment is None:
        raise ValueError(f"experiment must be one of {sorted(CATALOG)}, got {name!r}")
    spec = experiment_spec(name, scale)
    device = resolve_device(device or spec.run.device)  # bad input stops before any step
    say = log or (lambda message: None)
    out = Path(out_dir)  # created by the sweep, once its settings are checked
    store = out / "results.db"
    say(f"running {spec.name} ({experiment.description}) into {store}")
    summary = run_sweep(
        spec,
        store=store,
        executor=executor,
        executor_options=executor_options,
        device=device,
        progress=progress,
        workers=workers,
    )
    records = load(store, spec_name=spec.name)
    say("fitting power laws and bootstrapping over seeds")
    # constructions and other search modes anywhere in the store may beat these fits
    every_verdict = assess(records, reference=load(store))
    verdicts = [v for v in every_verdict if v.experiment == experiment.label]
    headline = [v for v in verdicts if v.relation in experiment.headline]
    report_path = None
    if report:
        meta = {
            "title": f"robustlaw: {name} ({scale})",
            "experiment": experiment.description,
            "store": str(store),
        }
        meta.update(records.attrs.get("meta", {}))
        report_path = build_report(
            records,
            out / f"{spec.name}-report",
            specs=[SpecText(spec.name, "toml", spec_text(name, scale))],
            meta=meta,
            progress=say,
            verdicts=every_verdict,
        )
    return ExperimentResult(
        name=name,
        scale=scale,
        spec_name=spec.name,
        summary=summary,
        store=store,
        report=report_path,
        verdicts=verdicts,
        headline=headline,
        records=records,
    )
