"""Geometry of a point cloud: intrinsic dimension and separation.

The law of robustness asks for about n d parameters where d is the data's *intrinsic*
dimension [BS, Section 1.1]; these estimators supply it, and :func:`separation` measures how far
apart the points are (with labels: the smallest Lipschitz constant of any interpolant).

References
----------
[BS] S. Bubeck, M. Sellke. A Universal Law of Robustness via Isoperimetry. arXiv:2105.12806.
[FdRL] E. Facco, M. d'Errico, A. Rodriguez, A. Laio. Estimating the intrinsic dimension of
     datasets by a minimal neighborhood information. Scientific Reports 7, 12140 (2017).
[DGCL] F. Denti, D. Doimo, A. Laio, A. Mira. The generalized ratios intrinsic dimension
     estimator. Scientific Reports 12, 20005 (2022).
[LB] E. Levina, P. Bickel. Maximum likelihood estimation of intrinsic dimension. NIPS 2004.
[MG] D. MacKay, Z. Ghahramani. Comments on 'Maximum likelihood estimation of intrinsic
     dimension' by E. Levina and P. Bickel (2005).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from robustlaw.data._validation import as_labels, as_points, plain, require_count, require_real
from robustlaw.data.neighbors import DEFAULT_MAX_BYTES, Progress, knn, squared_distance_blocks

__all__ = [
    "IntrinsicDimension",
    "Separation",
    "intrinsic_dimension",
    "separation",
    "twonn_from_log_ratios",
]

INTRINSIC_METHODS = ("twonn", "mle")
DEFAULT_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class IntrinsicDimension:
    """An intrinsic-dimension estimate.

    Attributes
    ----------
    method : str
        ``"twonn"`` or ``"mle"``.
    estimate : float
    ci_low, ci_high : float or None
        Confidence interval at level ``confidence`` where the estimator has one (TwoNN with the
        maximum-likelihood variant): exact under the TwoNN model (i.i.d. Pareto ratios, i.e.
        locally constant density), so it covers sampling error only, not curvature or density
        variation at the scale of the second neighbour.
    confidence : float or None
    n : int
        Points used.
    params : dict
        Estimator settings.
    """

    method: str
    estimate: float
    ci_low: float | None
    ci_high: float | None
    confidence: float | None
    n: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))  # type: ignore[return-value]


def _duplicates_error(count: int) -> ValueError:
    return ValueError(
        f"X has {count} points with a duplicate (distance 0 to another point); neighbour-ratio "
        "estimators need distinct points: remove duplicates first, e.g. torch.unique(X, dim=0)"
    )


def _twonn(
    X: torch.Tensor,
    estimator: str,
    discard_fraction: float | None,
    confidence: float,
    max_bytes: int,
    progress: Progress | None,
) -> IntrinsicDimension:
    """TwoNN [FdRL]: mu_i = r2/r1 is Pareto(1, m), i.e. log mu_i ~ Exponential(m).

    ``"mle"``: keep the r = floor(N (1 - f)) smallest log-ratios (Type-II censoring); with
    T = sum_{i<=r} log mu_(i) + (N - r) log mu_(r), 2 m T ~ chi^2_{2r}, so (r - 1)/T is unbiased
    and [chi^2_{2r}(a/2), chi^2_{2r}(1 - a/2)] / (2T) is an exact confidence interval [DGCL].
    ``"linear"``: the least-squares line through the origin of -log(1 - F_emp(mu)) against
    log mu over the kept ratios [FdRL] (no interval).
    """
    if estimator not in ("mle", "linear"):
        raise ValueError(f"estimator must be 'mle' or 'linear' for TwoNN, got {estimator!r}")
    f = (0.0 if estimator == "mle" else 0.1) if discard_fraction is None else discard_fraction
    f = require_real("discard_fraction", f, low=0.0, high=1.0, high_open=True)
    distances, _ = knn(X, 2, max_bytes, progress)
    r1, r2 = distances[:, 0], distances[:, 1]
    zero = int((r1 == 0).sum())
    if zero:
        raise _duplicates_error(zero)
    log_mu = torch.log(r2 / r1).cpu().numpy()
    return twonn_from_log_ratios(log_mu, estimator, f, confidence)


def twonn_from_log_ratios(
    log_mu: np.ndarray, estimator: str, discard_fraction: float, confidence: float
) -> IntrinsicDimension:
    """TwoNN from the log-ratios log(r2/r1) of N points (see :func:`intrinsic_dimension`)."""
    from scipy.stats import chi2

    log_mu = np.sort(np.asarray(log_mu, dtype=np.float64))
    N = log_mu.shape[0]
    keep = int(N * (1.0 - discard_fraction))
    if keep < 2:
        raise ValueError(
            f"discard_fraction={discard_fraction:g} leaves {keep} of {N} ratios; need at least 2"
        )
    params: dict[str, Any] = {"estimator": estimator, "discard_fraction": discard_fraction}
    if estimator == "mle":
        total = float(log_mu[:keep].sum() + (N - keep) * log_mu[keep - 1])
        if total <= 0:
            raise ValueError("all second/first neighbour distance ratios are 1: TwoNN undefined")
        alpha = 1.0 - confidence
        low = float(chi2.ppf(alpha / 2, 2 * keep)) / (2 * total)
        high = float(chi2.ppf(1 - alpha / 2, 2 * keep)) / (2 * total)
        return IntrinsicDimension("twonn", (keep - 1) / total, low, high, confidence, N, params)
    x = log_mu[:keep]
    y = -np.log(1.0 - np.arange(1, keep + 1) / N)
    denom = float(x @ x)
    if denom <= 0:
        raise ValueError("all second/first neighbour distance ratios are 1: TwoNN undefined")
    return IntrinsicDimension("twonn", float(x @ y) / denom, None, None, None, N, params)


def _mle(
    X: torch.Tensor,
    k: int,
    comb: str,
    unbiased: bool,
    max_bytes: int,
    progress: Progress | None,
) -> IntrinsicDimension:
    """Levina-Bickel [LB]: m_k(x) = [(1/(k-1)) sum_{j<k} log(T_k(x)/T_j(x))]^{-1} per point
    (k - 2 instead of k - 1 when ``unbiased``), combined over points by ``comb``: ``"harmonic"``
    1/mean(1/m_k) [MG] (default), ``"mean"`` [LB] or ``"median"``."""
    if comb not in ("harmonic", "mean", "median"):
        raise ValueError(f"comb must be 'harmonic', 'mean' or 'median', got {comb!r}")
    n = X.shape[0]
    if not 2 <= k <= n - 1 or (unbiased and k < 3):
        raise ValueError(f"k must lie in [{3 if unbiased else 2}, n - 1 = {n - 1}], got {k}")
    distances, _ = knn(X, k, max_bytes, progress)
    zero = int((distances[:, 0] == 0).sum())
    if zero:
        raise _duplicates_error(zero)
    sums = torch.log(distances[:, -1:] / distances[:, :-1]).sum(dim=1)
    factor = (k - 2) if unbiased else (k - 1)
    if comb == "harmonic":
        estimate = factor / float(sums.mean())  # 1 / mean(sums / factor)
    else:
        local = factor / sums
        estimate = float(local.mean() if comb == "mean" else local.median())
    params = {"k": k, "comb": comb, "unbiased": unbiased}
    return IntrinsicDimension("mle", estimate, None, None, None, n, params)


def intrinsic_dimension(
    X: object,
    method: str = "twonn",
    *,
    k: int = 20,
    estimator: str = "mle",
    discard_fraction: float | None = None,
    comb: str = "harmonic",
    unbiased: bool = False,
    confidence: float = 0.95,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
) -> IntrinsicDimension:
    """Estimate the intrinsic dimension of a point cloud.

    Parameters
    ----------
    X : (n, d) array-like
        Distinct points (duplicates raise ``ValueError``).
    method : {"twonn", "mle"}
        TwoNN [FdRL] or the Levina-Bickel maximum-likelihood estimator [LB].
    k : int
        Neighbours for ``"mle"`` (default 20).
    estimator : {"mle", "linear"}
        TwoNN variant: maximum likelihood with an exact confidence interval (default, with
        ``discard_fraction`` 0) or Facco's regression (default ``discard_fraction`` 0.1).
    discard_fraction : float in [0, 1), optional
        Fraction of the largest TwoNN ratios to discard (censored for ``"mle"``).
    comb : {"harmonic", "mean", "median"}
        How ``"mle"`` combines per-point estimates.
    unbiased : bool
        ``"mle"`` with the k - 2 normalization.
    confidence : float in (0, 1)
        Level of the TwoNN interval.
    max_bytes : int
        Memory for one block of the chunked neighbour search.
    progress : callable(done, n), optional
        Called after each block of the neighbour search.

    Returns
    -------
    IntrinsicDimension
        ``estimate`` and, for TwoNN-MLE, ``ci_low``/``ci_high``.

    Notes
    -----
    Cost: one exact k-nearest-neighbour search, O(n^2 d) time and O(n max_bytes) memory.
    Both estimators assume a locally uniform density on the scale of the k-th neighbour; on
    strongly curved or noisy data they measure the dimension at that scale.
    """
    if method not in INTRINSIC_METHODS:
        raise ValueError(f"method must be one of {INTRINSIC_METHODS}, got {method!r}")
    points = as_points(X, "X", min_points=3)
    confidence = require_real(
        "confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True
    )
    max_bytes = require_count("max_bytes", max_bytes)
    if method == "twonn":
        return _twonn(points, estimator, discard_fraction, confidence, max_bytes, progress)
    k = require_count("k", k)
    return _mle(points, k, comb, bool(unbiased), max_bytes, progress)


@dataclass(frozen=True)
class Separation:
    """How far apart the points are.

    Attributes
    ----------
    n : int
    min_distance : float
        min over i != j of ||x_i - x_j||.
    closest_pair : (int, int)
    nn_mean : float
        Mean nearest-neighbour distance.
    nn_quantiles : dict[str, float]
        Quantiles of the nearest-neighbour distances min_{j != i} ||x_i - x_j||, keyed by level.
    duplicates : int
        Points at distance 0 from another point.
    interpolation_lipschitz : float or None
        With labels: max over i != j of |y_i - y_j| / dist(x_i, x_j), the smallest Lipschitz
        constant of any function on the domain with f(x_i) = y_i (the *data floor*: no
        interpolating network can be smoother); it is attained by the McShane-Whitney
        extension f(x) = min_i (y_i + L dist(x, x_i)), so this value is exact (inf when two
        coincident points carry different labels). dist is Euclidean on R^d (and on any
        convex domain such as the ball) and the geodesic angle on the unit sphere, where
        Lipschitz means the tangential gradient is bounded.
    interpolation_pair : (int, int) or None
        A pair attaining it.
    interpolation_domain : str
        ``"rd"`` or ``"sphere"``: the metric of ``interpolation_lipschitz``.
    """

    n: int
    min_distance: float
    closest_pair: tuple[int, int]
    nn_mean: float
    nn_quantiles: dict[str, float]
    duplicates: int
    interpolation_lipschitz: float | None = None
    interpolation_pair: tuple[int, int] | None = None
    interpolation_domain: str = "rd"

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))  # type: ignore[return-value]


def separation(
    X: object,
    y: object = None,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress | None = None,
    domain: str = "rd",
) -> Separation:
    """Minimum pairwise distance, the distribution of nearest-neighbour distances and, with
    labels, the smallest Lipschitz constant of an interpolant (the data floor).

    Parameters
    ----------
    X : (n, d) array-like, n >= 2
    y : (n,) array-like in [-1, 1], optional
    quantiles : sequence of float in [0, 1]
        Levels reported for the nearest-neighbour distances.
    domain : {"rd", "ball", "sphere"}
        The metric of the data floor: Euclidean (``"rd"``, ``"ball"``) or the geodesic angle
        2 arcsin(||x_i - x_j|| / 2) on the unit sphere (the points must have norm 1 within
        1e-6). Nearest-neighbour distances are Euclidean in every case.
    max_bytes : int
        Memory for one block of squared distances: 10^5 points never need an n x n matrix.
    progress : callable(done, n), optional

    Returns
    -------
    Separation
        All distances are exact (recomputed from differences for the selected pairs).
    """
    points = as_points(X, "X", min_points=2)
    n = points.shape[0]
    labels = None if y is None else as_labels(y, n, "y").to(points.device)
    levels = [require_real("quantiles", q, low=0.0, high=1.0) for q in quantiles]
    max_bytes = require_count("max_bytes", max_bytes)
    if domain not in ("rd", "ball", "sphere"):
        raise ValueError(f"domain must be 'rd', 'ball' or 'sphere', got {domain!r}")
    sphere = domain == "sphere"
    if sphere:
        worst = float((points.norm(dim=1) - 1.0).abs().max())
        if worst > 1e-6:
            raise ValueError(
                f"X must lie on the unit sphere for domain='sphere' (|norm - 1| up to {worst:.3g})"
            )
    nearest = torch.empty(n, dtype=torch.int64, device=points.device)
    best_ratio, best_pair = -1.0, (0, 0)
    for start, block in squared_distance_blocks(points, max_bytes, progress):
        stop = start + block.shape[0]
        nearest[start:stop] = block.argmin(dim=1)
        if labels is not None:
            # squared ratios (y_i - y_j)^2 / dist(x_i, x_j)^2, computed in place; 0/0 -> 0
            squared = block
            if sphere:  # geodesic angle from the chord: 2 arcsin(chord / 2)
                squared = block.clamp(min=0).sqrt().div_(2).clamp_(max=1).asin_().mul_(2).square_()
            ratio = (labels[start:stop, None] - labels[None, :]).square_().div_(squared)
            torch.nan_to_num_(ratio, nan=0.0, posinf=math.inf)
            values, where = ratio.max(dim=1)
            row = int(values.argmax())
            if float(values[row]) > best_ratio:
                best_ratio, best_pair = float(values[row]), (start + row, int(where[row]))
    nn = (points - points[nearest]).norm(dim=1)
    closest = int(nn.argmin())
    nn_np = nn.cpu().numpy()
    interpolation = None
    pair = None
    if labels is not None:
        i, j = best_pair
        distance = float((points[i] - points[j]).norm())
        if sphere:
            distance = 2.0 * math.asin(min(1.0, distance / 2.0))
        gap = abs(float(labels[i] - labels[j]))
        interpolation = (math.inf if gap > 0 else 0.0) if distance == 0 else gap / distance
        pair = (i, j) if gap > 0 else None
    return Separation(
        n=n,
        min_distance=float(nn_np[closest]),
        closest_pair=(closest, int(nearest[closest])),
        nn_mean=float(nn_np.mean()),
        nn_quantiles={f"{q:g}": float(np.quantile(nn_np, q)) for q in levels},
        duplicates=int((nn_np == 0).sum()),
        interpolation_lipschitz=interpolation,
        interpolation_pair=pair,
        interpolation_domain="sphere" if sphere else "rd",
    )
