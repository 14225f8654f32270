"""Regimes: what a fitted slope is a measurement *of*.

A slope of the smallest fitting Lipschitz constant against n/k, k, n, p or d can disagree
with the law for reasons that have nothing to do with the law. Every verdict therefore
carries a **regime**, decided by fixed rules (:class:`RegimeRules`; the defaults are
:data:`DEFAULT_RULES`) checked in this order, the first that fires giving the label:

1. **floor-dominated** — the data, not the parameter count, sets the slope. The *data floor*
   of a cell is the least Lipschitz constant of any function that takes the labels exactly
   (max |y_i − y_j| / dist(x_i, x_j); :func:`robustlaw.data.separation`): no interpolating
   network can go below it, whatever its size. The rule fires when

   (a) the floor changes along the fit's x (the data change with x, as in scans of n or d)
       and the floor's own log-log least-squares slope over the same cells lies inside the
       measured slope's confidence interval, or
   (b) the median over the fitted cells of certified upper bound / floor is at most
       ``floor_ratio`` (1.25): the networks are within 25% of the smoothest conceivable
       interpolant, so Lip cannot fall further and its slope is the floor's.

2. **search-limited** — the networks measured are not the smoothest of their size: in at
   least one fitted cell, a network of another search mode or an explicit construction in
   the same store (same data, same Lipschitz domain, a target at least as strict, a class
   contained in the cell's — same family and activation, or a ReLU construction of
   :data:`CONSTRUCTION_CLASSES`, with at most the cell's width) has a certified upper bound
   below the cell's lower bound. Both numbers are certified, so the found fit is provably
   not the smoothest.

3. **certificate-limited** — the certified interval is too wide for the slope of one bound
   to be the slope of Lip: the median upper / lower over the fitted cells exceeds
   ``certificate_gap`` (1.25). Over one decade of x, a gap that grows from 1 to g moves a
   slope by up to log10 g; 1.25 moves it by 0.097, a fifth of the law's 1/2. (Not checked
   for exact values, which have no gap, nor for estimates such as the sensitivity.)

4. **in the law's regime** — none of the above: the verdict (consistent or not) speaks
   about the law.

A verdict without a confidence interval is **not assessed**. Where a check cannot be made
it says why (no data floor for fits below the noise level, which need not interpolate, nor
for the sensitivity, an average-gradient estimate); an unmade check never fires.

For relations of the universal law the regime also says whether **Theorem 3's hypothesis**
8^4·k·log(8k/δ) ≤ n·ε² [BS, Thm 3 (2)] holds at the n of the fit
(:func:`robustlaw.theory.theorem3_hypothesis`), at the most favourable ε the fits allow:
ε = σ² − training MSE for interpolation (the margin an exact fit leaves), the target's ε for
fits below the noise level; δ = ``theorem3_delta`` and k the recorded mixture components.
Experiments test the law's scaling, not its constant, so this does not change the label.

The thresholds were fixed before any packaged experiment's result was looked at; they are
settings, never tuned to make a verdict pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustlaw import theory
from robustlaw.analysis.tables import CELL_KEYS, fitted_mask, numeric_column

__all__ = [
    "CERTIFICATE_LIMITED",
    "CONSTRUCTION_CLASSES",
    "DEFAULT_RULES",
    "FLOOR_DOMINATED",
    "LAW_REGIME",
    "NOT_ASSESSED",
    "REGIME_ORDER",
    "SEARCH_LIMITED",
    "FloorComparison",
    "Regime",
    "RegimeCheck",
    "RegimeRules",
    "Theorem3Status",
    "floor_comparison",
    "log_slope",
    "theorem3_eps",
    "theorem3_status",
]

FLOOR_DOMINATED = "floor-dominated"
SEARCH_LIMITED = "search-limited"
CERTIFICATE_LIMITED = "certificate-limited"
LAW_REGIME = "in the law's regime"
NOT_ASSESSED = "not assessed"

#: The labels in the order their rules are checked (the first that fires wins).
REGIME_ORDER = (FLOOR_DOMINATED, SEARCH_LIMITED, CERTIFICATE_LIMITED, LAW_REGIME)

#: Explicit constructions that are two-layer networks of the class F_k(ReLU) with hidden
#: biases (the caps, grouped caps and the ReLU memorizer; Baum's threshold units and radial
#: bumps are not ReLU networks): construction family -> (family, activation).
CONSTRUCTION_CLASSES: dict[str, tuple[str, str]] = {
    "caps": ("two_layer", "relu"),
    "grouped_caps": ("two_layer", "relu"),
    "relu_memorizer": ("two_layer", "relu"),
}

_TARGET_ORDER = {"interpolate": 0, "below_noise": 1}
_BELOW_ONE = math.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class RegimeRules:
    """The fixed rules that label a verdict's regime (see the module docstring).

    Attributes
    ----------
    floor_ratio : float > 1
        Floor-dominated when the median certified upper / data floor is at most this.
    certificate_gap : float > 1
        Certificate-limited when the median certified upper / lower exceeds this.
    theorem3_delta : float in (0, 1)
        δ of Theorem 3's hypothesis check (theory's default failure probability).
    """

    floor_ratio: float = 1.25
    certificate_gap: float = 1.25
    theorem3_delta: float = 0.01

    def __post_init__(self) -> None:
        for name in ("floor_ratio", "certificate_gap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number > 1, got {value!r}")
            if not (math.isfinite(value) and value > 1):
                raise ValueError(f"{name} must be a finite number > 1, got {value!r}")
        delta = self.theorem3_delta
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
            raise ValueError(f"theorem3_delta must lie in (0, 1), got {delta!r}")

    def describe(self) -> tuple[str, ...]:
        """The four rules as sentences, with this object's thresholds."""
        return (
            f"{FLOOR_DOMINATED}: the data floor changes along x and its slope lies in the "
            f"interval, or the median certified upper / floor is ≤ {self.floor_ratio:g}",
            f"{SEARCH_LIMITED}: a construction or another search mode in the same store, of "
            "at most the cell's size, has a certified upper bound below the cell's lower bound "
            "in some fitted cell",
            f"{CERTIFICATE_LIMITED}: the median certified upper / lower is > "
            f"{self.certificate_gap:g} (bounds only; exact values have no gap)",
            f"{LAW_REGIME}: none of the above",
        )


DEFAULT_RULES = RegimeRules()


@dataclass(frozen=True)
class RegimeCheck:
    """One rule applied to one verdict.

    Attributes
    ----------
    label : str
        The regime the rule gives (one of :data:`REGIME_ORDER` but the last).
    fired : bool or None
        Whether the rule holds; None when it could not be checked (``detail`` says why).
    detail : str
        The numbers behind the answer, or why there are none.
    """

    label: str
    fired: bool | None
    detail: str

    def to_dict(self) -> dict:
        return {"label": self.label, "fired": self.fired, "detail": self.detail}


@dataclass(frozen=True)
class Theorem3Status:
    """Theorem 3's sample-size hypothesis at the n values of one fit [BS, Thm 3 (2)].

    Attributes
    ----------
    n_values : tuple of int
        The distinct n of the fitted cells.
    holds_at : tuple of int
        Those n at which 8^4·k·log(8k/δ) ≤ n·ε² holds.
    min_n : int
        Smallest n for which it holds at this ε, δ, k.
    eps, delta : float
        The ε (most favourable the fits allow) and δ of the check.
    mixtures : int
        k, the number of isoperimetric mixture components of the data.
    """

    n_values: tuple[int, ...]
    holds_at: tuple[int, ...]
    min_n: int
    eps: float
    delta: float
    mixtures: int

    @property
    def holds(self) -> bool:
        """Whether the hypothesis holds at every n of the fit."""
        return bool(self.n_values) and len(self.holds_at) == len(self.n_values)

    @property
    def text(self) -> str:
        """One sentence, e.g. "Theorem 3's hypothesis fails at every n (≤ 400): it needs ..."."""
        needs = f"it needs n ≥ {self.min_n:,} at ε = {self.eps:.3g}, δ = {self.delta:g}"
        if self.mixtures != 1:
            needs += f", k = {self.mixtures}"
        if self.holds:
            return f"Theorem 3's hypothesis holds at every n of the fit ({needs})"
        if not self.holds_at:
            largest = max(self.n_values)
            return f"Theorem 3's hypothesis fails at every n of the fit (n ≤ {largest:,}): {needs}"
        return f"Theorem 3's hypothesis holds only at n ∈ {list(self.holds_at)}: {needs}"

    def to_dict(self) -> dict:
        return {
            "n_values": list(self.n_values),
            "holds_at": list(self.holds_at),
            "holds": self.holds,
            "min_n": self.min_n,
            "eps": self.eps,
            "delta": self.delta,
            "mixtures": self.mixtures,
            "text": self.text,
        }


@dataclass(frozen=True)
class FloorComparison:
    """The data floor beside one fitted slope.

    Attributes
    ----------
    slope : float
        Log-log least-squares slope of the floor over the fit's cells (the same pooled
        estimator as the measured slope); NaN when there is no floor (``reason``).
    upper_ratio : float
        Median over the fitted cells of certified upper bound / floor (NaN without either).
    varies : bool
        Whether the floor changes along some seed's curve (it is constant in scans of the
        width on one data set).
    n_cells : int
        Cells with a floor among the fitted cells.
    reason : str
        Why there is no floor slope; empty when there is one.
    """

    slope: float
    upper_ratio: float
    varies: bool
    n_cells: int
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "slope": self.slope,
            "upper_ratio": self.upper_ratio,
            "varies": self.varies,
            "n_cells": self.n_cells,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Regime:
    """The regime of one verdict: its label, the rule that decided it, every check made.

    Attributes
    ----------
    label : str
        One of :data:`REGIME_ORDER` or :data:`NOT_ASSESSED`.
    rule : str
        Why this label: the fired rule's numbers (or that none fired, or why nothing was
        assessed).
    checks : tuple of RegimeCheck
        Every rule in :data:`REGIME_ORDER` order, fired or not or not checkable.
    theorem3 : Theorem3Status or None
        For relations of the universal law; None for others.
    """

    label: str
    rule: str
    checks: tuple[RegimeCheck, ...] = ()
    theorem3: Theorem3Status | None = None

    @property
    def fired(self) -> tuple[str, ...]:
        """Labels of every rule that fired (the first is ``label``)."""
        return tuple(c.label for c in self.checks if c.fired)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "rule": self.rule,
            "fired": list(self.fired),
            "checks": [c.to_dict() for c in self.checks],
            "theorem3": None if self.theorem3 is None else self.theorem3.to_dict(),
        }


# --------------------------------------------------------------------------- helpers


def log_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Pooled least-squares slope of log y on log x (NaN with < 2 distinct usable x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2 or np.unique(x[ok]).size < 2:
        return math.nan
    u, v = np.log(x[ok]), np.log(y[ok])
    u = u - u.mean()
    return float(np.sum(u * (v - v.mean())) / np.sum(u * u))


def _median_ratio(top: pd.Series, bottom: pd.Series) -> float:
    ok = np.isfinite(top) & np.isfinite(bottom) & (bottom > 0) & (top > 0)
    return float((top[ok] / bottom[ok]).median()) if ok.any() else math.nan


def floor_comparison(cells: pd.DataFrame, x: str, *, target_text: str = "") -> FloorComparison:
    """The data floor's slope and the median upper / floor over ``cells`` (the fitted cells).

    Parameters
    ----------
    cells : pandas.DataFrame
        Cells of one fit (see :func:`robustlaw.analysis.tables.smoothest_fits`), with
        columns ``x``, ``lip_upper``, ``lip_floor`` and ``seed``.
    x : str
        The fit's abscissa.
    target_text : str
        What the fit target is, for the reason when no floor applies.
    """
    floor = numeric_column(cells, "lip_floor")
    upper = numeric_column(cells, "lip_upper")
    xs = numeric_column(cells, x)
    have = np.isfinite(floor) & (floor > 0)
    ratio = _median_ratio(upper, floor)
    if not have.any():
        targets = set(cells["target"].dropna().astype(str)) if "target" in cells else set()
        if targets and targets <= {"below_noise"}:
            reason = "no data floor: fits below the noise level need not interpolate"
        else:
            reason = "no data floor recorded for these cells" + (
                f" ({target_text})" if target_text else ""
            )
        return FloorComparison(math.nan, math.nan, False, 0, reason)
    if not have.all():
        reason = f"data floor recorded in {int(have.sum())} of {len(cells)} fitted cells only"
        return FloorComparison(math.nan, ratio, False, int(have.sum()), reason)
    seeds = cells["seed"].astype(str) if "seed" in cells.columns else pd.Series("", cells.index)
    spread = floor.groupby(seeds).agg(lambda s: s.max() / s.min() - 1.0)
    varies = bool((spread > 1e-9).any())
    slope = log_slope(xs.to_numpy(), floor.to_numpy())
    reason = "" if math.isfinite(slope) else "fewer than two distinct x values with a floor"
    return FloorComparison(slope, ratio, varies, int(have.sum()), reason)


def theorem3_eps(row: pd.Series) -> float:
    """The most favourable ε of Theorem 3 a cell allows, or NaN when none is known.

    Fits below the noise level: the target's ε. Interpolation: σ² − training MSE, the
    margin an exact fit leaves below the noise level (capped just below 1: Theorem 3 takes
    ε in (0, 1)). NaN outside (0, 1).
    """

    def number(name: str) -> float:
        value = row.get(name, math.nan)
        try:
            return float(value) if pd.notna(value) else math.nan
        except (TypeError, ValueError):
            return math.nan

    target = row.get("target")
    if target == "below_noise":
        eps = number("eps")
    elif target == "interpolate":
        # Theorem 3 takes ε < 1: an exact fit of σ² ≥ 1 allows any ε below 1
        eps = min(number("noise_level") - max(number("train_mse"), 0.0), _BELOW_ONE)
    else:
        eps = math.nan
    return eps if 0.0 < eps < 1.0 else math.nan


def _mixtures(cells: pd.DataFrame) -> int:
    if "components" in cells.columns:
        values = numeric_column(cells, "components").dropna()
        if len(values):
            return max(1, round(float(values.max())))
    return 1


def theorem3_status(cells: pd.DataFrame, delta: float) -> Theorem3Status | None:
    """Theorem 3's hypothesis at each n of ``cells`` (None when no ε or n is known)."""
    eps = np.array([theorem3_eps(row) for _, row in cells.iterrows()], dtype=float)
    n = numeric_column(cells, "n").to_numpy()
    ok = np.isfinite(eps) & np.isfinite(n) & (n >= 1)
    if not ok.any():
        return None
    # The most favourable ε per n: the hypothesis holds at n if it holds for some fit there.
    best = pd.Series(eps[ok]).groupby(n[ok].astype(int)).max()
    mixtures = _mixtures(cells)
    holds, min_n = [], 0
    for n_value, eps_value in best.items():
        check = theory.theorem3_hypothesis(int(n_value), float(eps_value), delta, mixtures)
        if check.holds:
            holds.append(int(n_value))
        min_n = max(min_n, check.min_n)
    return Theorem3Status(
        n_values=tuple(int(v) for v in best.index),
        holds_at=tuple(holds),
        min_n=min_n,
        eps=float(best.max()),
        delta=float(delta),
        mixtures=mixtures,
    )


# --------------------------------------------------------------------------- competitors


def _config(value: Any) -> dict:
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_DATA_COLUMNS = ("distribution", "dataset", "labels", "n", "d", "seed", "domain")


def _member_keys(members: pd.DataFrame) -> pd.DataFrame:
    """Per member: data key, class (family, activation), mode key, width, target, eps."""
    if members.empty:
        names = ["data_key", "family_class", "activation_class", "mode", "width", "target", "eps"]
        return pd.DataFrame(columns=names, index=members.index)
    configs = [_config(v) for v in members.get("config_json", pd.Series(None, members.index))]
    data = [json.dumps(c.get("data"), sort_keys=True, default=str) if c else "" for c in configs]
    fit = [json.dumps(c.get("fit"), sort_keys=True, default=str) if c else "" for c in configs]
    columns = {c: members[c].map(_text) if c in members else "" for c in _DATA_COLUMNS}
    keys = pd.DataFrame(columns, index=members.index)
    keys["data_key"] = keys.astype(str).agg("|".join, axis=1) + "|" + pd.Series(data, members.index)
    family, activation = (
        members[c].map(_text) if c in members else pd.Series("", members.index)
        for c in ("family", "activation")
    )
    construction = family.map(CONSTRUCTION_CLASSES.get)
    keys["family_class"] = [c[0] if c else f for c, f in zip(construction, family, strict=True)]
    keys["activation_class"] = [
        c[1] if c else a for c, a in zip(construction, activation, strict=True)
    ]
    experiment = members["experiment"].map(_text)
    keys["mode"] = experiment + "|" + family + "|" + pd.Series(fit, members.index)
    keys["width"] = numeric_column(members, "width")
    target = members["target"].map(_text) if "target" in members else pd.Series("", members.index)
    keys["target"] = target
    keys["eps"] = numeric_column(members, "eps")
    return keys


def _satisfies(comp_target: str, comp_eps: float, target: str, eps: float) -> bool:
    """Whether a competitor's fit target implies the cell's (interpolation implies all)."""
    if comp_target == "interpolate":
        return target in _TARGET_ORDER
    if comp_target == "below_noise" and target == "below_noise":
        return math.isfinite(comp_eps) and math.isfinite(eps) and comp_eps >= eps
    return False


@dataclass(frozen=True)
class _Competitors:
    """Fitted members of a reference frame, indexed by data key, for the search rule."""

    keys: pd.DataFrame
    upper: pd.Series
    describe: pd.Series

    @classmethod
    def build(cls, reference: pd.DataFrame) -> _Competitors:
        mask, _ = fitted_mask(reference)
        members = reference.loc[mask]
        keys = _member_keys(members)
        exact = numeric_column(members, "lip_exact")
        upper = numeric_column(members, "lip_upper")
        upper = exact.where(exact.notna(), upper)
        describe = (
            members["experiment"].map(_text)
            + ": "
            + members["family"].map(_text)
            + " k="
            + keys["width"].map(lambda w: f"{w:g}" if math.isfinite(w) else "?")
        )
        return cls(keys, upper, describe)


def _cell_ids(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    if frame.empty:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[list(keys)].map(_text).astype(str).agg("|".join, axis=1)


def own_members(records: pd.DataFrame) -> pd.DataFrame:
    """Keys of the fitted members of ``records``, with the id of the cell each belongs to."""
    mask, _ = fitted_mask(records)
    own = records.loc[mask]
    keys = _member_keys(own)
    keys["cell"] = _cell_ids(own, [k for k in CELL_KEYS if k in own.columns])
    return keys


def search_check(cells: pd.DataFrame, own: pd.DataFrame, competitors: _Competitors) -> RegimeCheck:
    """The search-limited rule on the fitted ``cells`` of one fit (see the module docstring).

    ``own`` is :func:`own_members` of the records the cells were reduced from;
    ``competitors`` the fitted members of the store to compare with.
    """
    if competitors.keys.empty:
        return RegimeCheck(SEARCH_LIMITED, False, "no other fitted network in the store")
    keys = [k for k in CELL_KEYS if k in cells.columns]
    by_cell = own.groupby("cell")
    lower = numeric_column(cells, "lip_lower")
    exact = numeric_column(cells, "lip_exact")
    lower = exact.where(exact.notna(), lower)
    beaten, compared, best = 0, 0, None
    widths = numeric_column(cells, "width")
    eps_values = numeric_column(cells, "eps")
    for index, cell_id in _cell_ids(cells, keys).items():
        bound = lower.loc[index]
        if not (math.isfinite(bound) and bound > 0) or cell_id not in by_cell.groups:
            continue
        mine = by_cell.get_group(cell_id)
        row = cells.loc[index]
        cand = competitors.keys
        ok = (
            cand["data_key"].isin(set(mine["data_key"]))
            & ~cand["mode"].isin(set(mine["mode"]))
            & cand["family_class"].isin(set(mine["family_class"]))
            & cand["activation_class"].isin(set(mine["activation_class"]))
            & (cand["width"] <= widths.loc[index])
        )
        if not ok.any():
            continue
        cand = cand.loc[ok]
        target, eps = _text(row.get("target")), eps_values.loc[index]
        strict = [
            _satisfies(t, e, target, eps) for t, e in zip(cand["target"], cand["eps"], strict=True)
        ]
        cand = cand.loc[strict]
        if cand.empty:
            continue
        compared += 1
        uppers = competitors.upper.loc[cand.index].dropna()
        if len(uppers) and uppers.min() < bound:
            beaten += 1
            i = uppers.idxmin()
            gain = bound / uppers.loc[i]
            if best is None or gain > best[0]:
                best = (gain, competitors.describe.loc[i], uppers.loc[i], bound, row)
    if compared == 0:
        return RegimeCheck(
            SEARCH_LIMITED,
            False,
            "no construction or other search mode on the same data in the store",
        )
    if not beaten:
        return RegimeCheck(
            SEARCH_LIMITED,
            False,
            f"compared in {compared} cell(s): nothing certified below the cells' lower bounds",
        )
    _, who, value, bound, row = best
    where = ", ".join(f"{k}={_text(row.get(k))}" for k in ("n", "width", "seed") if k in row)
    return RegimeCheck(
        SEARCH_LIMITED,
        True,
        f"beaten in {beaten} of {compared} compared cell(s); e.g. at {where}: {who} has "
        f"certified {value:.3g} < the cell's lower bound {bound:.3g}",
    )


# --------------------------------------------------------------------------- the label


def decide(
    *,
    has_interval: bool,
    slope_ci: tuple[float, float],
    quantity: str,
    floor: FloorComparison,
    gap_median: float,
    search: RegimeCheck,
    rules: RegimeRules,
    theorem3: Theorem3Status | None = None,
    why_not: str = "",
) -> Regime:
    """Apply the rules in order (see the module docstring) to one fitted slope."""
    if not has_interval:
        return Regime(NOT_ASSESSED, why_not or "no confidence interval", (), theorem3)
    low, high = slope_ci
    bounds = quantity in ("lip_lower", "lip_upper")
    lip = quantity in ("lip_lower", "lip_upper", "lip_exact")
    checks = []
    # 1. floor
    if not lip:
        checks.append(RegimeCheck(FLOOR_DOMINATED, None, "no data floor for an estimate"))
    elif floor.reason and not math.isfinite(floor.upper_ratio):
        checks.append(RegimeCheck(FLOOR_DOMINATED, None, floor.reason))
    else:
        slope_in = floor.varies and math.isfinite(floor.slope) and low <= floor.slope <= high
        close = math.isfinite(floor.upper_ratio) and floor.upper_ratio <= rules.floor_ratio
        parts = []
        if math.isfinite(floor.slope):
            where = "inside" if low <= floor.slope <= high else "outside"
            parts.append(
                f"floor slope {floor.slope:.2f} {where} [{low:.2f}, {high:.2f}]"
                + ("" if floor.varies else " (floor constant along x: slope not compared)")
            )
        elif floor.reason:
            parts.append(floor.reason)
        parts.append(
            f"median upper/floor {floor.upper_ratio:.2f} "
            f"{'≤' if close else '>'} {rules.floor_ratio:g}"
        )
        checks.append(RegimeCheck(FLOOR_DOMINATED, slope_in or close, "; ".join(parts)))
    # 2. search
    checks.append(search if lip else RegimeCheck(SEARCH_LIMITED, None, "not a Lipschitz bound"))
    # 3. certificates
    if not bounds:
        why = "exact values have no gap" if quantity == "lip_exact" else "an estimate"
        checks.append(RegimeCheck(CERTIFICATE_LIMITED, None, why))
    elif not math.isfinite(gap_median):
        checks.append(RegimeCheck(CERTIFICATE_LIMITED, None, "no cell with both bounds"))
    else:
        wide = gap_median > rules.certificate_gap
        checks.append(
            RegimeCheck(
                CERTIFICATE_LIMITED,
                wide,
                f"median upper/lower {gap_median:.2f} {'>' if wide else '≤'} "
                f"{rules.certificate_gap:g}",
            )
        )
    fired = [c for c in checks if c.fired]
    if fired:
        return Regime(fired[0].label, fired[0].detail, tuple(checks), theorem3)
    return Regime(LAW_REGIME, "no rule fired", tuple(checks), theorem3)
