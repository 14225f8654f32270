"""Shared plumbing of the Lipschitz methods: argument checks, timing, result assembly."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustlaw._pl.bounds import SAFETY as SAFETY  # the padding of every upper bound
from robustlaw._pl.threads import threads_for as threads_for
from robustlaw.lipschitz.domain import witness_value
from robustlaw.lipschitz.result import Budget, MethodResult, Witness, normalize_domain
from robustlaw.lipschitz.stack import Stack, as_stack


def prepare(
    model: Any, domain: str, budget: Budget | None, device: Any = None
) -> tuple[Stack, str, Budget]:
    """Validate the common arguments of every method at the boundary."""
    domain = normalize_domain(domain)
    if budget is None:
        budget = Budget()
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
    return as_stack(model, device=device), domain, budget


def as_points(X: Any, stack: Stack, name: str = "X") -> Tensor | None:
    """Data points as a float64 tensor of shape (n, d) or (B, n, d), checked."""
    if X is None:
        return None
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, Tensor) else X)
    X = X.detach().to(dtype=torch.float64, device=stack.device)
    if X.ndim == 2:
        ok = X.shape[1] == stack.d
    elif X.ndim == 3:
        ok = X.shape[0] == stack.B and X.shape[2] == stack.d
    else:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must have shape (n, {stack.d}) or ({stack.B}, n, {stack.d}), "
            f"got {tuple(X.shape)}"
        )
    if X.shape[-2] == 0:
        raise ValueError(f"{name} must hold at least one point")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return X


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Clock:
    """Wall-clock budget for a method: ``limit`` seconds in total (None: unlimited)."""

    def __init__(self, limit: float | None) -> None:
        self.start = time.perf_counter()
        self.limit = limit

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def out(self) -> bool:
        return self.limit is not None and self.elapsed >= self.limit


def member_pattern(stack: Stack, member: int, x: np.ndarray) -> np.ndarray | None:
    """The hidden activation pattern at x of a two-layer member (over the padded units)."""
    if stack.depth != 2:
        return None
    X = torch.as_tensor(x, dtype=torch.float64, device=stack.device)[None, None, :]
    return stack.select([member]).pattern(X)[0][0, 0].cpu().numpy()


def lower_result(
    method: str,
    domain: str,
    stack: Stack,
    points: list[tuple[np.ndarray, np.ndarray | None] | None],
    seconds: float,
    status: list[str] | None = None,
    info: list[dict[str, Any]] | None = None,
) -> MethodResult:
    """Assemble a lower-bound result from one candidate witness per member.

    Every witness value is recomputed here by :func:`witness_value` in float64 on the
    member alone, and that recomputed value is the certified lower bound.
    """
    B = stack.B
    lower = np.zeros(B)
    witnesses: list[Witness | None] = []
    for b, cand in enumerate(points):
        if cand is None:
            witnesses.append(None)
            continue
        x, x2 = cand
        probe = Witness(x=np.asarray(x, dtype=np.float64), value=0.0, x2=x2)
        value = witness_value(stack, b, probe, domain)
        if not (value > 0 and math.isfinite(value)):
            witnesses.append(None)
            continue
        pattern = member_pattern(stack, b, probe.x) if x2 is None else None
        witnesses.append(
            Witness(
                x=probe.x,
                value=value,
                x2=None if x2 is None else np.asarray(x2, dtype=np.float64),
                pattern=pattern,
            )
        )
        lower[b] = value
    return MethodResult(
        method=method,
        kind="lower",
        domain=domain,
        lower=lower,
        upper=np.full(B, math.inf),
        seconds=np.full(B, seconds / max(B, 1)),
        status=list(status) if status is not None else ["ok"] * B,
        witnesses=witnesses,
        info=list(info) if info is not None else [{} for _ in range(B)],
    )


def upper_result(
    method: str,
    domain: str,
    upper: np.ndarray,
    seconds: np.ndarray | float,
    status: list[str],
    info: list[dict[str, Any]] | None = None,
) -> MethodResult:
    """Assemble an upper-bound result.

    Members whose status is neither "ok" nor "budget" (a certified value reached within
    the budget) get upper = inf: a failed or unconverged solve certifies nothing.
    """
    upper = np.asarray(upper, dtype=np.float64).copy()
    B = len(upper)
    for b, st in enumerate(status):
        if st not in ("ok", "budget") or not math.isfinite(upper[b]) or upper[b] < 0:
            upper[b] = math.inf
    seconds = np.broadcast_to(np.asarray(seconds, dtype=np.float64), (B,)).copy()
    return MethodResult(
        method=method,
        kind="upper",
        domain=domain,
        lower=np.zeros(B),
        upper=upper,
        seconds=seconds,
        status=list(status),
        witnesses=[None] * B,
        info=list(info) if info is not None else [{} for _ in range(B)],
    )


def empty_result(method: str, kind: str, domain: str, B: int, status: str) -> MethodResult:
    """A result without bounds (lower 0, upper inf) for every member, with ``status``."""
    return MethodResult(
        method=method,
        kind=kind,  # type: ignore[arg-type]
        domain=domain,
        lower=np.zeros(B),
        upper=np.full(B, math.inf),
        seconds=np.zeros(B),
        status=[status] * B,
        witnesses=[None] * B,
        info=[{} for _ in range(B)],
    )


def not_applicable(method: str, kind: str, domain: str, B: int, why: str) -> MethodResult:
    """A result saying the method does not apply to this model (no bound, no error)."""
    return empty_result(method, kind, domain, B, f"not_applicable: {why}")


def best_per_member(values: Tensor, X: Tensor) -> list[tuple[np.ndarray, None] | None]:
    """The argmax point of each member. values: (B, n); X: (n, d) or (B, n, d)."""
    out: list[tuple[np.ndarray, None] | None] = []
    if values.shape[1] == 0:
        return [None] * values.shape[0]
    best = values.argmax(dim=1)
    for b in range(values.shape[0]):
        if not values[b, best[b]] > 0:
            out.append(None)
            continue
        x = X[best[b]] if X.ndim == 2 else X[b, best[b]]
        out.append((x.detach().cpu().numpy().astype(np.float64), None))
    return out
