"""The entry point: method groups, per-member combination, records, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import robustlaw.lipschitz as L
from robustlaw.lipschitz import Budget, LipschitzReport, estimate
from robustlaw.lipschitz.estimate import resolve_methods
from robustlaw.lipschitz.testing import brute_force_rd, random_family

FAST = {
    "ascent": {"steps": 10, "n_starts": 8},
    "grad_random": {"n_points": 1000},
    "grad_convex": {"n_points": 1000},
}


def data(d: int, n: int = 20) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def report() -> tuple[LipschitzReport, list[float]]:
    fam = random_family(2, [6, 4, 5], 21)
    truth = [brute_force_rd(fam, b) for b in range(fam.B)]
    rep = estimate(fam, "R^d", ("lower", "upper"), Budget(seconds=20), X=data(2), options=FAST)
    return rep, truth


def test_report_brackets_the_truth_and_names_the_methods(report):
    rep, truth = report
    assert rep.B == 3 and rep.domain == "rd"
    assert (rep.lower <= np.array(truth) * (1 + 1e-9)).all()
    assert (rep.upper >= np.array(truth) * (1 - 1e-9)).all()
    assert rep.consistent.all()
    for b in range(rep.B):
        assert rep.lower_method[b] in L.DEFAULT_LOWER
        assert rep.upper_method[b] in L.DEFAULT_UPPER
        w = rep.witness(b)
        assert L.witness_value(random_family(2, [6, 4, 5], 21), b, w, "rd") == pytest.approx(
            rep.lower[b], rel=1e-9
        )
    np.testing.assert_allclose(rep.ratio, rep.upper / rep.lower)
    # LipSDP is skipped on two-layer networks unless named, and says so.
    assert rep.results["lipsdp"].status[0].startswith("not_applicable: skipped")


def test_interval_closes_to_the_exact_value_on_small_nets(report):
    rep, truth = report
    closed = ~np.isnan(rep.exact)
    assert closed.any()  # pattern enumeration meets region search on these tiny nets
    np.testing.assert_allclose(rep.exact[closed], np.array(truth)[closed], rtol=1e-6)


def test_records_are_plain_and_round_trip(report):
    rep, _ = report
    records = rep.to_records()
    assert len(records) == rep.B
    text = json.dumps(records)  # plain data only (inf is a float)
    back = LipschitzReport.from_records(json.loads(text))
    np.testing.assert_array_equal(back.lower, rep.lower)
    np.testing.assert_array_equal(back.upper, rep.upper)
    assert back.lower_method == rep.lower_method and back.members == rep.members
    assert records[0]["member_info"] == {"width": 6}
    assert set(records[0]["methods"]) == set(rep.results)


def test_groups_expand_and_unknown_names_fail():
    names = resolve_methods(["upper", "grad_data", "lower"])
    assert names.index("grad_data") < names.index("spectral")  # lower bounds run first
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="unknown Lipschitz method 'magic'"):
        resolve_methods(["magic"])
    with pytest.raises(ValueError, match="methods must be"):
        resolve_methods([])


def test_exact_group_is_used_and_skipped_with_a_status_where_it_does_not_apply():
    fam = random_family(2, [5], 3)
    rep = estimate(fam, "rd", ("exact", "grad_random"), Budget(seconds=10))
    assert rep.results["exact"].kind == "exact"
    assert rep.exact[0] == pytest.approx(brute_force_rd(fam, 0), rel=1e-6)
    smooth = estimate(random_family(2, [5], 3, "tanh"), "rd", ("exact",), Budget(seconds=10))
    assert smooth.results["exact"].status[0].startswith("not_applicable")


def test_report_intervals_carry_the_closing_rule():
    rep = estimate(random_family(2, [5], 3), "rd", ("exact",), Budget(seconds=10))
    interval = rep.interval(0)
    assert interval.lower_method == interval.upper_method == "exact"
    assert interval.closed and interval.exact == rep.exact[0]
    assert L.is_closed(1.0, 1.0 + 1e-7) and not L.is_closed(1.0, 1.0 + 1e-5)
    assert not L.is_closed(0.0, math.inf)
    assert L.Interval(2.0, 3.0, "a", "b").ratio == 1.5 and L.Interval(2.0, 3.0).exact is None


def test_deep_module_runs_lipsdp_when_small():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    rep = estimate(net, "ball", "upper", Budget(seconds=30))
    res = rep.results["lipsdp"]
    assert res.status == ["ok"]
    assert rep.upper[0] <= rep.results["spectral"].upper[0]
    for name in ("pattern_enum", "pattern_sdp"):  # two-layer only
        assert rep.results[name].status[0].startswith("not_applicable")


def test_a_failing_method_is_reported_not_raised(monkeypatch):
    spec = L.METHODS["averaged"]

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(L.METHODS, "averaged", spec.__class__(**{**spec.__dict__, "fn": broken}))
    rep = estimate(random_family(2, [3], 0), "rd", ("averaged", "spectral"), Budget(seconds=5))
    assert rep.results["averaged"].status[0] == "solver_failed: RuntimeError: boom"
    assert math.isinf(rep.results["averaged"].upper[0])
    assert math.isfinite(rep.upper[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain": "torus"}, "domain"),
        ({"methods": ("lower", "nope")}, "nope"),
        ({"budget": Budget(seconds=1.0), "X": np.zeros((4, 3))}, r"X must have shape"),
        ({"X": np.full((4, 2), np.nan)}, "finite"),
        ({"seed": -1}, "seed"),
        ({"options": {"nope": {}}}, "nope"),
    ],
)
def test_bad_input_raises_value_error_naming_it(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate(random_family(2, [3], 0), **{"methods": ("spectral",), **kwargs})


def test_negative_budget_and_nan_weights_raise():
    with pytest.raises(ValueError, match="budget seconds"):
        estimate(random_family(2, [3], 0), budget=Budget(seconds=-1))
    fam = random_family(2, [3], 0)
    with torch.no_grad():
        fam.b[0, 0] = math.nan
    with pytest.raises(ValueError, match="finite"):
        estimate(fam, methods="upper")
