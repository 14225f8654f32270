"""MLP families: batched equals per-member modules; masks, gradients, round trips."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlaw import theory
from robustlaw.models import MLP, ResidualMLPNet


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _family(**kw) -> MLP:
    defaults = dict(d=4, hidden=[[3, 5], [6, 2]], seeds=[0, 1], dtype=torch.float64)
    defaults.update(kw)
    return MLP(**defaults)


def _X(n: int = 9, d: int = 4) -> torch.Tensor:
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def test_members_are_architecture_seed_product():
    fam = _family()
    assert fam.B == 4 and fam.depth == 3
    assert [m["hidden"] for m in fam.members] == [[3, 5], [3, 5], [6, 2], [6, 2]]
    assert [m["seed"] for m in fam.members] == [0, 1, 0, 1]
    assert [m["width"] for m in fam.members] == [5, 5, 6, 6]
    assert fam.widths.tolist() == [[3, 5], [3, 5], [6, 2], [6, 2]]
    single = MLP(4, [7, 7, 7], seeds=[2])
    assert single.members == [{"hidden": [7, 7, 7], "width": 7, "depth": 4, "seed": 2}]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "cos", "poly2"])
@pytest.mark.parametrize("init", ["standard", "ntk", "mean_field"])
def test_forward_and_input_gradient_match_exported_modules(activation, init):
    fam = _family(activation=activation, init=init)
    X = _X()
    out = fam(X)
    grads = fam.input_gradient(X)
    assert out.shape == (4, 9) and grads.shape == (4, 9, 4)
    for i in range(fam.B):
        module = fam.member_module(i)
        assert isinstance(module, nn.Sequential)
        Xg = X.clone().requires_grad_(True)
        value = module(Xg)[:, 0]
        (g,) = torch.autograd.grad(value.sum(), Xg)
        assert torch.allclose(value, out[i], atol=1e-12)
        assert torch.allclose(g, grads[i], atol=1e-10)


def test_skip_connections_match_residual_module():
    fam = MLP(4, [[5, 5, 5], [3, 3, 3]], "tanh", seeds=[0], skip=True, dtype=torch.float64)
    X = _X()
    out = fam(X)
    grads = fam.input_gradient(X)
    for i in range(fam.B):
        module = fam.member_module(i)
        assert isinstance(module, ResidualMLPNet)
        Xg = X.clone().requires_grad_(True)
        value = module(Xg)[:, 0]
        (g,) = torch.autograd.grad(value.sum(), Xg)
        assert torch.allclose(value, out[i], atol=1e-12)
        assert torch.allclose(g, grads[i], atol=1e-10)
    back = MLP.from_module([fam.member_module(i) for i in range(fam.B)])
    assert back.skip and torch.allclose(back(X), out, atol=1e-12)
    with pytest.raises(ValueError, match="skip=True"):
        MLP(4, [5, 4], skip=True)


def test_per_member_inputs_equal_shared_inputs():
    fam = _family()
    X = _X()
    XB = X.expand(fam.B, *X.shape)
    assert torch.allclose(fam(X), fam(XB))
    assert torch.allclose(fam.input_gradient(X), fam.input_gradient(XB))


def test_masked_units_are_zero_get_zero_gradient_and_never_leak():
    fam = _family(activation="sigmoid")  # sigmoid(0) = 1/2: masked units must be masked
    X = _X()
    for (W, b), full_out in zip(fam.layers(), [*fam.masks, None], strict=True):
        if full_out is not None:
            assert (W[~full_out] == 0).all() and (b[~full_out] == 0).all()
    loss = fam(X).pow(2).sum()
    loss.backward()
    for j, m in enumerate(fam.masks):
        assert (fam.weights[j].grad[~m] == 0).all()
        assert (fam.weights[j + 1].grad.transpose(1, 2)[~m] == 0).all()
        assert (fam.biases[j].grad[~m] == 0).all()
    # a member equals its trimmed module, so padding never changes the function
    for i in range(fam.B):
        assert torch.allclose(fam.member_module(i)(X)[:, 0], fam(X)[i].detach(), atol=1e-12)


def test_round_trip_and_init_depends_only_on_seed_architecture_and_d():
    fam = _family(activation="tanh")
    back = MLP.from_module([fam.member_module(i) for i in range(fam.B)])
    X = _X()
    assert torch.allclose(back(X), fam(X), atol=1e-12)
    assert back.widths.tolist() == fam.widths.tolist()
    alone = MLP(4, [6, 2], "tanh", seeds=[1], dtype=torch.float64)
    for (Wa, ba), (Wf, bf) in zip(alone.layers(), fam.layers(), strict=True):
        rows, cols = Wa.shape[1:]
        assert torch.equal(Wa[0], Wf[3, :rows, :cols]) and torch.equal(ba[0], bf[3, :rows])


def test_param_counts_follow_theory_and_layers_shapes():
    fam = _family()
    assert fam.param_counts == [
        theory.mlp_param_count([4, 3, 5, 1]),
        theory.mlp_param_count([4, 3, 5, 1]),
        theory.mlp_param_count([4, 6, 2, 1]),
        theory.mlp_param_count([4, 6, 2, 1]),
    ]
    nobias = MLP(4, [3], bias=False)
    assert nobias.param_counts == [theory.mlp_param_count([4, 3, 1], bias=False)]
    assert [tuple(W.shape) for W, _ in fam.layers()] == [(4, 6, 4), (4, 5, 6), (4, 1, 5)]
    assert all(b is None for _, b in nobias.layers())


def test_select_copies_members():
    fam = _family()
    sub = fam.select([2, 0])
    X = _X()
    assert sub.members == [fam.members[2], fam.members[0]]
    assert torch.allclose(sub(X), fam(X)[[2, 0]])


def test_from_module_names_the_first_unsupported_layer():
    with pytest.raises(ValueError, match=r"modules\[0\]\[1\].*Dropout"):
        MLP.from_module(nn.Sequential(nn.Linear(3, 4), nn.Dropout(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match=r"modules\[0\]\[2\].*expected nn.Linear"):
        MLP.from_module(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.ReLU(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="1 output"):
        MLP.from_module(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="same depth"):
        MLP.from_module(
            [
                nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
                nn.Sequential(
                    nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)
                ),
            ]
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(d=0), "d must be"),
        (dict(hidden=[[3, 0]]), r"hidden\[0\]\[1\]"),
        (dict(hidden=[]), "hidden"),
        (dict(hidden=[[3], [3, 4]]), "same positive number"),
        (dict(seeds=[-1]), r"seeds\[0\]"),
        (dict(activation="swish"), "activation"),
        (dict(init="xavier"), "init"),
        (dict(dtype=torch.int32), "dtype"),
    ],
)
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _family(**kwargs)


def test_bad_inputs():
    fam = _family()
    with pytest.raises(ValueError, match="X must have shape"):
        fam(torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="X must be a torch tensor"):
        fam([[0.0] * 4])
    with pytest.raises(ValueError, match="finite"):
        MLP.from_tensors([torch.full((1, 2, 3), float("nan")), torch.ones(1, 1, 2)])


@pytest.mark.parametrize("init", ["standard", "ntk", "mean_field"])
def test_initialization_scales(init):
    """Empirical variances of the initial weights against each scheme's definition
    (two-layer families use the same three schemes for their output layer)."""
    from robustlaw.models import TwoLayer

    d, k = 40, 2000
    fam = MLP(d, [k], seeds=[0], init=init, dtype=torch.float64)
    (W1, b1), (W2, _) = fam.layers()
    two = TwoLayer(d, [k], seeds=[0], init=init, dtype=torch.float64)
    uniform = init == "standard"
    hidden_var = 1 / (3 * d) if uniform else 1 / d  # U(-1/sqrt d, 1/sqrt d) has var 1/(3d)
    out_var = {"standard": 1 / (3 * k), "ntk": 1 / k, "mean_field": 1 / k**2}[init]
    for W, a in ((W1[0], W2[0, 0]), (two.W[0].detach(), two.a[0].detach())):
        assert W.var().item() == pytest.approx(hidden_var, rel=0.05)
        assert a.var().item() == pytest.approx(out_var, rel=0.15)
    if uniform:
        assert b1.abs().max() <= 1 / d**0.5
    else:
        assert (b1 == 0).all()
