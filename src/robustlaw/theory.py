"""Closed-form statements of the law of robustness, with the papers' exact constants.

Pure functions of numbers (numpy only for the spectral proxy); nothing of the rest of
robustlaw is imported here.

References
----------
[BS] S. Bubeck, M. Sellke. A Universal Law of Robustness via Isoperimetry.
     NeurIPS 2021 / J. ACM 2023, arXiv:2105.12806.
[BLN] S. Bubeck, Y. Li, D. Nagaraj. A law of robustness for two-layers neural
     networks. COLT 2021, arXiv:2009.14444.

Conventions
-----------
Data x_i in R^d drawn from a mixture of ``mixtures`` c-isoperimetric laws (typical
norm about 1), labels in [-1, 1] with noise level sigma^2 = E[Var(y|x)] > 0. A model
"fits below the noise level" when its empirical MSE is at most sigma^2 - eps.
Logarithms are natural.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = [
    "HYPOTHESIS_CONSTANT",
    "NET_CONSTANT",
    "PRESETS",
    "THEOREM2_FIRST_CONSTANT",
    "THEOREM2_SECOND_CONSTANT",
    "THEOREM3_DENOMINATOR",
    "DataPreset",
    "FailureProbability",
    "HypothesisCheck",
    "InverseResult",
    "PresetReport",
    "UniversalLowerBound",
    "deep_network_lower_bound",
    "deep_parametrization_lipschitz",
    "finite_class_failure_probability",
    "heuristic_lower_bound",
    "layer_product_bound",
    "lemma_2_1_tail",
    "max_samples_for_lipschitz",
    "max_samples_heuristic",
    "min_params_for_lipschitz",
    "min_params_heuristic",
    "mlp_param_count",
    "poincare_lower_bound",
    "preset_report",
    "spectral_proxy",
    "theorem3_hypothesis",
    "two_layer_conjecture",
    "two_layer_param_count",
    "universal_lower_bound",
]

#: 2^9, the denominator of Theorem 3's bound [BS, Thm 3]. Note 2^18 = 8^6.
THEOREM3_DENOMINATOR: float = 2.0**9
#: 8^4, the constant in Theorem 3's sample-size hypothesis 8^4 k log(8k/delta) <= n eps^2.
HYPOTHESIS_CONSTANT: float = 8.0**4
#: 8^3, the constant of the first term of Theorem 2, 4k exp(-n eps^2 / (8^3 k)).
THEOREM2_FIRST_CONSTANT: float = 8.0**3
#: 8^4, the constant of the second term of Theorem 2, 2 exp(log|F| - eps^2 n d / (8^4 c L^2)).
THEOREM2_SECOND_CONSTANT: float = 8.0**4
#: 60, the base of the eps/(6J)-net size bound (60 W J / eps)^p used in Theorem 3's proof.
NET_CONSTANT: float = 60.0


# --------------------------------------------------------------------------- validation


#: Counts above this are refused: every formula computes in float64 (largest 1.8e308), and
#: products such as p = k (d + 2) or p log(...) must stay finite.
_LARGEST_COUNT = 10**300


def _require_count(name: str, value: object) -> int:
    """A positive integer. Integral floats such as ``2e5`` are accepted exactly; 2.5 is not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        as_int = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or not as_float.is_integer():
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        as_int = int(as_float)
    if as_int <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if as_int > _LARGEST_COUNT:  # the formulas compute in float64
        raise ValueError(f"{name} must be at most 1e300, got about 10^{len(str(as_int)) - 1}")
    return as_int


#: Lipschitz constants the formulas accept: they square them in float64.
_LIPSCHITZ_RANGE = (1e-150, 1e150)


def _require_lipschitz(name: str, value: object) -> float:
    """A positive Lipschitz constant whose square float64 holds."""
    as_float = _require_positive(name, value)
    low, high = _LIPSCHITZ_RANGE
    if not low <= as_float <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return as_float


def _require_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or as_float <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return as_float


def _require_unit_interval(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    as_float = float(value)
    if not (0.0 < as_float < 1.0):
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")
    return as_float


def _require_nonnegative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or as_float < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return as_float


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class HypothesisCheck:
    """Theorem 3's sample-size hypothesis 8^4 k log(8k/delta) <= n eps^2 [BS, Thm 3 (2)].

    Attributes
    ----------
    holds : bool
        Whether the hypothesis is satisfied.
    required : float
        Left-hand side 8^4 k log(8k/delta).
    available : float
        Right-hand side n eps^2.
    min_n : int
        Smallest n for which the hypothesis holds at this eps, delta, k.
    reason : str
        One sentence a reader can act on.
    """

    holds: bool
    required: float
    available: float
    min_n: int
    reason: str


@dataclass(frozen=True)
class UniversalLowerBound:
    """Theorem 3 of [BS] evaluated at given n, d, p: a rigorous lower bound on Lip(f).

    ``value`` is the rigorous bound; it is a valid statement only when ``valid`` is
    true (the sample-size hypothesis holds); otherwise ``hypothesis.reason`` says why.
    ``heuristic`` is the scaling sqrt(n d / p) that experiments test.
    """

    value: float
    valid: bool
    heuristic: float
    hypothesis: HypothesisCheck
    log_net_size: float
    n: int
    d: int
    p: int
    eps: float
    delta: float
    c: float
    mixtures: int
    log_WJ: float

    @property
    def certified(self) -> float | None:
        """The bound when the theorem applies, ``None`` when its hypothesis fails."""
        return self.value if self.valid else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FailureProbability:
    """Theorem 2 of [BS]: P(exists f in F fitting below sigma^2 - eps with Lip <= L).

    ``first`` = 4k exp(-n eps^2/(8^3 k)); ``second`` = 2 exp(log|F| - eps^2 n d/(8^4 c L^2));
    ``bound`` = min(1, first + second).
    """

    first: float
    second: float
    bound: float


@dataclass(frozen=True)
class InverseResult:
    """An inverse of the law (a parameter count or a sample size) and whether it is meaningful."""

    value: float
    valid: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- Theorem 3


def theorem3_hypothesis(n: int, eps: float, delta: float, mixtures: int = 1) -> HypothesisCheck:
    """Check 8^4 k log(8k/delta) <= n eps^2, Theorem 3's hypothesis (2) in [BS].

    Parameters
    ----------
    n : int
        Number of samples.
    eps : float in (0, 1)
        Margin below the noise level.
    delta : float in (0, 1)
        Failure probability.
    mixtures : int
        Number k of c-isoperimetric mixture components of the covariate law.
    """
    n = _require_count("n", n)
    eps = _require_unit_interval("eps", eps)
    delta = _require_unit_interval("delta", delta)
    k = _require_count("mixtures", mixtures)
    required = HYPOTHESIS_CONSTANT * k * math.log(8 * k / delta)
    available = n * eps**2
    min_n = math.ceil(required / eps**2)
    holds = required <= available
    if holds:
        reason = f"8^4·k·log(8k/δ) = {required:.4g} ≤ n·ε² = {available:.4g}: Theorem 3 applies"
    else:
        reason = (
            f"8^4·k·log(8k/δ) = {required:.4g} > n·ε² = {available:.4g}: Theorem 3 does not "
            f"apply; it needs n ≥ {min_n} at ε = {eps:g}, δ = {delta:g}, k = {k}"
        )
    return HypothesisCheck(holds, required, available, min_n, reason)


def _log_net_factor(log_WJ: float, eps: float) -> float:
    """log(60 W J / eps), floored at 0: an eps/(6J)-net always has at least one point."""
    return max(0.0, math.log(NET_CONSTANT) + log_WJ - math.log(eps))


def _theorem3(
    n: int, d: int, p: int, eps: float, delta: float, c: float, mixtures: int, log_WJ: float
) -> UniversalLowerBound:
    hypothesis = theorem3_hypothesis(n, eps, delta, mixtures)
    log_net_size = p * _log_net_factor(log_WJ, eps)
    value = (
        eps
        / (THEOREM3_DENOMINATOR * math.sqrt(c))
        * math.sqrt(n * d / (log_net_size + math.log(4.0 / delta)))
    )
    return UniversalLowerBound(
        value=value,
        valid=hypothesis.holds,
        heuristic=math.sqrt(n * d / p),
        hypothesis=hypothesis,
        log_net_size=log_net_size,
        n=n,
        d=d,
        p=p,
        eps=eps,
        delta=delta,
        c=c,
        mixtures=mixtures,
        log_WJ=log_WJ,
    )


def universal_lower_bound(
    n: int,
    d: int,
    p: int,
    eps: float = 0.1,
    delta: float = 0.01,
    c: float = 1.0,
    W: float = 1e3,
    J: float = 1e3,
    mixtures: int = 1,
) -> UniversalLowerBound:
    """Rigorous lower bound on Lip(f) for any f in the class fitting below the noise level.

    Theorem 3 of [BS]: with probability >= 1 - delta, simultaneously for all f in F,

        MSE(f) <= sigma^2 - eps  ==>  Lip(f) >= eps / (2^9 sqrt(c))
                                        * sqrt(n d / (p log(60 W J / eps) + log(4/delta))),

    provided 8^4 k log(8k/delta) <= n eps^2 (checked; see ``hypothesis``).

    Parameters
    ----------
    n, d, p : int
        Samples, data dimension, parameters.
    eps, delta : float in (0, 1)
        Margin below the noise level; failure probability.
    c : float > 0
        Isoperimetry constant of each mixture component.
    W : float > 0
        Diameter of the parameter set.
    J : float > 0
        Lipschitz constant of the parametrization, ||f_w1 - f_w2||_inf <= J ||w1 - w2||.
    mixtures : int
        Number k of mixture components.

    Returns
    -------
    UniversalLowerBound
        ``value`` (rigorous), ``valid`` (hypothesis holds), ``heuristic`` = sqrt(nd/p).

    Notes
    -----
    log(60WJ/eps) is floored at 0 (a net of a tiny parameter set has one point).
    """
    n = _require_count("n", n)
    d = _require_count("d", d)
    p = _require_count("p", p)
    eps = _require_unit_interval("eps", eps)
    delta = _require_unit_interval("delta", delta)
    c = _require_positive("c", c)
    W = _require_positive("W", W)
    J = _require_positive("J", J)
    mixtures = _require_count("mixtures", mixtures)
    return _theorem3(n, d, p, eps, delta, c, mixtures, math.log(W) + math.log(J))


# ----------------------------------------------------------------- Theorem 2 and Lemma 2.1


def finite_class_failure_probability(
    n: int,
    d: int,
    eps: float,
    L: float,
    log_class_size: float,
    c: float = 1.0,
    mixtures: int = 1,
) -> FailureProbability:
    """Theorem 2 of [BS] for a finite class F of functions.

    P(exists f in F: MSE(f) <= sigma^2 - eps and Lip(f) <= L)
        <= 4k exp(-n eps^2 / (8^3 k)) + 2 exp(log|F| - eps^2 n d / (8^4 c L^2)).

    Parameters
    ----------
    n, d : int
        Samples and dimension.
    eps : float in (0, 1)
        Margin below the noise level.
    L : float > 0
        Lipschitz constant.
    log_class_size : float >= 0
        log |F|.
    c : float > 0
        Isoperimetry constant.
    mixtures : int
        Number k of mixture components.
    """
    n = _require_count("n", n)
    d = _require_count("d", d)
    eps = _require_unit_interval("eps", eps)
    L = _require_lipschitz("L", L)
    log_class_size = _require_nonnegative("log_class_size", log_class_size)
    c = _require_positive("c", c)
    k = _require_count("mixtures", mixtures)
    first = 4 * k * math.exp(-n * eps**2 / (THEOREM2_FIRST_CONSTANT * k))
    exponent = log_class_size - eps**2 * n * d / (THEOREM2_SECOND_CONSTANT * c * L**2)
    second = 2.0 * math.exp(min(exponent, 700.0))
    return FailureProbability(first, second, min(1.0, first + second))


def lemma_2_1_tail(n: int, eps: float) -> float:
    """The tail 2 exp(-n eps^2 / 8^3) of Lemma 2.1 in [BS].

    Lemma 2.1: P(exists f: MSE <= sigma^2 - eps)
        <= 2 exp(-n eps^2/8^3) + P(exists f: (1/n) sum f(x_i) z_i >= eps/3).
    """
    n = _require_count("n", n)
    eps = _require_unit_interval("eps", eps)
    return 2.0 * math.exp(-n * eps**2 / THEOREM2_FIRST_CONSTANT)


# --------------------------------------------------------------------------- deep networks


def deep_parametrization_lipschitz(R: float, W: float, Q: int, p: int, depth: int) -> float:
    """J = R (W Q p)^D, the parametrization constant of a depth-D network [BS, Lemma 3.1].

    Parameters
    ----------
    R : float
        Bound on input norms, ||x|| <= R.
    W : float
        Bound on each parameter, w in [-W, W]^p.
    Q : int
        Largest number of matrix entries tied to one parameter (1 without sharing).
    p : int
        Number of (distinct) parameters.
    depth : int
        Number D of layers.
    """
    R = _require_positive("R", R)
    W = _require_positive("W", W)
    Q = _require_count("Q", Q)
    p = _require_count("p", p)
    depth = _require_count("depth", depth)
    return math.exp(math.log(R) + depth * math.log(W * Q * p))


def layer_product_bound(spectral_norms: Sequence[float]) -> float:
    """B(w) = max over i in {0..D} of prod_{j != i} ||W_j||_op [BS, Section 3].

    i = 0 removes nothing and gives the full product, itself an upper bound on Lip(f)
    for 1-Lipschitz activations.

    Parameters
    ----------
    spectral_norms : sequence of float, length D
        Operator norms ||W_1||, ..., ||W_D|| of the layers.
    """
    norms = list(spectral_norms)
    if not norms:
        raise ValueError("spectral_norms must hold at least one layer norm, got an empty list")
    for i, value in enumerate(norms):
        _require_nonnegative(f"spectral_norms[{i}]", value)
    full = math.prod(norms)
    leave_one_out = [math.prod(norms[:i] + norms[i + 1 :]) for i in range(len(norms))]
    return max([full, *leave_one_out])


def deep_network_lower_bound(
    n: int,
    d: int,
    p: int,
    depth: int,
    eps: float = 0.1,
    delta: float = 0.01,
    c: float = 1.0,
    W: float = 1.0,
    R: float = 1.0,
    Q: int = 1,
    mixtures: int = 1,
    B_bar: float | None = None,
) -> UniversalLowerBound:
    """Theorem 3 of [BS] applied to depth-D networks with weights in [-W, W]^p (Section 3).

    Without ``B_bar`` this is bound (3.1): J = R (W Q p)^D, giving
    Lip >= Omega~(sqrt(n d / (D p))). With ``B_bar`` (a bound on B(w) over the class,
    see :func:`layer_product_bound`) this is bound (3.2): J = B_bar Q R sqrt(p), giving
    Lip >= Omega~(sqrt(n d / (p log B_bar))). In both cases the parameter set
    [-W, W]^p has diameter 2 W sqrt(p).

    The ``heuristic`` field holds sqrt(n d / (D p)) for (3.1) and
    sqrt(n d / (p max(1, log B_bar))) for (3.2).
    """
    n = _require_count("n", n)
    d = _require_count("d", d)
    p = _require_count("p", p)
    depth = _require_count("depth", depth)
    eps = _require_unit_interval("eps", eps)
    delta = _require_unit_interval("delta", delta)
    c = _require_positive("c", c)
    W = _require_positive("W", W)
    R = _require_positive("R", R)
    Q = _require_count("Q", Q)
    mixtures = _require_count("mixtures", mixtures)
    log_diameter = math.log(2.0 * W) + 0.5 * math.log(p)
    if B_bar is None:
        log_J = math.log(R) + depth * math.log(W * Q * p)
        heuristic = math.sqrt(n * d / (depth * p))
    else:
        B_bar = _require_positive("B_bar", B_bar)
        log_J = math.log(B_bar) + math.log(Q) + math.log(R) + 0.5 * math.log(p)
        heuristic = math.sqrt(n * d / (p * max(1.0, math.log(B_bar))))
    result = _theorem3(n, d, p, eps, delta, c, mixtures, log_diameter + log_J)
    return replace(result, heuristic=heuristic)


# --------------------------------------------------------------------------- scalings


def heuristic_lower_bound(n: int, d: int, p: int) -> float:
    """The informal law Lip >= sqrt(n d / p), constants and logs dropped [BS, eq. (1.3)]."""
    n = _require_count("n", n)
    d = _require_count("d", d)
    p = _require_count("p", p)
    return math.sqrt(n * d / p)


def poincare_lower_bound(n: int, d: int, p: int) -> float:
    """The weaker scaling n sqrt(d) / p for data satisfying only a Poincaré inequality [BS]."""
    n = _require_count("n", n)
    d = _require_count("d", d)
    p = _require_count("p", p)
    return n * math.sqrt(d) / p


def two_layer_conjecture(n: int, k: int, constant: float = 1.0) -> float:
    """The two-layer conjecture Lip >= C sqrt(n / k) for k neurons [BLN, Conjecture 1]."""
    n = _require_count("n", n)
    k = _require_count("k", k)
    constant = _require_positive("constant", constant)
    return constant * math.sqrt(n / k)


def spectral_proxy(a: np.ndarray, W: np.ndarray, activation_lipschitz: float = 1.0) -> float:
    """Lip(psi) ||a||_2 ||W||_op, the certified upper bound on Lip(f) used by [BLN].

    For f(x) = sum_l a_l psi(w_l . x + b_l), grad f(x) = W^T diag(psi'(Wx + b)) a, hence
    ||grad f|| <= Lip(psi) ||W||_op ||a||_2.

    Parameters
    ----------
    a : array, shape (k,)
        Output weights.
    W : array, shape (k, d)
        Hidden weights, one row per neuron.
    activation_lipschitz : float
        Lipschitz constant of psi.
    """
    a = np.asarray(a, dtype=float)
    W = np.asarray(W, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"a must have shape (k,), got shape {a.shape}")
    if W.ndim != 2 or W.shape[0] != a.shape[0]:
        raise ValueError(f"W must have shape (k, d) with k = {a.shape[0]}, got shape {W.shape}")
    if not (np.isfinite(a).all() and np.isfinite(W).all()):
        raise ValueError("a and W must be finite (found NaN or inf)")
    activation_lipschitz = _require_nonnegative("activation_lipschitz", activation_lipschitz)
    return activation_lipschitz * float(np.linalg.norm(a)) * float(np.linalg.norm(W, ord=2))


# --------------------------------------------------------------------------- inverses


def min_params_for_lipschitz(
    L: float,
    n: int,
    d: int,
    eps: float = 0.1,
    delta: float = 0.01,
    c: float = 1.0,
    W: float = 1e3,
    J: float = 1e3,
    mixtures: int = 1,
) -> InverseResult:
    """Smallest p for which Theorem 3 of [BS] allows a fit with Lip(f) <= L.

    Solving universal_lower_bound(p) = L for p (W and J held fixed):

        p_min = (eps^2 n d / (2^18 c L^2) - log(4/delta)) / log(60 W J / eps).

    ``valid`` is false when the theorem's hypothesis fails (then it says nothing) or when
    p_min <= 0 (the theorem rules out no model size; ``value`` is then 0).
    """
    L = _require_lipschitz("L", L)
    n = _require_count("n", n)
    d = _require_count("d", d)
    eps = _require_unit_interval("eps", eps)
    delta = _require_unit_interval("delta", delta)
    c = _require_positive("c", c)
    W = _require_positive("W", W)
    J = _require_positive("J", J)
    mixtures = _require_count("mixtures", mixtures)
    hypothesis = theorem3_hypothesis(n, eps, delta, mixtures)
    if not hypothesis.holds:
        return InverseResult(math.nan, False, hypothesis.reason)
    per_param = _log_net_factor(math.log(W) + math.log(J), eps)
    budget = eps**2 * n * d / (THEOREM3_DENOMINATOR**2 * c * L**2) - math.log(4.0 / delta)
    if budget <= 0:
        return InverseResult(0.0, False, f"Theorem 3 rules out no model size at L = {L:g}")
    if per_param == 0.0:
        return InverseResult(math.inf, True, "log(60WJ/ε) = 0: no finite p allows Lip ≤ L")
    return InverseResult(budget / per_param, True, "Theorem 3 inverted in p")


def min_params_heuristic(L: float, n: int, d: int) -> float:
    """Parameters the informal law asks for a fit with Lip <= L: p = n d / L^2."""
    L = _require_lipschitz("L", L)
    n = _require_count("n", n)
    d = _require_count("d", d)
    return n * d / L**2


def max_samples_for_lipschitz(
    L: float,
    p: int,
    d: int,
    eps: float = 0.1,
    delta: float = 0.01,
    c: float = 1.0,
    W: float = 1e3,
    J: float = 1e3,
    mixtures: int = 1,
) -> InverseResult:
    """Largest n that a p-parameter model can fit below the noise level with Lip <= L.

    Solving universal_lower_bound(n) = L for n:

        n_max = 2^18 c L^2 (p log(60WJ/eps) + log(4/delta)) / (eps^2 d).

    Theorem 3 only speaks for n satisfying its hypothesis; when n_max is below the
    smallest such n, ``valid`` is false and the reason says so.
    """
    L = _require_lipschitz("L", L)
    p = _require_count("p", p)
    d = _require_count("d", d)
    eps = _require_unit_interval("eps", eps)
    delta = _require_unit_interval("delta", delta)
    c = _require_positive("c", c)
    W = _require_positive("W", W)
    J = _require_positive("J", J)
    mixtures = _require_count("mixtures", mixtures)
    log_net = p * _log_net_factor(math.log(W) + math.log(J), eps)
    n_max = THEOREM3_DENOMINATOR**2 * c * L**2 * (log_net + math.log(4.0 / delta)) / (eps**2 * d)
    min_n = theorem3_hypothesis(1, eps, delta, mixtures).min_n
    if n_max < min_n:
        return InverseResult(
            n_max,
            False,
            f"n_max = {n_max:.4g} is below n = {min_n}, the smallest n Theorem 3 covers: "
            "the theorem rules out no sample size here",
        )
    return InverseResult(n_max, True, "Theorem 3 inverted in n")


def max_samples_heuristic(L: float, p: int, d: int) -> float:
    """Largest n the informal law lets p parameters fit with Lip <= L: n = p L^2 / d."""
    L = _require_lipschitz("L", L)
    p = _require_count("p", p)
    d = _require_count("d", d)
    return p * L**2 / d


# --------------------------------------------------------------------------- parameter counts


def two_layer_param_count(
    d: int,
    k: int,
    hidden_bias: bool = True,
    output_bias: bool = False,
    skip: bool = False,
) -> int:
    """Parameters of f(x) = sum_{l<=k} a_l psi(w_l . x + b_l) + c + v . x (c, v optional).

    k d (hidden weights) + k (hidden biases, optional) + k (output weights)
    + 1 (output bias, optional) + d (linear skip, optional); about k (d + 2) [BLN].
    """
    d = _require_count("d", d)
    k = _require_count("k", k)
    return k * d + (k if hidden_bias else 0) + k + (1 if output_bias else 0) + (d if skip else 0)


def mlp_param_count(widths: Sequence[int], bias: bool = True) -> int:
    """Parameters of a fully connected network with layer widths [d, h_1, ..., h_L, out].

    Each layer in -> out has in * out weights plus out biases when ``bias``.
    """
    sizes = list(widths)
    if len(sizes) < 2:
        raise ValueError(
            f"widths must list at least the input and output sizes, got {list(widths)!r}"
        )
    sizes = [_require_count(f"widths[{i}]", w) for i, w in enumerate(sizes)]
    return sum(i * o + (o if bias else 0) for i, o in itertools.pairwise(sizes))


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class DataPreset:
    """A real data set as discussed in [BS, Section 1.1]."""

    name: str
    n: int
    d: int
    d_eff_low: float
    d_eff_high: float
    note: str


@dataclass(frozen=True)
class PresetReport:
    """Parameter counts the law implies for a preset, next to the classical p ~ n."""

    preset: DataPreset
    classical_params: float
    law_params_low: float
    law_params_high: float
    ambient_params: float

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, DataPreset] = {
    "mnist": DataPreset(
        name="mnist",
        n=60_000,
        d=784,
        d_eff_low=15,
        d_eff_high=150,
        note=(
            "effective dimension 15-150; robustly trained networks jump from ~10% to ~90% "
            "robust accuracy near 2e5 parameters and reach ~95% near 3e6 [BS, Sec. 1.1]"
        ),
    ),
    "imagenet": DataPreset(
        name="imagenet",
        n=14_000_000,
        d=200_000,
        d_eff_low=1_000,
        d_eff_high=10_000,
        note=(
            "images of size ~2e5 with an effective dimension one to two orders of magnitude "
            "smaller: robust models would need 1e10-1e11 parameters [BS, Sec. 1.1]"
        ),
    ),
}


def preset_report(name: str, L: float = 1.0) -> PresetReport:
    """Parameter counts implied by the informal law for a preset data set at Lip <= L.

    classical: p ~ n (parameters = equations); law: p ~ n d_eff / L^2 over the preset's
    range of effective dimension; ambient: n d / L^2.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    L = _require_lipschitz("L", L)
    preset = PRESETS[name]
    return PresetReport(
        preset=preset,
        classical_params=float(preset.n),
        law_params_low=preset.n * preset.d_eff_low / L**2,
        law_params_high=preset.n * preset.d_eff_high / L**2,
        ambient_params=preset.n * preset.d / L**2,
    )


# --------------------------------------------------------------------------- one summary


@dataclass(frozen=True)
class LawRow:
    """One line of a law summary: a named quantity, its value and what kind of statement it is.

    ``kind`` is one of ``"rigorous"`` (a theorem with its constants), ``"heuristic"``
    (a scaling with constants dropped), ``"conjecture"`` or ``"count"``.
    """

    name: str
    value: float
    kind: str
    valid: bool
    note: str


def law_summary(
    n: int,
    d: int,
    p: int | None = None,
    k: int | None = None,
    eps: float = 0.1,
    delta: float = 0.01,
    c: float = 1.0,
    W: float = 1e3,
    J: float = 1e3,
    mixtures: int = 1,
    target_lipschitz: float = 1.0,
) -> dict:
    """Every applicable statement of the law at (n, d, p) as one plain dictionary.

    Exactly one of ``p`` (parameters) and ``k`` (two-layer width; then p counts
    k d + 2k parameters, hidden biases and output weights) must be given.

    Returns
    -------
    dict
        ``inputs``, ``rigorous`` (Theorem 3 with its hypothesis verdict), ``heuristic``
        (sqrt(n d / p)) and ``rows``, a list of :class:`LawRow` as dictionaries.
    """
    if (p is None) == (k is None):
        raise ValueError("give exactly one of p (parameter count) and k (two-layer width)")
    n = _require_count("n", n)
    d = _require_count("d", d)
    if k is not None:
        k = _require_count("k", k)
        p = two_layer_param_count(d, k)
        if p > _LARGEST_COUNT:
            raise ValueError(f"k = {float(k):.3g} gives more than 1e300 parameters (k·d + 2k)")
    p = _require_count("p", p)
    L = _require_lipschitz("target_lipschitz", target_lipschitz)
    bound = universal_lower_bound(n, d, p, eps, delta, c, W, J, mixtures)
    rows = [
        LawRow(
            "Theorem 3 lower bound on Lip (Bubeck–Sellke)",
            bound.value,
            "rigorous",
            bound.valid,
            bound.hypothesis.reason,
        ),
        LawRow("sqrt(n·d/p) scaling", bound.heuristic, "heuristic", True, "constants dropped"),
        LawRow(
            "Poincaré-only scaling n·sqrt(d)/p",
            poincare_lower_bound(n, d, p),
            "heuristic",
            True,
            "data with only a Poincaré inequality",
        ),
    ]
    if k is not None:
        rows.append(
            LawRow(
                "two-layer conjecture sqrt(n/k) (Bubeck–Li–Nagaraj)",
                two_layer_conjecture(n, k),
                "conjecture",
                True,
                f"k = {k} neurons, p = {p}",
            )
        )
    rigorous_p = min_params_for_lipschitz(L, n, d, eps, delta, c, W, J, mixtures)
    rigorous_n = max_samples_for_lipschitz(L, p, d, eps, delta, c, W, J, mixtures)
    rows += [
        LawRow(
            f"min parameters for Lip ≤ {L:g}, Theorem 3 inverted",
            rigorous_p.value,
            "rigorous",
            rigorous_p.valid,
            rigorous_p.reason,
        ),
        LawRow(
            f"min parameters for Lip ≤ {L:g}, n·d/L²",
            min_params_heuristic(L, n, d),
            "heuristic",
            True,
            "constants dropped",
        ),
        LawRow(
            f"max samples fit with Lip ≤ {L:g} at this p, Theorem 3 inverted",
            rigorous_n.value,
            "rigorous",
            rigorous_n.valid,
            rigorous_n.reason,
        ),
        LawRow(
            f"max samples fit with Lip ≤ {L:g} at this p, p·L²/d",
            max_samples_heuristic(L, p, d),
            "heuristic",
            True,
            "constants dropped",
        ),
        LawRow("parameters p", float(p), "count", True, "k·d + 2k" if k is not None else "given"),
    ]
    return {
        "inputs": {
            "n": n,
            "d": d,
            "p": p,
            "k": k,
            "eps": eps,
            "delta": delta,
            "c": c,
            "W": W,
            "J": J,
            "mixtures": mixtures,
            "target_lipschitz": L,
        },
        "rigorous": bound.to_dict(),
        "heuristic": bound.heuristic,
        "rows": [asdict(row) for row in rows],
    }
