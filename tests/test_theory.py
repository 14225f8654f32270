"""robustlaw.theory: hand-computed values, identities between theorems, invariants, bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlaw import theory

# --------------------------------------------------------------------------- hand-computed values


def test_universal_bound_hand_computed_case():
    # n = 1e4, d = 1000, p = 1e4, eps = 0.5, W J = 1e6, delta = 0.01, c = 1.
    result = theory.universal_lower_bound(
        n=10_000, d=1000, p=10_000, eps=0.5, W=1e3, J=1e3, delta=0.01
    )
    log_net = 10_000 * math.log(60e6 / 0.5)
    expected = 0.5 / 512 * math.sqrt(1e7 / (log_net + math.log(400)))
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert result.value == pytest.approx(0.00716, abs=5e-6)
    assert result.heuristic == pytest.approx(math.sqrt(1000), rel=1e-12)
    assert result.heuristic == pytest.approx(31.6, abs=0.05)
    # 8^4 log(800) = 27380.2 > n eps^2 = 2500: the hypothesis fails here and says so.
    assert not result.valid
    assert result.certified is None
    assert result.hypothesis.min_n == math.ceil(8**4 * math.log(800) / 0.25)
    assert "does not apply" in result.hypothesis.reason


def test_hypothesis_boundary_is_exact():
    min_n = theory.theorem3_hypothesis(1, eps=0.5, delta=0.01).min_n
    assert theory.theorem3_hypothesis(min_n, eps=0.5, delta=0.01).holds
    assert not theory.theorem3_hypothesis(min_n - 1, eps=0.5, delta=0.01).holds
    valid = theory.universal_lower_bound(n=min_n, d=1000, p=10_000, eps=0.5, delta=0.01)
    assert valid.valid and valid.certified == valid.value


def test_hypothesis_grows_with_mixtures():
    one = theory.theorem3_hypothesis(10**6, 0.5, 0.01, mixtures=1)
    four = theory.theorem3_hypothesis(10**6, 0.5, 0.01, mixtures=4)
    assert four.required == pytest.approx(4 * 8**4 * math.log(32 / 0.01))
    assert four.min_n > one.min_n


def test_theorem3_against_theorem2_second_term():
    """Theorem 3 comes from Theorem 2 on an eps/(6J)-net with log|F| = p log(60WJ/eps).

    With eps/2 and 2L in Theorem 2's second term, eps'^2/(8^4 L'^2) = eps^2/(2^16 L^2), and
    Theorem 3's L = eps/(2^9 sqrt c) sqrt(nd/(log|F| + log(4/delta))) makes the exponent
    log|F| - 4 (log|F| + log(4/delta)): the second term is 2 (delta/4)^4 |F|^-3 < delta/2.
    With eps/4 and 2L the denominator is 8^4 * 64 = 8^6 = 2^18 and the term is exactly delta/2.
    """
    n, d, p, eps, delta, W, J = 10**7, 500, 2000, 0.5, 0.01, 10.0, 10.0
    bound = theory.universal_lower_bound(n, d, p, eps=eps, delta=delta, W=W, J=J)
    assert bound.valid
    log_f = p * math.log(60 * W * J / eps)
    assert bound.log_net_size == pytest.approx(log_f)
    L = bound.value
    # (eps/2, 2L)
    half = theory.finite_class_failure_probability(n, d, eps / 2, 2 * L, log_f)
    expected = 2 * math.exp(log_f - 4 * (log_f + math.log(4 / delta)))
    assert half.second == pytest.approx(expected, rel=1e-9)
    assert half.second < delta / 2
    # (eps/4, 2L): exactly delta/2 because 2^18 = 8^6
    quarter = theory.finite_class_failure_probability(n, d, eps / 4, 2 * L, log_f)
    assert quarter.second == pytest.approx(delta / 2, rel=1e-9)
    assert 2**18 == 8**6


def test_finite_class_terms_hand_computed():
    result = theory.finite_class_failure_probability(
        n=1000, d=10, eps=0.5, L=2.0, log_class_size=3.0, c=1.0, mixtures=2
    )
    first = 8 * math.exp(-1000 * 0.25 / (512 * 2))
    second = 2 * math.exp(3.0 - 0.25 * 1000 * 10 / (4096 * 4))
    assert result.first == pytest.approx(first, rel=1e-12)
    assert result.second == pytest.approx(second, rel=1e-12)
    assert result.bound == min(1.0, first + second)


def test_lemma_2_1_tail():
    assert theory.lemma_2_1_tail(512, 0.5) == pytest.approx(2 * math.exp(-0.25), rel=1e-12)


def test_deep_parametrization_and_layer_product():
    assert theory.deep_parametrization_lipschitz(R=2, W=3, Q=1, p=10, depth=2) == pytest.approx(
        2 * 30**2
    )
    # B(w) = max(full product, leave-one-out products) = max(24, 12, 8, 6) for norms 2, 3, 4.
    assert theory.layer_product_bound([2.0, 3.0, 4.0]) == pytest.approx(24.0)
    # With a norm below 1 the leave-one-out product exceeds the full product.
    assert theory.layer_product_bound([0.5, 3.0, 4.0]) == pytest.approx(12.0)


def test_deep_bounds_match_theorem3_with_their_J():
    n, d, p, depth, W, R = 10**8, 100, 5000, 3, 1.0, 1.0
    deep = theory.deep_network_lower_bound(n, d, p, depth, eps=0.5, W=W, R=R)
    diameter = 2 * W * math.sqrt(p)
    J = theory.deep_parametrization_lipschitz(R, W, 1, p, depth)
    direct = theory.universal_lower_bound(n, d, p, eps=0.5, W=diameter, J=J)
    assert deep.value == pytest.approx(direct.value, rel=1e-12)
    assert deep.heuristic == pytest.approx(math.sqrt(n * d / (depth * p)))
    # (3.2): J = B_bar Q R sqrt(p)
    spectral = theory.deep_network_lower_bound(n, d, p, depth, eps=0.5, W=W, R=R, B_bar=50.0)
    direct2 = theory.universal_lower_bound(n, d, p, eps=0.5, W=diameter, J=50 * math.sqrt(p))
    assert spectral.value == pytest.approx(direct2.value, rel=1e-12)
    assert spectral.value > deep.value  # a bounded layer product gives a stronger bound


def test_scalings():
    assert theory.heuristic_lower_bound(100, 10, 10) == pytest.approx(10.0)
    assert theory.poincare_lower_bound(100, 16, 50) == pytest.approx(8.0)
    assert theory.two_layer_conjecture(400, 4) == pytest.approx(10.0)
    a = np.array([3.0, 4.0])
    W = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert theory.spectral_proxy(a, W, activation_lipschitz=0.5) == pytest.approx(0.5 * 5 * 2)


def test_param_counts():
    assert theory.two_layer_param_count(10, 4) == 4 * 10 + 4 + 4
    assert theory.two_layer_param_count(10, 4, hidden_bias=False) == 44
    assert theory.two_layer_param_count(10, 4, output_bias=True, skip=True) == 48 + 1 + 10
    assert theory.mlp_param_count([3, 5, 1]) == 3 * 5 + 5 + 5 + 1
    assert theory.mlp_param_count([3, 5, 1], bias=False) == 20


def test_presets():
    mnist = theory.preset_report("mnist")
    assert mnist.classical_params == 60_000
    assert (mnist.law_params_low, mnist.law_params_high) == (9e5, 9e6)
    imagenet = theory.preset_report("imagenet")
    assert 1e10 <= imagenet.law_params_low < imagenet.law_params_high <= 2e11


# --------------------------------------------------------------------------- inverses


def test_heuristic_inverses_round_trip():
    L = theory.heuristic_lower_bound(5000, 30, 700)
    assert theory.min_params_heuristic(L, 5000, 30) == pytest.approx(700)
    assert theory.max_samples_heuristic(L, 700, 30) == pytest.approx(5000)


def test_min_params_invalid_when_theorem_silent():
    silent = theory.min_params_for_lipschitz(1.0, n=100, d=10)
    assert not silent.valid and math.isnan(silent.value)
    nothing_ruled_out = theory.min_params_for_lipschitz(100.0, n=10**7, d=10, eps=0.5)
    assert not nothing_ruled_out.valid and nothing_ruled_out.value == 0.0


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(10**7, 10**12),
    d=st.integers(1, 10**5),
    p=st.integers(1, 10**9),
    eps=st.floats(0.05, 0.95),
    W=st.floats(1.0, 1e6),
)
def test_inverse_of_bound_recovers_p(n, d, p, eps, W):
    bound = theory.universal_lower_bound(n, d, p, eps=eps, W=W, J=W)
    if not bound.valid:
        return
    inverse = theory.min_params_for_lipschitz(bound.value, n, d, eps=eps, W=W, J=W)
    assert inverse.valid
    assert inverse.value == pytest.approx(p, rel=1e-6)
    n_back = theory.max_samples_for_lipschitz(bound.value, p, d, eps=eps, W=W, J=W)
    assert n_back.value == pytest.approx(n, rel=1e-6)


# --------------------------------------------------------------------------- monotonicity


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(10**6, 10**10),
    d=st.integers(1, 10**4),
    p=st.integers(1, 10**8),
    factor=st.floats(1.01, 100.0),
    W=st.floats(1.0, 1e4),
    J=st.floats(1.0, 1e4),
)
def test_bound_monotone(n, d, p, factor, W, J):
    base = theory.universal_lower_bound(n, d, p, eps=0.5, W=W, J=J).value
    bigger = lambda x: max(x + 1, int(x * factor))  # noqa: E731
    assert theory.universal_lower_bound(bigger(n), d, p, eps=0.5, W=W, J=J).value > base
    assert theory.universal_lower_bound(n, bigger(d), p, eps=0.5, W=W, J=J).value > base
    assert theory.universal_lower_bound(n, d, bigger(p), eps=0.5, W=W, J=J).value < base
    assert theory.universal_lower_bound(n, d, p, eps=0.5, W=W * factor, J=J).value < base
    assert theory.universal_lower_bound(n, d, p, eps=0.5, W=W, J=J * factor).value < base


# --------------------------------------------------------------------------- bad input

BAD_CALLS = [
    ("n", lambda: theory.universal_lower_bound(0, 10, 10)),
    ("n", lambda: theory.universal_lower_bound(2.5, 10, 10)),
    ("n", lambda: theory.universal_lower_bound(True, 10, 10)),
    ("d", lambda: theory.universal_lower_bound(10, -1, 10)),
    ("p", lambda: theory.universal_lower_bound(10, 10, "7")),
    ("p", lambda: theory.universal_lower_bound(10, 10, float("nan"))),
    ("eps", lambda: theory.universal_lower_bound(10, 10, 10, eps=1.0)),
    ("eps", lambda: theory.universal_lower_bound(10, 10, 10, eps=0.0)),
    ("delta", lambda: theory.universal_lower_bound(10, 10, 10, delta=1.5)),
    ("c", lambda: theory.universal_lower_bound(10, 10, 10, c=0.0)),
    ("W", lambda: theory.universal_lower_bound(10, 10, 10, W=-1.0)),
    ("J", lambda: theory.universal_lower_bound(10, 10, 10, J=float("inf"))),
    ("mixtures", lambda: theory.universal_lower_bound(10, 10, 10, mixtures=0)),
    ("L", lambda: theory.finite_class_failure_probability(10, 10, 0.5, 0.0, 1.0)),
    ("log_class_size", lambda: theory.finite_class_failure_probability(10, 10, 0.5, 1.0, -1.0)),
    ("k", lambda: theory.two_layer_conjecture(10, 0)),
    ("depth", lambda: theory.deep_network_lower_bound(10, 10, 10, 0)),
    ("Q", lambda: theory.deep_parametrization_lipschitz(1, 1, 1.5, 10, 2)),
    ("spectral_norms[1]", lambda: theory.layer_product_bound([1.0, -2.0])),
    ("spectral_norms", lambda: theory.layer_product_bound([])),
    ("widths[1]", lambda: theory.mlp_param_count([3, 0, 1])),
    ("widths", lambda: theory.mlp_param_count([3])),
    ("preset", lambda: theory.preset_report("cifar")),
    ("a", lambda: theory.spectral_proxy(np.ones((2, 2)), np.ones((2, 2)))),
    ("W", lambda: theory.spectral_proxy(np.ones(3), np.ones((2, 2)))),
    ("L", lambda: theory.min_params_heuristic(0, 10, 10)),
    ("exactly one of p", lambda: theory.law_summary(10, 10)),
]


@pytest.mark.parametrize(
    ("name", "call"), BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)]
)
def test_bad_input_names_the_argument(name, call):
    with pytest.raises(ValueError, match=re.escape(name)):
        call()


def test_integral_floats_are_accepted_exactly():
    assert theory.universal_lower_bound(6e4, 784, 2e5).p == 200_000


def test_counts_past_what_float64_holds_are_refused():
    with pytest.raises(ValueError, match="k must be at most 1e300"):
        theory.law_summary(n=1, d=1, k=10**308)
    with pytest.raises(ValueError, match="gives more than 1e300 parameters"):
        theory.law_summary(n=5, d=10**200, k=10**200)
    assert theory.law_summary(n=1, d=1, k=10**299)["rows"]  # the largest counts still compute


def test_lipschitz_constants_whose_square_float64_cannot_hold_are_refused():
    for L in (1e308, 1e-200):
        with pytest.raises(ValueError, match="must be between 1e-150 and 1e\\+150"):
            theory.law_summary(n=1, d=1, p=1, target_lipschitz=L)
        with pytest.raises(ValueError, match="must be between 1e-150 and 1e\\+150"):
            theory.max_samples_heuristic(L, 1, 1)
        with pytest.raises(ValueError, match="must be between 1e-150 and 1e\\+150"):
            theory.preset_report("mnist", L=L)
    assert theory.max_samples_heuristic(1e150, 1, 1) > 0  # the range's ends still compute
