"""TwoLayer families: batched equals per-member modules; masks, gradients, round trips."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlaw import theory
from robustlaw.models import ACTIVATIONS, TwoLayer
from robustlaw.models.activations import get_activation


def _family(**kw) -> TwoLayer:
    defaults = dict(d=5, widths=[3, 7], seeds=[0, 1], dtype=torch.float64)
    defaults.update(kw)
    return TwoLayer(**defaults)


def test_members_are_width_seed_product_and_masks_match_widths():
    fam = _family()
    assert fam.B == 4 and fam.k_max == 7
    assert [m["width"] for m in fam.members] == [3, 3, 7, 7]
    assert [m["seed"] for m in fam.members] == [0, 1, 0, 1]
    assert fam.widths.tolist() == [3, 3, 7, 7]
    assert fam.mask.sum(dim=1).tolist() == [3, 3, 7, 7]
    assert (fam.W[~fam.mask] == 0).all() and (fam.a[~fam.mask] == 0).all()


def test_init_depends_only_on_seed_width_and_d():
    alone = TwoLayer(d=5, widths=[7], seeds=[1], dtype=torch.float64)
    fam = _family()
    assert torch.equal(fam.W[3], alone.W[0]) and torch.equal(fam.a[3], alone.a[0])


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_and_gradient_match_exported_modules(activation):
    fam = _family(activation=activation, output_bias=True, init="ntk")
    with torch.no_grad():
        fam.c.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64))
    X = torch.randn(11, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = fam(X)
    grads = fam.input_gradient(X)
    for i in range(fam.B):
        module = fam.member_module(i)
        assert torch.allclose(module(X)[:, 0], out[i], atol=1e-12)
        if activation == "threshold":
            continue  # the step's autograd derivative is undefined; ours is 0 a.e.
        Xg = X.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(module(Xg).sum(), Xg)
        assert torch.allclose(g, grads[i], atol=1e-10)


def test_skip_and_per_member_inputs():
    fam = _family(skip=True)
    with torch.no_grad():
        fam.v.normal_()
    X = torch.randn(6, 5, dtype=torch.float64)
    XB = X.expand(fam.B, 6, 5)
    assert torch.allclose(fam(X), fam(XB))
    assert torch.allclose(fam.input_gradient(X), fam.input_gradient(XB))
    module = fam.member_module(2)
    assert torch.allclose(module(X)[:, 0], fam(X)[2])


def test_masked_units_get_zero_gradient_and_stay_zero_under_adam():
    fam = _family()
    X = torch.randn(20, 5, dtype=torch.float64)
    y = torch.sign(torch.randn(20, dtype=torch.float64))
    opt = torch.optim.Adam(fam.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        loss = ((fam(X) - y) ** 2).mean()
        loss.backward()
        assert (fam.W.grad[~fam.mask] == 0).all()
        assert (fam.a.grad[~fam.mask] == 0).all()
        assert (fam.b.grad[~fam.mask] == 0).all()
        opt.step()
    assert (fam.W[~fam.mask] == 0).all() and (fam.a[~fam.mask] == 0).all()


def test_round_trip_through_modules():
    fam = _family(activation="tanh")
    modules = [fam.member_module(i) for i in range(fam.B)]
    back = TwoLayer.from_module(modules)
    X = torch.randn(9, 5, dtype=torch.float64)
    assert torch.allclose(back(X), fam(X), atol=1e-12)
    assert back.widths.tolist() == fam.widths.tolist()


def test_param_counts_follow_theory():
    fam = _family(output_bias=True)
    assert fam.param_counts == [
        theory.two_layer_param_count(5, k, output_bias=True) for k in (3, 3, 7, 7)
    ]


def test_select_and_effective_weights():
    fam = _family()
    sub = fam.select([3, 0])
    assert sub.members == [fam.members[3], fam.members[0]]
    X = torch.randn(4, 5, dtype=torch.float64)
    assert torch.allclose(sub(X), fam(X)[[3, 0]])
    eff = fam.effective_weights()
    assert eff.W.shape == (4, 7, 5) and not eff.W.requires_grad


def test_activation_lipschitz_constants():
    t = torch.linspace(-40, 40, 800_001, dtype=torch.float64)
    for name, act in ACTIVATIONS.items():
        if act.lipschitz == float("inf"):
            continue
        assert act.derivative(t).abs().max().item() == pytest.approx(act.lipschitz, rel=1e-6), name
    assert get_activation("gelu").lipschitz == pytest.approx(1.1289, abs=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(d=0), "d must be"),
        (dict(widths=[3, 0]), r"widths\[1\]"),
        (dict(widths=[]), "widths"),
        (dict(seeds=[-1]), r"seeds\[0\]"),
        (dict(activation="swish"), "activation"),
        (dict(init="xavier"), "init"),
        (dict(dtype=torch.int32), "dtype"),
    ],
)
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _family(**kwargs)


def test_bad_inputs_and_modules():
    fam = _family()
    with pytest.raises(ValueError, match="X must have shape"):
        fam(torch.randn(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"modules\[0\]\[1\]"):
        TwoLayer.from_module(nn.Sequential(nn.Linear(3, 4), nn.Dropout(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="exactly 3 layers"):
        TwoLayer.from_module(nn.Sequential(nn.Linear(3, 4), nn.ReLU()))
    with pytest.raises(ValueError, match="finite"):
        TwoLayer.from_tensors(torch.full((2, 3), float("nan")), torch.ones(2))
