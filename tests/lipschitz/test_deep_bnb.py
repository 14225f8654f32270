"""Branch and bound over the activation patterns of deep relu / leaky-relu stacks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_deep import brute_force  # the same directory (pytest puts it on the path)
from torch import nn

import robustlaw.lipschitz as L
from robustlaw._pl.deep_bnb import deep_bnb
from robustlaw._pl.deep_sdp import SDPProblem, minimize
from robustlaw.lipschitz import testing as T
from robustlaw.lipschitz.deep import deep_nets
from robustlaw.lipschitz.domain import witness_value
from robustlaw.lipschitz.lipsdp import lipsdp_matrix


def _net(d: int, widths: list[int], seed: int, leaky: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    prev = d
    for w in widths:
        layers += [nn.Linear(prev, w), nn.LeakyReLU(0.1) if leaky else nn.ReLU()]
        prev = w
    layers.append(nn.Linear(prev, 1))
    return nn.Sequential(*layers).double()


small_nets = st.tuples(
    st.integers(1, 2),  # d
    st.lists(st.integers(1, 3), min_size=1, max_size=3),  # hidden widths
    st.integers(0, 10_000),  # seed
    st.booleans(),  # leaky relu
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=small_nets)
def test_bnb_equals_brute_force_enumeration(net):
    d, widths, seed, leaky = net
    member = deep_nets(L.as_stack(_net(d, widths, seed, leaky)))[0]
    res = deep_bnb(member)
    truth = brute_force(member)
    assert res.closed
    assert res.lower == pytest.approx(truth, rel=1e-6, abs=1e-12)
    assert res.lower <= res.upper <= truth * (1 + 1e-6) + 1e-12
    if truth > 0:  # the witness lies inside a region of the value
        assert res.x is not None and member.interior(res.x)
        assert member.value(res.x, "rd") == pytest.approx(res.lower, rel=1e-12)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=small_nets)
def test_every_lower_below_bnb_below_every_upper(net):
    d, widths, seed, leaky = net
    model = _net(d, widths, seed, leaky)
    X = torch.randn(20, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    rep = L.estimate(
        model,
        methods=["deep_region_search", "ascent", "grad_random", "lipsdp_schur", "averaged"],
        budget=L.Budget(seconds=20),
        X=X,
    )
    bnb = L.METHODS["deep_bnb"].fn(model, "rd", L.Budget(seconds=20), X=X)
    low = max(r.lower[0] for r in rep.results.values())
    up = min(r.upper[0] for r in rep.results.values())
    assert low <= bnb.upper[0] * (1 + 1e-9)
    assert bnb.lower[0] <= up * (1 + 1e-9)
    assert bnb.lower[0] <= bnb.upper[0]
    w = bnb.witnesses[0]
    if w is not None:  # the witness recomputes to the reported lower bound
        stack = L.as_stack(model)
        assert witness_value(stack, 0, w, "rd") == pytest.approx(bnb.lower[0], rel=1e-12)


def test_unpinned_problem_is_lipsdp_and_pinned_bounds_cover_their_patterns():
    """With every unit free the node problem is LipSDP-Neuron's matrix; with units pinned
    its certified bound is above ||g|| of every pattern that agrees with the pins."""
    member = deep_nets(L.as_stack(_net(3, [4, 3], 7)))[0]
    slopes = [(0.0, 1.0), (0.0, 1.0)]
    lam = np.random.default_rng(0).uniform(0.5, 2.0, member.units)
    prob = SDPProblem(member.Ws, member.v, slopes)
    ref = lipsdp_matrix(list(member.Ws), member.v, slopes, [lam[:4], lam[4:]], 0.0)
    assert np.allclose(prob.matrix(lam), ref, rtol=1e-12, atol=1e-12)
    pinned = np.full(member.units, np.nan)
    pinned[[0, 5]] = [1.0, 0.0]
    node = SDPProblem(member.Ws, member.v, slopes, pinned)
    bound = node.certify(minimize(node, node.start(), None, 200)[0])
    worst = 0.0
    for bits in itertools.product([False, True], repeat=member.units):
        s = np.array(bits)
        if s[0] and not s[5]:
            worst = max(worst, float(np.linalg.norm(member.region(s).g)))
    assert worst <= bound * (1 + 1e-9)


def test_family_result_equals_per_member_results():
    nets = [_net(2, [3, 3], s) for s in (1, 2)]
    together = L.METHODS["deep_bnb"].fn(nets, "rd", L.Budget(seconds=30))
    for b, net in enumerate(nets):
        alone = L.METHODS["deep_bnb"].fn(net, "rd", L.Budget(seconds=30))
        assert together.status[b] == alone.status[0] == "ok"
        assert together.lower[b] == pytest.approx(alone.lower[0], rel=1e-6)
        assert together.upper[b] == pytest.approx(alone.upper[0], rel=1e-6)


def test_bnb_keeps_the_contract():
    T.check_method("deep_bnb", examples=3)


def test_bad_settings_are_named():
    net = _net(2, [3, 3], 0)
    with pytest.raises(ValueError, match="node_iter"):
        L.METHODS["deep_bnb"].fn(net, "rd", L.Budget(seconds=1), settings={"node_iter": 0})
    with pytest.raises(ValueError, match="unknown keys"):
        L.METHODS["deep_bnb"].fn(net, "rd", L.Budget(seconds=1), settings={"nodes": 3})
