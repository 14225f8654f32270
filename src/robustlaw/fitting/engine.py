"""Full-batch training of a whole family to a fit target, every member on its own.

:func:`fit` trains the B members of a family together: members are grouped by width and
packed (:mod:`robustlaw.fitting.chunking`), every step evaluates all members of a group in
one batched pass, and each member stops on its own: when its MSE reaches the target
(it is then removed from the batch, so its weights stay exactly as they were), when its
objective or gradient stops being finite (diverged; the others continue), or when the step
budget runs out. Optimizers: Adam (torch's fused kernel when one learning rate serves all
members) and per-member L-BFGS (:mod:`robustlaw.fitting.lbfgs`). Random-feature and NTK
families are fitted in closed form (minimum-norm interpolation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from rich.progress import Progress
from torch import Tensor

from robustlaw._progress import progress_bar
from robustlaw.fitting.adam import BatchedAdam
from robustlaw.fitting.analytic import analytic_supported
from robustlaw.fitting.chunking import Chunk, default_chunk_bytes, extract, plan_chunks, write_back
from robustlaw.fitting.lbfgs import BatchedLBFGS
from robustlaw.fitting.objective import DataTerm, Objective
from robustlaw.fitting.penalties import Penalty
from robustlaw.fitting.report import FitReport, MemberFit
from robustlaw.fitting.targets import BelowNoise, Interpolate, resolve_threshold
from robustlaw.models.features import FeatureFamily
from robustlaw.models.mlp import MLP
from robustlaw.models.two_layer import TwoLayer

__all__ = ["DEFAULTS", "fit"]

#: Default learning rate and step budget per optimizer.
DEFAULTS: dict[str, dict[str, float | int]] = {
    "adam": {"lr": 1e-3, "steps": 10_000},
    "lbfgs": {"lr": 1.0, "steps": 1_000},
}


# --------------------------------------------------------------------------- validation


def _as_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    raise TypeError(f"{name} must be a torch tensor or numpy array, got {type(value).__name__}")


def _check_data(family: Any, X: Any, y: Any) -> tuple[Tensor, Tensor]:
    X = _as_tensor("X", X)
    y = _as_tensor("y", y)
    B, d = family.B, family.d
    if not X.is_floating_point():
        raise ValueError(f"X must hold floating-point numbers, got {X.dtype}")
    if y.dtype == torch.bool or y.is_complex():
        raise ValueError(f"y must hold real numbers, got {y.dtype}")
    if X.ndim == 2:
        ok = X.shape[1] == d
    elif X.ndim == 3:
        ok = X.shape[0] == B and X.shape[2] == d
    else:
        ok = False
    if not ok:
        raise ValueError(f"X must have shape (n, {d}) or ({B}, n, {d}), got {tuple(X.shape)}")
    n = X.shape[-2]
    if n == 0:
        raise ValueError("X must hold at least one data point, got n = 0")
    if y.ndim == 2 and y.shape[-1] == 1 and y.shape[0] == n:
        raise ValueError(
            f"y must have shape ({n},) (one output per point) or ({B}, {n}), got "
            f"{tuple(y.shape)}: squeeze the output dimension"
        )
    if not ((y.ndim == 1 and y.shape[0] == n) or (y.ndim == 2 and y.shape == (B, n))):
        raise ValueError(
            f"y must have shape ({n},) or ({B}, {n}) to match X and the family's "
            f"{B} single-output members, got {tuple(y.shape)}"
        )
    if not torch.isfinite(X).all():
        raise ValueError("X must be finite (found NaN or inf)")
    if not torch.isfinite(y.to(torch.float64)).all():
        raise ValueError("y must be finite (found NaN or inf)")
    return X, y


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _per_member(name: str, value: Any, B: int) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.float64).flatten()
    if t.numel() == 1:
        t = t.expand(B).clone()
    if t.numel() != B:
        raise ValueError(f"{name} must be a number or hold one value per member ({B})")
    if not (torch.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return t


# --------------------------------------------------------------------------- progress


def _progress(enabled: bool | None) -> Progress:
    return progress_bar(enabled, "{task.completed}/{task.total} steps", remaining=True)


# --------------------------------------------------------------------------- one chunk


class _Records:
    """Per-member outcome arrays for the whole family."""

    def __init__(self, B: int) -> None:
        self.status = ["budget"] * B
        self.mse = np.full(B, np.nan)
        self.objective = np.full(B, np.nan)
        self.steps = np.zeros(B, dtype=np.int64)
        self.evals = np.zeros(B, dtype=np.int64)
        self.seconds = np.zeros(B)

    def set(self, i: int, status: str, mse: float, objective: float, steps: int, evals: int):
        self.status[i] = status
        self.mse[i] = mse
        self.objective[i] = objective
        self.steps[i] = steps
        self.evals[i] = evals


def _member_finite(tensors: list[Tensor] | None, s: int) -> Tensor:
    """(s,) bool: every entry of the member's slices is finite (a NaN or inf makes the
    member's sum non-finite, so one reduction per tensor suffices)."""
    if not tensors:
        return torch.ones(s, dtype=torch.bool)
    total = sum(t.reshape(s, -1).sum(dim=1) for t in tensors)
    return torch.isfinite(total)


def _finish(
    family: TwoLayer | MLP,
    chunk: Chunk,
    orders: list[Tensor],
    params: list[Tensor],
    active: Tensor,
    stop: Tensor,
) -> None:
    """Write the stopping members' weights back into the family."""
    pos = torch.nonzero(stop.cpu()).flatten()
    chunk_pos = active[pos]
    write_back(
        family,
        [chunk.indices[int(p)] for p in chunk_pos],
        [p.detach()[pos.to(p.device)] for p in params],
        orders,
        chunk_pos,
    )


def _run_adam(
    family: TwoLayer | MLP,
    chunk: Chunk,
    make_objective,
    threshold: float,
    steps: int,
    lr: Tensor,
    betas: tuple[float, float],
    eps: float,
    fused: bool | None,
    stop_at_target: bool,
    records: _Records,
    advance,
) -> None:
    sub, orders = extract(family, chunk.indices)
    obj: Objective = make_objective(sub, chunk)
    s = len(chunk.indices)
    active = torch.arange(s)
    opt = BatchedAdam(obj.params, lr[list(chunk.indices)], betas, eps, fused)
    forced = np.zeros(s, dtype=bool)  # weights became non-finite in a step
    members = np.asarray(chunk.indices)
    member_steps = 0
    while True:
        tick = time.perf_counter()
        last = member_steps >= steps
        ev = obj.evaluate(need_grad=not last)
        n_active = len(active)
        # a non-finite gradient makes the Adam step non-finite, caught below; here the value
        mse = ev.mse.detach().to(device="cpu", dtype=torch.float64).numpy()
        value = ev.value.detach().to(device="cpu", dtype=torch.float64).numpy()
        finite = np.isfinite(value) & np.isfinite(mse) & ~forced
        hit = mse <= threshold
        stop = (hit & finite if stop_at_target else np.zeros_like(hit)) | ~finite | last
        if stop.any():
            for j in np.flatnonzero(stop).tolist():
                i = chunk.indices[int(active[j])]
                status = "diverged" if not finite[j] else ("reached" if hit[j] else "budget")
                records.set(
                    i, status, float(mse[j]), float(value[j]), member_steps, obj.evaluations
                )
            _finish(family, chunk, orders, obj.params, active, torch.from_numpy(stop))
        records.seconds[members[active.numpy()]] += (time.perf_counter() - tick) / n_active
        if stop.all():
            break
        grads = ev.grads
        if stop.any():
            keep = torch.from_numpy(~stop)
            grads = [g[keep.to(g.device)] for g in grads]
            obj = obj.select(keep.to(obj.params[0].device))
            opt = opt.select(keep, obj.params)
            active = active[keep]
            forced = forced[~stop]
        tick = time.perf_counter()
        previous = [p.detach().clone() for p in obj.params]
        opt.step(grads)
        bad = ~_member_finite([p.detach() for p in obj.params], len(active)).cpu().numpy()
        if bad.any():
            rows = torch.from_numpy(bad)
            with torch.no_grad():
                for p, old in zip(obj.params, previous, strict=True):
                    p[rows.to(p.device)] = old[rows.to(p.device)]
            forced = forced | bad
        member_steps += 1
        records.seconds[members[active.numpy()]] += (time.perf_counter() - tick) / len(active)
        advance(1)


def _run_lbfgs(
    family: TwoLayer | MLP,
    chunk: Chunk,
    make_objective,
    threshold: float,
    steps: int,
    lr: float,
    history_size: int,
    line_search: str | None,
    tolerance_grad: float,
    tolerance_change: float,
    stop_at_target: bool,
    records: _Records,
    advance,
) -> None:
    sub, orders = extract(family, chunk.indices)
    holder = {"obj": make_objective(sub, chunk)}

    def evaluate(x: Tensor, t: Tensor, d: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        obj = holder["obj"]
        obj.set_flat(x + t.to(x.dtype)[:, None] * d)
        ev = obj.evaluate(need_grad=True)
        return (
            ev.value.detach().to(torch.float64),
            ev.mse.detach().to(torch.float64),
            obj.flat_grads(ev.grads),
        )

    tick = time.perf_counter()
    lb = BatchedLBFGS(
        evaluate,
        holder["obj"].flat(),
        lr=lr,
        history_size=history_size,
        line_search=line_search,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
    )
    s = len(chunk.indices)
    active = torch.arange(s)
    members = np.asarray(chunk.indices)
    halted = lb.optimal().cpu()  # torch returns before the first iteration
    iteration = 0
    while True:
        n_active = len(active)
        finite = (
            torch.isfinite(lb.f) & torch.isfinite(lb.aux) & torch.isfinite(lb.g).all(dim=1)
        ).cpu()
        mse = lb.aux.cpu()
        value = lb.f.cpu()
        hit = mse <= threshold
        reached = hit & finite if stop_at_target else torch.zeros_like(hit)
        last = iteration >= steps
        stop = reached | ~finite | halted | torch.full_like(hit, last)
        evals = lb.evals.cpu()
        for j in torch.nonzero(stop).flatten().tolist():
            i = chunk.indices[int(active[j])]
            if not finite[j]:
                status = "diverged"
            elif hit[j]:
                status = "reached"
            else:
                status = "stalled" if halted[j] and not last else "budget"
            records.set(i, status, float(mse[j]), float(value[j]), iteration, int(evals[j]))
        obj = holder["obj"]
        if bool(stop.any()):
            obj.set_flat(lb.x)
            _finish(family, chunk, orders, obj.params, active, stop)
        records.seconds[members[active.numpy()]] += (time.perf_counter() - tick) / n_active
        if bool(stop.all()):
            break
        if bool(stop.any()):
            keep = ~stop
            holder["obj"] = obj.select(keep.to(obj.params[0].device))
            lb.select(keep)
            active = active[keep]
        tick = time.perf_counter()
        moved, stalled = lb.iterate()
        halted = (~moved | stalled).cpu()
        iteration += 1
        advance(1)


# --------------------------------------------------------------------------- fit


def fit(
    family: TwoLayer | MLP | FeatureFamily,
    X: Tensor,
    y: Tensor,
    target: Interpolate | BelowNoise,
    *,
    optimizer: str = "adam",
    lr: float | Sequence[float] | Tensor | None = None,
    steps: int | None = None,
    meta: Any = None,
    noise_level: float | None = None,
    stop_at_target: bool = True,
    penalty: Penalty | None = None,
    strengths: Sequence[float] | Tensor | None = None,
    data_term: DataTerm | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    fused: bool | None = None,
    history_size: int = 100,
    line_search: str | None = "strong_wolfe",
    tolerance_grad: float = 1e-10,
    tolerance_change: float = 1e-14,
    ridge: float = 0.0,
    chunk_bytes: int | None = None,
    analytic: bool | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> tuple[TwoLayer | MLP | FeatureFamily, FitReport]:
    """Train every member of ``family`` on (X, y) to ``target``, full batch.

    Parameters
    ----------
    family : TwoLayer, MLP, RandomFeatures or NTKFeatures
        Trained in place (and returned). Feature families are fitted in closed form
        (``FeatureFamily.fit_min_norm`` with ``ridge``); ``optimizer`` is then ignored.
    X : Tensor, shape (n, d) or (B, n, d)
        Shared inputs, or one input set per member.
    y : Tensor, shape (n,) or (B, n)
        Labels (one output per point).
    target : Interpolate or BelowNoise
        MSE <= tol, or MSE <= sigma^2 - eps [BS, Theorem 3].
    optimizer : {"adam", "lbfgs"}
    lr : float or sequence (B,), optional
        Learning rate (per member with Adam); defaults in :data:`DEFAULTS`.
    steps : int, optional
        Step budget per member (L-BFGS: iterations, each with its line search).
    meta : object with ``noise_level``, optional
        Data metadata; gives sigma^2 for ``BelowNoise`` targets without a noise level.
    noise_level : float, optional
        sigma^2 when neither the target nor ``meta`` gives it.
    stop_at_target : bool
        Freeze members once they reach the target (default). With False every member
        runs the whole budget (used by the smoothest-fit search, whose objective keeps
        improving smoothness after the fit is reached).
    penalty : Penalty, optional
        Added to the objective with per-member ``strengths`` (see
        :mod:`robustlaw.fitting.penalties`).
    strengths : sequence (B,), optional
    data_term : DataTerm, optional
        Map from MSE to the data part of the objective (default: the MSE itself).
    betas, eps, fused
        Adam's settings; ``fused=None`` uses torch's fused kernel when available.
    history_size, line_search, tolerance_grad, tolerance_change
        L-BFGS settings, as in ``torch.optim.LBFGS`` (applied per member). The default
        tolerances are far below torch's (1e-7, 1e-9) so that members stop at their target
        rather than on a small change of the loss near an interpolating solution.
    ridge : float
        Ridge parameter of closed-form fits.
    chunk_bytes : int, optional
        Activation budget of one evaluation chunk (see :mod:`robustlaw.fitting.chunking`).
    analytic : bool, optional
        Squared errors and gradients of two-layer ReLU / leaky-ReLU members on shared data
        from the hand-derived pass (:mod:`robustlaw.fitting.analytic`; same values as
        autograd up to rounding). None (default): wherever it applies; False: autograd
        throughout; True: required (ValueError when the family or data do not allow it).
    device : str or torch.device, optional
        Move the family and data there first.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    family, FitReport
    """
    if not isinstance(family, TwoLayer | MLP | FeatureFamily):
        raise TypeError(
            "family must be a TwoLayer, MLP, RandomFeatures or NTKFeatures family, "
            f"got {type(family).__name__}"
        )
    threshold = resolve_threshold(target, meta=meta, noise_level=noise_level)
    if device is not None:
        family.to(device)
    param = family.W if isinstance(family, FeatureFamily) else next(family.parameters())
    X, y = _check_data(family, X, y)
    X = X.to(device=param.device, dtype=param.dtype)
    y = y.to(device=param.device, dtype=param.dtype)
    start = time.perf_counter()
    target_info = {**target.to_dict(), "threshold": threshold}
    if isinstance(family, FeatureFamily):
        return family, _closed_form(family, X, y, threshold, target_info, ridge, start)
    if optimizer not in DEFAULTS:
        raise ValueError(f"optimizer must be 'adam' or 'lbfgs', got {optimizer!r}")
    lr = DEFAULTS[optimizer]["lr"] if lr is None else lr
    steps = int(DEFAULTS[optimizer]["steps"]) if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    lr_members = _per_member("lr", lr, family.B)
    if optimizer == "lbfgs" and not bool((lr_members == lr_members[0]).all()):
        raise ValueError("L-BFGS takes one lr for all members")
    if history_size < 1:
        raise ValueError(f"history_size must be >= 1, got {history_size!r}")
    strength_t = None
    if strengths is not None:
        strength_t = torch.as_tensor(strengths, dtype=torch.float64).flatten()
        if strength_t.numel() != family.B or not torch.isfinite(strength_t).all():
            raise ValueError(f"strengths must hold one finite value per member ({family.B})")
    if analytic is not None and not isinstance(analytic, bool):
        raise TypeError(f"analytic must be None, True or False, got {analytic!r}")
    if analytic and not (X.ndim == 2 and y.ndim == 1 and analytic_supported(family, X)):
        raise ValueError(
            "analytic=True needs a TwoLayer family with relu or leaky_relu and shared data "
            f"X (n, d), y (n,), got {type(family).__name__} with activation "
            f"{getattr(getattr(family, 'activation', None), 'name', None)!r}, X "
            f"{tuple(X.shape)}, y {tuple(y.shape)}"
        )
    if penalty is not None and not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a Penalty, got {type(penalty).__name__}")
    n = X.shape[-2]
    chunk_bytes = default_chunk_bytes(param.device) if chunk_bytes is None else int(chunk_bytes)
    chunks = plan_chunks(family, n, chunk_bytes)
    records = _Records(family.B)

    def make_objective(sub: TwoLayer | MLP, chunk: Chunk) -> Objective:
        idx = list(chunk.indices)
        Xs = X if X.ndim == 2 else X[idx]
        ys = y if y.ndim == 1 else y[idx]
        st = None
        if penalty is not None:
            st = (
                torch.ones(len(idx), dtype=torch.float64) if strength_t is None else strength_t[idx]
            ).to(device=param.device)
        term = data_term.select(torch.as_tensor(idx)) if data_term is not None else None
        return Objective(sub, Xs, ys, term, penalty, st, chunk.rows, analytic)

    with _progress(progress) as bar:
        task = bar.add_task(f"fit ({optimizer})", total=len(chunks) * steps)
        for chunk in chunks:
            done = {"n": 0}

            def advance(k: int, done=done) -> None:
                done["n"] += k
                bar.advance(task, k)

            bar.update(task, description=f"fit ({optimizer}, width {chunk.signature})")
            if optimizer == "adam":
                _run_adam(
                    family, chunk, make_objective, threshold, steps, lr_members, betas, eps,
                    fused, stop_at_target, records, advance,
                )  # fmt: skip
            else:
                _run_lbfgs(
                    family, chunk, make_objective, threshold, steps, float(lr_members[0]),
                    history_size, line_search, tolerance_grad, tolerance_change,
                    stop_at_target, records, advance,
                )  # fmt: skip
            bar.advance(task, steps - done["n"])
    settings = {
        "lr": lr_members.tolist()
        if not bool((lr_members == lr_members[0]).all())
        else float(lr_members[0]),
        "steps": steps,
        "stop_at_target": stop_at_target,
        "chunk_bytes": chunk_bytes,
        "chunks": len(chunks),
        "penalty": None if penalty is None else penalty.name,
        "analytic": bool(X.ndim == 2 and y.ndim == 1 and analytic_supported(family, X))
        if analytic is None
        else analytic,
    }
    if optimizer == "adam":
        settings.update(betas=list(betas), eps=eps, fused=fused)
    else:
        settings.update(
            history_size=history_size,
            line_search=line_search,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
        )
    report = FitReport(
        members=tuple(
            MemberFit(
                index=i,
                status=records.status[i],  # type: ignore[arg-type]
                mse=float(records.mse[i]),
                objective=float(records.objective[i]),
                threshold=threshold,
                steps=int(records.steps[i]),
                evaluations=int(records.evals[i]),
                seconds=float(records.seconds[i]),
                member=dict(family.members[i]),
            )
            for i in range(family.B)
        ),
        target=target_info,
        optimizer=optimizer,
        settings=settings,
        seconds=time.perf_counter() - start,
        device=str(param.device),
        dtype=str(param.dtype).replace("torch.", ""),
    )
    return family, report


def _closed_form(
    family: FeatureFamily,
    X: Tensor,
    y: Tensor,
    threshold: float,
    target_info: dict,
    ridge: float,
    start: float,
) -> FitReport:
    if X.ndim != 2 or y.ndim != 1:
        raise ValueError("closed-form fits need shared data: X (n, d) and y (n,)")
    mse = family.fit_min_norm(X, y, ridge=ridge).detach().cpu().to(torch.float64)
    seconds = time.perf_counter() - start
    members = []
    for i in range(family.B):
        value = float(mse[i])
        if not math.isfinite(value):
            status = "diverged"
        else:
            status = "reached" if value <= threshold else "stalled"
        members.append(
            MemberFit(
                index=i,
                status=status,  # type: ignore[arg-type]
                mse=value,
                objective=value,
                threshold=threshold,
                steps=0,
                evaluations=1,
                seconds=seconds / family.B,
                member=dict(family.members[i]),
            )
        )
    return FitReport(
        members=tuple(members),
        target=target_info,
        optimizer="closed_form",
        settings={"ridge": ridge, "method": "min_norm"},
        seconds=seconds,
        device=str(family.W.device),
        dtype=str(family.W.dtype).replace("torch.", ""),
    )
