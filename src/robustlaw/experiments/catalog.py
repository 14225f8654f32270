"""The packaged experiments and their specs, one TOML file per (experiment, scale)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from robustlaw.sweep.spec import Spec, parse_spec

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

__all__ = ["CATALOG", "SCALES", "Experiment", "experiment_spec", "spec_text"]

#: Scales every experiment ships: a smoke run, a laptop run, a GPU/cluster run.
SCALES = ("tiny", "small", "full")


@dataclass(frozen=True)
class Experiment:
    """One packaged experiment.

    Attributes
    ----------
    name : str
        The name ``robustlaw reproduce`` takes (e.g. ``"two-layer-law"``).
    label : str
        The ``experiment`` label of its records (analysis keys its verdicts on it).
    description : str
    headline : tuple of str
        Relations whose verdicts are printed after a run (all are in the report).
    scales : tuple of str
        Scales with a spec.
    """

    name: str
    label: str
    description: str
    headline: tuple[str, ...]
    scales: tuple[str, ...] = SCALES


CATALOG: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in (
        Experiment(
            "demo",
            "two_layer_law",
            "the two-layer law on the sphere: smallest certified Lip of fitting ReLU nets vs k",
            ("Lip vs n/k",),
            ("tiny", "default"),
        ),
        Experiment(
            "two-layer-law",
            "two_layer_law",
            "Lip vs k at fixed n and vs n at fixed k; the regimes n ≈ d (k ≤ d) and "
            "polynomial activations with n ≈ d^q",
            ("Lip vs k at fixed n", "Lip vs n at fixed k"),
        ),
        Experiment(
            "universal-law",
            "universal_law",
            "scans of n, d and p for two-layer and deep networks against sqrt(n d / p)",
            ("Lip vs p", "Lip vs n", "Lip vs d at fixed p", "Lip vs d at fixed width"),
        ),
        Experiment(
            "rf-ntk",
            "rf_ntk",
            "sensitivity of min-norm random-feature and NTK interpolators vs p",
            ("sensitivity vs p",),
        ),
        Experiment(
            "real-data",
            "real_data",
            "digits and MNIST-1D: intrinsic dimension, Lip and PGD robust accuracy vs size",
            ("Lip vs p",),
        ),
        Experiment(
            "constructions",
            "constructions",
            "Lipschitz constants of explicit interpolants vs n, d and k",
            (),
        ),
    )
}


def _experiment(name: str) -> Experiment:
    if name not in CATALOG:
        raise ValueError(f"experiment must be one of {sorted(CATALOG)}, got {name!r}")
    return CATALOG[name]


def spec_text(name: str, scale: str) -> str:
    """The TOML text of an experiment's spec at a scale."""
    experiment = _experiment(name)
    if scale not in experiment.scales:
        raise ValueError(f"scale of {name!r} must be one of {experiment.scales}, got {scale!r}")
    path = resources.files("robustlaw.experiments") / "specs" / f"{name}.{scale}.toml"
    return path.read_text(encoding="utf-8")


def experiment_spec(name: str, scale: str) -> Spec:
    """The validated sweep spec of an experiment at a scale."""
    text = spec_text(name, scale)
    return parse_spec(tomllib.loads(text), source=f"robustlaw.experiments:{name}.{scale}.toml")
