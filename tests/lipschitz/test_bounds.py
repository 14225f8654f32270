"""Individual bounds against closed forms, brute force and each other."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from robustlaw._pl import sdp_certificate as sdp_dual_certificate
from robustlaw.lipschitz import (
    Budget,
    Witness,
    ascent_lower_bound,
    averaged_bound,
    lipsdp_bound,
    pairs_lower_bound,
    path_norm_bound,
    pattern_enum_bound,
    pattern_sdp_bound,
    random_lower_bound,
    region_search,
    spectral_bound,
    witness_value,
)
from robustlaw.lipschitz.lipsdp import certify_lipsdp, lipsdp_matrix, member_layers
from robustlaw.lipschitz.stack import as_stack
from robustlaw.lipschitz.testing import (
    brute_force_circle,
    brute_force_rd,
    pattern_maximum,
    random_family,
)
from robustlaw.models import TwoLayer

UPPERS = [spectral_bound, path_norm_bound, averaged_bound, pattern_enum_bound, pattern_sdp_bound]


def one_unit(a: float, w: list[float], b: float, activation: str = "relu") -> TwoLayer:
    return TwoLayer.from_tensors(
        torch.tensor([w], dtype=torch.float64),
        torch.tensor([a], dtype=torch.float64),
        torch.tensor([b], dtype=torch.float64),
        activation=activation,
    )


@pytest.mark.parametrize("bound", [*UPPERS, lipsdp_bound])
def test_single_unit_closed_form(bound):
    fam = one_unit(-1.5, [0.6, -0.8, 2.0], 0.3)
    expected = 1.5 * math.sqrt(0.36 + 0.64 + 4.0)
    assert bound(fam, "rd", Budget()).upper[0] == pytest.approx(expected, rel=1e-6)
    low = region_search(fam, "rd", Budget()).lower[0]
    assert low == pytest.approx(expected, rel=1e-12)


def test_leaky_relu_averaged_bound_formula():
    fam = random_family(4, [6], 3, activation="leaky_relu")
    W, a = fam.W[0].detach().numpy(), fam.a[0].detach().numpy()
    alpha = 0.01
    expected = 0.5 * (1 + alpha) * np.linalg.norm(W.T @ a) + 0.5 * (1 - alpha) * np.linalg.norm(
        a
    ) * np.linalg.norm(W, 2)
    assert averaged_bound(fam, "rd", Budget()).upper[0] == pytest.approx(expected, rel=1e-8)


@settings(max_examples=10, deadline=None)
@given(d=st.integers(2, 4), seed=st.integers(0, 10_000), bias=st.booleans())
def test_pattern_enumeration_is_exact_when_every_pattern_is_realizable(d, seed, bias):
    # k <= d with W of full rank: every pattern in {0,1}^k is a region. Without biases as
    # well: the regions are cones through the origin and all 2^k orthants are met.
    fam = random_family(d, [d, d - 1], seed, bias=bias)
    res = pattern_enum_bound(fam, "rd", Budget())
    for b in range(fam.B):
        exact = brute_force_rd(fam, b)
        assert res.upper[b] == pytest.approx(exact, rel=1e-8)
        assert res.upper[b] == pytest.approx(pattern_maximum(fam, b), rel=1e-8)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 9), d=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_sdp_dual_certificate_bounds_every_sign_vector(n, d, seed):
    gen = torch.Generator().manual_seed(seed)
    G = torch.randn(1, d, n, generator=gen, dtype=torch.float64)
    lam = torch.rand(1, n, generator=gen, dtype=torch.float64) + 0.05
    value = float(sdp_dual_certificate(G, lam)[0])
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    best = np.linalg.norm(signs @ G[0].numpy().T, axis=1).max()
    assert value >= best * (1 - 1e-12)


@pytest.mark.parametrize(
    ("activation", "skip"), [("relu", False), ("leaky_relu", False), ("relu", True)]
)
def test_pattern_sdp_matches_lipsdp_on_two_layers(activation, skip):
    fam = random_family(5, [7, 5], 2, activation=activation)
    if skip:
        fam = TwoLayer.from_tensors(
            fam.W,
            fam.a,
            fam.b,
            v=torch.randn(2, 5, dtype=torch.float64) * 0.3,
            activation=activation,
            mask=fam.mask,
        )
    fast = pattern_sdp_bound(fam, "rd", Budget(), tol=1e-9)
    sdp = lipsdp_bound(fam, "rd", Budget(), solver="CLARABEL")
    assert sdp.status == ["ok", "ok"] and fast.status == ["ok", "ok"]
    np.testing.assert_allclose(fast.upper, sdp.upper, rtol=2e-5)
    exact = np.array([brute_force_rd(fam, b) for b in range(2)]) if not skip else None
    if exact is not None:
        assert (fast.upper >= exact * (1 - 1e-9)).all()


def test_lipsdp_certificate_is_negative_semidefinite_and_beats_the_product():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1)
    ).double()
    res = lipsdp_bound(net, "rd", Budget(), solver="SCS")
    assert res.status == ["ok"]
    assert res.upper[0] <= spectral_bound(net, "rd", Budget()).upper[0]
    assert res.upper[0] >= ascent_lower_bound(net, "rd", Budget(), steps=20).lower[0]
    info = res.info[0]
    rho = info["rho_certified"]
    assert math.sqrt(rho) == pytest.approx(res.upper[0], rel=1e-12)
    assert info["max_eigenvalue"] <= 0.0


def test_lipsdp_certificate_from_bad_multipliers_is_refused():
    fam = random_family(3, [4], 0)
    Ws, v = member_layers(as_stack(fam), 0)
    value, info = certify_lipsdp(Ws, v, [(0.0, 1.0)], [np.zeros(4)])
    assert value == math.inf and "certificate" in info
    # Large multipliers always certify something (loose but valid).
    value, info = certify_lipsdp(Ws, v, [(0.0, 1.0)], [np.full(4, 10.0)])
    assert math.isfinite(value) and value >= brute_force_rd(fam, 0)
    M = lipsdp_matrix(Ws, v, [(0.0, 1.0)], [np.full(4, 10.0 * info["lam_scale"])], value**2)
    assert np.linalg.eigvalsh(M)[-1] <= 0.0


def test_solver_failure_is_reported_not_raised(monkeypatch):
    import cvxpy as cp

    def boom(self, *args, **kwargs):
        raise cp.error.SolverError("numerical trouble")

    monkeypatch.setattr(cp.Problem, "solve", boom)
    res = lipsdp_bound(random_family(3, [4, 3], 1), "rd", Budget())
    assert all(s.startswith("solver_failed") for s in res.status)
    assert np.isinf(res.upper).all()


def test_linear_network_is_exact_everywhere():
    net = nn.Sequential(nn.Linear(3, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0, -4.0]]))
    for bound in (spectral_bound, path_norm_bound, averaged_bound):
        assert bound(net, "rd", Budget()).upper[0] == pytest.approx(5.0)
    assert random_lower_bound(net, "sphere", Budget(), n_points=2000).lower[0] > 4.9


def test_sphere_tangential_gradient_of_a_linear_function():
    # f(x) = <u, x> = relu(<u, x>) - relu(-<u, x>): on the sphere the gradient at
    # x = u / |u| is radial (tangential norm 0); at <u, x> = 5 c it has tangential norm
    # 5 sqrt(1 - c^2), so Lip on the sphere is |u| = 5 (approached as c -> 0; at c = 0
    # both units sit on their kink and the point is no witness).
    u = torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    fam = TwoLayer.from_tensors(
        torch.stack([u, -u]), torch.tensor([1.0, -1.0], dtype=torch.float64)
    )
    radial = Witness(x=np.array([0.6, 0.8, 0.0]), value=0.0)
    c = 0.1
    across = Witness(x=c * np.array([0.6, 0.8, 0.0]) + math.sqrt(1 - c * c) * np.eye(3)[2], value=0)
    on_kink = Witness(x=np.array([-0.8, 0.6, 0.0]), value=0.0)
    assert witness_value(fam, 0, radial, "sphere") == pytest.approx(0.0, abs=1e-12)
    assert witness_value(fam, 0, across, "sphere") == pytest.approx(5 * math.sqrt(1 - c * c))
    assert witness_value(fam, 0, on_kink, "sphere") == 0.0
    assert witness_value(fam, 0, radial, "rd") == pytest.approx(5.0)
    for method in (region_search, random_lower_bound, ascent_lower_bound):
        res = method(fam, "sphere", Budget())
        assert res.lower[0] == pytest.approx(5.0, rel=1e-6)
    for bound in UPPERS:
        assert bound(fam, "sphere", Budget()).upper[0] >= 5.0 * (1 - 1e-12)


@settings(max_examples=8, deadline=None)
@given(d=st.integers(1, 3), k=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_region_search_reaches_the_exact_value_on_small_nets(d, k, seed):
    fam = random_family(d, [k], seed)
    exact = brute_force_rd(fam, 0)
    assert region_search(fam, "rd", Budget()).lower[0] >= 0.99 * exact
    if d == 2:
        circle = brute_force_circle(fam, 0)
        assert region_search(fam, "sphere", Budget()).lower[0] >= 0.99 * circle


def test_pairs_see_the_jump_of_a_discontinuous_network():
    fam = TwoLayer.from_tensors(
        torch.tensor([[1.0, 0.0]], dtype=torch.float64),
        torch.tensor([1.0], dtype=torch.float64),
        activation="threshold",
    )
    X = torch.tensor([[-0.5, 0.1], [0.5, 0.2], [1e-5, 0.0]], dtype=torch.float64)
    res = pairs_lower_bound(fam, "rd", Budget(), X=X)
    assert res.lower[0] > 1e3  # a jump of 1 within a short pair
    assert np.isinf(spectral_bound(fam, "rd", Budget()).upper).all()
    assert res.status == ["ok"] and spectral_bound(fam, "rd", Budget()).status[0].startswith(
        "not_applicable"
    )


def test_constant_network_has_lipschitz_zero():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net[2].bias.fill_(2.0)
    for bound in [*UPPERS, lipsdp_bound]:
        res = bound(net, "rd", Budget())
        assert res.upper[0] == pytest.approx(0.0, abs=1e-12), bound.__name__
    assert region_search(net, "rd", Budget()).lower[0] == 0.0


def test_deep_chain_of_single_units_closed_form():
    # f(x) = a relu(w2 relu(w1 . x + b1) + b2): Lip = |a| |w2| |w1| when both units can
    # be active together (b's chosen so), and every certified bound is tight.
    net = nn.Sequential(nn.Linear(3, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    net = net.double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 2.0]]))
        net[0].bias.fill_(0.5)
        net[2].weight.fill_(-0.7)
        net[2].bias.fill_(3.0)
        net[4].weight.fill_(1.5)
    expected = 1.5 * 0.7 * 3.0
    for bound in (spectral_bound, path_norm_bound, averaged_bound, lipsdp_bound):
        assert bound(net, "rd", Budget()).upper[0] == pytest.approx(expected, rel=1e-5)
    assert ascent_lower_bound(net, "rd", Budget(), steps=20).lower[0] == pytest.approx(
        expected, rel=1e-9
    )


def test_averaged_bound_is_exact_for_linear_slopes():
    # leaky relu with slope 1 is the identity: the recursion reduces to ||W3 W2 W1||
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Linear(4, 6), nn.LeakyReLU(1.0), nn.Linear(6, 5), nn.LeakyReLU(1.0), nn.Linear(5, 1)
    ).double()
    product = (net[4].weight @ net[2].weight @ net[0].weight).detach()
    expected = float(torch.linalg.vector_norm(product))
    assert averaged_bound(net, "rd", Budget()).upper[0] == pytest.approx(expected, rel=1e-8)
    assert random_lower_bound(net, "rd", Budget(), n_points=100).lower[0] == pytest.approx(
        expected, rel=1e-9
    )
