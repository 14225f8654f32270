"""Batched training of network families to a fit target, and the smoothest-fit search.

- :func:`fit` trains every member of a family (full batch, Adam or per-member L-BFGS; closed
  form for random-feature and NTK families) to :class:`Interpolate` or :class:`BelowNoise`.
- :func:`smoothest_fit` searches, per (width, seed), for the fitting network with the
  smallest certified Lipschitz upper bound.
"""

from robustlaw.fitting.engine import DEFAULTS, fit
from robustlaw.fitting.objective import DataTerm, Hinge
from robustlaw.fitting.penalties import (
    PENALTIES,
    CertifiedBounds,
    Penalty,
    certified_bounds,
    get_penalty,
    grad_norm_penalty,
)
from robustlaw.fitting.report import STATUSES, FitReport, MemberFit
from robustlaw.fitting.settings import EFFORTS, SearchSettings
from robustlaw.fitting.smoothest import SmoothestResult, smoothest_fit, support_points
from robustlaw.fitting.targets import BelowNoise, Interpolate, resolve_threshold

__all__ = [
    "DEFAULTS",
    "EFFORTS",
    "PENALTIES",
    "STATUSES",
    "BelowNoise",
    "CertifiedBounds",
    "DataTerm",
    "FitReport",
    "Hinge",
    "Interpolate",
    "MemberFit",
    "Penalty",
    "SearchSettings",
    "SmoothestResult",
    "certified_bounds",
    "fit",
    "get_penalty",
    "grad_norm_penalty",
    "resolve_threshold",
    "smoothest_fit",
    "support_points",
]
