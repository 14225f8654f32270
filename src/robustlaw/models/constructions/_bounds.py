"""Certified bounds that exploit the structure of the constructions.

Each construction's network has units whose gradient contributions switch on and off
together ("pieces"): a cap pair contributes y_i x_i / s inside its slab and 0 on both
sides; a single ReLU unit contributes a_l w_l where it is active. The gradient at any
point is then sum_{j in A} v_j for the set A of active pieces, so

    Lip(f) <= max over subsets A of || sum_{j in A} v_j ||          (subset relaxation)

on R^d, and a fortiori on the sphere (the tangential gradient is a projection of the
gradient). The maximum over subsets equals max_{||u|| = 1} sum_j relu(<v_j, u>), the
largest norm of a point of the zonotope sum_j [0, v_j]; it is found exactly by
enumeration for few pieces or small d, and bounded otherwise. Lower bounds are gradient
norms at points, always recomputed with the network itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robustlaw._pl import PLNet, max_subset_norm, solve_exact
from robustlaw._pl.kernels import fixed_point_ascent

__all__ = [
    "CapRelaxation",
    "SubsetMax",
    "max_subset_sum_norm",
    "sphere_cap_relaxation",
]

#: Largest number of pieces for which all subsets are enumerated.
ENUMERATION_LIMIT = 20


@dataclass(frozen=True)
class SubsetMax:
    """max_A || sum_{j in A} v_j ||: a certified interval and the best subset found.

    Attributes
    ----------
    lower : float
        || sum_{j in best} v_j || for the best subset found.
    upper : float
        A certified upper bound on the maximum.
    best : ndarray of bool, shape (m,)
        The best subset found.
    exact : bool
        True when the maximum was found by an exhaustive method (lower == upper).
    method : str
        "enumeration", "arrangement (d <= 3)" or "averaged bound".
    """

    lower: float
    upper: float
    best: np.ndarray
    exact: bool
    method: str


def max_subset_sum_norm(V: np.ndarray, seed: int = 0) -> SubsetMax:
    """max over subsets A of || sum_{j in A} v_j || for the rows v_j of V (m, d).

    Exact by enumeration of all 2^m subsets when m <= ``ENUMERATION_LIMIT``; exact for
    d <= 3 as the Lipschitz constant of h(u) = sum_j relu(<v_j, u>) (on the cell of u
    its gradient is sum over {j : <v_j, u> > 0} of v_j, a subset sum, and
    max_A ||sum_A v_j|| = max_{||u|| = 1} h(u) <= Lip(h)), found by the engine's vertex
    enumeration of the central arrangement {u : <v_j, u> = 0}; otherwise a certified
    upper bound
    min(sum ||v_j||, (||sum v_j|| + sqrt(m) ||V||_op) / 2) (the second from
    1_A = (1 + sigma) / 2 with sigma in {-1, 1}^m) with a lower bound by fixed-point
    ascent u <- normalize(sum_{<v_j, u> > 0} v_j) from many starts.
    """
    V = np.asarray(V, dtype=np.float64)
    m, d = V.shape
    if m == 0:
        return SubsetMax(0.0, 0.0, np.zeros(0, dtype=bool), True, "enumeration")
    if m <= ENUMERATION_LIMIT:
        value, best, _ = max_subset_norm(np.zeros(d), V)
        return SubsetMax(value, value, best, True, "enumeration")
    if d <= 3:
        h = PLNet(V, np.zeros(m), np.ones(m), np.zeros(d))
        res = solve_exact(h, method="enumeration", seconds=30.0, samples=64, seed=seed)
        if res.status == "ok":
            return SubsetMax(res.lower, res.upper, res.pattern, True, "arrangement (d <= 3)")
    lower, best = _ascent(V, seed)
    averaged = 0.5 * (np.linalg.norm(V.sum(axis=0)) + math.sqrt(m) * np.linalg.norm(V, 2))
    upper = min(float(np.linalg.norm(V, axis=1).sum()), float(averaged))
    return SubsetMax(lower, max(upper, lower), best, False, "averaged bound")


def _ascent(V: np.ndarray, seed: int) -> tuple[float, np.ndarray]:
    """Fixed-point ascent s = [V u > 0], u = V^T s from the rows, their sum and noise."""
    rng = np.random.default_rng(seed)
    m, d = V.shape
    starts = [V[j] for j in range(m)] + [V.sum(axis=0)] + list(rng.standard_normal((16, d)))
    best_value, best = 0.0, np.zeros(m, dtype=bool)
    for u in starts:
        if np.linalg.norm(u) > 0:
            chosen, value = fixed_point_ascent(np.zeros(d), V, np.asarray(u, dtype=np.float64), 100)
            if value > best_value:
                best_value, best = value, chosen.copy()
    return best_value, best


@dataclass(frozen=True)
class CapRelaxation:
    """Upper bound on the sphere's tangential gradient norm for cap-supported pieces.

    Attributes
    ----------
    upper : float
    best : ndarray of int
        The pieces of the subset attaining ``upper``.
    method : str
    """

    upper: float
    best: np.ndarray
    method: str


def sphere_cap_relaxation(
    alpha: np.ndarray,
    C: np.ndarray,
    kappa: np.ndarray,
    kappa_hi: np.ndarray | None = None,
    max_cliques: int = 5_000,
    max_subsets: int = 2**22,
) -> CapRelaxation | None:
    """Bound sup over the unit sphere of ||(I - x x^T) sum_{l active at x} alpha_l c_l||.

    Piece l (c_l a unit vector) is active on (a subset of) the band
    {x in S^{d-1} : kappa_l < <c_l, x> < kappa_hi_l} (kappa_hi = 1: a cap).
    A set A of pieces active at one point of the sphere has pairwise intersecting caps
    (angle(c_l, c_m) < theta_l + theta_m, theta = arccos kappa), so A lies in a maximal
    clique of that graph (Bron-Kerbosch, networkx). At such a point <g_A, x> lies in
    I_A = sum_l alpha_l (kappa_l, kappa_hi_l] (sign-aware), so the tangential norm is at most
    sqrt(||g_A||^2 - dist(0, I_A)^2). Every subset of every maximal clique is visited when
    the total count stays below ``max_subsets``; a larger clique falls back to the subset
    relaxation of its gradient norm. Returns None when the graph has more than
    ``max_cliques`` maximal cliques.
    """
    import networkx as nx

    alpha = np.asarray(alpha, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    kappa = np.clip(np.asarray(kappa, dtype=np.float64), -1.0, None)
    top = np.ones_like(kappa) if kappa_hi is None else np.minimum(kappa_hi, 1.0)
    live = (kappa < top) & (alpha != 0)
    ids = np.flatnonzero(live)
    if ids.size == 0:
        return CapRelaxation(0.0, np.zeros(0, dtype=int), "no active piece on the sphere")
    theta = np.arccos(kappa[ids])
    cosines = np.clip(C[ids] @ C[ids].T, -1.0, 1.0)
    angles = np.arccos(cosines)
    meet = angles < theta[:, None] + theta[None, :]
    graph = nx.Graph()
    graph.add_nodes_from(range(ids.size))
    rows, cols = np.nonzero(np.triu(meet, k=1))
    graph.add_edges_from(zip(rows.tolist(), cols.tolist(), strict=True))
    cliques = []
    for clique in nx.find_cliques(graph):
        cliques.append(np.array(sorted(clique)))
        if len(cliques) > max_cliques:
            return None
    lo = np.where(alpha[ids] > 0, alpha[ids] * kappa[ids], alpha[ids] * top[ids])
    hi = np.where(alpha[ids] > 0, alpha[ids] * top[ids], alpha[ids] * kappa[ids])
    V = alpha[ids, None] * C[ids]
    budget = max_subsets
    best_value, best = 0.0, np.zeros(0, dtype=int)
    method = "cap cliques with tangential reduction"
    for clique in sorted(cliques, key=len):
        size = len(clique)
        if size <= ENUMERATION_LIMIT and 2**size <= budget:
            budget -= 2**size
            value, subset = _clique_tangential(V[clique], lo[clique], hi[clique])
            chosen = clique[subset]
        else:
            bound = max_subset_sum_norm(V[clique])
            value, chosen = bound.upper, clique[bound.best]
            method = "cap cliques with tangential reduction; subset relaxation on large cliques"
        if value > best_value:
            best_value, best = value, chosen
    return CapRelaxation(float(best_value), ids[best], method)


def _clique_tangential(V: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray]:
    """max over subsets A of sqrt(||sum_A v||^2 - dist(0, [sum_A lo, sum_A hi])^2).

    Subsets are split into low bits (a table of 2^14 partial sums at most) and high bits
    (a loop adding one offset per high mask)."""
    m = V.shape[0]
    nlo = min(m, 14)
    bits = ((np.arange(2**nlo)[:, None] >> np.arange(nlo)[None, :]) & 1).astype(np.float64)
    sums, lows, highs = bits @ V[:nlo], bits @ lo[:nlo], bits @ hi[:nlo]
    best_value, best_lo, best_hi = -1.0, 0, 0
    for mask in range(2 ** (m - nlo)):
        chosen = [nlo + j for j in range(m - nlo) if mask >> j & 1]
        total = sums + V[chosen].sum(axis=0) if chosen else sums
        low = lows + lo[chosen].sum() if chosen else lows
        high = highs + hi[chosen].sum() if chosen else highs
        gap = np.where(low > 0, low, np.where(high < 0, -high, 0.0))
        values = np.einsum("ij,ij->i", total, total) - gap * gap
        i = int(values.argmax())
        if values[i] > best_value:
            best_value, best_lo, best_hi = float(values[i]), i, mask
    subset = [j for j in range(nlo) if best_lo >> j & 1]
    subset += [nlo + j for j in range(m - nlo) if best_hi >> j & 1]
    return math.sqrt(max(best_value, 0.0)), np.array(subset, dtype=int)
