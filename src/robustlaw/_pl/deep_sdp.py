"""LipSDP-Neuron for deep stacks, solved on its multipliers alone (no SDP solver).

LipSDP-Neuron (Fazlyab, Robey, Hassani, Morari, Pappas, NeurIPS 2019, Theorem 2) certifies
Lip(f) <= sqrt(rho) whenever M(rho, lam) <= 0, with M affine in (rho, lam) over the blocks
(dx, dh_1, ..., dh_{D-1}) (see :mod:`robustlaw.lipschitz.lipsdp`). Writing
M(0, lam) = [[P, Q], [Q^T, S]] with the hidden block S < 0, the least feasible rho is

    rho(lam) = lambda_max(P - Q S^-1 Q^T) = max_{|w| = 1} max_y (w, y)^T M(0, lam) (w, y),

a convex function of lam (a supremum of affine ones), whose gradient (Danskin) at the top
eigenvector w and y = -S^-1 Q^T w is, for unit u of layer j with a = W_j xi_{j-1}:

    d rho / d lam_u = -2 lo hi a_u^2 + 2 (lo + hi) a_u xi_{j,u} - 2 xi_{j,u}^2.

:func:`lipsdp_schur` starts from a feasible point built layer by layer (the block
elimination of the tridiagonal S from the last layer down) and minimizes rho over
log lam by gradient steps (Barzilai-Borwein lengths, non-monotone backtracking over
feasible points) on a log-sum-exp smoothing of the eigenvalues whose width shrinks in
stages; the caller certifies the returned multipliers in float64.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["lipsdp_schur"]

#: Smoothing widths mu / rho(start) of the successive stages (the last is lambda_max).
_STAGES = (1e-2, 1e-3, 1e-4, 0.0)


class _Problem:
    """rho(lam) and its gradient for fixed weights (relu or any slopes lo <= hi)."""

    def __init__(
        self, Ws: list[np.ndarray], v: np.ndarray, slopes: list[tuple[float, float]]
    ) -> None:
        self.Ws, self.v, self.slopes = Ws, v, slopes
        self.sizes = [W.shape[0] for W in Ws[:-1]]
        self.d = Ws[0].shape[1]
        self.off = np.concatenate([[0], np.cumsum([self.d, *self.sizes])]).astype(int)
        N = self.off[-1]
        e = np.zeros(N)
        e[: self.d] = v
        e[self.off[-2] : self.off[-1]] += Ws[-1][0]
        self.E = np.outer(e, e)

    def split(self, lam: np.ndarray) -> list[np.ndarray]:
        return np.split(lam, np.cumsum(self.sizes)[:-1])

    def matrix(self, lam: np.ndarray) -> np.ndarray:
        M = self.E.copy()
        off = self.off
        for j, lj in enumerate(self.split(lam)):
            W, (lo, hi) = self.Ws[j], self.slopes[j]
            i0, i1, k0, k1 = off[j], off[j + 1], off[j + 1], off[j + 2]
            if lo * hi != 0:
                M[i0:i1, i0:i1] -= 2.0 * lo * hi * (W.T * lj) @ W
            cross = (lo + hi) * (W.T * lj)
            M[i0:i1, k0:k1] += cross
            M[k0:k1, i0:i1] += cross.T
            M[k0:k1, k0:k1] -= np.diag(2.0 * lj)
        return M

    def rho(self, lam: np.ndarray, mu: float = 0.0) -> tuple[float, float, np.ndarray] | None:
        """(rho(lam), its smoothing, gradient of the smoothing), or None when S is not
        negative definite. The smoothing mu log sum_i exp(lambda_i / mu) over the
        eigenvalues of the Schur complement (mu = 0: lambda_max itself) is >= rho."""
        d = self.d
        M = self.matrix(lam)
        P, Q, S = M[:d, :d], M[:d, d:], M[d:, d:]
        try:
            L = np.linalg.cholesky(-S)
        except np.linalg.LinAlgError:
            return None
        Z = np.linalg.solve(L, Q.T)  # S^-1 = -L^-T L^-1
        schur = P + Z.T @ Z
        evals, evecs = np.linalg.eigh(0.5 * (schur + schur.T))
        top = float(evals[-1])
        if mu > 0:
            wts = np.exp((evals - top) / mu)
            smooth = top + mu * float(np.log(wts.sum()))
            wts /= wts.sum()
        else:
            wts, smooth = np.zeros(d), top
            wts[-1] = 1.0
        keep = wts > 1e-12
        Wv = evecs[:, keep]
        Y = np.linalg.solve(L.T, Z @ Wv)  # y = -S^-1 Q^T w, one column per eigenvector
        Xi = np.r_[Wv, Y]
        p = wts[keep]
        grads = []
        for j, _ in enumerate(self.sizes):
            W, (lo, hi) = self.Ws[j], self.slopes[j]
            a = W @ Xi[self.off[j] : self.off[j + 1]]
            q = Xi[self.off[j + 1] : self.off[j + 2]]
            grads.append((-2 * lo * hi * a * a + 2 * (lo + hi) * a * q - 2 * q * q) @ p)
        return top, smooth, np.concatenate(grads)

    def start(self) -> np.ndarray:
        """A feasible lam: uniform per layer, chosen from the last layer down so that
        each eliminated block stays negative definite (with a factor 2 of room)."""
        lams: list[np.ndarray] = [np.zeros(n) for n in self.sizes]
        off, d = self.off, self.d
        for j in range(len(self.sizes) - 1, -1, -1):
            lams[j] = np.full(self.sizes[j], 1.0)
            M = self.matrix(np.concatenate(lams))[d:, d:]
            k0 = off[j + 1] - d
            rest = M[k0:, k0:].copy()
            rest[: self.sizes[j], : self.sizes[j]] += np.diag(2.0 * lams[j])  # remove -2 I
            # need 2 t I > rest's block after eliminating the later blocks (t = lam_j)
            head = rest[: self.sizes[j], : self.sizes[j]]
            if rest.shape[0] > self.sizes[j]:
                C = rest[: self.sizes[j], self.sizes[j] :]
                T = rest[self.sizes[j] :, self.sizes[j] :]
                head = head - C @ np.linalg.solve(T, C.T)
            top = float(np.linalg.eigvalsh(0.5 * (head + head.T))[-1])
            lams[j] = np.full(self.sizes[j], max(top, 1e-12))  # 2 t > top with t = top
        return np.concatenate(lams)


def lipsdp_schur(
    Ws: list[np.ndarray],
    v: np.ndarray,
    slopes: list[tuple[float, float]],
    seconds: float | None = None,
    max_iter: int = 500,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Multipliers lam (one array per hidden layer) minimizing rho(lam), and counters.

    Ws : the layers (n_{j+1}, n_j), the last (1, n_{D-1}); v : (d,) skip; slopes : the
    (lo, hi) of every hidden layer. The time limit is checked at every evaluation.
    """
    prob = _Problem(Ws, v, slopes)
    if not prob.sizes or sum(prob.sizes) == 0:
        return [np.zeros(n) for n in prob.sizes], {"iterations": 0, "timed_out": False}
    deadline = None if seconds is None else time.perf_counter() + seconds
    theta = np.log(prob.start())
    best_rho, best_theta = math.inf, theta
    evals, timed_out, iterations = 0, False, 0
    scale = None
    for stage in range(len(_STAGES)):
        if timed_out:
            break
        rho0, _, _ = _eval(prob, theta, 0.0)
        scale = scale or rho0
        mu = _STAGES[stage] * scale
        f, _, g = _eval(prob, theta, mu)
        evals += 1
        recent, alpha = [f], 0.1 / max(float(np.abs(g).max()), 1e-300)
        for _ in range(max_iter // len(_STAGES)):
            if deadline is not None and time.perf_counter() > deadline:
                timed_out = True
                break
            iterations += 1
            for _ in range(40):  # backtrack: feasible and below the recent maximum
                new = theta - alpha * g
                f_new, rho_new, g_new = _eval(prob, new, mu)
                evals += 1
                if f_new <= max(recent) - 1e-4 * alpha * float(g @ g):
                    break
                alpha *= 0.5
            else:
                break
            step, diff = new - theta, g_new - g
            theta, f, g = new, f_new, g_new
            recent = [*recent, f][-10:]
            if rho_new < best_rho:
                best_rho, best_theta = rho_new, theta.copy()
            sy = float(step @ diff)
            alpha = float(step @ step) / sy if sy > 0 else 2.0 * alpha  # Barzilai-Borwein
            if float(np.abs(step).max()) < 1e-9:
                break
    lam = np.exp(best_theta)
    info = {
        "iterations": iterations,
        "evaluations": evals,
        "rho_search": best_rho,
        "timed_out": timed_out,
    }
    return prob.split(lam), info


def _eval(prob: _Problem, theta: np.ndarray, mu: float) -> tuple[float, float, np.ndarray]:
    """(smoothed rho, rho, gradient of the smoothing in log lam); (inf, inf, 0) where
    the hidden block is not negative definite."""
    lam = np.exp(theta)
    out = prob.rho(lam, mu)
    if out is None:
        return math.inf, math.inf, np.zeros_like(theta)
    top, smooth, grad = out
    return smooth, top, grad * lam
