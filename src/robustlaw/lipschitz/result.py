"""What every Lipschitz method returns, its budget, the domains, and the method registry.

Every method returns, for each member of a family, a **certified interval**
[lower, upper] containing Lip(f) on the chosen domain:

- a lower-bound method fills ``lower`` with a value recomputed at its witness (a point,
  or a pair of points) and leaves ``upper = inf``;
- an upper-bound method fills ``upper`` with a bound that holds by a theorem (and, for
  solver-based bounds, only when the solver's certificate was checked) and leaves
  ``lower = 0``; a solver failure gives ``upper = inf`` and says so in ``status``;
- an exact method fills both, equal when proven.

Combining methods is then taking the largest lower and the smallest upper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from robustlaw._pl import DOMAINS, normalize_domain

__all__ = [
    "CLOSED",
    "DOMAINS",
    "METHODS",
    "Budget",
    "Interval",
    "MethodResult",
    "MethodSpec",
    "Witness",
    "is_closed",
    "normalize_domain",
    "register_method",
]

Kind = Literal["lower", "upper", "exact"]

#: Relative gap (upper - lower) / upper at or below which a certified interval counts as
#: closed: its value is then exact.
CLOSED = 1e-6


def is_closed(lower: Any, upper: Any) -> Any:
    """The closing rule: the upper bound is finite and (upper - lower) <= 1e-6 upper.

    ``lower``, ``upper``: floats or arrays of the same shape; returns bool or an array.
    """
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    closed = np.isfinite(upper) & (upper - lower <= CLOSED * np.maximum(upper, 1e-300))
    return bool(closed) if closed.ndim == 0 else closed


@dataclass(frozen=True)
class Interval:
    """A certified interval [lower, upper] on one Lip(f), with the methods that certified
    each end (None when no method gave a bound: lower 0, upper inf).

    ``exact`` is the value when the interval is closed (:func:`is_closed`), else None.
    """

    lower: float
    upper: float
    lower_method: str | None = None
    upper_method: str | None = None

    @property
    def closed(self) -> bool:
        return is_closed(self.lower, self.upper)

    @property
    def exact(self) -> float | None:
        return self.upper if self.closed else None

    @property
    def ratio(self) -> float:
        """upper / lower (inf without a positive lower bound)."""
        return self.upper / self.lower if self.lower > 0 else math.inf


@dataclass(frozen=True)
class Budget:
    """Limits for one method on one family.

    Attributes
    ----------
    seconds : float or None
        Wall-clock limit per member (None: no limit).
    nodes : int or None
        Node limit for branch and bound (None: no limit).
    """

    seconds: float | None = None
    nodes: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is not None and (not math.isfinite(self.seconds) or self.seconds <= 0):
            raise ValueError(f"budget seconds must be positive, got {self.seconds!r}")
        if self.nodes is not None and (isinstance(self.nodes, bool) or self.nodes <= 0):
            raise ValueError(f"budget nodes must be a positive integer, got {self.nodes!r}")


@dataclass(frozen=True)
class Witness:
    """Where a lower bound was found.

    ``x`` (d,) is a point with ||grad f(x)|| (tangential on the sphere) = ``value``, or,
    when ``x2`` is given, a pair with |f(x) - f(x2)| / ||x - x2|| = ``value``.
    ``pattern`` optionally records the activation pattern (bool array of length k) of
    the region the point lies in, for piecewise-linear networks.
    """

    x: np.ndarray
    value: float
    x2: np.ndarray | None = None
    pattern: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x.tolist(),
            "value": self.value,
            "x2": None if self.x2 is None else self.x2.tolist(),
            "pattern": None if self.pattern is None else self.pattern.astype(int).tolist(),
        }


@dataclass(frozen=True)
class MethodResult:
    """A certified interval [lower, upper] on Lip(f_b) for every member b of a family.

    Attributes
    ----------
    method : str
        Registry name of the method.
    kind : {"lower", "upper", "exact"}
    domain : str
        "rd", "ball" or "sphere".
    lower : ndarray, shape (B,)
        Certified lower bounds (0 when the method gives none).
    upper : ndarray, shape (B,)
        Certified upper bounds (inf when the method gives none or failed).
    seconds : ndarray, shape (B,)
        Time spent per member (a batched method splits its time evenly).
    status : list of str, length B
        "ok", or why the value is weaker than intended ("budget", "not_converged: ...",
        "solver_failed: ...", "not_applicable: ...").
    witnesses : list of (Witness or None), length B
    info : list of dict, length B
        Method-specific details (nodes explored, solver name, sigma, ...).
    """

    method: str
    kind: Kind
    domain: str
    lower: np.ndarray
    upper: np.ndarray
    seconds: np.ndarray
    status: list[str]
    witnesses: list[Witness | None] = field(default_factory=list)
    info: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        B = len(self.lower)
        if len(self.upper) != B or len(self.seconds) != B or len(self.status) != B:
            raise ValueError("lower, upper, seconds and status must have one entry per member")
        if self.witnesses and len(self.witnesses) != B:
            raise ValueError("witnesses must be empty or have one entry per member")
        if self.info and len(self.info) != B:
            raise ValueError("info must be empty or have one entry per member")

    @property
    def B(self) -> int:
        return len(self.lower)

    @property
    def proven(self) -> np.ndarray:
        """(B,) bool: the interval has closed (:func:`is_closed`)."""
        return np.asarray(is_closed(self.lower, self.upper), dtype=bool).reshape(self.B)

    def interval(self, b: int) -> Interval:
        """Member b's certified interval."""
        name = self.method
        return Interval(float(self.lower[b]), float(self.upper[b]), name, name)

    def member(self, b: int) -> dict[str, Any]:
        """Member b's entry as a plain dictionary."""
        return {
            "method": self.method,
            "kind": self.kind,
            "domain": self.domain,
            "lower": float(self.lower[b]),
            "upper": float(self.upper[b]),
            "seconds": float(self.seconds[b]),
            "status": self.status[b],
            "witness": None
            if not self.witnesses or self.witnesses[b] is None
            else self.witnesses[b].to_dict(),
            "info": self.info[b] if self.info else {},
        }


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: the function, its kind, and which models and domains it serves.

    ``fn(model, domain, budget, **options) -> MethodResult``, where ``model`` is a
    family (:class:`robustlaw.models.TwoLayer` or an MLP family).
    """

    name: str
    kind: Kind
    fn: Callable[..., MethodResult]
    models: tuple[str, ...]
    domains: tuple[str, ...]
    description: str


METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    kind: Kind,
    models: tuple[str, ...],
    domains: tuple[str, ...],
    description: str,
) -> Callable[[Callable[..., MethodResult]], Callable[..., MethodResult]]:
    """Decorator adding a Lipschitz method to :data:`METHODS` under ``name``."""

    def wrap(fn: Callable[..., MethodResult]) -> Callable[..., MethodResult]:
        if name in METHODS:
            raise ValueError(f"Lipschitz method {name!r} is already registered")
        for domain in domains:
            normalize_domain(domain)
        METHODS[name] = MethodSpec(name, kind, fn, models, domains, description)
        return fn

    return wrap
