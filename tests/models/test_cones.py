"""The cone interpolant: exact interpolation, disjoint caps, and its sphere closed form
against independent checks (dense sampling, the exact solver on the sphere)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from robustlaw.models.constructions import (
    cap_interpolant,
    cone_interpolant,
    cone_lipschitz_sphere,
    cone_profile,
)


def _data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.choice([-1.0, 1.0], size=n)


def _tangential(fam, Z: np.ndarray) -> np.ndarray:
    Zt = torch.as_tensor(Z)
    g = fam.input_gradient(Zt)[0].detach().numpy()
    g = g - (g * Z).sum(axis=1, keepdims=True) * Z
    return np.linalg.norm(g, axis=1)


def test_profiles_one_piece_is_the_cap_and_more_pieces_approach_the_cone():
    r = np.array([0.2, 0.6, 1.2])
    S1, _ = cone_profile(r, 1)
    assert np.allclose(1 / S1, 1 / np.tan(r / 2))  # cot(r/2): the cap interpolant's constant
    previous = S1
    for m in (2, 3, 6, 12):
        S, phis = cone_profile(r, m)
        assert (S > previous).all() and (S < r).all()  # a left Riemann sum of r
        assert np.allclose(phis[:, 0], r) and np.allclose(phis[:, -1], 0)
        assert (np.diff(phis, axis=1) < 0).all()
        previous = S
    # the angles are optimal: an independent simplex search over them finds no larger S_m
    from scipy.optimize import minimize

    for m in (4, 12):
        S, _ = cone_profile(r, m)
        for j, rj in enumerate(r):

            def neg(x, rj=rj):
                phis = np.concatenate([[rj], np.sort(np.clip(x, 0, rj))[::-1], [0.0]])
                c = np.cos(phis)
                return -((c[1:] - c[:-1]) / np.sin(phis[:-1])).sum()

            x0 = rj * np.linspace(1, 0, m + 1)[1:-1]
            opts = {"maxiter": 40_000, "xatol": 1e-12, "fatol": 1e-15}
            best = -minimize(neg, x0, method="Nelder-Mead", options=opts).fun
            assert S[j] >= best * (1 - 1e-7)


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(12, 4, 12, 0), (12, 4, 30, 1), (30, 8, 75, 2)])
def test_interpolates_within_budget_and_the_closed_form_bounds_sampled_gradients(n, d, k, seed):
    X, y = _data(n, d, seed)
    fam, rep = cone_interpolant(X, y, k)
    assert rep.interpolates and rep.max_error < 1e-9
    assert rep.neurons <= k and sum(rep.details["pieces"]) == rep.neurons
    value = rep.lipschitz["sphere"].upper
    assert rep.lipschitz["sphere"].exact and rep.lipschitz["rd"].upper >= value
    rng = np.random.default_rng(seed + 10)
    Z = rng.standard_normal((200_000, d))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    assert _tangential(fam, Z).max() <= value * (1 + 1e-9)
    # the supremum is approached just inside the rim of the steepest cap
    eff = fam.effective_weights()
    W, b, a = (t[0].numpy() for t in (eff.W, eff.b, eff.a))
    centers, groups = np.unique(W.round(12), axis=0, return_inverse=True)
    groups = groups.reshape(-1)
    assert cone_lipschitz_sphere(W, b, a, groups) == pytest.approx(value, rel=1e-12)
    near_rim = []
    for g in range(len(centers)):
        u = centers[g] / np.linalg.norm(centers[g])
        tau0 = (-b[groups == g]).min() / np.linalg.norm(centers[g])
        angle = math.acos(tau0) * (1 - 1e-7)
        ortho = rng.standard_normal((8, d))
        ortho -= (ortho @ u)[:, None] * u
        ortho /= np.linalg.norm(ortho, axis=1, keepdims=True)
        near_rim.append(math.cos(angle) * u + math.sin(angle) * ortho)
    assert _tangential(fam, np.concatenate(near_rim)).max() == pytest.approx(value, rel=1e-5)


def test_more_units_never_hurt_and_one_unit_per_point_beats_disjoint_caps():
    X, y = _data(40, 10, 3)
    values = [cone_interpolant(X, y, k)[1].lipschitz["sphere"].upper for k in (40, 60, 80, 120)]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(values))
    caps = cap_interpolant(X, y, s="disjoint")[1].lipschitz["sphere"].upper
    # one piece per point is the cap profile on radii shrunk by 1e-9 (cones._radii)
    assert values[0] <= caps * (1 + 1e-8)


def test_closed_form_matches_the_exact_solver_on_the_sphere():
    from robustlaw.lipschitz import Budget, estimate

    X, y = _data(6, 3, 4)
    fam, rep = cone_interpolant(X, y, 15)
    res = estimate(fam, domain="sphere", methods=("lower", "exact"), budget=Budget(30), X=X)
    assert res.lower[0] <= rep.lipschitz["sphere"].upper * (1 + 1e-9)
    assert res.upper[0] >= rep.lipschitz["sphere"].upper * (1 - 1e-6)
    assert res.lower[0] >= rep.lipschitz["sphere"].upper * (1 - 1e-3)


def test_zero_labels_get_no_units_and_bad_input():
    X, y = _data(10, 4, 5)
    y[3] = 0.0
    _, rep = cone_interpolant(X, y, 9)
    assert rep.details["pieces"][3] == 0 and rep.interpolates
    with pytest.raises(ValueError, match="k must be at least"):
        cone_interpolant(X, y, 8)
    with pytest.raises(ValueError, match="unit sphere"):
        cone_interpolant(2 * X, y, 20)
