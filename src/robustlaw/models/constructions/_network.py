"""Shared plumbing: build a one-member TwoLayer from numpy weights, evaluate it, and find
certified lower bounds (gradient norms at points, recomputed on the network in float64
by the engine's :class:`~robustlaw._pl.PLNet`) on R^d and on the sphere."""

from __future__ import annotations

import math

import numpy as np
import torch

from robustlaw._pl import PLNet, chebyshev, family_nets, tangential
from robustlaw.models.constructions._bounds import (
    SubsetMax,
    max_subset_sum_norm,
    sphere_cap_relaxation,
)
from robustlaw.models.constructions._common import LipschitzInterval
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "build_family",
    "evaluate",
    "ramp_rd_interval",
    "relu_net",
    "sphere_ascent",
    "sphere_interval",
]


def build_family(
    W: np.ndarray,
    b: np.ndarray | None,
    a: np.ndarray,
    c: float | None,
    activation: str,
    tags: dict,
    dtype: torch.dtype,
    device: str | torch.device | None,
) -> TwoLayer:
    """A one-member :class:`TwoLayer` with hidden weights W (k, d), biases b (k,), output
    weights a (k,) and output bias c, tagged with ``tags`` (plus its width)."""
    kw = {"dtype": dtype, "device": device}
    member = {"width": int(W.shape[0]), **tags}
    return TwoLayer.from_tensors(
        torch.as_tensor(W, **kw),
        torch.as_tensor(a, **kw),
        b=None if b is None else torch.as_tensor(b, **kw),
        c=None if c is None else torch.tensor([float(c)], **kw),
        activation=activation,
        members=[member],
    )


def evaluate(family: TwoLayer, X: np.ndarray) -> np.ndarray:
    """f(x_i) for one-member ``family``, computed in float64 from its (masked) weights on
    the CPU, whatever the family's dtype and device. X: (n, d) -> (n,)."""
    w = family.effective_weights()
    W = w.W[0].detach().cpu().double()
    pre = torch.as_tensor(X, dtype=torch.float64) @ W.T
    if w.b is not None:
        pre = pre + w.b[0].detach().cpu().double()
    out = w.activation(pre) @ w.a[0].detach().cpu().double()
    if w.c is not None:
        out = out + w.c[0].detach().cpu().double()
    return out.numpy()


def relu_net(family: TwoLayer) -> PLNet:
    """The weights of a one-member ReLU family (masked units left out) as a PLNet."""
    if family.activation.name != "relu" or family.B != 1 or family.v is not None:
        raise ValueError("relu_net needs a one-member ReLU family without a linear skip")
    return family_nets(family)[0]


def _tangential_norms(net: PLNet, X: np.ndarray) -> np.ndarray:
    """|| (I - x x^T) grad f(x) || at unit rows x of X. X: (m, d) -> (m,)."""
    return tangential(net.gradient_at(X)[0], X)


def _rd_value(net: PLNet, x: np.ndarray) -> float:
    """||grad f(x)|| on R^d (relu'(0) = 0, as the family)."""
    return float(np.linalg.norm(net.gradient_at(x)[0]))


def rim_points(
    centers: np.ndarray, cos_radius: np.ndarray, per_center: int, rng: np.random.Generator
) -> np.ndarray:
    """Points just inside the rim of each cap {x : <c_j, x> > cos_radius_j} of the sphere.

    centers: (m, d) unit vectors; cos_radius: (m,). Returns (m * per_center, d) unit
    vectors at angle arccos(cos_radius) * (1 - 1e-7) from their centre in random
    directions (no points for caps that are empty or the whole sphere).
    """
    m, d = centers.shape
    out = []
    for j in range(m):
        if not -1.0 < cos_radius[j] < 1.0:
            continue
        theta = math.acos(float(cos_radius[j])) * (1.0 - 1e-7)
        V = rng.standard_normal((per_center, d))
        V -= (V @ centers[j])[:, None] * centers[j][None]
        norms = np.linalg.norm(V, axis=1)
        V = V[norms > 0] / norms[norms > 0, None]
        out.append(math.cos(theta) * centers[j][None] + math.sin(theta) * V)
    return np.concatenate(out) if out else np.zeros((0, d))


def ramp_rd_interval(
    net: PLNet,
    V: np.ndarray,
    offsets: np.ndarray,
    half_widths: np.ndarray,
    alphas: np.ndarray,
    seed: int = 0,
) -> tuple[LipschitzInterval, np.ndarray | None, SubsetMax]:
    """Lip over R^d of a network that is a sum of "ramps" plus a constant.

    Ramp j has gradient alpha_j v_j where |<v_j, x> + o_j| < h_j (h_j = inf: a single
    ReLU unit, active where <v_j, x> + o_j > 0) and 0 elsewhere, so the gradient is a sum
    over the active ramps and the subset relaxation of the pieces alpha_j v_j bounds Lip
    above. Below: the relaxation's best subset made a polyhedron (active ramps strictly
    inside, the others below their lower edge); while it has no interior, the piece whose
    removal keeps the largest norm is dropped. The gradient at the point found is
    recomputed with the network, so the lower bound holds whatever the heuristic.

    V: (m, d); offsets, half_widths, alphas: (m,). Returns the interval, the witness
    point (or None) and the relaxation.
    """
    pieces = np.asarray(alphas, dtype=np.float64)[:, None] * V
    relaxation = max_subset_sum_norm(pieces, seed=seed)
    chosen = relaxation.best.copy()
    low, witness = 0.0, None
    for _ in range(V.shape[0] + 1):
        # Interior point of the active ramps alone; then put every other ramp on the side
        # where that point lies and look for an interior point of the full pattern.
        A_act, b_act = _ramp_pattern(V, offsets, half_widths, chosen, None)
        x0, _ = chebyshev(A_act, b_act) if A_act.shape[0] else (np.zeros(V.shape[1]), 1.0)
        found = False
        if x0 is not None:
            above = V @ x0 + offsets > 0
            x1, _ = chebyshev(*_ramp_pattern(V, offsets, half_widths, chosen, above))
            found = x1 is not None
            for x in (x1, x0):
                if x is not None and (v := _rd_value(net, x)) > low:
                    low, witness = v, x
        if found or not chosen.any():
            break
        options = np.flatnonzero(chosen)
        total = pieces[chosen].sum(axis=0)
        values = [np.linalg.norm(total - pieces[i]) for i in options]
        chosen[options[int(np.argmax(values))]] = False
    upper = max(relaxation.upper, low)
    exact = relaxation.exact and abs(upper - low) <= 1e-9 * max(upper, 1e-300)
    interval = LipschitzInterval(
        "rd",
        low,
        upper,
        "witness: gradient inside a realizable pattern (LP interior point)",
        f"subset relaxation ({relaxation.method})",
        exact=bool(exact),
        witness=None if witness is None else witness.tolist(),
    )
    return interval, witness, relaxation


def _ramp_pattern(
    V: np.ndarray,
    offsets: np.ndarray,
    half_widths: np.ndarray,
    active: np.ndarray,
    above: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """A x <= b for: -h_j < <v_j, x> + o_j < h_j for active j; for the others
    <v_j, x> + o_j > h_j where ``above`` else < -h_j (no constraint when ``above`` is None).
    For h_j = inf (a single ReLU unit) the edges are at 0 and "above" is not allowed."""
    rows, rhs = [], []
    for j in range(V.shape[0]):
        h = half_widths[j]
        edge = h if math.isfinite(h) else 0.0
        if active[j]:
            rows.append(-V[j])
            rhs.append(offsets[j] + edge)
            if math.isfinite(h):
                rows.append(V[j])
                rhs.append(h - offsets[j])
        elif above is not None:
            if above[j] and math.isfinite(h):
                rows.append(-V[j])
                rhs.append(offsets[j] - h)
            else:
                rows.append(V[j])
                rhs.append(-edge - offsets[j])
    d = V.shape[1]
    return np.array(rows).reshape(-1, d), np.array(rhs)


def sphere_ascent(
    net: PLNet,
    starts: np.ndarray,
    rounds: int = 40,
    batch: int = 16,
    seed: int = 0,
) -> tuple[float, np.ndarray | None]:
    """Random-search ascent of the tangential gradient norm on the sphere.

    From each start (normalized), ``rounds`` rounds of ``batch`` random moves on the
    sphere with step lengths shrinking geometrically from 0.3 to 1e-5; a move is kept
    when it increases the tangential norm. Gradients are piecewise constant for ReLU
    networks, so this moves between regions rather than following a gradient. Every
    value is recomputed with the network: a certified lower bound with its witness.
    """
    rng = np.random.default_rng(seed)
    P = np.asarray(starts, dtype=np.float64)
    norms = np.linalg.norm(P, axis=1)
    P = P[norms > 0] / norms[norms > 0, None]
    if P.shape[0] == 0:
        return 0.0, None
    values = _tangential_norms(net, P)
    S, d = P.shape
    for step in np.geomspace(0.3, 1e-5, rounds):
        moves = P[:, None, :] + step * rng.standard_normal((S, batch, d)) / math.sqrt(d)
        moves /= np.linalg.norm(moves, axis=2, keepdims=True)
        trial = _tangential_norms(net, moves.reshape(-1, d)).reshape(S, batch)
        j = trial.argmax(axis=1)
        better = trial[np.arange(S), j] > values
        P[better] = moves[np.arange(S), j][better]
        values[better] = trial[np.arange(S), j][better]
    i = int(values.argmax())
    return float(values[i]), P[i]


def sphere_interval(
    net: PLNet,
    V: np.ndarray,
    offsets: np.ndarray,
    half_widths: np.ndarray,
    alphas: np.ndarray,
    rd_relaxation: SubsetMax,
    starts: list[np.ndarray],
    seed: int = 0,
) -> LipschitzInterval:
    """Lip over the unit sphere of a sum of ramps (see :func:`ramp_rd_interval`).

    Upper: the smaller of the R^d subset relaxation and the cap-clique relaxation with
    tangential reduction (:func:`sphere_cap_relaxation`; ramp j lives on the band
    (-o_j - h_j) / ||v_j|| < <v_j / ||v_j||, x> < (-o_j + h_j) / ||v_j||). Lower: the
    best tangential gradient norm over the given start points, the centres of the best
    clique's caps, and random-search ascent from the best of them.
    """
    norms = np.linalg.norm(V, axis=1)
    live = norms > 0
    C = np.zeros_like(V)
    C[live] = V[live] / norms[live, None]
    safe = np.where(live, norms, 1.0)
    finite = np.isfinite(half_widths)
    edge = np.where(finite, half_widths, 0.0)  # a single unit (h = inf) is active above 0
    kappa = np.where(live, (-offsets - edge) / safe, 2.0)
    kappa_hi = np.where(live & finite, (-offsets + np.where(finite, half_widths, 0.0)) / safe, 1.0)
    caps = sphere_cap_relaxation(alphas * norms, C, kappa, kappa_hi)
    upper, upper_method = rd_relaxation.upper, f"subset relaxation ({rd_relaxation.method})"
    candidates = [s for s in starts if s.size]
    if caps is not None:
        if caps.upper < upper:
            upper, upper_method = caps.upper, caps.method
        if caps.best.size:
            candidates.append(C[caps.best].sum(axis=0)[None])
    points = np.concatenate(candidates) if candidates else np.zeros((0, V.shape[1]))
    point_norms = np.linalg.norm(points, axis=1)
    points = points[point_norms > 0] / point_norms[point_norms > 0, None]
    if points.shape[0] == 0:
        return LipschitzInterval("sphere", 0.0, upper, "none", upper_method)
    values = _tangential_norms(net, points)
    top = points[np.argsort(values)[::-1][:16]]
    low, witness = sphere_ascent(net, top, seed=seed)
    if values.max() > low:
        low, witness = float(values.max()), points[int(values.argmax())]
    return LipschitzInterval(
        "sphere",
        low,
        max(upper, low),
        "witness: tangential gradient (rim, data and clique points, random-search ascent)",
        upper_method,
        exact=bool(abs(max(upper, low) - low) <= 1e-9 * max(low, 1e-300)),
        witness=None if witness is None else witness.tolist(),
    )
