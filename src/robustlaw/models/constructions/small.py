"""The small end: memorizers with O(n/d) units (large Lipschitz constants).

Both constructions split the points that need a unit into groups of at most d points. A
group of m <= d points in general position lies on a hyperplane H = {<w, x> = beta}
(||w|| = 1; unique when m = d) that holds no other data point; D = min over the other
points of their distance |<w, x_k> - beta| to H is positive.

**Baum (1988), threshold units.** Labels in {-1, +1}. The points of the smaller class
(label y_min) are grouped; the slab |<w, x> - beta| <= eps, eps = D/2, holds exactly its
group, and

    f(x) = -y_min + 2 y_min sum_groups ( 1[<w, x> - beta + eps > 0] - 1[<w, x> - beta - eps > 0] )

takes the value y_min on the grouped points and -y_min elsewhere: 2 ceil(n_min / d) units
(<= ceil(n/d) + 1, with n_min <= n/2 the size of the smaller class). f is discontinuous,
so Lip(f) = inf; the report gives the minimum margin (distance from a data point to a
unit's hyperplane) instead.

**ReLU memorizer, real labels.** The output bias c is the most frequent label (0 when
no label repeats); the points with y_i != c are grouped, r_i = y_i - c. For a group,
a = 2 max |r_i| and l(x) = <g, x> + g0 is the affine function with l(x_i) = r_i on the
group and g orthogonal to w (minimum norm). With the ramp R(z) = [relu(z + eps/2) -
relu(z - eps/2)] / eps (0 below -eps/2, 1 above eps/2), t = <w, x> - beta and
e(x) = (eps / a) l(x), the group contributes

    a [ R(t + e(x)) - R(t) ]                                          (4 ReLU units)

which equals a e(x_i) / eps = r_i on the group (t = 0, |e| <= eps/2) and vanishes at every
other point as long as |t_k| >= eps (1/2 + (+-l(x_k))_+ / a) on its side of H; eps is the
largest such value. 4 ceil(m / d) units in all, m = #{i : y_i != c} <= n (the count of
Bubeck, Eldan, Lee, Mikulincer 2020, with a different construction). The gradient reaches
about a / eps where one ramp rises and the other is flat, so Lip grows like 1 / D.

Grouping: ``trials`` random partitions are tried and the one with the largest worst
margin (Baum) or the smallest max_j a_j / eps_j (ReLU) kept.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robustlaw import theory
from robustlaw.models.constructions._common import (
    INTERPOLATION_TOL,
    SPHERE_TOL,
    ConstructionReport,
    LipschitzInterval,
    check_dtype,
    check_positive_int,
    validate_data,
)
from robustlaw.models.constructions._network import (
    build_family,
    evaluate,
    ramp_rd_interval,
    relu_net,
    sphere_interval,
)
from robustlaw.models.two_layer import TwoLayer

__all__ = ["baum_memorizer", "relu_memorizer"]

_GENERAL_POSITION_TOL = 1e-9


def baum_memorizer(
    X: object,
    y: object,
    *,
    trials: int = 8,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> tuple[TwoLayer, ConstructionReport]:
    """Baum's (1988) threshold-unit memorizer of +-1 labels (module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Points in general position (no d + 1 on a hyperplane).
    y : array or Tensor, shape (n,)
        Labels in {-1, +1}.
    trials : int
        Random groupings tried; the one with the largest minimum margin is kept.
    seed : int

    Returns
    -------
    family : TwoLayer
        One member, activation "threshold", output bias -y_min, 2 ceil(n_min / d) units
        (one unit with zero output weight when every label is equal).
    report : ConstructionReport
        ``lipschitz`` is inf on R^d (and on the sphere for sphere data): threshold units
        are discontinuous. ``details["min_margin"]`` is the smallest distance from a data
        point to a unit's hyperplane.
    """
    Xn, yn = validate_data(X, y, labels="sign")
    dtype = check_dtype(dtype)
    trials = check_positive_int("trials", trials)
    n, d = Xn.shape
    n_pos = int((yn > 0).sum())
    y_min = 1.0 if n_pos <= n - n_pos else -1.0
    minority = np.flatnonzero(yn == y_min)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(trials):
        groups = _partition(minority, d, rng)
        planes = _planes(Xn, groups, rng)
        if planes is None:
            continue
        score = min((D for _, _, D in planes), default=math.inf)
        if best is None or score > best[0]:
            best = (score, groups, planes)
    if best is None:
        raise ValueError(_general_position_message())
    _, groups, planes = best
    W, b, a = [], [], []
    for w, beta, D in planes:
        eps = D / 2.0 if math.isfinite(D) else 1.0
        W += [w, w]
        b += [-beta + eps, -beta - eps]
        a += [2.0 * y_min, -2.0 * y_min]
    if not W:  # every label equal: the constant -y_min, one idle unit
        W, b, a = [np.zeros(d)], [-1.0], [0.0]
    W, b, a = np.array(W), np.array(b), np.array(a)
    family = build_family(
        W, b, a, -y_min, "threshold", {"construction": "baum", "groups": len(groups)}, dtype, device
    )
    error = float(np.abs(evaluate(family, Xn) - yn).max())
    norms = np.linalg.norm(W, axis=1)
    live = norms > 0
    margins = np.abs(Xn @ W[live].T + b[live]) / norms[live]
    min_margin = float(margins.min()) if margins.size else math.inf
    discontinuous = "threshold units are discontinuous: Lip = inf"
    lipschitz = {
        "rd": LipschitzInterval("rd", math.inf, math.inf, discontinuous, discontinuous, True)
    }
    if _on_sphere(Xn) and live.any():
        lipschitz["sphere"] = LipschitzInterval(
            "sphere", math.inf, math.inf, discontinuous, discontinuous, True
        )
    k = W.shape[0]
    report = ConstructionReport(
        construction="baum",
        n=n,
        d=d,
        neurons=k,
        params=theory.two_layer_param_count(d, k, hidden_bias=True, output_bias=True),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="points in general position: the hyperplane through each group of <= d "
        "points holds no other data point",
        condition_met=True,
        lipschitz=lipschitz,
        details={
            "minority_label": y_min,
            "n_minority": len(minority),
            "groups": [g.tolist() for g in groups],
            "min_margin": min_margin,
            "unit_count_formula": "2 ceil(n_min / d)",
        },
    )
    return family, report


def relu_memorizer(
    X: object,
    y: object,
    *,
    trials: int = 8,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> tuple[TwoLayer, ConstructionReport]:
    """The 4 ceil(m / d)-unit ReLU memorizer of real labels (module docstring).

    Parameters
    ----------
    X : array or Tensor, shape (n, d)
        Points in general position.
    y : array or Tensor, shape (n,)
        Labels in [-1, 1].
    trials : int
        Random groupings tried; the one with the smallest max_j a_j / eps_j is kept.
    seed : int

    Returns
    -------
    family : TwoLayer
        One member, ReLU, output bias c (the most frequent label, 0 if none repeats).
    report : ConstructionReport
        ``lipschitz["rd"]`` (and ``["sphere"]`` for sphere data): certified intervals from
        the ramp structure (subset relaxation above, a realizable pattern's gradient
        below). ``details`` holds the groups, eps_j, a_j and the distances D_j.
    """
    Xn, yn = validate_data(X, y)
    dtype = check_dtype(dtype)
    trials = check_positive_int("trials", trials)
    n, d = Xn.shape
    values, counts = np.unique(yn, return_counts=True)
    c = float(values[counts.argmax()]) if counts.max() > 1 else 0.0
    grouped = np.flatnonzero(yn != c)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(trials):
        groups = _partition(grouped, d, rng)
        planes = _planes(Xn, groups, rng)
        if planes is None:
            continue
        ramps = [
            _group_ramps(Xn, yn - c, g, plane) for g, plane in zip(groups, planes, strict=True)
        ]
        score = max((r["a"] / r["eps"] for r in ramps), default=0.0)
        if best is None or score < best[0]:
            best = (score, groups, planes, ramps)
    if best is None:
        raise ValueError(_general_position_message())
    _, groups, planes, ramps = best
    W, b, a = [], [], []
    V, offsets, alphas = [], [], []
    for r in ramps:
        eps, scale = r["eps"], r["a"] / r["eps"]
        W += [r["v1"], r["v1"], r["w"], r["w"]]
        b += [r["o1"] + eps / 2, r["o1"] - eps / 2, r["o2"] + eps / 2, r["o2"] - eps / 2]
        a += [scale, -scale, -scale, scale]
        V += [r["v1"], r["w"]]
        offsets += [r["o1"], r["o2"]]
        alphas += [scale, -scale]
    if not W:
        W, b, a = [np.zeros(d)], [-1.0], [0.0]
    W, b, a = np.array(W), np.array(b), np.array(a)
    family = build_family(
        W, b, a, c, "relu", {"construction": "relu_memorizer", "groups": len(groups)}, dtype, device
    )
    error = float(np.abs(evaluate(family, Xn) - yn).max())
    lipschitz = {}
    if V:
        V, offsets, alphas = np.array(V), np.array(offsets), np.array(alphas)
        half = np.array([r["eps"] / 2 for r in ramps for _ in range(2)])
        rd, witness, relaxation = ramp_rd_interval(relu_net(family), V, offsets, half, alphas, seed)
        lipschitz["rd"] = rd
        if _on_sphere(Xn):
            starts = [_slab_probe_points(Xn, groups, ramps, witness)]
            lipschitz["sphere"] = sphere_interval(
                relu_net(family), V, offsets, half, alphas, relaxation, starts, seed
            )
    else:
        zero = "constant network"
        lipschitz["rd"] = LipschitzInterval("rd", 0.0, 0.0, zero, zero, True)
    k = W.shape[0]
    report = ConstructionReport(
        construction="relu_memorizer",
        n=n,
        d=d,
        neurons=k,
        params=theory.two_layer_param_count(d, k, hidden_bias=True, output_bias=True),
        max_error=error,
        interpolates=error < INTERPOLATION_TOL,
        condition="points in general position: the hyperplane through each group of <= d "
        "points holds no other data point",
        condition_met=True,
        lipschitz=lipschitz,
        details={
            "output_bias": c,
            "n_grouped": len(grouped),
            "groups": [g.tolist() for g in groups],
            "eps": [r["eps"] for r in ramps],
            "a": [r["a"] for r in ramps],
            "distance": [p[2] for p in planes],
            "unit_count_formula": "4 ceil(m / d), m = #{i : y_i != c}",
        },
    )
    return family, report


# --------------------------------------------------------------------------- helpers


def _general_position_message() -> str:
    return (
        "X must be in general position: in every grouping tried, the hyperplane through "
        "some group of <= d points holds (within 1e-9) another data point, or the group's "
        "points are affinely dependent"
    )


def _on_sphere(X: np.ndarray) -> bool:
    return bool(np.all(np.abs(np.linalg.norm(X, axis=1) - 1.0) <= SPHERE_TOL))


def _partition(indices: np.ndarray, d: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(indices)
    return [order[i : i + d] for i in range(0, len(order), d)]


def _planes(
    X: np.ndarray, groups: list[np.ndarray], rng: np.random.Generator
) -> list[tuple[np.ndarray, float, float]] | None:
    """(w, beta, D) per group, or None when a group is not in general position."""
    planes = []
    for group in groups:
        plane = _group_hyperplane(X, group, rng)
        if plane is None:
            return None
        planes.append(plane)
    return planes


def _group_hyperplane(
    X: np.ndarray, group: np.ndarray, rng: np.random.Generator, candidates: int = 32
) -> tuple[np.ndarray, float, float] | None:
    """A unit normal w and offset beta with <w, x_i> = beta on the group, and the distance
    D of the other points to that hyperplane. When the group has fewer than d points the
    normal is free in a subspace; the best of a few random choices (largest D) is kept."""
    d = X.shape[1]
    P = X[group]
    others = np.delete(X, group, axis=0)
    scale = max(1.0, float(np.abs(X).max()))
    if len(group) > 1:
        diffs = P[1:] - P[0]
        _, sing, Vt = np.linalg.svd(diffs, full_matrices=True)
        rank = int((sing > 1e-12 * scale).sum())
        if rank < len(group) - 1:
            return None
        null = Vt[rank:]
    else:
        null = np.eye(d)
    if null.shape[0] == 1:
        normals = null
    else:
        mix = rng.standard_normal((candidates, null.shape[0]))
        normals = np.concatenate([null, mix @ null])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    best = None
    for w in normals:
        beta = float((P @ w).mean())
        D = float(np.abs(others @ w - beta).min()) if others.shape[0] else math.inf
        if best is None or D > best[2]:
            best = (w, beta, D)
    if best[2] <= _GENERAL_POSITION_TOL * scale:
        return None
    return best


def _group_ramps(
    X: np.ndarray, r: np.ndarray, group: np.ndarray, plane: tuple[np.ndarray, float, float]
) -> dict:
    """The two ramps of one group for the ReLU memorizer (module docstring)."""
    w, beta, _ = plane
    P = X[group]
    rg = r[group]
    a = 2.0 * float(np.abs(rg).max())
    center = P.mean(axis=0)
    M = np.vstack([P - center, w[None]])
    rhs = np.concatenate([rg - rg.mean(), [0.0]])
    g = np.linalg.lstsq(M, rhs, rcond=None)[0]
    g0 = float(rg.mean() - g @ center)
    others = np.setdiff1d(np.arange(X.shape[0]), group)
    t = X[others] @ w - beta
    ell = X[others] @ g + g0
    need = 0.5 + np.maximum(np.where(t < 0, ell, -ell), 0.0) / a
    eps = float((np.abs(t) / need).min()) if others.size else 1.0
    shear = eps / a
    return {
        "a": a,
        "eps": eps,
        "w": w,
        "o2": -beta,
        "v1": w + shear * g,
        "o1": -beta + shear * g0,
    }


def _slab_probe_points(
    X: np.ndarray, groups: list[np.ndarray], ramps: list[dict], witness: np.ndarray | None
) -> np.ndarray:
    """Points across each group's slab (where one ramp rises and the other is flat)."""
    points = [] if witness is None else [witness[None]]
    offsets = np.linspace(-1.5, 1.5, 31)
    for group, ramp in zip(groups, ramps, strict=True):
        for i in group:
            points.append(X[i][None] + offsets[:, None] * ramp["eps"] * ramp["w"][None])
    return np.concatenate(points) if points else X
