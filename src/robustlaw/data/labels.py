"""Label models: y in [-1, 1] for given points, with the noise level sigma^2 = E[Var(y | x)].

The law of robustness [BS, Section 1] is about fitting below the noise level
sigma^2 = E_mu[Var(y | x)]; every model here returns sigma^2 together with the labels, and
says how it knows it (``noise_level_kind``):

- ``"exact"``: a closed form that holds for every covariate law (random signs, sign flips with
  probability q, truncated Gaussian noise, no noise);
- ``"monte_carlo"``: the conditional variance Var(y | x) is exact at every point, but its
  average over mu has no closed form; it is estimated by the average over the sample with its
  standard error (clipped Gaussian noise, Bernoulli labels);
- ``"given"``: stated by the user (user labels).

Teachers (linear, single-index, random two-layer network) compute a score s(x) of order 1 on
data of norm about 1, map it through a bounded link into [-1, 1], scale it by ``amplitude``
and add noise. All randomness comes from the caller's local ``torch.Generator`` (or from
``teacher_seed`` for the teacher's weights, so that train and test sets, or repeated noise
draws, share one teacher).

References
----------
[BS] S. Bubeck, M. Sellke. A Universal Law of Robustness via Isoperimetry. arXiv:2105.12806.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch

from robustlaw.data._validation import (
    as_labels,
    generator,
    plain,
    require_count,
    require_real,
    require_seed,
)

__all__ = [
    "LABEL_MODELS",
    "LabelModel",
    "Labels",
    "RandomSign",
    "Teacher",
    "UserLabels",
    "clipped_gaussian_moments",
    "flip_prob_for_noise_level",
    "register_label_model",
    "resolve_label_model",
    "truncated_gaussian_std",
    "truncated_gaussian_variance",
]


@dataclass(frozen=True)
class Labels:
    """Labels drawn by a :class:`LabelModel` for n points.

    Attributes
    ----------
    y : (n,) tensor, float64, values in [-1, 1]
    noise_level : float or None
        sigma^2 = E[Var(y | x)].
    noise_level_kind : str or None
        ``"exact"``, ``"monte_carlo"``, ``"lower_bound"``, ``"given"`` or ``None``.
    noise_level_stderr : float or None
        Standard error of a Monte Carlo noise level.
    target : (n,) tensor or None
        g(x_i) = E[y | x_i], when known.
    conditional_variance : (n,) tensor or None
        Var(y | x_i), when known; ``noise_level`` is its mean over mu.
    params : dict
        Resolved, JSON-ready parameters of the model.
    """

    y: torch.Tensor
    noise_level: float | None
    noise_level_kind: str | None
    noise_level_stderr: float | None = None
    target: torch.Tensor | None = None
    conditional_variance: torch.Tensor | None = None
    params: dict[str, Any] = field(default_factory=dict)


class LabelModel(abc.ABC):
    """A rule that draws labels in [-1, 1] for points X and knows its noise level.

    Subclasses set ``name``, validate their settings in ``__init__`` and implement
    :meth:`sample`; :meth:`params` returns the settings as a plain dict.
    """

    name: ClassVar[str] = "label_model"

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Resolved settings, JSON-ready."""

    @abc.abstractmethod
    def sample(self, X: torch.Tensor, generator: torch.Generator) -> Labels:
        """Draw labels for X of shape (n, d) (float64 on the CPU) from ``generator``."""

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------- noise formulas


#: |z| beyond which the standard normal tail underflows float64 (Phi(-40) < 1e-349).
_NEGLIGIBLE_TAIL = 40.0


def flip_prob_for_noise_level(noise_level: float) -> float:
    """The flip probability q with 4 q (1 - q) = sigma^2, q in [0, 1/2].

    Flipping a +-1 label with probability q gives E[y|x] = (1 - 2q) s(x) and
    Var(y|x) = 1 - (1 - 2q)^2 = 4 q (1 - q), whatever the law of x.
    """
    sigma2 = require_real("noise_level", noise_level, low=0.0, high=1.0)
    return 0.5 * (1.0 - math.sqrt(1.0 - sigma2))


def truncated_gaussian_variance(std: float, half_width: float) -> float:
    """Var(xi) for xi ~ N(0, std^2) conditioned on |xi| <= half_width.

    Var = std^2 E[Z^2; |Z| <= b] / P(|Z| <= b) with b = half_width / std, and
    E[Z^2; Z^2 <= b^2] = P(chi^2_3 <= b^2), P(|Z| <= b) = P(chi^2_1 <= b^2), so
    Var = std^2 P(3/2, b^2/2) / P(1/2, b^2/2) with P the regularized lower incomplete gamma
    function (no cancellation as std -> infinity, where Var -> half_width^2 / 3).
    """
    from scipy.special import gammainc

    if std == 0.0:
        return 0.0
    b = half_width / std
    if b > _NEGLIGIBLE_TAIL:  # P(|Z| > b) and E[Z^2; |Z| > b] vanish in float64
        return std**2
    if b < 1e-4:  # nearly uniform: a^2 (1/3 - 2 b^2 / 45) + O(a^2 b^4), no underflow in b^2
        return half_width**2 * (1.0 / 3.0 - 2.0 * b * b / 45.0)
    x = 0.5 * b**2
    return float(std**2 * gammainc(1.5, x) / gammainc(0.5, x))


def truncated_gaussian_std(noise_level: float, half_width: float) -> float:
    """The std of the untruncated Gaussian whose truncation to [-a, a] has variance sigma^2.

    The variance increases from 0 (std = 0) to a^2 / 3 (std -> infinity, the uniform law), so
    sigma^2 must lie in [0, a^2 / 3); solved by Brent's method on log(std).
    """
    from scipy.optimize import brentq

    limit = half_width**2 / 3.0
    if not 0.0 <= noise_level < limit:
        raise ValueError(
            f"noise_level must lie in [0, {limit:.6g}) for truncated Gaussian noise on "
            f"[-{half_width:g}, {half_width:g}] (the uniform law's variance a^2/3 bounds it), "
            f"got {noise_level!r}; lower the amplitude or use noise='flip'"
        )
    if noise_level == 0.0:
        return 0.0

    def gap(log_std: float) -> float:
        return truncated_gaussian_variance(math.exp(log_std), half_width) - noise_level

    low, high = math.log(half_width) - 40.0, math.log(half_width) + 40.0
    return math.exp(brentq(gap, low, high, xtol=1e-14, rtol=1e-14, maxiter=500))


def _scaled_second_moment(b: np.ndarray) -> np.ndarray:
    """g(b) = P(3/2, b^2/2) / b^2 = (2 / b^2) int_0^b z^2 phi(z) dz, for b in [0, inf].

    A series for small b (no underflow in b^2), 0 at b = inf.
    """
    from scipy.special import gammainc

    b = np.asarray(b, dtype=np.float64)
    out = np.zeros_like(b)
    small = b < 1e-4
    out[small] = 2.0 * b[small] / (3.0 * math.sqrt(2.0 * math.pi)) * (1.0 - 0.3 * b[small] ** 2)
    mid = ~small & np.isfinite(b)
    with np.errstate(over="ignore"):  # b^2 = inf gives P / inf = 0, the right limit
        out[mid] = gammainc(1.5, 0.5 * b[mid] ** 2) / b[mid] ** 2
    return out


def clipped_gaussian_moments(mean: torch.Tensor, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """E[Y] and Var(Y) for Y = clip(mean + std Z, -1, 1), Z ~ N(0, 1), elementwise.

    With C = Y - mean = clip(std Z, l, u), l = -1 - mean <= 0 <= u = 1 - mean,
    alpha = l / std, beta = u / std (censored normal moments):

        E C   = l Phi(alpha) + u Phi(-beta) + std (phi(alpha) - phi(beta)),
        E C^2 = l^2 Phi(alpha) + u^2 Phi(-beta) + std^2 int_alpha^beta z^2 phi(z) dz,

    and std^2 int_0^b z^2 phi = u^2 g(b) / 2 with g(b) = P(3/2, b^2/2) / b^2, b = u / std (and
    likewise for l). Written this way nothing overflows or cancels for tiny or huge std;
    phi(alpha) - phi(beta) uses expm1. Var(Y) = E C^2 - (E C)^2.
    """
    from scipy.special import ndtr

    mu = mean.detach().to(torch.float64).cpu().numpy()
    if std == 0.0:
        target = torch.from_numpy(np.clip(mu, -1.0, 1.0))
        return target, torch.zeros_like(target)
    low, high = -1.0 - mu, 1.0 - mu
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        alpha, beta = low / std, high / std
        pdf_gap = (np.expm1(-0.5 * alpha**2) - np.expm1(-0.5 * beta**2)) / math.sqrt(2 * math.pi)
    tail_low, tail_high = ndtr(alpha), ndtr(-beta)
    first = low * tail_low + high * tail_high + std * pdf_gap
    second = (
        low**2 * tail_low
        + high**2 * tail_high
        + 0.5 * high**2 * _scaled_second_moment(beta)
        + 0.5 * low**2 * _scaled_second_moment(-alpha)
    )
    variance = np.clip(second - first**2, 0.0, 1.0)  # rounding only: Var of [-1, 1] <= 1
    return torch.from_numpy(mu + first), torch.from_numpy(variance)


# --------------------------------------------------------------------------- label models


def _uniform(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float32).to(torch.float64)


class RandomSign(LabelModel):
    """y uniform on {-1, +1}, independent of x: sigma^2 = 1 exactly [BS, Section 1].

    E[y | x] = 0, Var(y | x) = 1.
    """

    name: ClassVar[str] = "random_sign"

    def params(self) -> dict[str, Any]:
        return {}

    def sample(self, X: torch.Tensor, generator: torch.Generator) -> Labels:
        n = X.shape[0]
        y = torch.where(_uniform(n, generator) < 0.5, 1.0, -1.0).to(torch.float64)
        return Labels(
            y=y,
            noise_level=1.0,
            noise_level_kind="exact",
            target=torch.zeros(n, dtype=torch.float64),
            conditional_variance=torch.ones(n, dtype=torch.float64),
            params={},
        )


TEACHER_KINDS = ("linear", "single_index", "two_layer")
NOISE_KINDS = ("flip", "gaussian", "clipped_gaussian", "bernoulli", "none")
LINKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "clip": lambda s: s.clamp(-1.0, 1.0),
    "tanh": torch.tanh,
    "sign": lambda s: torch.where(s >= 0, 1.0, -1.0).to(s.dtype),
    "cos": torch.cos,
}
ACTIVATIONS = ("relu", "tanh")


@functools.cache
def _activation_second_moment(activation: str) -> tuple[float, float]:
    """Mean and variance of psi(Z), Z ~ N(0, 1): closed form for ReLU, Gauss-Hermite for tanh."""
    if activation == "relu":
        mean = 1.0 / math.sqrt(2 * math.pi)
        return mean, 0.5 - mean**2
    nodes, weights = np.polynomial.hermite_e.hermegauss(160)
    weights = weights / weights.sum()
    values = np.tanh(nodes)
    mean = float(weights @ values)
    return mean, float(weights @ values**2) - mean**2


class Teacher(LabelModel):
    """A teacher function plus noise with a known noise level.

    Score s(x) (order 1 for points of norm about 1 in R^d):

    - ``"linear"`` / ``"single_index"``: s(x) = sqrt(d) <w, x>, w uniform on the unit sphere;
      the two differ only in their default link (``"clip"``, i.e. the identity clipped to
      [-1, 1], versus ``"tanh"``);
    - ``"two_layer"``: s(x) = k^{-1/2} sum_j a_j (psi(sqrt(d) <w_j, x>) - m_psi) / s_psi, a random
      two-layer network of width k with unit rows w_j, signs a_j and activation psi centred and
      scaled by its Gaussian mean m_psi and standard deviation s_psi.

    The clean signal is t(x) = amplitude * link(s(x)) in [-amplitude, amplitude].

    Noise (``noise``) and the resulting sigma^2 = E[Var(y | x)]:

    - ``"flip"``: y = sign(link(s(x))) (+1 at 0), flipped with probability q; sigma^2 =
      4 q (1 - q) **exactly** for every law of x. Give ``flip_prob`` q in [0, 1/2] or
      ``noise_level`` sigma^2 in [0, 1] (then q = (1 - sqrt(1 - sigma^2)) / 2).
    - ``"gaussian"``: y = t(x) + xi, xi ~ N(0, tau^2) truncated to [-(1 - amplitude),
      1 - amplitude] (drawn by inverse CDF, never clipped), so y stays in [-1, 1], E[y|x] = t(x)
      and Var(y|x) = sigma^2 **exactly** for every x. Give ``noise_level`` (< (1 -
      amplitude)^2 / 3, tau is solved for) or ``noise_std`` tau.
    - ``"clipped_gaussian"``: y = clip(t(x) + xi, -1, 1), xi ~ N(0, tau^2) with ``noise_std``
      tau. Var(y | x) is exact at each point (censored normal moments) but depends on x, so
      sigma^2 is its **Monte Carlo** average over the sample, with its standard error.
    - ``"bernoulli"``: y = +-1 with P(y = 1 | x) = (1 + t(x)) / 2; Var(y|x) = 1 - t(x)^2,
      sigma^2 by **Monte Carlo** as above.
    - ``"none"``: y = t(x); sigma^2 = 0 exactly (the law of robustness needs sigma^2 > 0).

    Parameters
    ----------
    kind : {"linear", "single_index", "two_layer"}
    noise : str
        One of the noise models above (default ``"flip"``).
    noise_level, flip_prob, noise_std : float, optional
        See above; give exactly what the noise model takes.
    amplitude : float in [0, 1]
        Scale of the clean signal (default 0.5; must be < 1 for ``"gaussian"``).
    link : {"clip", "tanh", "sign", "cos"}, optional
        Bounded link; default ``"clip"`` for linear, ``"tanh"`` otherwise.
    width : int
        Hidden width k of the two-layer teacher (default 64).
    activation : {"relu", "tanh"}
        Hidden activation of the two-layer teacher.
    teacher_seed : int, optional
        Seed of the teacher's own generator; by default its weights come from the sample's
        generator. Fix it to share one teacher between data sets or noise draws.
    """

    name: ClassVar[str] = "teacher"

    def __init__(
        self,
        kind: str = "linear",
        noise: str = "flip",
        noise_level: float | None = None,
        flip_prob: float | None = None,
        noise_std: float | None = None,
        amplitude: float = 0.5,
        link: str | None = None,
        width: int = 64,
        activation: str = "relu",
        teacher_seed: int | None = None,
    ) -> None:
        if kind not in TEACHER_KINDS:
            raise ValueError(f"kind must be one of {TEACHER_KINDS}, got {kind!r}")
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
        link = ("clip" if kind == "linear" else "tanh") if link is None else link
        if link not in LINKS:
            raise ValueError(f"link must be one of {tuple(LINKS)}, got {link!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.kind, self.noise, self.link, self.activation = kind, noise, link, activation
        self.name = kind  # type: ignore[misc]  # the registry name of this teacher
        self.width = require_count("width", width)
        self.teacher_seed = None if teacher_seed is None else require_seed(teacher_seed)
        high_open = noise == "gaussian"
        self.amplitude = require_real(
            "amplitude", amplitude, low=0.0, high=1.0, high_open=high_open
        )

        given = {
            key: value
            for key, value in (
                ("noise_level", noise_level),
                ("flip_prob", flip_prob),
                ("noise_std", noise_std),
            )
            if value is not None
        }
        allowed = {
            "flip": ({"noise_level"}, {"flip_prob"}),
            "gaussian": ({"noise_level"}, {"noise_std"}),
            "clipped_gaussian": ({"noise_std"},),
            "bernoulli": (set(),),
            "none": (set(),),
        }[noise]
        if set(given) not in allowed:
            choices = " or ".join(sorted(opt)[0] if opt else "nothing" for opt in allowed)
            raise ValueError(
                f"noise={noise!r} takes {choices} (got {sorted(given) or 'nothing'})"
                + (
                    "; its noise level depends on the data and is computed by Monte Carlo"
                    if noise in ("clipped_gaussian", "bernoulli") and "noise_level" in given
                    else ""
                )
            )
        self.flip_prob: float | None = None
        self.noise_std: float | None = None
        self.half_width: float | None = None
        self._noise_level: float | None = None
        if noise == "flip":
            if "flip_prob" in given:
                self.flip_prob = require_real("flip_prob", flip_prob, low=0.0, high=0.5)
            else:
                self.flip_prob = flip_prob_for_noise_level(noise_level)  # type: ignore[arg-type]
            q = self.flip_prob
            self._noise_level = 4.0 * q * (1.0 - q)
        elif noise == "gaussian":
            self.half_width = 1.0 - self.amplitude
            if "noise_level" in given:
                level = require_real("noise_level", noise_level, low=0.0)
                self.noise_std = truncated_gaussian_std(level, self.half_width)
                self._noise_level = level
            else:
                self.noise_std = require_real("noise_std", noise_std, low=0.0)
                self._noise_level = truncated_gaussian_variance(self.noise_std, self.half_width)
        elif noise == "clipped_gaussian":
            self.noise_std = require_real("noise_std", noise_std, low=0.0)
        elif noise == "none":
            self._noise_level = 0.0

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "noise": self.noise,
            "amplitude": self.amplitude,
            "link": self.link,
        }
        if self.kind == "two_layer":
            out.update(width=self.width, activation=self.activation)
        if self.flip_prob is not None:
            out["flip_prob"] = self.flip_prob
        if self.noise_std is not None:
            out["noise_std"] = self.noise_std
        if self.half_width is not None:
            out["truncation"] = self.half_width
        if self._noise_level is not None:
            out["noise_level"] = self._noise_level
        if self.teacher_seed is not None:
            out["teacher_seed"] = self.teacher_seed
        return out

    # ------------------------------------------------------------------ teacher function

    def _weights(self, d: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows = 1 if self.kind != "two_layer" else self.width
        W = torch.randn(rows, d, generator=gen, dtype=torch.float32).to(torch.float64)
        W = W / W.norm(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
        if self.kind != "two_layer":
            return W[0], None
        signs = torch.where(_uniform(rows, gen) < 0.5, 1.0, -1.0).to(torch.float64)
        return W, signs

    def score(self, X: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """s(x) for X of shape (n, d), drawing the teacher's weights from ``gen``."""
        d = X.shape[1]
        W, signs = self._weights(d, gen)
        if signs is None:
            return math.sqrt(d) * (X.to(torch.float64) @ W)
        Z = math.sqrt(d) * (X.to(torch.float64) @ W.T)
        mean, var = _activation_second_moment(self.activation)
        hidden = torch.relu(Z) if self.activation == "relu" else torch.tanh(Z)
        hidden = (hidden - mean) / math.sqrt(var)
        return hidden @ signs / math.sqrt(self.width)

    def sample(self, X: torch.Tensor, generator: torch.Generator) -> Labels:
        n = X.shape[0]
        teacher_gen = generator if self.teacher_seed is None else _seeded(self.teacher_seed)
        clean = LINKS[self.link](self.score(X, teacher_gen))
        A = self.amplitude
        params = self.params()
        if self.noise == "flip":
            q = float(self.flip_prob)  # type: ignore[arg-type]
            sign = torch.where(clean >= 0, 1.0, -1.0).to(torch.float64)
            flips = _uniform(n, generator) < q
            y = torch.where(flips, -sign, sign)
            var = torch.full((n,), self._noise_level, dtype=torch.float64)  # type: ignore[arg-type]
            return Labels(y, self._noise_level, "exact", None, (1 - 2 * q) * sign, var, params)
        signal = A * clean
        if self.noise == "none":
            zeros = torch.zeros(n, dtype=torch.float64)
            return Labels(signal.clone(), 0.0, "exact", None, signal, zeros, params)
        if self.noise == "gaussian":
            xi = _truncated_normal(n, float(self.noise_std), float(self.half_width), generator)  # type: ignore[arg-type]
            y = (signal + xi).clamp(-1.0, 1.0)  # only floating-point rounding can reach past 1
            var = torch.full((n,), self._noise_level, dtype=torch.float64)  # type: ignore[arg-type]
            return Labels(y, self._noise_level, "exact", None, signal, var, params)
        if self.noise == "clipped_gaussian":
            tau = float(self.noise_std)  # type: ignore[arg-type]
            xi = tau * torch.randn(n, generator=generator, dtype=torch.float32).to(torch.float64)
            y = (signal + xi).clamp(-1.0, 1.0)
            target, var = clipped_gaussian_moments(signal, tau)
        else:  # bernoulli
            y = torch.where(_uniform(n, generator) < (1.0 + signal) / 2.0, 1.0, -1.0)
            y = y.to(torch.float64)
            target, var = signal, 1.0 - signal**2
        level = float(var.mean())
        stderr = float(var.std(correction=1) / math.sqrt(n)) if n > 1 else None
        return Labels(y, level, "monte_carlo", stderr, target, var, params)


def _seeded(seed: int) -> torch.Generator:
    return generator(seed)


def _truncated_normal(n: int, std: float, half_width: float, gen: torch.Generator) -> torch.Tensor:
    """n draws of N(0, std^2) conditioned on |xi| <= half_width, by inverse CDF (float64).

    xi = std sqrt(2) erfinv((2u - 1) erf(b / sqrt 2)), b = half_width / std: erf and erfinv are
    accurate near 0, so a huge std gives the uniform law on [-a, a] instead of losing u to
    rounding around Phi = 1/2.
    """
    u = _uniform(n, gen) + 2.0**-25  # the open interval (0, 1)
    if std == 0.0:
        return torch.zeros(n, dtype=torch.float64)
    b = min(half_width / std, _NEGLIGIBLE_TAIL)
    mass = math.erf(b / math.sqrt(2.0))
    xi = std * math.sqrt(2.0) * torch.special.erfinv((2.0 * u - 1.0) * mass)
    return xi.clamp(-half_width, half_width)


class UserLabels(LabelModel):
    """Labels the user supplies; sigma^2 unknown unless given.

    Parameters
    ----------
    y : (n,) array-like in [-1, 1]
    noise_level : float in [0, 1], optional
        The user's sigma^2 (recorded as ``"given"``).
    """

    name: ClassVar[str] = "user"

    def __init__(self, y: object, noise_level: float | None = None) -> None:
        if isinstance(y, torch.Tensor | np.ndarray | list | tuple):
            self.y = as_labels(y, len(y), "y")
        else:
            raise TypeError(f"y must be an array of labels, got {type(y).__name__}")
        self.noise_level = (
            None if noise_level is None else require_real("noise_level", noise_level, low=0, high=1)
        )

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": int(self.y.shape[0])}
        if self.noise_level is not None:
            out["noise_level"] = self.noise_level
        return out

    def sample(self, X: torch.Tensor, generator: torch.Generator) -> Labels:
        if X.shape[0] != self.y.shape[0]:
            raise ValueError(f"y has {self.y.shape[0]} labels for {X.shape[0]} points")
        kind = None if self.noise_level is None else "given"
        return Labels(self.y.clone(), self.noise_level, kind, params=self.params())


# --------------------------------------------------------------------------- registry

#: Label models by name; each value builds a :class:`LabelModel` from keyword parameters.
LABEL_MODELS: dict[str, Callable[..., LabelModel]] = {
    "random_sign": RandomSign,
    "linear": partial(Teacher, "linear"),
    "single_index": partial(Teacher, "single_index"),
    "two_layer": partial(Teacher, "two_layer"),
    "user": UserLabels,
}


def register_label_model(
    name: str, factory: Callable[..., LabelModel], *, replace: bool = False
) -> None:
    """Add a label model: ``factory(**label_params)`` must return a :class:`LabelModel`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {factory!r}")
    if name in LABEL_MODELS and not replace:
        raise ValueError(f"label model {name!r} is already registered (pass replace=True)")
    LABEL_MODELS[name] = factory


def resolve_label_model(
    labels: str | LabelModel | None, label_params: dict[str, Any] | None = None
) -> LabelModel | None:
    """Turn ``labels=`` (a name, a :class:`LabelModel` or ``None``) into a model."""
    params = dict(label_params or {})
    if labels is None or isinstance(labels, LabelModel):
        if params:
            raise ValueError(
                f"label_params {sorted(params)} given but labels={labels!r} takes none"
            )
        return labels
    if not isinstance(labels, str):
        raise TypeError(f"labels must be a name, a LabelModel or None, got {type(labels).__name__}")
    if labels not in LABEL_MODELS:
        raise ValueError(f"unknown label model {labels!r}; known: {sorted(LABEL_MODELS)}")
    try:
        model = LABEL_MODELS[labels](**params)
    except TypeError as exc:
        raise ValueError(f"bad label_params for {labels!r}: {exc}") from None
    return model


def plain_params(model: LabelModel | None) -> dict[str, Any]:
    """JSON-ready parameters of a model (empty for ``None``)."""
    return {} if model is None else plain(model.params())  # type: ignore[return-value]
