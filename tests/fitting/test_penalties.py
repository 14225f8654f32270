"""Certified upper bounds and penalties: hand-computed values, bound >= exact >= lower."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlaw.fitting import PENALTIES, certified_bounds, get_penalty, grad_norm_penalty
from robustlaw.models import MLP, TwoLayer


def _two_layer(W, a, b=None, v=None, activation="relu"):
    t = lambda x: None if x is None else torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return TwoLayer.from_tensors(t(W), t(a), b=t(b), v=t(v), activation=activation)


def test_hand_computed_bounds():
    fam = _two_layer([[1.0, 0.0], [0.0, 2.0]], [3.0, 4.0])
    bounds = certified_bounds(fam).bounds
    assert bounds["spectral"][0] == pytest.approx(5 * 2)  # ||a|| ||W||_op
    assert bounds["path_norm"][0] == pytest.approx(3 * 1 + 4 * 2)
    assert bounds["averaged"][0] == pytest.approx(0.5 * (math.sqrt(3**2 + 8**2) + 10))
    # balanced units: |a_l| = ||w_l|| = sqrt(3), sqrt(8): ||a|| = sqrt(11), ||W||_op = sqrt(8)
    assert bounds["spectral_balanced"][0] == pytest.approx(math.sqrt(11) * math.sqrt(8))
    # exact Lip = max over patterns of ||W^T diag(s) a|| = ||(3, 8)||: every bound above it
    exact = math.sqrt(73)
    assert min(bounds[k][0] for k in bounds) >= exact - 1e-12
    best = certified_bounds(fam)
    assert best.best[0] == pytest.approx(min(bounds[k][0] for k in bounds))


def test_skip_and_leaky_relu_bounds():
    fam = _two_layer([[1.0, 0.0]], [2.0], v=[0.0, 1.0], activation="leaky_relu")
    bounds = certified_bounds(fam).bounds
    # grad = v + s * 2 * e1 with s in [0.01, 1]: max norm sqrt(1 + 4)
    assert bounds["spectral"][0] == pytest.approx(1 + 2)
    mid, half = (0.01 + 1) / 2, (1 - 0.01) / 2
    assert bounds["averaged"][0] == pytest.approx(math.hypot(2 * mid, 1) + half * 2)
    assert bounds["averaged"][0] >= math.sqrt(5) - 1e-12


def _exact_two_layer_lip(fam: TwoLayer, i: int) -> float:
    """max over activation patterns of ||W^T diag(s) a||: exact when k <= d, full rank W,
    no biases (every pattern realizable)."""
    W = fam.W[i].detach().double()
    a = fam.a[i].detach().double()
    best = 0.0
    for s in itertools.product([0.0, 1.0], repeat=W.shape[0]):
        best = max(best, float((W.T @ (torch.tensor(s, dtype=W.dtype) * a)).norm()))
    return best


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=10_000))
def test_bounds_dominate_the_exact_constant(k, seed):
    gen = torch.Generator().manual_seed(seed)
    d = 4
    W = torch.randn(1, k, d, dtype=torch.float64, generator=gen)
    a = torch.randn(1, k, dtype=torch.float64, generator=gen)
    fam = TwoLayer.from_tensors(W, a)
    exact = _exact_two_layer_lip(fam, 0)
    for name, values in certified_bounds(fam).bounds.items():
        assert values[0] >= exact * (1 - 1e-12), name


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "softplus"])
def test_bounds_dominate_sampled_gradients(activation):
    fam = TwoLayer(4, [6, 30], activation, seeds=[0, 1], skip=True, init="ntk", dtype=torch.float64)
    with torch.no_grad():
        fam.v.normal_(generator=torch.Generator().manual_seed(0))
    Z = torch.randn(4000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    lower = fam.input_gradient(Z).norm(dim=-1).amax(dim=1).detach().numpy()
    for name, values in certified_bounds(fam).bounds.items():
        assert (values >= lower - 1e-12).all(), name


def test_mlp_layer_product_dominates_sampled_gradients():
    for skip in (False, True):
        hidden = [[5, 5, 5]] if skip else [[3, 6], [7, 2]]
        fam = MLP(4, hidden, "tanh", seeds=[0, 1], skip=skip, dtype=torch.float64)
        Z = torch.randn(3000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        lower = fam.input_gradient(Z).norm(dim=-1).amax(dim=1).detach().numpy()
        upper = certified_bounds(fam).bounds["spectral"]
        assert (upper >= lower).all()
        assert np.allclose(get_penalty("spectral")(fam).detach().numpy(), upper, rtol=1e-10)


def test_masked_units_never_leak_into_bounds():
    fam = TwoLayer(3, [2, 5], seeds=[0], dtype=torch.float64)
    alone = TwoLayer(3, [2], seeds=[0], dtype=torch.float64)
    with torch.no_grad():  # garbage in padded slots must be ignored
        fam.W.data[0, 2:] = 100.0
        fam.a.data[0, 2:] = 100.0
    full = certified_bounds(fam).bounds
    ref = certified_bounds(alone).bounds
    for name in ref:
        assert full[name][0] == pytest.approx(ref[name][0], rel=1e-12), name
    for name, key in (
        ("spectral", "spectral"),
        ("path_norm", "path_norm"),
        ("averaged", "averaged_balanced"),  # the penalty is the bound at the balanced scaling
    ):
        assert get_penalty(name)(fam)[0].item() == pytest.approx(ref[key][0], rel=1e-10)


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalties_equal_certified_bounds_and_are_differentiable(name):
    fam = TwoLayer(4, [8], seeds=[0, 1], dtype=torch.float64)
    value = get_penalty(name)(fam)
    expected = certified_bounds(fam).bounds
    key = f"{name}_balanced" if name == "averaged" else name
    assert np.allclose(value.detach().numpy(), expected[key], rtol=1e-10)
    value.sum().backward()
    assert fam.W.grad is not None and torch.isfinite(fam.W.grad).all()


def test_grad_norm_penalty_is_a_soft_maximum():
    fam = TwoLayer(4, [8], seeds=[0], dtype=torch.float64)
    points = torch.randn(50, 4, dtype=torch.float64)
    pen = grad_norm_penalty(points, power=8)
    norms = fam.input_gradient(points).norm(dim=-1)
    value = pen(fam)
    assert not pen.certified and pen.uses_data
    assert (norms.mean(dim=1) <= value + 1e-12).all() and (value <= norms.amax(dim=1) + 1e-12).all()


def test_bad_penalties():
    with pytest.raises(ValueError, match="penalty must be one of"):
        get_penalty("lipsdp")
    with pytest.raises(ValueError, match="needs points"):
        get_penalty("grad_norm")
    fam = TwoLayer(3, [2], "square", seeds=[0])
    with pytest.raises(ValueError, match="Lipschitz activation"):
        get_penalty("spectral")(fam)
    assert np.isinf(certified_bounds(fam).best).all()
    with pytest.raises(TypeError, match="TwoLayer or MLP"):
        certified_bounds(torch.nn.Linear(2, 1))
