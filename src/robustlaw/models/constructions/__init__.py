"""Explicit interpolants at both ends of the size-smoothness trade-off, and in between.

Every construction takes data X (n, d) and labels y (n,) in [-1, 1] and returns a network
plus a :class:`ConstructionReport` (units used, interpolation error, whether its separation
condition holds, and certified Lipschitz intervals, closed forms where they exist):

- :func:`baum_memorizer`: threshold TwoLayer, 2 ceil(n_min / d) units, Lip = inf (the
  report gives the minimum margin instead);
- :func:`relu_memorizer`: ReLU TwoLayer, 4 ceil(m / d) units, real labels;
- :func:`grouped_cap_interpolant`: ReLU TwoLayer, one unit per group of same-sign points
  (between n / group_size and n units);
- :func:`cap_interpolant`: ReLU TwoLayer, 2n units; on the sphere with disjoint caps
  Lip = max|y_i| sqrt(2s - s^2) / s; on R^d a different, larger number;
- :func:`cone_interpolant`: ReLU TwoLayer, between n and k units: each point's own disjoint
  cap with a piecewise-linear profile; Lip on the sphere in closed form;
- :func:`radial_bump_interpolant`: a sum of radial bumps (not in F_k), p = n (d + 1),
  Lip = max|y_i| 8 / (3 sqrt(3) r0) on R^d when the supports are disjoint.

Derivations and measurements: docs/constructions.md.
"""

from robustlaw.models.constructions._common import (
    INTERPOLATION_TOL,
    SPHERE_TOL,
    ConstructionReport,
    LipschitzInterval,
)
from robustlaw.models.constructions.bump import (
    BUMP_SLOPE,
    RadialBumpInterpolant,
    radial_bump_interpolant,
)
from robustlaw.models.constructions.caps import (
    cap_interpolant,
    cap_lipschitz_rd,
    cap_lipschitz_sphere,
    cap_s_disjoint,
    cap_s_max,
)
from robustlaw.models.constructions.cones import (
    cone_interpolant,
    cone_lipschitz_sphere,
    cone_profile,
)
from robustlaw.models.constructions.grouped import grouped_cap_interpolant
from robustlaw.models.constructions.small import baum_memorizer, relu_memorizer

__all__ = [
    "BUMP_SLOPE",
    "INTERPOLATION_TOL",
    "SPHERE_TOL",
    "ConstructionReport",
    "LipschitzInterval",
    "RadialBumpInterpolant",
    "baum_memorizer",
    "cap_interpolant",
    "cap_lipschitz_rd",
    "cap_lipschitz_sphere",
    "cap_s_disjoint",
    "cap_s_max",
    "cone_interpolant",
    "cone_lipschitz_sphere",
    "cone_profile",
    "grouped_cap_interpolant",
    "radial_bump_interpolant",
    "relu_memorizer",
]
