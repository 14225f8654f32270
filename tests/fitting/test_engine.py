"""fit(): batched equals looped, per-member stopping, divergence, chunking, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from fitting_data import sphere_data
from torch import nn

from robustlaw.fitting import BelowNoise, Interpolate, fit
from robustlaw.fitting.chunking import extract, plan_chunks
from robustlaw.models import MLP, NTKFeatures, RandomFeatures, TwoLayer


def _adam_loop(module: nn.Module, X, y, lr: float, steps: int) -> float:
    """The naive loop: one module, torch.optim.Adam, full batch."""
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((module(X)[:, 0] - y) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return ((module(X)[:, 0] - y) ** 2).mean().item()


@pytest.mark.parametrize(
    "make",
    [
        lambda: TwoLayer(5, [3, 8, 20], seeds=[0, 1], output_bias=True, dtype=torch.float64),
        lambda: TwoLayer(5, [6], "tanh", seeds=[0, 1, 2], skip=True, dtype=torch.float64),
        lambda: MLP(5, [[4, 6], [7, 3]], "softplus", seeds=[0, 1], dtype=torch.float64),
    ],
)
def test_batched_adam_equals_looped_adam(make, data):
    X, y = data
    fam = make()
    modules = [fam.member_module(i) for i in range(fam.B)]
    fam, report = fit(fam, X, y, Interpolate(0.0), lr=1e-2, steps=60)
    assert report.status == ["budget"] * fam.B and (report.steps == 60).all()
    out = fam(X)
    for i, module in enumerate(modules):
        mse = _adam_loop(module, X, y, 1e-2, 60)
        assert report.members[i].mse == pytest.approx(mse, abs=1e-12)
        assert torch.allclose(module(X)[:, 0], out[i], atol=1e-10)


def test_per_member_learning_rates_equal_separate_runs(data):
    X, y = data
    fam = TwoLayer(5, [7], seeds=[0, 1, 2], dtype=torch.float64)
    modules = [fam.member_module(i) for i in range(fam.B)]
    lrs = [1e-3, 1e-2, 3e-2]
    fam, report = fit(fam, X, y, Interpolate(0.0), lr=lrs, steps=40)
    assert report.settings["lr"] == lrs
    for i, module in enumerate(modules):
        assert report.members[i].mse == pytest.approx(
            _adam_loop(module, X, y, lrs[i], 40), abs=1e-12
        )


@pytest.mark.parametrize("lr", [3e-2, [3e-2, 3e-2, 1e-2, 1e-2]])  # fused / per-member Adam
def test_frozen_members_stay_bit_identical(lr):
    X, y = sphere_data(30, 4, seed=2)
    target = BelowNoise(0.5, noise_level=1.0)

    def run(steps):
        fam = TwoLayer(4, [12, 24], seeds=[0, 1], dtype=torch.float64)
        return fit(fam, X, y, target, lr=lr, steps=steps)

    fam, report = run(400)
    first = min(m.steps for m in report.members if m.status == "reached")
    frozen = [m.index for m in report.members if m.status == "reached" and m.steps == first]
    assert any(m.steps > first for m in report.members), "need a member that trains longer"
    # the same run stopped right when those members froze: identical weights, bit for bit
    fam_short, report_short = run(first)
    for i in frozen:
        assert report_short.members[i].status == "reached"
        assert torch.equal(fam.W[i], fam_short.W[i]) and torch.equal(fam.a[i], fam_short.a[i])
        assert torch.equal(fam.b[i], fam_short.b[i])
    assert (report.mse[report.reached] <= report.members[0].threshold).all()
    with torch.no_grad():
        assert ((fam(X) - y) ** 2).mean(dim=1)[frozen].max() <= 0.5


def test_masked_units_stay_zero_with_any_mask(data):
    X, y = data
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 6, 5, dtype=torch.float64, generator=gen) / 5**0.5
    a = torch.randn(3, 6, dtype=torch.float64, generator=gen) / 6**0.5
    b = torch.randn(3, 6, dtype=torch.float64, generator=gen) * 0.1
    mask = torch.tensor(
        [[1, 0, 1, 0, 1, 0], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool
    )
    fam = TwoLayer.from_tensors(W, a, b, mask=mask)
    alone = [fam.select([i]) for i in range(3)]
    fam, _ = fit(fam, X, y, Interpolate(0.0), lr=1e-2, steps=30)
    assert (fam.W[~mask] == 0).all() and (fam.a[~mask] == 0).all() and (fam.b[~mask] == 0).all()
    for i in range(3):
        one, _ = fit(alone[i], X, y, Interpolate(0.0), lr=1e-2, steps=30)
        assert torch.allclose(one(X)[0], fam(X)[i], atol=1e-10)


def test_random_labels_are_interpolated_when_kd_exceeds_n():
    X, y = sphere_data(30, 10, seed=1)
    fam = TwoLayer(10, [60], seeds=[0, 1], dtype=torch.float64)  # k d = 600 >> n = 30
    fam, report = fit(fam, X, y, Interpolate(1e-10), optimizer="lbfgs", steps=500)
    assert report.status == ["reached", "reached"]
    with torch.no_grad():
        assert ((fam(X) - y) ** 2).mean(dim=1).max() <= 1e-10
    assert (torch.sign(fam(X)) == y).all()


def test_a_diverging_member_does_not_stop_the_rest():
    X, y = sphere_data(30, 4, seed=3, dtype=torch.float32)
    fam = TwoLayer(4, [16], seeds=[0, 1, 2], dtype=torch.float32)
    lr = [1e-2, 1e35, 1e-2]  # the middle member's weights overflow float32
    fam, report = fit(fam, X, y, BelowNoise(0.4, noise_level=1.0), lr=lr, steps=2000)
    assert report.status == ["reached", "diverged", "reached"]
    assert report.counts() == {"reached": 2, "diverged": 1, "budget": 0, "stalled": 0}
    assert torch.isfinite(fam.W).all() and torch.isfinite(fam.a).all()  # last finite weights


def test_results_do_not_depend_on_chunking_and_runs_are_deterministic(data):
    X, y = data

    def run(chunk_bytes):
        fam = TwoLayer(5, [4, 9, 30], seeds=[0, 1], dtype=torch.float64)
        return fit(fam, X, y, Interpolate(0.0), lr=1e-2, steps=25, chunk_bytes=chunk_bytes)

    big, _ = run(2**30)
    tiny, report = run(300)  # one member per chunk, a few rows per evaluation
    assert report.settings["chunks"] == 6
    assert torch.allclose(big(X), tiny(X), atol=1e-10)
    again, _ = run(300)
    assert torch.equal(tiny.W, again.W) and torch.equal(tiny.a, again.a)


def test_chunk_plan_groups_by_width_and_packs_members():
    fam = TwoLayer(3, [4, 16, 4], seeds=[0, 1])
    chunks = plan_chunks(fam, n=100, chunk_bytes=2**20)
    assert [c.indices for c in chunks] == [(0, 1, 4, 5), (2, 3)]
    assert all(c.rows == 100 for c in chunks)
    small = plan_chunks(fam, n=100, chunk_bytes=16 * 32 * 4 * 2)  # two width-16 members
    assert [c.indices for c in small if c.signature == (16,)] == [(2, 3)]
    sub, _ = extract(fam, [2, 0])
    assert sub.k_max == 16 and sub.widths.tolist() == [16, 4]


def test_per_member_inputs_and_labels(data):
    X, y = data
    fam = TwoLayer(5, [6], seeds=[0, 1], dtype=torch.float64)
    modules = [fam.member_module(i) for i in range(2)]
    XB = torch.stack([X, X.flip(0)])
    yB = torch.stack([y, -y])
    fam, report = fit(fam, XB, yB, Interpolate(0.0), lr=1e-2, steps=20)
    for i, module in enumerate(modules):
        assert report.members[i].mse == pytest.approx(
            _adam_loop(module, XB[i], yB[i], 1e-2, 20), abs=1e-12
        )


def test_lbfgs_stops_members_at_target_and_reports(data):
    X, y = data
    fam = TwoLayer(5, [2, 40], seeds=[0], dtype=torch.float64)
    fam, report = fit(fam, X, y, Interpolate(1e-8), optimizer="lbfgs", steps=300)
    assert report.optimizer == "lbfgs"
    assert report.members[1].status == "reached" and report.members[1].mse <= 1e-8
    assert report.members[0].status in ("budget", "stalled")  # 2 units cannot interpolate
    assert all(m.evaluations >= m.steps for m in report.members)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["members"][1]["member"] == {"width": 40, "seed": 0}
    assert payload["target"]["threshold"] == 1e-8


def test_feature_families_are_fitted_in_closed_form(data):
    X, y = data
    ntk = NTKFeatures(5, [2, 30], seeds=[0], dtype=torch.float64)
    ntk, report = fit(ntk, X, y, Interpolate(1e-12))
    assert report.optimizer == "closed_form"
    assert report.status == ["stalled", "reached"]
    rf = RandomFeatures(5, [100], seeds=[0], dtype=torch.float64)
    rf, report = fit(rf, X, y, Interpolate(1e-12), ridge=0.0)
    assert report.status == ["reached"]


def test_float32_and_device_argument(data):
    X, y = data
    fam = TwoLayer(5, [8], seeds=[0])
    fam, report = fit(fam, X, y, BelowNoise(0.3, 1.0), lr=1e-2, steps=500, device="cpu")
    assert report.dtype == "float32" and report.device == "cpu"
    assert report.status == ["reached"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((torch.randn(10, 4), torch.ones(10)), {}, ValueError, "X must have shape"),
        ((torch.randn(10, 5), torch.ones(9)), {}, ValueError, "y must have shape"),
        ((torch.randn(10, 5), torch.ones(10, 1)), {}, ValueError, "squeeze"),
        ((torch.full((10, 5), float("nan")), torch.ones(10)), {}, ValueError, "X must be finite"),
        ((torch.randn(10, 5), torch.full((10,), float("inf"))), {}, ValueError, "y must be finite"),
        ((torch.randn(0, 5), torch.ones(0)), {}, ValueError, "at least one data point"),
        ((torch.randn(10, 5), torch.ones(10)), {"optimizer": "sgd"}, ValueError, "optimizer"),
        ((torch.randn(10, 5), torch.ones(10)), {"lr": 0.0}, ValueError, "lr must be"),
        ((torch.randn(10, 5), torch.ones(10)), {"steps": -1}, ValueError, "steps"),
        ((torch.randn(10, 5), torch.ones(10)), {"target": BelowNoise(0.1)}, ValueError, "noise"),
        (
            (torch.randn(10, 5), torch.ones(10)),
            {"target": BelowNoise(0.1), "noise_level": 0.05},
            ValueError,
            "cannot be met",
        ),
        (([[0.0] * 5], torch.ones(1)), {}, TypeError, "X must be a torch tensor"),
    ],
)
def test_bad_input(args, kwargs, error, message):
    fam = TwoLayer(5, [3], seeds=[0])
    target = kwargs.pop("target", Interpolate(1e-3))
    with pytest.raises(error, match=message):
        fit(fam, *args, target, **kwargs)


def test_bad_family_and_widths():
    with pytest.raises(TypeError, match="family must be"):
        fit(nn.Linear(3, 1), torch.randn(4, 3), torch.ones(4), Interpolate())
    with pytest.raises(ValueError, match=r"widths\[0\]"):
        TwoLayer(3, [0])
    with pytest.raises(ValueError, match="activation"):
        TwoLayer(3, [2], activation="swish")
