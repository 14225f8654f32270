"""Packaged experiments: the demo and the reproductions of the law's experiments.

Each experiment is a set of sweep specs shipped with the package, one per scale
(``tiny`` for smoke tests, ``small`` for a laptop in minutes, ``full`` for a GPU or a Ray
cluster), run by :func:`run_experiment`: sweep → store → analysis → report.
"""

from robustlaw.experiments.catalog import (
    CATALOG,
    SCALES,
    Experiment,
    experiment_spec,
    spec_text,
)
from robustlaw.experiments.runner import ExperimentResult, run_experiment

__all__ = [
    "CATALOG",
    "SCALES",
    "Experiment",
    "ExperimentResult",
    "experiment_spec",
    "run_experiment",
    "spec_text",
]
