"""The exact Lipschitz constant of two-layer relu / leaky-relu families (method "exact").

A thin layer over the engine's solver (:func:`robustlaw._pl.solve_exact`, documented
there): inputs are checked here, each member becomes a :class:`~robustlaw._pl.PLNet`,
helper processes are started once per family, and the members' certified intervals are
collected into a :class:`~robustlaw.lipschitz.MethodResult`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from robustlaw._pl import ExactSettings, family_nets, solve_exact, start_helpers
from robustlaw._pl.exact import enumerates
from robustlaw._pl.settings import settings_from
from robustlaw._spawn import cpu_share
from robustlaw.lipschitz._common import not_applicable
from robustlaw.lipschitz.result import (
    Budget,
    MethodResult,
    Witness,
    normalize_domain,
    register_method,
)
from robustlaw.models.two_layer import TwoLayer

__all__ = ["exact_lipschitz"]

log = logging.getLogger(__name__)

_METHODS = ("auto", "enumeration", "branch_and_bound")


def _check_inputs(
    family: object, budget: object, tol: object, method: object, samples: object
) -> None:
    if not isinstance(family, TwoLayer):
        raise TypeError(f"family must be a robustlaw.models.TwoLayer, got {type(family).__name__}")
    weights = family.effective_weights()
    for name in ("W", "b", "a", "v"):
        tensor = getattr(weights, name)
        if tensor is not None and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"family weights must be finite: {name} holds NaN or inf")
    if not isinstance(budget, Budget):
        raise ValueError(f"budget must be a robustlaw.lipschitz.Budget, got {budget!r}")
    if (
        isinstance(tol, bool)
        or not isinstance(tol, int | float)
        or not math.isfinite(tol)
        or not 0 < tol < 1
    ):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples must be a non-negative integer, got {samples!r}")


def _hint_points(lower_hint: object, B: int, d: int) -> list[list[np.ndarray]]:
    """Candidate points per member from a MethodResult, witnesses or (B, d) points."""
    out: list[list[np.ndarray]] = [[] for _ in range(B)]
    if lower_hint is None:
        return out
    items: Sequence[Any]
    if isinstance(lower_hint, MethodResult):
        items = lower_hint.witnesses if lower_hint.witnesses else [None] * lower_hint.B
    elif isinstance(lower_hint, np.ndarray | torch.Tensor):
        items = list(
            np.asarray(
                lower_hint.cpu() if isinstance(lower_hint, torch.Tensor) else lower_hint,
                dtype=np.float64,
            )
        )
    else:
        items = list(lower_hint)
    if len(items) != B:
        raise ValueError(f"lower_hint must have one entry per member ({B}), got {len(items)}")
    for i, item in enumerate(items):
        if item is None:
            continue
        pts = (
            [item.x] + ([item.x2] if item.x2 is not None else [])
            if isinstance(item, Witness)
            else [item]
        )
        for p in pts:
            arr = np.asarray(p, dtype=np.float64).reshape(-1)
            if arr.shape != (d,) or not np.all(np.isfinite(arr)):
                raise ValueError(
                    f"lower_hint[{i}] must hold points of shape ({d},), got {arr.shape}"
                )
            out[i].append(arr)
    return out


@register_method(
    "exact",
    kind="exact",
    models=("two_layer",),
    domains=("rd", "ball", "sphere"),
    description=(
        "Exact Lip of two-layer relu / leaky-relu networks: max gradient norm over the "
        "regions of the hyperplane arrangement, by vertex enumeration (small d) or branch "
        "and bound over activation patterns with LP realizability; certified interval "
        "when the budget runs out"
    ),
)
def _exact_method(model: TwoLayer, domain: str, budget: Budget | None, **options: Any):
    return exact_lipschitz(model, domain=domain, budget=budget, **options)


def exact_lipschitz(
    family: TwoLayer,
    domain: str = "rd",
    budget: Budget | None = None,
    tol: float = 1e-6,
    lower_hint: MethodResult | Sequence | np.ndarray | None = None,
    *,
    method: str = "auto",
    samples: int = 4096,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Callable[[dict], None] | None = None,
    workers: int | str = "auto",
    settings: ExactSettings | dict | None = None,
) -> MethodResult:
    """Exact Lipschitz constant of every member of a two-layer relu / leaky-relu family.

    Parameters
    ----------
    family : TwoLayer
        B networks; masked units are ignored.
    domain : {"rd" (or "R^d"), "ball", "sphere"}
    budget : Budget, optional
        Per member: seconds (default 60) and branch-and-bound nodes. When it runs out the
        member's certified interval [lower, upper] is returned with status "budget".
        Every stage watches the clock (vertex enumeration per chunk, the sampled and
        greedy heuristics per LP, the region climbs, the semidefinite bound per
        iteration, each node and each chain of forced units, the ball's cutting planes,
        the sphere's tangential LPs), so a member ends within the budget plus the cost
        of one such step and of the set-up (sampling, the first bound; the first search
        after installation also compiles the solver's kernels, about 5 s).
    tol : float
        Relative gap (upper - lower) / upper at which a member counts as solved.
    lower_hint : MethodResult, sequence of (Witness or point or None), or (B, d) array
        Points whose regions seed the incumbent (re-verified here); a MethodResult's
        certified lower bounds also prune the branch and bound (the result's lower bound
        stays the solver's own, recomputed at its witness).
    method : {"auto", "enumeration", "branch_and_bound"}
        "auto" enumerates vertices on R^d for small d (see :class:`ExactSettings`).
    samples : int
        Random points of the domain evaluated before branching.
    seed : int
        Seed of the sampling.
    device : torch device for batched evaluation (default: the family's).
    progress : callable, optional
        Called with a dict (member, nodes, lower, upper, seconds) every
        ``settings.progress_every`` nodes.
    workers : int or "auto"
        Processes that search a member's branch-and-bound tree under a time budget (R^d
        and the ball): ``workers - 1`` helper processes are started, from any caller
        (:func:`robustlaw._spawn.start_process`), and take parts of the open nodes
        (:mod:`robustlaw._pl.parallel`). Where no process can be started the search runs
        in this process and the info says why; ``info["processes"]`` counts the
        processes that searched. A node budget, the sphere and enumeration run in this
        process alone. "auto" (default): :func:`robustlaw._spawn.cpu_share` (torch's
        thread count, at most the available cores; one inside a sweep's worker).
    settings : ExactSettings or mapping of its fields, optional
        The branch and bound's settings (node bounds, no-goods, cuts of the ball).

    Returns
    -------
    MethodResult
        kind "exact"; per member lower (recomputed at the witness), upper (certified),
        status "ok" (proven: relative gap <= tol), "budget", "interval: ..." (sphere:
        the tangential norm inside the best region stays below its gradient norm), or
        "not_applicable: ..." (activation not relu / leaky relu); witnesses carry the
        point, its value and its activation pattern; info holds the algorithm, nodes,
        LPs, vertices and processes.
    """
    domain = normalize_domain(domain)
    if budget is None:
        budget = Budget(seconds=60.0)
    _check_inputs(family, budget, tol, method, samples)
    if workers == "auto":
        workers = cpu_share()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or 'auto', got {workers!r}")
    settings = settings_from(ExactSettings, settings)
    device = family.W.device if device is None else device
    hints = _hint_points(lower_hint, family.B, family.d)
    floors = np.zeros(family.B)
    if isinstance(lower_hint, MethodResult):  # certified lower bounds: they prune the tree
        floors = np.nan_to_num(np.asarray(lower_hint.lower, dtype=np.float64), nan=0.0)
    act = family.activation
    if not (act.piecewise_linear and len(act.slopes) == 2 and max(act.slopes) == 1.0):
        why = f"activation {act.name!r} is not relu or leaky relu"
        return not_applicable("exact", "exact", domain, family.B, why)
    nets = family_nets(family)
    # the batched work here is small and memory-bound: one CPU thread is faster, and
    # several threads spin badly when the cores are shared
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    # helpers split trees under a time budget only (a node budget stays in one process,
    # so that its result does not depend on timing); the sphere's leaves need this
    # process's tangential LPs
    # enumeration (small d on R^d, every member) runs in this process
    parallel = (
        workers > 1
        and domain != "sphere"
        and budget.nodes is None
        and not all(
            enumerates(k, family.d, domain, method, settings) for k in family.widths.tolist()
        )
    )
    helpers, why = start_helpers(workers if parallel else 1, settings)
    try:
        results = []
        for i, net in enumerate(nets):
            t0 = time.perf_counter()
            cb = None if progress is None else (lambda st, i=i: progress({"member": i, **st}))
            res = solve_exact(
                net, domain, seconds=budget.seconds, nodes=budget.nodes, tol=tol,
                hints=hints[i], method=method, samples=samples, seed=seed, device=device,
                progress=cb, helpers=helpers, settings=settings, floor=float(floors[i]),
            )  # fmt: skip
            if why is not None:
                res.info["parallel"] = f"{why}: searched in one process"
            results.append((res, time.perf_counter() - t0))
            log.info("exact member %d: [%.6g, %.6g] %s", i, res.lower, res.upper, res.status)
    finally:
        torch.set_num_threads(threads)
        if helpers is not None:
            helpers.close()
    return MethodResult(
        method="exact",
        kind="exact",
        domain=domain,
        lower=np.array([r.lower for r, _ in results]),
        upper=np.array([r.upper for r, _ in results]),
        seconds=np.array([t for _, t in results]),
        status=[r.status for r, _ in results],
        witnesses=[
            None if r.x is None else Witness(x=r.x, value=r.lower, pattern=r.pattern)
            for r, _ in results
        ],
        info=[r.info for r, _ in results],
    )
