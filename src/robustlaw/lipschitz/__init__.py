"""Lipschitz constants of network families: certified lower, upper and exact values.

Every method returns a :class:`MethodResult`, a certified interval per member; methods
live in one registry, :data:`METHODS`. :func:`estimate` runs several and combines them
per member into a :class:`LipschitzReport`.

Registered methods (``robustlaw.lipschitz.METHODS``):

- lower bounds with witnesses: ``grad_data``, ``grad_random``, ``grad_convex``,
  ``pairs``, ``ascent`` (any stack), ``region_search`` (two-layer relu / leaky relu),
  ``deep_region_search`` (deep relu / leaky relu);
- certified upper bounds: ``spectral``, ``path_norm``, ``averaged`` (any stack),
  ``spectral_balanced``, ``averaged_balanced``, ``pattern_enum``, ``pattern_sdp``
  (two-layer), ``lipsdp`` (two-layer and deep), ``lipsdp_schur`` (deep, no cvxpy);
- ``exact``: branch and bound over activation patterns (two-layer relu / leaky relu);
  ``deep_exact``: every region of a deep relu / leaky-relu stack (small d, R^d);
  ``deep_bnb``: branch and bound over the patterns of every layer of a deep stack (R^d;
  exact when its gap closes, the certified interval at the budget otherwise).

The two-layer methods stand on the piecewise-linear engine (:mod:`robustlaw._pl`); its
settings (:class:`ExactSettings`, :class:`RegionSearchSettings`, :class:`CutSettings`)
are exported here. :mod:`robustlaw.lipschitz.testing` runs the contract every method
keeps on any registered method.
"""

from robustlaw._pl import CutSettings, ExactSettings, RegionSearchSettings
from robustlaw.lipschitz import deep as deep  # registers the deep piecewise-linear methods
from robustlaw.lipschitz import exact as exact  # registers "exact"
from robustlaw.lipschitz import lipsdp as lipsdp  # registers "lipsdp"
from robustlaw.lipschitz import lower as lower  # registers the sampling and ascent bounds
from robustlaw.lipschitz import regions as regions  # registers "region_search"
from robustlaw.lipschitz import upper as upper  # registers the closed-form and SDP bounds
from robustlaw.lipschitz.domain import witness_value
from robustlaw.lipschitz.estimate import (
    DEFAULT_BUDGET,
    DEFAULT_LOWER,
    DEFAULT_METHODS,
    DEFAULT_UPPER,
    GROUPS,
    LipschitzReport,
    estimate,
)
from robustlaw.lipschitz.lipsdp import lipsdp_bound
from robustlaw.lipschitz.lower import (
    ascent_lower_bound,
    convex_lower_bound,
    data_lower_bound,
    pairs_lower_bound,
    random_lower_bound,
)
from robustlaw.lipschitz.regions import region_search
from robustlaw.lipschitz.result import (
    DOMAINS,
    METHODS,
    Budget,
    Interval,
    MethodResult,
    MethodSpec,
    Witness,
    is_closed,
    normalize_domain,
    register_method,
)
from robustlaw.lipschitz.stack import Stack, as_stack
from robustlaw.lipschitz.upper import (
    averaged_balanced_bound,
    averaged_bound,
    path_norm_bound,
    pattern_enum_bound,
    pattern_sdp_bound,
    spectral_balanced_bound,
    spectral_bound,
)

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_LOWER",
    "DEFAULT_METHODS",
    "DEFAULT_UPPER",
    "DOMAINS",
    "GROUPS",
    "METHODS",
    "Budget",
    "CutSettings",
    "ExactSettings",
    "Interval",
    "LipschitzReport",
    "MethodResult",
    "MethodSpec",
    "RegionSearchSettings",
    "Stack",
    "Witness",
    "as_stack",
    "ascent_lower_bound",
    "averaged_balanced_bound",
    "averaged_bound",
    "convex_lower_bound",
    "data_lower_bound",
    "estimate",
    "is_closed",
    "lipsdp_bound",
    "normalize_domain",
    "pairs_lower_bound",
    "path_norm_bound",
    "pattern_enum_bound",
    "pattern_sdp_bound",
    "random_lower_bound",
    "region_search",
    "register_method",
    "spectral_balanced_bound",
    "spectral_bound",
    "witness_value",
]
