"""One entry point: run several Lipschitz methods and combine them per member.

:func:`estimate` runs the requested methods from the registry — certified upper bounds
first (most are closed forms; they tell when an interval has closed), then lower bounds
(each search seeded with the best witnesses found so far), then the exact solver — within
one budget for the whole call, and returns a :class:`LipschitzReport`: per member the best
certified lower bound (with its method and witness), the best certified upper bound (with
its method), the exact value when the interval closed or the exact method proved it, the
ratio upper / lower, and every method's time and status.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from robustlaw._progress import progress_bar
from robustlaw.lipschitz._common import as_points, empty_result, prepare
from robustlaw.lipschitz.result import (
    METHODS,
    Budget,
    Interval,
    MethodResult,
    Witness,
    is_closed,
)
from robustlaw.lipschitz.stack import Stack
from robustlaw.models.two_layer import TwoLayer

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_LOWER",
    "DEFAULT_METHODS",
    "DEFAULT_SHARE",
    "DEFAULT_UPPER",
    "GROUPS",
    "SHARES",
    "LipschitzReport",
    "estimate",
    "resolve_methods",
]

log = logging.getLogger(__name__)

#: The default lower-bound methods, in the order they run (later ones start from the
#: witnesses of earlier ones).
DEFAULT_LOWER = (
    "grad_data",
    "grad_random",
    "grad_convex",
    "pairs",
    "ascent",
    "region_search",
    "deep_region_search",
)
#: The default certified upper bounds (``lipsdp`` only when cheap, see :func:`estimate`);
#: on deep stacks the branch and bound ``deep_bnb`` (an exact method: it runs last, from
#: the best lower bounds, with the time that remains).
DEFAULT_UPPER = (
    "spectral",
    "path_norm",
    "averaged",
    "spectral_balanced",
    "averaged_balanced",
    "pattern_enum",
    "pattern_sdp",
    "lipsdp_schur",
    "lipsdp",
    "deep_bnb",
)
#: The methods of a call that names none (group ``"default"``): the upper and lower
#: bounds, then the two-layer exact solver, which gets the time they leave and starts from
#: their best witnesses (skipped on other models, and once every interval has closed).
DEFAULT_METHODS = (*DEFAULT_UPPER, *DEFAULT_LOWER, "exact")
#: Method groups accepted by :func:`estimate`.
GROUPS = {
    "default": DEFAULT_METHODS,
    "lower": DEFAULT_LOWER,
    "upper": DEFAULT_UPPER,
    "exact": ("exact", "deep_exact", "deep_bnb"),
}

#: In the "upper" group, LipSDP (cvxpy) runs on deep stacks with at most this many
#: hidden units; on two-layer networks ``pattern_sdp`` reaches LipSDP's value faster.
LIPSDP_AUTO_UNITS = 128

_KIND_ORDER = {"upper": 0, "lower": 1, "exact": 2}

#: The whole-call budget of :func:`estimate` when none is given: enough for the searches
#: to settle on small two-layer networks; ask for more with ``Budget(seconds=...)``.
DEFAULT_BUDGET = Budget(seconds=1.0)

#: Weight of each method in the split of the remaining time: a method starting with R
#: seconds left gets R * w / (w + the weights of the methods after it), so time one
#: method does not use flows to the ones after it, and the last one gets what remains.
SHARES = {
    "region_search": 4.0,
    "exact": 6.0,
    "ascent": 1.0,
    "lipsdp": 2.0,
    "pattern_enum": 1.0,
    "pattern_sdp": 1.0,
    "deep_exact": 6.0,
    "deep_bnb": 6.0,
}
#: Weight of a method not in :data:`SHARES` (the closed forms and the simple lower bounds).
DEFAULT_SHARE = 0.25


def resolve_methods(methods: str | Sequence[str]) -> list[str]:
    """Expand group names ("lower", "upper", "exact") and check every name exists.

    Unknown names raise a ValueError naming them. Upper bounds come first, then lower
    bounds, then the exact solver.
    """
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, Sequence) or not methods:
        raise ValueError(f"methods must be a non-empty sequence of names, got {methods!r}")
    out: list[str] = []
    for name in methods:
        if not isinstance(name, str):
            raise ValueError(f"method names must be strings, got {name!r}")
        names = GROUPS.get(name, (name,))
        for item in names:
            if item not in METHODS:
                known = sorted(set(METHODS) | set(GROUPS))
                raise ValueError(f"unknown Lipschitz method {item!r}; known: {known}")
            if item not in out:
                out.append(item)
    return sorted(out, key=lambda name: _KIND_ORDER[METHODS[name].kind])


def _accepts(fn: Any) -> set[str]:
    params = inspect.signature(fn).parameters
    return {name for name, p in params.items() if p.kind is not p.VAR_KEYWORD}


@dataclass(frozen=True)
class LipschitzReport:
    """Per-member combination of several Lipschitz methods.

    Attributes
    ----------
    domain : str
    results : dict of str to MethodResult
        Every method that was asked for, in the order it ran.
    members : list of dict
        Metadata of each member (width, seed, ... as the family records them).
    """

    domain: str
    results: dict[str, MethodResult]
    members: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ combination

    @property
    def B(self) -> int:
        return len(self.members)

    def _best(self, b: int, which: str) -> tuple[float, str | None]:
        best, name = (0.0, None) if which == "lower" else (math.inf, None)
        for res in self.results.values():
            value = float(res.lower[b] if which == "lower" else res.upper[b])
            if which == "lower" and value > best:
                best, name = value, res.method
            if which == "upper" and value < best:
                best, name = value, res.method
        return best, name

    @property
    def lower(self) -> np.ndarray:
        """(B,) best certified lower bound."""
        return np.array([self._best(b, "lower")[0] for b in range(self.B)])

    @property
    def upper(self) -> np.ndarray:
        """(B,) best certified upper bound (inf when none)."""
        return np.array([self._best(b, "upper")[0] for b in range(self.B)])

    @property
    def lower_method(self) -> list[str | None]:
        return [self._best(b, "lower")[1] for b in range(self.B)]

    @property
    def upper_method(self) -> list[str | None]:
        return [self._best(b, "upper")[1] for b in range(self.B)]

    @property
    def exact(self) -> np.ndarray:
        """(B,) the exact value when the interval closed or an exact method proved it,
        NaN otherwise."""
        lo, up = self.lower, self.upper
        out = np.full(self.B, np.nan)
        closed = np.asarray(is_closed(lo, up), dtype=bool).reshape(self.B)
        out[closed] = up[closed]
        for res in self.results.values():
            if res.kind == "exact":
                proven = res.proven
                out[proven & np.isnan(out)] = res.upper[proven & np.isnan(out)]
        return out

    def interval(self, b: int) -> Interval:
        """Member b's combined certified interval, with the methods of its two ends."""
        (lo, lo_m), (up, up_m) = self._best(b, "lower"), self._best(b, "upper")
        return Interval(lo, up, lo_m, up_m)

    @property
    def ratio(self) -> np.ndarray:
        """(B,) upper / lower (inf when either bound is missing)."""
        lo, up = self.lower, self.upper
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(lo > 0, up / np.where(lo > 0, lo, 1.0), math.inf)

    @property
    def consistent(self) -> np.ndarray:
        """(B,) bool: no lower bound exceeds an upper bound (beyond float rounding)."""
        return self.lower <= self.upper * (1 + 1e-9) + 1e-300

    def witness(self, b: int) -> Witness | None:
        """The witness of member b's best lower bound."""
        name = self._best(b, "lower")[1]
        if name is None:
            return None
        res = self.results[name]
        return res.witnesses[b] if res.witnesses else None

    # ------------------------------------------------------------------ records

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dictionary per member (floats, strings, lists; inf stays a float)."""
        lo, up, ex, ratio = self.lower, self.upper, self.exact, self.ratio
        lo_m, up_m, ok = self.lower_method, self.upper_method, self.consistent
        records = []
        for b in range(self.B):
            witness = self.witness(b)
            records.append(
                {
                    "member": b,
                    "member_info": dict(self.members[b]),
                    "domain": self.domain,
                    "lower": float(lo[b]),
                    "lower_method": lo_m[b],
                    "lower_witness": None if witness is None else witness.to_dict(),
                    "upper": float(up[b]),
                    "upper_method": up_m[b],
                    "exact": None if np.isnan(ex[b]) else float(ex[b]),
                    "ratio": float(ratio[b]),
                    "consistent": bool(ok[b]),
                    "methods": {name: res.member(b) for name, res in self.results.items()},
                }
            )
        return records

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> LipschitzReport:
        """Rebuild a report from :meth:`to_records` output."""
        records = list(records)
        if not records:
            raise ValueError("records must hold at least one member record")
        domain = records[0]["domain"]
        names = list(records[0]["methods"])
        results: dict[str, MethodResult] = {}
        for name in names:
            entries = [rec["methods"][name] for rec in records]
            witnesses = [_witness_from_dict(e["witness"]) for e in entries]
            results[name] = MethodResult(
                method=name,
                kind=entries[0]["kind"],
                domain=entries[0]["domain"],
                lower=np.array([e["lower"] for e in entries], dtype=np.float64),
                upper=np.array([e["upper"] for e in entries], dtype=np.float64),
                seconds=np.array([e["seconds"] for e in entries], dtype=np.float64),
                status=[e["status"] for e in entries],
                witnesses=witnesses,
                info=[dict(e["info"]) for e in entries],
            )
        return cls(domain, results, [dict(rec["member_info"]) for rec in records])

    def __repr__(self) -> str:
        return (
            f"LipschitzReport(domain={self.domain!r}, B={self.B}, "
            f"methods={list(self.results)}, lower={np.round(self.lower, 6).tolist()}, "
            f"upper={np.round(self.upper, 6).tolist()})"
        )


def _witness_from_dict(data: dict[str, Any] | None) -> Witness | None:
    if data is None:
        return None
    return Witness(
        x=np.asarray(data["x"], dtype=np.float64),
        value=float(data["value"]),
        x2=None if data.get("x2") is None else np.asarray(data["x2"], dtype=np.float64),
        pattern=None if data.get("pattern") is None else np.asarray(data["pattern"], dtype=bool),
    )


def _starts(results: dict[str, MethodResult], stack: Stack) -> torch.Tensor | None:
    """The point witnesses found so far, one per method per member: (B, m, d)."""
    per_member: list[list[np.ndarray]] = [[] for _ in range(stack.B)]
    for res in results.values():
        for b, w in enumerate(res.witnesses or []):
            if w is not None and w.x2 is None:
                per_member[b].append(w.x)
    m = max((len(p) for p in per_member), default=0)
    if m == 0:
        return None
    out = np.zeros((stack.B, m, stack.d))
    for b, pts in enumerate(per_member):
        for i in range(m):
            out[b, i] = pts[i % len(pts)] if pts else np.zeros(stack.d)
    return torch.as_tensor(out, dtype=torch.float64, device=stack.device)


def _best_lower_result(results: dict[str, MethodResult], B: int, domain: str) -> MethodResult:
    """A MethodResult holding each member's best lower bound and witness (a hint)."""
    lower = np.zeros(B)
    witnesses: list[Witness | None] = [None] * B
    for res in results.values():
        for b in range(B):
            if res.lower[b] > lower[b]:
                lower[b] = res.lower[b]
                witnesses[b] = res.witnesses[b] if res.witnesses else None
    return MethodResult(
        method="best_lower",
        kind="lower",
        domain=domain,
        lower=lower,
        upper=np.full(B, math.inf),
        seconds=np.zeros(B),
        status=["ok"] * B,
        witnesses=witnesses,
        info=[{} for _ in range(B)],
    )


def _progress(enabled: bool | None) -> Progress:
    """A progress bar over the methods on stderr, shown on a terminal only."""
    return progress_bar(enabled, "{task.completed}/{task.total} methods")


def _share(names: Sequence[str], i: int, remaining: float) -> float:
    """Method ``names[i]``'s part of the ``remaining`` seconds (see :data:`SHARES`)."""
    weights = [SHARES.get(name, DEFAULT_SHARE) for name in names[i:]]
    return remaining * weights[0] / sum(weights)


def _skip_reason(
    name: str, kind: str, domain: str, spec: Any, asked: set[str], hidden: int
) -> str | None:
    """Why method ``name`` does not run on this model (None: it runs)."""
    if (kind if kind != "linear" else "mlp") not in spec.models:
        return f"not_applicable: model kind {kind!r}"
    if domain not in spec.domains:
        return f"not_applicable: domain {domain!r}"
    if (
        name == "lipsdp"
        and "lipsdp" not in asked
        and (kind == "two_layer" or hidden > LIPSDP_AUTO_UNITS)
    ):
        why = (
            "pattern_sdp gives LipSDP's value on two-layer networks"
            if kind == "two_layer"
            else f"{hidden} hidden units > {LIPSDP_AUTO_UNITS}"
        )
        return f"not_applicable: skipped ({why}); ask for it"
    return None


def _all_closed(results: dict[str, MethodResult], B: int) -> bool:
    if not results:
        return False
    lower = np.max([res.lower for res in results.values()], axis=0)
    upper = np.min([res.upper for res in results.values()], axis=0)
    return bool(np.all(is_closed(lower, upper)))


def estimate(
    model: Any,
    domain: str = "rd",
    methods: str | Sequence[str] = "default",
    budget: Budget | None = None,
    X: Any = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    progress: bool | None = None,
) -> LipschitzReport:
    """Certified lower and upper bounds on Lip(f) for every member of a model.

    Parameters
    ----------
    model : TwoLayer, MLP family, nn.Module (Linear/activation stack), list of them
    domain : {"rd" (or "R^d"), "ball", "sphere"}
        On the sphere Lip is the supremum of the tangential gradient norm.
    methods : str or sequence of str
        Registry names and groups: ``"default"`` (:data:`DEFAULT_METHODS`: the upper and
        lower groups, then the two-layer exact solver), ``"lower"``
        (:data:`DEFAULT_LOWER`), ``"upper"`` (:data:`DEFAULT_UPPER`; ``lipsdp`` is
        included for deep stacks with at most :data:`LIPSDP_AUTO_UNITS` hidden units, and
        always when named), ``"exact"`` (the exact solvers: ``exact`` on two-layer relu /
        leaky-relu networks, ``deep_exact`` on deep stacks with d <= 3). The exact solver
        searches with as many processes as :func:`robustlaw._spawn.cpu_share` gives
        (``options={"exact": {"workers": n}}`` sets them).
    budget : Budget, optional
        Limits of the **whole call**, all methods and members together (default
        :data:`DEFAULT_BUDGET`, 1 second: small two-layer networks; give
        ``Budget(seconds=60)`` or more for wide ones, and add ``"exact"`` to the methods
        to prove the value). The methods run one after another; each gets a share of the
        seconds that remain (:data:`SHARES`), so a search that stops early leaves its
        time to the later ones, and a method starting after the deadline is recorded
        with status ``"budget: ..."``. ``nodes`` goes to the exact solver per member.
        Each method's ``info`` records ``share_seconds`` (its share, per member) and
        ``started_at`` (seconds into the call). Helper processes and the last LP or
        eigenvalue problem of a loop may end shortly after the deadline.
    X : array, shape (n, d) or (B, n, d), optional
        Data points: used by the data-based lower bounds and as starting points.
    seed : int
        Seed of every randomized method (results do not depend on the family's size).
    device : str or torch.device, optional
    options : dict, optional
        Extra keyword arguments per method name, e.g. ``{"lipsdp": {"solver": "CLARABEL"}}``.
    progress : bool, optional
        A progress bar over the methods on stderr (default: when stderr is a terminal;
        False silences it; never shown when stderr is not a terminal).

    Returns
    -------
    LipschitzReport
        Once every member's interval has closed (:func:`is_closed`) the remaining methods
        are recorded with status ``"skipped: interval closed"``.
    """
    started = time.perf_counter()
    budget = budget if budget is not None else DEFAULT_BUDGET
    stack, domain, budget = prepare(model, domain, budget)
    if device is not None:
        stack, _, _ = prepare(stack, domain, budget, device)
    names = resolve_methods(methods)
    asked = {methods} if isinstance(methods, str) else set(methods)
    X = as_points(X, stack)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    options = dict(options or {})
    for name in options:
        if name not in METHODS:
            raise ValueError(f"options given for unknown method {name!r}")
    kind = stack.kind
    # Methods receive a family, as the registry promises: the TwoLayer itself (or the
    # stack converted to one) for two-layer models, the stack for deeper ones.
    if kind == "two_layer":
        target: Any = model if isinstance(model, TwoLayer) and device is None else None
        target = target if target is not None else stack.to_two_layer()
    else:
        target = stack
    hidden = sum(stack.widths)
    results: dict[str, MethodResult] = {}
    skips = {n: _skip_reason(n, kind, domain, METHODS[n], asked, hidden) for n in names}
    runs = [n for n in names if skips[n] is None]
    with _progress(progress) as bar:
        task = bar.add_task("lipschitz", total=len(names))
        for name in names:
            spec = METHODS[name]
            bar.update(task, description=f"lipschitz: {name}")
            elapsed = time.perf_counter() - started
            remaining = None if budget.seconds is None else budget.seconds - elapsed
            if skips[name] is not None:
                results[name] = empty_result(name, spec.kind, domain, stack.B, skips[name])
            elif _all_closed(results, stack.B):
                results[name] = empty_result(
                    name, spec.kind, domain, stack.B, "skipped: interval closed"
                )
            elif remaining is not None and remaining <= 0:
                why = f"budget: the call's {budget.seconds:g} s were spent before it started"
                results[name] = empty_result(name, spec.kind, domain, stack.B, why)
            else:
                share = None if remaining is None else _share(runs, runs.index(name), remaining)
                per_member = None if share is None else share / stack.B
                method_budget = Budget(seconds=per_member, nodes=budget.nodes)
                given = {"X": X, "seed": int(seed), "device": device}
                results[name] = _run(
                    name, target, domain, method_budget, stack, results, given, options
                )
                for entry in results[name].info:
                    entry.update(share_seconds=per_member, started_at=elapsed)
            bar.advance(task)
    members = [dict(m) for m in getattr(model, "members", None) or stack.members]
    if len(members) != stack.B:
        members = [{} for _ in range(stack.B)]
    return LipschitzReport(domain=domain, results=results, members=members)


def _run(
    name: str,
    target: Any,
    domain: str,
    budget: Budget,
    stack: Stack,
    results: dict[str, MethodResult],
    given: dict[str, Any],
    options: dict[str, dict[str, Any]],
) -> MethodResult:
    """Run one registered method with the arguments of ``given`` it accepts and its own
    ``options``; a failure is recorded."""
    spec = METHODS[name]
    available = dict(given)
    if spec.kind == "lower" and any(r.kind == "lower" for r in results.values()):
        available["starts"] = _starts(results, stack)
    if spec.kind == "exact":
        available["lower_hint"] = _best_lower_result(results, stack.B, domain)
    accepted = _accepts(spec.fn)
    kwargs = {k: v for k, v in available.items() if k in accepted and v is not None}
    kwargs.update(options.get(name, {}))
    try:
        result = spec.fn(target, domain, budget, **kwargs)
    except Exception as exc:  # a method failing must not take the others down
        log.warning("Lipschitz method %s failed: %s", name, exc)
        result = empty_result(
            name, spec.kind, domain, stack.B, f"solver_failed: {type(exc).__name__}: {exc}"
        )
    if not result.info:
        result = dataclasses.replace(result, info=[{} for _ in range(stack.B)])
    return result
