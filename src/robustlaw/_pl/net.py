"""A two-layer piecewise-linear network in float64, and its arrangement of hyperplanes.

A member f(x) = sum_l a_l psi(w_l . x + b_l) + c + v . x with psi piecewise linear with
slopes lo (below 0) and hi (above; relu: 0, 1; leaky relu: alpha, 1) has, on the region
with activation pattern s in {0, 1}^k,

    grad f = v + lo W^T a + (hi - lo) W^T diag(s) a = g0 + M^T s,

with g0 = v + lo sum_l a_l w_l and rows m_l = (hi - lo) a_l w_l (docs/science.md,
Section 5). :class:`PLNet` is the member as given (every unit, used to verify witnesses);
its :attr:`~PLNet.arrangement` is the reduced form every search works on: unit normals,
inert units dropped, units on one hyperplane merged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from robustlaw._pl.bounds import slope_bounds

__all__ = ["Arrangement", "PLNet", "family_nets", "pl_nets", "tangential"]


def tangential(G: Any, X: Any) -> Any:
    """||(I - x x^T / ||x||^2) g|| row by row: the tangential part of g at x on the sphere.

    G, X : numpy arrays or torch tensors of shape (..., d) -> (...).
    """
    Xn = X / ((X * X).sum(-1)[..., None] ** 0.5 + 1e-300)
    R = G - (G * Xn).sum(-1)[..., None] * Xn
    return (R * R).sum(-1) ** 0.5


@dataclass(frozen=True)
class Arrangement:
    """A member reduced to grad f = g0 + M^T s over the regions of {W x + b = 0}.

    Attributes
    ----------
    W : (k, d) unit normals (units with w_l = 0 or m_l = 0 removed, one row per
        hyperplane).
    b : (k,) offsets, divided by the original row norms (same hyperplanes, same sides).
    M : (k, d) gradient contribution m_l of each unit when active.
    g0 : (d,) gradient with every unit inactive.
    """

    W: np.ndarray
    b: np.ndarray
    M: np.ndarray
    g0: np.ndarray

    @property
    def k(self) -> int:
        return self.W.shape[0]

    @property
    def d(self) -> int:
        return self.g0.shape[0]

    def pattern(self, x: np.ndarray) -> np.ndarray:
        """Activation pattern (pre-activation > 0): (d,) or (n, d) -> bool (k,) or (n, k)."""
        return x @ self.W.T + self.b > 0

    def gradient(self, s: np.ndarray) -> np.ndarray:
        """g0 + M^T s for patterns s: (k,) or (n, k) -> (d,) or (n, d)."""
        return self.g0 + s.astype(np.float64) @ self.M

    def value(self, x: np.ndarray, domain: str) -> float:
        """||grad f|| of the region of x (tangential on the sphere)."""
        g = self.gradient(self.pattern(x))
        return float(tangential(g, x) if domain == "sphere" else np.linalg.norm(g))

    def margin(self, x: np.ndarray) -> float:
        """Distance from x to the nearest hyperplane (inf without units)."""
        return float(np.abs(self.W @ x + self.b).min()) if self.k else math.inf

    def interior(self, x: np.ndarray, rel: float = 1e-7) -> bool:
        """x is away from every hyperplane by |w_l . x + b_l| > rel (|w_l| . |x| + |b_l|)."""
        z = np.abs(self.W @ x + self.b)
        return bool((z > rel * (np.abs(self.W) @ np.abs(x) + np.abs(self.b))).all())

    def flip_values(self, s: np.ndarray, g: np.ndarray) -> np.ndarray:
        """||g(s with unit l flipped)||^2 for every unit l, from g = g(s): (k,)."""
        step = np.where(s, -1.0, 1.0)
        return g @ g + 2 * step * (self.M @ g) + (self.M * self.M).sum(axis=1)


@dataclass(frozen=True)
class PLNet:
    """One two-layer piecewise-linear member as float64 numpy arrays (every real unit).

    Attributes
    ----------
    W : (k, d) hidden weights; b : (k,) hidden biases; a : (k,) output weights;
    v : (d,) linear skip (zeros when none); lo, hi : the activation's two slopes.
    """

    W: np.ndarray
    b: np.ndarray
    a: np.ndarray
    v: np.ndarray
    lo: float = 0.0
    hi: float = 1.0
    _norms: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_norms", np.linalg.norm(self.W, axis=1))

    @property
    def k(self) -> int:
        return self.W.shape[0]

    @property
    def d(self) -> int:
        return self.W.shape[1]

    def gradient_at(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """Gradient of the member at X in float64, its pattern, and its margin.

        X : (d,) or (n, d). Returns ``(grad (..., d), pattern (..., k) bool, margin)``:
        the margin is the smallest |w_l . x + b_l| / ||w_l|| over units with w_l != 0 (the
        distance from x to the nearest kink; every point within it has this gradient).
        """
        pre = X @ self.W.T + self.b
        pattern = pre > 0
        grad = (np.where(pattern, self.hi, self.lo) * self.a) @ self.W + self.v
        live = self._norms > 0
        dist = np.abs(pre[..., live]) / self._norms[live]
        margin = dist.min(axis=-1) if live.any() else np.full(pre.shape[:-1], math.inf)
        return grad, pattern, margin

    def verified(self, x: np.ndarray, domain: str) -> tuple[float, np.ndarray, float] | None:
        """(value, pattern, margin) at x recomputed on the member, or None when x is no
        witness (on a kink, outside the open ball); on the sphere x is normalized first
        and the value is the tangential norm."""
        if domain == "sphere":
            x = x / np.linalg.norm(x)
        grad, pattern, margin = self.gradient_at(x)
        if not margin > 0 or (domain == "ball" and not np.linalg.norm(x) < 1.0):
            return None
        value = tangential(grad, x) if domain == "sphere" else np.linalg.norm(grad)
        return float(value), pattern, float(margin)

    @cached_property
    def arrangement(self) -> Arrangement:
        """The reduced form (see :class:`Arrangement`).

        Units with w_l = 0 are constant and units with a_l = 0 do not move the gradient:
        both are dropped (the arrangement of the others has the same maximal gradient,
        since each of its regions contains a region of the full arrangement). Units on
        the same hyperplane with the same side are merged (their contributions add);
        units on the same hyperplane with opposite sides are merged with s' = 1 - s.
        """
        g0 = self.v + self.lo * (self.a @ self.W)
        M = (self.hi - self.lo) * self.a[:, None] * self.W
        keep = (self._norms > 0) & (np.abs(self.a) > 0) & (self.hi != self.lo)
        Wn = self.W[keep] / self._norms[keep, None]
        bn = self.b[keep] / self._norms[keep]
        M = M[keep]
        if len(Wn) <= 1:
            return Arrangement(Wn, bn, M, g0)
        key = np.c_[Wn, bn]
        flip = np.array([_first_sign(row) for row in key])
        canon = key * flip[:, None]
        order = np.lexsort(canon.T[::-1])
        same = np.all(np.abs(np.diff(canon[order], axis=0)) <= 1e-12, axis=1)
        if not same.any():
            return Arrangement(Wn, bn, M, g0)
        groups: list[list[int]] = [[int(order[0])]]
        for i, dup in enumerate(same):
            if dup:
                groups[-1].append(int(order[i + 1]))
            else:
                groups.append([int(order[i + 1])])
        rows = []
        for group in groups:
            head = group[0]
            m = np.zeros(self.d)
            for j in group:
                if flip[j] == flip[head]:
                    m += M[j]
                else:  # opposite side: s_j = 1 - s_head
                    g0 = g0 + M[j]
                    m -= M[j]
            if np.any(m != 0):
                rows.append((Wn[head], bn[head], m))
        d = self.d
        return Arrangement(
            np.array([r[0] for r in rows]).reshape(-1, d),
            np.array([r[1] for r in rows]),
            np.array([r[2] for r in rows]).reshape(-1, d),
            g0,
        )


def _first_sign(row: np.ndarray) -> float:
    """+1 or -1 so that the first entry of larger magnitude than 1e-12 is positive."""
    nz = np.flatnonzero(np.abs(row) > 1e-12)
    return -1.0 if len(nz) and row[nz[0]] < 0 else 1.0


def pl_nets(
    W: Any, b: Any, a: Any, v: Any, slopes: tuple[float, float], mask: Any = None
) -> list[PLNet]:
    """One :class:`PLNet` per member of batched weights (torch tensors or arrays).

    W : (B, k, d); b : (B, k) or None; a : (B, k); v : (B, d) or None; slopes : the
    activation's (lo, hi); mask : (B, k) bool or None, True for the units that exist
    (the others are left out).
    """

    def arr(t: Any) -> np.ndarray:
        t = t.detach().cpu() if hasattr(t, "detach") else t
        return np.asarray(t, dtype=np.float64)

    W = arr(W)
    B, k, d = W.shape
    b = np.zeros((B, k)) if b is None else arr(b)
    v = np.zeros((B, d)) if v is None else arr(v)
    a = arr(a)
    keep = np.ones((B, k), dtype=bool) if mask is None else arr(mask) > 0
    lo, hi = float(slopes[0]), float(slopes[1])
    return [
        PLNet(W[i][keep[i]], b[i][keep[i]], a[i][keep[i]], v[i].copy(), lo, hi) for i in range(B)
    ]


def family_nets(family: Any) -> list[PLNet]:
    """One :class:`PLNet` per member of a two-layer family (anything with
    ``effective_weights()``, e.g. :class:`robustlaw.models.TwoLayer`); masked units are
    left out."""
    w = family.effective_weights()
    return pl_nets(w.W, w.b, w.a, w.v, slope_bounds(w.activation), w.mask)
