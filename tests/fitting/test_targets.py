"""Fit targets: thresholds, noise levels from metadata, targets that cannot be met."""

from __future__ import annotations

import pytest

from robustlaw import data as rd
from robustlaw.fitting import BelowNoise, Interpolate, resolve_threshold


def test_thresholds():
    assert resolve_threshold(Interpolate(1e-4)) == 1e-4
    assert Interpolate().tol == 1e-6
    assert resolve_threshold(BelowNoise(0.1, noise_level=1.0)) == pytest.approx(0.9)
    assert resolve_threshold(BelowNoise(0.25), noise_level=0.5) == pytest.approx(0.25)
    assert resolve_threshold(BelowNoise(0.1), meta={"noise_level": 0.8}) == pytest.approx(0.7)
    # the target's own noise level wins over metadata
    assert resolve_threshold(BelowNoise(0.1, 1.0), meta={"noise_level": 0.5}) == pytest.approx(0.9)


def test_noise_level_from_data_metadata():
    sample = rd.sample("sphere", n=10, d=3, seed=0, labels="random_sign")
    assert resolve_threshold(BelowNoise(0.1), meta=sample.meta) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Interpolate(-1.0), "tol must be >= 0"),
        (lambda: Interpolate(float("nan")), "tol must be a finite number"),
        (lambda: BelowNoise(0.0), "eps must be > 0"),
        (lambda: BelowNoise(-0.1, 1.0), "eps must be > 0"),
        (lambda: BelowNoise(1.0, noise_level=1.0), "cannot be met"),
        (lambda: BelowNoise(0.1, noise_level=0.0), "noise_level must be > 0"),
    ],
)
def test_bad_targets(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_missing_or_insufficient_noise_level():
    with pytest.raises(ValueError, match="needs the noise level"):
        resolve_threshold(BelowNoise(0.1))
    with pytest.raises(ValueError, match="cannot be met"):
        resolve_threshold(BelowNoise(0.5), noise_level=0.3)
    with pytest.raises(TypeError, match="target must be"):
        resolve_threshold(0.1)


def test_to_dict():
    assert BelowNoise(0.1, 1.0).to_dict() == {"kind": "below_noise", "eps": 0.1, "noise_level": 1.0}
    assert Interpolate(1e-3).to_dict() == {"kind": "interpolate", "tol": 1e-3}
