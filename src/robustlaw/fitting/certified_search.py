"""Descent on a certified Lipschitz bound while the fit is held: the certified search.

For a two-layer piecewise-linear network, grad f(x) = c + N sigma(x) with sigma in
[-1, 1]^k the units' slope pattern (G = [c, N], :func:`robustlaw._pl.sign_columns`),
so Lip(f) over R^d (hence on the ball and the sphere) is at most the maximum of
||G (1, sigma)|| over sign vectors, and for every dual point lam > 0

    Lip(f) <= C(theta, lam) = sqrt( sum(lam) * lambda_max(G diag(1/lam) G^T) ),

the pattern-SDP certificate (docs/science.md section 5). C is differentiable in the
weights theta = (W, b, a[, c, v]) and in lam; its minimum over lam is the SDP value. The
certified search minimizes C jointly over (theta, log lam) while the outputs at the data
stay where they are (a min-max: the relaxation's maximizing patterns enter through the
dual point, refreshed by the fixed-point iteration every round):

- each step projects the gradient onto the tangent space of {theta : f_theta(X) = z}
  (z: the outputs, moved into the fit ball ||f(X) - y||^2 <= n tau), takes an Adam step,
  and returns to the set by Gauss-Newton steps theta <- theta - J^T (J J^T)^-1 (f(X) - z)
  (J the n x p Jacobian of the outputs; J J^T is n x n and formed in closed form);
- a round of ``minmax_steps`` steps ends with the certified value recomputed at a fresh
  dual point; the best certified iterate that fits is kept, and a member stops after
  ``minmax_patience`` rounds without a lower certified value.

The value returned per member is certified (the dual point is checked by the same formula
the Lipschitz package uses) and never above the start's certificate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl import sign_columns
from robustlaw._pl.bounds import SAFETY
from robustlaw.fitting._certify import pattern_sdp_dual, sdp_certificate
from robustlaw.models.two_layer import TwoLayer

__all__ = ["CertifiedDescent", "certified_descent", "supports_certified_descent"]

#: Fixed-point iterations of the dual refresh at the start of a round.
_DUAL_ITERATIONS = 60


@dataclass(frozen=True)
class CertifiedDescent:
    """Outcome of :func:`certified_descent`.

    Attributes
    ----------
    family : TwoLayer
        The best certified iterate per member (the start where nothing improved).
    start : ndarray (B,)
        The certified pattern-SDP bound of each start.
    value : ndarray (B,)
        The certified pattern-SDP bound of each returned member (<= ``start``).
    rounds : ndarray (B,)
        Rounds run per member.
    """

    family: TwoLayer
    start: np.ndarray
    value: np.ndarray
    rounds: np.ndarray


def supports_certified_descent(family: TwoLayer) -> bool:
    """Two-layer piecewise-linear members with two slopes (relu, leaky relu)."""
    act = family.activation
    return bool(act.piecewise_linear and len(act.slopes) == 2)


class _Params:
    """The weights of B members as plain float tensors (masked units zero, biases kept)."""

    def __init__(self, family: TwoLayer, dtype: torch.dtype) -> None:
        eff = family.effective_weights()
        cast = lambda t: None if t is None else t.to(dtype).clone()  # noqa: E731
        self.mask = eff.mask.to(dtype)
        self.W, self.a = cast(eff.W), cast(eff.a)
        self.b = torch.zeros_like(self.a) if eff.b is None else cast(eff.b)
        self.c, self.v = cast(eff.c), cast(eff.v)
        self.has_b = eff.b is not None

    def skip(self, values: list[Tensor]) -> Tensor | None:
        """The linear skip v in a parameter list (None without one)."""
        return values[-1] if self.v is not None else None

    def tensors(self) -> list[Tensor]:
        return [t for t in (self.W, self.b, self.a, self.c, self.v) if t is not None]

    def set(self, values: list[Tensor]) -> None:
        it = iter(values)
        self.W, self.b, self.a = next(it), next(it), next(it)
        self.c = next(it) if self.c is not None else None
        self.v = next(it) if self.v is not None else None

    def masked(self, values: list[Tensor]) -> list[Tensor]:
        m = self.mask
        out = [
            values[0] * m[..., None],
            values[1] * m if self.has_b else values[1] * 0,
            values[2] * m,
        ]
        return out + list(values[3:])


def _balance(p: _Params) -> None:
    """Rescale each unit to |a_l| = ||(w_l, b_l)|| (the same function for positively
    homogeneous activations); units with a zero side are left alone."""
    size = torch.sqrt(p.W.pow(2).sum(-1) + p.b.pow(2))
    t = torch.sqrt(p.a.abs() / size.clamp(min=1e-300))
    t = torch.where((size > 0) & (p.a != 0), t, torch.ones_like(t))
    p.W, p.b, p.a = p.W * t[..., None], p.b * t, p.a / t


def _jacobian_ops(
    p: _Params, values: list[Tensor], X: Tensor, slopes: tuple[float, float]
) -> tuple[Tensor, Tensor, Callable[[list[Tensor]], Tensor], Callable[[Tensor], list[Tensor]]]:
    """Outputs (B, n), J J^T (B, n, n), theta-direction -> J dtheta (B, n), and
    u (B, n) -> J^T u (a parameter list), for f = sum_l a_l psi(w_l x + b_l) [+ c + v x]."""
    W, b, a = values[0], values[1], values[2]
    lo, hi = slopes
    pre = torch.einsum("nd,bkd->bnk", X, W) + b[:, None, :]
    on = pre > 0
    D = torch.where(on, hi, lo).to(W.dtype) * p.mask[:, None, :]
    phi = pre * D
    out = (phi * a[:, None, :]).sum(-1)
    extra = 3
    if p.c is not None:
        out = out + values[extra][:, None]
        extra += 1
    if p.v is not None:
        out = out + values[extra] @ X.T
    ones = torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)
    Xa = torch.cat([X, ones], dim=1) if p.has_b else X
    K = Xa @ Xa.T
    Da = D * a[:, None, :]
    JJ = phi @ phi.transpose(1, 2) + (Da @ Da.transpose(1, 2)) * K
    if p.c is not None:
        JJ = JJ + 1.0
    if p.v is not None:
        JJ = JJ + (X @ X.T)

    def J(g: list[Tensor]) -> Tensor:
        t = torch.einsum("nd,bkd->bnk", X, g[0]) + g[1][:, None, :]
        res = (Da * t).sum(-1) + (phi * g[2][:, None, :]).sum(-1)
        i = 3
        if p.c is not None:
            res = res + g[i][:, None]
            i += 1
        if p.v is not None:
            res = res + g[i] @ X.T
        return res

    def JT(u: Tensor) -> list[Tensor]:
        Du = Da * u[..., None]  # (B, n, k)
        out_ = [torch.einsum("bnk,nd->bkd", Du, X), Du.sum(1), (phi * u[..., None]).sum(1)]
        if p.c is not None:
            out_.append(u.sum(1))
        if p.v is not None:
            out_.append(u @ X)
        return p.masked(out_)

    return out, JJ, J, JT


def _solve(JJ: Tensor, r: Tensor) -> Tensor:
    """(J J^T + eps I)^-1 r, with eps a tiny multiple of the mean diagonal."""
    n = JJ.shape[-1]
    eps = 1e-12 * JJ.diagonal(dim1=1, dim2=2).mean(dim=1).clamp(min=1e-300)
    eye = torch.eye(n, dtype=JJ.dtype, device=JJ.device)
    return torch.linalg.solve(JJ + eps[:, None, None] * eye, r[..., None])[..., 0]


def _ball(out: Tensor, y: Tensor, radius: float) -> Tensor:
    """The nearest points of the fit ball ||z - y|| <= radius to the outputs (B, n)."""
    r = out - y
    norm = r.norm(dim=1, keepdim=True)
    return y + r * torch.clamp(radius / norm.clamp(min=1e-300), max=1.0)


class _Descent:
    """The state of one descent: weights, the held outputs z, Adam's moments."""

    def __init__(
        self, family: TwoLayer, X: Tensor, y: Tensor, tau: float, lr: float, temperature: float
    ) -> None:
        act = family.activation
        self.slopes = (float(min(act.slopes)), float(max(act.slopes)))
        work = torch.float64
        self.X = X.detach().to(device=family.W.device, dtype=work)
        self.y = y.detach().to(device=family.W.device, dtype=work)
        self.p = _Params(family, work)
        _balance(self.p)
        self.values = self.p.tensors()
        out = self.ops(self.values)[0]
        self.z = _ball(out, self.y, math.sqrt(self.X.shape[0] * tau))
        self.lr = lr
        self.temperature = temperature
        self.t = 0
        value, lam = self.certify(self.values)
        self.loglam = lam.clamp(min=1e-300).log()
        self.first = [torch.zeros_like(v) for v in [*self.values, self.loglam]]
        self.second = [torch.zeros_like(v) for v in [*self.values, self.loglam]]
        self.start = value

    def ops(self, values: list[Tensor]):
        return _jacobian_ops(self.p, values, self.X, self.slopes)

    def columns(self, values: list[Tensor]) -> Tensor:
        return sign_columns(values[0], values[2], self.p.skip(values), self.slopes)

    def certify(self, values: list[Tensor]) -> tuple[Tensor, Tensor]:
        """(certified value (B,), its dual point) at a fresh dual point."""
        value, lam = pattern_sdp_dual(self.columns(values), _DUAL_ITERATIONS)
        return value * (1.0 + SAFETY), lam

    def mse(self, values: list[Tensor]) -> Tensor:
        return ((self.ops(values)[0] - self.y) ** 2).mean(dim=1)

    def correct(self, values: list[Tensor], times: int) -> list[Tensor]:
        """Gauss-Newton steps back to f(X) = z: theta - J^T (J J^T)^-1 (f(X) - z)."""
        for _ in range(times):
            out, JJ, _, JT = self.ops(values)
            delta = JT(_solve(JJ, out - self.z))
            values = [v - dv for v, dv in zip(values, delta, strict=True)]
        return values

    def step(self, keep: Tensor) -> None:
        """One Adam step on C(theta, lam) along the fit's tangent space (members with
        ``keep`` False stay where they are), then one Gauss-Newton correction."""
        self.t += 1
        leaves = [v.detach().requires_grad_(True) for v in self.values]
        ll = self.loglam.detach().requires_grad_(True)
        obj = sdp_certificate(self.columns(leaves), ll.exp(), temperature=self.temperature).sum()
        grads = torch.autograd.grad(obj, [*leaves, ll], allow_unused=True)
        grads = [
            torch.zeros_like(x) if g is None else g
            for g, x in zip(grads, [*leaves, ll], strict=True)
        ]
        theta = self.p.masked(grads[:-1])
        _, JJ, J, JT = self.ops(self.values)
        back = JT(_solve(JJ, J(theta)))
        direction = [g - q for g, q in zip(theta, back, strict=True)] + [grads[-1]]
        moves = []
        for j, g in enumerate(direction):
            self.first[j] = 0.9 * self.first[j] + 0.1 * g
            self.second[j] = 0.999 * self.second[j] + 0.001 * g * g
            mh = self.first[j] / (1 - 0.9**self.t)
            vh = self.second[j] / (1 - 0.999**self.t)
            shape = (-1,) + (1,) * (g.ndim - 1)
            moves.append(self.lr * mh / (vh.sqrt() + 1e-12) * keep.view(shape))
        moved = [v - m for v, m in zip(self.values, moves[:-1], strict=True)]
        self.values = self.correct(moved, times=1)
        self.loglam = self.loglam - moves[-1]


def _where(mask: Tensor, a: list[Tensor], b: list[Tensor]) -> list[Tensor]:
    """Per member: a where mask, else b."""
    return [
        torch.where(mask.view((-1,) + (1,) * (x.ndim - 1)), x, y) for x, y in zip(a, b, strict=True)
    ]


def certified_descent(
    family: TwoLayer,
    X: Tensor,
    y: Tensor,
    threshold: float,
    *,
    tau: float,
    rounds: int,
    steps: int,
    patience: int,
    lr: float,
    temperature: float = 0.05,
    on_round: Callable[[int], None] | None = None,
) -> CertifiedDescent:
    """Minimize the pattern-SDP certificate of every member while holding its fit.

    Parameters
    ----------
    family : TwoLayer
        Relu or leaky-relu members (B); their MSE on (X, y) should be <= ``threshold``
        (members that do not fit are returned as they are).
    X : Tensor (n, d)
    y : Tensor (n,)
    threshold : float
        The target's MSE threshold; an iterate counts only where MSE <= threshold.
    tau : float
        The outputs are held inside ||f(X) - y||^2 <= n tau (tau <= threshold).
    rounds, steps, patience : int
        Rounds, steps per round, rounds without improvement before a member stops.
    lr : float
        Adam's step size (the units are balanced first, so parameters are of order one).
    temperature : float
        Relative temperature of the soft maximum over eigenvalues in the descent's
        objective (:func:`robustlaw.fitting._certify.sdp_certificate`; 0: lambda_max itself,
        a subgradient step where eigenvalues meet). The rounds' values are certified at
        temperature 0 whatever this is.
    on_round : callable, optional
        Called with the round number after every round (progress).

    Returns
    -------
    CertifiedDescent
    """
    if not supports_certified_descent(family):
        raise ValueError(
            f"the certified search needs relu or leaky_relu units, got {family.activation.name!r}"
        )
    run = _Descent(family, X, y, tau, lr, temperature)
    best_value = run.start.clone()
    best = [v.clone() for v in run.values]
    alive = run.mse(run.values) <= threshold
    stale = torch.zeros(family.B, dtype=torch.long, device=best_value.device)
    ran = torch.zeros_like(stale)
    for r in range(1, rounds + 1):
        if not bool(alive.any()):
            break
        keep = alive.to(torch.float64)
        for _ in range(steps):
            run.step(keep)
        run.values = run.correct(run.values, times=2)
        value, lam = run.certify(run.values)
        run.loglam = lam.clamp(min=1e-300).log()
        ok = alive & (value < best_value) & (run.mse(run.values) <= threshold)
        best_value = torch.where(ok, value, best_value)
        best = _where(ok, run.values, best)
        stale = torch.where(ok, torch.zeros_like(stale), stale + 1)
        ran = ran + alive.to(torch.long)
        alive = alive & (stale < patience)
        run.values = _where(ok, run.values, best)  # the others resume from their best
        if on_round is not None:
            on_round(r)
    return CertifiedDescent(
        _with_weights(family, best),
        run.start.cpu().numpy().astype(np.float64),
        best_value.cpu().numpy().astype(np.float64),
        ran.cpu().numpy(),
    )


def _with_weights(family: TwoLayer, values: list[Tensor]) -> TwoLayer:
    """A copy of ``family`` with the weights ``values`` (W, b, a[, c][, v])."""
    out = family.select(range(family.B))
    it = iter(values)
    with torch.no_grad():
        for name in ("W", "b", "a", "c", "v"):
            value = next(it) if name in ("W", "b", "a") or getattr(out, name) is not None else None
            target = getattr(out, name)
            if target is not None and value is not None:
                target.copy_(value.to(target.dtype))
    return out
