"""Exact Lipschitz constant on R^d by enumerating the vertices of the hyperplane arrangement.

When the normals w_l span R^d, the closure of every region of the arrangement
{w_l . x + b_l = 0} is a pointed polyhedron, so it has a vertex, where d hyperplanes with
independent normals meet. In general position (no other hyperplane through the vertex)
the regions around a vertex p are exactly the 2^d orthants of its d hyperplanes, the
other units keeping their sign at p. Hence

    Lip(f) = max over vertices p, over z in {0, 1}^d of || g0 + M^T s(p, z) ||,

a computation of O(C(k, d) k d) operations done in vectorized chunks (the O(k^d) regions
of an arrangement in fixed dimension). Degenerate inputs are reduced first: normals
spanning a subspace of dimension r < d (a cylinder over an r-dimensional arrangement);
hyperplanes through one common point (a central arrangement, whose cones meet one of the
two affine charts x . e = +-1 of dimension d - 1). Crossings of a line closer than
float rounding can be trusted to order (a few among the millions of vertices of a trained
net with k = 256 in d = 3) are ordered in exact rational arithmetic from the float64
weights; a vertex on more than d hyperplanes makes the method decline (``None``), and the
caller falls back to branch and bound.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from robustlaw._pl.net import Arrangement

__all__ = ["EnumResult", "enumeration_cost", "vertex_enumeration"]

_RANK_TOL = 1e-10
_DEGENERATE_TOL = 1e-9


@dataclass
class EnumResult:
    """Largest gradient norm over all regions and a point strictly inside its region."""

    value: float
    x: np.ndarray
    vertices: int
    complete: bool


def enumeration_cost(k: int, d: int) -> float:
    """Work of :func:`vertex_enumeration`, C(k, d - 1) lines times k crossings times
    (2^d + d) operations per crossing."""
    if k < d:
        return float(2**k) * d
    return float(math.comb(k, d - 1)) * k * (2**d + d)


def vertex_enumeration(
    prob: Arrangement,
    device: str | torch.device = "cpu",
    chunk: int = 32768,
    deadline: float | None = None,
) -> EnumResult | None:
    """Exact max over regions of ||g0 + M^T s|| on R^d, or None when degenerate.

    Parameters
    ----------
    prob : Arrangement
    device : torch device for the batched arithmetic.
    chunk : vertices per batch.
    deadline : time.perf_counter() value after which the enumeration stops; the result
        then has ``complete=False`` (its value is a certified lower bound only).
    """
    return _solve(prob.W, prob.b, prob, np.eye(prob.d), np.zeros(prob.d), device, chunk, deadline)


def _solve(
    W: np.ndarray,
    b: np.ndarray,
    prob: Arrangement,
    Q: np.ndarray,
    x0: np.ndarray,
    device: str | torch.device,
    chunk: int,
    deadline: float | None,
) -> EnumResult | None:
    """Arrangement {W y + b = 0} in y-space (dimension W.shape[1]); x = x0 + Q y."""
    k, r = W.shape
    if k == 0 or r == 0:
        # one region: the pattern is the sign of b (no kink can be crossed)
        if np.any(np.abs(b) <= _DEGENERATE_TOL):
            return None
        s = b > 0
        return EnumResult(float(np.linalg.norm(prob.gradient(s))), x0.copy(), 1, True)
    # rank reduction: a cylinder over the arrangement in the row space
    _, sv, Vt = np.linalg.svd(W, full_matrices=False)
    rank = int(np.sum(sv > _RANK_TOL * max(sv[0], 1.0)))
    if rank < r:
        B = Vt[:rank].T  # (r, rank)
        Wr = W @ B
        norms = np.linalg.norm(Wr, axis=1)
        return _solve(Wr / norms[:, None], b / norms, prob, Q @ B, x0, device, chunk, deadline)
    # hyperplanes through one common point: two affine charts of one dimension less
    if k >= r:
        p, *_ = np.linalg.lstsq(W, -b, rcond=None)
        if np.max(np.abs(W @ p + b)) <= _DEGENERATE_TOL * (1.0 + np.linalg.norm(p)):
            return _central(W, prob, Q, x0 + Q @ p, device, chunk, deadline)
    return _vertices(W, b, prob, Q, x0, device, chunk, deadline)


def _central(
    W: np.ndarray,
    prob: Arrangement,
    Q: np.ndarray,
    apex: np.ndarray,
    device: str | torch.device,
    chunk: int,
    deadline: float | None,
) -> EnumResult | None:
    k, r = W.shape
    rng = np.random.default_rng(12345)
    e = rng.standard_normal(r)
    e /= np.linalg.norm(e)
    # orthonormal basis of e-perp
    full, _ = np.linalg.qr(np.c_[e, np.eye(r)])
    E = full[:, 1:r]
    best: EnumResult | None = None
    total = 0
    complete = True
    for sigma in (1.0, -1.0):
        Wc = W @ E
        bc = sigma * (W @ e)
        norms = np.linalg.norm(Wc, axis=1) if r > 1 else np.zeros(k)
        if r > 1 and np.any(norms <= _RANK_TOL):
            return None
        if r > 1:
            Wc, bc = Wc / norms[:, None], bc / norms
        res = _solve(Wc, bc, prob, Q @ E, apex + sigma * (Q @ e), device, chunk, deadline)
        if res is None:
            return None
        total += res.vertices
        complete &= res.complete
        if best is None or res.value > best.value:
            best = res
    assert best is not None
    return EnumResult(best.value, best.x, total, complete)


def _subset_batches(k: int, r: int, size: int):
    """Index arrays (n, r) of the r-subsets of range(k), in batches of about ``size``."""
    it = itertools.combinations(range(k), r)
    while True:
        block = list(itertools.islice(it, size))
        if not block:
            return
        yield np.array(block, dtype=np.int64).reshape(len(block), r)


def _vertices(
    W: np.ndarray,
    b: np.ndarray,
    prob: Arrangement,
    Q: np.ndarray,
    x0: np.ndarray,
    device: str | torch.device,
    chunk: int,
    deadline: float | None,
) -> EnumResult | None:
    """Sweep every line where r - 1 hyperplanes meet; its vertices are the crossings with
    the other hyperplanes, and along the line the pattern changes one unit at a time, so
    the gradient at every vertex is a cumulative sum (O(1) per vertex after sorting)."""
    k, r = W.shape
    dev = torch.device(device)
    Wt = torch.as_tensor(W, device=dev)
    bt = torch.as_tensor(b, device=dev)
    Mt = torch.as_tensor(prob.M, device=dev)
    g0 = torch.as_tensor(prob.g0, device=dev)
    Z = torch.as_tensor(
        np.array(list(itertools.product((0.0, 1.0), repeat=r))), device=dev
    )  # (2^r, r): column 0 is the crossing unit, columns 1.. the line's units
    ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(len(Z), r * r)
    MM = Mt @ Mt.T
    MM_diag = torch.diagonal(MM).clone()
    best_val2 = -1.0
    best: tuple | None = None
    count = 0
    complete = True
    lines_per_chunk = max(1, chunk // max(k, 1) * 8)
    for T_np in _subset_batches(k, r - 1, lines_per_chunk):
        if deadline is not None and time.perf_counter() > deadline:
            complete = False
            break
        n = len(T_np)
        T = torch.as_tensor(T_np, device=dev)
        if r == 1:
            p0 = torch.zeros(n, 1, dtype=Wt.dtype, device=dev)
            direc = torch.ones(n, 1, dtype=Wt.dtype, device=dev)
        else:
            WT = Wt[T]  # (n, r-1, r)
            _, sv, Vh = torch.linalg.svd(WT)
            ok = sv[:, -1] > 1e-10
            if not bool(ok.all()):
                T, WT, Vh = T[ok], WT[ok], Vh[ok]
                n = len(T)
                if n == 0:
                    continue
            direc = Vh[:, -1, :]  # (n, r) null direction of W_T
            gram = WT @ WT.transpose(1, 2)
            lam = torch.linalg.solve(gram, -bt[T])
            p0 = (WT.transpose(1, 2) @ lam[..., None])[..., 0]
        alpha = direc @ Wt.T  # (n, k) slope of each pre-activation along the line
        beta = p0 @ Wt.T + bt  # (n, k) pre-activation at p0
        on_line = torch.zeros(n, k, dtype=torch.bool, device=dev)
        if r > 1:
            on_line.scatter_(1, T, True)
        scale = 1.0 + p0.norm(dim=1, keepdim=True)
        parallel = (alpha.abs() <= 1e-12) & ~on_line
        if bool((parallel & (beta.abs() <= _DEGENERATE_TOL * scale)).any()):
            return None
        crossing = ~on_line & ~parallel
        t = torch.where(crossing, -beta / torch.where(crossing, alpha, 1.0), torch.inf)
        s_minus = torch.where(parallel, beta > 0, alpha < 0) & ~on_line  # pattern at -inf
        base = g0 + s_minus.to(Mt.dtype) @ Mt  # (n, d)
        order = torch.argsort(t, dim=1)
        t_sorted = torch.gather(t, 1, order)
        ncross = int(crossing.sum(dim=1).max())
        if ncross == 0:
            continue
        order, t_sorted = order[:, :ncross], t_sorted[:, :ncross]
        valid = torch.isfinite(t_sorted)  # (n, c)
        if ncross > 1:
            gap = (t_sorted[:, 1:] - t_sorted[:, :-1]).abs()
            tie = (gap <= _DEGENERATE_TOL * (scale + t_sorted[:, 1:].abs())) & valid[:, 1:]
            if bool(tie.any()):
                lines = T.cpu().numpy() if r > 1 else np.zeros((n, 0), dtype=np.int64)
                fixed = _order_ties(W, b, lines, order, tie, direc.cpu().numpy())
                if fixed is None:
                    return None
                order = fixed
                t_sorted = torch.gather(t, 1, order)
        sgn = torch.where(torch.gather(alpha, 1, order) > 0, 1.0, -1.0) * valid
        mv = Mt[order]  # (n, c, d) contribution of each crossing unit
        change = sgn[..., None] * mv
        cum = torch.cumsum(change, dim=1) - change  # exclusive
        s0 = torch.gather(s_minus, 1, order).to(Mt.dtype)
        # gradient at the vertex without the crossing unit and the line's units
        vb = base[:, None, :] + cum - s0[..., None] * mv
        if r > 1:
            mT = Mt[T]  # (n, r-1, d)
            s_T = torch.gather(s_minus, 1, T).to(Mt.dtype)  # line units are excluded: 0
            vb = vb - (s_T[..., None] * mT).sum(dim=1)[:, None, :]
        # ||vb + z0 m_l + sum_i z_i m_Ti||^2 for all z, via inner products
        c = order.shape[1]
        P = torch.empty(n, c, r, dtype=Mt.dtype, device=dev)
        P[..., 0] = (vb * mv).sum(-1)
        G = torch.empty(n, c, r, r, dtype=Mt.dtype, device=dev)
        G[..., 0, 0] = MM_diag[order]
        if r > 1:
            P[..., 1:] = torch.bmm(vb, mT.transpose(1, 2))
            cross = MM[order[..., None], T[:, None, :]]  # (n, c, r-1)
            G[..., 0, 1:] = cross
            G[..., 1:, 0] = cross
            G[..., 1:, 1:] = (mT @ mT.transpose(1, 2))[:, None]
        base2 = (vb * vb).sum(-1)  # (n, c)
        vals = base2[..., None] + 2.0 * (P @ Z.T) + (G.reshape(n, c, r * r) @ ZZ.T)
        vals = torch.where(valid[..., None], vals, -torch.inf)
        flat = int(vals.argmax())
        val2 = float(vals.flatten()[flat])
        count += int(valid.sum())
        if val2 > best_val2:
            n_i, rem = divmod(flat, vals.shape[1] * vals.shape[2])
            c_i, z_i = divmod(rem, vals.shape[2])
            unit = int(order[n_i, c_i])
            line_units = T[n_i].cpu().numpy() if r > 1 else np.zeros(0, dtype=np.int64)
            S = np.r_[unit, line_units].astype(np.int64)
            vertex = (p0[n_i] + t_sorted[n_i, c_i] * direc[n_i]).cpu().numpy()
            best_val2 = val2
            best = (S, vertex, Z[z_i].cpu().numpy())
    if best is None:
        return None
    S_b, p_b, z_b = best
    y = _orthant_point(W, b, S_b, p_b, z_b)
    if y is None:
        return None
    # every vertex is visited by r lines: count distinct vertices
    return EnumResult(math.sqrt(max(best_val2, 0.0)), x0 + Q @ y, count // max(r, 1), complete)


def _order_ties(
    W: np.ndarray,
    b: np.ndarray,
    lines: np.ndarray,
    order: torch.Tensor,
    tie: torch.Tensor,
    direc: np.ndarray,
) -> torch.Tensor | None:
    """``order`` (n, c) with every run of tied crossings (``tie`` (n, c - 1): crossing j + 1
    within the tolerance of crossing j) put in its exact order along ``direc`` (n, r), the
    line of the hyperplanes ``lines`` (n, r - 1); None when two cross at one point."""
    out = order.cpu().numpy().copy()
    ties = tie.cpu().numpy()
    for i in np.flatnonzero(ties.any(axis=1)):
        j = 0
        while j < ties.shape[1]:
            if not ties[i, j]:
                j += 1
                continue
            end = j
            while end < ties.shape[1] and ties[i, end]:
                end += 1
            exact = _exact_order(W, b, lines[i], out[i, j : end + 1], direc[i])
            if exact is None:
                return None
            out[i, j : end + 1] = exact
            j = end + 1
    return torch.as_tensor(out, device=order.device)


def _exact_order(
    W: np.ndarray, b: np.ndarray, line: np.ndarray, units: np.ndarray, direc: np.ndarray
) -> np.ndarray | None:
    """``units`` sorted by where they cross the line {W_line x + b_line = 0} along
    ``direc``, in exact arithmetic on the float64 values; None when two cross at one point
    (then more than r hyperplanes meet there) or a system is singular."""
    rows = [[Fraction(float(v)) for v in W[j]] for j in line]
    rhs = [-Fraction(float(b[j])) for j in line]
    points = []
    for u in units:
        x = _rational_solve(
            [*rows, [Fraction(float(v)) for v in W[u]]], [*rhs, -Fraction(float(b[u]))]
        )
        if x is None:
            return None
        points.append(x)
    if len(set(points)) < len(points):
        return None
    # every point lies on the line exactly, so differences are along it; orient them as direc
    step = [p - q for p, q in zip(points[1], points[0], strict=True)]
    sign = 1 if sum(float(s) * float(c) for s, c in zip(step, direc, strict=True)) > 0 else -1
    keys = [sign * sum(s * c for s, c in zip(step, p, strict=True)) for p in points]
    return np.asarray(units)[sorted(range(len(keys)), key=keys.__getitem__)]


def _rational_solve(A: list[list[Fraction]], y: list[Fraction]) -> tuple[Fraction, ...] | None:
    """The solution of the square system A x = y by Gaussian elimination over the
    rationals (None when A is singular)."""
    n = len(A)
    M = [[*row, y[i]] for i, row in enumerate(A)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if M[r][col] != 0), None)
        if pivot is None:
            return None
        M[col], M[pivot] = M[pivot], M[col]
        for r in range(n):
            if r != col and M[r][col] != 0:
                f = M[r][col] / M[col][col]
                M[r] = [a - f * c for a, c in zip(M[r], M[col], strict=True)]
    return tuple(M[i][n] / M[i][i] for i in range(n))


def _orthant_point(
    W: np.ndarray, b: np.ndarray, S: np.ndarray, p: np.ndarray, z: np.ndarray
) -> np.ndarray | None:
    """A point of the region around vertex p on the side z of the hyperplanes S.

    p + eps * W_S^{-1} tau with tau = 2z - 1 puts unit S_j at eps * tau_j; eps is small
    enough that no other unit changes sign.
    """
    tau = 2.0 * z - 1.0
    direction = np.linalg.solve(W[S], tau)
    pre = W @ p + b
    others = np.ones(len(b), dtype=bool)
    others[S] = False
    step = np.abs(W @ direction)
    if others.any():
        room = np.abs(pre[others])
        with np.errstate(divide="ignore"):
            eps = 0.5 * float(np.min(np.where(step[others] > 0, room / step[others], np.inf)))
        eps = min(eps, 1.0)
    else:
        eps = 1.0
    if not math.isfinite(eps) or eps <= 0:
        return None
    y = p + eps * direction
    expected = pre > 0
    expected[S] = z > 0.5
    if not np.array_equal(W @ y + b > 0, expected):
        return None
    return y
