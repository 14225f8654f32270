"""The internal stack form: import from families and nn.Modules, evaluation, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from robustlaw.lipschitz.stack import as_stack, slope_bounds
from robustlaw.lipschitz.testing import random_family
from robustlaw.models import TwoLayer
from robustlaw.models.activations import get_activation
from robustlaw.models.mlp import MLP


def autograd_gradient(module: nn.Module, X: torch.Tensor) -> torch.Tensor:
    Xg = X.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(module(Xg).sum(), Xg)
    return g


def test_two_layer_family_matches_forward_and_input_gradient():
    fam = TwoLayer(d=4, widths=[3, 7], seeds=[0, 1], skip=True, output_bias=True)
    with torch.no_grad():
        fam.v.normal_()
        fam.c.normal_()
    stack = as_stack(fam)
    X = torch.randn(9, 4)
    assert stack.depth == 2 and stack.kind == "two_layer" and stack.B == 4
    assert torch.allclose(stack.forward(X), fam(X).double(), atol=1e-6)
    grad, _ = stack.gradient(X)
    assert torch.allclose(grad, fam.input_gradient(X).double(), atol=1e-6)
    assert stack.members == fam.members


def test_deep_sequential_with_custom_slopes_and_final_activation():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(3, 5),
        nn.LeakyReLU(0.2),
        nn.Linear(5, 4),
        nn.Linear(4, 6),  # two affine maps in a row compose into one layer
        nn.Softplus(beta=3.0),
        nn.Identity(),
        nn.Linear(6, 1),
        nn.Tanh(),  # a final activation becomes one more 1 -> 1 layer
    ).double()
    stack = as_stack(net)
    assert stack.depth == 4 and stack.widths == [5, 6, 1]
    assert slope_bounds(stack.activations[0]) == (0.2, 1.0)
    X = torch.randn(7, 3, dtype=torch.float64)
    assert torch.allclose(stack.forward(X)[0], net(X)[:, 0], atol=1e-12)
    assert torch.allclose(stack.gradient(X)[0][0], autograd_gradient(net, X), atol=1e-12)


def test_list_of_modules_pads_widths_without_changing_functions():
    torch.manual_seed(1)
    nets = [
        nn.Sequential(nn.Linear(2, k), nn.ReLU(), nn.Linear(k, 3), nn.ReLU(), nn.Linear(3, 1))
        for k in (2, 6)
    ]
    stack = as_stack(nets)
    assert stack.B == 2 and stack.widths == [6, 3]
    X = torch.randn(11, 2)
    for b, net in enumerate(nets):
        assert torch.allclose(stack.forward(X)[b], net(X)[:, 0].double(), atol=1e-6)


def test_mlp_family_is_read_through_layers():
    fam = MLP(d=3, hidden=[4, 5], activation="tanh", seeds=[0, 1])
    stack = as_stack(fam)
    X = torch.randn(6, 3)
    assert stack.depth == 3
    assert torch.allclose(stack.forward(X), fam(X).double(), atol=1e-5)
    assert torch.allclose(stack.gradient(X)[0], fam.input_gradient(X).double(), atol=1e-5)


def test_margin_flags_points_on_kinks():
    # f(x) = -relu(x) + relu(-x) + relu(x + 1) equals 1 on (-1, inf): its gradient is 0
    # there, but at x = 0 the chain rule with relu'(0) = 0 reports the third unit's slope 1.
    W = torch.tensor([[1.0], [-1.0], [1.0]], dtype=torch.float64)
    b = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    a = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    stack = as_stack(TwoLayer.from_tensors(W, a, b))
    grad, margin = stack.gradient(torch.tensor([[0.0], [0.5]], dtype=torch.float64), True)
    assert grad[0, 0, 0] == pytest.approx(1.0)  # the chain rule's answer at the kink
    assert margin[0, 0] == 0.0  # ... which is flagged
    assert margin[0, 1] > 0 and grad[0, 1, 0] == pytest.approx(0.0)


def test_slope_bounds_of_known_activations():
    assert slope_bounds(get_activation("relu")) == (0.0, 1.0)
    assert slope_bounds(get_activation("sigmoid")) == (0.0, 0.25)
    lo, hi = slope_bounds(get_activation("gelu"))
    t = torch.linspace(-6, 6, 200_001, dtype=torch.float64)
    d = get_activation("gelu").derivative(t)
    assert lo == pytest.approx(float(d.min()), abs=1e-9)
    assert hi == pytest.approx(float(d.max()), abs=1e-9)
    assert slope_bounds(get_activation("square")) == (-math.inf, math.inf)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)), r"module\[1\]"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), "one output"),
        (nn.Conv1d(1, 1, 3), "Conv1d"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 1)), "follow an nn.Linear"),
    ],
)
def test_unsupported_modules_name_the_layer(module, message):
    with pytest.raises(ValueError, match=message):
        as_stack(module)


def test_nan_weights_and_wrong_types_are_rejected():
    fam = random_family(2, [3], 0)
    with torch.no_grad():
        fam.a[0, 1] = math.inf
    with pytest.raises(ValueError, match="finite"):
        as_stack(fam)
    with pytest.raises(TypeError, match="model must be"):
        as_stack(np.zeros((3, 3)))


def test_select_and_two_layer_round_trip():
    fam = random_family(3, [4, 2, 3], 7)
    stack = as_stack(fam)
    sub = stack.select([2, 0])
    X = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(sub.forward(X), stack.forward(X)[[2, 0]])
    back = stack.to_two_layer()
    assert torch.allclose(back(X), fam(X))
