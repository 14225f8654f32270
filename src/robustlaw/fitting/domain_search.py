"""The domain-aware step of the smoothest-fit search: min-max smoothing against the
domain gradient norm.

:func:`smooth_on_domain` runs rounds of training under  max(0, MSE - tau) + lambda P_b  with
  P the soft maximum of the domain gradient norm over a :class:`PointPool`
  (:mod:`robustlaw.fitting.domain_penalty`), the pool's adversarial points re-found by
  ascent before every round and lambda ramped up over the first half of the rounds
  (continuation in the penalty).

The budgets come from :class:`robustlaw.fitting.settings.SearchSettings`; certified bounds
on the domain from :func:`robustlaw.fitting._certify.certified_interval`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from robustlaw.fitting.domain_penalty import SLOT, PointPool, domain_grad_penalty
from robustlaw.fitting.engine import fit
from robustlaw.fitting.objective import Hinge
from robustlaw.fitting.report import FitReport
from robustlaw.fitting.targets import BelowNoise, Interpolate
from robustlaw.models.two_layer import TwoLayer

__all__ = ["assign_slots", "smooth_on_domain"]


def smooth_on_domain(
    starts: TwoLayer,
    X: Tensor,
    y: Tensor,
    target: Interpolate | BelowNoise,
    pool: PointPool,
    strengths: Tensor,
    *,
    tau: float,
    steps: int,
    refresh_every: int,
    ascent_steps: int,
    lr: float,
    power: float = 16.0,
    common: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> tuple[TwoLayer, dict[str, FitReport], Tensor]:
    """Min-max smoothing of ``starts`` against the domain gradient norm.

    Parameters
    ----------
    starts : TwoLayer
        Members to smooth (B); each carries its pool slot in ``members[i]["pool_slot"]``.
    X, y, target
        Data (n, d), (n,) and the fit target (the hinge holds MSE <= ``tau``).
    pool : PointPool
        Shared and adversarial points (one slot per member).
    strengths : Tensor (B,)
        Final penalty strengths lambda_b.
    tau : float
        Hinge level.
    steps, refresh_every : int
        Training steps in all, and between two pool refreshes.
    ascent_steps : int
        Ascent steps per sharpness stage of each refresh.
    lr : float
        Adam's learning rate.
    power : float
        Power of the soft maximum.
    common : dict, optional
        Extra keyword arguments of :func:`robustlaw.fitting.fit` (meta, noise_level,
        chunk_bytes).

    Returns
    -------
    family : TwoLayer
        The smoothed members (same order).
    reports : dict of str -> FitReport
        One per round.
    witness : Tensor (B,)
        The largest domain gradient norm seen at the adversarial points of the last
        refresh, per member (a certified lower bound on Lip of the member at that time).
    """
    common = dict(common or {})
    penalty = domain_grad_penalty(pool, power=power)
    rounds = max(1, math.ceil(steps / max(1, refresh_every)))
    ramp = max(1, rounds // 2)
    reports: dict[str, FitReport] = {}
    fam = starts
    witness = torch.zeros(starts.B, dtype=torch.float64)
    for r in range(rounds):
        witness = pool.refresh(fam, steps=ascent_steps)
        todo = min(refresh_every, steps - r * refresh_every)
        if todo <= 0:
            break
        lam = strengths * min(1.0, (r + 1) / ramp)
        fam, reports[f"domain_{r + 1}"] = fit(
            fam,
            X,
            y,
            target,
            lr=lr,
            steps=todo,
            stop_at_target=False,
            penalty=penalty,
            strengths=lam,
            data_term=Hinge(tau=tau, weight=1.0),
            progress=progress,
            **common,
        )
    return fam, reports, witness


def assign_slots(family: TwoLayer, offset: int = 0) -> None:
    """Give every member its own pool slot (``members[i]["pool_slot"] = offset + i``)."""
    for i, m in enumerate(family.members):
        m[SLOT] = offset + i
