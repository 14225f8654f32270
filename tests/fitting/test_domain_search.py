"""Domain-aware smoothest-fit search: the tangential-gradient penalty, construction warm
starts, and the choice on certified bounds on the sphere."""

from __future__ import annotations

import math

import pytest
import torch
from fitting_data import sphere_data

from robustlaw.fitting import Interpolate
from robustlaw.fitting.domain_penalty import (
    SLOT,
    PointPool,
    ascend_points,
    domain_grad_norms,
    domain_grad_penalty,
)
from robustlaw.fitting.smoothest import smoothest_fit
from robustlaw.fitting.warm_starts import construction_starts
from robustlaw.lipschitz import Budget, estimate
from robustlaw.models import TwoLayer
from robustlaw.models import constructions as C


def _family(k: int, d: int, B: int = 2, seed: int = 0) -> TwoLayer:
    fam = TwoLayer(d, [k], seeds=list(range(B)), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        fam.a.copy_(torch.randn(fam.a.shape, generator=gen, dtype=torch.float64))
    for i, m in enumerate(fam.members):
        m[SLOT] = i
    return fam


def test_tangential_norm_matches_projection_by_hand():
    fam = _family(5, 3, B=1)
    Z = torch.nn.functional.normalize(torch.randn(7, 3, dtype=torch.float64), dim=1)
    g = fam.input_gradient(Z)[0].detach()
    by_hand = torch.stack(
        [(torch.eye(3) - z[:, None] * z[None, :]).double() @ gz for z, gz in zip(Z, g, strict=True)]
    )
    got = domain_grad_norms(fam, Z, "sphere")[0].detach()
    assert torch.allclose(got, by_hand.norm(dim=1), atol=1e-12)
    assert torch.allclose(domain_grad_norms(fam, Z, "ball")[0].detach(), g.norm(dim=1))


def test_penalty_gradient_matches_finite_differences():
    fam = _family(6, 4, B=2, seed=3)
    Z = torch.nn.functional.normalize(torch.randn(40, 4, dtype=torch.float64), dim=1)
    pool = PointPool(Z, slots=2, per_slot=8, domain="sphere", seed=1)
    pen = domain_grad_penalty(pool, power=8.0)
    value = pen(fam).sum()
    (gW,) = torch.autograd.grad(value, [fam.W])
    h = 1e-6
    for b, l, j in [(0, 0, 0), (0, 3, 2), (1, 5, 1), (1, 2, 3)]:
        with torch.no_grad():
            fam.W[b, l, j] += h
            up = pen(fam).sum().item()
            fam.W[b, l, j] -= 2 * h
            down = pen(fam).sum().item()
            fam.W[b, l, j] += h
        assert (up - down) / (2 * h) == pytest.approx(gW[b, l, j].item(), rel=1e-4, abs=1e-7)


def test_penalty_is_below_pool_maximum_and_members_use_their_slots():
    fam = _family(6, 4, B=2, seed=5)
    Z = torch.nn.functional.normalize(torch.randn(10, 4, dtype=torch.float64), dim=1)
    pool = PointPool(Z, slots=2, per_slot=4, domain="sphere", seed=2)
    value = domain_grad_penalty(pool, power=4.0)(fam).detach()
    for b in range(2):
        g = domain_grad_norms(fam.select([b]), pool.points(torch.tensor([b])), "sphere")
        assert value[b] <= g.max() * (1 + 1e-12)
        assert value[b] >= g.mean() * (1 - 1e-12)  # power mean >= arithmetic mean


def test_ascent_never_lowers_values_and_stays_on_sphere():
    fam = _family(12, 5, B=2, seed=7)
    starts = torch.nn.functional.normalize(torch.randn(2, 16, 5, dtype=torch.float64), dim=2)
    before = domain_grad_norms(fam, starts, "sphere").detach()
    pts, vals = ascend_points(fam, starts, "sphere", steps=10)
    assert torch.allclose(pts.norm(dim=2), torch.ones(2, 16, dtype=torch.float64))
    assert (vals >= before - 1e-12).all()
    assert torch.allclose(vals, domain_grad_norms(fam, pts, "sphere").detach())
    # the witnesses are certified lower bounds: below the exact sphere constant's upper end
    rep = estimate(fam, domain="sphere", methods=("pattern_sdp",), budget=Budget(5))
    assert (vals.amax(dim=1).numpy() <= rep.upper * (1 + 1e-9)).all()


def test_construction_starts_interpolate_and_are_tagged():
    X, y = sphere_data(12, 8, seed=4)
    n = 12
    fam = construction_starts(X, y, [2 * n, 3 * n], seed=0)
    kinds = {(m["width"], m["warm_start"]) for m in fam.members}
    assert {(24, "cap_disjoint"), (36, "cap_disjoint"), (24, "cap_max")} <= kinds
    with torch.no_grad():
        assert float((fam(X) - y).abs().max()) < 1e-9  # every start interpolates
    s = C.cap_s_disjoint(X.numpy())
    for m in fam.members:
        if m["warm_start"] == "cap_disjoint":
            assert m["construction_upper"] == pytest.approx(math.sqrt(2 * s - s * s) / s)


def test_sphere_search_at_k_above_2n_beats_or_matches_the_cap_construction():
    X, y = sphere_data(10, 6, seed=1)
    n = 10
    fam = TwoLayer(6, [2 * n + 4], seeds=[0], dtype=torch.float64)
    res = smoothest_fit(
        fam, X, y, Interpolate(1e-4), penalty="averaged", strengths=(1e-2,), domain="sphere",
        effort="quick", fit_steps=400, steps=200, polish_steps=100, lr=1e-2, n_support=32,
    )  # fmt: skip
    cap = next(r for r in res.table if r["warm_start"] == "cap_disjoint" and r["penalty"] is None)
    assert cap["base"] is None and cap["fits"]
    best = res.best[0]
    assert best["fits"] and best["base"] == 0
    assert best["upper"] <= cap["construction_upper"] * (1 + 1e-12)
    # the chosen network's certified upper bound is above an independent lower bound
    rep = estimate(res.family, domain="sphere", methods=("region_search",), budget=Budget(5), X=X)
    assert rep.lower[0] <= best["upper"] * (1 + 1e-9)
    assert best["lower_domain"] <= best["upper"] * (1 + 1e-9)
    # warm starts were smoothed as well as kept as built
    smoothed = [r for r in res.table if r["warm_start"] == "cap_disjoint" and r["penalty"]]
    assert {r["penalty"] for r in smoothed} == {"averaged", "domain_grad"}


def test_rd_default_adds_no_warm_starts_and_bad_arguments():
    X, y = sphere_data(8, 3, seed=2)
    fam = TwoLayer(3, [4], seeds=[0])
    with pytest.raises(ValueError, match="effort"):
        smoothest_fit(fam, X, y, Interpolate(), effort="huge")
    with pytest.raises(ValueError, match="domain"):
        smoothest_fit(fam, X, y, Interpolate(), domain="torus")
    with pytest.raises(ValueError, match="warm_start"):
        smoothest_fit(fam, X, y, Interpolate(), warm_start="caps")
    with pytest.raises(ValueError, match="unit sphere"):
        smoothest_fit(fam, 2 * X, y, Interpolate(), warm_start="constructions")
    res = smoothest_fit(
        fam, X, y, Interpolate(), penalty="averaged", strengths=(1e-2,), fit_steps=50,
        steps=20, stages=1, polish_steps=10,
    )  # fmt: skip
    assert all(r["warm_start"] is False for r in res.table) and len(res.table) == 2
