"""Ground truth for small two-layer piecewise-linear networks, by brute force.

Independent of the library's search code: every activation pattern s in {0, 1}^k is
listed, sorted by ||g(s)||, and the first one whose region has an interior point (an LP
maximizing the distance to all hyperplanes, HiGHS) is the maximum over R^d. On the
circle (d = 2, sphere) the tangential derivative is maximized arc by arc in closed form.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from scipy.optimize import linprog

from robustlaw.models import TwoLayer


def random_family(
    d: int, widths: list[int], seed: int, activation: str = "relu", bias: bool = True
) -> TwoLayer:
    """A float64 family with N(0, 1) weights (scaled), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    B, k = len(widths), max(widths)
    W = torch.randn(B, k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    b = torch.randn(B, k, generator=gen, dtype=torch.float64) * 0.5 if bias else None
    a = torch.randn(B, k, generator=gen, dtype=torch.float64) / math.sqrt(k)
    mask = torch.zeros(B, k, dtype=torch.bool)
    for i, w in enumerate(widths):
        mask[i, :w] = True
    return TwoLayer.from_tensors(W, a, b, activation=activation, mask=mask)


def _arrays(family: TwoLayer, member: int):
    w = family.effective_weights()
    keep = w.mask[member].numpy()
    W = w.W[member].numpy()[keep]
    a = w.a[member].numpy()[keep]
    b = np.zeros(len(W)) if w.b is None else w.b[member].numpy()[keep]
    lo = min(w.activation.slopes)
    hi = max(w.activation.slopes)
    return W, b, a, lo, hi


def realizable(W: np.ndarray, b: np.ndarray, s: np.ndarray, margin: float = 1e-9) -> bool:
    """Whether the region of pattern s has an interior point (LP, HiGHS)."""
    d = W.shape[1]
    norms = np.linalg.norm(W, axis=1)
    live = norms > 0
    if (s[~live] != (b[~live] > 0)).any():  # a unit with w_l = 0 is constant
        return False
    if not live.any():
        return True
    sign = np.where(s, 1.0, -1.0)[live]
    Wn = W[live] / norms[live, None]
    bn = b[live] / norms[live]
    A = np.hstack([-(sign[:, None] * Wn), np.ones((live.sum(), 1))])
    cost = np.zeros(d + 1)
    cost[-1] = -1.0
    res = linprog(
        cost, A_ub=A, b_ub=sign * bn, bounds=[(None, None)] * d + [(None, 1.0)], method="highs"
    )
    return res.status == 0 and -res.fun > margin


def brute_force_rd(family: TwoLayer, member: int) -> float:
    """Lip of member on R^d: max over realizable patterns of ||g(s)|| (k <= 12)."""
    W, b, a, lo, hi = _arrays(family, member)
    k = len(W)
    pats = np.array(list(itertools.product([False, True], repeat=k)), dtype=bool)
    slopes = np.where(pats, hi, lo)
    G = (slopes * a) @ W
    norms = np.linalg.norm(G, axis=1)
    for i in np.argsort(-norms):
        if realizable(W, b, pats[i]):
            return float(norms[i])
    return 0.0


def pattern_maximum(family: TwoLayer, member: int) -> float:
    """max over all s in {lo, hi}^k of ||W^T diag(s) a|| (realizable or not)."""
    W, _, a, lo, hi = _arrays(family, member)
    pats = np.array(list(itertools.product([lo, hi], repeat=len(W))))
    return float(np.linalg.norm((pats * a) @ W, axis=1).max())


def brute_force_circle(family: TwoLayer, member: int) -> float:
    """Lip on the unit circle (d = 2): sup of |d/dtheta f(cos theta, sin theta)|."""
    W, b, a, lo, hi = _arrays(family, member)
    assert W.shape[1] == 2
    R = np.linalg.norm(W, axis=1)
    phi = np.arctan2(W[:, 1], W[:, 0])
    cuts = [0.0, 2 * np.pi]
    for r, p, c in zip(R, phi, b, strict=True):
        if r > abs(c):
            gam = np.arccos(-c / r)
            cuts += [np.mod(p + gam, 2 * np.pi), np.mod(p - gam, 2 * np.pi)]
    cuts = np.sort(np.array(cuts))
    best = 0.0
    for t0, t1 in itertools.pairwise(cuts):
        if t1 - t0 < 1e-12:
            continue
        mid = 0.5 * (t0 + t1)
        x = np.array([np.cos(mid), np.sin(mid)])
        s = W @ x + b > 0
        g = (np.where(s, hi, lo) * a) @ W
        # g . t(theta) with t = (-sin, cos): A cos + B sin, A = g1, B = -g0
        A, Bc = g[1], -g[0]
        cands = [t0, t1]
        root = np.arctan2(Bc, A)  # maximum of A cos + B sin at theta = root (mod pi)
        for th in (root, root + np.pi, root - np.pi, root + 2 * np.pi):
            if t0 < th < t1:
                cands.append(th)
        best = max(best, max(abs(A * np.cos(th) + Bc * np.sin(th)) for th in cands))
    return float(best)
