"""Compiled inner loops of the exact solver's node bounds (numba).

A node of the branch and bound costs under a millisecond, much of it in many small array
operations (d ~ 10, tens of free units) whose interpreter overhead exceeds their
arithmetic. Compiled, a child's semidefinite bound (8 dual iterations, d = 10, 46 columns)
takes 21 us instead of 63 us in numpy, and one process searches about 1,750 nodes per
second instead of 1,150 on the Lipschitz bench's trained d = 10, k = 64 net (node counts
per run: ``bench/exact_bench.py --compare --bench-net``). The first call after
installation compiles them (about 5 s); later processes load them from numba's on-disk
cache (about 0.25 s).

The mathematics is documented where the functions are used
(:func:`robustlaw._pl.bnb.sdp_bound`, ``_relaxation``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["fixed_point_ascent", "sdp_iterations"]


@njit(cache=True)
def _weights(A: np.ndarray, AT: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lambda_i = ||Y^T a_i|| (floored at 1e-12 max) and K = sum_i a_i a_i^T / lambda_i."""
    B = AT @ Y
    n = B.shape[0]
    lam = np.sqrt((B * B).sum(axis=1))
    floor = 1e-12 * max(lam.max(), 1e-300)
    for i in range(n):
        if lam[i] < floor:
            lam[i] = floor
    return lam, (A / lam) @ AT


@njit(cache=True)
def _value(lam: np.ndarray, K: np.ndarray) -> float:
    """The certified bound sqrt(lambda_max(K) sum lambda) (with a 1e-10 relative pad)."""
    rho = np.linalg.eigvalsh(K)[-1]
    return math.sqrt(max(rho * lam.sum(), 0.0)) * (1.0 + 1e-10)


@njit(cache=True)
def sdp_iterations(
    A: np.ndarray, Y0: np.ndarray, cold: bool, iters: int, every: int, target: float
) -> tuple[float, np.ndarray]:
    """Dual iterations Y <- K(Y) Y of :func:`~robustlaw._pl.bnb.sdp_bound`
    from Y0 (or from Y = I when ``cold``, then not evaluated itself), evaluated every
    ``every`` iterations and at the last; stops once the bound is at most ``target``.

    A : (d, n); Y0 : (d, d). Returns (best bound, its dual point Y (d, d)); the bound is
    inf when ``cold`` and ``iters`` is 0.
    """
    d = A.shape[0]
    AT = np.ascontiguousarray(A.T)
    Y = np.eye(d) if cold else Y0.copy()
    lam, K = _weights(A, AT, Y)
    best = math.inf
    best_Y = Y
    if not cold:
        best = _value(lam, K)
    if best <= target or iters == 0:
        return best, best_Y
    for i in range(iters):
        Y = K @ Y  # K(Y) Y does not depend on the scale of Y: no normalization
        lam, K = _weights(A, AT, Y)
        if i % every == every - 1 or i == iters - 1:
            val = _value(lam, K)
            if val < best:
                best = val
                best_Y = Y
            if best <= target:
                break
    return best, best_Y


@njit(cache=True)
def fixed_point_ascent(
    g: np.ndarray, Mu: np.ndarray, u0: np.ndarray, max_iter: int
) -> tuple[np.ndarray, float]:
    """A local maximizer of ||g + Mu^T s|| over s in {0,1}^n: s = [Mu u > 0] and
    u = g + Mu^T s alternated from the direction u0 until s repeats.

    g : (d,); Mu : (n, d); u0 : (d,). Returns (s (n,) bool, ||g + Mu^T s||).
    """
    n = Mu.shape[0]
    s = (Mu @ u0) > 0
    for _ in range(max_iter):
        u = g.copy()
        for i in range(n):
            if s[i]:
                u += Mu[i]
        s_new = (Mu @ u) > 0
        same = True
        for i in range(n):
            if s_new[i] != s[i]:
                same = False
                break
        if same:
            break
        s = s_new
    u = g.copy()
    for i in range(n):
        if s[i]:
            u += Mu[i]
    return s, math.sqrt((u * u).sum())


@njit(cache=True)
def _lowest_bit(x: np.uint64) -> int:
    """Index of the lowest set bit of a nonzero word."""
    i = 0
    while (x >> np.uint64(i)) & np.uint64(1) == 0:
        i += 1
    return i


@njit(cache=True)
def unit_propagation(
    sign: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    n: int,
    lit_rows: np.ndarray,
    lit_count: np.ndarray,
    changed: np.ndarray,
    since: int,
    full: bool,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Unit propagation of :meth:`robustlaw._pl.nogoods.NoGoods.propagate`.

    sign : (k,) int8, changed in place; pos, neg : (capacity, w) uint64 bit masks of the
    no-goods' on and off units (the first ``n`` rows are used); lit_rows : (2k, cap)
    int64 rows holding each literal (unit l on: 2 l + 1, off: 2 l), lit_count : (2k,).
    The rows checked first are every row when ``full``, else the rows of the literals of
    ``changed`` and rows ``since`` to n; then the rows of each forced literal.
    Returns (sign, forced units (f,), empty).
    """
    w = pos.shape[1]
    k = sign.shape[0]
    P = np.zeros(w, dtype=np.uint64)
    N = np.zeros(w, dtype=np.uint64)
    one = np.uint64(1)
    for unit in range(k):
        if sign[unit] > 0:
            P[unit // 64] |= one << np.uint64(unit % 64)
        elif sign[unit] < 0:
            N[unit // 64] |= one << np.uint64(unit % 64)
    queue = np.empty(0, dtype=np.int64)
    if full:
        queue = np.arange(n)
    else:
        total = n - since if since < n else 0
        for unit in changed:
            total += lit_count[2 * unit + (1 if sign[unit] > 0 else 0)]
        queue = np.empty(total, dtype=np.int64)
        j = 0
        for unit in changed:
            lit = 2 * unit + (1 if sign[unit] > 0 else 0)
            for t in range(lit_count[lit]):
                queue[j] = lit_rows[lit, t]
                j += 1
        for r in range(since, n):
            queue[j] = r
            j += 1
    forced = np.empty(k, dtype=np.int64)
    n_forced = 0
    while queue.shape[0] > 0:
        start = n_forced
        for r in queue:
            dead = False
            for i in range(w):
                if (pos[r, i] & N[i]) | (neg[r, i] & P[i]):
                    dead = True
                    break
            if dead:
                continue
            word = -1
            several = False
            for i in range(w):
                miss = (pos[r, i] & ~P[i]) | (neg[r, i] & ~N[i])
                if miss:
                    if word >= 0 or (miss & (miss - one)):
                        several = True
                        break
                    word = i
            if several:
                continue
            if word < 0:  # every unit matches: no region
                return sign, forced[:n_forced], True
            miss = (pos[r, word] & ~P[word]) | (neg[r, word] & ~N[word])
            bit = _lowest_bit(miss)
            unit = 64 * word + bit
            mask = one << np.uint64(bit)
            if pos[r, word] & mask:  # the no-good has the unit on: it must be off
                sign[unit] = -1
                N[word] |= mask
            else:
                sign[unit] = 1
                P[word] |= mask
            forced[n_forced] = unit
            n_forced += 1
        if n_forced == start:
            break
        total = 0
        for f in range(start, n_forced):
            unit = forced[f]
            total += lit_count[2 * unit + (1 if sign[unit] > 0 else 0)]
        queue = np.empty(total, dtype=np.int64)
        j = 0
        for f in range(start, n_forced):
            unit = forced[f]
            lit = 2 * unit + (1 if sign[unit] > 0 else 0)
            for t in range(lit_count[lit]):
                queue[j] = lit_rows[lit, t]
                j += 1
    return sign, forced[:n_forced], False
