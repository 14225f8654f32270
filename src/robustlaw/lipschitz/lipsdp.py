"""LipSDP-Neuron (Fazlyab, Robey, Hassani, Morari, Pappas, NeurIPS 2019) with a checked certificate.

For a stack with slope-restricted activations (alpha_j <= psi_j' <= beta_j), every
hidden unit satisfies the incremental quadratic constraint
(dh - alpha dz)(beta dz - dh) >= 0; weighting them with lam >= 0 gives the linear matrix
inequality, over the blocks (dx, dh_1, ..., dh_{D-1}),

    M(rho, lam) = sum_j [ -2 alpha_j beta_j W_j^T T_j W_j   (alpha_j + beta_j) W_j^T T_j ]
                        [ (alpha_j + beta_j) T_j W_j           -2 T_j               ]
                  - rho E_x + e e^T  <=  0,

with T_j = diag(lam_j) placed on blocks (j-1, j), E_x the identity on the dx block and
e = (v, 0, ..., W_D^T) the read-out. Any feasible (rho, lam) certifies Lip(f) <= sqrt(rho).

The SDP is solved by cvxpy with an open solver (SCS by default, Clarabel on request);
never trusted as returned. From the solver's multipliers lam alone we recompute, in
float64, the smallest rho making M feasible — rho(lam) = lambda_max(P - Q S^-1 Q^T) for
M(0, lam) = [[P, Q], [Q^T, S]] with S negative definite (Schur complement) — pad it by a
relative 1e-9 and check lambda_max(M(rho, lam)) <= 0 on the whole matrix. A slightly
infeasible solver answer (SCS stops at 1e-4 accuracy) thus still yields a certified
bound; when no certificate can be built, the result says so and upper = inf.
Members are solved one at a time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from robustlaw.lipschitz._common import SAFETY, not_applicable, prepare, upper_result
from robustlaw.lipschitz.result import Budget, MethodResult, register_method
from robustlaw.lipschitz.stack import Stack

__all__ = ["SOLVERS", "certify_lipsdp", "lipsdp_bound", "lipsdp_matrix", "member_layers"]

#: Open solvers LipSDP may use (through cvxpy).
SOLVERS = ("SCS", "CLARABEL")


def member_layers(stack: Stack, b: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Member b's weights (float64 numpy) with inert hidden units removed, and its skip.

    A hidden unit is inert when its incoming row or its outgoing column is zero: it
    contributes nothing to any difference f(x) - f(x').
    """
    Ws = [W[b].detach().cpu().numpy().astype(np.float64) for W in stack.weights]
    for _ in range(len(Ws)):  # removals can cascade; D passes suffice
        for j in range(len(Ws) - 1):
            keep = (np.abs(Ws[j]).sum(axis=1) > 0) & (np.abs(Ws[j + 1]).sum(axis=0) > 0)
            if not keep.all():
                Ws[j] = Ws[j][keep]
                Ws[j + 1] = Ws[j + 1][:, keep]
    v = np.zeros(stack.d) if stack.skip is None else stack.skip[b].detach().cpu().numpy()
    return Ws, v.astype(np.float64)


def _offsets(Ws: list[np.ndarray]) -> list[int]:
    sizes = [Ws[0].shape[1]] + [W.shape[0] for W in Ws[:-1]]
    return list(np.concatenate([[0], np.cumsum(sizes)]).astype(int))


def lipsdp_matrix(
    Ws: list[np.ndarray],
    v: np.ndarray,
    slopes: list[tuple[float, float]],
    lams: list[np.ndarray],
    rho: float,
) -> np.ndarray:
    """M(rho, lam) of LipSDP-Neuron as a dense float64 matrix (see the module docstring)."""
    off = _offsets(Ws)
    N = off[-1]
    d = Ws[0].shape[1]
    M = np.zeros((N, N))
    for j in range(1, len(Ws)):
        W = Ws[j - 1]
        lo, hi = slopes[j - 1]
        lam = lams[j - 1]
        i0, i1 = off[j - 1], off[j]
        k0, k1 = off[j], off[j + 1]
        if lo * hi != 0:
            M[i0:i1, i0:i1] += -2.0 * lo * hi * (W.T * lam) @ W
        cross = (lo + hi) * (W.T * lam)
        M[i0:i1, k0:k1] += cross
        M[k0:k1, i0:i1] += cross.T
        M[k0:k1, k0:k1] += np.diag(-2.0 * lam)
    e = np.zeros(N)
    e[:d] = v
    e[off[-2] : off[-1]] += Ws[-1][0]
    M += np.outer(e, e)
    M[:d, :d] -= rho * np.eye(d)
    return 0.5 * (M + M.T)


def _rho_for(M0: np.ndarray, d: int) -> float | None:
    """Smallest rho with M0 - rho E_x <= 0, or None when the hidden block is not < 0."""
    P, Q, S = M0[:d, :d], M0[:d, d:], M0[d:, d:]
    if S.shape[0] == 0:
        return float(max(np.linalg.eigvalsh(P)[-1], 0.0))
    evals, evecs = np.linalg.eigh(S)
    if evals[-1] >= -1e-12 * max(1.0, np.abs(evals).max()):
        return None
    # Q S^-1 Q^T through the eigendecomposition of S (all eigenvalues negative).
    QV = Q @ evecs
    schur = P - (QV / evals) @ QV.T
    schur = 0.5 * (schur + schur.T)
    return float(max(np.linalg.eigvalsh(schur)[-1], 0.0))


def certify_lipsdp(
    Ws: list[np.ndarray],
    v: np.ndarray,
    slopes: list[tuple[float, float]],
    lams: list[np.ndarray],
) -> tuple[float, dict[str, Any]]:
    """A certified bound sqrt(rho) from multipliers lam alone, checked in float64.

    Tries lam scaled by t in {1, 1 + 1e-6, ..., 16} (a scaled-up lam repairs a hidden
    block that a solver left slightly indefinite), keeps the smallest rho(t lam), pads it
    by a relative 1e-9 (more, up to 1e-5, if needed) and checks the largest eigenvalue of
    the whole matrix is <= 0. Returns (inf, info) when no scaling gives a certificate.
    """
    lams = [np.clip(np.asarray(lam, dtype=np.float64), 0.0, None) for lam in lams]
    d = Ws[0].shape[1]
    best: tuple[float, float] | None = None
    for t in (1.0, 1.0 + 1e-6, 1.0 + 1e-4, 1.0 + 1e-2, 1.1, 1.5, 2.0, 4.0, 16.0):
        M0 = lipsdp_matrix(Ws, v, slopes, [t * lam for lam in lams], 0.0)
        rho = _rho_for(M0, d)
        if rho is not None and (best is None or rho < best[0]):
            best = (rho, t)
    if best is None:
        return math.inf, {"certificate": "hidden block not negative definite"}
    rho, t = best
    scaled = [t * lam for lam in lams]
    for pad in (SAFETY, 1e-8, 1e-7, 1e-6, 1e-5):
        rho_c = rho * (1.0 + pad) + 1e-300
        top = float(np.linalg.eigvalsh(lipsdp_matrix(Ws, v, slopes, scaled, rho_c))[-1])
        if top <= 0.0:
            return math.sqrt(rho_c), {
                "rho_certified": rho_c,
                "lam_scale": t,
                "padding": pad,
                "max_eigenvalue": top,
            }
    return math.inf, {"certificate": "eigenvalue check failed after padding"}


def _solve_member(
    Ws: list[np.ndarray],
    v: np.ndarray,
    slopes: list[tuple[float, float]],
    solver: str,
    seconds: float | None,
    eps: float,
) -> tuple[list[np.ndarray] | None, str, dict[str, Any]]:
    """Solve the SDP with cvxpy; (multipliers or None, solver status, info)."""
    import cvxpy as cp

    off = _offsets(Ws)
    D = len(Ws)
    sizes = [off[i + 1] - off[i] for i in range(D)]
    lams = [cp.Variable(W.shape[0], nonneg=True) for W in Ws[:-1]]
    rho = cp.Variable(nonneg=True)
    blocks: list[list[Any]] = [[None] * D for _ in range(D)]

    def add(i: int, j: int, expr: Any) -> None:
        blocks[i][j] = expr if blocks[i][j] is None else blocks[i][j] + expr

    for j in range(1, D):
        W = Ws[j - 1]
        lo, hi = slopes[j - 1]
        T = cp.diag(lams[j - 1])
        if lo * hi != 0:
            add(j - 1, j - 1, -2.0 * lo * hi * (W.T @ T @ W))
        add(j - 1, j, (lo + hi) * (W.T @ T))
        add(j, j - 1, (lo + hi) * (T @ W))
        add(j, j, -2.0 * T)
    e = np.zeros(off[-1])
    e[: sizes[0]] = v
    e[off[-2] : off[-1]] += Ws[-1][0]
    E = np.outer(e, e)
    add(0, 0, -rho * np.eye(sizes[0]))
    for i in range(D):
        for j in range(D):
            const = E[off[i] : off[i + 1], off[j] : off[j + 1]]
            if np.any(const):
                add(i, j, const)
            if blocks[i][j] is None:
                blocks[i][j] = np.zeros((sizes[i], sizes[j]))
    M = cp.bmat(blocks)
    problem = cp.Problem(cp.Minimize(rho), [0.5 * (M + M.T) << 0])
    options: dict[str, Any] = {}
    if solver == "SCS":
        options.update(eps_abs=eps, eps_rel=eps)
        if seconds is not None:
            options["time_limit_secs"] = float(seconds)
    elif solver == "CLARABEL" and seconds is not None:
        options["time_limit"] = float(seconds)
    try:
        problem.solve(solver=solver, **options)
    except cp.error.SolverError as exc:
        return None, "solver_error", {"message": str(exc).splitlines()[0][:200]}
    except (ValueError, ArithmeticError) as exc:
        return None, "solver_error", {"message": f"{type(exc).__name__}: {exc}"[:200]}
    status = str(problem.status)
    values = [lam.value for lam in lams]
    if any(val is None for val in values):
        return None, status, {}
    info = {"rho_solver": None if rho.value is None else float(rho.value)}
    return [np.asarray(val, dtype=np.float64) for val in values], status, info


@register_method(
    "lipsdp",
    "upper",
    ("two_layer", "mlp"),
    ("rd", "ball", "sphere"),
    "LipSDP-Neuron via cvxpy (SCS or Clarabel), certificate rechecked in float64",
)
def lipsdp_bound(
    model: Any,
    domain: str = "rd",
    budget: Budget | None = None,
    solver: str = "SCS",
    eps: float = 1e-5,
    device: Any = None,
) -> MethodResult:
    """LipSDP-Neuron for two-layer and deep stacks, one SDP per member.

    Parameters
    ----------
    solver : {"SCS", "CLARABEL"}
        Open solver used through cvxpy (Clarabel is more accurate and slower).
    eps : float
        SCS accuracy (ignored by Clarabel).
    budget : Budget
        ``seconds`` is passed to the solver as its time limit (per member).

    Notes
    -----
    Status per member: "ok" when the solver finished and the certificate checked; "budget"
    when it stopped at its limit but its multipliers still certified a bound;
    "not_converged: ..." (no certificate) and "solver_failed: ..." give upper = inf.
    """
    stack, domain, budget = prepare(model, domain, budget, device)
    if not isinstance(solver, str) or solver.upper() not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    solver = solver.upper()
    if isinstance(eps, bool) or not (isinstance(eps, float | int) and eps > 0):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    try:
        import cvxpy  # noqa: F401 - the optional "sdp" extra
    except ImportError:
        why = "cvxpy is not installed (pip install 'robustlaw[sdp]')"
        return not_applicable("lipsdp", "upper", domain, stack.B, why)
    slopes = stack.slopes()
    for act, (lo, hi) in zip(stack.activations, slopes, strict=True):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            why = f"activation {act.name!r} has unbounded slope"
            return not_applicable("lipsdp", "upper", domain, stack.B, why)
    upper = np.full(stack.B, math.inf)
    seconds = np.zeros(stack.B)
    status: list[str] = []
    info: list[dict[str, Any]] = []
    for b in range(stack.B):
        t0 = time.perf_counter()
        Ws, v = member_layers(stack, b)
        entry: dict[str, Any] = {"solver": solver, "units": int(sum(W.shape[0] for W in Ws[:-1]))}
        lams, solver_status, extra = _solve_member(Ws, v, slopes, solver, budget.seconds, eps)
        entry.update(extra, solver_status=solver_status)
        if lams is None:
            reason = extra.get("message", solver_status)
            status.append(f"solver_failed: {reason}")
        elif solver_status not in ("optimal", "optimal_inaccurate", "user_limit"):
            status.append(f"solver_failed: solver status {solver_status}")
        else:
            value, cert = certify_lipsdp(Ws, v, slopes, lams)
            entry.update(cert)
            if math.isfinite(value):
                upper[b] = value
                status.append("budget" if solver_status == "user_limit" else "ok")
            else:
                status.append(f"not_converged: no certificate ({cert['certificate']})")
        info.append(entry)
        seconds[b] = time.perf_counter() - t0
    return upper_result("lipsdp", domain, upper, seconds, status, info)
