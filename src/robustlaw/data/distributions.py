"""Isoperimetric covariate laws, normalized so that typical points have norm about 1.

Every sampler is a function ``sampler(n, d, generator, dtype, **params) -> Draw`` that draws
from the caller's local ``torch.Generator`` (never the global RNG) and returns the points with
their metadata; :func:`register_distribution` adds it to :data:`DISTRIBUTIONS` under a name.

Random numbers are drawn on the CPU in float32 and then cast, so one seed gives the same points
(up to float32 rounding) in float32 and float64 and on every device; the transformations
(normalization, rotations) are computed in the requested dtype.

Isoperimetry [BS, Definition 1.1]: mu is c-isoperimetric in dimension m when
P[|f(x) - E f| >= t] <= 2 exp(-m t^2 / (2 c L^2)) for every L-Lipschitz f. Each draw states a
proven constant c with respect to its ``intrinsic_dim`` m (for the low-dimensional manifolds
the law of robustness holds with their intrinsic dimension, not the ambient d). The proofs:

- N(0, s^2 I/d): Gaussian concentration, c = s^2.
- uniform on S^{m}: the log-Sobolev constant of S^m is m (Mueller-Weissler), and Herbst's
  argument gives c = 1 with respect to m = d - 1; chordal distances are below geodesic ones.
- uniform on the unit ball B^d: the image of the uniform law on S^{d+1} in R^{d+2} under the
  1-Lipschitz projection onto d coordinates (Archimedes), so c = d / (d + 1) w.r.t. d.
- uniform on the cube of diameter 1 (side 1/sqrt(d)): the image of N(0, I_d) under the
  coordinatewise map z -> Phi(z)/sqrt(d), which is (2 pi d)^{-1/2}-Lipschitz, so c = 1/(2 pi).
- Lipschitz images: if x = Phi(z), z c-isoperimetric in dimension m and Phi Lambda-Lipschitz,
  then x is c Lambda^2-isoperimetric in dimension m (isometric embeddings keep c).

References
----------
[BS] S. Bubeck, M. Sellke. A Universal Law of Robustness via Isoperimetry. arXiv:2105.12806.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from robustlaw.data._validation import plain, require_count, require_real

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "Draw",
    "ball",
    "curved_manifold",
    "embedded_sphere",
    "gaussian",
    "gaussian_mixture",
    "get_distribution",
    "hypercube",
    "perturbed",
    "register_distribution",
    "sphere",
    "subspace",
]


@dataclass(frozen=True)
class Draw:
    """What a sampler returns: points and the metadata that only the sampler knows.

    Attributes
    ----------
    X : (n, d) tensor on the CPU in the requested dtype.
    intrinsic_dim : int
        Dimension m of the support; the law of robustness holds with this m.
    isoperimetry_c : float or None
        A proven isoperimetry constant with respect to ``intrinsic_dim`` (for mixtures, of each
        component); ``None`` when none is known.
    params : dict
        Resolved parameters (defaults filled in), JSON-ready.
    components : int
        Number of mixture components (1 unless a mixture).
    """

    X: torch.Tensor
    intrinsic_dim: int
    isoperimetry_c: float | None
    params: dict[str, Any] = field(default_factory=dict)
    components: int = 1


Sampler = Callable[..., Draw]


@dataclass(frozen=True)
class Distribution:
    """A registry entry: a sampler function and what :func:`robustlaw.data.sample` needs to
    validate its parameters."""

    name: str
    sampler: Sampler
    summary: str
    parameters: tuple[str, ...]
    required: tuple[str, ...]

    def check_params(self, params: dict[str, Any]) -> None:
        """ValueError for unknown or missing parameters, naming them."""
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for distribution {self.name!r}; "
                f"it takes {list(self.parameters) or 'no parameters'}"
            )
        missing = [name for name in self.required if name not in params]
        if missing:
            raise ValueError(f"distribution {self.name!r} needs parameter(s) {missing}")


#: Distributions by name.
DISTRIBUTIONS: dict[str, Distribution] = {}


def register_distribution(
    name: str, sampler: Sampler, summary: str | None = None, *, replace: bool = False
) -> Distribution:
    """Register ``sampler(n, d, generator, dtype, **params) -> Draw`` under ``name``.

    The keyword-only parameters of ``sampler`` are its distribution parameters (those without
    a default are required). Returns the registry entry.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {sampler!r}")
    if name in DISTRIBUTIONS and not replace:
        raise ValueError(f"distribution {name!r} is already registered (pass replace=True)")
    signature = inspect.signature(sampler)
    keyword = [p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    doc = inspect.getdoc(sampler) or ""
    entry = Distribution(
        name=name,
        sampler=sampler,
        summary=summary or (doc.splitlines()[0] if doc else name),
        parameters=tuple(p.name for p in keyword),
        required=tuple(p.name for p in keyword if p.default is inspect.Parameter.empty),
    )
    DISTRIBUTIONS[name] = entry
    return entry


def get_distribution(name: object) -> Distribution:
    """The registry entry for ``name``; ValueError listing the known names otherwise."""
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; known: {sorted(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[name]


# --------------------------------------------------------------------------- random helpers


def _normal(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float32).to(dtype)


def _uniform(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    return torch.rand(*shape, generator=gen, dtype=torch.float32).to(dtype)


def _normalize_rows(X: torch.Tensor) -> torch.Tensor:
    norms = X.norm(dim=1, keepdim=True)
    return X.div_(norms.clamp_min_(torch.finfo(X.dtype).tiny))


def _frame(rows: int, cols: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """A Haar-random (rows, cols) matrix with orthonormal columns (QR with sign fix)."""
    G = _normal((rows, cols), gen, torch.float64)
    Q, R = torch.linalg.qr(G)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1.0
    return (Q * signs).to(dtype)


def _dimension(name: str, value: object, low: int, high: int, why: str) -> int:
    m = require_count(name, value)
    if not low <= m <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}] ({why}), got {value!r}")
    return m


# --------------------------------------------------------------------------- samplers


def gaussian(
    n: int, d: int, generator: torch.Generator, dtype: torch.dtype, *, scale: float = 1.0
) -> Draw:
    """N(0, scale^2 I_d / d): E||x||^2 = scale^2; c = scale^2 (Gaussian concentration)."""
    scale = require_real("scale", scale, low=0.0, low_open=True)
    X = _normal((n, d), generator, dtype).mul_(scale / math.sqrt(d))
    return Draw(X, d, scale**2, {"scale": scale})


def sphere(n: int, d: int, generator: torch.Generator, dtype: torch.dtype) -> Draw:
    """Uniform on the unit sphere S^{d-1} (d >= 2): intrinsic dimension d - 1, c = 1 w.r.t.
    d - 1 (equivalently d / (d - 1) w.r.t. d)."""
    if d < 2:
        raise ValueError(f"d must be >= 2 for the sphere S^(d-1), got {d}")
    X = _normalize_rows(_normal((n, d), generator, dtype))
    return Draw(X, d - 1, 1.0, {})


def ball(n: int, d: int, generator: torch.Generator, dtype: torch.dtype) -> Draw:
    """Uniform on the unit ball B^d: radius U^{1/d} times a uniform direction;
    E||x||^2 = d / (d + 2); c = d / (d + 1)."""
    X = _normalize_rows(_normal((n, d), generator, dtype))
    radius = _uniform((n, 1), generator, dtype).pow_(1.0 / d)
    return Draw(X.mul_(radius), d, d / (d + 1), {})


def hypercube(n: int, d: int, generator: torch.Generator, dtype: torch.dtype) -> Draw:
    """Uniform on the cube [-1/(2 sqrt d), 1/(2 sqrt d)]^d of diameter 1:
    E||x||^2 = 1/12 (typical norm 0.289); c = 1 / (2 pi)."""
    X = _uniform((n, d), generator, dtype).sub_(0.5).div_(math.sqrt(d))
    return Draw(X, d, 1.0 / (2.0 * math.pi), {})


def gaussian_mixture(
    n: int,
    d: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    *,
    components: int = 2,
    spread: float = 0.5,
    weights: Sequence[float] | None = None,
) -> Draw:
    """Mixture of k Gaussians N(mu_j, spread^2 I/d) with well-separated means.

    The means are radius times k orthonormal random directions, radius = sqrt(1 - spread^2),
    so E||x||^2 = 1 and any two means are radius sqrt(2) apart while each component's
    projections have standard deviation spread / sqrt(d): the separation in units of that
    spread is radius sqrt(2 d) / spread. Needs k <= d. Each component is spread^2-isoperimetric
    (the theorems of [BS] take such a mixture with k components); the mixture as a whole is
    not, with any c of order 1, once the components are well separated.
    """
    k = _dimension("components", components, 1, d, "k orthonormal means need k <= d")
    spread = require_real("spread", spread, low=0.0, high=1.0, low_open=True, high_open=True)
    if weights is None:
        probs = torch.full((k,), 1.0 / k, dtype=torch.float64)
    else:
        if isinstance(weights, str) or not isinstance(weights, Sequence) or len(weights) != k:
            raise ValueError(f"weights must be a list of {k} numbers, got {weights!r}")
        probs = torch.tensor([require_real("weights", w, low=0.0) for w in weights])
        total = float(probs.sum())
        if not math.isclose(total, 1.0, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, got {list(weights)!r} (sum {total:g})")
        probs = probs.to(torch.float64)
    radius = math.sqrt(1.0 - spread**2)
    means = _frame(d, k, generator, dtype).T.mul_(radius)  # (k, d)
    assignment = torch.multinomial(probs, n, replacement=True, generator=generator)
    X = _normal((n, d), generator, dtype).mul_(spread / math.sqrt(d)).add_(means[assignment])
    params = {"components": k, "spread": spread, "weights": plain(probs), "radius": radius}
    return Draw(X, d, spread**2, params, components=k)


def perturbed(
    n: int,
    d: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    *,
    radius: float | None = None,
    atoms: int = 16,
) -> Draw:
    """A Gaussian plus a small independent vector: x = g + v, g ~ N(0, I/d) and v uniform on
    ``atoms`` random points of norm ``radius`` (default 0.5 / sqrt(d)); E||x||^2 = 1 + r^2.

    c = (1 + 2 r sqrt(d / (2 ln 2)))^2 with r = radius: given v, f(g + v) concentrates around
    h(v) = E_g f(g + v) with c = 1, and |h(v) - E f| <= 2 L r, so
    P[|f - E f| >= t] <= min(1, 2 exp(-d (t - 2Lr)_+^2 / (2L^2))), which is below
    2 exp(-d t^2 / (2 c L^2)) for all t exactly when sqrt(c) >= 1 + 2 r sqrt(d / (2 ln 2)).
    It is of order 1 when radius = O(1/sqrt(d)). A proven constant, not the smallest one.
    """
    r = 0.5 / math.sqrt(d) if radius is None else require_real("radius", radius, low=0.0)
    atoms = require_count("atoms", atoms)
    points = _normalize_rows(_normal((atoms, d), generator, dtype)).mul_(r)
    which = torch.randint(atoms, (n,), generator=generator)
    X = _normal((n, d), generator, dtype).div_(math.sqrt(d)).add_(points[which])
    c = (1.0 + 2.0 * r * math.sqrt(d / (2.0 * math.log(2.0)))) ** 2
    return Draw(X, d, c, {"radius": r, "atoms": atoms})


def subspace(n: int, d: int, generator: torch.Generator, dtype: torch.dtype, *, m: int) -> Draw:
    """N(0, I_m / m) on a random m-dimensional linear subspace of R^d (x = Q g, Q (d, m) with
    orthonormal columns): intrinsic dimension m, c = 1 w.r.t. m (d/m w.r.t. d); the law of
    robustness uses m."""
    m = _dimension("m", m, 1, d, "the subspace lives in R^d")
    Q = _frame(d, m, generator, dtype)
    X = _normal((n, m), generator, dtype).div_(math.sqrt(m)) @ Q.T
    return Draw(X, m, 1.0, {"m": m})


def embedded_sphere(
    n: int, d: int, generator: torch.Generator, dtype: torch.dtype, *, m: int
) -> Draw:
    """S^{m-1} mapped into R^d by a random linear isometry (x = Q u, u uniform on S^{m-1}):
    intrinsic dimension m - 1, c = 1 w.r.t. m - 1; the law of robustness uses m - 1."""
    m = _dimension("m", m, 2, d, "S^(m-1) spans m dimensions of R^d")
    Q = _frame(d, m, generator, dtype)
    X = _normalize_rows(_normal((n, m), generator, dtype)) @ Q.T
    return Draw(X, m - 1, 1.0, {"m": m})


def curved_manifold(
    n: int,
    d: int,
    generator: torch.Generator,
    dtype: torch.dtype,
    *,
    m: int,
    amplitude: float = 1.0,
    frequency: float = 1.0,
) -> Draw:
    """A smooth nonlinear m-dimensional manifold in R^d (needs d >= 2m): the graph of a sine map.

    z ~ N(0, I_m / m); h(z)_i = a sqrt(2/m) sin(omega sqrt(m) (R z)_i + phi_i) with R a random
    rotation of R^m and phases phi_i uniform on [0, 2 pi); x = Q [z; h(z)] / sqrt(1 + s) with
    Q (d, 2m) orthonormal and s = E||h(z)||^2 = a^2 (1 - exp(-2 omega^2) mean_i cos(2 phi_i))
    (since sqrt(m) (R z)_i ~ N(0, 1)), so E||x||^2 = 1 exactly. A graph is an embedding.
    The map is Lambda-Lipschitz with Lambda^2 = (1 + 2 a^2 omega^2) / (1 + s), so
    c = Lambda^2 w.r.t. the intrinsic dimension m, which the law of robustness uses.
    """
    m = _dimension("m", m, 1, d // 2, "the graph embedding needs d >= 2m")
    a = require_real("amplitude", amplitude, low=0.0)
    omega = require_real("frequency", frequency, low=0.0)
    R = _frame(m, m, generator, dtype)
    phases = _uniform((m,), generator, dtype).mul_(2.0 * math.pi)
    Q = _frame(d, 2 * m, generator, dtype)
    z = _normal((n, m), generator, dtype).div_(math.sqrt(m))
    h = torch.sin((z @ R.T).mul_(omega * math.sqrt(m)).add_(phases)).mul_(a * math.sqrt(2.0 / m))
    mean_sq = a**2 * (1.0 - math.exp(-2.0 * omega**2) * float(torch.cos(2.0 * phases).mean()))
    X = torch.cat([z, h], dim=1) @ Q.T / math.sqrt(1.0 + mean_sq)
    c = (1.0 + 2.0 * a**2 * omega**2) / (1.0 + mean_sq)
    return Draw(X, m, c, {"m": m, "amplitude": a, "frequency": omega})


for _name, _sampler in (
    ("gaussian", gaussian),
    ("sphere", sphere),
    ("ball", ball),
    ("hypercube", hypercube),
    ("gaussian_mixture", gaussian_mixture),
    ("perturbed", perturbed),
    ("subspace", subspace),
    ("embedded_sphere", embedded_sphere),
    ("curved_manifold", curved_manifold),
):
    register_distribution(_name, _sampler)
del _name, _sampler
