"""What a sample is: the points, the labels and plain metadata that sweep records store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch

from robustlaw.data._validation import plain

#: How a noise level was obtained.
NOISE_LEVEL_KINDS = ("exact", "monte_carlo", "lower_bound", "given")


@dataclass(frozen=True)
class SampleMeta:
    """Metadata of a :class:`Sample`; a frozen record that serializes to a plain dict.

    Attributes
    ----------
    distribution : str
        Registry name of the law (``"sphere"``, ...), a built-in data set name (``"digits"``,
        ``"mnist1d"``) or ``"file:<name>"``.
    n : int
        Number of points.
    d : int
        Ambient dimension (columns of X).
    intrinsic_dim : int or None
        Dimension of the support (manifold dimension; d for full-dimensional laws, d - 1 for
        the sphere S^{d-1}); ``None`` when unknown (real data: estimate it with
        :func:`robustlaw.data.intrinsic_dimension`).
    isoperimetry_c : float or None
        Nominal isoperimetry constant, a proven constant c for which the law (each mixture
        component, for mixtures) is c-isoperimetric *with respect to* ``intrinsic_dim``:
        P[|f - E f| >= t] <= 2 exp(-intrinsic_dim t^2 / (2 c L^2)) for L-Lipschitz f
        [BS, Definition 1.1]. The law of robustness then holds with d = ``intrinsic_dim``.
        ``None`` when unknown.
    components : int
        Number k of mixture components the theorems take (1 unless a mixture).
    labels : str or None
        Name of the label model (``None`` when no labels were drawn).
    label_params : dict
        Resolved parameters of the label model.
    noise_level : float or None
        sigma^2 = E[Var(y | x)] (Section 1 of [BS]); ``None`` when unknown.
    noise_level_kind : str or None
        ``"exact"`` (closed form), ``"monte_carlo"`` (estimated, see ``noise_level_stderr``),
        ``"lower_bound"`` (the true sigma^2 is at least this; fitting below it still puts a
        model below the true noise level) or ``"given"`` (stated by the user).
    noise_level_stderr : float or None
        Standard error of a Monte Carlo noise level.
    seed : int or None
        Seed of the local generator that drew the sample.
    params : dict
        Resolved parameters of the distribution or of the loading and preprocessing.
    dtype, device : str
        Of X and y.
    """

    distribution: str
    n: int
    d: int
    intrinsic_dim: int | None
    isoperimetry_c: float | None
    labels: str | None
    seed: int | None
    params: dict[str, Any] = field(default_factory=dict)
    noise_level: float | None = None
    noise_level_kind: str | None = None
    noise_level_stderr: float | None = None
    label_params: dict[str, Any] = field(default_factory=dict)
    components: int = 1
    dtype: str = "float32"
    device: str = "cpu"

    @property
    def isoperimetry_c_ambient(self) -> float | None:
        """The nominal constant restated with respect to the ambient dimension d.

        From exp(-m t^2 / (2c)) = exp(-d t^2 / (2 c d / m)) with m = ``intrinsic_dim``.
        """
        if self.isoperimetry_c is None or not self.intrinsic_dim:
            return None
        return self.isoperimetry_c * self.d / self.intrinsic_dim

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dictionary (round-trips through :meth:`from_dict`)."""
        return plain(asdict(self))  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> SampleMeta:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - names)
        if unknown:
            raise ValueError(f"unknown SampleMeta fields {unknown}")
        return cls(**payload)


class Sample(NamedTuple):
    """Points, labels and metadata: ``X, y, meta = sample``.

    X : (n, d) tensor; y : (n,) tensor in [-1, 1] or ``None``; meta : :class:`SampleMeta`.
    """

    X: torch.Tensor
    y: torch.Tensor | None
    meta: SampleMeta
