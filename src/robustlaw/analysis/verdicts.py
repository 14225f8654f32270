"""Verdicts: do measured slopes agree with the law's predicted slopes?

For each experiment a set of **relations** says which log-log slope is tested (Lip vs n/k,
Lip vs p, ...), which configuration columns are held fixed (one fit per group), and which
law gives the prediction. The predicted slope is not typed in: it is the log-log
least-squares slope of the law's line, evaluated with :mod:`robustlaw.theory` at the very
configurations fitted. For the two-layer conjecture Lip >= sqrt(n/k) [BLN] this is +1/2 vs
n/k, -1/2 vs k at fixed n and +1/2 vs n at fixed k; for the informal universal law
Lip >= sqrt(n d / p) [BS, eq. (1.3)] it is -1/2 vs p, +1/2 vs n and +1/2 vs d at fixed p
(and about 0 vs d at a fixed two-layer width, where p grows with d). The local slope of the
rigorous bound (Theorem 3 of [BS], with its logarithmic terms) over the same points is
reported too, with whether the theorem's hypothesis holds anywhere in the range.

**The fit range is chosen by rule**, never by hand (``RANGE_RULES``):

- two-layer law: n/d <= k <= n, the interesting range between the memorization threshold
  n/d (Baum 1988; ambient d) and k ~ n where O(1)-Lipschitz fits exist [BLN];
- universal law and real data: n <= p <= n d_eff, the same window in parameters (p ~ k d),
  with d_eff the intrinsic dimension when recorded;
- random features / NTK: n < p <= n d_eff, past the interpolation threshold p = n (where
  the minimum-norm interpolator is singular and its sensitivity peaks: double descent) up to
  p ~ n d, where the law's scaling reaches O(1) [Bombari, Kiyani, Mondelli 2023].

Only cells whose smoothest member fits enter (see :func:`robustlaw.analysis.tables.fitted_mask`).

Each quantity (lower bound, certified upper bound, exact value; sensitivity for random
features) is fitted separately. The verdict is "consistent" when the predicted slope lies in
the confidence interval, "inconsistent" otherwise, and "insufficient data" (with the reason)
when fewer than ``min_seeds`` seeds or ``min_x_values`` distinct x values remain, or when no
interval or no prediction can be computed. The median ratio upper/lower over the fitted
cells is reported with every verdict: a large gap between the certified bounds can explain a
disagreement of one of them.

Caution: a seed bootstrap with few seeds gives intervals that are too narrow (the bootstrap
variance of a mean over m seeds is (m-1)/m of the true one, and the normal quantile ignores
Student's t with m-1 degrees of freedom): nominal 95% intervals cover about 0.75 of the time
at 3 seeds, 0.85 at 5, 0.90 at 10 (:attr:`PowerLawFit.expected_coverage`). "Inconsistent"
verdicts on few seeds deserve care; the report shows the expected coverage of every fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from robustlaw import theory
from robustlaw.analysis.powerlaw import BCA_MIN_SEEDS, PowerLawFit, fit_power_law
from robustlaw.analysis.regimes import (
    DEFAULT_RULES,
    FloorComparison,
    Regime,
    RegimeRules,
    decide,
    floor_comparison,
    log_slope,
    own_members,
    search_check,
    theorem3_eps,
    theorem3_status,
)
from robustlaw.analysis.regimes import _Competitors as Competitors
from robustlaw.analysis.tables import (
    QUANTITY_LABELS,
    fitted_mask,
    numeric_column,
    smoothest_fits,
    validate_records,
)

__all__ = [
    "LAWS",
    "RANGE_RULES",
    "RELATIONS",
    "Law",
    "RangeRule",
    "Relation",
    "Verdict",
    "assess",
    "in_fit_range",
    "law_values",
]

CONSISTENT = "consistent"
INCONSISTENT = "inconsistent"
INSUFFICIENT = "insufficient data"

_LIP = ("lip_lower", "lip_upper", "lip_exact")
# Columns that define a curve besides the relation's own. Not among them: estimated
# quantities that may differ from seed to seed of one configuration (intrinsic_dim, a Monte
# Carlo noise_level), which would split one curve into one group per seed.
_BASE = (
    "distribution",
    "labels",
    "d",
    "family",
    "activation",
    "depth",
    "target",
    "eps",
)
_BASE_NO_D = tuple(c for c in _BASE if c != "d")


# --------------------------------------------------------------------------- laws


def _count(value: Any) -> int:
    """A configuration value as the positive integer the theory functions take."""
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"not a positive finite number: {value!r}")
    return max(1, round(number))


def _theory_eps(row: pd.Series) -> float:
    """Theorem 3's ε at a cell: the most favourable the fit allows, else theory's 0.1."""
    eps = theorem3_eps(row)
    return eps if math.isfinite(eps) else 0.1


def _two_layer_heuristic(row: pd.Series) -> float:
    return theory.two_layer_conjecture(_count(row["n"]), _count(row["width"]))


def _universal_heuristic(row: pd.Series) -> float:
    return theory.heuristic_lower_bound(_count(row["n"]), _count(row["d_eff"]), _count(row["p"]))


def _universal_rigorous(row: pd.Series) -> tuple[float, bool]:
    bound = theory.universal_lower_bound(
        _count(row["n"]), _count(row["d_eff"]), _count(row["p"]), eps=_theory_eps(row)
    )
    return bound.value, bound.valid


@dataclass(frozen=True)
class Law:
    """A law's heuristic line (the scaling experiments test) and its rigorous line.

    ``heuristic(row)`` and ``rigorous(row)`` evaluate :mod:`robustlaw.theory` at one cell;
    ``rigorous`` returns (value, whether the theorem's hypothesis holds). Dimensions are
    rounded to integers for the theory functions (an estimated intrinsic dimension may not
    be an integer); ε is the most favourable the cell's fit allows
    (:func:`robustlaw.analysis.regimes.theorem3_eps`), else theory's default 0.1.
    """

    name: str
    formula: str
    heuristic: Callable[[pd.Series], float]
    rigorous: Callable[[pd.Series], tuple[float, bool]]


LAWS: dict[str, Law] = {
    "two_layer": Law(
        "two-layer conjecture [BLN]",
        "√(n/k)",
        _two_layer_heuristic,
        _universal_rigorous,
    ),
    "universal": Law(
        "universal law [BS]",
        "√(n·d/p)",
        _universal_heuristic,
        _universal_rigorous,
    ),
}


def law_values(cells: pd.DataFrame, law: str) -> pd.DataFrame:
    """Evaluate a law's heuristic and rigorous lines at each cell.

    Returns
    -------
    pandas.DataFrame
        Same index as ``cells``; columns ``heuristic``, ``rigorous``, ``rigorous_valid``
        (NaN / False where the theory cannot be evaluated, e.g. p missing).
    """
    if law not in LAWS:
        raise ValueError(f"law must be one of {sorted(LAWS)}, got {law!r}")
    spec = LAWS[law]
    out = pd.DataFrame(index=cells.index, columns=["heuristic", "rigorous", "rigorous_valid"])
    for index, row in cells.iterrows():
        try:
            heuristic = spec.heuristic(row)
        except (ValueError, TypeError, KeyError):
            heuristic = math.nan
        try:
            rigorous, valid = spec.rigorous(row)
        except (ValueError, TypeError, KeyError):
            rigorous, valid = math.nan, False
        out.loc[index] = (heuristic, rigorous, valid)
    out["heuristic"] = out["heuristic"].astype(float)
    out["rigorous"] = out["rigorous"].astype(float)
    out["rigorous_valid"] = out["rigorous_valid"].astype(bool)
    return out


# --------------------------------------------------------------------------- range rules


@dataclass(frozen=True)
class RangeRule:
    """A fit-range rule: a description and a vectorized test on the cell table."""

    text: str
    test: Callable[[pd.DataFrame], pd.Series]


RANGE_RULES: dict[str, RangeRule] = {
    "two_layer_law": RangeRule(
        "n/d ≤ k ≤ n (memorization threshold to O(1)-Lipschitz fits; ambient d)",
        lambda c: (
            (numeric_column(c, "n") / numeric_column(c, "d") <= numeric_column(c, "width"))
            & (numeric_column(c, "width") <= numeric_column(c, "n"))
        ),
    ),
    "universal_law": RangeRule(
        "n ≤ p ≤ n·d_eff (d_eff: intrinsic dimension when recorded, else d)",
        lambda c: (
            (numeric_column(c, "n") <= numeric_column(c, "p"))
            & (numeric_column(c, "p") <= numeric_column(c, "n") * numeric_column(c, "d_eff"))
        ),
    ),
    "real_data": RangeRule(
        "n ≤ p ≤ n·d_eff (d_eff: intrinsic dimension when recorded, else d)",
        lambda c: (
            (numeric_column(c, "n") <= numeric_column(c, "p"))
            & (numeric_column(c, "p") <= numeric_column(c, "n") * numeric_column(c, "d_eff"))
        ),
    ),
    "rf_ntk": RangeRule(
        "n < p ≤ n·d_eff (over-parameterized, past the interpolation threshold p = n where "
        "the minimum-norm interpolator is singular, up to p ~ n·d where the law reaches O(1))",
        lambda c: (
            (numeric_column(c, "n") < numeric_column(c, "p"))
            & (numeric_column(c, "p") <= numeric_column(c, "n") * numeric_column(c, "d_eff"))
        ),
    ),
}


def in_fit_range(cells: pd.DataFrame) -> pd.Series:
    """Whether each cell enters fits: its experiment's range rule holds and a member fits.

    Experiments without a rule (e.g. constructions) are never in a fit range.
    """
    result = pd.Series(False, index=cells.index)
    fitted = cells["fit_reached"].astype(bool) if "fit_reached" in cells.columns else result
    for experiment, rule in RANGE_RULES.items():
        rows = cells["experiment"].astype(str).eq(experiment)
        if rows.any():
            sub = cells.loc[rows]
            result.loc[rows] = rule.test(sub).fillna(False).astype(bool) & fitted.loc[rows]
    return result


# --------------------------------------------------------------------------- relations


@dataclass(frozen=True)
class Relation:
    """One tested slope: y (each of ``quantities``) vs ``x`` at fixed ``fixed`` columns."""

    experiment: str
    name: str
    x: str
    x_label: str
    fixed: tuple[str, ...]
    quantities: tuple[str, ...]
    law: str
    note: str = ""


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "two_layer_law",
        "Lip vs n/k",
        "n_over_k",
        "n/k",
        _BASE,
        _LIP,
        "two_layer",
        note=(
            "pools every n: with several n it mixes the slope vs k at fixed n and the slope vs "
            "n at fixed k, and can sit near 1/2 when neither does; read it beside the "
            "fixed-n and fixed-k fits"
        ),
    ),
    Relation(
        "two_layer_law", "Lip vs k at fixed n", "width", "k", (*_BASE, "n"), _LIP, "two_layer"
    ),
    Relation(
        "two_layer_law", "Lip vs n at fixed k", "n", "n", (*_BASE, "width"), _LIP, "two_layer"
    ),
    Relation("universal_law", "Lip vs p", "p", "p", (*_BASE, "n"), _LIP, "universal"),
    Relation("universal_law", "Lip vs n", "n", "n", (*_BASE, "p"), _LIP, "universal"),
    Relation(
        "universal_law",
        "Lip vs d at fixed p",
        "d_eff",
        "d",
        (*_BASE_NO_D, "n", "p"),
        _LIP,
        "universal",
    ),
    Relation(
        "universal_law",
        "Lip vs d at fixed width",
        "d_eff",
        "d",
        (*_BASE_NO_D, "n", "width"),
        _LIP,
        "universal",
    ),
    Relation("real_data", "Lip vs p", "p", "p", (*_BASE, "n"), _LIP, "universal"),
    Relation("rf_ntk", "Lip vs p", "p", "p", (*_BASE, "n"), _LIP, "universal"),
    Relation(
        "rf_ntk",
        "sensitivity vs p",
        "p",
        "p",
        (*_BASE, "n"),
        ("sensitivity",),
        "universal",
        note=(
            "reference slope of the universal law; Bombari, Kiyani & Mondelli (ICML 2023) "
            "expect random-feature interpolators not to follow it at any over-"
            "parameterization, and NTK interpolators to follow it once p ≳ n·d only with even "
            "activations. Sensitivity is an average-gradient estimate, not Lip"
        ),
    ),
)


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The verdict on one slope: one relation, one group of fixed values, one quantity.

    Attributes
    ----------
    experiment, relation : str
        E.g. ``"two_layer_law"``, ``"Lip vs n/k"``.
    quantity : str
        Column fitted (``lip_lower``, ``lip_upper``, ``lip_exact``, ``sensitivity``).
    quantity_label, certification : str
        Short name and what kind of number it is (certified bound, estimate, ...).
    group : tuple of (column, value)
        The fixed configuration of this fit.
    verdict : str
        ``"consistent"``, ``"inconsistent"`` or ``"insufficient data"``.
    statement : str
        One line with the numbers, e.g.
        ``upper bound: slope 0.41 [0.33, 0.49] vs predicted 0.50 → inconsistent at 95%``.
    reason : str
        Why the data are insufficient, or why the interval is not BCa; may be empty.
    law, law_formula : str
        The law tested and its heuristic line.
    predicted_slope : float
        Log-log slope of the heuristic line over the points of the fit.
    rigorous_slope : float
        Log-log slope of Theorem 3's bound over the same points.
    rigorous_applies : bool
        Whether Theorem 3's sample-size hypothesis holds at some point of the fit.
    rule : str
        The fit-range rule, with how fitting was decided.
    x_range : tuple of float
        (min, max) x of the fitted points (NaN when none).
    n_cells, n_in_range, n_used : int
        Cells in the group; cells passing the rule and fitted; points in the fit.
    gap_median : float
        Median over the fitted cells of upper / lower (NaN when unavailable).
    fit : PowerLawFit or None
    notes : tuple of str
    floor : FloorComparison or None
        The data floor's own log-log slope over the same cells and the median certified
        upper / floor (``floor.reason`` says why there is none).
    regime : Regime or None
        What the slope measures, by the fixed rules of :mod:`robustlaw.analysis.regimes`.
    """

    experiment: str
    relation: str
    quantity: str
    quantity_label: str
    certification: str
    group: tuple[tuple[str, Any], ...]
    verdict: str
    statement: str
    reason: str
    law: str
    law_formula: str
    predicted_slope: float
    rigorous_slope: float
    rigorous_applies: bool
    rule: str
    x_range: tuple[float, float]
    n_cells: int
    n_in_range: int
    n_used: int
    gap_median: float
    fit: PowerLawFit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    floor: FloorComparison | None = None
    regime: Regime | None = None

    @property
    def regime_label(self) -> str:
        """The regime's label (``"not assessed"`` without a regime)."""
        return self.regime.label if self.regime is not None else "not assessed"

    @property
    def group_text(self) -> str:
        """The fixed configuration as ``name=value`` pairs (unrecorded values left out)."""
        return ", ".join(
            f"{name}={_plain(value)}" for name, value in self.group if not _missing(value)
        )

    def to_dict(self) -> dict:
        """Plain dictionary; the fit becomes its own dictionary."""
        return {
            "experiment": self.experiment,
            "relation": self.relation,
            "quantity": self.quantity,
            "quantity_label": self.quantity_label,
            "certification": self.certification,
            "group": {name: _plain(value) for name, value in self.group},
            "verdict": self.verdict,
            "statement": self.statement,
            "reason": self.reason,
            "law": self.law,
            "law_formula": self.law_formula,
            "predicted_slope": self.predicted_slope,
            "rigorous_slope": self.rigorous_slope,
            "rigorous_applies": self.rigorous_applies,
            "rule": self.rule,
            "x_range": list(self.x_range),
            "n_cells": self.n_cells,
            "n_in_range": self.n_in_range,
            "n_used": self.n_used,
            "gap_median": self.gap_median,
            "fit": None if self.fit is None else self.fit.to_dict(),
            "notes": list(self.notes),
            "floor": None if self.floor is None else self.floor.to_dict(),
            "regime": None if self.regime is None else self.regime.to_dict(),
        }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _format(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.2f}"


def _statement(label: str, fit: PowerLawFit, predicted: float, verdict: str) -> str:
    low, high = fit.slope_ci
    level = f"{100 * fit.confidence_level:g}%"
    text = (
        f"{label}: slope {_format(fit.slope)} [{_format(low)}, {_format(high)}] "
        f"vs predicted {_format(predicted)} → {verdict} at {level}"
    )
    if fit.method != "BCa":
        text += f" ({fit.method} interval: {fit.method_reason})"
    return text


def _group_verdicts(
    relation: Relation,
    group: tuple[tuple[str, Any], ...],
    cells: pd.DataFrame,
    in_range: pd.Series,
    rule_text: str,
    *,
    confidence_level: float,
    n_resamples: int,
    min_seeds: int,
    min_x_values: int,
    bca_min_seeds: int,
    rng: int,
    own: pd.DataFrame,
    competitors: Competitors,
    rules: RegimeRules,
) -> list[Verdict]:
    law = LAWS[relation.law]
    used = cells.loc[in_range]
    x = numeric_column(used, relation.x).to_numpy()
    lines = law_values(used, relation.law)
    heuristic = lines["heuristic"].to_numpy(dtype=float)
    rigorous = lines["rigorous"].to_numpy(dtype=float)
    rigorous_valid = lines["rigorous_valid"].to_numpy(dtype=bool)
    lower, upper = numeric_column(used, "lip_lower"), numeric_column(used, "lip_upper")
    ratio = (upper / lower)[(lower > 0) & np.isfinite(upper) & np.isfinite(lower)]
    gap = float(ratio.median()) if len(ratio) else math.nan
    verdicts = []
    for quantity in relation.quantities:
        label, certification = QUANTITY_LABELS[quantity]
        if quantity == "lip_upper" and "lip_upper_method" in used.columns:
            methods = sorted({str(m) for m in used["lip_upper_method"].dropna()})
            if methods:
                certification += f" ({', '.join(methods)})"
        notes: list[str] = []
        fit = None
        y = numeric_column(used, quantity).to_numpy()
        if quantity not in cells.columns or not numeric_column(cells, quantity).notna().any():
            continue  # not measured anywhere in this group: nothing to say
        finite = np.isfinite(y) & np.isfinite(x)
        positive = finite & (y > 0) & (x > 0)
        if (finite & ~positive).any():
            notes.append(f"{int((finite & ~positive).sum())} non-positive value(s) left out")
        seeds = used["seed"].to_numpy(dtype=object) if "seed" in used.columns else None
        n_x = np.unique(x[positive]).size
        # The law's slopes over exactly the points of this fit.
        predicted = log_slope(x[positive], heuristic[positive])
        rigorous_slope = log_slope(x[positive], rigorous[positive])
        rigorous_applies = bool(rigorous_valid[positive].any())
        if seeds is not None and n_x >= 2:
            try:
                fit = fit_power_law(
                    x[positive],
                    y[positive],
                    seeds[positive],
                    confidence_level=confidence_level,
                    n_resamples=n_resamples,
                    bca_min_seeds=bca_min_seeds,
                    rng=rng,
                    x_label=relation.x_label,
                    y_label=quantity,
                )
            except ValueError as exc:  # e.g. no seed with two distinct x values
                notes.append(str(exc))
        if seeds is None:
            reason = "records have no seed column: nothing to bootstrap over"
        elif not in_range.any():
            reason = f"no cell satisfies the fit-range rule ({rule_text})"
        elif not positive.any():
            reason = f"no measured {label} in the fit range"
        elif n_x < min_x_values:
            reason = (
                f"{n_x} distinct {relation.x_label} value(s) in the fit range "
                f"(need ≥ {min_x_values})"
            )
        elif fit is None:
            reason = "no seed has two distinct x values in the fit range"
        elif fit.n_seeds < min_seeds:
            reason = f"{fit.n_seeds} seed(s) in the fit range (need ≥ {min_seeds})"
        elif not fit.has_interval:
            reason = f"no confidence interval: {fit.method_reason}"
        elif not math.isfinite(predicted):
            reason = "the law's line could not be evaluated at these configurations"
        else:
            reason = ""
        if fit is not None and fit.notes:
            notes.extend(fit.notes)
        if reason:
            verdict = INSUFFICIENT
            statement = f"{label}: insufficient data — {reason}"
            if fit is not None and fit.has_interval:
                statement += (
                    f" (slope {_format(fit.slope)} [{_format(fit.slope_ci[0])}, "
                    f"{_format(fit.slope_ci[1])}], {fit.method}, shown for information)"
                )
        else:
            verdict = CONSISTENT if fit.covers(predicted) else INCONSISTENT
            statement = _statement(label, fit, predicted, verdict)
            reason = fit.method_reason
        x_used = x[positive]
        fitted_cells = used.loc[positive]
        floor = (
            floor_comparison(fitted_cells, relation.x)
            if quantity in _LIP
            else FloorComparison(math.nan, math.nan, False, 0, f"no data floor for the {label}")
        )
        regime = decide(
            has_interval=verdict != INSUFFICIENT,
            slope_ci=fit.slope_ci if fit is not None else (math.nan, math.nan),
            quantity=quantity,
            floor=floor,
            gap_median=gap,
            search=search_check(fitted_cells, own, competitors),
            rules=rules,
            theorem3=(
                theorem3_status(fitted_cells, rules.theorem3_delta)
                if relation.law == "universal"
                else None
            ),
            why_not=reason if verdict == INSUFFICIENT else "",
        )
        verdicts.append(
            Verdict(
                experiment=relation.experiment,
                relation=relation.name,
                quantity=quantity,
                quantity_label=label,
                certification=certification,
                group=group,
                verdict=verdict,
                statement=statement,
                reason=reason,
                law=law.name,
                law_formula=law.formula,
                predicted_slope=predicted,
                rigorous_slope=rigorous_slope,
                rigorous_applies=rigorous_applies,
                rule=rule_text,
                x_range=(
                    (float(x_used.min()), float(x_used.max()))
                    if x_used.size
                    else (math.nan, math.nan)
                ),
                n_cells=len(cells),
                n_in_range=int(in_range.sum()),
                n_used=int(positive.sum()),
                gap_median=gap,
                fit=fit,
                notes=tuple(notes),
                floor=floor,
                regime=regime,
            )
        )
    return verdicts


def _varies_along_curves(group: pd.DataFrame, x: str) -> bool:
    values = numeric_column(group, x)
    if "seed" not in group.columns:
        return values.nunique() >= 2
    per_seed = values.groupby(group["seed"].astype(str)).nunique()
    return bool(len(per_seed)) and int(per_seed.max()) >= 2


def assess(
    records: pd.DataFrame,
    *,
    relations: Sequence[Relation] = RELATIONS,
    confidence_level: float = 0.95,
    n_resamples: int = 9999,
    min_seeds: int = 3,
    min_x_values: int = 3,
    bca_min_seeds: int = BCA_MIN_SEEDS,
    rng: int = 0,
    rules: RegimeRules = DEFAULT_RULES,
    reference: pd.DataFrame | None = None,
) -> list[Verdict]:
    """Fit every relation of every experiment present in ``records`` and give verdicts.

    Parameters
    ----------
    records : pandas.DataFrame
        Member records (see ``robustlaw.analysis``); only status "done" rows enter.
    relations : sequence of Relation
        What to test; defaults to ``RELATIONS``.
    confidence_level : float in (0, 1)
        Level of the bootstrap intervals.
    n_resamples : int
        Bootstrap resamples per fit.
    min_seeds, min_x_values : int
        Fewest seeds and distinct x values in the fit range for a verdict.
    bca_min_seeds : int
        Fewest seeds for BCa intervals (percentile below, with the reason).
    rng : int
        Seed of the bootstrap; verdicts are reproducible.
    rules : RegimeRules
        The fixed rules that label each verdict's regime
        (:data:`robustlaw.analysis.regimes.DEFAULT_RULES`).
    reference : pandas.DataFrame, optional
        Member records to search for constructions and other search modes that beat the
        fits (the search-limited rule), e.g. the whole store; default: ``records``.

    Returns
    -------
    list of Verdict
        One per (relation, group, quantity). A relation whose x never varies within a group
        of fixed values is not tested (nothing to fit); a group where x varies but too little
        data remains gets "insufficient data".
    """
    records = validate_records(records)
    if not isinstance(rules, RegimeRules):
        raise TypeError(f"rules must be a RegimeRules, got {type(rules).__name__}")
    reference = records if reference is None else validate_records(reference)
    for name, value, minimum in (("min_seeds", min_seeds, 2), ("min_x_values", min_x_values, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    _, how = fitted_mask(records)
    cells = smoothest_fits(records)
    if cells.empty:
        return []
    in_range = in_fit_range(cells)
    competitors = Competitors.build(reference)
    own = own_members(records)
    verdicts: list[Verdict] = []
    for relation in relations:
        rows = cells["experiment"].astype(str).eq(relation.experiment)
        if not rows.any() or relation.x not in cells.columns:
            continue
        rule = RANGE_RULES.get(relation.experiment)
        rule_text = f"{rule.text if rule else 'all cells'}; fitted: {how}"
        sub = cells.loc[rows]
        fixed = [c for c in relation.fixed if c in sub.columns]
        groups = sub.groupby(fixed, dropna=False, sort=True) if fixed else [((), sub)]
        # Groups where x varies along some seed's curve (variation across seeds only, e.g.
        # of an estimated intrinsic dimension, is not a designed scan); those with no cell
        # in the fit range are left out unless no group has one (then each says so).
        varying = [
            (key if isinstance(key, tuple) else (key,), group)
            for key, group in groups
            if _varies_along_curves(group, relation.x)
        ]
        if any(in_range.loc[group.index].any() for _, group in varying):
            varying = [(key, g) for key, g in varying if in_range.loc[g.index].any()]
        for key, group in varying:
            verdicts.extend(
                _group_verdicts(
                    relation,
                    tuple(zip(fixed, key, strict=True)),
                    group,
                    in_range.loc[group.index],
                    rule_text,
                    confidence_level=confidence_level,
                    n_resamples=n_resamples,
                    min_seeds=min_seeds,
                    min_x_values=min_x_values,
                    bca_min_seeds=bca_min_seeds,
                    rng=rng,
                    own=own,
                    competitors=competitors,
                    rules=rules,
                )
            )
    return verdicts
