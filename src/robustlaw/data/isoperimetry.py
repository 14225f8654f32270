"""An empirical lower estimate of the isoperimetry constant c, with a confidence statement.

Definition [BS, Definition 1.1; docs/science.md Section 1]: a law mu on R^d is c-isoperimetric (in
dimension m, m = d unless stated) when, for every L-Lipschitz f and every t >= 0,

    P[|f(x) - E f| >= t] <= 2 exp(-m t^2 / (2 c L^2)).

One 1-Lipschitz test function f and one tail event already force a lower bound on c: if
P[|f - E f| >= t] >= p then c >= m t^2 / (2 log(2/p)). :func:`probe_isoperimetry` turns a sample
into such bounds soundly:

1. The sample is split at random into a reference half and an evaluation half. Test functions
   and tail thresholds are built from the reference half only, so on the evaluation half the
   number of points beyond each threshold is exactly Binomial(n_eval, p) given the reference.
2. Test functions (all 1-Lipschitz, L = 1): projections <u, x> on random unit directions and
   on the top principal directions of the reference half; distances ||x - z|| to random
   reference points and to the reference mean; distances dist(x, S) to random subsets S of
   the reference half, of several sizes.
3. For each function, thresholds u_i (upper tail) and v_j (lower tail) at reference quantiles;
   Clopper-Pearson lower confidence bounds U_i <= P[f >= u_i], V_j <= P[f <= v_j], all of them
   holding simultaneously with probability >= ``confidence`` (Bonferroni over every threshold of
   every function).
4. E f is unknown, so every possible center m is covered: the line is cut into cells
   [a, b]; for m in a cell, t = min(u_i - b, a - v_j) > 0 gives
   P[|f - m| >= t] >= U_i + V_j (the two events are disjoint), and one-sided versions give
   U_i and V_j alone; the largest implied c in the cell is a lower bound for every m in it,
   and the smallest over all cells is a lower bound whatever E f is.
5. The estimate is the largest of these per-function bounds.

Covering every center also settles boundedness: the definition quantifies over bounded
Lipschitz f, and clip(f, -M, M) is one, with the same tail events beyond the thresholds for M
large and some mean, which the bound covers whatever it is.

So, with probability at least ``confidence``, every c for which the law is c-isoperimetric in
dimension ``dim`` satisfies c >= ``c_lower``.

Limits
------
- It can only show that c is *at least* something. No finite sample certifies that a law is
  c-isoperimetric (an upper bound on c): that needs all Lipschitz functions and all tails.
- It tries a finite family of test functions (above); a law whose worst function is not of
  these kinds is under-estimated.
- Tails below about 1/n_eval are invisible, so for laws whose extreme constant is only
  approached far in the tail the estimate stays below the truth (for N(0, I/d), c = 1, it
  sits near 0.4-0.6 for 10^3-10^4 points).
- c scales with the dimension used: a bound w.r.t. ``dim`` is c dim' / dim w.r.t. dim'
  (:meth:`IsoperimetryProbe.rescaled`). For data on a manifold pass its intrinsic dimension.

References
----------
[BS] S. Bubeck, M. Sellke. A Universal Law of Robustness via Isoperimetry. arXiv:2105.12806.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from robustlaw.data._validation import (
    as_points,
    generator,
    plain,
    require_count,
    require_real,
    require_seed,
)

__all__ = [
    "DEFAULT_TAIL_LEVELS",
    "IsoperimetryProbe",
    "evaluation_lower_bound",
    "plugin_estimate",
    "probe_isoperimetry",
    "tail_lower_bound",
]

#: Tail probabilities at which thresholds are placed (reference quantiles).
DEFAULT_TAIL_LEVELS = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 5e-4, 2e-4, 1e-4)


@dataclass(frozen=True)
class IsoperimetryProbe:
    """Result of :func:`probe_isoperimetry`.

    Attributes
    ----------
    c_lower : float
        With probability >= ``confidence``, c >= c_lower for every c with which the law is
        c-isoperimetric in dimension ``dim``. A lower bound, never an estimate of c itself.
    confidence : float
    dim : int
        Dimension m in exp(-m t^2 / (2c)).
    statement : str
        The confidence statement in words.
    witness : dict
        The test function and tail event giving ``c_lower``.
    by_family : dict[str, float]
        The best lower bound within each family of test functions.
    c_plugin : float
        The same maximum computed from raw empirical tails around the sample mean, without the
        confidence band: *not* a bound (it can exceed the true c), reported for comparison.
    n_reference, n_evaluation, n_functions, n_tests : int
    params : dict
    """

    c_lower: float
    confidence: float
    dim: int
    statement: str
    witness: dict[str, Any]
    by_family: dict[str, float]
    c_plugin: float
    n_reference: int
    n_evaluation: int
    n_functions: int
    n_tests: int
    params: dict[str, Any] = field(default_factory=dict)

    def rescaled(self, dim: int) -> float:
        """``c_lower`` restated for dimension ``dim``: c dim / self.dim."""
        return self.c_lower * require_count("dim", dim) / self.dim

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))  # type: ignore[return-value]


def _clopper_pearson_lower(counts: np.ndarray, n: int, beta: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bounds: P[p >= bound] >= 1 - beta for each count."""
    from scipy.stats import beta as beta_law

    counts = np.asarray(counts, dtype=np.float64)
    out = np.zeros_like(counts)
    positive = counts > 0
    out[positive] = beta_law.ppf(beta, counts[positive], n - counts[positive] + 1)
    return out


def tail_lower_bound(
    upper_thresholds: np.ndarray,
    upper_tails: np.ndarray,
    lower_thresholds: np.ndarray,
    lower_tails: np.ndarray,
    dim: int,
    n_centers: int = 256,
) -> tuple[float, dict[str, Any]]:
    """The smallest c compatible with the given tail lower bounds, whatever the center E f.

    Parameters
    ----------
    upper_thresholds, upper_tails : (K,) arrays
        P[f >= u_i] >= U_i.
    lower_thresholds, lower_tails : (J,) arrays
        P[f <= v_j] >= V_j.
    dim : int
        m in 2 exp(-m t^2 / (2c)); f is taken 1-Lipschitz.
    n_centers : int
        Cells of the center grid between the extreme thresholds (two unbounded cells are
        added outside); finer grids give a tighter, never an unsound, bound.

    Returns
    -------
    (c, detail)
        c such that P[|f - m| >= t] <= 2 exp(-dim t^2 / (2c)) for all t fails for every m
        and every smaller c, given the tail bounds; ``detail`` names the binding constraint.
    """
    u = np.asarray(upper_thresholds, dtype=np.float64)
    U = np.asarray(upper_tails, dtype=np.float64)
    v = np.asarray(lower_thresholds, dtype=np.float64)
    V = np.asarray(lower_tails, dtype=np.float64)
    finite = np.concatenate([u, v])
    grid = np.unique(
        np.concatenate([np.linspace(finite.min(), finite.max(), n_centers + 1), finite])
    )
    a = np.concatenate([[-np.inf], grid])[:, None]  # cell [a, b] for every center m in it
    b = np.concatenate([grid, [np.inf]])[:, None]

    def implied(t: np.ndarray, tail: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = dim * t**2 / (2.0 * np.log(2.0 / tail))
        return np.where((t > 0) & (tail > 0), c, 0.0)

    t_up = u[None, :] - b  # (cells, K)
    t_lo = a - v[None, :]  # (cells, J)
    c_up = implied(t_up, U[None, :])
    c_lo = implied(t_lo, V[None, :])
    t_pair = np.minimum(t_up[:, :, None], t_lo[:, None, :])  # (cells, K, J)
    c_pair = implied(t_pair, (U[:, None] + V[None, :])[None])
    cells = a.shape[0]
    per_cell = np.stack(
        [
            c_up.max(axis=1, initial=0.0),
            c_lo.max(axis=1, initial=0.0),
            c_pair.reshape(cells, -1).max(axis=1, initial=0.0),
        ],
        axis=1,
    )
    cell_bound = per_cell.max(axis=1)
    cell = int(np.argmin(cell_bound))
    kind = int(np.argmax(per_cell[cell]))
    if kind == 0:
        i = int(np.argmax(c_up[cell]))
        detail = {"tail": "upper", "t": float(t_up[cell, i]), "tail_lower": float(U[i])}
    elif kind == 1:
        j = int(np.argmax(c_lo[cell]))
        detail = {"tail": "lower", "t": float(t_lo[cell, j]), "tail_lower": float(V[j])}
    else:
        flat = int(np.argmax(c_pair[cell]))
        i, j = divmod(flat, c_pair.shape[2])
        detail = {
            "tail": "two-sided",
            "t": float(t_pair[cell, i, j]),
            "tail_lower": float(U[i] + V[j]),
        }
    detail["center_cell"] = [float(a[cell, 0]), float(b[cell, 0])]
    return float(cell_bound[cell]), detail


def evaluation_lower_bound(
    values: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    dim: int,
    beta: float,
    n_centers: int = 256,
) -> tuple[float, dict[str, Any]]:
    """Lower bound on c from one 1-Lipschitz function's values on evaluation points.

    ``upper``/``lower`` are thresholds fixed independently of ``values``; each tail count gets a
    one-sided Clopper-Pearson lower bound at level ``beta`` (the caller's Bonferroni share),
    and :func:`tail_lower_bound` turns them into a bound valid whatever E f is.
    """
    n = values.shape[0]
    up_counts = (values[:, None] >= upper[None, :]).sum(axis=0)
    lo_counts = (values[:, None] <= lower[None, :]).sum(axis=0)
    U = _clopper_pearson_lower(up_counts, n, beta)
    V = _clopper_pearson_lower(lo_counts, n, beta)
    return tail_lower_bound(upper, U, lower, V, dim, n_centers)


def plugin_estimate(values: np.ndarray, dim: int) -> float:
    """max over observed t of dim t^2 / (2 log(2 / P_emp[|f - mean| >= t])): no band, no bound."""
    deviations = np.sort(np.abs(values - values.mean()))[::-1]
    tails = np.arange(1, deviations.shape[0] + 1) / deviations.shape[0]
    return float(np.max(dim * deviations**2 / (2.0 * np.log(2.0 / tails))))


def _test_functions(
    ref: torch.Tensor,
    ev: torch.Tensor,
    gen: torch.Generator,
    n_projections: int,
    n_principal: int,
    n_points: int,
    subset_sizes: Sequence[int],
    subsets_per_size: int,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Values of the 1-Lipschitz test functions on the reference (NaN where a reference point
    defines the function) and evaluation halves, with their descriptions."""
    n_ref, d = ref.shape
    ref_parts, ev_parts, described = [], [], []
    mean = ref.mean(dim=0)

    directions = []
    if n_projections:
        G = torch.randn(n_projections, d, generator=gen, dtype=torch.float32)
        G = G.to(device=ref.device, dtype=torch.float64)
        directions.append(G / G.norm(dim=1, keepdim=True).clamp_min(1e-300))
        described += [
            {"family": "projection", "description": f"<u, x>, u random unit vector #{i}"}
            for i in range(n_projections)
        ]
    principal = min(n_principal, d, n_ref - 1)
    if principal > 0:
        _, _, Vh = torch.linalg.svd(ref - mean, full_matrices=False)
        directions.append(Vh[:principal])
        described += [
            {"family": "projection", "description": f"<u, x>, u principal direction #{i + 1}"}
            for i in range(principal)
        ]
    if directions:
        D = torch.cat(directions)
        ref_parts.append(ref @ D.T)
        ev_parts.append(ev @ D.T)

    if n_points:
        picks = torch.randperm(n_ref, generator=gen)[:n_points].to(ref.device)
        centers = torch.cat([ref[picks], mean[None]])
        ref_dist = torch.cdist(ref, centers)
        ref_dist[picks, torch.arange(picks.shape[0], device=ref.device)] = float("nan")
        ref_parts.append(ref_dist)
        ev_parts.append(torch.cdist(ev, centers))
        described += [
            {"family": "distance_to_point", "description": f"||x - z||, z reference point {int(i)}"}
            for i in picks
        ]
        described.append(
            {"family": "distance_to_point", "description": "||x - z||, z the reference mean"}
        )

    for size in subset_sizes:
        if size > n_ref // 2:
            continue
        for r in range(subsets_per_size):
            members = torch.randperm(n_ref, generator=gen)[:size].to(ref.device)
            ref_dist = torch.cdist(ref, ref[members]).min(dim=1).values
            ref_dist[members] = float("nan")
            ref_parts.append(ref_dist[:, None])
            ev_parts.append(torch.cdist(ev, ref[members]).min(dim=1).values[:, None])
            described.append(
                {
                    "family": "distance_to_subset",
                    "description": f"dist(x, S), S {size} random reference points (#{r})",
                }
            )
    if not described:
        raise ValueError("no test functions: give n_projections, n_principal, n_points or subsets")
    ref_values = torch.cat(ref_parts, dim=1).cpu().numpy()
    ev_values = torch.cat(ev_parts, dim=1).cpu().numpy()
    return ref_values, ev_values, described


def probe_isoperimetry(
    X: object,
    *,
    dim: int | None = None,
    confidence: float = 0.95,
    n_projections: int = 32,
    n_principal: int = 4,
    n_points: int = 16,
    subset_sizes: Sequence[int] = (2, 8, 32),
    subsets_per_size: int = 4,
    tail_levels: Sequence[float] = DEFAULT_TAIL_LEVELS,
    n_centers: int = 256,
    seed: int = 0,
) -> IsoperimetryProbe:
    """Empirical lower estimate of the isoperimetry constant c with a confidence statement.

    See the module docstring for the method and its limits: it can only show c >= something,
    never certify an upper bound on c, and it tries random projections, principal
    projections, distances to random points and to the mean, and distances to random subsets.

    Parameters
    ----------
    X : (n, d) array-like, n >= 20
        Points drawn i.i.d. from the law.
    dim : int, optional
        Dimension m in exp(-m t^2 / (2c)); default d (ambient). Pass the intrinsic dimension
        for data on a manifold.
    confidence : float in (0, 1)
        Probability that the statement holds.
    n_projections, n_principal, n_points : int
        Random directions, principal directions, random reference points (the mean is added).
    subset_sizes : sequence of int
        Sizes of random reference subsets S for dist(x, S) (sizes above n_ref/2 are skipped).
    subsets_per_size : int
    tail_levels : sequence of float in (0, 1/2]
        Tail probabilities at which thresholds are set (levels below 1/n_ref are skipped).
    n_centers : int
        Resolution of the grid of possible centers E f.
    seed : int
        Seed of the split and of the random test functions.

    Returns
    -------
    IsoperimetryProbe
    """
    points = as_points(X, "X", min_points=20)
    n, d = points.shape
    dim = d if dim is None else require_count("dim", dim)
    confidence = require_real(
        "confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True
    )
    n_projections = require_count("n_projections", n_projections, minimum=0)
    n_principal = require_count("n_principal", n_principal, minimum=0)
    n_points = require_count("n_points", n_points, minimum=0)
    subsets_per_size = require_count("subsets_per_size", subsets_per_size, minimum=0)
    sizes = [require_count("subset_sizes", s) for s in subset_sizes] if subsets_per_size else []
    levels = sorted(
        {require_real("tail_levels", p, low=0.0, high=0.5, low_open=True) for p in tail_levels},
        reverse=True,
    )
    n_centers = require_count("n_centers", n_centers)
    gen = generator(require_seed(seed))

    order = torch.randperm(n, generator=gen).to(points.device)
    n_ref = n // 2
    ref, ev = points[order[:n_ref]], points[order[n_ref:]]
    n_ev = ev.shape[0]
    ref_values, ev_values, described = _test_functions(
        ref, ev, gen, n_projections, n_principal, n_points, sizes, subsets_per_size
    )
    usable = [p for p in levels if p * n_ref >= 1.0]
    if not usable:
        raise ValueError(f"no tail level is at least 1/n_ref = {1 / n_ref:.3g}; add larger levels")
    probs = np.asarray(usable)

    thresholds = []
    for j in range(ref_values.shape[1]):
        column = ref_values[:, j]
        column = column[~np.isnan(column)]
        upper = np.unique(np.quantile(column, 1.0 - probs))
        lower = np.unique(np.quantile(column, probs))
        thresholds.append((upper, lower))
    n_tests = sum(up.shape[0] + lo.shape[0] for up, lo in thresholds)
    beta = (1.0 - confidence) / n_tests

    per_function, details, plugins = [], [], []
    for j, (upper, lower) in enumerate(thresholds):
        c_j, detail = evaluation_lower_bound(ev_values[:, j], upper, lower, dim, beta, n_centers)
        per_function.append(c_j)
        details.append(detail)
        plugins.append(plugin_estimate(ev_values[:, j], dim))

    best = int(np.argmax(per_function))
    c_lower = float(per_function[best])
    by_family: dict[str, float] = {}
    for c_j, info in zip(per_function, described, strict=True):
        by_family[info["family"]] = max(by_family.get(info["family"], 0.0), float(c_j))
    witness = {**described[best], **details[best], "c": c_lower}
    statement = (
        f"With probability >= {confidence:g} over the evaluation half ({n_ev} points, given "
        f"the reference half of {n_ref}), the law is not c-isoperimetric in dimension {dim} "
        f"for any c < {c_lower:.4g}. Witness: f = {witness['description']}; whatever E f is, "
        f"the weakest case is E f in [{witness['center_cell'][0]:.4g}, "
        f"{witness['center_cell'][1]:.4g}], where P[|f - E f| >= {witness['t']:.4g}] >= "
        f"{witness['tail_lower']:.4g}. A lower bound only: no sample certifies an upper bound "
        "on c."
    )
    params = {
        "n_projections": n_projections,
        "n_principal": n_principal,
        "n_points": n_points,
        "subset_sizes": sizes,
        "subsets_per_size": subsets_per_size,
        "tail_levels": usable,
        "n_centers": n_centers,
        "seed": seed,
    }
    return IsoperimetryProbe(
        c_lower=c_lower,
        confidence=confidence,
        dim=dim,
        statement=statement,
        witness=witness,
        by_family=by_family,
        c_plugin=float(max(plugins)),
        n_reference=n_ref,
        n_evaluation=n_ev,
        n_functions=len(described),
        n_tests=n_tests,
        params=params,
    )
