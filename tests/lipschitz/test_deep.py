"""Deep relu stacks: region search, region enumeration and LipSDP on its multipliers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import robustlaw.lipschitz as L
from robustlaw._pl import chebyshev
from robustlaw._pl.deep import DeepNet, enumerate_regions
from robustlaw.lipschitz.deep import deep_nets
from robustlaw.lipschitz.domain import witness_value


def _net(d: int, widths: list[int], seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    prev = d
    for w in widths:
        layers += [nn.Linear(prev, w), nn.ReLU()]
        prev = w
    layers.append(nn.Linear(prev, 1))
    return nn.Sequential(*layers).double()


def brute_force(net: DeepNet) -> float:
    """max ||g|| over every pattern in {0, 1}^N whose region has an interior (by the
    Chebyshev LP of its rows), the definition of Lip on R^d for a relu stack."""
    best = 0.0
    for bits in itertools.product([False, True], repeat=net.units):
        reg = net.region(np.array(bits))
        G, h = reg.sides()
        live = np.abs(G).sum(axis=1) > 0
        if (h[~live] < 0).any():
            continue
        x, _ = chebyshev(G[live], h[live], cap=1e3) if live.any() else (np.zeros(net.d), 1.0)
        if x is not None:
            best = max(best, float(np.linalg.norm(reg.g)))
    return best


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    d=st.integers(1, 2),
    widths=st.lists(st.integers(1, 4), min_size=2, max_size=2),
    seed=st.integers(0, 10_000),
)
def test_enumeration_equals_brute_force(d, widths, seed):
    net = deep_nets(L.as_stack(_net(d, widths, seed)))[0]
    res = enumerate_regions(net, np.zeros(d))
    assert res.complete
    truth = brute_force(net)
    assert res.value == pytest.approx(truth, rel=1e-9, abs=1e-12)
    if res.x is not None:  # the witness recomputes to the value of its region
        assert net.value(res.x, "rd") <= truth * (1 + 1e-9)


def test_enumeration_finds_a_sliver_region_far_from_the_origin():
    # its best region is a sliver about 1e6 from the origin, thinner there than a fixed
    # step across a neighbouring facet: stepping over it missed the Lipschitz constant
    net = deep_nets(L.as_stack(_net(2, [3, 6], 499)))[0]
    res = enumerate_regions(net, np.zeros(2))
    assert res.complete
    assert res.value == pytest.approx(brute_force(net), rel=1e-9)
    assert net.value(res.x, "rd") == pytest.approx(res.value, rel=1e-9)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    d=st.integers(1, 2),
    widths=st.lists(st.integers(2, 6), min_size=2, max_size=3),
    seed=st.integers(0, 10_000),
)
def test_lower_below_exact_below_upper(d, widths, seed):
    net = _net(d, widths, seed)
    X = torch.randn(20, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    report = L.estimate(
        net,
        methods=["deep_region_search", "ascent", "deep_exact", "lipsdp_schur", "averaged"],
        budget=L.Budget(seconds=60),  # the whole call: the exact method runs last
        X=X,
    )
    # ground truth by region enumeration, run on its own: inside estimate the exact method is
    # skipped when the other methods have already closed the interval
    exact = L.METHODS["deep_exact"].fn(net, "rd", L.Budget(seconds=60))
    assert exact.proven[0]
    value = exact.upper[0]
    assert report.results["deep_exact"].status[0] in ("ok", "skipped: interval closed")
    for name, res in report.results.items():
        assert res.lower[0] <= value * (1 + 1e-9), name
        assert res.upper[0] >= value * (1 - 1e-9), name
        w = res.witnesses[0] if res.witnesses else None
        if w is not None:  # witnesses verified by recomputation on the module
            assert witness_value(net, 0, w, "rd") == pytest.approx(res.lower[0], rel=1e-12)


@pytest.mark.parametrize("domain", ["rd", "ball", "sphere"])
def test_search_climbs_above_the_data_on_every_domain(domain):
    net = _net(3, [12, 12, 12], 3)
    X = torch.randn(30, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True) if domain != "rd" else X
    data = L.data_lower_bound(net, domain, X=X).lower[0]
    res = L.METHODS["deep_region_search"].fn(net, domain, L.Budget(seconds=3), X=X)
    upper = L.METHODS["lipsdp_schur"].fn(net, domain, L.Budget(seconds=5)).upper[0]
    assert data <= res.lower[0] <= upper
    assert res.lower[0] > data * (1 + 1e-6)
    w = res.witnesses[0]
    assert witness_value(net, 0, w, domain) == pytest.approx(res.lower[0], rel=1e-12)


def test_schur_lipsdp_matches_the_sdp_solver():
    pytest.importorskip("cvxpy")
    net = _net(4, [8, 8, 8], 1)
    schur = L.METHODS["lipsdp_schur"].fn(net, "rd", L.Budget(seconds=30))
    sdp = L.lipsdp_bound(net, "rd", L.Budget(seconds=60), solver="CLARABEL")
    assert schur.status[0] == "ok" and sdp.status[0] == "ok"
    # both are certified values of the same SDP: neither can be far below its optimum
    assert schur.upper[0] >= sdp.upper[0] * (1 - 1e-4)
    assert schur.upper[0] <= sdp.upper[0] * 1.02


def test_deep_exact_refuses_high_dimension_and_smooth_activations():
    net = _net(5, [3, 3], 0)
    assert L.METHODS["deep_exact"].fn(net).status[0].startswith("not_applicable")
    smooth = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1))
    res = L.METHODS["deep_region_search"].fn(smooth.double())
    assert res.status[0].startswith("not_applicable")
