"""Branch-and-bound internals of the exact solver: node bounds and search settings."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustlaw._pl import ExactSettings, family_nets
from robustlaw._pl.bnb import _relaxation, sdp_bound
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _relaxation_brute(g: np.ndarray, Mu: np.ndarray) -> float:
    """max over s in {0,1}^n of ||g + Mu^T s||, over all 2^n patterns."""
    Z = np.array(list(itertools.product((0.0, 1.0), repeat=len(Mu))))
    return float(np.linalg.norm(g + Z @ Mu, axis=1).max())


@SETTINGS
@given(
    d=st.integers(2, 6),
    n=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    start=st.sampled_from(["cold", "warm"]),
)
def test_node_bound_from_a_parent_point_is_certified_and_no_worse_than_the_parent_point(
    d, n, seed, start
):
    """With a parent's dual point Y, the semidefinite node bound (cold or warm start) is at
    least the relaxation computed over all 2^n patterns; the cold start keeps the bound of
    the parent's point when that is smaller."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(d)
    Mu = rng.standard_normal((n, d)) * rng.uniform(0.1, 3.0, size=(n, 1))
    Y = rng.standard_normal((d, d))
    truth = _relaxation_brute(g, Mu)
    rel = _relaxation(g, Mu, ExactSettings(exact_units=0, sdp_start=start), Y=Y, iters=4)
    assert not rel.exact
    assert rel.bound >= truth * (1 - 1e-9)
    assert rel.value <= truth * (1 + 1e-12)  # the maximizer found is a real pattern
    A = np.c_[g + 0.5 * Mu.sum(axis=0), 0.5 * Mu.T]
    if start == "cold":
        assert rel.bound <= sdp_bound(A, Y, 0)[0] * (1 + 1e-12)
        assert rel.bound <= sdp_bound(A, None, 4)[0] * (1 + 1e-12)


def test_cold_start_stays_closer_to_the_semidefinite_value_down_a_branch():
    """Down a branch of 20 fixed units of a trained d = 10, k = 64 net, node bounds
    iterated 8 times from the parent's dual point (warm) lag behind the value of the
    semidefinite relaxation (300 iterations from Y = I) more than 8 iterations from Y = I
    with the parent's point evaluated (cold) do; every bound is certified (at least the
    converged dual value up to its own slack, and at least the best pattern found)."""
    fam = _trained(10, 64, seed=0)
    prob = family_nets(fam)[0].arrangement
    M = prob.M
    rng = np.random.default_rng(0)
    sign = np.zeros(prob.k, dtype=np.int8)
    g = prob.g0.copy()
    Y_warm = _relaxation(g, M, ExactSettings()).Y
    lag = {"warm": [], "cold": []}
    for _ in range(20):
        free = np.flatnonzero(sign == 0)
        unit = int(free[rng.integers(len(free))])
        sign[unit] = rng.choice([-1, 1])
        g = g + M[unit] if sign[unit] > 0 else g
        free = np.flatnonzero(sign == 0)
        A = np.c_[g + 0.5 * M[free].sum(axis=0), 0.5 * M[free].T]
        converged = sdp_bound(A, None, 300)[0]
        for start in ("warm", "cold"):
            rel = _relaxation(g, M[free], ExactSettings(sdp_start=start), Y_warm, None, iters=8)
            assert rel.bound >= rel.value
            assert rel.bound >= converged * (1 - 1e-3)  # a dual point: never below the SDP
            lag[start].append(rel.bound - converged)
            if start == "warm":
                Y_next = rel.Y
        Y_warm = Y_next
    assert np.mean(lag["cold"]) < np.mean(lag["warm"])
    assert max(lag["cold"]) < max(lag["warm"])


def _trained(d: int, k: int, seed: int) -> TwoLayer:
    """A width-k ReLU net fitted (Adam, MSE < 1e-4) to k d / 4 random-label sphere points."""
    gen = torch.Generator().manual_seed(seed)
    n = k * d // 4
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X /= X.norm(dim=1, keepdim=True)
    y = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
    fam = TwoLayer(d=d, widths=[k], seeds=[seed], dtype=torch.float64)
    opt = torch.optim.Adam(fam.parameters(), lr=1e-2)
    for _ in range(3000):
        opt.zero_grad()
        loss = ((fam(X)[0] - y) ** 2).mean()
        if float(loss.detach()) < 1e-4:
            break
        loss.backward()
        opt.step()
    return fam


@pytest.mark.parametrize(
    "overrides",
    [
        {"sdp_start": "warm", "sdp_warm_iters": 8},
        {"sdp_start": "cold", "sdp_warm_iters": 16},
        {"learn": False},
        {"learn": True, "hook_every": 1},
    ],
)
def test_search_settings_all_reach_the_enumerated_value(overrides):
    """Every setting of the node bound and of no-good learning proves the value that
    vertex enumeration finds (d = 3, k = 24: nodes with more than 12 free units use the
    semidefinite bound)."""
    fam = TwoLayer(d=3, widths=[24], seeds=[3], dtype=torch.float64)
    truth = exact_lipschitz(fam, method="enumeration")
    settings = dataclasses.replace(ExactSettings(), **overrides)
    res = exact_lipschitz(fam, method="branch_and_bound", samples=16, settings=settings)
    assert truth.status == res.status == ["ok"]
    assert res.lower[0] == pytest.approx(truth.lower[0], rel=1e-9)
    if overrides.get("learn", True):
        assert res.info[0]["nogoods"] > 0 and res.info[0]["propagated"] > 0
    else:
        assert res.info[0]["nogoods"] == 0


@SETTINGS
@given(
    d=st.integers(1, 5),
    n=st.integers(1, 10),
    seed=st.integers(0, 10_000),
    iters=st.integers(0, 20),
    late=st.booleans(),
)
def test_sdp_bound_from_identity_is_finite_and_certified(d, n, seed, iters, late):
    """From Y = I, with any number of iterations and even when the deadline has passed
    before the first checkpoint, the bound is finite and at least max ||A y|| over all
    2^n sign vectors."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, n))
    Ysign = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    truth = float(np.linalg.norm(Ysign @ A.T, axis=1).max())
    deadline = time.perf_counter() - 1.0 if late else None
    bound, Y = sdp_bound(A, None, iters, deadline=deadline)
    assert np.isfinite(bound) and Y.shape == (d, d)
    assert bound >= truth * (1 - 1e-9)
