"""``sample(name, n, d, ...)``: one call from a registry name to points, labels and metadata."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from robustlaw.data._validation import (
    generator,
    plain,
    require_count,
    require_device,
    require_dtype,
    require_seed,
)
from robustlaw.data.distributions import get_distribution
from robustlaw.data.labels import LabelModel, plain_params, resolve_label_model
from robustlaw.data.meta import Sample, SampleMeta

__all__ = ["derived_seed", "describe", "sample"]


def derived_seed(seed: int, stream: int) -> int:
    """An independent seed for sub-stream ``stream`` of ``seed`` (numpy SeedSequence)."""
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]
    return int(state) >> 1


def sample(
    name: str,
    n: int,
    d: int,
    seed: int = 0,
    labels: str | LabelModel | None = "random_sign",
    label_params: dict[str, Any] | None = None,
    dtype: torch.dtype | str = torch.float32,
    device: str | torch.device = "cpu",
    **params: Any,
) -> Sample:
    """Draw n points in R^d from a registered distribution, with labels and metadata.

    Parameters
    ----------
    name : str
        A key of :data:`robustlaw.data.DISTRIBUTIONS` (``"gaussian"``, ``"sphere"``, ``"ball"``,
        ``"hypercube"``, ``"gaussian_mixture"``, ``"perturbed"``, ``"subspace"``,
        ``"embedded_sphere"``, ``"curved_manifold"``).
    n : int
        Number of points.
    d : int
        Ambient dimension. For the manifolds the intrinsic dimension is the parameter ``m``
        and the law of robustness uses the intrinsic one (``meta.intrinsic_dim``).
    seed : int
        Seed of the local generators (the global RNG is never used). Points come from stream
        0 and labels from an independent stream, so changing the label model leaves X alone.
    labels : str, LabelModel or None
        A key of :data:`robustlaw.data.LABEL_MODELS` (default ``"random_sign"``, sigma^2 = 1),
        a :class:`LabelModel` instance, or ``None`` for no labels (``y`` is ``None``).
    label_params : dict, optional
        Keyword parameters of a named label model.
    dtype : torch.float32 or torch.float64
    device : str or torch.device
        Where X and y are returned; draws happen on the CPU so a seed gives the same data on
        every device.
    **params
        Parameters of the distribution (e.g. ``m=5`` for ``"subspace"``).

    Returns
    -------
    Sample
        ``(X, y, meta)``: X of shape (n, d), y of shape (n,) in [-1, 1] or ``None``, and a
        :class:`SampleMeta` whose ``noise_level`` is sigma^2 = E[Var(y | x)].
    """
    entry = get_distribution(name)
    n = require_count("n", n)
    d = require_count("d", d)
    seed = require_seed(seed)
    dtype = require_dtype(dtype)
    device = require_device(device)
    entry.check_params(params)
    model = resolve_label_model(labels, label_params)

    draw = entry.sampler(n, d, generator(derived_seed(seed, 0)), dtype, **params)
    X = draw.X
    if tuple(X.shape) != (n, d) or X.dtype != dtype:
        raise RuntimeError(
            f"sampler {name!r} returned shape {tuple(X.shape)} and dtype {X.dtype}, "
            f"expected ({n}, {d}) and {dtype}"
        )

    y = None
    noise = {"noise_level": None, "noise_level_kind": None, "noise_level_stderr": None}
    if model is not None:
        drawn = model.sample(X.to(torch.float64), generator(derived_seed(seed, 1)))
        y = drawn.y.to(dtype)
        noise = {
            "noise_level": drawn.noise_level,
            "noise_level_kind": drawn.noise_level_kind,
            "noise_level_stderr": drawn.noise_level_stderr,
        }

    meta = SampleMeta(
        distribution=name,
        n=n,
        d=d,
        intrinsic_dim=draw.intrinsic_dim,
        isoperimetry_c=draw.isoperimetry_c,
        labels=None if model is None else model.name,
        seed=seed,
        params=plain(draw.params),  # type: ignore[arg-type]
        label_params=plain_params(model),
        components=draw.components,
        dtype=str(dtype).removeprefix("torch."),
        device=str(device),
        **noise,
    )
    return Sample(X.to(device), None if y is None else y.to(device), meta)


def describe(name: str, d: int, **params: Any) -> SampleMeta:
    """Metadata of a distribution at ambient dimension d without a data set: intrinsic
    dimension, nominal isoperimetry constant, mixture components and resolved parameters.

    It draws a single point (cheap) and returns its :class:`SampleMeta`; ``meta.n`` is 1.
    """
    return sample(name, n=1, d=d, seed=0, labels=None, **params).meta
