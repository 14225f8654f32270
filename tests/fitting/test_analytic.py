"""The hand-derived two-layer squared error: same values and gradients as autograd."""

from __future__ import annotations

import pytest
import torch
from fitting_data import sphere_data
from hypothesis import example, given, settings
from hypothesis import strategies as st

import robustlaw.fitting.analytic as analytic_pass
from robustlaw.fitting import Hinge, Interpolate, fit, get_penalty
from robustlaw.fitting.analytic import MV_MIN_WIDTH, TwoLayerSquaredError, analytic_supported
from robustlaw.fitting.objective import Objective
from robustlaw.models import MLP, TwoLayer


def _max_rel_diff(xs: list[torch.Tensor], ys: list[torch.Tensor]) -> float:
    worst = 0.0
    for x, y in zip(xs, ys, strict=True):
        assert x.shape == y.shape
        scale = max(1.0, float(y.abs().max()))
        worst = max(worst, float((x - y).abs().max()) / scale)
    return worst


def _both(group: TwoLayer, X, y, rows: int, **kwargs):
    fast = Objective(group, X, y, rows=rows, analytic=True, **kwargs).evaluate()
    slow = Objective(group, X, y, rows=rows, analytic=False, **kwargs).evaluate()
    return fast, slow


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"hidden_bias": False},
        {"output_bias": True},
        {"skip": True, "output_bias": True},
    ],
)
@pytest.mark.parametrize("rows", [7, 40])  # several chunks with a ragged last one; one chunk
@pytest.mark.parametrize("width", [6, MV_MIN_WIDTH + 3])  # both output reductions
def test_gradients_equal_autograd_in_float64(activation, options, rows, width):
    X, y = sphere_data(40, 5, seed=1)
    fam = TwoLayer(5, [width] * 3, activation, seeds=[0, 1], dtype=torch.float64, **options)
    with torch.no_grad():  # nonzero output bias and skip weights
        if fam.c is not None:
            fam.c.normal_(generator=torch.Generator().manual_seed(3))
        if fam.v is not None:
            fam.v.normal_(generator=torch.Generator().manual_seed(4))
    fast, slow = _both(fam, X, y, rows)
    assert len(fast.grads) == len(list(fam.parameters()))
    assert _max_rel_diff([fast.value, fast.mse], [slow.value, slow.mse]) <= 1e-12
    assert _max_rel_diff(fast.grads, slow.grads) <= 1e-12
    assert all(g.is_contiguous() for g in fast.grads)


def test_masked_units_get_zero_gradients_and_match_autograd():
    X, y = sphere_data(30, 4, seed=2)
    gen = torch.Generator().manual_seed(0)
    k = MV_MIN_WIDTH + 1
    W = torch.randn(2, k, 4, dtype=torch.float64, generator=gen)
    a = torch.randn(2, k, dtype=torch.float64, generator=gen)
    b = torch.randn(2, k, dtype=torch.float64, generator=gen) * 0.1
    mask = torch.rand(2, k, generator=gen) < 0.6
    mask[:, 0] = True
    fam = TwoLayer.from_tensors(W, a, b, mask=mask)
    fast, slow = _both(fam, X, y, rows=8)
    assert _max_rel_diff(fast.grads, slow.grads) <= 1e-12
    gW, gb, ga = fast.grads
    assert (gW[~mask] == 0).all() and (gb[~mask] == 0).all() and (ga[~mask] == 0).all()


def test_hinge_and_penalty_compose_with_the_analytic_pass():
    X, y = sphere_data(30, 4, seed=3)
    fam = TwoLayer(4, [10], seeds=[0, 1, 2], dtype=torch.float64)
    tau = torch.tensor([0.0, 0.5, 10.0], dtype=torch.float64)  # active, active, flat hinge
    strengths = torch.tensor([0.1, 1.0, 0.01], dtype=torch.float64)
    fast, slow = _both(
        fam, X, y, 9, data_term=Hinge(tau, power=2.0), penalty=get_penalty("path_norm"),
        strengths=strengths,
    )  # fmt: skip
    assert _max_rel_diff([fast.value], [slow.value]) <= 1e-12
    assert _max_rel_diff(fast.grads, slow.grads) <= 1e-12


def test_squared_error_by_hand_on_a_tiny_network():
    # one member, two ReLU units, no bias, two points: every number by hand
    W = torch.tensor([[[1.0, 0.0], [0.0, -1.0]]], dtype=torch.float64)
    a = torch.tensor([[2.0, 3.0]], dtype=torch.float64)
    fam = TwoLayer.from_tensors(W, a)
    X = torch.tensor([[1.0, 1.0], [0.5, -2.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    # pre = [[1, -1], [0.5, 2]], h = [[1, 0], [0.5, 2]], f = [2, 7], e = [1, 8]
    sse, (gW, ga) = TwoLayerSquaredError(fam, X, y, rows=1)()
    assert sse.tolist() == [65.0]
    assert ga.tolist() == [[2 * (1 * 1 + 8 * 0.5), 2 * 8 * 2]]
    # dW_1 = 2 a_1 (e_1 x_1 + e_2 x_2) (unit 1 active on both); dW_2 = 2 a_2 e_2 x_2
    assert gW.tolist() == [[[2 * 2 * (1 + 4), 2 * 2 * (1 - 16)], [2 * 3 * 8 * 0.5, -2 * 3 * 16]]]


@settings(max_examples=25, deadline=None)
@given(
    s=st.integers(1, 3),
    k=st.integers(1, 9),
    d=st.integers(1, 6),
    n=st.integers(1, 25),
    rows=st.integers(1, 30),
    leaky=st.booleans(),
    mv=st.booleans(),
    seed=st.integers(0, 2**16),
)
# one unit, one input: the transposed W gradient is contiguous and shares storage
@example(s=1, k=1, d=1, n=1, rows=1, leaky=False, mv=False, seed=2)
def test_any_shape_and_chunking_matches_autograd(s, k, d, n, rows, leaky, mv, seed):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    y = torch.randn(n, dtype=torch.float64, generator=gen)
    fam = TwoLayer.from_tensors(
        torch.randn(s, k, d, dtype=torch.float64, generator=gen),
        torch.randn(s, k, dtype=torch.float64, generator=gen),
        b=torch.randn(s, k, dtype=torch.float64, generator=gen),
        activation="leaky_relu" if leaky else "relu",
    )
    saved = analytic_pass.MV_MIN_WIDTH
    analytic_pass.MV_MIN_WIDTH = (
        1 if mv else 10**9
    )  # the reduction by matrix-vector products or not
    try:
        fast, slow = _both(fam, X, y, rows)
        values = Objective(fam, X, y, rows=rows, analytic=True).evaluate(need_grad=False)
    finally:
        analytic_pass.MV_MIN_WIDTH = saved
    assert _max_rel_diff([fast.mse], [slow.mse]) <= 1e-12
    assert _max_rel_diff(fast.grads, slow.grads) <= 1e-12
    assert values.grads is None and torch.equal(values.mse, fast.mse)


def test_returned_gradients_are_not_reused_buffers():
    X, y = sphere_data(20, 3)
    fam = TwoLayer(3, [5], seeds=[0, 1], dtype=torch.float64)
    obj = Objective(fam, X, y, rows=6, analytic=True)
    first = [g.clone() for g in obj.evaluate().grads]
    kept = obj.evaluate().grads
    with torch.no_grad():
        fam.W.mul_(1.5)
    moved = obj.evaluate().grads  # sees the in-place update, leaves ``kept`` alone
    assert all(torch.equal(a, b) for a, b in zip(first, kept, strict=True))
    assert not torch.equal(moved[0], kept[0])


def test_fit_trajectories_equal_with_and_without_the_analytic_pass():
    X, y = sphere_data(50, 6, seed=4)

    def run(analytic):
        fam = TwoLayer(6, [4, 16], "leaky_relu", seeds=[0, 1], output_bias=True,
                       dtype=torch.float64)  # fmt: skip
        return fit(fam, X, y, Interpolate(0.0), lr=1e-2, steps=80, chunk_bytes=2000,
                   analytic=analytic)  # fmt: skip

    fast, rep_fast = run(None)
    slow, rep_slow = run(False)
    assert rep_fast.settings["analytic"] is True and rep_slow.settings["analytic"] is False
    for p, q in zip(fast.parameters(), slow.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=0, atol=1e-10)
    assert abs(rep_fast.mse - rep_slow.mse).max() <= 1e-12


def test_leaky_relu_fit_equals_the_naive_loop():
    X, y = sphere_data(40, 5)
    fam = TwoLayer(5, [3, 8], "leaky_relu", seeds=[0, 1], dtype=torch.float64)
    modules = [fam.member_module(i) for i in range(fam.B)]
    fam, report = fit(fam, X, y, Interpolate(0.0), lr=1e-2, steps=60, analytic=True)
    for i, module in enumerate(modules):
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        for _ in range(60):
            opt.zero_grad()
            ((module(X)[:, 0] - y) ** 2).mean().backward()
            opt.step()
        with torch.no_grad():
            mse = ((module(X)[:, 0] - y) ** 2).mean().item()
        assert report.members[i].mse == pytest.approx(mse, abs=1e-12)


def test_support_and_bad_input():
    X, y = sphere_data(10, 3)
    assert analytic_supported(TwoLayer(3, [4], "relu"), X)
    assert not analytic_supported(TwoLayer(3, [4], "tanh"), X)
    assert not analytic_supported(TwoLayer(3, [4]), X.expand(1, 10, 3))
    assert not analytic_supported(MLP(3, [[4, 4]]), X)
    frozen = TwoLayer(3, [4], dtype=torch.float64)
    frozen.a.requires_grad_(False)
    assert not analytic_supported(frozen, X)
    with pytest.raises(ValueError, match="analytic=True"):
        fit(TwoLayer(3, [4], "tanh", dtype=torch.float64), X, y, Interpolate(), analytic=True)
    with pytest.raises(ValueError, match="analytic=True"):
        fit(TwoLayer(3, [4], dtype=torch.float64), X, torch.stack([y]), Interpolate(),
            analytic=True)  # fmt: skip
    with pytest.raises(TypeError, match="analytic must be"):
        fit(TwoLayer(3, [4], dtype=torch.float64), X, y, Interpolate(), analytic="yes")
    with pytest.raises(ValueError, match="y must have shape"):
        TwoLayerSquaredError(TwoLayer(3, [4], dtype=torch.float64), X, y[:5], rows=4)
    with pytest.raises(ValueError, match="relu or leaky_relu"):
        TwoLayerSquaredError(TwoLayer(3, [4], "tanh", dtype=torch.float64), X, y, rows=4)
