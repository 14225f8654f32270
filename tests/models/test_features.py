"""Random-feature and NTK-feature families (closed-form minimum-norm fits) and polynomial
activations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlaw.models import NTKFeatures, RandomFeatures, TwoLayer, get_activation
from robustlaw.models.activations import hermite_coefficients, name_of_module
from robustlaw.models.features import min_norm_solve


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data(n: int = 24, d: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    X = X / X.norm(dim=1, keepdim=True)
    y = torch.sign(torch.randn(n, dtype=torch.float64, generator=gen))
    return X, y


@pytest.mark.parametrize("cls", [RandomFeatures, NTKFeatures])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("method", ["kernel", "primal"])
def test_min_norm_solution_equals_numpy_lstsq(cls, activation, method):
    X, y = _data()
    fam = cls(5, [3, 10, 40], activation, seeds=[0, 1], dtype=torch.float64)
    mse = fam.fit_min_norm(X, y, method=method)
    Z = fam.features(X).numpy()
    for b in range(fam.B):
        ref, *_ = np.linalg.lstsq(Z[b], y.numpy(), rcond=None)
        got = fam.theta.detach()[b].reshape(-1).numpy()
        scale = max(1.0, np.abs(ref).max())
        assert np.abs(got - ref).max() <= 1e-6 * scale, (b, method)
        assert mse[b].item() == pytest.approx(np.mean((Z[b] @ ref - y.numpy()) ** 2), abs=1e-9)


@pytest.mark.parametrize("cls", [RandomFeatures, NTKFeatures])
def test_ridge_solution_matches_normal_equations(cls):
    X, y = _data()
    fam = cls(5, [6, 30], "softplus", seeds=[0], dtype=torch.float64)
    lam = 0.3
    for method in ("kernel", "primal"):
        fam.fit_min_norm(X, y, ridge=lam, method=method)
        Z = fam.features(X)
        for b in range(fam.B):
            p = Z.shape[2]
            ref = torch.linalg.solve(Z[b].T @ Z[b] + lam * torch.eye(p, dtype=Z.dtype), Z[b].T @ y)
            assert torch.allclose(fam.theta.detach()[b].reshape(-1), ref, atol=1e-9)


def test_interpolation_when_p_exceeds_n_and_not_below():
    X, y = _data(n=40, d=8)
    ntk = NTKFeatures(8, [2, 20], "relu", seeds=[0], dtype=torch.float64)  # p = 16, 160
    mse = ntk.fit_min_norm(X, y)
    assert mse[0] > 0.1  # p = 16 < n = 40 cannot interpolate random labels
    assert mse[1] < 1e-20  # p = d k = 160 >> n
    assert ntk.param_counts == [16, 160]
    rf = RandomFeatures(8, [200], "relu", seeds=[0], dtype=torch.float64)
    assert rf.fit_min_norm(X, y)[0] < 1e-20 and rf.param_counts == [200]


def test_min_norm_solve_handles_rank_deficiency():
    gen = torch.Generator().manual_seed(1)
    Z = torch.randn(2, 6, 3, dtype=torch.float64, generator=gen)  # rank 3 < n = 6
    y = torch.randn(6, dtype=torch.float64, generator=gen)
    alpha = min_norm_solve(Z @ Z.transpose(1, 2), y)
    theta = torch.einsum("bnp,bn->bp", Z, alpha)
    for b in range(2):
        ref = torch.linalg.lstsq(Z[b], y[:, None], driver="gelsd").solution[:, 0]
        assert torch.allclose(theta[b], ref, atol=1e-10)


@pytest.mark.parametrize("cls", [RandomFeatures, NTKFeatures])
@pytest.mark.parametrize("activation", ["tanh", "square", "cos", "relu"])
def test_input_gradient_matches_exported_module(cls, activation):
    X, y = _data()
    fam = cls(5, [4, 9], activation, seeds=[0], dtype=torch.float64)
    fam.fit_min_norm(X, y)
    Z = _data(n=7, seed=5)[0]
    grads = fam.input_gradient(Z)
    assert grads.shape == (2, 7, 5)
    assert fam.sensitivity(Z).shape == (2, 7)
    for i in range(fam.B):
        module = fam.member_module(i)
        Zg = Z.clone().requires_grad_(True)
        out = module(Zg)[:, 0]
        (g,) = torch.autograd.grad(out.sum(), Zg)
        assert torch.allclose(out, fam(Z)[i].detach(), atol=1e-10)
        assert torch.allclose(g, grads[i], atol=1e-9)


def test_round_trips_and_two_layer_equivalence():
    X, y = _data()
    rf = RandomFeatures(5, [3, 8], "tanh", seeds=[0, 1], dtype=torch.float64)
    rf.fit_min_norm(X, y)
    back = RandomFeatures.from_module([rf.member_module(i) for i in range(rf.B)])
    assert torch.allclose(back(X), rf(X), atol=1e-12)
    two = rf.to_two_layer()
    assert isinstance(two, TwoLayer) and torch.allclose(two(X), rf(X), atol=1e-12)
    assert torch.allclose(two.input_gradient(X), rf.input_gradient(X), atol=1e-10)
    ntk = NTKFeatures(5, [3, 8], "tanh", seeds=[0], dtype=torch.float64)
    ntk.fit_min_norm(X, y)
    back = NTKFeatures.from_module([ntk.member_module(i) for i in range(ntk.B)])
    assert torch.allclose(back(X), ntk(X), atol=1e-12)
    assert rf.select([3]).members == [rf.members[3]]


def test_features_are_fixed_and_seeded_per_member():
    a = RandomFeatures(5, [4, 9], seeds=[0, 1])
    b = RandomFeatures(5, [9], seeds=[1])
    assert torch.equal(a.W[3, :9], b.W[0])
    assert not a.W.requires_grad and a.theta.requires_grad
    assert (a.W[0, 4:] == 0).all()
    W = RandomFeatures(50, [4000], seeds=[0], dtype=torch.float64).W
    assert W.var().item() == pytest.approx(1 / 50, rel=0.05)  # entries N(0, 1/d)


def test_bad_inputs():
    X, y = _data()
    rf = RandomFeatures(5, [4], seeds=[0], dtype=torch.float64)
    with pytest.raises(ValueError, match="y must have shape"):
        rf.fit_min_norm(X, y[:-1])
    with pytest.raises(ValueError, match="finite"):
        rf.fit_min_norm(X, y * float("nan"))
    with pytest.raises(ValueError, match="ridge"):
        rf.fit_min_norm(X, y, ridge=-1.0)
    with pytest.raises(ValueError, match="widths"):
        RandomFeatures(5, [0])
    with pytest.raises(ValueError, match="activation"):
        NTKFeatures(5, [3], "swish")
    with pytest.raises(ValueError, match=r"modules\[0\]\[0\]"):
        RandomFeatures.from_module(
            torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
        )


# --------------------------------------------------------------------------- polynomials


def test_hermite_polynomials_are_orthonormal_under_the_gaussian():
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    values = [np.polyval(hermite_coefficients(q)[::-1], nodes) for q in range(6)]
    gram = np.array([[np.sum(weights * u * v) for v in values] for u in values])
    assert np.allclose(gram, np.eye(6), atol=1e-10)


@pytest.mark.parametrize("name", ["poly1", "poly3", "hermite2", "hermite5", "poly7"])
def test_polynomial_activations(name):
    act = get_activation(name)  # poly7 and hermite5 are created on first use
    q = int(name.removeprefix("poly").removeprefix("hermite"))
    t = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    (dt,) = torch.autograd.grad(act(t).sum(), t)
    assert torch.allclose(act.derivative(t), dt, atol=1e-10)
    assert act.lipschitz == (1.0 if q == 1 else math.inf)
    if name.startswith("poly"):
        assert torch.allclose(act(t), t**q)
    module = act.module()
    assert name_of_module(module) == name
    assert torch.allclose(module(t), act(t))


def test_polynomial_families_round_trip():
    fam = TwoLayer(3, [4], "hermite3", seeds=[0], dtype=torch.float64)
    X = torch.randn(5, 3, dtype=torch.float64)
    back = TwoLayer.from_module(fam.member_module(0))
    assert back.activation.name == "hermite3"
    assert torch.allclose(back(X), fam(X))


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=9), st.floats(min_value=-3, max_value=3))
def test_hermite_recurrence(q, t):
    """h_{q+1}(t) sqrt(q+1) = t h_q(t) - sqrt(q) h_{q-1}(t) for normalized Hermite h_q."""
    h = [np.polyval(hermite_coefficients(j)[::-1], t) for j in (q - 1, q, q + 1)]
    assert h[2] * math.sqrt(q + 1) == pytest.approx(t * h[1] - math.sqrt(q) * h[0], abs=1e-8)


def test_bad_polynomial_names():
    with pytest.raises(ValueError, match="activation"):
        get_activation("poly0")
    with pytest.raises(ValueError, match="activation"):
        get_activation("hermiteX")
