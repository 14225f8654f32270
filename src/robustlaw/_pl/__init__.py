"""The piecewise-linear engine: two-layer ReLU / leaky-ReLU networks in float64.

Everything about a two-layer piecewise-linear network's geometry lives here, below
``models``, ``fitting`` and ``lipschitz`` (which import it; it imports none of them):

- :mod:`~robustlaw._pl.net`: :class:`PLNet` (a member as given, for verification) and
  its :class:`Arrangement` (unit normals, gradient g0 + M^T s of a pattern s),
  :func:`pl_nets` / :func:`family_nets` (one PLNet per member of batched weights or of
  a family), :func:`tangential`;
- :mod:`~robustlaw._pl.lp`: the one wrapper of the LP solver (HiGHS), over generic
  half-space rows: :class:`LP`, :func:`chebyshev`, :class:`RegionLP` (warm-started
  region LPs with the ball's tangent cuts and dual certificates), :class:`NearestLP`;
- :mod:`~robustlaw._pl.bounds`: the certified closed-form bounds (spectral, path norm,
  averaged, balanced rescaling, subset enumeration, the pattern SDP), differentiable;
- :func:`region_search` (lower bounds with witnesses), :func:`solve_exact` (the exact
  branch and bound, with helper processes from :func:`start_helpers`),
  :func:`sphere_point` / :func:`tangential_upper` (the sphere);
- :mod:`~robustlaw._pl.settings`: :class:`ExactSettings`, :class:`RegionSearchSettings`,
  :class:`CutSettings`, frozen values passed down (and to helper processes);
- :mod:`~robustlaw._pl.domain`: the domains (R^d, ball, sphere) and their points;
- :func:`threads_for`: one intra-op thread for small tensor work.
"""

from robustlaw._pl.bounds import (
    averaged,
    balanced,
    max_subset_norm,
    path_norm,
    pattern_sdp,
    sdp_certificate,
    sign_columns,
    slope_bounds,
    spectral,
)
from robustlaw._pl.domain import DOMAINS, normalize_domain, project, sample_domain
from robustlaw._pl.exact import ExactResult, solve_exact, start_helpers
from robustlaw._pl.lp import FEASIBLE_MARGIN, LP, NearestLP, RegionLP, chebyshev
from robustlaw._pl.net import Arrangement, PLNet, family_nets, pl_nets, tangential
from robustlaw._pl.search import RegionSearchResult, region_search
from robustlaw._pl.settings import (
    CutSettings,
    ExactSettings,
    RegionSearchSettings,
    settings_from,
)
from robustlaw._pl.sphere import sphere_point, tangential_upper
from robustlaw._pl.threads import threads_for

__all__ = [
    "DOMAINS",
    "FEASIBLE_MARGIN",
    "LP",
    "Arrangement",
    "CutSettings",
    "ExactResult",
    "ExactSettings",
    "NearestLP",
    "PLNet",
    "RegionLP",
    "RegionSearchResult",
    "RegionSearchSettings",
    "averaged",
    "balanced",
    "chebyshev",
    "family_nets",
    "max_subset_norm",
    "normalize_domain",
    "path_norm",
    "pattern_sdp",
    "pl_nets",
    "project",
    "region_search",
    "sample_domain",
    "sdp_certificate",
    "settings_from",
    "sign_columns",
    "slope_bounds",
    "solve_exact",
    "spectral",
    "sphere_point",
    "start_helpers",
    "tangential",
    "tangential_upper",
    "threads_for",
]
