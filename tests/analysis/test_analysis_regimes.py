"""Regime labels on synthetic records built so that one rule, and only it, fires."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from analysis_synthetic import construction_records, two_layer_records, universal_records

from robustlaw import theory
from robustlaw.analysis import assess
from robustlaw.analysis.regimes import (
    CERTIFICATE_LIMITED,
    DEFAULT_RULES,
    FLOOR_DOMINATED,
    LAW_REGIME,
    NOT_ASSESSED,
    SEARCH_LIMITED,
    RegimeRules,
    log_slope,
    theorem3_eps,
)
from robustlaw.analysis.summary import (
    REGIME_MEANING,
    interval_decimals,
    slope_text,
    summarize,
)

N_RESAMPLES = 999


def _fixed_n(verdicts, quantity):
    return [v for v in verdicts if v.relation == "Lip vs k at fixed n" and v.quantity == quantity]


def test_log_slope_hand_computed():
    assert log_slope(np.array([1.0, 10.0]), np.array([2.0, 20.0])) == pytest.approx(1.0)
    assert log_slope(np.array([1.0, 4.0, 16.0]), np.array([8.0, 4.0, 2.0])) == pytest.approx(-0.5)
    assert math.isnan(log_slope(np.array([3.0, 3.0]), np.array([1.0, 2.0])))


def test_wide_certificates_are_certificate_limited():
    # the synthetic bounds are 0.75 and 1.4 times Lip: a median gap of 1.87 > 1.25
    verdicts = assess(two_layer_records(), n_resamples=N_RESAMPLES)
    for quantity in ("lip_lower", "lip_upper"):
        for v in _fixed_n(verdicts, quantity):
            assert v.verdict != "insufficient data"
            assert v.regime.label == CERTIFICATE_LIMITED
            assert v.gap_median > DEFAULT_RULES.certificate_gap
            assert math.isnan(v.floor.slope) and v.floor.reason  # no floor recorded: said so


def test_tight_certificates_without_confounders_are_in_the_law_regime():
    verdicts = assess(two_layer_records(exact=True), n_resamples=N_RESAMPLES)
    fitted = [v for v in _fixed_n(verdicts, "lip_exact") if v.verdict != "insufficient data"]
    assert fitted
    for v in fitted:
        assert v.regime.label == LAW_REGIME
        assert [c.fired for c in v.regime.checks] == [None, False, None]


def _with_floor(records: pd.DataFrame, floor) -> pd.DataFrame:
    out = records.copy()
    out["lip_floor"] = [floor(row) for _, row in out.iterrows()]
    return out


def test_a_floor_close_to_the_fits_is_floor_dominated():
    records = two_layer_records(exact=True)
    # the fits' exact Lip lies within 1.1x of a floor that is constant along each curve
    cells = records.groupby(["seed", "n"])["lip_exact"].transform("min")
    records["lip_floor"] = cells / 1.1
    verdicts = assess(records, n_resamples=N_RESAMPLES)
    # at each fixed n the fits at the smallest k sit far above the floor: only where the
    # median ratio is <= 1.25 does the rule fire
    for v in _fixed_n(verdicts, "lip_exact"):
        if v.verdict == "insufficient data":
            continue
        assert not v.floor.varies and v.floor.slope == pytest.approx(0.0, abs=1e-9)
        expected = v.floor.upper_ratio <= 1.25
        assert (v.regime.label == FLOOR_DOMINATED) == expected, v.regime


def test_a_floor_moving_with_x_at_the_measured_slope_is_floor_dominated():
    # Lip vs p at fixed n; the floor falls like p^-0.5 too, at a fifth of the fits' value
    records = universal_records().assign(target="interpolate", eps=math.nan, train_mse=0.0)
    records["lip_floor"] = (records["p"] / 4096.0) ** -0.5 / 5.0
    records["lip_lower"] = records["lip_upper"] * 0.99  # tight certificates
    verdicts = [v for v in assess(records, n_resamples=N_RESAMPLES) if v.relation == "Lip vs p"]
    assert verdicts
    for v in verdicts:
        low, high = v.fit.slope_ci
        assert v.floor.varies and v.floor.slope == pytest.approx(-0.5, abs=0.02)
        assert v.floor.upper_ratio > 1.25
        assert (v.regime.label == FLOOR_DOMINATED) == (low <= v.floor.slope <= high)
        # Theorem 3 at the most favourable eps of an exact fit (sigma^2 - MSE = 1, capped)
        status = v.regime.theorem3
        assert status is not None and status.holds_at == () and not status.holds
    # the same records with a flat floor: the floor's slope explains nothing
    flat = records.assign(lip_floor=0.01)
    for v in [v for v in assess(flat, n_resamples=N_RESAMPLES) if v.relation == "Lip vs p"]:
        assert v.regime.label == LAW_REGIME


def test_theorem3_eps_is_the_most_favourable_margin():
    row = pd.Series({"target": "interpolate", "noise_level": 1.0, "train_mse": 0.25})
    assert theorem3_eps(row) == 0.75
    assert theorem3_eps(row.copy().replace(0.25, 0.0)) == math.nextafter(1.0, 0.0)
    assert theorem3_eps(pd.Series({"target": "below_noise", "eps": 0.1})) == 0.1
    assert math.isnan(theorem3_eps(pd.Series({"target": "below_noise", "eps": 1.5})))
    verdicts = assess(universal_records(), n_resamples=N_RESAMPLES)
    status = next(v for v in verdicts if v.relation == "Lip vs p").regime.theorem3
    check = theory.theorem3_hypothesis(512, 0.1, 0.01)
    assert status.min_n == check.min_n and status.eps == 0.1 and not status.holds
    assert f"{check.min_n:,}" in status.text


def _constructions_on(records: pd.DataFrame, factor: float) -> pd.DataFrame:
    """A caps network on each (n, seed) data set of ``records`` with k = n units."""
    rows = []
    for (n, seed), group in records.groupby(["n", "seed"]):
        best = group.loc[group["fit_reached"].astype(bool), "lip_lower"].min()
        base = group.iloc[0].to_dict()
        rows.append(
            {
                **base,
                "experiment": "constructions",
                "spec_name": "constructions",
                "trial_hash": f"caps-{n}-{seed}",
                "family": "caps",
                "activation": None,
                "width": n,
                "fit_reached": True,
                "train_mse": 0.0,
                "lip_lower": best * factor * 0.99,
                "lip_upper": best * factor,
                "lip_exact": math.nan,
            }
        )
    return pd.DataFrame(rows)


def test_a_construction_certified_below_the_fits_makes_them_search_limited():
    records = two_layer_records(exact=True)
    beating = pd.concat([records, _constructions_on(records, 0.5)], ignore_index=True)
    verdicts = assess(records, reference=beating, n_resamples=N_RESAMPLES)
    fitted = [v for v in _fixed_n(verdicts, "lip_exact") if v.verdict != "insufficient data"]
    assert fitted
    for v in fitted:
        # a construction with k = n units beats the fits with k >= n of this n only
        assert v.regime.label == SEARCH_LIMITED, v.regime
        assert "caps" in v.regime.rule
    # certified above the fits' lower bounds: no proof that the search missed anything
    losing = pd.concat([records, _constructions_on(records, 1.5)], ignore_index=True)
    for v in _fixed_n(assess(records, reference=losing, n_resamples=N_RESAMPLES), "lip_exact"):
        if v.verdict != "insufficient data":
            assert v.regime.label == LAW_REGIME
            assert "compared" in v.regime.checks[1].detail


def test_other_data_and_non_relu_constructions_never_compete():
    records = two_layer_records(exact=True)
    others = construction_records()  # other n and d; baum is not a ReLU network
    for v in _fixed_n(assess(records, reference=pd.concat([records, others])), "lip_exact"):
        if v.verdict != "insufficient data":
            assert not v.regime.checks[1].fired


def test_sensitivity_has_no_floor_and_says_so():
    from analysis_synthetic import rf_ntk_records

    for v in assess(rf_ntk_records(), n_resamples=N_RESAMPLES):
        assert v.floor.reason == "no data floor for the sensitivity"
        assert [c.fired for c in v.regime.checks] == [None, None, None]
        assert v.regime.label in (LAW_REGIME, NOT_ASSESSED)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"floor_ratio": 1.0}, ValueError),
        ({"certificate_gap": math.inf}, ValueError),
        ({"certificate_gap": "2"}, TypeError),
        ({"theorem3_delta": 1.0}, ValueError),
    ],
)
def test_rules_reject_bad_values(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        RegimeRules(**kwargs)


def test_rules_are_settings_passed_down():
    strict = RegimeRules(certificate_gap=2.0)
    verdicts = assess(two_layer_records(), n_resamples=N_RESAMPLES, rules=strict)
    for v in _fixed_n(verdicts, "lip_upper"):
        if v.verdict != "insufficient data":
            assert v.regime.label == LAW_REGIME  # a gap of 1.87 is below 2
    with pytest.raises(TypeError, match="rules"):
        assess(two_layer_records(), rules={"certificate_gap": 2.0})


def test_numbers_are_rounded_to_what_the_interval_supports():
    assert interval_decimals(0.28, 0.37) == 2
    assert interval_decimals(0.1, 0.9) == 1
    assert interval_decimals(-0.004, 0.004) == 3
    assert interval_decimals(-30.0, 30.0) == 0
    assert slope_text(0.3241, 0.2812, 0.3688) == "0.32 [0.28, 0.37]"
    assert slope_text(-0.5, -0.9, -0.1) == "−0.5 [−0.9, −0.1]"


def test_summary_names_each_relation_and_its_regime():
    verdicts = assess(two_layer_records(), n_resamples=N_RESAMPLES)
    text = summarize(verdicts)
    for relation in {v.relation for v in verdicts}:
        assert relation in text
    assert CERTIFICATE_LIMITED in text
    assert summarize([]) == "No slope is tested for this experiment."


def test_summary_counts_mixed_outcomes_and_explains_a_regime_once():
    verdicts = assess(two_layer_records(), n_resamples=N_RESAMPLES)
    text = summarize(verdicts)
    assert " / consistent" not in text and "consistent / " not in text
    for label in REGIME_MEANING:
        assert text.count(REGIME_MEANING[label]) <= 1
        assert f"{label} ({label}:" not in text
    assert re.search(r"slope (\S+) to \1 ", text) is None  # a range never reads "a to a"
