"""The certified search: its Jacobian products against autograd, the fit it holds, the
certificate it returns against the Lipschitz package, and mode="certified" end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fitting_data import sphere_data

from robustlaw._pl import sign_columns
from robustlaw.fitting import Interpolate, fit, smoothest_fit
from robustlaw.fitting._certify import pattern_sdp_value, sdp_certificate
from robustlaw.fitting.certified_search import _jacobian_ops, _Params, certified_descent
from robustlaw.lipschitz import Budget, estimate, pattern_sdp_bound
from robustlaw.models import TwoLayer


def _random_family(d: int, k: int, B: int, c: bool, v: bool, act: str = "relu") -> TwoLayer:
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(B, k, d, generator=gen, dtype=torch.float64)
    return TwoLayer.from_tensors(
        W,
        torch.randn(B, k, generator=gen, dtype=torch.float64),
        b=torch.randn(B, k, generator=gen, dtype=torch.float64),
        c=torch.randn(B, generator=gen, dtype=torch.float64) if c else None,
        v=torch.randn(B, d, generator=gen, dtype=torch.float64) if v else None,
        activation=act,
    )


@pytest.mark.parametrize(("c", "v", "act"), [(False, False, "relu"), (True, True, "leaky_relu")])
def test_jacobian_products_match_autograd(c, v, act):
    X, _ = sphere_data(9, 4, seed=1)
    fam = _random_family(4, 6, 2, c, v, act)
    p = _Params(fam, torch.float64)
    slopes = (min(fam.activation.slopes), max(fam.activation.slopes))
    out, JJ, J, JT = _jacobian_ops(p, p.tensors(), X, slopes)
    with torch.no_grad():
        assert torch.allclose(out, fam(X), atol=1e-12)
    # the full Jacobian by autograd, one output at a time
    leaves = [t.clone().requires_grad_(True) for t in p.tensors()]
    rows = []
    for b in range(2):
        for i in range(X.shape[0]):
            pre = X[i] @ leaves[0][b].T + leaves[1][b]
            f = (fam.activation(pre) * leaves[2][b]).sum()
            if c:
                f = f + leaves[3][b]
            if v:
                f = f + leaves[-1][b] @ X[i]
            g = torch.autograd.grad(f, leaves, allow_unused=True)
            rows.append(torch.cat([gi[b].reshape(-1) for gi in g]))
    Jfull = torch.stack(rows).reshape(2, X.shape[0], -1)
    assert torch.allclose(JJ, Jfull @ Jfull.transpose(1, 2), atol=1e-10)
    gen = torch.Generator().manual_seed(5)
    direction = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in p.tensors()]
    flat = torch.cat([dd.reshape(2, -1) for dd in direction], dim=1)
    assert torch.allclose(J(direction), torch.einsum("bnp,bp->bn", Jfull, flat), atol=1e-10)
    u = torch.randn(2, X.shape[0], generator=gen, dtype=torch.float64)
    back = torch.cat([t.reshape(2, -1) for t in JT(u)], dim=1)
    assert torch.allclose(back, torch.einsum("bnp,bn->bp", Jfull, u), atol=1e-10)


def test_sdp_certificate_is_an_upper_bound_at_any_dual_point_and_smoothing_only_raises_it():
    fam = _random_family(5, 8, 3, False, True)
    eff = fam.effective_weights()
    G = sign_columns(eff.W, eff.a, eff.v, (0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    lam = torch.rand(3, 9, generator=gen, dtype=torch.float64) + 0.1
    plain = sdp_certificate(G, lam)
    smooth = sdp_certificate(G, lam, temperature=0.05)
    assert (smooth >= plain * (1 - 1e-12)).all()
    # every sign vector's ||G sigma|| lies below the certificate (brute force, 2^9 vectors)
    signs = torch.tensor(np.array(np.meshgrid(*[[-1.0, 1.0]] * 9)).reshape(9, -1).T)
    best = (G @ signs.T).norm(dim=1).amax(dim=1)
    assert (best <= plain * (1 + 1e-12)).all()
    # and the optimized dual point's value matches the Lipschitz package's bound
    ours = pattern_sdp_value(fam, iterations=2000)
    theirs = pattern_sdp_bound(fam).upper
    assert np.allclose(ours, theirs, rtol=1e-4)


@pytest.fixture(scope="module")
def fitted():
    X, y = sphere_data(16, 5, seed=2)
    fam = TwoLayer(5, [6, 24], seeds=[0, 1], dtype=torch.float64)
    fam, _ = fit(fam, X, y, Interpolate(1e-4), lr=1e-2, steps=3000)
    return X, y, fam


@pytest.mark.parametrize("temperature", [0.0, 0.01, 0.05])
def test_descent_holds_the_fit_and_never_raises_the_certificate(fitted, temperature):
    X, y, fam = fitted
    with torch.no_grad():
        before = fam(X).clone()
        fits = ((before - y) ** 2).mean(dim=1) <= 1e-4
    assert bool(fits.all())
    res = certified_descent(
        fam, X, y, 1e-4, tau=0.9e-4, rounds=6, steps=20, patience=2, lr=3e-3,
        temperature=temperature,
    )  # fmt: skip
    assert (res.value <= res.start * (1 + 1e-12)).all()
    assert (res.value < res.start).any()  # it moves somewhere
    with torch.no_grad():
        after = res.family(X)
    assert (((after - y) ** 2).mean(dim=1) <= 1e-4).all()
    # the value is a certificate of the returned weights: the Lipschitz package's SDP,
    # solved to a relative gap of 1e-10, lies below it, and region-search witnesses below that
    sdp = pattern_sdp_bound(res.family, tol=1e-10, max_iter=200_000).upper
    assert (sdp <= res.value * (1 + 1e-9)).all()
    low = estimate(res.family, domain="rd", methods=("region_search",), budget=Budget(2), X=X)
    assert (low.lower <= sdp * (1 + 1e-9)).all()
    # the input family is left as it was
    with torch.no_grad():
        assert torch.equal(fam(X), before)


def test_descent_rejects_smooth_activations(fitted):
    X, y, _ = fitted
    fam = TwoLayer(5, [4], seeds=[0], activation="tanh", dtype=torch.float64)
    with pytest.raises(ValueError, match="relu or leaky_relu"):
        certified_descent(fam, X, y, 1e-4, tau=1e-4, rounds=1, steps=1, patience=1, lr=1e-3)


def test_certified_mode_never_chooses_worse_than_the_proxy_search_it_extends():
    X, y = sphere_data(14, 5, seed=4)
    kw = dict(
        penalty="averaged", strengths=(1e-2,), fit_steps=1500, steps=200, stages=1,
        polish_steps=200, lr=1e-2, n_support=32, progress=False,
    )  # fmt: skip
    proxy = smoothest_fit(TwoLayer(5, [8, 32], seeds=[0], dtype=torch.float64), X, y,
                          Interpolate(1e-4), **kw)  # fmt: skip
    cert = smoothest_fit(TwoLayer(5, [8, 32], seeds=[0], dtype=torch.float64), X, y,
                         Interpolate(1e-4), mode="certified", minmax_rounds=3, **kw)  # fmt: skip
    for p, c in zip(proxy.best, cert.best, strict=True):
        assert p["fits"] and c["fits"]
        assert c["upper"] <= p["upper"] * (1 + 1e-12)
    assert any(r["penalty"] == "certified" for r in cert.table)
    # each row's bound is certified: the optimized SDP of its network lies below it
    sdp = pattern_sdp_bound(cert.candidates, tol=1e-10, max_iter=200_000).upper
    for r in cert.table:
        if r["upper_name"] == "pattern_sdp":
            assert sdp[r["candidate"]] <= r["upper"] * (1 + 1e-9)


def test_certified_mode_on_the_sphere_takes_the_cone_construction_and_its_closed_form():
    X, y = sphere_data(10, 6, seed=1)
    fam = TwoLayer(6, [4, 40], seeds=[0], dtype=torch.float64)
    res = smoothest_fit(
        fam, X, y, Interpolate(1e-4), mode="certified", domain="sphere", penalty="averaged",
        strengths=(1e-2,), fit_steps=800, steps=100, stages=1, polish_steps=100, lr=1e-2,
        n_support=16, minmax_rounds=2, progress=False,
    )  # fmt: skip
    cones = [r for r in res.table if r["warm_start"] == "cones"]
    assert len(cones) == 1 and cones[0]["width"] == 40 and cones[0]["fits"]
    assert cones[0]["penalty"] is None  # kept as built, not smoothed
    wide = next(r for r in res.best if r["width"] == 40)
    assert wide["upper"] <= cones[0]["construction_upper"] * (1 + 1e-12)
    # its bound holds where it was certified: the cones' closed form on the sphere, or a
    # bound on R^d (valid on the sphere too) of a network below the construction
    if wide["upper_domain"] == "sphere":
        assert wide["upper"] == cones[0]["upper"] and "(sphere)" in wide["upper_name"]
    else:
        assert "(rd)" in wide["upper_name"]
        rd = estimate(res.family, domain="rd", methods=("region_search",), budget=Budget(3))
        assert rd.lower[1] <= wide["upper"] * (1 + 1e-9)
    rep = estimate(res.family, domain="sphere", methods=("region_search",), budget=Budget(3), X=X)
    for r, low in zip(res.best, rep.lower, strict=True):
        assert low <= r["upper"] * (1 + 1e-9)


def test_certified_mode_bad_input():
    X, y = sphere_data(8, 3, seed=2)
    fam = TwoLayer(3, [4], seeds=[0], activation="tanh")
    with pytest.raises(ValueError, match="mode 'certified' needs relu"):
        smoothest_fit(fam, X, y, Interpolate(), mode="certified")
    with pytest.raises(ValueError, match="mode must be one of"):
        smoothest_fit(TwoLayer(3, [4], seeds=[0]), X, y, Interpolate(), mode="exact")
