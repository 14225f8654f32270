"""The sweep's own registries and the one message for a name that is not in a registry.

One registry per kind of name a spec uses that the sweep itself owns:

- :data:`RUNNERS`: runner kind -> function executing a batch (:func:`register_runner`);
  the built-in kinds ``train``, ``features`` and ``construction`` are registered by
  :mod:`robustlaw.sweep.runners`, imported on first use;
- :data:`FAMILIES`: model family -> the runner kind that executes it;
- experiment labels: :data:`EXPERIMENTS` (the paper's, keyed by the analysis package)
  and the labels added by :func:`register_experiment`;
- :data:`CONSTRUCTIONS`: construction name -> its function in
  :mod:`robustlaw.models.constructions`.

Names of other kinds live in their packages' registries (distributions and label models
in :mod:`robustlaw.data`, activations in :mod:`robustlaw.models.activations`, Lipschitz
methods and domains in :mod:`robustlaw.lipschitz`, executors in
:mod:`robustlaw.sweep.executors`). :func:`unknown_name` words every "not in the registry"
message the same way, with the known names and the closest one.

This module is a leaf: it imports nothing of the sweep package at import time, so the
spec, the plan, the batch runner and the built-in runners all import it without a circle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from robustlaw._names import unknown_name

if TYPE_CHECKING:
    from robustlaw.sweep.plan import Batch
    from robustlaw.sweep.records import TrialOutcome
    from robustlaw.sweep.run import RunContext

__all__ = [
    "CONSTRUCTIONS",
    "EXPERIMENTS",
    "FAMILIES",
    "RUNNERS",
    "Runner",
    "construction",
    "experiment_labels",
    "get_runner",
    "register_experiment",
    "register_runner",
    "runner_kinds",
    "unknown_name",
]


# --------------------------------------------------------------------------- runners

#: ``runner(batch, context) -> [TrialOutcome, ...]`` (one per trial, in batch order).
Runner = Callable[["Batch", "RunContext"], Sequence["TrialOutcome"]]

#: Runner kind -> runner.
RUNNERS: dict[str, Runner] = {}

#: Model families a spec may name, each with the runner kind that executes it.
FAMILIES: dict[str, str] = {
    "two_layer": "train",
    "mlp": "train",
    "random_features": "features",
    "ntk": "features",
    "construction": "construction",
}

_BUILTIN_RUNNERS = "robustlaw.sweep.runners"


def register_runner(
    kind: str, runner: Runner | None = None, *, replace: bool = False
) -> Callable[[Runner], Runner] | Runner:
    """Register ``runner`` for trials of ``kind`` (usable as a decorator).

    Raises
    ------
    ValueError
        When ``kind`` is already registered and ``replace`` is False.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")

    def wrap(fn: Runner) -> Runner:
        if not callable(fn):
            raise TypeError(f"runner must be callable, got {type(fn).__name__}")
        if kind in RUNNERS and not replace and RUNNERS[kind] is not fn:
            raise ValueError(f"a runner for kind {kind!r} is already registered")
        RUNNERS[kind] = fn
        return fn

    return wrap if runner is None else wrap(runner)


def runner_kinds() -> list[str]:
    """Every runner kind a spec may name: the built-in ones and the registered ones."""
    return sorted({*FAMILIES.values(), *RUNNERS})


def get_runner(kind: str) -> Runner:
    """The runner registered for ``kind`` (the built-in runners are imported on first use).

    Raises
    ------
    ValueError
        When no runner is registered for ``kind``.
    """
    if kind not in RUNNERS and kind in FAMILIES.values():
        importlib.import_module(_BUILTIN_RUNNERS)
    if kind not in RUNNERS:
        raise ValueError(unknown_name(kind, runner_kinds(), "runner kind"))
    return RUNNERS[kind]


# --------------------------------------------------------------------------- experiments

#: Experiment labels of docs/science.md section 7; the analysis package keys its verdicts
#: on them.
EXPERIMENTS = ("two_layer_law", "universal_law", "rf_ntk", "real_data", "constructions")

_REGISTERED_EXPERIMENTS: list[str] = []


def register_experiment(label: str) -> str:
    """Allow ``label`` as a spec's ``experiment`` (a lower-case identifier); returns it.

    The analysis package has verdicts for :data:`EXPERIMENTS` only; records of another
    label are stored, loaded and exported like any other.
    """
    if not isinstance(label, str) or not label.isidentifier() or label != label.lower():
        raise ValueError(f"an experiment label is a lower-case identifier, got {label!r}")
    if label not in EXPERIMENTS and label not in _REGISTERED_EXPERIMENTS:
        _REGISTERED_EXPERIMENTS.append(label)
    return label


def experiment_labels() -> tuple[str, ...]:
    """The labels a spec's ``experiment`` may take: the paper's, then the registered ones."""
    return (*EXPERIMENTS, *_REGISTERED_EXPERIMENTS)


# --------------------------------------------------------------------------- constructions

#: Construction name -> function name in :mod:`robustlaw.models.constructions`.
CONSTRUCTIONS: dict[str, str] = {
    "caps": "cap_interpolant",
    "grouped_caps": "grouped_cap_interpolant",
    "relu_memorizer": "relu_memorizer",
    "baum": "baum_memorizer",
    "radial_bump": "radial_bump_interpolant",
}


def construction(name: str) -> Callable[..., object]:
    """The construction function registered under ``name``.

    Raises
    ------
    ValueError
        When ``name`` is not in :data:`CONSTRUCTIONS`.
    """
    if name not in CONSTRUCTIONS:
        raise ValueError(unknown_name(name, CONSTRUCTIONS, "construction"))
    package = importlib.import_module("robustlaw.models.constructions")
    return getattr(package, CONSTRUCTIONS[name])
