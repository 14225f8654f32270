"""Lipschitz constants of network families: certified lower, upper and exact values.

Every method returns a :class:`MethodResult`, a certified interval per member; methods
live in one registry, :data:`METHODS`.
"""

from robustlaw.lipschitz.result import (
    DOMAINS,
    METHODS,
    Budget,
    MethodResult,
    MethodSpec,
    Witness,
    normalize_domain,
    register_method,
)

__all__ = [
    "DOMAINS",
    "METHODS",
    "Budget",
    "MethodResult",
    "MethodSpec",
    "Witness",
    "normalize_domain",
    "register_method",
]
