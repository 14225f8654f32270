"""Settings of the smoothest-fit search: one frozen value with named effort presets.

:func:`robustlaw.fitting.smoothest_fit` takes a :class:`SearchSettings` (or the name of a
preset in :data:`EFFORTS`) plus a few keyword overrides of its fields. The value is
frozen and picklable, so a sweep can hand it to helper processes.

Presets, from cheapest to dearest (budgets per run of the search; fit steps stop early for
members that reach the target, the other budgets are always spent):

- ``"lean"`` (the default): sized so that a small search (tens of points, a few widths
  and seeds) takes seconds on a 2-core laptop;
- ``"quick"``, ``"standard"``, ``"thorough"``: more steps, more continuation stages, more
  adversarial points on the domain and longer certification of the best candidates;
- ``"legacy"``: the budgets the search used before presets existed (3000 fit, 3000
  smoothing and 1000 polish steps, 3 stages).

Ask for more effort with ``effort="thorough"``, with ``settings=SearchSettings.preset(
"standard").replace(steps=5000)``, or with keyword overrides (``smoothest_fit(...,
steps=5000)``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["EFFORTS", "SPEC_OPTIONS", "SearchSettings", "check_search_options"]

_METHODS = ("pattern_sdp", "exact")


def _int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a positive integer" if low == 1 else "a non-negative integer"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def _positive(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class SearchSettings:
    """Budgets of every step of :func:`robustlaw.fitting.smoothest_fit`.

    Attributes
    ----------
    fit_steps : int
        Adam steps of the plain fit (members stop when they reach the target).
    steps : int
        Smoothing steps under the MSE hinge, split evenly over ``stages`` continuation
        stages (penalty strength lambda j / stages in stage j).
    stages : int
    polish_steps : int
        Plain-fit steps for members that drifted above the fit threshold.
    lr : float
        Adam's learning rate.
    margin : float
        The hinge holds MSE <= (1 - margin) * threshold during smoothing, in [0, 1).
    n_support : int
        Random points of the data's support for the sampled lower bound and the
        ``grad_norm`` penalty.
    domain_strengths : tuple of float
        Strengths of the domain gradient penalty (``domain`` "ball" or "sphere"; its value
        is a Lipschitz constant like the weight bounds', but tight, so smaller strengths
        suffice).
    refresh_every : int
        Domain smoothing: training steps between two refreshes of the adversarial pool.
    n_adversarial : int
        Domain smoothing: adversarial points per member.
    ascent_steps : int
        Ascent steps per sharpness stage of each pool refresh.
    certify_top : int
        Candidates per (width, seed) certified on the domain (smallest witnessed value
        first).
    certify_seconds : float
        Seconds per certified candidate.
    certify_methods : tuple of str
        Certified bounds used on the domain: ``"pattern_sdp"`` and/or ``"exact"``.
    minmax_rounds : int
        Certified search (``mode="certified"``): rounds of the cutting-plane min-max; each
        round re-finds the maximizing activation regions and takes ``minmax_steps``
        steps on the maximum over the active set.
    minmax_steps : int
        Steps per round.
    minmax_top : int
        Candidates per (width, seed) that the certified search refines.
    minmax_patience : int
        Rounds without a lower certified bound before a candidate stops.
    minmax_temperature : float
        Relative temperature of the soft maximum over the eigenvalues that the certified
        search descends on (>= 0; 0 is lambda_max itself). The values it reports are
        certified at temperature 0 whatever this is.
    chunk_bytes : int, optional
        Activation budget of one evaluation chunk (:func:`robustlaw.fitting.fit`).
    """

    fit_steps: int = 1000
    steps: int = 600
    stages: int = 2
    polish_steps: int = 300
    lr: float = 3e-3
    margin: float = 0.1
    n_support: int = 256
    domain_strengths: tuple[float, ...] = (3e-3, 1e-2)
    refresh_every: int = 200
    n_adversarial: int = 32
    ascent_steps: int = 10
    certify_top: int = 1
    certify_seconds: float = 1.0
    certify_methods: tuple[str, ...] = ("pattern_sdp",)
    minmax_rounds: int = 8
    minmax_steps: int = 25
    minmax_top: int = 1
    minmax_patience: int = 2
    minmax_temperature: float = 0.05
    chunk_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("fit_steps", "steps", "polish_steps", "n_support", "ascent_steps"):
            _int(name, getattr(self, name), 0)
        for name in ("certify_top", "n_adversarial", "minmax_rounds", "minmax_steps"):
            _int(name, getattr(self, name), 0)
        for name in ("stages", "refresh_every", "minmax_top", "minmax_patience"):
            _int(name, getattr(self, name), 1)
        _positive("lr", self.lr)
        _positive("certify_seconds", self.certify_seconds)
        t = self.minmax_temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise ValueError(f"minmax_temperature must be a non-negative finite number, got {t!r}")
        if isinstance(self.margin, bool) or not isinstance(self.margin, int | float):
            raise ValueError(f"margin must be a number in [0, 1), got {self.margin!r}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"margin must lie in [0, 1), got {self.margin!r}")
        strengths = self.domain_strengths
        if isinstance(strengths, str) or not isinstance(strengths, tuple | list):
            raise ValueError(f"domain_strengths must be a sequence of numbers, got {strengths!r}")
        for v in strengths:
            _positive("domain_strengths", v)
        if not strengths:
            raise ValueError("domain_strengths must hold at least one strength")
        object.__setattr__(self, "domain_strengths", tuple(float(v) for v in strengths))
        methods = self.certify_methods
        if isinstance(methods, str):
            methods = (methods,)
        if (
            not isinstance(methods, tuple | list)
            or not methods
            or any(m not in _METHODS for m in methods)
        ):
            raise ValueError(
                f"certify_methods must be a non-empty sequence of {list(_METHODS)}, got "
                f"{self.certify_methods!r}"
            )
        object.__setattr__(self, "certify_methods", tuple(methods))
        if self.chunk_bytes is not None:
            _int("chunk_bytes", self.chunk_bytes, 1)

    @classmethod
    def preset(cls, effort: str) -> SearchSettings:
        """The settings of a named effort level (:data:`EFFORTS`)."""
        if not isinstance(effort, str) or effort not in EFFORTS:
            raise ValueError(f"effort must be one of {sorted(EFFORTS)}, got {effort!r}")
        return EFFORTS[effort]

    def replace(self, **changes: Any) -> SearchSettings:
        """A copy with some fields changed (unknown names are a ValueError)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"unknown search setting(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(known))})"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


#: The effort presets, by name (see the module docstring).
EFFORTS: dict[str, SearchSettings] = {
    "lean": SearchSettings(),
    "quick": SearchSettings(
        fit_steps=1000,
        steps=400,
        stages=1,
        polish_steps=300,
        n_adversarial=32,
        ascent_steps=10,
        certify_top=1,
        certify_seconds=1.0,
    ),
    "standard": SearchSettings(
        fit_steps=2000,
        steps=1200,
        stages=2,
        polish_steps=500,
        n_support=512,
        n_adversarial=64,
        ascent_steps=20,
        certify_top=2,
        certify_seconds=2.0,
        certify_methods=("pattern_sdp", "exact"),
        minmax_rounds=12,
        minmax_top=2,
    ),
    "thorough": SearchSettings(
        fit_steps=3000,
        steps=3000,
        stages=3,
        polish_steps=1000,
        n_support=512,
        refresh_every=250,
        n_adversarial=128,
        ascent_steps=30,
        certify_top=4,
        certify_seconds=5.0,
        certify_methods=("pattern_sdp", "exact"),
        minmax_rounds=24,
        minmax_top=3,
        minmax_patience=4,
    ),
    "legacy": SearchSettings(
        fit_steps=3000,
        steps=3000,
        stages=3,
        polish_steps=1000,
        n_support=512,
        n_adversarial=64,
        ascent_steps=20,
        certify_top=2,
        certify_seconds=2.0,
        certify_methods=("pattern_sdp", "exact"),
    ),
}


#: Keyword arguments of :func:`robustlaw.fitting.smoothest_fit` that a sweep spec may set
#: in ``fit.options`` besides the fields of :class:`SearchSettings`, with their choices.
SPEC_OPTIONS: dict[str, tuple[Any, ...]] = {
    "mode": ("proxy", "certified"),
    "domain": ("rd", "R^d", "ball", "sphere"),
    "effort": tuple(EFFORTS),
    "warm_start": ("auto", "constructions", None),
}


def check_search_options(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with a spec's ``fit.options`` for the smoothest-fit search, as
    (key, reason) pairs (empty when every key is known and every value valid)."""
    problems: list[tuple[str, str]] = []
    fields = {f.name for f in dataclasses.fields(SearchSettings)}
    for key, value in options.items():
        if key in SPEC_OPTIONS:
            if value not in SPEC_OPTIONS[key]:
                choices = ", ".join(repr(c) for c in SPEC_OPTIONS[key])
                problems.append((key, f"must be one of {choices}, got {value!r}"))
        elif key not in fields:
            known = ", ".join(sorted(fields | set(SPEC_OPTIONS)))
            problems.append((key, f"unknown option of the smoothest-fit search (known: {known})"))
    if problems:
        return problems
    settings = {k: v for k, v in options.items() if k in fields}
    for key in ("domain_strengths", "certify_methods"):
        if isinstance(settings.get(key), list):
            settings[key] = tuple(settings[key])
    try:
        SearchSettings.preset(options.get("effort") or "lean").replace(**settings)
    except ValueError as exc:
        name = next((k for k in settings if str(exc).startswith(k)), "options")
        problems.append((name, str(exc)))
    return problems
