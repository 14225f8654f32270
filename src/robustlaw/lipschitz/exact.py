"""Exact Lipschitz constant of two-layer piecewise-linear networks over activation patterns.

For f(x) = sum_l a_l psi(w_l . x + b_l) + c + v . x with psi = relu (slopes 0, 1) or
leaky relu (slopes alpha, 1), the gradient on the region with activation pattern s is
g0 + M^T s (see :mod:`robustlaw.lipschitz._exact_geometry`), so (docs/science.md section 5)

    Lip(f) on R^d = max over realizable patterns s of ||g0 + M^T s||,

the patterns of the regions of the arrangement {w_l . x + b_l = 0} with non-empty
interior. Two exact algorithms:

- **vertex enumeration** (R^d, small d): every region has a vertex where d hyperplanes
  meet, and in general position the regions at a vertex are its 2^d orthants, so
  C(k, d) vertices give every region (:mod:`robustlaw.lipschitz._exact_enum`);
- **branch and bound** over patterns with LP realizability checks and relaxation bounds
  (:mod:`robustlaw.lipschitz._exact_bnb`), seeded by sampled points and greedy region
  ascent; within its budget it returns the certified interval it reached.

Domains: ``"rd"``; ``"ball"`` (regions meeting the open unit ball; exact); ``"sphere"``
(sup over the sphere of the tangential norm ||(I - x x^T) grad f(x)||, which varies
inside a region: the upper bound is, over regions meeting the ball and not inside it,
sqrt(||g_R||^2 - m_R^2) with m_R = min |g_R . x| over the region within the ball (LPs),
the lower bound the tangential norm at witness points on the sphere; equal, and then
proven, when the best region has a point of the sphere orthogonal to its gradient; else
the status says "interval").

Every lower bound is the norm of the gradient recomputed from the network in float64 at
a witness point strictly inside its region (its pattern and margin are checked).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from robustlaw.lipschitz._exact_bnb import Incumbent, branch_and_bound
from robustlaw.lipschitz._exact_enum import enumeration_cost, vertex_enumeration
from robustlaw.lipschitz._exact_geometry import (
    FEASIBLE_MARGIN,
    PatternProblem,
    RegionLP,
    member_problem,
    network_gradient,
)
from robustlaw.lipschitz._exact_heuristics import greedy_ascent, sample_points
from robustlaw.lipschitz._exact_parallel import Helpers
from robustlaw.lipschitz._exact_sphere import (
    tangential_norm,
    tangential_upper,
    tangential_witness,
)
from robustlaw.lipschitz.result import (
    Budget,
    MethodResult,
    Witness,
    normalize_domain,
    register_method,
)
from robustlaw.models.two_layer import TwoLayer

__all__ = ["ENUMERATION_LIMIT", "ENUMERATION_MAX_DIM", "exact_lipschitz", "member_arrays"]

log = logging.getLogger(__name__)

#: Vertex enumeration is used on R^d when :func:`enumeration_cost` is at most this
#: (d = 3, k = 256: 9e7; d = 5, k = 64: 1.5e9).
ENUMERATION_LIMIT = 3e8
#: ... and d is at most this (beyond, branch and bound is faster at the widths where
#: enumeration is affordable).
ENUMERATION_MAX_DIM = 4
_METHODS = ("auto", "enumeration", "branch_and_bound")


def member_arrays(family: TwoLayer, index: int) -> dict[str, Any]:
    """Member ``index``'s real units as float64 numpy arrays: W (k, d), b (k,), a (k,),
    v (d,), alpha (slope of the inactive piece)."""
    weights = family.effective_weights()
    mask = weights.mask[index].cpu().numpy()
    W = weights.W[index].detach().cpu().double().numpy()[mask]
    a = weights.a[index].detach().cpu().double().numpy()[mask]
    b = (
        np.zeros(len(W))
        if weights.b is None
        else weights.b[index].detach().cpu().double().numpy()[mask]
    )
    v = (
        np.zeros(family.d)
        if weights.v is None
        else weights.v[index].detach().cpu().double().numpy()
    )
    slopes = weights.activation.slopes
    return {"W": W, "b": b, "a": a, "v": v, "alpha": float(min(slopes))}


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


def _verify(net: dict, x: np.ndarray, domain: str) -> tuple[float, np.ndarray, float] | None:
    """(value recomputed in float64, pattern, margin) at x, or None when x is no witness."""
    if domain == "sphere":
        x = x / np.linalg.norm(x)
    grad, pattern, margin = network_gradient(net, x)
    if not margin > 0:
        return None
    if domain == "ball" and not np.linalg.norm(x) < 1.0:
        return None
    value = tangential_norm(x, grad) if domain == "sphere" else float(np.linalg.norm(grad))
    return value, pattern, margin


class _Member:
    """The search for one member: problem, LPs, incumbent, leaf evaluation."""

    def __init__(
        self,
        net: dict,
        domain: str,
        rng: np.random.Generator,
        lp_backend: str,
        deadline: float | None = None,
    ) -> None:
        self.net = net
        self.deadline = deadline
        self.domain = domain
        self.rng = rng
        self.prob: PatternProblem = member_problem(
            net["W"], net["b"], net["a"], net["v"], net["alpha"]
        )
        self.lp = RegionLP(self.prob.W, self.prob.b, ball=domain != "rd", backend=lp_backend)
        self.lp.deadline = deadline
        self.incumbent = Incumbent()
        self._climbing = False
        self.climb_lps = 0

    def climb(self) -> None:
        """Greedy region ascent from the incumbent's point (after each improvement)."""
        if self._climbing or self.incumbent.x is None or self.domain == "sphere":
            return
        self._climbing = True
        try:
            while not self.late():
                before = self.incumbent.value
                _, x, used = greedy_ascent(
                    self.prob, self.lp, self.incumbent.x, 4 * self.prob.k, self.deadline
                )
                self.climb_lps += used
                self.offer_point(x)
                if self.incumbent.value <= before:
                    break
        finally:
            self._climbing = False

    def late(self) -> bool:
        """The member's deadline has passed."""
        return self.deadline is not None and time.perf_counter() > self.deadline

    def leaf(self, s: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray | None, float]:
        g = self.prob.gradient(s)
        gn = float(np.linalg.norm(g))
        if self.domain != "sphere":
            return gn, x, gn
        if gn <= self.incumbent.value:
            return 0.0, None, gn
        if self.late():  # no time for the LPs: ||g|| stays as the region's upper bound
            return 0.0, None, gn
        up = tangential_upper(self.prob, s, self.lp.cuts, self.deadline)
        if up <= self.incumbent.value or self.late():
            return 0.0, None, up
        val, wx = tangential_witness(self.prob, s, x, self.rng)
        return val, wx, up

    def offer_point(self, x: np.ndarray) -> None:
        """Offer the region of a point; a point of the sphere counts with its tangential
        norm, a point inside the ball (sphere domain) starts a tangential search."""
        pre = self.prob.W @ x + self.prob.b
        if self.prob.k and np.min(np.abs(pre)) <= FEASIBLE_MARGIN:
            return
        if self.domain == "sphere" and abs(float(np.linalg.norm(x)) - 1.0) <= 1e-12:
            val = tangential_norm(x, self.prob.gradient(pre > 0))
            if val > self.incumbent.value:
                self.incumbent.value, self.incumbent.x = val, x.copy()
                self.incumbent.pattern = pre > 0
            return
        if self.domain == "ball" and np.linalg.norm(x) >= 1.0 - FEASIBLE_MARGIN:
            return
        before = self.incumbent.value
        self.incumbent.offer(pre > 0, x, self.leaf)
        if self.incumbent.value > before:
            self.climb()


def _solve_member(
    net: dict,
    domain: str,
    budget: Budget,
    tol: float,
    hints: list[np.ndarray],
    method: str,
    samples: int,
    seed: int,
    device: str | torch.device,
    lp_backend: str,
    progress: Callable[[dict], None] | None,
    helpers: Helpers | None = None,
) -> tuple[float, float, Witness | None, str, dict]:
    start = time.perf_counter()
    deadline = None if budget.seconds is None else start + budget.seconds
    rng = np.random.default_rng(seed)
    d = net["W"].shape[1]
    if domain == "sphere" and d == 1:
        # S^0 = {-1, 1}: no tangent directions
        x = np.ones(1)
        _, pattern, _ = network_gradient(net, x)
        return 0.0, 0.0, Witness(x=x, value=0.0, pattern=pattern), "ok", {"algorithm": "trivial"}
    mem = _Member(net, domain, rng, lp_backend, deadline)
    prob = mem.prob
    info: dict[str, Any] = {"units": prob.k, "algorithm": None}
    upper = None
    witness_x = None
    complete = False
    use_enum = domain == "rd" and (
        method == "enumeration"
        or (
            method == "auto"
            and prob.d <= ENUMERATION_MAX_DIM
            and enumeration_cost(prob.k, prob.d) <= ENUMERATION_LIMIT
        )
    )
    if use_enum:
        res = vertex_enumeration(prob, device=device, deadline=deadline)
        if res is not None:
            info.update(algorithm="enumeration", vertices=res.vertices)
            checked = _verify(net, res.x, domain)
            if checked is not None:
                mem.incumbent.value, mem.incumbent.x = checked[0], res.x
            if res.complete and mem.incumbent.x is not None:
                upper = res.value
                witness_x = mem.incumbent.x
                complete = True
            else:
                info["enumeration"] = "incomplete" if not res.complete else "witness_failed"
        else:
            info["enumeration"] = "degenerate"
    if not complete:
        for p in hints:
            if domain == "sphere":
                p = p / np.linalg.norm(p)
            mem.offer_point(p)
        if samples:
            sampled = [p for _, p in sample_points(prob, domain, samples, rng, device)]
            for p in sampled:
                if mem.late():
                    break
                mem.offer_point(p)
            # greedy ascent from the best sampled regions
            lps_budget = max(50, 4 * prob.k)
            for p in sampled[:6]:
                if deadline is not None and time.perf_counter() > deadline:
                    break
                x0 = p if domain != "sphere" else p * (1 - 1e-6)
                _, xg, _ = greedy_ascent(prob, mem.lp, x0, lps_budget, deadline)
                mem.offer_point(xg)
        info["heuristic_lower"] = mem.incumbent.value
        info["algorithm"] = "branch_and_bound"
        parallel = None
        if helpers is not None:
            parallel = helpers.bind(net, domain != "rd", lp_backend, tol).search
        search = branch_and_bound(
            prob,
            mem.lp,
            mem.leaf,
            mem.incumbent,
            tol=tol,
            deadline=deadline,
            max_nodes=budget.nodes,
            progress=progress,
            on_improve=mem.climb,
            parallel=parallel,
        )
        info.update(nodes=search.nodes, lps=search.lps, climb_lps=mem.climb_lps, **search.info)
        upper = search.upper
        witness_x = search.x
        complete = search.complete
    info["lps_total"] = mem.lp.calls + info.get("helper_lps", 0)
    # verify the witness on the network
    witness = None
    cert_lower = 0.0
    if witness_x is not None:
        checked = _verify(net, witness_x, domain)
        if checked is not None:
            value, pattern, margin = checked
            xw = witness_x / np.linalg.norm(witness_x) if domain == "sphere" else witness_x
            witness = Witness(x=xw, value=value, pattern=pattern)
            cert_lower = value
            info["witness_margin"] = margin
    assert upper is not None
    upper = max(float(upper), cert_lower)
    if complete and upper - cert_lower <= tol * upper:
        status = "ok"
    elif complete:
        if witness is None:
            status = "interval: no verified witness"
        elif domain == "sphere":
            status = "interval: tangential norm below the region bound (sphere)"
        else:
            status = "interval: regions without a witness remain"
    else:
        status = "budget"
    info["seconds"] = time.perf_counter() - start
    return cert_lower, upper, witness, status, info


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
    lp_backend: str = "auto",
    progress: Callable[[dict], None] | None = None,
    workers: int = 1,
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
        of one such step and of the set-up (sampling, the first bound): at most 0.31 s
        over a 3 s budget on the bench grid, up to d = 100, k = 1024 (the first search
        after installation also compiles the solver's kernels, about 5 s).
    tol : float
        Relative gap (upper - lower) / upper at which a member counts as solved.
    lower_hint : MethodResult, sequence of (Witness or point or None), or (B, d) array
        Points whose regions seed the incumbent (re-verified here).
    method : {"auto", "enumeration", "branch_and_bound"}
        "auto" enumerates vertices on R^d when d <= ENUMERATION_MAX_DIM and
        :func:`~robustlaw.lipschitz._exact_enum.enumeration_cost` <= ENUMERATION_LIMIT.
    samples : int
        Random points of the domain evaluated before branching.
    seed : int
        Seed of the sampling.
    device : torch device for batched evaluation (default: the family's).
    lp_backend : {"auto", "highs", "scipy"}
    progress : callable, optional
        Called with a dict (member, nodes, lower, upper, seconds) every 2000 nodes.
    workers : int
        Processes that search a member's branch-and-bound tree under a time budget (R^d
        and the ball): ``workers - 1`` helper processes are started (``spawn``; a script
        must guard its entry point with ``if __name__ == "__main__":``) and take parts
        of the open nodes (:mod:`robustlaw.lipschitz._exact_parallel`). On the
        Lipschitz bench's trained d = 10, k = 64 net, 60 s reach upper/lower 1.071 in
        one process and 1.042 in two (``bench/exact_bench.py --compare --bench-net``).
        A node budget, the sphere and enumeration run in this process alone.

    Returns
    -------
    MethodResult
        kind "exact"; per member lower (recomputed at the witness), upper (certified),
        status "ok" (proven: relative gap <= tol), "budget", "interval: ..." (sphere:
        the tangential norm inside the best region stays below its gradient norm), or
        "not_applicable: ..." (activation not relu / leaky relu); witnesses carry the
        point, its value and its activation pattern; info holds the algorithm, nodes,
        LPs and vertices.
    """
    domain = normalize_domain(domain)
    if budget is None:
        budget = Budget(seconds=60.0)
    _check_inputs(family, budget, tol, method, samples)
    if lp_backend not in ("auto", "highs", "scipy"):
        raise ValueError(f"lp_backend must be 'auto', 'highs' or 'scipy', got {lp_backend!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if device is None:
        device = family.W.device
    B, d = family.B, family.d
    hints = _hint_points(lower_hint, B, d)
    act = family.activation
    applicable = act.piecewise_linear and len(act.slopes) == 2 and max(act.slopes) == 1.0
    # the batched work here is small and memory-bound: one CPU thread is faster, and
    # several threads spin badly when the cores are shared
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    # helpers split trees under a time budget only (a node budget stays in one process,
    # so that its result does not depend on timing); the sphere's leaves need this
    # process's tangential LPs
    helpers = None
    if workers > 1 and applicable and domain != "sphere" and budget.nodes is None:
        helpers = Helpers(workers - 1)
    try:
        return _exact_members(
            family,
            domain,
            budget,
            tol,
            hints,
            method,
            samples,
            seed,
            device,
            lp_backend,
            progress,
            applicable,
            helpers,
        )
    finally:
        torch.set_num_threads(threads)
        if helpers is not None:
            helpers.close()


def _exact_members(
    family: TwoLayer,
    domain: str,
    budget: Budget,
    tol: float,
    hints: list[list[np.ndarray]],
    method: str,
    samples: int,
    seed: int,
    device: str | torch.device,
    lp_backend: str,
    progress: Callable[[dict], None] | None,
    applicable: bool,
    helpers: Helpers | None = None,
) -> MethodResult:
    B = family.B
    act = family.activation
    lower = np.zeros(B)
    upper = np.full(B, np.inf)
    seconds = np.zeros(B)
    status: list[str] = []
    witnesses: list[Witness | None] = []
    infos: list[dict] = []
    for i in range(B):
        t0 = time.perf_counter()
        if not applicable:
            status.append(f"not_applicable: activation {act.name!r} is not relu or leaky relu")
            witnesses.append(None)
            infos.append({})
            continue
        net = member_arrays(family, i)
        cb = None
        if progress is not None:
            cb = lambda state, i=i: progress({"member": i, **state})  # noqa: E731
        lo, up, wit, st, info = _solve_member(
            net,
            domain,
            budget,
            tol,
            hints[i],
            method,
            samples,
            seed,
            device,
            lp_backend,
            cb,
            helpers,
        )
        lower[i], upper[i] = lo, up
        status.append(st)
        witnesses.append(wit)
        infos.append(info)
        seconds[i] = time.perf_counter() - t0
        log.info("exact member %d: [%.6g, %.6g] %s (%s)", i, lo, up, st, info.get("algorithm"))
    return MethodResult(
        method="exact",
        kind="exact",
        domain=domain,
        lower=lower,
        upper=upper,
        seconds=seconds,
        status=status,
        witnesses=witnesses,
        info=infos,
    )
