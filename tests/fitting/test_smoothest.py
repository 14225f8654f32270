"""smoothest_fit: candidates, choice by certified bound, warm starts, re-ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fitting_data import sphere_data

from robustlaw.fitting import BelowNoise, Interpolate, certified_bounds, smoothest_fit
from robustlaw.models import TwoLayer


@pytest.fixture(scope="module")
def result():
    X, y = sphere_data(24, 4, seed=7)
    fam = TwoLayer(4, [12, 40], seeds=[0, 1], dtype=torch.float64)
    res = smoothest_fit(
        fam, X, y, Interpolate(1e-4), penalty=("averaged", "grad_norm"),
        strengths=(1e-2, 1e-1), fit_steps=1500, steps=600, stages=2, polish_steps=600,
        lr=1e-2, n_support=64,
    )  # fmt: skip
    return X, y, res


def test_candidates_cover_every_member_penalty_and_strength(result):
    _, _, res = result
    # 4 plain fits + 4 members x 2 penalties x 2 strengths
    assert res.candidates.B == len(res.table) == 4 + 16
    keys = {(r["base"], r["penalty"], r["strength"]) for r in res.table}
    assert len(keys) == 20
    assert {r["penalty"] for r in res.table} == {None, "averaged", "grad_norm"}
    assert [r["base"] for r in res.best] == [0, 1, 2, 3]
    assert [(r["width"], r["seed"]) for r in res.best] == [(12, 0), (12, 1), (40, 0), (40, 1)]


def test_choice_is_the_fitting_candidate_with_smallest_certified_bound(result):
    X, y, res = result
    for best in res.best:
        rows = [r for r in res.table if r["base"] == best["base"]]
        fitting = [r for r in rows if r["fits"]]
        assert best["fits"] and best["upper"] == min(r["upper"] for r in fitting)
        plain = next(r for r in rows if r["penalty"] is None)
        assert best["upper"] <= plain["upper"]
    # the chosen family is what the table says: weights, MSE and certified bounds
    with torch.no_grad():
        mse = ((res.family(X) - y) ** 2).mean(dim=1).numpy()
    assert (mse <= res.threshold).all()
    assert np.allclose(certified_bounds(res.family).best, [r["upper"] for r in res.best])
    for r in res.table:
        assert r["lower_sampled"] <= r["upper"] * (1 + 1e-9)  # sampled lower <= certified upper


def test_rerank_with_another_certified_bound(result):
    _, _, res = result
    other = np.array([r["upper_path_norm"] for r in res.table])
    again = res.rerank(other, name="path_norm")
    for best in again.best:
        fitting = [r for r in again.table if r["base"] == best["base"] and r["fits"]]
        assert best["upper"] == min(r["upper"] for r in fitting)
        assert best["upper_name"] == "path_norm"
    with pytest.raises(ValueError, match="upper must have shape"):
        res.rerank(other[:3])


def test_warm_start_candidates_are_kept_as_they_are():
    X, y = sphere_data(10, 6, seed=1)
    # a cap interpolant with 2 units per point: f = sum_i y_i / s [relu(<x_i, x> - (1 - s))
    # - relu(<x_i, x> - 1)], which interpolates when no cap holds another point
    s = 0.5 * (1 - (X @ X.T - 2 * torch.eye(10, dtype=X.dtype)).max().item())
    W = torch.cat([X, X])
    b = torch.cat([torch.full((10,), -(1 - s)), torch.full((10,), -1.0)]).to(X.dtype)
    a = torch.cat([y / s, -y / s])
    warm = TwoLayer.from_tensors(W, a, b, members=[{"width": 20, "seed": 99}])
    with torch.no_grad():
        assert torch.allclose(warm(X)[0], y, atol=1e-12)
    fam = TwoLayer(6, [20], seeds=[0], dtype=torch.float64)
    res = smoothest_fit(
        fam, X, y, BelowNoise(0.5, noise_level=1.0), penalty="averaged", strengths=(1e-2,),
        warm_start=warm, fit_steps=300, steps=100, stages=1, polish_steps=100, lr=1e-2,
        n_support=16,
    )  # fmt: skip
    warm_rows = [r for r in res.table if r["warm_start"]]
    assert len(warm_rows) == 2 and {r["base"] for r in warm_rows} == {1}
    untouched = next(r for r in warm_rows if r["penalty"] is None)
    assert untouched["mse"] < 1e-15 and untouched["fits"]
    expected = certified_bounds(warm).best[0]
    assert untouched["upper"] == pytest.approx(expected)
    assert [r["base"] for r in res.best] == [0, 1] and res.best[1]["seed"] == 99


def test_bad_input():
    X, y = sphere_data(10, 3)
    fam = TwoLayer(3, [4], seeds=[0])
    with pytest.raises(ValueError, match="strengths"):
        smoothest_fit(fam, X, y, Interpolate(), strengths=(0.0,))
    with pytest.raises(ValueError, match="margin"):
        smoothest_fit(fam, X, y, Interpolate(), margin=1.0)
    with pytest.raises(ValueError, match="penalty must be one of"):
        smoothest_fit(fam, X, y, Interpolate(), penalty="lipsdp")
    with pytest.raises(ValueError, match="shared data"):
        smoothest_fit(fam, X, y[:5], Interpolate())
    with pytest.raises(TypeError, match="TwoLayer"):
        smoothest_fit(torch.nn.Linear(3, 1), X, y, Interpolate())
    with pytest.raises(ValueError, match="cannot be met"):
        smoothest_fit(fam, X, y, BelowNoise(0.1), noise_level=0.05)
