"""L-BFGS with per-member history, step sizes and line searches, for stacked members.

``torch.optim.LBFGS`` on stacked weights would treat B networks as one problem: one
history, one curvature estimate and one line search for all, so members would be coupled.
This implementation runs B independent L-BFGS iterations in lock step: every member keeps
its own curvature pairs (s_j, y_j), scaling H_0 = s^T y / y^T y, step size t and line search
state; only the objective evaluations are batched (each member evaluated at its own trial
point). Per member, the iteration is that of ``torch.optim.LBFGS`` (Nocedal & Wright 2006,
Algorithm 7.4 with the two-loop recursion, after minFunc): the first step is
min(1, 1/||g||_1) * lr, and the optional strong-Wolfe line search brackets and zooms with
cubic interpolation exactly as torch's ``_strong_wolfe`` does (c1 = 1e-4, c2 = 0.9), as a
state machine vectorized over members.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["BatchedLBFGS", "cubic_interpolate"]

#: Evaluate at trial points x + t d per member; returns (f (s,) float64, aux (s,), g (s, P)).
EvalFn = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]

_BRACKET, _ZOOM, _DONE = 0, 1, 2


def cubic_interpolate(
    x1: Tensor,
    f1: Tensor,
    g1: Tensor,
    x2: Tensor,
    f2: Tensor,
    g2: Tensor,
    lo: Tensor | None = None,
    hi: Tensor | None = None,
) -> Tensor:
    """Minimizer of the cubic through (x1, f1, g1), (x2, f2, g2), clipped to [lo, hi].

    Elementwise over members; without bounds the interval spanned by x1 and x2. Falls back
    to the midpoint of the bounds when the cubic has no real minimizer (as torch's
    ``_cubic_interpolate``).
    """
    if lo is None or hi is None:
        lo = torch.minimum(x1, x2)
        hi = torch.maximum(x1, x2)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = d2_square.clamp_min(0).sqrt()
    left = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    right = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    min_pos = torch.where(x1 <= x2, left, right)
    clipped = torch.minimum(torch.maximum(min_pos, lo), hi)
    # python's max(nan, lo) keeps nan: propagate like torch's scalar code
    clipped = torch.where(torch.isnan(min_pos), min_pos, clipped)
    return torch.where(d2_square >= 0, clipped, (lo + hi) / 2)


def _pick(t: Tensor, j: Tensor) -> Tensor:
    """t[b, j[b]] for t of shape (s, 2, ...)."""
    idx = j.view(-1, 1, *([1] * (t.ndim - 2))).expand(-1, 1, *t.shape[2:])
    return t.gather(1, idx)[:, 0]


def _put(t: Tensor, j: Tensor, value: Tensor, where: Tensor) -> Tensor:
    """Copy of t with t[b, j[b]] = value[b] where ``where[b]``."""
    out = t.clone()
    onehot = torch.nn.functional.one_hot(j, 2).to(torch.bool) & where[:, None]
    onehot = onehot.view(*onehot.shape, *([1] * (t.ndim - 2)))
    return torch.where(onehot, value[:, None], out)


def strong_wolfe(
    evaluate: EvalFn,
    x: Tensor,
    t: Tensor,
    d: Tensor,
    f: Tensor,
    g: Tensor,
    gtd: Tensor,
    aux: Tensor,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Per-member strong-Wolfe line search (torch's ``_strong_wolfe``, vectorized).

    Returns (f_new, g_new, t, aux_new, evaluations), each per member.
    """
    s = x.shape[0]
    dev = x.device
    d_norm = d.abs().amax(dim=1).to(torch.float64)
    f_new, aux_new, g_new = evaluate(x, t, d)
    evals = torch.ones(s, dtype=torch.long, device=dev)
    ls_iter = torch.zeros(s, dtype=torch.long, device=dev)
    gtd_new = (g_new * d).sum(dim=1).to(torch.float64)
    t_prev = torch.zeros_like(t)
    f_prev, g_prev, gtd_prev, aux_prev = f.clone(), g.clone(), gtd.clone(), aux.clone()
    phase = torch.full((s,), _BRACKET, dtype=torch.long, device=dev)
    br_t = torch.zeros(s, 2, dtype=torch.float64, device=dev)
    br_f = torch.zeros_like(br_t)
    br_gtd = torch.zeros_like(br_t)
    br_aux = torch.zeros_like(br_t)
    br_g = torch.zeros(s, 2, g.shape[1], dtype=g.dtype, device=dev)
    low = torch.zeros(s, dtype=torch.long, device=dev)
    insuf = torch.zeros(s, dtype=torch.bool, device=dev)
    finished = torch.zeros(s, dtype=torch.bool, device=dev)  # zoom loop will not run
    zero = torch.zeros(s, dtype=torch.float64, device=dev)

    def set_pair(mask, t0, f0, g0, gtd0, a0, t1, f1, g1, gtd1, a1):
        nonlocal br_t, br_f, br_g, br_gtd, br_aux
        m = mask[:, None]
        br_t = torch.where(m, torch.stack([t0, t1], 1), br_t)
        br_f = torch.where(m, torch.stack([f0, f1], 1), br_f)
        br_gtd = torch.where(m, torch.stack([gtd0, gtd1], 1), br_gtd)
        br_aux = torch.where(m, torch.stack([a0, a1], 1), br_aux)
        br_g = torch.where(m[..., None], torch.stack([g0, g1], 1), br_g)

    while True:
        need = torch.zeros(s, dtype=torch.bool, device=dev)
        # ------------------------------------------------------------ bracketing phase
        in_b = phase == _BRACKET
        if bool(in_b.any()):
            maxed = in_b & (ls_iter >= max_ls)
            live = in_b & ~maxed
            armijo_fail = (f_new > f + c1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev))
            cond_a = live & armijo_fail
            cond_b = live & ~cond_a & (gtd_new.abs() <= -c2 * gtd)
            cond_c = live & ~cond_a & ~cond_b & (gtd_new >= 0)
            cont = live & ~cond_a & ~cond_b & ~cond_c
            # ran out of evaluations: bracket [0, t] (torch leaves its slopes unset)
            set_pair(maxed, zero, f, g, zero, aux, t, f_new, g_new, zero, aux_new)
            brk = cond_a | cond_c
            set_pair(
                brk, t_prev, f_prev, g_prev, gtd_prev, aux_prev, t, f_new, g_new, gtd_new, aux_new
            )
            set_pair(cond_b, t, f_new, g_new, gtd_new, aux_new, t, f_new, g_new, gtd_new, aux_new)
            entered = maxed | brk
            low = torch.where(entered, (~(br_f[:, 0] <= br_f[:, 1])).long(), low)
            low = torch.where(cond_b, torch.zeros_like(low), low)
            insuf = torch.where(entered, torch.zeros_like(insuf), insuf)
            finished = finished | maxed
            phase = torch.where(maxed | brk, torch.full_like(phase, _ZOOM), phase)
            phase = torch.where(cond_b, torch.full_like(phase, _DONE), phase)
            if bool(cont.any()):
                min_step = t + 0.01 * (t - t_prev)
                max_step = t * 10
                t_next = cubic_interpolate(
                    t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step
                )
                t_prev = torch.where(cont, t, t_prev)
                f_prev = torch.where(cont, f_new, f_prev)
                aux_prev = torch.where(cont, aux_new, aux_prev)
                g_prev = torch.where(cont[:, None], g_new, g_prev)
                gtd_prev = torch.where(cont, gtd_new, gtd_prev)
                t = torch.where(cont, t_next, t)
                need |= cont
        # ------------------------------------------------------------ zoom phase
        in_z = phase == _ZOOM
        go = torch.zeros_like(in_z)
        if bool(in_z.any()):
            tiny = (br_t[:, 1] - br_t[:, 0]).abs() * d_norm < tolerance_change
            stop = in_z & (finished | (ls_iter >= max_ls) | tiny)
            phase = torch.where(stop, torch.full_like(phase, _DONE), phase)
            go = in_z & ~stop
            if bool(go.any()):
                t_z = cubic_interpolate(
                    br_t[:, 0], br_f[:, 0], br_gtd[:, 0], br_t[:, 1], br_f[:, 1], br_gtd[:, 1]
                )
                b_max = br_t.amax(dim=1)
                b_min = br_t.amin(dim=1)
                eps = 0.1 * (b_max - b_min)
                near = torch.minimum(b_max - t_z, t_z - b_min) < eps
                outside = (t_z >= b_max) | (t_z <= b_min)
                move = near & (insuf | outside)
                to_max = (t_z - b_max).abs() < (t_z - b_min).abs()
                t_moved = torch.where(to_max, b_max - eps, b_min + eps)
                t_z = torch.where(move, t_moved, t_z)
                insuf_next = torch.where(near, ~move, torch.zeros_like(insuf))
                insuf = torch.where(go, insuf_next, insuf)
                t = torch.where(go, t_z, t)
                need |= go
        if not bool(need.any()):
            break
        # ------------------------------------------------------------ evaluate
        f_e, aux_e, g_e = evaluate(x, t, d)
        gtd_e = (g_e * d).sum(dim=1).to(torch.float64)
        ls_iter = ls_iter + need.long()
        evals = evals + need.long()
        f_new = torch.where(need, f_e, f_new)
        aux_new = torch.where(need, aux_e, aux_new)
        g_new = torch.where(need[:, None], g_e, g_new)
        gtd_new = torch.where(need, gtd_e, gtd_new)
        # ------------------------------------------------------------ zoom update
        if bool(go.any()):
            high = 1 - low
            f_low = _pick(br_f, low)
            upper = go & ((f_new > f + c1 * t * gtd) | (f_new >= f_low))
            br_t = _put(br_t, high, t, upper)
            br_f = _put(br_f, high, f_new, upper)
            br_g = _put(br_g, high, g_new, upper)
            br_gtd = _put(br_gtd, high, gtd_new, upper)
            br_aux = _put(br_aux, high, aux_new, upper)
            low = torch.where(upper, (~(br_f[:, 0] <= br_f[:, 1])).long(), low)
            lower = go & ~upper
            wolfe = lower & (gtd_new.abs() <= -c2 * gtd)
            swap = lower & ~wolfe & (gtd_new * (_pick(br_t, high) - _pick(br_t, low)) >= 0)
            high = 1 - low
            br_t = _put(br_t, high, _pick(br_t, low), swap)
            br_f = _put(br_f, high, _pick(br_f, low), swap)
            br_g = _put(br_g, high, _pick(br_g, low), swap)
            br_gtd = _put(br_gtd, high, _pick(br_gtd, low), swap)
            br_aux = _put(br_aux, high, _pick(br_aux, low), swap)
            br_t = _put(br_t, low, t, lower)
            br_f = _put(br_f, low, f_new, lower)
            br_g = _put(br_g, low, g_new, lower)
            br_gtd = _put(br_gtd, low, gtd_new, lower)
            br_aux = _put(br_aux, low, aux_new, lower)
            phase = torch.where(wolfe, torch.full_like(phase, _DONE), phase)
    return _pick(br_f, low), _pick(br_g, low), _pick(br_t, low), _pick(br_aux, low), evals


class BatchedLBFGS:
    """Per-member L-BFGS over flat member parameters x (s, P).

    Parameters
    ----------
    evaluate : callable
        (x, t, d) -> (f, aux, g): the objective (float64), an auxiliary per-member value
        carried along (the MSE) and the gradient at x + t d (per member).
    x : Tensor (s, P)
        Starting point.
    lr : float
        Step length (torch's ``lr``; 1 is the natural choice with a line search).
    history_size : int
    line_search : {"strong_wolfe", None}
    tolerance_grad, tolerance_change : float
        torch's stopping tolerances, applied per member.
    max_ls : int
        Evaluations per line search.
    """

    def __init__(
        self,
        evaluate: EvalFn,
        x: Tensor,
        lr: float = 1.0,
        history_size: int = 100,
        line_search: str | None = "strong_wolfe",
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        max_ls: int = 25,
    ) -> None:
        if line_search not in ("strong_wolfe", None):
            raise ValueError(f"line_search must be 'strong_wolfe' or None, got {line_search!r}")
        self.evaluate = evaluate
        self.lr = float(lr)
        self.m = int(history_size)
        self.line_search = line_search
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        self.max_ls = max_ls
        s, P = x.shape
        dev, dt = x.device, x.dtype
        self.x = x.clone()
        self.f, self.aux, self.g = evaluate(x, torch.zeros(s, dtype=torch.float64, device=dev), x)
        self.evals = torch.ones(s, dtype=torch.long, device=dev)
        self.n_iter = torch.zeros(s, dtype=torch.long, device=dev)
        self.d = torch.zeros(s, P, dtype=dt, device=dev)
        self.t = torch.zeros(s, dtype=torch.float64, device=dev)
        self.Y = torch.zeros(s, self.m, P, dtype=dt, device=dev)
        self.S = torch.zeros_like(self.Y)
        self.ro = torch.zeros(s, self.m, dtype=dt, device=dev)
        self.valid = torch.zeros(s, self.m, dtype=torch.bool, device=dev)
        self.H_diag = torch.ones(s, dtype=dt, device=dev)
        self.prev_g = self.g.clone()
        self.prev_f = self.f.clone()

    @property
    def s(self) -> int:
        return self.x.shape[0]

    def optimal(self) -> Tensor:
        """(s,) bool: max |g| <= tolerance_grad (torch's first-order optimality test)."""
        return self.g.abs().amax(dim=1) <= self.tolerance_grad

    @torch.no_grad()
    def iterate(self) -> tuple[Tensor, Tensor]:
        """One L-BFGS iteration for every member.

        Returns
        -------
        moved : Tensor (s,) bool
            The member took a step (False: its directional derivative was above
            -tolerance_change, torch's early exit before moving).
        stalled : Tensor (s,) bool
            torch's stopping tests after the step fired (first-order optimality, tiny step,
            tiny change of the objective): the member should stop.
        """
        s = self.s
        self.n_iter += 1
        first = self.n_iter == 1
        g = self.g
        # ---------------------------------------------------- curvature pair update
        y = g - self.prev_g
        step = self.d * self.t.to(self.d.dtype)[:, None]
        ys = (y * step).sum(dim=1)
        upd = ~first & (ys > 1e-10)
        if bool(upd.any()):
            u3 = upd[:, None, None]
            self.Y = torch.where(u3, torch.cat([self.Y[:, 1:], y[:, None]], 1), self.Y)
            self.S = torch.where(u3, torch.cat([self.S[:, 1:], step[:, None]], 1), self.S)
            one = torch.ones(s, 1, dtype=torch.bool, device=g.device)
            u2 = upd[:, None]
            self.ro = torch.where(u2, torch.cat([self.ro[:, 1:], (1.0 / ys)[:, None]], 1), self.ro)
            self.valid = torch.where(u2, torch.cat([self.valid[:, 1:], one], 1), self.valid)
            self.H_diag = torch.where(upd, ys / (y * y).sum(dim=1), self.H_diag)
        # ---------------------------------------------------- two-loop recursion
        q = -g
        al = torch.zeros(s, self.m, dtype=g.dtype, device=g.device)
        for i in range(self.m - 1, -1, -1):
            v = self.valid[:, i]
            if not bool(v.any()):
                continue
            a_i = torch.where(v, (self.S[:, i] * q).sum(dim=1) * self.ro[:, i], 0.0)
            al[:, i] = a_i
            q = q - a_i[:, None] * self.Y[:, i]
        r = q * self.H_diag[:, None]
        for i in range(self.m):
            v = self.valid[:, i]
            if not bool(v.any()):
                continue
            be_i = (self.Y[:, i] * r).sum(dim=1) * self.ro[:, i]
            r = r + torch.where(v, al[:, i] - be_i, 0.0)[:, None] * self.S[:, i]
        self.d = torch.where(first[:, None], -g, r)
        self.prev_g = g.clone()
        self.prev_f = self.f.clone()
        # ---------------------------------------------------- step length
        g1 = g.abs().sum(dim=1).to(torch.float64)
        t0 = torch.clamp(1.0 / g1, max=1.0) * self.lr
        t = torch.where(first, t0, torch.full_like(t0, self.lr))
        gtd = (g * self.d).sum(dim=1).to(torch.float64)
        moved = ~(gtd > -self.tolerance_change)
        if self.line_search == "strong_wolfe":
            f_new, g_new, t_new, aux_new, evals = strong_wolfe(
                self.evaluate,
                self.x,
                t,
                self.d,
                self.f,
                g,
                gtd,
                self.aux,
                tolerance_change=self.tolerance_change,
                max_ls=self.max_ls,
            )
        else:
            t_new = t
            f_new, aux_new, g_new = self.evaluate(self.x, t, self.d)
            evals = torch.ones(s, dtype=torch.long, device=g.device)
        # members that did not move keep everything
        self.t = torch.where(moved, t_new, self.t)
        self.x = torch.where(
            moved[:, None], self.x + self.t.to(self.x.dtype)[:, None] * self.d, self.x
        )
        self.f = torch.where(moved, f_new, self.f)
        self.aux = torch.where(moved, aux_new, self.aux)
        self.g = torch.where(moved[:, None], g_new, self.g)
        self.evals += torch.where(moved, evals, torch.zeros_like(evals))
        tiny_step = (self.d * self.t.to(self.d.dtype)[:, None]).abs().amax(dim=1) <= (
            self.tolerance_change
        )
        tiny_change = (self.f - self.prev_f).abs() < self.tolerance_change
        stalled = moved & (self.optimal() | tiny_step | tiny_change)
        return moved, stalled

    def select(self, keep: Tensor) -> None:
        """Keep only the given members (in place)."""
        pos = torch.nonzero(keep.to(self.x.device)).flatten()
        for name in (
            "x", "f", "aux", "g", "evals", "n_iter", "d", "t", "Y", "S", "ro", "valid",
            "H_diag", "prev_g", "prev_f",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name)[pos])
