"""robustlaw: the law of robustness, computed, tested and measured.

The public surface is small; subpackages hold the implementations:

- :mod:`robustlaw.theory` — closed-form laws with the papers' exact constants;
- :mod:`robustlaw.data` — isoperimetric samplers, label models, real data, geometry;
- :mod:`robustlaw.models` — families of networks in one set of tensors, constructions;
- :func:`fit`, :func:`smoothest_fit` — batched training to a target;
- :mod:`robustlaw.lipschitz` — certified lower, upper and exact Lipschitz constants;
- :mod:`robustlaw.sweep` — experiment specs, executors, the results store;
- :mod:`robustlaw.analysis` — power-law fits, verdicts, plots, the HTML report
  (imported on first use: it pulls in matplotlib).
"""

import os

# Idle OpenMP threads sleep instead of spinning: with spinning threads, torch on a machine
# whose cores are shared with other work ran 2-60x slower in our measurements (bench/
# sweep_bench.py). Read once when torch's OpenMP runtime starts, so it must come first; a
# value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from importlib import import_module
from typing import Any

from robustlaw import data, lipschitz, models, sweep, theory
from robustlaw._version import __version__
from robustlaw.fitting import BelowNoise, Interpolate, fit, smoothest_fit


def __getattr__(name: str) -> Any:
    if name == "analysis":
        return import_module("robustlaw.analysis")
    raise AttributeError(f"module 'robustlaw' has no attribute {name!r}")


__all__ = [
    "BelowNoise",
    "Interpolate",
    "__version__",
    "analysis",
    "data",
    "fit",
    "lipschitz",
    "models",
    "smoothest_fit",
    "sweep",
    "theory",
]
