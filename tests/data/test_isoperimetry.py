"""The isoperimetry probe: hand-computed bound, soundness where c is known, ordering, limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import robustlaw.data as rd
from robustlaw.data.isoperimetry import (
    DEFAULT_TAIL_LEVELS,
    evaluation_lower_bound,
    plugin_estimate,
    tail_lower_bound,
)

F64 = torch.float64


def test_tail_bound_hand_computed():
    """P[f >= 1] >= 1/2 and P[f <= -1] >= 1/2, in dimension 1.

    For a center m in [-1, 1] the constraints are (1 - m)^2 / (2 log 4) (upper tail),
    (1 + m)^2 / (2 log 4) (lower tail) and min(1 - m, 1 + m)^2 / (2 log 2) (both tails, total
    probability 1). The worst center balances the two-sided and the far one-sided constraint:
    sqrt(2) (1 - delta) = 1 + delta, delta = 3 - 2 sqrt(2), value (1 - delta)^2 / (2 log 2).
    """
    delta = 3 - 2 * math.sqrt(2)
    exact = (1 - delta) ** 2 / (2 * math.log(2))
    one = np.array([1.0])
    half = np.array([0.5])
    coarse, _ = tail_lower_bound(one, half, -one, half, dim=1, n_centers=50)
    fine, detail = tail_lower_bound(one, half, -one, half, dim=1, n_centers=20_000)
    # cells make the bound conservative: never above the exact minimum over centers
    assert coarse <= fine <= exact
    assert fine == pytest.approx(exact, rel=1e-3)
    assert detail["tail"] in ("two-sided", "lower", "upper")
    # scaling: c is proportional to dim and to the square of the thresholds
    scaled, _ = tail_lower_bound(3 * one, half, -3 * one, half, dim=5, n_centers=20_000)
    assert scaled == pytest.approx(45 * fine, rel=1e-9)


def _gaussian_tail_law(rng, n):
    """|Z| with P[|Z| >= s] = min(1, 2 exp(-s^2/2)) and a random sign: for f(z) = z (E f = 0)
    the definition holds with c = 1 exactly and is attained at every s >= sqrt(2 log 2)."""
    v = 1.0 - rng.random(n)
    return rng.choice([-1.0, 1.0], n) * np.sqrt(2 * np.log(2 / v))


def test_never_claims_more_than_the_data_support():
    """Where the smallest c of a test function is 1, attained along the whole tail: the banded
    bound stays <= 1 in at least 95% of samples, while the raw plug-in exceeds it."""
    reps, n = 200, 500
    probs = np.array([p for p in DEFAULT_TAIL_LEVELS if p * n >= 1])
    above_band = above_plugin = 0
    values = []
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        ref, ev = _gaussian_tail_law(rng, n), _gaussian_tail_law(rng, n)
        upper = np.unique(np.quantile(ref, 1 - probs))
        lower = np.unique(np.quantile(ref, probs))
        beta = 0.05 / (upper.size + lower.size)
        c, _ = evaluation_lower_bound(ev, upper, lower, dim=1, beta=beta)
        values.append(c)
        above_band += c > 1.0
        above_plugin += plugin_estimate(ev, dim=1) > 1.0
    assert above_band <= 0.05 * reps
    assert above_plugin >= reps // 2  # without the band the claim would often be false
    assert np.mean(values) > 0.5  # and the band leaves a useful bound


KNOWN = [  # name, params, dimension the nominal c refers to
    ("gaussian", {}, None),
    ("sphere", {}, None),
    ("ball", {}, None),
    ("hypercube", {}, None),
    ("perturbed", {}, None),
    ("subspace", {"m": 4}, 4),
    ("embedded_sphere", {"m": 5}, 4),
    ("curved_manifold", {"m": 4}, 4),
]


@pytest.mark.parametrize(("name", "params", "dim"), KNOWN)
def test_sound_on_samplers_with_known_c(name, params, dim):
    for seed in range(3):
        X, _, meta = rd.sample(name, n=2000, d=16, seed=seed, labels=None, dtype=F64, **params)
        probe = rd.probe_isoperimetry(X, dim=dim or meta.d, seed=seed)
        nominal = meta.isoperimetry_c if dim else meta.isoperimetry_c_ambient
        assert 0 < probe.c_lower <= nominal, (name, seed, probe.c_lower, nominal)
        assert probe.dim == (dim or meta.d)


def test_orders_distributions_by_known_c():
    """Known constants: cube 1/(2 pi) < N(0, I/(4d)) 1/4 < N(0, I/d) 1 < N(0, 4I/d) 4."""

    def probed(name, **params):
        X, _, meta = rd.sample(name, n=4000, d=20, seed=1, labels=None, dtype=F64, **params)
        return rd.probe_isoperimetry(X, seed=2).c_lower, meta.isoperimetry_c_ambient

    laws = [
        probed("hypercube"),
        probed("gaussian", scale=0.5),
        probed("gaussian"),
        probed("gaussian", scale=2.0),
    ]
    known = [c for _, c in laws]
    lower = [c for c, _ in laws]
    assert known == sorted(known)
    assert lower == sorted(lower)
    assert all(c <= k for c, k in laws)
    # Not vacuous: at n_eval = 2000 the band reaches tails near 1e-3, where the Gaussian's
    # implied constant s^2 / (2 log(2/P)) is about 0.5; require at least 0.3 of the true 1.
    assert lower[2] >= 0.3


def test_mixture_is_seen_as_far_less_concentrated_than_its_components():
    X, _, meta = rd.sample("gaussian_mixture", n=2000, d=20, seed=0, labels=None, dtype=F64)
    probe = rd.probe_isoperimetry(X)
    # each component is 1/4-isoperimetric; the whole mixture is not even 1-isoperimetric
    assert meta.isoperimetry_c == 0.25
    assert probe.c_lower > 1.0
    assert probe.witness["family"] == "projection"
    assert "principal" in probe.witness["description"]


def test_scaling_translation_and_dimension_equivariance():
    X = rd.sample("ball", n=600, d=8, seed=3, labels=None, dtype=F64).X
    base = rd.probe_isoperimetry(X, seed=4)
    scaled = rd.probe_isoperimetry(2.5 * X, seed=4)
    shifted = rd.probe_isoperimetry(X + 10.0, seed=4)
    doubled = rd.probe_isoperimetry(X, dim=16, seed=4)
    assert scaled.c_lower == pytest.approx(6.25 * base.c_lower, rel=1e-9)
    assert shifted.c_lower == pytest.approx(base.c_lower, rel=1e-6)
    assert doubled.c_lower == pytest.approx(2 * base.c_lower, rel=1e-12)
    assert base.rescaled(4) == pytest.approx(base.c_lower / 2)


def test_result_is_plain_data_with_a_statement():
    X = rd.sample("sphere", n=300, d=6, seed=0, labels=None).X
    probe = rd.probe_isoperimetry(X, confidence=0.9)
    payload = probe.to_dict()
    assert payload["confidence"] == 0.9 and payload["n_reference"] == 150
    assert payload["n_tests"] > payload["n_functions"] > 0
    assert set(payload["by_family"]) == {"projection", "distance_to_point", "distance_to_subset"}
    assert max(payload["by_family"].values()) == payload["c_lower"]
    assert "lower bound only" in probe.statement.lower()
    assert f"{probe.c_lower:.4g}" in probe.statement


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": np.zeros((10, 3))}, "at least 20"),
        ({"X": np.full((30, 2), np.nan)}, "NaN"),
        ({"X": np.ones((30, 2)), "dim": 0}, "dim"),
        ({"X": np.ones((30, 2)), "confidence": 1.0}, "confidence"),
        ({"X": np.ones((30, 2)), "tail_levels": [0.7]}, "tail_levels"),
        ({"X": np.ones((30, 2)), "tail_levels": [1e-4]}, "no tail level"),
        (
            {
                "X": np.ones((30, 2)),
                "n_projections": 0,
                "n_principal": 0,
                "n_points": 0,
                "subsets_per_size": 0,
            },
            "no test functions",
        ),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rd.probe_isoperimetry(**kwargs)
