"""Cells, fit-range rules and verdicts on synthetic records with known slopes."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from analysis_synthetic import (
    LOWER_FACTOR,
    UPPER_FACTOR,
    rf_ntk_records,
    two_layer_records,
    universal_records,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlaw.analysis import (
    RANGE_RULES,
    assess,
    fit_power_law,
    fitted_mask,
    heatmap_table,
    in_fit_range,
    smoothest_fits,
)
from robustlaw.analysis.verdicts import Relation

STATEMENT = re.compile(
    r"^(lower bound|upper bound|exact|sensitivity): slope -?\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\] "
    r"vs predicted -?\d+\.\d\d → (consistent|inconsistent) at 95%"
)


def _by(verdicts, relation, quantity):
    return [v for v in verdicts if v.relation == relation and v.quantity == quantity]


# --------------------------------------------------------------------------- cells


def test_smoothest_fit_hand_computed():
    base = {"experiment": "e", "n": 10, "d": 2, "width": 4, "p": 16, "seed": 0, "status": "done"}
    records = pd.DataFrame(
        [
            {**base, "fit_reached": True, "lip_lower": 2.0, "lip_upper": 5.0, "lip_exact": np.nan},
            {**base, "fit_reached": True, "lip_lower": 3.0, "lip_upper": 4.0, "lip_exact": np.nan},
            {**base, "fit_reached": True, "lip_lower": 1.0, "lip_upper": 9.0, "lip_exact": 2.5},
            {**base, "fit_reached": False, "lip_lower": 0.1, "lip_upper": 0.2, "lip_exact": 0.1},
            {**base, "status": "failed", "fit_reached": True, "lip_lower": 0.01, "lip_upper": 0.01},
            {**base, "seed": 1, "fit_reached": True, "lip_lower": 1.0, "lip_upper": np.nan},
            {**base, "seed": 1, "fit_reached": True, "lip_lower": np.nan, "lip_upper": 3.0},
        ]
    )
    cells = smoothest_fits(records).set_index("seed")
    # seed 0: member 3 is proven 2.5, replacing its bounds; member 4 did not fit; 5 failed.
    assert cells.loc[0, "lip_lower"] == 2.0  # min(2, 3, 2.5)
    assert cells.loc[0, "lip_upper"] == 2.5  # min(5, 4, 2.5)
    assert math.isnan(cells.loc[0, "lip_exact"])  # not every fitted member is proven
    assert (cells.loc[0, "n_members"], cells.loc[0, "n_fitted"]) == (4, 3)
    # seed 1: one member has no lower bound, so the minimum is unknown; any upper bounds it.
    assert math.isnan(cells.loc[1, "lip_lower"])
    assert cells.loc[1, "lip_upper"] == 3.0
    assert cells.loc[0, "n_over_k"] == 2.5 and cells.loc[0, "d_eff"] == 2


def test_unfit_members_never_lower_a_cell():
    records = two_layer_records()
    cells = smoothest_fits(records)
    fitted = records.loc[records["fit_reached"]]
    expected = fitted.groupby(["n", "width", "seed"])["lip_upper"].min()
    got = cells.loc[cells["fit_reached"]].set_index(["n", "width", "seed"])["lip_upper"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


def test_fit_reached_derived_when_not_recorded():
    records = universal_records().drop(columns=["fit_reached"])
    records.loc[records.index[:3], "train_mse"] = 0.95  # above sigma^2 - eps = 0.9
    mask, how = fitted_mask(records)
    assert not mask.iloc[:3].any() and mask.iloc[3:].all()
    assert "noise_level − eps" in how


def test_heatmap_marks_no_fit_and_not_run():
    cells = smoothest_fits(two_layer_records())
    grid = heatmap_table(cells, "lip_upper")
    assert grid.loc[256, 4] == math.inf  # ran, below n/d/2: nothing fits
    assert math.isnan(grid.loc[1024, 4])  # never run
    manual = cells.loc[(cells["n"] == 512) & (cells["width"] == 64), "lip_upper"].median()
    assert grid.loc[512, 64] == pytest.approx(manual)


# --------------------------------------------------------------------------- rules


def test_two_layer_rule_keeps_exactly_n_over_d_to_n():
    cells = smoothest_fits(two_layer_records())
    inside = in_fit_range(cells)
    n, d, k = cells["n"], cells["d"], cells["width"]
    expected = (n / d <= k) & (k <= n) & cells["fit_reached"]
    pd.testing.assert_series_equal(inside, expected, check_names=False)
    verdict = _by(assess(two_layer_records()), "Lip vs n/k", "lip_upper")[0]
    assert verdict.x_range == (pytest.approx(1.0), pytest.approx(16.0))  # 1 <= n/k <= d
    assert verdict.n_in_range == int(expected.sum())
    assert "n/d ≤ k ≤ n" in verdict.rule and "fit_reached" in verdict.rule


def test_rule_matters_fitting_everything_biases_the_slope():
    records = two_layer_records()
    cells = smoothest_fits(records)
    everything = cells.loc[cells["fit_reached"]]
    biased = fit_power_law(
        everything["n_over_k"], everything["lip_upper"], everything["seed"], n_resamples=500
    )
    assert not biased.covers(0.5)  # the flat ends outside n/d <= k <= n flatten the slope
    assert biased.slope < 0.4
    verdict = _by(assess(records), "Lip vs n/k", "lip_upper")[0]
    assert verdict.verdict == "consistent"


# --------------------------------------------------------------------------- verdicts


def test_slope_one_half_is_consistent_with_the_two_layer_law():
    verdicts = assess(two_layer_records(exact=True))
    for quantity in ("lip_lower", "lip_upper", "lip_exact"):
        (verdict,) = _by(verdicts, "Lip vs n/k", quantity)
        assert verdict.verdict == "consistent", verdict.statement
        assert verdict.predicted_slope == pytest.approx(0.5, abs=1e-12)
        assert STATEMENT.match(verdict.statement), verdict.statement
        assert verdict.fit.method == "BCa" and verdict.fit.n_seeds == 6
    at_fixed_n = _by(verdicts, "Lip vs k at fixed n", "lip_upper")
    assert sorted(dict(v.group)["n"] for v in at_fixed_n) == [256, 512, 1024]
    for verdict in at_fixed_n:
        # One fit per n over 5 widths: the slope is -1/2 up to the point noise.
        assert verdict.predicted_slope == pytest.approx(-0.5, abs=1e-12)
        assert verdict.fit.slope == pytest.approx(-0.5, abs=0.05)


def test_slope_one_fifth_is_inconsistent():
    verdicts = assess(two_layer_records(slope=0.2))
    for quantity in ("lip_lower", "lip_upper"):
        (verdict,) = _by(verdicts, "Lip vs n/k", quantity)
        assert verdict.verdict == "inconsistent"
        assert verdict.fit.slope_ci[1] < 0.5
        assert "vs predicted 0.50 → inconsistent at 95%" in verdict.statement


def test_two_seeds_give_insufficient_data_with_the_reason():
    verdicts = assess(two_layer_records(seeds=(0, 1)))
    (verdict,) = _by(verdicts, "Lip vs n/k", "lip_upper")
    assert verdict.verdict == "insufficient data"
    assert "2 seed(s)" in verdict.reason and "need ≥ 3" in verdict.reason
    assert verdict.fit.method == "percentile"
    assert "2 seeds give only 3 distinct resamples" in verdict.fit.method_reason
    # With two seeds allowed, the verdict stands on a percentile interval and says so.
    (allowed,) = _by(
        assess(two_layer_records(seeds=(0, 1)), min_seeds=2), "Lip vs n/k", "lip_upper"
    )
    assert allowed.verdict in ("consistent", "inconsistent")
    assert "percentile interval: 2 seeds" in allowed.statement


def test_gap_is_the_median_upper_over_lower():
    (verdict,) = _by(assess(two_layer_records()), "Lip vs n/k", "lip_upper")
    assert verdict.gap_median == pytest.approx(UPPER_FACTOR / LOWER_FACTOR, rel=0.03)


def test_universal_law_predictions_come_from_theory():
    verdicts = assess(universal_records())
    (verdict,) = _by(verdicts, "Lip vs p", "lip_upper")
    assert verdict.predicted_slope == pytest.approx(-0.5, abs=1e-12)
    assert verdict.verdict == "consistent"
    # Theorem 3's bound has log terms: its local slope is close to, not exactly, -1/2,
    # and at n = 512 its sample-size hypothesis fails.
    assert -0.5 < verdict.rigorous_slope < -0.45
    assert not verdict.rigorous_applies
    assert "n ≤ p ≤ n·d_eff" in verdict.rule
    # p ranges over the two-layer counts k (d + 2) inside [n, n d].
    assert verdict.x_range == (18 * 32, 18 * 256)


def test_sensitivity_verdicts_per_family_and_activation():
    verdicts = assess(rf_ntk_records())
    by_group = {(dict(v.group)["family"], dict(v.group)["activation"]): v for v in verdicts}
    # NTK with cos follows sqrt(nd/p) in the synthetic data, the others plateau.
    assert by_group[("ntk", "cos")].fit.slope == pytest.approx(-0.5, abs=0.05)
    assert by_group[("random_features", "tanh")].verdict == "inconsistent"
    # The rule n < p <= n d keeps p = 400 ... 3200 (n = 200, d = 20): not the threshold p = n.
    assert all(v.x_range == (400, 3200) for v in verdicts)
    assert by_group[("ntk", "tanh")].fit.slope > -0.2
    assert all(v.quantity == "sensitivity" for v in verdicts)
    assert all("estimate" in v.certification for v in verdicts)


def test_relation_without_variation_is_not_tested():
    verdicts = assess(universal_records())
    assert {v.relation for v in verdicts} == {"Lip vs p"}  # n and d never vary


def test_missing_optional_columns_are_handled():
    records = two_layer_records().drop(
        columns=["lip_exact", "lip_upper_method", "fit_seconds", "lip_seconds", "spec_name"]
    )
    verdicts = assess(records)
    assert {v.quantity for v in verdicts} == {"lip_lower", "lip_upper"}
    no_seed = assess(records.drop(columns=["seed"]))
    assert all(v.verdict == "insufficient data" for v in no_seed)
    assert all("no seed column" in v.reason for v in no_seed)


def test_nothing_in_range_says_so():
    records = two_layer_records()
    records = records.loc[records["width"] > records["n"]]
    verdicts = assess(records)
    assert verdicts and all(v.verdict == "insufficient data" for v in verdicts)
    assert all("fit-range rule" in v.reason for v in verdicts)


def test_custom_relation_and_to_dict_is_json():
    relation = Relation(
        "two_layer_law", "Lip vs n/k", "n_over_k", "n/k", ("d",), ("lip_upper",), "two_layer"
    )
    (verdict,) = assess(two_layer_records(), relations=[relation], n_resamples=500)
    payload = json.loads(json.dumps(verdict.to_dict()))
    assert payload["group"] == {"d": 16}
    assert payload["fit"]["n_seeds"] == 6
    assert payload["verdict"] == "consistent"


def test_bad_input():
    with pytest.raises(TypeError, match="records must be a pandas DataFrame"):
        assess([{"experiment": "x"}])
    with pytest.raises(ValueError, match="status"):
        assess(pd.DataFrame({"experiment": ["x"]}))
    with pytest.raises(ValueError, match="min_seeds"):
        assess(two_layer_records(), min_seeds=1)
    assert set(RANGE_RULES) == {"two_layer_law", "universal_law", "real_data", "rf_ntk"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 10.0),  # true Lip of the member
            st.floats(0.1, 1.0),  # lower = fraction of it
            st.floats(1.0, 5.0),  # upper = multiple of it
            st.booleans(),  # exact proven
            st.booleans(),  # fit reached
        ),
        min_size=1,
        max_size=5,
    )
)
def test_cell_interval_contains_the_smallest_fitted_lipschitz_constant(members):
    rows = [
        {
            "experiment": "e",
            "status": "done",
            "n": 8,
            "width": 4,
            "seed": 0,
            "fit_reached": fits,
            "lip_lower": lip * low,
            "lip_upper": lip * high,
            "lip_exact": lip if exact else np.nan,
        }
        for lip, low, high, exact, fits in members
    ]
    cell = smoothest_fits(pd.DataFrame(rows)).iloc[0]
    fitted = [m for m in members if m[4]]
    if not fitted:
        assert not cell["fit_reached"] and math.isnan(cell["lip_upper"])
        return
    smallest = min(m[0] for m in fitted)
    assert cell["lip_lower"] <= smallest * (1 + 1e-12)
    assert smallest <= cell["lip_upper"] * (1 + 1e-12)
    if all(m[3] for m in fitted):
        assert cell["lip_exact"] == pytest.approx(smallest)
    else:
        assert math.isnan(cell["lip_exact"])
    shuffled = smoothest_fits(pd.DataFrame(rows[::-1])).iloc[0]
    for column in ("lip_lower", "lip_upper", "lip_exact"):
        assert shuffled[column] == cell[column] or (
            math.isnan(shuffled[column]) and math.isnan(cell[column])
        )


def test_stored_flags_and_string_seeds():
    records = two_layer_records()
    records["seed"] = records["seed"].map(lambda s: f"seed-{s}")
    records["fit_reached"] = records["fit_reached"].map({True: "true", False: "0"})
    (verdict,) = _by(assess(records), "Lip vs n/k", "lip_upper")
    assert verdict.verdict == "consistent"
    assert verdict.fit.seeds == tuple(f"seed-{s}" for s in range(6))


def test_variation_across_seeds_only_is_not_a_scan():
    """An intrinsic dimension estimated per seed varies between curves, not along them."""
    records = universal_records()
    jitter = np.random.default_rng(0).normal(0, 0.1, records["seed"].nunique())
    records["intrinsic_dim"] = 7.0 + jitter[records["seed"].to_numpy()]
    verdicts = assess(records)
    assert {v.relation for v in verdicts} == {"Lip vs p"}
    assert all(v.verdict == "consistent" for v in verdicts)
    # The theory line uses the intrinsic dimension: the window n <= p <= n d_eff shrinks.
    assert verdicts[0].x_range[1] <= 512 * 7.3


def test_nullable_dtypes_as_stores_return_them():
    """Int64 / Float64 / boolean columns with <NA> give the same verdicts as plain ones."""
    plain = two_layer_records()
    nullable = plain.copy()
    for column in ("n", "d", "width", "p", "seed"):
        nullable[column] = nullable[column].astype("Int64")
    for column in ("lip_lower", "lip_upper", "lip_exact", "eps", "train_mse"):
        nullable[column] = nullable[column].astype("Float64")
    nullable["fit_reached"] = nullable["fit_reached"].astype("boolean")
    nullable["depth"] = pd.array([pd.NA] * len(nullable), dtype="Int64")
    unfit = ~plain["fit_reached"]
    nullable.loc[unfit, "fit_reached"] = pd.NA  # missing counts as not reached
    expected = [v.statement for v in assess(plain, n_resamples=500)]
    assert [v.statement for v in assess(nullable, n_resamples=500)] == expected
