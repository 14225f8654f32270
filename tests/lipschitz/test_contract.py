"""The contract every registered Lipschitz method passes (parametrized over the registry).

- bound ordering on random small nets: every lower <= brute-force exact <= every upper
  (d <= 3 on R^d; the circle for d = 2 on the sphere);
- witness validity: the value recomputed at the witness is the reported lower bound;
- batch = loop: a family's result equals its members' results one by one;
- bad input: NaN weights, unknown domain, bad budget raise ValueError / TypeError.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from _lipschitz_brute import brute_force_circle, brute_force_rd, random_family
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import robustlaw.lipschitz as L
from robustlaw.lipschitz import Budget, witness_value
from robustlaw.lipschitz.domain import in_domain

NAMES = sorted(L.METHODS)

#: Lighter settings so the whole contract runs in seconds.
FAST: dict[str, dict] = {
    "ascent": {"steps": 8, "n_starts": 8, "sharpness": (1.0, 10.0, 100.0)},
    "grad_random": {"n_points": 512},
    "grad_convex": {"n_points": 512},
    "pairs": {"n_short": 8},
    "region_search": {"n_starts": 4, "n_random": 8, "max_lp": 8},
    "lipsdp": {"solver": "CLARABEL"},
}

REL = 1e-9  # float64 rounding allowance when comparing bounds


def run(name: str, model, domain: str = "rd", X=None, seconds: float = 30.0):
    spec = L.METHODS[name]
    kwargs = dict(FAST.get(name, {}))
    if X is not None and "X" in inspect.signature(spec.fn).parameters:
        kwargs["X"] = X
    return spec.fn(model, domain, Budget(seconds=seconds), **kwargs)


def data(d: int, n: int = 12, seed: int = 0) -> torch.Tensor:
    X = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True)


def check_against(res, truth: np.ndarray) -> None:
    tol = REL * truth + 1e-12
    assert (res.lower <= truth + tol).all(), (res.method, res.lower, truth)
    assert (res.upper >= truth - tol).all(), (res.method, res.upper, truth)
    assert (res.lower <= res.upper * (1 + REL) + 1e-12).all()


def check_witnesses(res, model, domain: str) -> None:
    for b, w in enumerate(res.witnesses or []):
        if w is None:
            continue
        assert in_domain(w.x, domain)
        recomputed = witness_value(model, b, w, domain)
        assert recomputed == pytest.approx(w.value, rel=1e-9, abs=1e-12)
        if res.kind == "lower":
            assert res.lower[b] == pytest.approx(recomputed, rel=1e-9, abs=1e-12)


nets = st.tuples(
    st.integers(1, 3),  # d
    st.integers(1, 6),  # k
    st.integers(0, 10_000),  # seed
    st.sampled_from(["relu", "leaky_relu"]),
    st.booleans(),  # hidden bias
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=nets)
def test_bounds_bracket_brute_force_on_rd(name, net):
    d, k, seed, activation, bias = net
    fam = random_family(d, [k, max(1, k - 2)], seed, activation, bias)
    truth = np.array([brute_force_rd(fam, b) for b in range(fam.B)])
    res = run(name, fam, "rd", X=data(d, seed=seed))
    assert res.B == fam.B and len(res.status) == fam.B
    check_against(res, truth)
    check_witnesses(res, fam, "rd")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_bounds_bracket_the_circle(name, seed):
    fam = random_family(2, [5, 3], seed)
    truth = np.array([brute_force_circle(fam, b) for b in range(fam.B)])
    res = run(name, fam, "sphere", X=data(2, seed=seed))
    check_against(res, truth)
    check_witnesses(res, fam, "sphere")


@pytest.mark.parametrize("name", NAMES)
def test_ball_bounds_are_ordered(name):
    fam = random_family(3, [6, 4], 3)
    rd = np.array([brute_force_rd(fam, b) for b in range(fam.B)])
    res = run(name, fam, "ball", X=data(3))
    assert (res.lower <= rd * (1 + REL) + 1e-12).all()  # sup over the ball <= over R^d
    check_witnesses(res, fam, "ball")
    for other in ("grad_random", "region_search"):
        low = run(other, fam, "ball").lower
        assert (low <= res.upper * (1 + REL) + 1e-12).all()


@pytest.mark.parametrize("name", NAMES)
def test_family_equals_members_one_by_one(name):
    fam = random_family(3, [6, 3, 5], 11)
    X = data(3, seed=4)
    whole = run(name, fam, "rd", X=X)
    for b in range(fam.B):
        alone = run(name, fam.select([b]), "rd", X=X)
        assert alone.lower[0] == pytest.approx(whole.lower[b], rel=1e-6, abs=1e-12)
        assert alone.upper[0] == pytest.approx(whole.upper[b], rel=1e-6, abs=1e-12)
        assert alone.status[0] == whole.status[b]


def deep_net(seed: int, act: nn.Module) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), act, nn.Linear(6, 5), act, nn.Linear(5, 1)).double()


@pytest.mark.parametrize("name", [n for n in NAMES if "mlp" in L.METHODS[n].models])
def test_deep_stacks_lower_below_every_upper(name):
    nets = [deep_net(0, nn.ReLU()), deep_net(1, nn.ReLU())]
    res = run(name, nets, "rd", X=data(3))
    assert res.B == 2
    uppers = [L.METHODS[n].fn(nets, "rd", Budget()) for n in ("spectral", "averaged", "path_norm")]
    best_upper = np.min([u.upper for u in uppers], axis=0)
    assert (res.lower <= best_upper * (1 + REL)).all()
    if res.kind == "upper":
        lows = [run(n, nets, "rd", X=data(3)).lower for n in ("grad_random", "ascent")]
        assert (np.max(lows, axis=0) <= res.upper * (1 + REL)).all()
    check_witnesses(res, nets, "rd")


@pytest.mark.parametrize("name", NAMES)
def test_smooth_activations_keep_the_order(name):
    fam = random_family(2, [4, 6], 5, activation="tanh")
    res = run(name, fam, "rd", X=data(2))
    if res.status[0].startswith("not_applicable"):
        assert np.isinf(res.upper).all() and (res.lower == 0).all()
        return
    low = run("ascent", fam, "rd", X=data(2)).lower
    up = run("pattern_sdp", fam, "rd").upper
    assert (res.lower <= up * (1 + REL)).all()
    assert (low <= res.upper * (1 + REL)).all()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_at_the_boundary(name):
    fn = L.METHODS[name].fn
    fam = random_family(2, [3], 0)
    with pytest.raises(ValueError, match="domain"):
        fn(fam, "torus", Budget())
    with pytest.raises((ValueError, TypeError)):
        fn(fam, "rd", "ten seconds")
    with pytest.raises(ValueError, match="budget"):
        fn(fam, "rd", Budget(seconds=-1.0))
    with torch.no_grad():
        fam.W[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"finite|NaN"):
        fn(fam, "rd", Budget())
