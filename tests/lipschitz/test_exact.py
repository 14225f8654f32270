"""Exact Lipschitz constants of two-layer relu nets: brute force, closed forms, invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from robustlaw.lipschitz import METHODS, Budget, ExactSettings, MethodResult
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer
from robustlaw.models.activations import LEAKY_SLOPE

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _net(W, a, b=None, activation="relu", v=None) -> TwoLayer:
    t = lambda x: None if x is None else torch.as_tensor(np.asarray(x, dtype=np.float64))  # noqa: E731
    return TwoLayer.from_tensors(t(W), t(a), b=t(b), v=t(v), activation=activation)


def _random_arrays(d: int, k: int, seed: int, bias: bool = True):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((k, d))
    a = rng.standard_normal(k)
    b = rng.standard_normal(k) if bias else None
    return W, a, b


def _brute_force(W, a, b=None, alpha=0.0, v=None) -> float:
    """max ||grad|| over all 2^k patterns whose open region is non-empty (an LP for the
    largest inscribed ball, which must have radius > 1e-7)."""
    k, d = W.shape
    v = np.zeros(d) if v is None else np.asarray(v)
    b = np.zeros(k) if b is None else b
    norms = np.linalg.norm(W, axis=1)
    best = 0.0
    for s in itertools.product((0, 1), repeat=k):
        s = np.array(s)
        sg = 2.0 * s - 1.0
        A = np.c_[-(sg[:, None] * W), norms]
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=A,
            b_ub=sg * b,
            bounds=[(None, None)] * d + [(None, 1.0)],
            method="highs",
        )
        if res.status == 0 and res.x[-1] > 1e-7:
            g = (np.where(s > 0, 1.0, alpha) * a) @ W + v
            best = max(best, float(np.linalg.norm(g)))
    return best


def _ball_brute(W, a, b) -> float | None:
    """max ||grad|| over patterns whose region meets the open unit ball, by minimizing
    ||x||^2 over each region's closure (SLSQP); None when a region is within 1e-4 of
    touching the sphere (too close to call)."""
    from scipy.optimize import minimize

    k, d = W.shape
    best = 0.0
    for s in itertools.product((0, 1), repeat=k):
        s = np.array(s)
        sg = 2.0 * s - 1.0
        A = np.c_[-(sg[:, None] * W), np.linalg.norm(W, axis=1)]
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=A,
            b_ub=sg * b,
            bounds=[(None, None)] * d + [(None, 1.0)],
            method="highs",
        )
        if res.status != 0 or res.x[-1] <= 1e-7:
            continue
        cons = {"type": "ineq", "fun": lambda x, sg=sg: sg * (W @ x + b)}
        out = minimize(
            lambda x: x @ x,
            res.x[:d],
            constraints=[cons],
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 500},
        )
        r = math.sqrt(max(out.fun, 0.0))
        if abs(r - 1.0) < 1e-4:
            return None
        if r < 1.0:
            best = max(best, float(np.linalg.norm((s * a) @ W)))
    return best


def _check_witness(fam: TwoLayer, res: MethodResult, i: int = 0, domain: str = "rd") -> None:
    w = res.witnesses[i]
    assert w is not None
    x = torch.as_tensor(w.x[None], dtype=torch.float64)
    fam64 = fam.double()
    grad = fam64.input_gradient(x)[i, 0].detach().numpy()
    pre = fam64.preactivations(x)[i, 0].detach().numpy()[fam.mask[i].numpy()]
    assert np.all(np.abs(pre) > 0)
    assert np.array_equal(w.pattern, pre > 0)
    if domain == "sphere":
        xn = w.x
        assert abs(np.linalg.norm(xn) - 1) < 1e-12
        value = np.linalg.norm(grad - (xn @ grad) * xn)
    else:
        value = np.linalg.norm(grad)
    if domain == "ball":
        assert np.linalg.norm(w.x) < 1
    assert value == pytest.approx(w.value, rel=1e-12)
    assert res.lower[i] == pytest.approx(value, rel=1e-12)


# ----------------------------------------------------------------------------- exact values


@SETTINGS
@given(
    d=st.integers(1, 3),
    k=st.integers(1, 7),
    seed=st.integers(0, 10_000),
    bias=st.booleans(),
    algorithm=st.sampled_from(["enumeration", "branch_and_bound"]),
)
def test_exact_equals_brute_force_over_all_patterns(d, k, seed, bias, algorithm):
    W, a, b = _random_arrays(d, k, seed, bias)
    fam = _net(W, a, b)
    res = exact_lipschitz(fam, method=algorithm, samples=64)
    truth = _brute_force(W, a, b)
    assert res.status == ["ok"]
    assert res.lower[0] <= res.upper[0]
    assert res.lower[0] == pytest.approx(truth, rel=1e-9)
    assert res.upper[0] == pytest.approx(truth, rel=1e-6)
    _check_witness(fam, res)


@SETTINGS
@given(d=st.integers(1, 3), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_skip_connection_and_output_bias(d, k, seed):
    W, a, b = _random_arrays(d, k, seed)
    v = np.random.default_rng(seed + 1).standard_normal(d)
    fam = TwoLayer.from_tensors(
        torch.as_tensor(W),
        torch.as_tensor(a),
        b=torch.as_tensor(b),
        c=torch.tensor(0.7, dtype=torch.float64),
        v=torch.as_tensor(v),
    )
    truth = _brute_force(W, a, b, v=v)
    for algorithm in ("enumeration", "branch_and_bound"):
        res = exact_lipschitz(fam, method=algorithm, samples=32)
        assert res.status == ["ok"]
        assert res.lower[0] == pytest.approx(truth, rel=1e-9)
        _check_witness(fam, res)


@SETTINGS
@given(d=st.integers(1, 3), k=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_leaky_relu_equals_brute_force(d, k, seed):
    W, a, b = _random_arrays(d, k, seed)
    fam = _net(W, a, b, activation="leaky_relu")
    for algorithm in ("enumeration", "branch_and_bound"):
        res = exact_lipschitz(fam, method=algorithm, samples=32)
        truth = _brute_force(W, a, b, alpha=LEAKY_SLOPE)
        assert res.status == ["ok"]
        assert res.lower[0] == pytest.approx(truth, rel=1e-9)
        _check_witness(fam, res)


@SETTINGS
@given(d=st.integers(2, 6), seed=st.integers(0, 10_000), data=st.data())
def test_k_at_most_d_full_rank_equals_pattern_relaxation(d, seed, data):
    k = data.draw(st.integers(1, d))
    W, a, b = _random_arrays(d, k, seed)
    relax = max(np.linalg.norm((np.array(s) * a) @ W) for s in itertools.product((0, 1), repeat=k))
    res = exact_lipschitz(_net(W, a, b), method="branch_and_bound", samples=16)
    assert res.status == ["ok"]
    assert res.lower[0] == pytest.approx(relax, rel=1e-9)
    res = exact_lipschitz(_net(W, a, b))  # enumeration (rank reduction when k < d)
    assert res.lower[0] == pytest.approx(relax, rel=1e-9)


def test_hand_computed_one_dimensional_nets():
    # |x| = relu(x) + relu(-x): Lip 1; relu(x) + relu(x - 1): Lip 2 (for x > 1)
    res = exact_lipschitz(_net([[1.0], [-1.0]], [1.0, 1.0], [0.0, 0.0]))
    assert res.lower[0] == pytest.approx(1.0) and res.upper[0] == pytest.approx(1.0)
    res = exact_lipschitz(_net([[1.0], [1.0]], [1.0, 1.0], [0.0, -1.0]))
    assert res.lower[0] == pytest.approx(2.0) and res.status == ["ok"]
    # relu(x) - relu(x - 1) is the clipped ramp: Lip 1; with a skip -0.5 x: max(0.5, 0.5)
    res = exact_lipschitz(_net([[1.0], [1.0]], [1.0, -1.0], [0.0, -1.0], v=[-0.5]))
    assert res.lower[0] == pytest.approx(0.5) and res.upper[0] == pytest.approx(0.5)
    # two duplicated units on one hyperplane, opposite sides: relu(x) - relu(x) = 0 ...
    res = exact_lipschitz(_net([[1.0], [2.0], [-1.0]], [1.0, -0.5, 3.0], [0.0, 0.0, 0.0]))
    assert res.lower[0] == pytest.approx(3.0) and res.status == ["ok"]


def test_hand_computed_two_dimensional_net():
    # f = 3 relu(x1) + 4 relu(x2): the quadrant x1, x2 > 0 has gradient (3, 4)
    res = exact_lipschitz(_net([[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0], [0.0, 0.0]))
    assert res.lower[0] == pytest.approx(5.0) and res.upper[0] == pytest.approx(5.0)
    # the same units with biases that make the quadrant {x1 > 1, x2 < -1} ... all four
    # quadrants of two crossing lines exist, so the value is unchanged
    res = exact_lipschitz(_net([[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0], [-1.0, 1.0]))
    assert res.lower[0] == pytest.approx(5.0)
    # parallel units x1 > 0 and -x1 > 1 never both active: max(3, 4) = 4
    res = exact_lipschitz(_net([[1.0, 0.0], [-1.0, 0.0]], [3.0, 4.0], [0.0, -1.0]))
    assert res.lower[0] == pytest.approx(4.0) and res.upper[0] == pytest.approx(4.0)


def _nearly_concurrent(offset: float):
    """Units x1 = 1, x2 = 1 and a third line through (1, 1) shifted by ``offset``, among
    four random units (d = 2): the third crosses the line x1 = 1 within ``offset`` of x2."""
    W, a, b = _random_arrays(2, 7, 11)
    W[:3] = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    b[:3] = [-1.0, -1.0, offset]
    return W, a, b


@pytest.mark.parametrize("offset", [3e-11, -2e-12])
def test_enumeration_orders_crossings_closer_than_rounding_exactly(offset):
    W, a, b = _nearly_concurrent(offset)
    enum = exact_lipschitz(_net(W, a, b), method="enumeration")
    bnb = exact_lipschitz(_net(W, a, b), method="branch_and_bound")
    assert enum.info[0]["algorithm"] == "enumeration" and enum.status == ["ok"]
    assert enum.lower[0] == pytest.approx(bnb.lower[0], rel=1e-9)
    assert enum.lower[0] == pytest.approx(_brute_force(W, a, b), rel=1e-9)


def test_enumeration_declines_a_vertex_on_three_lines_in_the_plane():
    W, a, b = _nearly_concurrent(0.0)  # exactly concurrent at (1, 1)
    res = exact_lipschitz(_net(W, a, b), method="enumeration")
    assert res.info[0]["enumeration"] == "degenerate"
    assert res.info[0]["algorithm"] == "branch_and_bound" and res.status == ["ok"]
    assert res.lower[0] == pytest.approx(_brute_force(W, a, b), rel=1e-9)


def test_branch_and_bound_agrees_with_enumeration_beyond_brute_force():
    fam = TwoLayer(d=3, widths=[24], seeds=[3], dtype=torch.float64)
    enum = exact_lipschitz(fam, method="enumeration")
    bnb = exact_lipschitz(fam, method="branch_and_bound")
    assert enum.status == bnb.status == ["ok"]
    assert bnb.lower[0] == pytest.approx(enum.lower[0], rel=1e-9)
    assert enum.info[0]["algorithm"] == "enumeration"
    assert bnb.info[0]["algorithm"] == "branch_and_bound"


def test_warm_and_fresh_lp_models_agree():
    """One warm-started HiGHS model per member and a fresh model per LP prove the same."""
    fam = TwoLayer(d=4, widths=[12], seeds=[1], dtype=torch.float64)
    a = exact_lipschitz(fam, method="branch_and_bound")
    b = exact_lipschitz(fam, method="branch_and_bound", settings=ExactSettings(warm_lp=False))
    assert a.status == b.status == ["ok"]
    assert a.lower[0] == pytest.approx(b.lower[0], rel=1e-9)


# ----------------------------------------------------------------------------- budget


def test_budget_exhaustion_returns_an_interval_containing_the_truth():
    fam = TwoLayer(d=4, widths=[40], seeds=[0], dtype=torch.float64)
    truth = exact_lipschitz(fam, method="enumeration")
    assert truth.status == ["ok"]
    value = truth.lower[0]
    res = exact_lipschitz(fam, method="branch_and_bound", budget=Budget(nodes=2), samples=8)
    assert res.status == ["budget"]
    assert res.lower[0] <= value * (1 + 1e-12)
    assert res.upper[0] >= value * (1 - 1e-12)
    assert res.upper[0] > res.lower[0]
    _check_witness(fam, res)
    res = exact_lipschitz(fam, method="branch_and_bound", budget=Budget(seconds=1e-3))
    assert res.status == ["budget"]
    assert res.lower[0] <= value * (1 + 1e-12) <= res.upper[0] * (1 + 2e-12)


@pytest.mark.parametrize(("d", "k", "domain"), [(100, 1024, "rd"), (32, 256, "sphere")])
def test_tiny_budget_on_a_large_net_is_respected(d, k, domain):
    """Setup, heuristics and search all watch the clock: a 0.5 s budget on a net far too
    large to solve ends with status "budget", a valid interval, and a bounded time (5x
    the budget: a generous allowance for a loaded machine, not a timing assertion)."""
    fam = TwoLayer(d=d, widths=[k], seeds=[0], dtype=torch.float64)
    seconds = 0.5
    res = exact_lipschitz(fam, domain=domain, budget=Budget(seconds=seconds))
    assert res.status == ["budget"]
    assert res.seconds[0] <= 5 * seconds
    assert 0 < res.lower[0] <= res.upper[0] < math.inf
    _check_witness(fam, res, domain=domain)
    # the interval holds the gradient norm at random points of the domain (a lower bound
    # on Lip) and sits below the certified spectral bound ||a|| ||W||_op
    rng = np.random.default_rng(1)
    X = rng.standard_normal((256, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    weights = fam.effective_weights()
    W = weights.W[0].numpy()
    a = weights.a[0].numpy()
    b = weights.b[0].numpy()
    G = ((X @ W.T + b > 0) * a) @ W
    if domain == "sphere":
        G = G - np.sum(G * X, axis=1, keepdims=True) * X
    assert res.upper[0] >= np.linalg.norm(G, axis=1).max() * (1 - 1e-12)
    assert res.lower[0] <= np.linalg.norm(a) * np.linalg.norm(W, 2) * (1 + 1e-12)


# ----------------------------------------------------------------------------- families


def test_family_result_equals_per_member_results_and_masks_do_not_leak():
    fam = TwoLayer(d=2, widths=[3, 9], seeds=[0, 1], dtype=torch.float64, init="ntk")
    whole = exact_lipschitz(fam)
    for i in range(fam.B):
        alone = exact_lipschitz(fam.select([i]))
        assert whole.lower[i] == pytest.approx(alone.lower[0], rel=1e-12)
        assert whole.upper[i] == pytest.approx(alone.upper[0], rel=1e-12)
        assert whole.status[i] == alone.status[0] == "ok"
        _check_witness(fam, whole, i)
        k = int(fam.widths[i])
        W = fam.W[i, :k].detach().numpy()
        b = fam.b[i, :k].detach().numpy()
        a = fam.a[i, :k].detach().numpy()
        assert whole.lower[i] == pytest.approx(_brute_force(W, a, b), rel=1e-9)
        assert len(whole.witnesses[i].pattern) == k


def test_masked_units_with_garbage_do_not_leak():
    W = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [50.0, 50.0]]], dtype=torch.float64)
    a = torch.tensor([[3.0, 4.0, 100.0]], dtype=torch.float64)
    b = torch.zeros(1, 3, dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    fam = TwoLayer.from_tensors(W, a, b=b, mask=mask)
    res = exact_lipschitz(fam)
    assert res.lower[0] == pytest.approx(5.0) and res.upper[0] == pytest.approx(5.0)


def test_float32_family_is_measured_in_float64():
    fam = TwoLayer(d=2, widths=[10], seeds=[2])
    res = exact_lipschitz(fam)
    W = fam.W[0].detach().double().numpy()
    b = fam.b[0].detach().double().numpy()
    a = fam.a[0].detach().double().numpy()
    assert res.lower[0] == pytest.approx(_brute_force(W, a, b), rel=1e-9)
    _check_witness(fam, res)


def test_lower_hint_seeds_the_search_and_is_reverified():
    fam = TwoLayer(d=5, widths=[16], seeds=[4], dtype=torch.float64)
    first = exact_lipschitz(fam, method="branch_and_bound")
    hinted = exact_lipschitz(fam, method="branch_and_bound", lower_hint=first, samples=0)
    assert hinted.status == ["ok"]
    assert hinted.lower[0] == pytest.approx(first.lower[0], rel=1e-12)
    # a point on a kink is no witness (the region of its signs is searched from its LP
    # point instead); a bad shape is an error
    on_kink = -fam.b[0, 0].item() * fam.W[0, 0].detach().numpy() / fam.W[0, 0].norm().item() ** 2
    res = exact_lipschitz(fam, method="branch_and_bound", lower_hint=[on_kink])
    assert res.lower[0] == pytest.approx(first.lower[0], rel=1e-9)
    with pytest.raises(ValueError, match="lower_hint"):
        exact_lipschitz(fam, lower_hint=[np.zeros(3)])


def test_a_hint_next_to_a_kink_seeds_the_region_of_its_signs():
    # f = 3 relu(x1) + 4 relu(x2): the hint lies 1e-12 inside the quadrant of gradient (3, 4)
    fam = _net([[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0], [0.0, 0.0])
    hint = [np.array([1e-12, 1.0])]
    res = exact_lipschitz(fam, method="branch_and_bound", lower_hint=hint, samples=0)
    assert res.info[0]["heuristic_lower"] == pytest.approx(5.0)
    assert res.status == ["ok"] and res.lower[0] == pytest.approx(5.0)


def test_a_certified_floor_prunes_and_the_upper_bound_stays_certified():
    fam = TwoLayer(d=5, widths=[16], seeds=[4], dtype=torch.float64)
    truth = exact_lipschitz(fam, method="branch_and_bound")
    assert truth.status == ["ok"]
    for scale in (1.0, 0.5):  # the value itself, and a floor well below it
        floor = MethodResult(
            method="given", kind="lower", domain="rd", lower=truth.lower * scale,
            upper=np.full(1, np.inf), seconds=np.zeros(1), status=["ok"], witnesses=[None],
            info=[{}],
        )  # fmt: skip
        res = exact_lipschitz(fam, method="branch_and_bound", lower_hint=floor, samples=0)
        assert res.upper[0] >= truth.lower[0] * (1 - 1e-12)
        assert res.upper[0] <= truth.lower[0] * (1 + 1e-6)
        assert res.lower[0] <= truth.upper[0] * (1 + 1e-12)
        assert res.status[0] in ("ok", "interval: closed by the given lower bound")


# ----------------------------------------------------------------------------- ball, sphere


@pytest.mark.parametrize("seed", range(6))
def test_ball_equals_brute_force_over_regions_meeting_the_ball(seed):
    rng = np.random.default_rng(seed)
    d, k = 2, 6
    W = rng.standard_normal((k, d))
    b = rng.uniform(-1.5, 1.5, k) * np.linalg.norm(W, axis=1)
    a = rng.standard_normal(k)
    truth = _ball_brute(W, a, b)
    if truth is None:
        pytest.skip("a region touches the sphere within the brute force's accuracy")
    fam = _net(W, a, b)
    res = exact_lipschitz(fam, domain="ball", samples=64)
    assert res.status == ["ok"]
    assert res.lower[0] == pytest.approx(truth, rel=1e-9)
    _check_witness(fam, res, domain="ball")
    rd = exact_lipschitz(fam)
    assert res.upper[0] <= rd.upper[0] * (1 + 1e-12)


def test_ball_equals_rd_for_central_arrangements():
    fam = TwoLayer(d=3, widths=[9], seeds=[0], dtype=torch.float64, hidden_bias=False)
    ball = exact_lipschitz(fam, domain="ball")
    rd = exact_lipschitz(fam)
    assert ball.status == rd.status == ["ok"]
    assert ball.lower[0] == pytest.approx(rd.lower[0], rel=1e-9)


def test_sphere_in_one_dimension_has_no_tangent_directions():
    res = exact_lipschitz(_net([[1.0]], [2.0], [0.5]), domain="sphere")
    assert res.lower[0] == res.upper[0] == 0.0 and res.status == ["ok"]


def test_sphere_hand_computed_single_unit():
    # f = 2 relu(x1 + 0.5): the region x1 > -0.5 holds (0, 1), orthogonal to the gradient
    res = exact_lipschitz(_net([[1.0, 0.0]], [2.0], [0.5]), domain="sphere")
    assert res.status == ["ok"]
    assert res.lower[0] == pytest.approx(2.0, rel=1e-9)
    _check_witness(_net([[1.0, 0.0]], [2.0], [0.5]), res, domain="sphere")
    # f = 2 relu(x1 - 0.5): on the sphere x1 > 1/2, tangential norm 2 |sin theta| < sqrt 3
    res = exact_lipschitz(_net([[1.0, 0.0]], [2.0], [-0.5]), domain="sphere")
    assert res.status[0].startswith("interval")
    assert res.lower[0] <= math.sqrt(3.0) <= res.upper[0]
    # the region bound sqrt(||g||^2 - min (g . x)^2) is sqrt(4 - 1): tight
    assert res.upper[0] == pytest.approx(math.sqrt(3.0), rel=1e-6)
    assert res.lower[0] > 0.99 * math.sqrt(3.0)


@pytest.mark.parametrize("seed", range(3))
def test_sphere_interval_is_below_the_ball_value(seed):
    fam = TwoLayer(d=3, widths=[8], seeds=[seed], dtype=torch.float64, init="ntk")
    sphere = exact_lipschitz(fam, domain="sphere", samples=256)
    ball = exact_lipschitz(fam, domain="ball")
    assert sphere.lower[0] <= sphere.upper[0] <= ball.upper[0] * (1 + 1e-9)
    # sampled sphere points are lower bounds of the sphere constant
    X = torch.randn(2000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    X /= X.norm(dim=1, keepdim=True)
    G = fam.input_gradient(X)[0].detach()
    tangential = (G - (G * X).sum(1, keepdim=True) * X).norm(dim=1)
    assert float(tangential.max()) <= sphere.upper[0] * (1 + 1e-9)
    _check_witness(fam, sphere, domain="sphere")


# ----------------------------------------------------------------------------- contract


def test_registered_and_bad_input():
    spec = METHODS["exact"]
    assert spec.kind == "exact" and "two_layer" in spec.models
    assert set(spec.domains) == {"rd", "ball", "sphere"}
    fam = TwoLayer(d=2, widths=[4], seeds=[0], dtype=torch.float64)
    via = spec.fn(fam, "R^d", Budget(seconds=10))
    assert via.domain == "rd" and via.status == ["ok"]
    tanh = TwoLayer(d=2, widths=[4], seeds=[0], activation="tanh")
    res = exact_lipschitz(tanh)
    assert res.status[0].startswith("not_applicable:")
    assert res.lower[0] == 0 and math.isinf(res.upper[0])
    with pytest.raises(ValueError, match="domain"):
        exact_lipschitz(fam, domain="cube")
    with pytest.raises(ValueError, match="budget"):
        exact_lipschitz(fam, budget=10)
    with pytest.raises(ValueError, match="budget"):
        exact_lipschitz(fam, budget=Budget(seconds=-1))
    with pytest.raises(ValueError, match="tol"):
        exact_lipschitz(fam, tol=0.0)
    with pytest.raises(ValueError, match="method"):
        exact_lipschitz(fam, method="magic")
    with pytest.raises(TypeError, match="family"):
        exact_lipschitz(torch.nn.Linear(2, 1))
