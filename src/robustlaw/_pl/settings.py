"""Settings of the engine's searches: frozen values, passed down and pickled to helpers.

Nothing in the engine reads a module-level flag: a search takes its settings as an
argument, and the exact solver's helper processes receive the caller's settings with
their work, so one setting holds for the whole tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = [
    "CutSettings",
    "DeepBnBSettings",
    "ExactSettings",
    "RegionSearchSettings",
    "settings_from",
]

S = TypeVar("S")


def _positive(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")


@dataclass(frozen=True)
class CutSettings:
    """Tangent cuts u . x + t <= 1 of the unit ball in region LPs (ball and sphere).

    Attributes
    ----------
    pool : int or None
        Tangent cuts kept, in units of d, besides the 2 d box cuts ``|x_j| + t <= 1``:
        the newest ``pool * d`` stay (each kept cut is an LP row); None keeps every cut.
    rounds : int
        Cuts added per LP before the outer approximation's margin is returned as an
        upper bound without a witness.
    """

    pool: int | None = 2
    rounds: int = 60

    def __post_init__(self) -> None:
        if self.pool is not None:
            _positive("cut pool", self.pool)
        _positive("cut rounds", self.rounds)


@dataclass(frozen=True)
class ExactSettings:
    """The exact solver's branch and bound (:mod:`robustlaw._pl.bnb`).

    Attributes
    ----------
    exact_units : int
        Free units up to which a node's relaxation is enumerated (2^n patterns); above,
        the dual of the semidefinite relaxation bounds it.
    sdp_iters, sdp_warm_iters : int
        Dual iterations of the semidefinite bound at the root and at a child.
    sdp_start : {"cold", "warm"}
        A child's dual iteration starts from Y = I with the parent's point evaluated too
        ("cold"; iterating from the parent's nearly low-rank point stalls), or from the
        parent's point ("warm").
    sdp_eval_every : int
        Iterations between two evaluations of the bound (one d x d eigenvalue problem).
    learn : bool
        Learn no-goods from the dual certificates of empty LPs and propagate them.
    hook_every, progress_every : int
        Nodes between two calls of the helpers' hook / of the progress callback.
    enumeration_limit : float
        Vertex enumeration runs on R^d when its cost
        (:func:`robustlaw._pl.enum.enumeration_cost`) is at most this ...
    enumeration_max_dim : int
        ... and d is at most this (beyond, branch and bound is faster at the widths where
        enumeration is affordable).
    warm_lp : bool
        Re-solve one HiGHS model per member with changed row bounds (False: a fresh model
        per LP, a cross-check of the warm starts).
    cuts : CutSettings
    grace_seconds : float
        Seconds past the deadline that the calling process waits for a helper's final
        answer before it counts the helper's part as open.
    poll_seconds : float
        Seconds a blocking wait for a helper's message lasts before liveness is checked.
    """

    exact_units: int = 12
    sdp_iters: int = 40
    sdp_warm_iters: int = 8
    sdp_start: Literal["cold", "warm"] = "cold"
    sdp_eval_every: int = 8
    learn: bool = True
    hook_every: int = 64
    progress_every: int = 2000
    enumeration_limit: float = 3e8
    enumeration_max_dim: int = 4
    warm_lp: bool = True
    cuts: CutSettings = field(default_factory=CutSettings)
    grace_seconds: float = 5.0
    poll_seconds: float = 0.05

    def __post_init__(self) -> None:
        _positive("exact_units", self.exact_units, 0)
        for name in ("sdp_iters", "sdp_warm_iters", "sdp_eval_every", "hook_every"):
            _positive(name, getattr(self, name))
        _positive("progress_every", self.progress_every)
        if self.sdp_start not in ("cold", "warm"):
            raise ValueError(f"sdp_start must be 'cold' or 'warm', got {self.sdp_start!r}")
        if not isinstance(self.cuts, CutSettings):
            raise TypeError(f"cuts must be a CutSettings, got {type(self.cuts).__name__}")


@dataclass(frozen=True)
class RegionSearchSettings:
    """The region search's climb (:mod:`robustlaw._pl.search`).

    Attributes
    ----------
    n_starts : int
        Starting points per round taken from the pool (best distinct patterns first).
    n_random : int
        Random line directions per step (plus the gradient and flip normals).
    max_lp : int
        LP flip checks per step before a region counts as a local maximum.
    n_directions : int
        Gradient directions (half from the unconstrained pattern problem, half random)
        whose target regions are climbed from after the starts.
    expansions : int
        Best-first expansions around the best local maxima (doubled every round).
    max_steps : int
        Steps of one local search.
    max_jumps : int
        Jumps to the target region of the gradient direction per climb.
    patience, max_rounds : int
        Rounds stop after ``patience`` rounds without improvement, or ``max_rounds``.
    cuts : CutSettings
        The ball's tangent cuts in the region LPs (ball and sphere).
    """

    n_starts: int = 16
    n_random: int = 24
    max_lp: int = 64
    n_directions: int = 16
    expansions: int = 32
    max_steps: int = 500
    max_jumps: int = 8
    patience: int = 2
    max_rounds: int = 6
    cuts: CutSettings = field(default_factory=CutSettings)

    def __post_init__(self) -> None:
        for name in ("n_starts", "n_random", "max_lp", "max_steps", "patience", "max_rounds"):
            _positive(name, getattr(self, name))
        for name in ("n_directions", "expansions", "max_jumps"):
            _positive(name, getattr(self, name), 0)
        if not isinstance(self.cuts, CutSettings):
            raise TypeError(f"cuts must be a CutSettings, got {type(self.cuts).__name__}")


@dataclass(frozen=True)
class DeepBnBSettings:
    """The branch and bound over the activation patterns of a deep stack
    (:mod:`robustlaw._pl.deep_bnb`).

    Attributes
    ----------
    root_iter : int
        Gradient steps on the root's LipSDP multipliers.
    node_iter : int
        Gradient steps on a node's multipliers (started from its parent's).
    frontier : bool
        Branch on the first layer with free units (whose pre-activations are affine on the
        node's region, so the LP decides their sides); False: on any free unit.
    gap : float
        Relative gap below which a node is closed against the best lower bound.
    max_nodes : int or None
        Nodes bounded before the search stops (None: only the time limit).
    """

    root_iter: int = 500
    node_iter: int = 40
    frontier: bool = True
    gap: float = 1e-7
    max_nodes: int | None = None

    def __post_init__(self) -> None:
        _positive("root_iter", self.root_iter)
        _positive("node_iter", self.node_iter)
        if self.max_nodes is not None:
            _positive("max_nodes", self.max_nodes)
        if not (isinstance(self.gap, float | int) and 0 <= self.gap < 1):
            raise ValueError(f"gap must be a number in [0, 1), got {self.gap!r}")


def settings_from(cls: type[S], value: Any, name: str = "settings") -> S:
    """``value`` as a ``cls``: itself, a default one for None, or one built from a mapping
    (as a spec's options give it; a nested ``cuts`` mapping becomes a CutSettings).
    Unknown keys and other types raise, naming ``name``."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a {cls.__name__} or a mapping, got {value!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"{name}: unknown keys {unknown}; known: {sorted(known)}")
    fields = dict(value)
    if isinstance(fields.get("cuts"), Mapping):
        fields["cuts"] = settings_from(CutSettings, fields["cuts"], f"{name}.cuts")
    return cls(**fields)
