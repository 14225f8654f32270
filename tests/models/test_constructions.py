"""Constructions: exact interpolation, unit counts, closed forms against independent checks.

Independent checks used here:
- brute force over R^d for d = 2, 3: every region of a hyperplane arrangement in general
  position has a vertex, and the 2^d regions around a vertex where d hyperplanes meet are
  reached by stepping along the directions D with W_V D = (+-1, ..., +-1); the largest
  gradient norm over those points is Lip over R^d;
- brute force over patterns: every s in {0,1}^k, realizable iff an LP finds an interior
  point (small k);
- dense sampling of the tangential gradient on the circle (d = 2) and on a Fibonacci
  lattice of S^2 (d = 3);
- the exact branch-and-bound solver ``robustlaw.lipschitz.exact`` when it is installed.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from robustlaw import theory
from robustlaw.models import TwoLayer
from robustlaw.models.constructions import (
    BUMP_SLOPE,
    INTERPOLATION_TOL,
    RadialBumpInterpolant,
    baum_memorizer,
    cap_interpolant,
    cap_lipschitz_rd,
    cap_lipschitz_sphere,
    cap_s_disjoint,
    cap_s_max,
    grouped_cap_interpolant,
    radial_bump_interpolant,
    relu_memorizer,
)
from robustlaw.models.constructions._bounds import max_subset_sum_norm

# --------------------------------------------------------------------------- helpers


def sphere_points(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def signs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).choice([-1.0, 1.0], size=n)


def weights(family: TwoLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = family.effective_weights()
    mask = w.mask[0].cpu().numpy()
    W = w.W[0].double().cpu().numpy()[mask]
    b = w.b[0].double().cpu().numpy()[mask]
    a = w.a[0].double().cpu().numpy()[mask]
    return W, b, a


def values_at(family: TwoLayer, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return family.double()(torch.as_tensor(X))[0].numpy()


def brute_force_rd(family: TwoLayer) -> float:
    """Lip over R^d (d = 2 or 3) from the regions around every vertex of the arrangement."""
    W, b, a = weights(family)
    k, d = W.shape
    scale = max(1.0, float(np.abs(b).max()))
    best = 0.0
    for combo in itertools.combinations(range(k), d):
        M = W[list(combo)]
        if abs(np.linalg.det(M)) < 1e-10:
            continue
        vertex = np.linalg.solve(M, -b[list(combo)])
        for corner in itertools.product([-1.0, 1.0], repeat=d):
            step = np.linalg.solve(M, np.array(corner))
            x = vertex + 1e-7 * scale * step / np.linalg.norm(step)
            pattern = (W @ x + b) > 0
            best = max(best, float(np.linalg.norm(W.T @ (pattern * a))))
    return best


def brute_force_patterns(family: TwoLayer) -> float:
    """Lip over R^d: every pattern s, realizable iff an interior point exists (LP)."""
    W, b, a = weights(family)
    k, d = W.shape
    best = 0.0
    for bits in itertools.product([0.0, 1.0], repeat=k):
        s = np.array(bits)
        sign = 2 * s - 1
        # maximize t subject to sign_l (w_l . x + b_l) >= t ||w_l||, t <= 1
        A = np.hstack([-sign[:, None] * W, np.linalg.norm(W, axis=1)[:, None]])
        res = linprog(
            np.r_[np.zeros(d), -1.0],
            A_ub=A,
            b_ub=sign * b,
            bounds=[(None, None)] * d + [(None, 1.0)],
            method="highs",
        )
        if res.status == 0 and res.x[-1] > 1e-9:
            best = max(best, float(np.linalg.norm(W.T @ (s * a))))
    return best


def tangential_max(family: TwoLayer, P: np.ndarray) -> float:
    with torch.no_grad():
        G = family.double().input_gradient(torch.as_tensor(P))[0].numpy()
    radial = (G * P).sum(axis=1, keepdims=True)
    return float(np.linalg.norm(G - radial * P, axis=1).max())


def assert_witnesses(family: TwoLayer, report) -> None:
    """Every lower bound with a witness is the gradient norm there, recomputed by torch."""
    for domain, interval in report.lipschitz.items():
        if interval.witness is None:
            continue
        x = np.array(interval.witness)[None]
        if domain == "sphere":
            assert np.linalg.norm(x) == pytest.approx(1.0)
            value = tangential_max(family, x)
        else:
            with torch.no_grad():
                value = family.double().input_gradient(torch.as_tensor(x))[0].norm().item()
        assert value == pytest.approx(interval.lower, rel=1e-9)


def circle(m: int = 400_000) -> np.ndarray:
    theta = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def fibonacci_sphere(m: int = 300_000) -> np.ndarray:
    i = np.arange(m) + 0.5
    z = 1 - 2 * i / m
    r = np.sqrt(1 - z * z)
    phi = np.pi * (1 + 5**0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def exact_solver():
    exact = pytest.importorskip("robustlaw.lipschitz.exact")
    return exact.exact_lipschitz


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build", [cap_interpolant, grouped_cap_interpolant], ids=["caps", "grouped"]
)
def test_sphere_constructions_reject_points_off_the_sphere(build):
    X = sphere_points(5, 3, 0)
    X[2] *= 1.0 + 1e-5
    with pytest.raises(ValueError, match=r"X must lie on the unit sphere.*X\[2\]"):
        build(X, signs(5, 0), 1) if build is grouped_cap_interpolant else build(X, signs(5, 0))
    X[2] /= 1.0 + 1e-5
    X[2] *= 1.0 + 5e-7  # within the 1e-6 tolerance
    build(X, signs(5, 0), 1) if build is grouped_cap_interpolant else build(X, signs(5, 0))


@pytest.mark.parametrize(
    "build",
    [
        cap_interpolant,
        radial_bump_interpolant,
        baum_memorizer,
        relu_memorizer,
        lambda X, y: grouped_cap_interpolant(X, y, 1),
    ],
    ids=["caps", "bump", "baum", "relu", "grouped"],
)
def test_every_construction_rejects_duplicates_bad_labels_and_shapes(build):
    X = sphere_points(6, 3, 1)
    y = signs(6, 1)
    dup = X.copy()
    dup[4] = dup[1]
    with pytest.raises(ValueError, match=r"duplicate points: rows 1 and 4"):
        build(dup, y)
    bad = y.copy()
    bad[3] = 1.5
    with pytest.raises(ValueError, match=r"y must lie in \[-1, 1\]; y\[3\] = 1.5"):
        build(X, bad)
    with pytest.raises(ValueError, match=r"y must have shape \(6,\)"):
        build(X, y[:5])
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        build(nan, y)
    with pytest.raises(TypeError, match="X must be a torch tensor or numpy array"):
        build("points", y)


@pytest.mark.parametrize("s", [0.0, -0.1, 1.5, math.nan, "wide", True])
def test_cap_height_outside_unit_interval_is_rejected(s):
    with pytest.raises(ValueError, match="s must"):
        cap_interpolant(sphere_points(4, 3, 0), signs(4, 0), s=s)


def test_baum_needs_sign_labels_and_grouped_needs_one_size():
    X = sphere_points(6, 3, 2)
    with pytest.raises(ValueError, match=r"y must hold labels in \{-1, \+1\}; y\[0\] = 0.5"):
        baum_memorizer(X, np.r_[0.5, signs(5, 0)])
    with pytest.raises(ValueError, match="exactly one of group_size and k"):
        grouped_cap_interpolant(X, signs(6, 0))
    with pytest.raises(ValueError, match="group_size must be at most d = 3"):
        grouped_cap_interpolant(X, signs(6, 0), 4)
    with pytest.raises(ValueError, match="r0 must be a positive"):
        radial_bump_interpolant(X, signs(6, 0), r0=-1.0)


def test_points_not_in_general_position_are_rejected():
    # Three collinear points in the plane, two of them in the minority class: the line
    # through the group of d = 2 minority points holds a third data point.
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 1.0]])
    y = np.array([1.0, 1.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="general position"):
        baum_memorizer(X, y, trials=4)


# --------------------------------------------------------------------------- caps


@given(n=st.integers(1, 12), d=st.integers(2, 6), seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cap_interpolant_interpolates_with_2n_units(n, d, seed):
    X = sphere_points(n, d, seed)
    y = np.random.default_rng(seed).uniform(-1, 1, n)
    # The biases -(1 - s) carry an absolute rounding error of about 1e-16, i.e. a relative
    # one of 1e-16 / s in the ramps: float64 interpolates to 1e-9 only when s >> 1e-7.
    assume(cap_s_disjoint(X) > 1e-6)
    for s in (None, "disjoint"):
        family, report = cap_interpolant(X, y, s=s)
        assert report.neurons == 2 * n == int(family.widths[0])
        assert report.params == theory.two_layer_param_count(d, 2 * n)
        assert report.condition_met
        assert report.max_error < INTERPOLATION_TOL
        # two float64 evaluations of O(1) values in different summation orders: they agree
        # to rounding (errors of ~1e-12 against ~1e-20 on exact fits), not relatively
        direct = np.abs(values_at(family, X) - y).max()
        assert direct == pytest.approx(report.max_error, rel=1e-6, abs=1e-10)
        assert report.lipschitz["rd"].lower <= report.lipschitz["rd"].upper
        assert report.lipschitz["sphere"].lower <= report.lipschitz["sphere"].upper * (1 + 1e-12)


def test_cap_heights_from_separation():
    X = sphere_points(20, 4, 3)
    G = X @ X.T
    np.fill_diagonal(G, -np.inf)
    rho = G.max()
    assert cap_s_max(X) == pytest.approx(1 - rho)
    s = cap_s_disjoint(X)
    assert s == pytest.approx(1 - math.sqrt((1 + rho) / 2), rel=1e-8)
    assert rho <= 2 * (1 - s) ** 2 - 1  # disjoint, not merely rounded so
    # Orthonormal points: every inner product is 0, caps of height 1 are hemispheres.
    assert cap_s_max(np.eye(3)) == 1.0
    assert cap_s_disjoint(np.eye(3)) == pytest.approx(1 - math.sqrt(0.5))


def test_caps_interpolate_data_normalized_in_float32():
    gen = torch.Generator().manual_seed(0)
    X = torch.nn.functional.normalize(torch.randn(30, 5, generator=gen), dim=1)  # float32
    assert (X.double().norm(dim=1) - 1).abs().max() > 1e-9  # genuinely off by rounding
    y = torch.rand(30, generator=gen) * 2 - 1
    for s in (None, "disjoint"):
        _, report = cap_interpolant(X, y, s=s)
        assert report.condition_met and report.max_error < INTERPOLATION_TOL


def test_cap_too_high_breaks_interpolation_and_says_so():
    X = sphere_points(10, 3, 4)
    y = signs(10, 4)
    s_max = cap_s_max(X)
    _, report = cap_interpolant(X, y, s=min(1.0, 1.5 * s_max))
    assert not report.condition_met
    assert report.max_error > 1e-3
    _, report = cap_interpolant(X, y, s=s_max)
    assert report.condition_met and report.interpolates


@pytest.mark.parametrize("s", [0.05, 0.3, 1.0])
def test_cap_lipschitz_sphere_closed_form(s):
    assert cap_lipschitz_sphere(s) == pytest.approx(math.sqrt(2 * s - s * s) / s)
    assert cap_lipschitz_sphere(s, 0.5) == pytest.approx(0.5 * math.sqrt(2 / s - 1))


@pytest.mark.parametrize(("d", "seed"), [(2, 0), (2, 1), (3, 2), (3, 3)])
def test_sphere_closed_form_equals_dense_sampling(d, seed):
    n = 5 if d == 2 else 8
    X = sphere_points(n, d, seed)
    y = np.random.default_rng(seed).uniform(-1, 1, n)
    family, report = cap_interpolant(X, y, s="disjoint")
    interval = report.lipschitz["sphere"]
    assert report.details["caps_disjoint"] and interval.exact
    s = report.details["s"]
    closed = np.abs(y).max() * math.sqrt(2 * s - s * s) / s
    assert interval.upper == pytest.approx(closed, rel=1e-12)
    sampled = tangential_max(family, circle() if d == 2 else fibonacci_sphere())
    assert sampled <= closed * (1 + 1e-9)
    assert sampled >= closed * (1 - 0.02)
    # The sup sits at the rim of the cap of the largest |y_i|: just inside it the
    # tangential norm is the closed form.
    i = int(np.abs(y).argmax())
    v = np.random.default_rng(seed + 99).standard_normal(d)
    v -= (v @ X[i]) * X[i]
    v /= np.linalg.norm(v)
    theta = math.acos(1 - s) * (1 - 1e-9)
    rim = math.cos(theta) * X[i] + math.sin(theta) * v
    assert tangential_max(family, rim[None]) == pytest.approx(closed, rel=1e-6)
    centre = math.cos(theta / 2) * X[i] + math.sin(theta / 2) * v
    assert tangential_max(family, centre[None]) < closed


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_cap_rd_constant_on_orthonormal_points_is_norm_of_y_over_s(n):
    d = 5
    rng = np.random.default_rng(n)
    X = (np.eye(d)[rng.permutation(d)] * rng.choice([-1.0, 1.0], d)[:, None])[:n]  # exact
    y = np.random.default_rng(n).uniform(-1, 1, n)
    family, report = cap_interpolant(X, y)  # s = 1: hemispheres, disjoint only if n = 1
    s = report.details["s"]
    assert s == 1.0
    closed = np.linalg.norm(y) / s
    rd = report.lipschitz["rd"]
    assert rd.exact
    assert rd.upper == pytest.approx(closed, rel=1e-9)
    assert rd.lower == pytest.approx(closed, rel=1e-9)
    value, exact = cap_lipschitz_rd(X, y, s)
    assert exact and value == pytest.approx(closed, rel=1e-12)
    # Brute force over all 2^(2n) patterns with LP realizability, and the exact solver.
    assert brute_force_patterns(family) == pytest.approx(closed, rel=1e-9)
    try:
        from robustlaw.lipschitz.exact import exact_lipschitz
    except ImportError:
        return
    result = exact_lipschitz(family, domain="rd")
    assert result.status[0] == "ok"
    assert result.upper[0] == pytest.approx(closed, rel=1e-6)
    # On the sphere the constant is smaller: the caps are hemispheres here.
    assert report.lipschitz["sphere"].upper <= closed + 1e-9


@pytest.mark.parametrize(("d", "seed"), [(2, 5), (2, 6), (3, 7)])
def test_cap_rd_interval_contains_brute_force_and_differs_from_sphere(d, seed):
    n = 6 if d == 2 else 5
    X = sphere_points(n, d, seed)
    y = signs(n, seed)
    family, report = cap_interpolant(X, y, s="disjoint")
    exact = brute_force_rd(family)
    rd = report.lipschitz["rd"]
    assert rd.lower <= exact * (1 + 1e-9)
    assert exact <= rd.upper * (1 + 1e-9)
    assert_witnesses(family, report)
    # The slabs meet off the sphere: the R^d constant exceeds the sphere's closed form.
    assert exact > report.lipschitz["sphere"].upper * 1.5


def test_cap_constants_agree_with_the_exact_solver():
    exact_lipschitz = exact_solver()
    from robustlaw.lipschitz import Budget

    for d, n, seed in [(2, 6, 11), (3, 7, 12), (6, 5, 13)]:
        X = sphere_points(n, d, seed)
        y = signs(n, seed)
        family, report = cap_interpolant(X, y, s="disjoint")
        rd = exact_lipschitz(family, domain="rd", budget=Budget(seconds=30))
        assert rd.status[0] == "ok"
        assert report.lipschitz["rd"].lower <= rd.upper[0] * (1 + 1e-6)
        assert rd.lower[0] <= report.lipschitz["rd"].upper * (1 + 1e-6)
        if d <= 3:
            assert rd.upper[0] == pytest.approx(brute_force_rd(family), rel=1e-6)
        sphere = exact_lipschitz(family, domain="sphere", budget=Budget(seconds=30))
        closed = report.lipschitz["sphere"].upper
        assert sphere.lower[0] <= closed * (1 + 1e-6)
        assert closed <= sphere.upper[0] * (1 + 1e-6)


# --------------------------------------------------------------------------- radial bump


def test_radial_bump_interpolates_and_meets_its_closed_form():
    X = np.random.default_rng(0).standard_normal((15, 4))
    y = np.random.default_rng(1).uniform(-1, 1, 15)
    module, report = radial_bump_interpolant(X, y)
    assert isinstance(module, RadialBumpInterpolant)
    assert not isinstance(module, TwoLayer)
    assert report.neurons is None and not report.details["in_two_layer_class"]
    assert report.params == 15 * 5 == module.param_count
    assert report.interpolates and report.max_error < INTERPOLATION_TOL
    r0 = report.details["r0"]
    diff = X[:, None] - X[None]
    dist = np.sqrt((diff**2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    assert r0 == pytest.approx(dist.min() / 2)
    closed = np.abs(y).max() * 8 / (3 * math.sqrt(3) * r0)
    assert BUMP_SLOPE == pytest.approx(8 / (3 * math.sqrt(3)))
    interval = report.lipschitz["rd"]
    assert interval.exact and interval.upper == pytest.approx(closed)
    assert module.lipschitz_constant == pytest.approx(closed)
    # Attained at distance r0 / sqrt(3) from the centre with the largest |y_i|.
    i = int(np.abs(y).argmax())
    u = np.random.default_rng(2).standard_normal(4)
    point = torch.as_tensor(X[i] + u / np.linalg.norm(u) * r0 / math.sqrt(3))[None]
    assert module.input_gradient(point).norm().item() == pytest.approx(closed, rel=1e-12)
    # Nowhere steeper: random points near the data and far away.
    rng = np.random.default_rng(3)
    P = np.concatenate(
        [
            X[rng.integers(0, 15, 20_000)]
            + rng.uniform(0, r0, (20_000, 1)) * rng.normal(size=(20_000, 4)) / 2,
            rng.normal(size=(2000, 4)) * 3,
        ]
    )
    grads = module.input_gradient(torch.as_tensor(P)).norm(dim=1)
    assert grads.max().item() <= closed * (1 + 1e-12)


def test_radial_bump_gradient_matches_autograd_and_finite_differences():
    X = np.random.default_rng(4).standard_normal((6, 3))
    y = np.random.default_rng(5).uniform(-1, 1, 6)
    module, report = radial_bump_interpolant(X, y, r0=1.2)  # supports may overlap
    P = torch.tensor(np.random.default_rng(6).standard_normal((50, 3)), requires_grad=True)
    (auto,) = torch.autograd.grad(module(P).sum(), P)
    assert torch.allclose(auto, module.input_gradient(P.detach()), atol=1e-12)
    assert report.lipschitz["rd"].lower <= report.lipschitz["rd"].upper
    grads = module.input_gradient(P.detach()).norm(dim=1).max().item()
    assert grads <= report.lipschitz["rd"].upper * (1 + 1e-12)
    # Interpolation only needs r0 <= the minimum distance.
    min_dist = report.details["min_distance"]
    _, far = radial_bump_interpolant(X, y, r0=min_dist * 1.01)
    assert not far.condition_met and not far.interpolates
    _, near = radial_bump_interpolant(X, y, r0=min_dist)
    assert near.condition_met and near.interpolates


# --------------------------------------------------------------------------- small end


@given(n=st.integers(1, 30), d=st.integers(2, 6), seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_baum_memorizes_sign_labels_with_2_ceil_nmin_over_d_units(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    y = signs(n, seed)
    family, report = baum_memorizer(X, y)
    n_min = min(int((y > 0).sum()), int((y < 0).sum()))
    expected = 2 * math.ceil(n_min / d) if n_min else 1
    assert report.neurons == expected == int(family.widths[0])
    assert expected <= max(1, math.ceil(n / d) + 1)
    assert family.activation.name == "threshold"
    assert report.max_error == 0.0 and report.interpolates
    assert math.isinf(report.lipschitz["rd"].lower) and report.lipschitz["rd"].exact
    W, b, _ = weights(family)
    if n_min:
        margins = np.abs(X @ W.T + b) / np.linalg.norm(W, axis=1)
        assert report.details["min_margin"] == pytest.approx(margins.min())
        assert report.details["min_margin"] > 0


@given(n=st.integers(1, 30), d=st.integers(2, 6), seed=st.integers(0, 10_000))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_relu_memorizer_interpolates_real_labels_with_4_ceil_m_over_d_units(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    y = np.random.default_rng(seed).uniform(-1, 1, n)
    family, report = relu_memorizer(X, y)
    m = n  # real labels do not repeat: c = 0 and every point is grouped
    assert report.details["output_bias"] == 0.0
    assert report.neurons == 4 * math.ceil(m / d) == int(family.widths[0])
    assert report.max_error < INTERPOLATION_TOL
    assert report.lipschitz["rd"].lower <= report.lipschitz["rd"].upper


def test_relu_memorizer_on_sign_labels_groups_the_minority():
    X = sphere_points(24, 4, 8)
    y = signs(24, 8)
    _, report = relu_memorizer(X, y)
    majority = 1.0 if (y > 0).sum() > (y < 0).sum() else -1.0
    minority = int((y != majority).sum())
    assert report.details["output_bias"] == majority
    assert report.neurons == 4 * math.ceil(minority / 4)
    assert report.max_error < INTERPOLATION_TOL
    assert set(report.lipschitz) == {"rd", "sphere"}


@pytest.mark.parametrize(("d", "seed"), [(2, 20), (2, 21), (3, 22)])
def test_relu_memorizer_interval_contains_brute_force(d, seed):
    X = sphere_points(2 * d + 1, d, seed)
    y = np.random.default_rng(seed).uniform(-1, 1, 2 * d + 1)
    family, report = relu_memorizer(X, y)
    exact = brute_force_rd(family)
    rd = report.lipschitz["rd"]
    assert rd.lower <= exact * (1 + 1e-9) and exact <= rd.upper * (1 + 1e-9)
    sphere = report.lipschitz["sphere"]
    sampled = tangential_max(family, circle() if d == 2 else fibonacci_sphere())
    assert sphere.lower <= exact * (1 + 1e-9)
    assert sampled <= sphere.upper * (1 + 1e-9)
    assert_witnesses(family, report)


def test_relu_memorizer_agrees_with_the_exact_solver():
    exact_lipschitz = exact_solver()
    from robustlaw.lipschitz import Budget

    X = sphere_points(12, 4, 30)
    y = np.random.default_rng(30).uniform(-1, 1, 12)
    family, report = relu_memorizer(X, y)
    result = exact_lipschitz(family, domain="rd", budget=Budget(seconds=30))
    rd = report.lipschitz["rd"]
    assert rd.lower <= result.upper[0] * (1 + 1e-6)
    assert result.lower[0] <= rd.upper * (1 + 1e-6)


# --------------------------------------------------------------------------- in between


@given(n=st.integers(2, 24), d=st.integers(2, 6), seed=st.integers(0, 10_000), data=st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_grouped_caps_interpolate_with_one_unit_per_group(n, d, seed, data):
    X = sphere_points(n, d, seed)
    y = np.random.default_rng(seed).uniform(-1, 1, n)
    size = data.draw(st.integers(1, d))
    family, report = grouped_cap_interpolant(X, y, size)
    groups = report.details["groups"]
    assert report.neurons == len(groups) == int(family.widths[0])
    assert sorted(i for g in groups for i in g) == list(range(n))
    assert all(1 <= len(g) <= size for g in groups)
    assert all(len({np.sign(y[i]) for i in g}) == 1 for g in groups)
    assert report.max_error < INTERPOLATION_TOL
    # Each unit is active exactly on its own group's points (up to rounding).
    W, b, _ = weights(family)
    pre = X @ W.T + b
    for j, g in enumerate(groups):
        inside = np.zeros(n, dtype=bool)
        inside[g] = True
        rounding = 1e-12 * (np.linalg.norm(W[j]) + abs(b[j]))  # a neighbour may sit on the rim
        assert (pre[inside, j] > 0).all()
        assert (pre[~inside, j] <= rounding).all()
    for interval in report.lipschitz.values():
        assert interval.lower <= interval.upper * (1 + 1e-12)


def test_grouped_caps_unit_counts():
    X = sphere_points(30, 5, 40)
    y = signs(30, 40)
    _, singles = grouped_cap_interpolant(X, y, 1)
    assert singles.neurons == 30
    y0 = y.copy()
    y0[:4] = 0.0
    _, with_zeros = grouped_cap_interpolant(X, y0, 1)
    assert with_zeros.neurons == 26 and with_zeros.interpolates
    _, by_k = grouped_cap_interpolant(X, y, k=8)
    assert by_k.details["group_size"] == math.ceil(30 / 8)
    assert by_k.neurons >= 30 / math.ceil(30 / 8)


def test_single_point_groups_are_caps_with_their_own_height():
    X = sphere_points(12, 4, 41)
    y = np.random.default_rng(41).uniform(0.1, 1.0, 12)
    family, _ = grouped_cap_interpolant(X, y, 1)
    W, b, _ = weights(family)
    G = X @ X.T
    np.fill_diagonal(G, -np.inf)
    for i in range(12):
        rho = max(0.0, G[i].max())
        s_i = 1 - rho
        assert np.allclose(W[i], y[i] * X[i] / s_i, atol=1e-12)
        assert b[i] == pytest.approx(-y[i] * (1 - s_i) / s_i, abs=1e-12)


@pytest.mark.parametrize(("d", "seed"), [(2, 50), (3, 51)])
def test_grouped_caps_intervals_contain_independent_values(d, seed):
    X = sphere_points(10, d, seed)
    y = signs(10, seed)
    family, report = grouped_cap_interpolant(X, y, d)
    exact = brute_force_rd(family)
    rd, sphere = report.lipschitz["rd"], report.lipschitz["sphere"]
    assert rd.lower <= exact * (1 + 1e-9) and exact <= rd.upper * (1 + 1e-9)
    sampled = tangential_max(family, circle() if d == 2 else fibonacci_sphere())
    assert sampled <= sphere.upper * (1 + 1e-9)
    assert_witnesses(family, report)


# --------------------------------------------------------------------------- shared


def test_subset_relaxation_matches_enumeration():
    rng = np.random.default_rng(60)
    for d in (1, 2, 3):
        V = rng.standard_normal((24, d))  # > 20 pieces: the arrangement route
        bound = max_subset_sum_norm(V)
        assert bound.exact and bound.method == "arrangement (d <= 3)"
        lo = 12
        sums = np.array(
            [
                np.linalg.norm(V[[j for j in range(24) if mask >> j & 1]].sum(axis=0))
                for mask in rng.integers(0, 2**24, 20_000)
            ]
        )
        assert sums.max() <= bound.upper * (1 + 1e-12)
        assert np.linalg.norm(V[bound.best].sum(axis=0)) == pytest.approx(bound.upper)
        half = max_subset_sum_norm(V[:lo])
        brute = max(
            np.linalg.norm(V[:lo][[j for j in range(lo) if mask >> j & 1]].sum(axis=0))
            for mask in range(2**lo)
        )
        assert half.upper == pytest.approx(brute)
    V = rng.standard_normal((30, 6))
    bound = max_subset_sum_norm(V)
    assert not bound.exact and bound.lower <= bound.upper


def test_reports_serialize_and_dtype_device_are_honoured():
    X = sphere_points(8, 3, 70)
    y = signs(8, 70)
    for build in (cap_interpolant, relu_memorizer, baum_memorizer, radial_bump_interpolant):
        model, report = build(X, y, dtype=torch.float32, device="cpu")
        json.dumps(report.to_dict())
        tensor = model.W if isinstance(model, TwoLayer) else model.centers
        assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
    family, report = grouped_cap_interpolant(torch.as_tensor(X), torch.as_tensor(y), 2)
    assert family.W.dtype == torch.float64
    assert report.to_dict()["lipschitz"]["sphere"]["domain"] == "sphere"
