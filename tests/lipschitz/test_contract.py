"""The contract every registered Lipschitz method passes (parametrized over the registry).

The checks live in :mod:`robustlaw.lipschitz.testing`, so that anyone can run them on a
method of their own (:func:`~robustlaw.lipschitz.testing.check_method`):

- bound ordering on random small nets: every lower <= brute-force exact <= every upper
  (d <= 3 on R^d; the circle for d = 2 on the sphere);
- witness validity: the value recomputed at the witness is the reported lower bound;
- batch = loop: a family's result equals its members' results one by one;
- bad input: NaN weights, unknown domain, bad budget raise ValueError / TypeError.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustlaw.lipschitz as L
from robustlaw.lipschitz import testing as T

NAMES = sorted(L.METHODS)

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
    T.check_bracket_rd(name, *net)


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_method_keeps_the_contract(name):
    """The shipped contract on each built-in method: the circle (seeds 0 and 1), the
    ball, batch = loop, deep stacks, smooth activations and bad input (the R^d bracket
    runs above, on nets drawn by hypothesis)."""
    T.check_method(name, examples=0)


def _toy(scale: float):
    """A user's method: ``scale`` times the path norm as an upper bound."""

    def method(model, domain="rd", budget=None):
        res = L.path_norm_bound(model, domain, budget)
        return L.MethodResult(
            "user_toy", "upper", res.domain, res.lower, res.upper * scale, res.seconds,
            res.status, res.witnesses, res.info,
        )  # fmt: skip

    return method


@pytest.mark.parametrize(("scale", "holds"), [(1.5, True), (0.2, False)])
def test_check_method_runs_the_contract_on_a_users_method(scale, holds):
    """A registered user method passes the whole contract when it is a valid upper bound
    (1.5 x the path norm) and fails it, naming the method, when it is not (0.2 x)."""
    name = f"user_toy_{scale}"
    L.register_method(name, "upper", ("two_layer", "mlp"), ("rd", "ball", "sphere"), "toy")(
        _toy(scale)
    )
    try:
        if holds:
            T.check_method(name, examples=3)
        else:
            with pytest.raises(AssertionError, match="user_toy"):
                T.check_method(name, examples=3)
    finally:
        del L.METHODS[name]


def test_check_method_refuses_an_unknown_name():
    with pytest.raises(KeyError, match="no Lipschitz method 'nope'"):
        T.check_method("nope")


def test_brute_force_hand_computed():
    """The ground truth itself: f = 2 relu(x_1) has Lip 2 on R^2 and, on the circle,
    tangential derivative 2 |sin theta| for x_1 > 0, whose supremum is 2; one bias-free
    unit on the line has Lip |w a|."""
    one = T.random_family(2, [1], 0)
    with torch.no_grad():
        one.W[0, 0] = torch.tensor([1.0, 0.0])
        one.a[0, 0] = 2.0
        one.b[0, 0] = 0.0
    assert T.brute_force_rd(one, 0) == pytest.approx(2.0)
    assert T.brute_force_circle(one, 0) == pytest.approx(2.0)
    assert T.pattern_maximum(one, 0) == pytest.approx(2.0)
    line = T.random_family(1, [1], 2, bias=False)
    w_a = float((line.W[0, 0, 0] * line.a[0, 0]).detach())
    assert T.brute_force_rd(line, 0) == pytest.approx(abs(w_a))
