"""The domain-aware steps of the smoothest-fit search: min-max smoothing against the
domain gradient norm, and certification of the best candidates on the domain.

- :func:`smooth_on_domain`: rounds of training under  max(0, MSE - tau) + lambda P_b  with
  P the soft maximum of the domain gradient norm over a :class:`PointPool`
  (:mod:`robustlaw.fitting.domain_penalty`), the pool's adversarial points re-found by
  ascent before every round and lambda ramped up over the first half of the rounds
  (continuation in the penalty);
- :func:`certify_on_domain`: certified upper bounds on the domain for chosen candidates
  from the engine (``pattern_sdp``, an R^d bound valid on every domain, and ``exact``,
  the branch and bound on the domain, under a small time budget).

:data:`EFFORTS` holds the budgets of the cost levels of :func:`robustlaw.smoothest_fit`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import family_nets, solve_exact
from robustlaw._pl.bounds import SAFETY, pattern_sdp, sdp_certificate, sign_columns, slope_bounds
from robustlaw.fitting.domain_penalty import SLOT, PointPool, domain_grad_penalty
from robustlaw.fitting.engine import fit
from robustlaw.fitting.objective import Hinge
from robustlaw.fitting.report import FitReport
from robustlaw.fitting.targets import BelowNoise, Interpolate
from robustlaw.models.two_layer import TwoLayer

__all__ = ["DOMAIN_STRENGTHS", "EFFORTS", "certify_on_domain", "smooth_on_domain"]

#: Budgets per cost level: fit / smoothing / polish steps, continuation stages, training
#: steps between pool refreshes, adversarial points per member, ascent steps per
#: sharpness stage, candidates certified on the domain per (width, seed), seconds per
#: certified candidate, and the methods that certify them (:func:`certify_on_domain`).
EFFORTS: dict[str, dict[str, Any]] = {
    "quick": {
        "fit_steps": 1000,
        "steps": 400,
        "stages": 1,
        "polish_steps": 300,
        "refresh_every": 200,
        "n_adversarial": 32,
        "ascent_steps": 10,
        "certify_top": 1,
        "certify_seconds": 1.0,
        "certify_methods": ("pattern_sdp",),
    },
    "standard": {
        "fit_steps": 2000,
        "steps": 1200,
        "stages": 2,
        "polish_steps": 500,
        "refresh_every": 200,
        "n_adversarial": 64,
        "ascent_steps": 20,
        "certify_top": 2,
        "certify_seconds": 2.0,
        "certify_methods": ("pattern_sdp", "exact"),
    },
    "thorough": {
        "fit_steps": 3000,
        "steps": 3000,
        "stages": 3,
        "polish_steps": 1000,
        "refresh_every": 250,
        "n_adversarial": 128,
        "ascent_steps": 30,
        "certify_top": 4,
        "certify_seconds": 5.0,
        "certify_methods": ("pattern_sdp", "exact"),
    },
}

#: Default strengths of the domain gradient penalty (its value is a Lipschitz constant,
#: like the weight bounds', but it is tight, so smaller strengths suffice).
DOMAIN_STRENGTHS = (3e-3, 1e-2)


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


def certify_on_domain(
    family: TwoLayer,
    domain: str,
    X: Tensor,
    seconds: float,
    methods: tuple[str, ...] = ("pattern_sdp", "exact"),
    seed: int = 0,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Certified bounds on Lip over ``domain`` for every member, cheaply.

    From the engine (:mod:`robustlaw._pl`): ``pattern_sdp``, the semidefinite bound
    (certified over R^d, hence on the ball and the sphere), and ``exact``, the branch and
    bound on the domain, which returns a certified interval when its ``seconds`` per
    member run out (relu / leaky relu only; the regions of the data points ``X`` seed
    its incumbent).

    Returns
    -------
    upper : ndarray (B,)
        Best certified upper bound per member.
    upper_name : list of str
        The method that gave it (``"<method> (<domain>)"``).
    lower : ndarray (B,)
        Best certified lower bound (witness) per member.
    """
    w = family.effective_weights()
    slopes = slope_bounds(w.activation)
    f64 = lambda t: None if t is None else t.detach().to("cpu", torch.float64)  # noqa: E731
    B = family.B
    upper, lower, names = np.full(B, math.inf), np.zeros(B), ["none"] * B
    if "pattern_sdp" in methods and all(math.isfinite(x) for x in slopes):
        G = sign_columns(f64(w.W), f64(w.a), f64(w.v), slopes)
        _, lam, _, _ = pattern_sdp(G, deadline=time.perf_counter() + seconds * B)
        upper = sdp_certificate(G, lam).numpy() * (1.0 + SAFETY)
        names = [f"pattern_sdp ({domain})"] * B
    act = w.activation
    if "exact" in methods and act.piecewise_linear and len(act.slopes) == 2:
        hints = list(X.detach().to("cpu", torch.float64).numpy())
        for i, net in enumerate(family_nets(family)):
            res = solve_exact(net, domain, seconds=seconds, hints=hints, seed=seed)
            lower[i] = res.lower
            if res.upper < upper[i]:
                upper[i], names[i] = res.upper, f"exact ({domain})"
    return upper, names, lower


def assign_slots(family: TwoLayer, offset: int = 0) -> None:
    """Give every member its own pool slot (``members[i]["pool_slot"] = offset + i``)."""
    for i, m in enumerate(family.members):
        m[SLOT] = offset + i
