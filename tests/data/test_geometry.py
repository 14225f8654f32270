"""Intrinsic dimension and separation: brute force, skdim, known manifolds, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import robustlaw.data as rd
from robustlaw.data.geometry import twonn_from_log_ratios
from robustlaw.data.neighbors import knn

F64 = torch.float64


def _cloud(n=300, d=6, seed=0):
    return torch.randn(n, d, dtype=F64, generator=torch.Generator().manual_seed(seed))


def test_knn_matches_brute_force_and_chunking():
    X = _cloud()
    full = torch.cdist(X, X)
    full.fill_diagonal_(float("inf"))
    expected_d, expected_i = torch.sort(full, dim=1)
    distances, indices = knn(X, 5)
    assert torch.equal(indices, expected_i[:, :5])
    assert torch.allclose(distances, expected_d[:, :5], atol=1e-12)
    # blocks of 3 rows (batched vs looped)
    small_d, small_i = knn(X, 5, max_bytes=8 * X.shape[0] * 3)
    assert torch.equal(small_i, indices) and torch.allclose(small_d, distances, atol=1e-14)


def test_knn_is_exact_far_from_the_origin():
    """Centering and recomputing from differences keep tiny distances exact at large offsets."""
    X = _cloud(n=50, d=3) * 1e-6 + 1e4
    distances, _ = knn(X, 1)
    brute = torch.cdist(X - 1e4, X - 1e4)
    brute.fill_diagonal_(float("inf"))
    assert torch.allclose(distances[:, 0], brute.min(dim=1).values, rtol=1e-6)


@pytest.mark.parametrize(
    ("name", "params", "dim"),
    [
        ("subspace", {"m": 2}, 2),
        ("subspace", {"m": 5}, 5),
        ("embedded_sphere", {"m": 5}, 4),
        ("curved_manifold", {"m": 4}, 4),
    ],
)
def test_estimates_on_manifolds_of_known_dimension(name, params, dim):
    X, _, meta = rd.sample(name, n=2000, d=20, seed=0, labels=None, dtype=F64, **params)
    assert meta.intrinsic_dim == dim
    # TwoNN's standard error at n = 2000 is about dim / sqrt(2000) = 2.2% of dim, and both
    # estimators carry a few percent of bias from density variation at these sample sizes:
    # 12% is about five standard errors.
    for result in (
        rd.intrinsic_dimension(X),
        rd.intrinsic_dimension(X, estimator="linear"),
        rd.intrinsic_dimension(X, method="mle"),
    ):
        assert result.estimate == pytest.approx(dim, rel=0.12), result


def test_twonn_interval_covers_at_the_nominal_rate_under_its_model():
    """Under the TwoNN model log(r2/r1) ~ Exponential(m) i.i.d., the chi^2 interval is exact."""
    gen = np.random.default_rng(0)
    reps, N, m = 1000, 200, 3.0
    hits = 0
    for _ in range(reps):
        result = twonn_from_log_ratios(gen.exponential(1 / m, N), "mle", 0.0, 0.95)
        hits += result.ci_low <= m <= result.ci_high
    # binomial(1000, 0.95) has standard deviation 6.9: +-3 sd
    assert abs(hits - 950) <= 21
    censored = twonn_from_log_ratios(gen.exponential(1 / m, 20_000), "mle", 0.1, 0.95)
    assert censored.ci_low <= m <= censored.ci_high


def test_against_scikit_dimension():
    skdim = pytest.importorskip("skdim")
    X, _, _ = rd.sample("curved_manifold", n=1500, d=16, seed=1, m=3, labels=None, dtype=F64)
    data = X.numpy()
    ours = rd.intrinsic_dimension(X, estimator="linear").estimate
    assert ours == pytest.approx(skdim.id.TwoNN().fit(data).dimension_, rel=1e-9)
    ours_mle = rd.intrinsic_dimension(X, estimator="mle", discard_fraction=0.1).estimate
    theirs = skdim.id.TwoNN(method="mle", discard_fraction=0.1).fit(data).dimension_
    assert ours_mle == pytest.approx(theirs, rel=1e-9)
    lb = rd.intrinsic_dimension(X, method="mle", k=15).estimate
    theirs_lb = skdim.id.MLE(K=15).fit(data, n_neighbors=15, comb="mle").dimension_
    assert lb == pytest.approx(theirs_lb, rel=1e-9)
    mean_lb = rd.intrinsic_dimension(X, method="mle", k=15, comb="mean").estimate
    theirs_mean = skdim.id.MLE(K=15).fit(data, n_neighbors=15, comb="mean").dimension_
    assert mean_lb == pytest.approx(theirs_mean, rel=1e-9)


def test_intrinsic_dimension_result_serializes():
    result = rd.intrinsic_dimension(_cloud(), confidence=0.9)
    payload = result.to_dict()
    assert payload["method"] == "twonn" and payload["confidence"] == 0.9
    assert payload["ci_low"] < payload["estimate"] < payload["ci_high"]


def test_separation_matches_brute_force():
    X = _cloud(n=200, d=4, seed=3)
    y = torch.where(X[:, 0] > 0, 1.0, -1.0).to(F64) * torch.linspace(0.2, 1.0, 200, dtype=F64)
    full = torch.cdist(X, X)
    full.fill_diagonal_(float("inf"))
    nn = full.min(dim=1).values
    ratio = (y[:, None] - y[None, :]).abs() / full
    result = rd.separation(X, y)
    chunked = rd.separation(X, y, max_bytes=8 * 200 * 7)
    assert result == chunked
    assert result.min_distance == pytest.approx(float(nn.min()), rel=1e-12)
    i, j = result.closest_pair
    assert float((X[i] - X[j]).norm()) == pytest.approx(result.min_distance, rel=1e-12)
    assert result.nn_mean == pytest.approx(float(nn.mean()), rel=1e-12)
    assert result.nn_quantiles["0.5"] == pytest.approx(float(np.quantile(nn.numpy(), 0.5)))
    assert result.nn_quantiles["1"] == pytest.approx(float(nn.max()))
    assert result.interpolation_lipschitz == pytest.approx(float(ratio.max()), rel=1e-12)
    assert result.duplicates == 0


def test_interpolation_lipschitz_is_attained_by_mcshane():
    X = _cloud(n=60, d=3, seed=5)
    y = torch.tanh(3 * X[:, 1]) * torch.where(X[:, 2] > 0, 1.0, -0.5).to(F64)
    L = rd.separation(X, y).interpolation_lipschitz
    dist = torch.cdist(X, X)

    def mcshane(lip):
        return (y[None, :] + lip * dist).min(dim=1).values  # f(x_j) at every data point

    assert torch.allclose(mcshane(L), y, atol=1e-12)  # interpolates at L
    assert not torch.allclose(mcshane(0.99 * L), y, atol=1e-9)  # and fails just below


def test_sphere_floor_on_a_circle_by_hand():
    angles = torch.tensor([0.0, 0.5, 2.0], dtype=F64)
    X = torch.stack([angles.cos(), angles.sin()], dim=1)
    result = rd.separation(X, [1.0, -1.0, 1.0], domain="sphere")
    assert result.interpolation_domain == "sphere"
    assert result.interpolation_lipschitz == pytest.approx(2.0 / 0.5, rel=1e-12)  # arc, not chord
    assert set(result.interpolation_pair) == {0, 1}
    chord = rd.separation(X, [1.0, -1.0, 1.0]).interpolation_lipschitz
    assert chord == pytest.approx(2.0 / (2 * math.sin(0.25)), rel=1e-12)


def test_sphere_floor_is_attained_by_mcshane_in_the_geodesic_metric():
    X = _cloud(n=80, d=5, seed=11)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.tanh(4 * X[:, 0] * X[:, 1])
    result = rd.separation(X, y, domain="sphere")
    chunked = rd.separation(X, y, domain="sphere", max_bytes=8 * 80 * 5)
    assert result == chunked
    angle = torch.arccos((X @ X.T).clamp(-1, 1))
    L = result.interpolation_lipschitz

    def mcshane(lip):
        return (y[None, :] + lip * angle).min(dim=1).values

    assert torch.allclose(mcshane(L), y, atol=1e-9)
    assert not torch.allclose(mcshane(0.99 * L), y, atol=1e-9)
    # geodesic distances exceed chords: the floor on the sphere is below the one in R^d
    assert L <= rd.separation(X, y).interpolation_lipschitz


def test_sphere_floor_needs_points_on_the_sphere():
    with pytest.raises(ValueError, match="unit sphere"):
        rd.separation(_cloud(n=10, d=3) * 2, torch.ones(10, dtype=F64), domain="sphere")
    with pytest.raises(ValueError, match="domain must be"):
        rd.separation(_cloud(n=10, d=3), domain="torus")


def test_duplicates():
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=F64)
    result = rd.separation(X, [0.5, 1.0, -1.0, -1.0])
    assert result.min_distance == 0.0 and result.duplicates == 2
    assert result.interpolation_lipschitz == math.inf
    assert rd.separation(X, [0.5, 1.0, -1.0, 1.0]).interpolation_lipschitz < math.inf
    with pytest.raises(ValueError, match="duplicate"):
        rd.intrinsic_dimension(X)
    with pytest.raises(ValueError, match="duplicate"):
        rd.intrinsic_dimension(X, method="mle", k=2)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_separation_invariants(n, d, seed):
    X = _cloud(n=n, d=d, seed=seed)
    result = rd.separation(X)
    values = [result.nn_quantiles[key] for key in ("0", "0.25", "0.5", "0.75", "1")]
    assert values == sorted(values)
    assert result.min_distance == pytest.approx(values[0])
    shifted = rd.separation(X * 3.0 + 7.0)
    assert shifted.min_distance == pytest.approx(3 * result.min_distance, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rd.intrinsic_dimension([[0.0, 1.0], [float("nan"), 1.0], [2.0, 2.0]]), "NaN"),
        (lambda: rd.intrinsic_dimension([[0.0, 1.0], [1.0], [2.0, 2.0]]), "ragged"),
        (lambda: rd.intrinsic_dimension(np.zeros((0, 3))), "empty"),
        (lambda: rd.intrinsic_dimension(np.zeros(5)), "2-D"),
        (lambda: rd.intrinsic_dimension(np.array([["a", "b"]] * 3)), "real numbers"),
        (lambda: rd.intrinsic_dimension(_cloud(), method="pca"), "method must be"),
        (lambda: rd.intrinsic_dimension(_cloud(), estimator="ols"), "estimator must be"),
        (lambda: rd.intrinsic_dimension(_cloud(n=10), method="mle", k=10), "k must lie"),
        (lambda: rd.intrinsic_dimension(_cloud(), method="mle", comb="max"), "comb"),
        (lambda: rd.intrinsic_dimension(_cloud(), discard_fraction=1.0), "discard_fraction"),
        (lambda: rd.intrinsic_dimension(_cloud(), confidence=1.0), "confidence"),
        (lambda: rd.intrinsic_dimension(_cloud(n=2)), "at least 3"),
        (lambda: rd.separation(_cloud(n=1)), "at least 2"),
        (lambda: rd.separation(_cloud(n=4), [1.0, 2.0, 0.0, 0.0]), r"outside \[-1, 1\]"),
        (lambda: rd.separation(_cloud(n=4), [1.0, 0.0]), "2 labels for 4"),
        (lambda: rd.separation(torch.full((3, 2), float("inf"))), "NaN or infinite"),
        (lambda: rd.separation(_cloud(n=4), quantiles=[1.5]), "quantiles"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
