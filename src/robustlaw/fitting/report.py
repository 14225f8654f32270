"""What a fit returns: one record per member and the settings of the run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["STATUSES", "FitReport", "MemberFit"]

Status = Literal["reached", "diverged", "budget", "stalled"]

#: Why a member stopped: "reached" (MSE at or below the target's threshold), "diverged"
#: (the objective or its gradient became NaN or inf; the member keeps its last finite
#: weights), "budget" (the step budget ran out first), "stalled" (the optimizer stopped
#: making progress: L-BFGS tolerances, or a closed-form solution that misses the target).
STATUSES: tuple[str, ...] = ("reached", "diverged", "budget", "stalled")


@dataclass(frozen=True)
class MemberFit:
    """How one member's fit ended.

    Attributes
    ----------
    index : int
        Position of the member in the family.
    status : {"reached", "diverged", "budget", "stalled"}
    mse : float
        Training MSE at the member's final weights (NaN or inf when diverged).
    objective : float
        Value of the optimized objective there (the MSE, or the penalized objective).
    threshold : float
        The target's MSE threshold.
    steps : int
        Optimizer steps applied to this member (L-BFGS: iterations).
    evaluations : int
        Objective evaluations (forward + backward passes) spent on this member.
    seconds : float
        Wall-clock time attributed to the member (each step's time split evenly among the
        members it updated).
    member : dict
        The member's metadata (width, seed, tags).
    """

    index: int
    status: Status
    mse: float
    objective: float
    threshold: float
    steps: int
    evaluations: int
    seconds: float
    member: dict[str, Any] = field(default_factory=dict)

    @property
    def reached(self) -> bool:
        return self.status == "reached"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["member"] = dict(self.member)
        return out


@dataclass(frozen=True)
class FitReport:
    """Per-member results of :func:`robustlaw.fitting.fit` and the run's settings.

    Attributes
    ----------
    members : tuple of MemberFit
        One record per member, in family order.
    target : dict
        The target (kind and parameters) and its MSE threshold.
    optimizer : str
        "adam", "lbfgs" or "closed_form".
    settings : dict
        Learning rate, step budget, chunking and other options actually used.
    seconds : float
        Total wall-clock time.
    device, dtype : str
    """

    members: tuple[MemberFit, ...]
    target: dict[str, Any]
    optimizer: str
    settings: dict[str, Any]
    seconds: float
    device: str
    dtype: str

    @property
    def B(self) -> int:
        return len(self.members)

    @property
    def mse(self) -> np.ndarray:
        """(B,) final MSE per member."""
        return np.array([m.mse for m in self.members], dtype=np.float64)

    @property
    def reached(self) -> np.ndarray:
        """(B,) bool: the member met the target."""
        return np.array([m.reached for m in self.members], dtype=bool)

    @property
    def status(self) -> list[str]:
        return [m.status for m in self.members]

    @property
    def steps(self) -> np.ndarray:
        return np.array([m.steps for m in self.members], dtype=np.int64)

    def member_dicts(self) -> list[dict[str, Any]]:
        """One flat dict per member (its record plus its metadata under ``member``)."""
        return [m.to_dict() for m in self.members]

    def counts(self) -> dict[str, int]:
        """How many members ended in each status."""
        return {s: sum(m.status == s for m in self.members) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.member_dicts(),
            "target": dict(self.target),
            "optimizer": self.optimizer,
            "settings": dict(self.settings),
            "seconds": self.seconds,
            "device": self.device,
            "dtype": self.dtype,
            "counts": self.counts(),
        }
