"""The exact Lipschitz constant of one two-layer piecewise-linear net.

On R^d, Lip(f) = max over realizable patterns s of ||g0 + M^T s|| (docs/science.md,
Section 5): the patterns of the regions with non-empty interior. Two exact algorithms:

- **vertex enumeration** (R^d, small d; :mod:`robustlaw._pl.enum`): every region has a
  vertex where d hyperplanes meet, and in general position the regions at a vertex are
  its 2^d orthants;
- **branch and bound** over patterns with LP realizability and relaxation bounds
  (:mod:`robustlaw._pl.bnb`), seeded by sampled points and greedy region ascent; within
  its budget it returns the certified interval it reached.

Domains: ``"rd"``; ``"ball"`` (regions meeting the open unit ball; exact); ``"sphere"``
(sup over the sphere of the tangential norm, which varies inside a region: a region's
upper bound is :func:`~robustlaw._pl.sphere.tangential_upper`, its lower bound the
tangential norm at a witness on the sphere; equal, and then proven, when the best region
has a point of the sphere orthogonal to its gradient; else the status says "interval").

Every lower bound is the gradient norm recomputed on the net in float64 at a witness
point strictly inside its region (:meth:`PLNet.verified`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from robustlaw._pl.bnb import Incumbent, branch_and_bound
from robustlaw._pl.enum import enumeration_cost, vertex_enumeration
from robustlaw._pl.lp import FEASIBLE_MARGIN, RegionLP
from robustlaw._pl.net import PLNet, tangential
from robustlaw._pl.parallel import Helpers
from robustlaw._pl.settings import ExactSettings
from robustlaw._pl.sphere import sphere_point, tangential_upper

__all__ = ["ExactResult", "enumerates", "solve_exact", "start_helpers"]


@dataclass(frozen=True)
class ExactResult:
    """A certified interval [lower, upper] on Lip of one net on a domain.

    ``x`` is the witness of ``lower`` (value recomputed on the net; None without one)
    with its activation pattern; ``status`` is "ok" (proven: relative gap <= tol),
    "budget" or "interval: ..."; ``info`` holds the algorithm, nodes, LPs, processes.
    """

    lower: float
    upper: float
    x: np.ndarray | None
    pattern: np.ndarray | None
    status: str
    info: dict[str, Any] = field(default_factory=dict)


def start_helpers(workers: int, settings: ExactSettings) -> tuple[Helpers | None, str | None]:
    """``workers - 1`` helper processes for :func:`solve_exact`, or (None, why) when this
    process cannot start them (the search then runs in one process)."""
    if workers <= 1:
        return None, None
    try:
        return Helpers(workers - 1, settings), None
    except Exception as exc:  # e.g. a daemonic process may not have children
        return None, f"helper processes could not start ({type(exc).__name__}: {exc})"


def enumerates(k: int, d: int, domain: str, method: str, settings: ExactSettings) -> bool:
    """Whether :func:`solve_exact` starts with vertex enumeration for ``k`` units in R^d:
    asked for, or ``method="auto"`` with d <= ``settings.enumeration_max_dim`` and the
    enumeration's cost at most ``settings.enumeration_limit``."""
    return domain == "rd" and (
        method == "enumeration"
        or (
            method == "auto"
            and d <= settings.enumeration_max_dim
            and enumeration_cost(k, d) <= settings.enumeration_limit
        )
    )


def _sample_points(
    net: PLNet, domain: str, n: int, rng: np.random.Generator, device: Any, top: int = 8
) -> list[np.ndarray]:
    """The points of the ``top`` best distinct regions hit by ``n`` random points.

    R^d: Gaussian directions with log-uniform radii from 1e-2 to 1e3 times the scale of
    the arrangement (1 + max |b_l|, rows being unit), so that unbounded regions far out
    are reached; ball: uniform in the ball; sphere: uniform on the sphere, valued by the
    tangential norm. Best first.
    """
    arr = net.arrangement
    dirs = rng.standard_normal((n, arr.d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    if domain == "rd":
        scale = 1.0 + (float(np.max(np.abs(arr.b))) if arr.k else 0.0)
        X = dirs * (scale * 10.0 ** rng.uniform(-2.0, 3.0, size=n))[:, None]
    elif domain == "ball":
        X = dirs * (rng.uniform(size=n) ** (1.0 / arr.d))[:, None] * (1 - 1e-9)
    else:
        X = dirs
    t = lambda a: torch.as_tensor(a, device=torch.device(device))  # noqa: E731
    Xt = t(X)
    pre = Xt @ t(arr.W).T + t(arr.b)
    S = pre > 0
    G = S.to(torch.float64) @ t(arr.M) + t(arr.g0)
    vals = tangential(G, Xt) if domain == "sphere" else G.norm(dim=1)
    ok = (pre.abs() > FEASIBLE_MARGIN).all(dim=1) if arr.k else torch.ones(n, dtype=torch.bool)
    vals = torch.where(ok.to(vals.device), vals, torch.full_like(vals, -1.0)).cpu().numpy()
    S_np = S.cpu().numpy()
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    for i in np.argsort(-vals, kind="stable"):
        if vals[i] < 0 or len(out) >= top:
            break
        if (key := S_np[i].tobytes()) not in seen:
            seen.add(key)
            out.append(X[i])
    return out


def greedy_ascent(
    net: PLNet, lp: RegionLP, x: np.ndarray, max_lps: int, deadline: float | None = None
) -> tuple[float, np.ndarray, int]:
    """Move from the region of x to a realizable neighbour pattern (one unit flipped) of
    larger gradient norm while one exists; the flips are tried best gain first. Stops
    after ``max_lps`` LPs or at ``deadline`` (a :func:`time.perf_counter` value).

    Returns (value, point inside the final region, LPs used).
    """
    arr = net.arrangement
    s = arr.pattern(x)
    g = arr.gradient(s)
    val = float(np.linalg.norm(g))
    used = 0
    while used < max_lps:
        cand = np.linalg.norm(g + np.where(s, -1.0, 1.0)[:, None] * arr.M, axis=1)
        moved = False
        for unit in np.argsort(-cand):
            if cand[unit] <= val * (1 + 1e-12) or used >= max_lps:
                break
            if deadline is not None and time.perf_counter() > deadline:
                return val, x, used
            sign = np.where(s, 1, -1).astype(np.int8)
            sign[unit] = -sign[unit]
            res = lp.margin(sign)
            used += 1
            if res.witness:
                s, x, moved = sign > 0, res.x, True
                g = arr.gradient(s)
                val = float(np.linalg.norm(g))
                break
        if not moved:
            break
    return val, x, used


class _Member:
    """The search for one net: arrangement, LPs, incumbent, leaf evaluation."""

    def __init__(
        self,
        net: PLNet,
        domain: str,
        rng: np.random.Generator,
        settings: ExactSettings,
        deadline: float | None,
    ) -> None:
        self.net, self.domain, self.rng, self.deadline = net, domain, rng, deadline
        self.arr = net.arrangement
        self.lp = RegionLP(
            self.arr.W, self.arr.b, domain != "rd", cuts=settings.cuts, warm=settings.warm_lp
        )
        self.lp.deadline = deadline
        self.incumbent = Incumbent()
        self._climbing = False
        self.climb_lps = 0

    def late(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def climb(self) -> None:
        """Greedy region ascent from the incumbent's point (after each improvement)."""
        if self._climbing or self.incumbent.x is None or self.domain == "sphere":
            return
        self._climbing = True
        try:
            while not self.late():
                before = self.incumbent.value
                k = self.arr.k
                _, x, used = greedy_ascent(
                    self.net, self.lp, self.incumbent.x, 4 * k, self.deadline
                )
                self.climb_lps += used
                self.offer_point(x)
                if self.incumbent.value <= before:
                    break
        finally:
            self._climbing = False

    def leaf(self, s: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray | None, float]:
        g = self.arr.gradient(s)
        gn = float(np.linalg.norm(g))
        if self.domain != "sphere":
            return gn, x, gn
        if gn <= self.incumbent.value or self.late():
            return 0.0, None, gn  # no time for the LPs: ||g|| stays the region's bound
        up = tangential_upper(self.arr, s, self.lp.cuts, self.deadline)
        if up <= self.incumbent.value or self.late():
            return 0.0, None, up
        val, wx = sphere_point(self.arr, s, self.rng, x)
        return val, wx, up

    def offer_point(self, x: np.ndarray) -> None:
        """Offer the region of a point; a point of the sphere counts with its tangential
        norm, a point inside the ball (sphere domain) starts a tangential search."""
        arr, inc = self.arr, self.incumbent
        pre = arr.W @ x + arr.b
        if arr.k and np.min(np.abs(pre)) <= FEASIBLE_MARGIN:
            # next to a kink (another method's witness): the region of its signs, through
            # the point of largest margin, when that region has interior
            if self.domain == "sphere" or self.late():
                return
            res = self.lp.margin(np.where(pre > 0, 1, -1).astype(np.int8))
            if not res.witness:
                return
            x, pre = res.x, arr.W @ res.x + arr.b
        if self.domain == "sphere" and abs(float(np.linalg.norm(x)) - 1.0) <= 1e-12:
            val = float(tangential(arr.gradient(pre > 0), x))
            if val > inc.value:
                inc.value, inc.x, inc.pattern = val, x.copy(), pre > 0
            return
        if self.domain == "ball" and np.linalg.norm(x) >= 1.0 - FEASIBLE_MARGIN:
            return
        before = inc.value
        inc.offer(pre > 0, x, self.leaf)
        if inc.value > before:
            self.climb()


def solve_exact(
    net: PLNet,
    domain: str = "rd",
    *,
    seconds: float | None = 60.0,
    nodes: int | None = None,
    tol: float = 1e-6,
    hints: Sequence[np.ndarray] = (),
    method: str = "auto",
    samples: int = 4096,
    seed: int = 0,
    device: Any = "cpu",
    progress: Callable[[dict], None] | None = None,
    helpers: Helpers | None = None,
    settings: ExactSettings | None = None,
    floor: float = 0.0,
) -> ExactResult:
    """Certified interval on Lip of ``net`` on ``domain`` (exact when proven).

    Parameters
    ----------
    net : PLNet
    domain : {"rd", "ball", "sphere"}
    seconds, nodes : time limit and branch-and-bound node limit (None: none).
    tol : relative gap (upper - lower) / upper at which the net counts as solved.
    hints : points whose regions seed the incumbent (re-verified here).
    method : {"auto", "enumeration", "branch_and_bound"}
        "auto" enumerates vertices on R^d when :func:`enumerates` says so.
    samples : random points of the domain evaluated before branching.
    seed : seed of the sampling.
    device : torch device of the batched sampling.
    progress : called with (nodes, lower, upper, seconds) every ``progress_every`` nodes.
    helpers : helper processes that take parts of the tree (:func:`start_helpers`;
        R^d and the ball, under a time limit).
    settings : ExactSettings
    floor : a certified lower bound found elsewhere (another method's), used to prune
        the branch and bound: the upper bound stays certified, and the result's lower
        bound is the solver's own (a member whose tree closes against the floor alone
        has status "interval: closed by the given lower bound").
    """
    settings = settings or ExactSettings()
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    rng = np.random.default_rng(seed)
    if domain == "sphere" and net.d == 1:  # S^0 = {-1, 1}: no tangent directions
        x = np.ones(1)
        return ExactResult(0.0, 0.0, x, net.gradient_at(x)[1], "ok", {"algorithm": "trivial"})
    mem = _Member(net, domain, rng, settings, deadline)
    arr = mem.arr
    info: dict[str, Any] = {"units": arr.k, "algorithm": None, "processes": 1}
    upper, witness_x, complete = None, None, False
    if enumerates(arr.k, arr.d, domain, method, settings):
        res = vertex_enumeration(arr, device=device, deadline=deadline)
        if res is None:
            info["enumeration"] = "degenerate"
        else:
            info.update(algorithm="enumeration", vertices=res.vertices)
            checked = net.verified(res.x, domain)
            if checked is not None:
                mem.incumbent.value, mem.incumbent.x = checked[0], res.x
            if res.complete and mem.incumbent.x is not None:
                upper, witness_x, complete = res.value, mem.incumbent.x, True
            else:
                info["enumeration"] = "incomplete" if not res.complete else "witness_failed"
    if not complete:
        for p in hints:
            mem.offer_point(p / np.linalg.norm(p) if domain == "sphere" else p)
        if samples:
            sampled = _sample_points(net, domain, samples, rng, device)
            for p in sampled:
                if mem.late():
                    break
                mem.offer_point(p)
            for p in sampled[:6]:  # greedy ascent from the best sampled regions
                if mem.late():
                    break
                x0 = p if domain != "sphere" else p * (1 - 1e-6)
                _, xg, _ = greedy_ascent(net, mem.lp, x0, max(50, 4 * arr.k), deadline)
                mem.offer_point(xg)
        info.update(heuristic_lower=mem.incumbent.value, algorithm="branch_and_bound")
        parallel = None
        if helpers is not None and domain != "sphere" and nodes is None:
            parallel = helpers.bind(net, domain != "rd", tol).search
        search = branch_and_bound(
            arr,
            mem.lp,
            mem.leaf,
            mem.incumbent,
            settings,
            tol=tol,
            deadline=deadline,
            max_nodes=nodes,
            progress=progress,
            on_improve=mem.climb,
            parallel=parallel,
            floor=floor,
        )
        info.update(nodes=search.nodes, lps=search.lps, climb_lps=mem.climb_lps, **search.info)
        if parallel is not None:
            info["processes"] = 1 + len(helpers.procs)
        upper, witness_x, complete = search.upper, search.x, search.complete
    info["lps_total"] = mem.lp.calls + info.get("helper_lps", 0)
    lower, xw, pattern = 0.0, None, None
    checked = None if witness_x is None else net.verified(witness_x, domain)
    if checked is not None:
        lower, pattern, info["witness_margin"] = checked
        xw = witness_x / np.linalg.norm(witness_x) if domain == "sphere" else witness_x
    upper = max(float(upper), lower)
    if complete and upper - lower <= tol * upper:
        status = "ok"
    elif not complete:
        status = "budget"
    elif upper - max(lower, floor) <= tol * upper:
        status = "interval: closed by the given lower bound"
    elif xw is None:
        status = "interval: no verified witness"
    elif domain == "sphere":
        status = "interval: tangential norm below the region bound (sphere)"
    else:
        status = "interval: regions without a witness remain"
    info["seconds"] = time.perf_counter() - start
    return ExactResult(lower, upper, xw, pattern, status, info)
