"""LipSDP-Neuron for deep stacks, solved on its multipliers alone (no SDP solver).

LipSDP-Neuron (Fazlyab, Robey, Hassani, Morari, Pappas, NeurIPS 2019, Theorem 2) certifies
Lip(f) <= sqrt(rho) whenever M(rho, lam) <= 0, with M affine in (rho, lam). Here it is
written over a vector xi = (dx, q) of the input difference dx (d,) and the output
differences q (F,) of the *free* units: every pre-activation difference is a linear map
a_u . xi, the output difference is c . xi, and unit u contributes the quadratic
constraint 2 (q_u - lo_u a_u . xi)(hi_u a_u . xi - q_u) >= 0 with multiplier lam_u:

    M(0, lam) = c c^T + sum_u lam_u [-2 lo hi a_u a_u^T + (lo + hi)(a_u e_u^T + e_u a_u^T)
                                      - 2 e_u e_u^T].

With every unit free this is LipSDP-Neuron itself; a unit whose slope is pinned (a node of
the branch and bound over activation patterns) is not a variable: its output is its slope
times its pre-activation, folded into the maps of the later layers. Any diagonal slopes
t_u in [lo_u, hi_u] satisfy the constraints with q_u = t_u a_u . xi, so sqrt(rho) bounds
||J|| for every such J = w Lambda_{D-1} W_{D-1} ... Lambda_1 W_1 + v.

Writing M(0, lam) = [[P, Q], [Q^T, S]] with the hidden block S < 0, the least feasible rho is

    rho(lam) = lambda_max(P - Q S^-1 Q^T) = max_{|w| = 1} max_y (w, y)^T M(0, lam) (w, y),

a convex function of lam (a supremum of affine ones), whose gradient (Danskin) at the top
eigenvector w and y = -S^-1 Q^T w is, for unit u with a = a_u . xi:

    d rho / d lam_u = -2 lo hi a^2 + 2 (lo + hi) a q_u - 2 q_u^2.

:func:`lipsdp_schur` starts from a feasible point built layer by layer (the block
elimination of S from the last layer down) and minimizes rho over log lam by gradient
steps (Barzilai-Borwein lengths, non-monotone backtracking over feasible points) on a
log-sum-exp smoothing of the eigenvalues whose width shrinks in stages.
:meth:`SDPProblem.certify` checks multipliers in float64.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["SDPProblem", "lipsdp_schur", "minimize"]

#: Smoothing widths mu / rho(start) of the successive stages (the last is lambda_max).
_STAGES = (1e-2, 1e-3, 1e-4, 0.0)
#: Relative paddings of rho tried, in order, by :meth:`SDPProblem.certify`.
_PADS = (1e-9, 1e-8, 1e-7, 1e-6, 1e-5)


class SDPProblem:
    """rho(lam) and its gradient for fixed weights and a set of pinned units.

    Parameters
    ----------
    Ws : the layers (n_{j+1}, n_j), the last (1, n_{D-1}); v : (d,) skip.
    slopes : (lo, hi) of every hidden layer.
    pinned : (N,) float array over the hidden units of all layers, NaN for a free unit,
        else the unit's fixed slope; None: every unit free.
    """

    def __init__(
        self,
        Ws: list[np.ndarray] | tuple[np.ndarray, ...],
        v: np.ndarray,
        slopes: list[tuple[float, float]],
        pinned: np.ndarray | None = None,
    ) -> None:
        d = Ws[0].shape[1]
        sizes = [W.shape[0] for W in Ws[:-1]]
        pinned = np.full(sum(sizes), np.nan) if pinned is None else pinned
        free = np.isnan(pinned)
        F = int(free.sum())
        self.d, self.F = d, F
        rows, lo, hi, group = [], [], [], []
        L = np.zeros((Ws[0].shape[0], d + F))
        L[:, :d] = Ws[0]
        start, k = 0, d
        for j, n in enumerate(sizes):
            f = free[start : start + n]
            H = pinned[start : start + n, None] * L
            H[f] = 0.0
            idx = np.arange(k, k + int(f.sum()))
            H[np.flatnonzero(f), idx] = 1.0
            rows.append(L[f])
            lo += [slopes[j][0]] * len(idx)
            hi += [slopes[j][1]] * len(idx)
            group += [j] * len(idx)
            L = Ws[j + 1] @ H
            start, k = start + n, k + len(idx)
        self.c = L[0].copy()
        self.c[:d] += v
        self.A = np.concatenate(rows) if rows else np.zeros((0, d + F))
        self.lo, self.hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
        self.group = np.array(group, dtype=int)
        self.free = free

    def matrix(self, lam: np.ndarray) -> np.ndarray:
        """M(0, lam): (d + F, d + F)."""
        d, A = self.d, self.A
        M = np.outer(self.c, self.c)
        prod = lam * self.lo * self.hi
        if prod.any():
            M -= 2.0 * (A.T * prod) @ A
        cross = A.T * (lam * (self.lo + self.hi))
        M[:, d:] += cross
        M[d:, :] += cross.T
        M[d:, d:] -= np.diag(2.0 * lam)
        return M

    def rho(self, lam: np.ndarray, mu: float = 0.0) -> tuple[float, float, np.ndarray] | None:
        """(rho(lam), its smoothing, gradient of the smoothing), or None when S is not
        negative definite. The smoothing mu log sum_i exp(lambda_i / mu) over the
        eigenvalues of the Schur complement (mu = 0: lambda_max itself) is >= rho."""
        top, smooth, Xi, p = self._top(lam, mu) or (None, None, None, None)
        if top is None:
            return None
        return top, smooth, self.slack(Xi) @ p

    def _top(self, lam: np.ndarray, mu: float) -> tuple[float, float, np.ndarray, np.ndarray]:
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
        return top, smooth, np.r_[Wv, Y], wts[keep]

    def slack(self, Xi: np.ndarray) -> np.ndarray:
        """xi^T Phi_u xi for every free unit u and column xi of Xi: (F, m)."""
        a = self.A @ Xi
        q = Xi[self.d :]
        lo, hi = self.lo[:, None], self.hi[:, None]
        return -2 * lo * hi * a * a + 2 * (lo + hi) * a * q - 2 * q * q

    def relaxed(self, lam: np.ndarray) -> np.ndarray:
        """How far each free unit's q_u is from both of its slopes at the top eigenvector
        of the Schur complement, min(|q - lo a|, |q - hi a|): (F,) (zeros when S is not
        negative definite). Large values mark the units the relaxation leans on."""
        out = self._top(lam, 0.0)
        if out is None:
            return np.zeros(self.F)
        xi = out[2][:, -1]
        a, q = self.A @ xi, xi[self.d :]
        return np.minimum(np.abs(q - self.lo * a), np.abs(q - self.hi * a))

    def start(self) -> np.ndarray:
        """A feasible lam: uniform per layer, chosen from the last layer down so that
        each eliminated block stays negative definite (with a factor 2 of room)."""
        lam = np.zeros(self.F)
        d = self.d
        for j in sorted(set(self.group.tolist()), reverse=True):
            sel = np.flatnonzero(self.group == j)
            lam[sel] = 1.0
            k0, n = int(sel[0]), len(sel)
            rest = self.matrix(lam)[d + k0 :, d + k0 :]
            rest[:n, :n] += np.diag(2.0 * lam[sel])  # remove -2 I
            # need 2 t I > rest's block after eliminating the later blocks (t = lam_j)
            head = rest[:n, :n]
            if rest.shape[0] > n:
                C, T = rest[:n, n:], rest[n:, n:]
                head = head - C @ np.linalg.solve(T, C.T)
            top = float(np.linalg.eigvalsh(0.5 * (head + head.T))[-1])
            lam[sel] = max(top, 1e-12)  # 2 t > top with t = top
        return lam

    def certify(self, lam: np.ndarray) -> float:
        """sqrt(rho) certified for ``lam`` (>= 0) in float64, or inf: rho(lam) padded by a
        relative 1e-9 (more, up to 1e-5, if needed) with the largest eigenvalue of the
        whole matrix M(0, lam) - rho I_x checked <= 0."""
        lam = np.clip(lam, 0.0, None)
        out = self.rho(lam)
        if out is None:
            return math.inf
        M = self.matrix(lam)
        diag = np.arange(self.d)
        for pad in _PADS:
            rho_c = max(out[0], 0.0) * (1.0 + pad) + 1e-300
            M_c = M.copy()
            M_c[diag, diag] -= rho_c
            if float(np.linalg.eigvalsh(M_c)[-1]) <= 0.0:
                return math.sqrt(rho_c)
        return math.inf

    def split(self, lam: np.ndarray) -> list[np.ndarray]:
        """lam as one array per hidden layer (every unit free)."""
        return [lam[self.group == j] for j in range(int(self.group.max(initial=-1)) + 1)]


def minimize(
    prob: SDPProblem,
    lam0: np.ndarray,
    deadline: float | None = None,
    max_iter: int = 500,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Multipliers lam (F,) minimizing rho(lam) from the feasible ``lam0``, and counters.

    ``deadline`` (a :func:`time.perf_counter` value) is checked at every iteration.
    """
    theta = np.log(lam0)
    best_rho, best_theta = math.inf, theta
    evals, timed_out, iterations = 0, False, 0
    scale = None
    for stage in range(len(_STAGES)):
        if timed_out:
            break
        rho0, _, _ = _eval(prob, theta, 0.0)
        if not math.isfinite(rho0):
            break
        scale = scale or rho0
        mu = _STAGES[stage] * scale
        f, rho_f, g = _eval(prob, theta, mu)
        evals += 1
        if rho_f < best_rho:
            best_rho, best_theta = rho_f, theta.copy()
        recent, alpha = [f], 0.1 / max(float(np.abs(g).max(initial=0.0)), 1e-300)
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
            if float(np.abs(step).max(initial=0.0)) < 1e-9:
                break
    info = {
        "iterations": iterations,
        "evaluations": evals,
        "rho_search": best_rho,
        "timed_out": timed_out,
    }
    return np.exp(best_theta), info


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
    sizes = [W.shape[0] for W in Ws[:-1]]
    if not sizes or sum(sizes) == 0:
        return [np.zeros(n) for n in sizes], {"iterations": 0, "timed_out": False}
    prob = SDPProblem(Ws, v, slopes)
    deadline = None if seconds is None else time.perf_counter() + seconds
    lam, info = minimize(prob, prob.start(), deadline, max_iter)
    return prob.split(lam), info


def _eval(prob: SDPProblem, theta: np.ndarray, mu: float) -> tuple[float, float, np.ndarray]:
    """(smoothed rho, rho, gradient of the smoothing in log lam); (inf, inf, 0) where
    the hidden block is not negative definite."""
    lam = np.exp(theta)
    out = prob.rho(lam, mu)
    if out is None:
        return math.inf, math.inf, np.zeros_like(theta)
    top, smooth, grad = out
    return smooth, top, grad * lam
