"""Power-law fits: exact recovery, least squares by hand, seed-level intervals, coverage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from robustlaw.analysis.powerlaw import fit_power_law

XS = np.geomspace(1.0, 100.0, 8)


def _draw(rng, m, *, beta=0.5, prefactor=2.0, point_noise=0.1, seed_noise=0.2, slope_sd=0.05):
    """m seeds, each a curve C x^(beta + b_s) exp(u_s + e_i) on the grid XS."""
    x, y, seeds = [], [], []
    for s in range(m):
        offset, slope = rng.normal(0, seed_noise), beta + rng.normal(0, slope_sd)
        noise = rng.normal(0, point_noise, XS.size)
        x.append(XS)
        y.append(prefactor * XS**slope * np.exp(offset + noise))
        seeds += [s] * XS.size
    return np.concatenate(x), np.concatenate(y), np.array(seeds)


def test_exact_power_law_is_recovered_and_degenerate_bca_falls_back():
    x = np.tile(XS, 6)
    y = 3.0 * x**0.5
    fit = fit_power_law(x, y, np.repeat(np.arange(6), XS.size))
    assert fit.slope == pytest.approx(0.5, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    # Every seed gives the same curve: the bootstrap distribution is a point, BCa is NaN.
    assert fit.method == "percentile"
    assert "degenerate" in fit.method_reason
    assert fit.slope_ci == pytest.approx((0.5, 0.5), abs=1e-12)
    assert fit.covers(0.5)
    assert not fit.covers(0.51)


def test_point_estimate_is_ordinary_least_squares_on_logs():
    rng = np.random.default_rng(4)
    x, y, seeds = _draw(rng, 5)
    fit = fit_power_law(x, y, seeds, n_resamples=500)
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10)
    assert (fit.x_min, fit.x_max) == (pytest.approx(1.0), pytest.approx(100.0))
    assert (fit.n_seeds, fit.n_points) == (5, 5 * XS.size)


def test_noisy_power_law_slope_within_its_interval():
    rng = np.random.default_rng(7)
    x, y, seeds = _draw(rng, 8, beta=-0.5)
    fit = fit_power_law(x, y, seeds)
    assert fit.method == "BCa" and fit.method_reason == ""
    low, high = fit.slope_ci
    assert low < fit.slope < high
    assert fit.covers(-0.5)
    assert abs(fit.slope + 0.5) < 0.1
    assert fit.intercept_ci[0] < fit.intercept < fit.intercept_ci[1]
    # The band brackets the fitted line at every abscissa.
    for xb, lo, hi in fit.band:
        assert lo <= fit.predict(xb) <= hi


def test_interval_reflects_seed_variation_not_point_count():
    """Each seed lies exactly on its own line: only seed-to-seed variation is uncertain."""
    rng = np.random.default_rng(11)
    slopes = 0.5 + rng.normal(0, 0.1, 10)

    def frame(points):
        grid = np.geomspace(1.0, 100.0, points)
        x = np.tile(grid, slopes.size)
        y = np.concatenate([grid**b for b in slopes])
        return x, y, np.repeat(np.arange(slopes.size), points)

    sparse = fit_power_law(*frame(4), rng=3)
    dense = fit_power_law(*frame(64), rng=3)
    # Same x grid for every seed: the pooled slope is the mean of the seed slopes.
    assert sparse.slope == pytest.approx(slopes.mean(), rel=1e-12)
    assert dense.slope == pytest.approx(slopes.mean(), rel=1e-12)
    # Sixteen times more points per seed leave the interval unchanged.
    assert dense.slope_ci == pytest.approx(sparse.slope_ci, rel=1e-9)
    # Its width matches the standard error of a mean over seeds (bootstrap: 1/m variance).
    expected = 2 * 1.96 * slopes.std(ddof=0) / math.sqrt(slopes.size)
    width = sparse.slope_ci[1] - sparse.slope_ci[0]
    assert 0.75 * expected < width < 1.25 * expected


def test_interval_covers_the_truth_at_about_the_nominal_rate():
    """Coverage over repeated draws: near nominal, and as small-sample theory predicts."""
    rng = np.random.default_rng(2024)
    draws, covered = 400, 0
    for i in range(draws):
        x, y, seeds = _draw(rng, 10)
        fit = fit_power_law(x, y, seeds, n_resamples=1000, rng=i)
        assert fit.method == "BCa"
        covered += fit.covers(0.5)
    rate = covered / draws
    # A seed bootstrap over m = 10 seeds covers P(|t_9| <= 1.96 sqrt(9/10)) ~ 0.904 of the
    # time rather than 0.95; the measured rate must agree within 3 binomial standard errors.
    expected = fit.expected_coverage
    assert expected == pytest.approx(
        2 * stats.t.cdf(stats.norm.ppf(0.975) * math.sqrt(0.9), 9) - 1, rel=1e-12
    )
    assert 0.89 < expected < 0.92
    assert abs(rate - expected) <= 3 * math.sqrt(expected * (1 - expected) / draws)
    assert rate >= 0.85


@pytest.mark.parametrize(("m", "method"), [(1, "none"), (2, "percentile"), (4, "percentile")])
def test_few_seeds_fall_back_with_a_stated_reason(m, method):
    x, y, seeds = _draw(np.random.default_rng(m), m)
    fit = fit_power_law(x, y, seeds, n_resamples=500)
    assert fit.method == method
    assert fit.method_reason
    assert f"{m} seed" in fit.method_reason or "single seed" in fit.method_reason
    assert fit.has_interval == (m > 1)
    if m == 1:
        assert not fit.covers(0.5)


def test_seed_without_x_variation_is_left_out_and_noted():
    x, y, seeds = _draw(np.random.default_rng(5), 5)
    x = np.append(x, [3.0, 3.0])
    y = np.append(y, [1.0, 2.0])
    seeds = np.append(seeds, [99, 99])
    fit = fit_power_law(x, y, seeds, n_resamples=500)
    assert fit.n_seeds == 5
    assert 99 not in fit.seeds
    assert any("one x value" in note for note in fit.notes)


def test_to_dict_is_plain_json():
    x, y, seeds = _draw(np.random.default_rng(1), 5)
    seeds = np.array([f"s{s}" for s in seeds], dtype=object)
    payload = fit_power_law(x, y, seeds, n_resamples=300, x_label="n/k").to_dict()
    text = json.dumps(payload)
    back = json.loads(text)
    assert back["x_label"] == "n/k"
    assert back["seeds"] == [f"s{i}" for i in range(5)]
    assert len(back["slope_ci"]) == 2 and len(back["band"]) == 25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": [1.0, -2.0, 3.0]}, "x must be positive"),
        ({"y": [1.0, float("nan"), 3.0]}, "y must be positive"),
        ({"seeds": [0, 1]}, "same length"),
        ({"x": [2.0, 2.0, 2.0]}, "two distinct values"),
        ({"confidence_level": 1.5}, "confidence_level"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"seeds": [0, None, 1]}, "seeds must not contain"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    args = {"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0], "seeds": [0, 0, 1]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_power_law(**args)


@settings(max_examples=25, deadline=None)
@given(
    scale_x=st.floats(1e-3, 1e3),
    scale_y=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_rescaling_moves_only_the_intercept(scale_x, scale_y, seed):
    x, y, seeds = _draw(np.random.default_rng(seed), 5)
    base = fit_power_law(x, y, seeds, n_resamples=200, rng=0)
    moved = fit_power_law(scale_x * x, scale_y * y, seeds, n_resamples=200, rng=0)
    assert moved.slope == pytest.approx(base.slope, rel=1e-9, abs=1e-9)
    assert moved.slope_ci == pytest.approx(base.slope_ci, rel=1e-7, abs=1e-9)
    shift = math.log(scale_y) - base.slope * math.log(scale_x)
    assert moved.intercept == pytest.approx(base.intercept + shift, rel=1e-9, abs=1e-9)
