"""Plain words from verdicts: numbers rounded to what their interval supports, summaries.

Everything here is generated from :class:`~robustlaw.analysis.verdicts.Verdict` records;
nothing is typed in. :func:`slope_text` writes a slope with as many decimals as its
confidence interval supports (the interval's half-width sets the last digit),
:func:`verdict_sentence` one verdict with its regime, and :func:`summarize` the paragraph at
the top of each experiment's section of the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from robustlaw.analysis.regimes import (
    CERTIFICATE_LIMITED,
    FLOOR_DOMINATED,
    LAW_REGIME,
    NOT_ASSESSED,
    REGIME_ORDER,
    SEARCH_LIMITED,
)
from robustlaw.analysis.verdicts import CONSISTENT, INCONSISTENT, INSUFFICIENT, Verdict

__all__ = [
    "REGIME_MEANING",
    "interval_decimals",
    "ratio_text",
    "slope_text",
    "summarize",
    "verdict_sentence",
]

#: What each regime label means, in a reader's words.
REGIME_MEANING: dict[str, str] = {
    FLOOR_DOMINATED: "the data's own floor (the least Lipschitz constant any interpolant can "
    "have) sets this slope, not the parameter count",
    SEARCH_LIMITED: "a construction or another search found provably smoother networks of "
    "the same size, so this slope is not that of the smoothest fits",
    CERTIFICATE_LIMITED: "the certified bounds are too far apart for one bound's slope to be "
    "the slope of Lip",
    LAW_REGIME: "no confounder applies, so the verdict speaks about the law",
    NOT_ASSESSED: "no interval, so no regime",
}

#: Preference when one quantity must speak for a fit: exact, then the certified bounds.
_QUANTITY_ORDER = ("lip_exact", "lip_upper", "lip_lower", "sensitivity")


def interval_decimals(low: float, high: float, *, most: int = 4) -> int:
    """Decimals a value with interval [low, high] supports: the half-width's first digit.

    E.g. [0.28, 0.37] (half-width 0.045) → 2; [0.1, 0.9] → 1; [−0.01, 0.01] → 2. At most
    ``most`` decimals; 2 when the interval is not finite.
    """
    half = (high - low) / 2
    if not (math.isfinite(half) and half > 0):
        return 2
    return int(min(most, max(0, -math.floor(math.log10(half)))))


def _number(value: float, decimals: int) -> str:
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0  # no "−0.00"
    text = f"{value:.{decimals}f}"
    return text.replace("-", "−") if value < 0 else text


def slope_text(slope: float, low: float = math.nan, high: float = math.nan) -> str:
    """``slope [low, high]`` rounded to what the interval supports (no interval: 2 decimals)."""
    if not math.isfinite(slope):
        return "—"
    digits = interval_decimals(low, high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return _number(slope, digits)
    return f"{_number(slope, digits)} [{_number(low, digits)}, {_number(high, digits)}]"


def ratio_text(value: float) -> str:
    """A ratio of Lipschitz constants with three significant digits, e.g. ``1.79×``."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.2f}×" if abs(value) < 10 else f"{value:.3g}×"


def _fit_text(verdict: Verdict) -> str:
    fit = verdict.fit
    if fit is None:
        return "—"
    return slope_text(fit.slope, *fit.slope_ci)


def verdict_sentence(verdict: Verdict) -> str:
    """One verdict in words: slope, the law's, the floor's, the verdict and the regime."""
    label = verdict.quantity_label
    if verdict.fit is None or verdict.verdict == INSUFFICIENT:
        return f"{label}: too little data ({verdict.reason})"
    text = (
        f"{label}: slope {_fit_text(verdict)} against the law's "
        f"{slope_text(verdict.predicted_slope)}, {verdict.verdict}"
    )
    floor = verdict.floor
    if floor is not None and math.isfinite(floor.slope):
        text += f"; data floor's slope {slope_text(floor.slope)}"
    if floor is not None and math.isfinite(floor.upper_ratio):
        text += f", certified fits at {ratio_text(floor.upper_ratio)} the floor"
    regime = verdict.regime
    if regime is not None:
        text += f" — {regime.label}"
        if regime.label != LAW_REGIME:
            text += f" ({regime.rule})"
    return text


def _speaker(verdicts: Sequence[Verdict]) -> Verdict:
    """The verdict that speaks for one fit: exact when fitted, else upper, else lower."""
    ranked = sorted(
        verdicts,
        key=lambda v: (
            v.fit is None or not v.fit.has_interval,
            _QUANTITY_ORDER.index(v.quantity) if v.quantity in _QUANTITY_ORDER else 9,
        ),
    )
    return ranked[0]


def _range_text(values: Sequence[float]) -> str:
    values = sorted(v for v in values if math.isfinite(v))
    if not values:
        return "—"
    low, high = slope_text(values[0]), slope_text(values[-1])
    return low if low == high else f"{low} to {high}"


def _outcome_text(speakers: Sequence[Verdict]) -> str:
    """The shared outcome, else the count of each (e.g. ``1 consistent, 2 inconsistent``)."""
    outcomes = [s.verdict for s in speakers]
    kinds = sorted(set(outcomes))
    if len(kinds) == 1:
        return kinds[0]
    return ", ".join(f"{outcomes.count(k)} {k}" for k in kinds)


def _regime_text(labels: Sequence[str], counts: Sequence[str], explained: set[str]) -> str:
    """The regimes of a relation's fits, each explained the first time the paragraph names it."""
    parts = []
    for label in labels:
        text = f"{counts.count(label)} {label}" if len(labels) > 1 else label
        if label not in explained:
            text += f" ({REGIME_MEANING[label]})"
            explained.add(label)
        parts.append(text)
    return "; ".join(parts)


def summarize(verdicts: Sequence[Verdict]) -> str:
    """A plain-language paragraph about one experiment's verdicts.

    Says how many slopes were fitted and how they came out, which regime each relation is
    in (for each relation, the exact values speak when fitted, else the certified upper
    bound, else the lower bound), the data floor beside them, and for the universal law
    whether Theorem 3's hypothesis holds at these n.
    """
    verdicts = list(verdicts)
    if not verdicts:
        return "No slope is tested for this experiment."
    counts = {k: sum(v.verdict == k for v in verdicts) for k in (CONSISTENT, INCONSISTENT)}
    short = sum(v.verdict == INSUFFICIENT for v in verdicts)
    sentences = [
        f"{len(verdicts)} slopes were tested: {counts[CONSISTENT]} consistent with the law, "
        f"{counts[INCONSISTENT]} inconsistent"
        + (f", {short} with too little data for a verdict" if short else "")
        + "."
    ]
    explained: set[str] = set()
    relations: dict[str, dict[tuple, list[Verdict]]] = {}
    for v in verdicts:
        relations.setdefault(v.relation, {}).setdefault(v.group, []).append(v)
    for relation, groups in relations.items():
        speakers = [_speaker(members) for members in groups.values()]
        speakers = [s for s in speakers if s.fit is not None and s.verdict != INSUFFICIENT]
        if not speakers:
            sentences.append(f"{relation}: too little data for a slope.")
            continue
        kinds = sorted({s.quantity_label for s in speakers})
        slopes = [s.fit.slope for s in speakers]
        where = f" over {len(speakers)} configurations" if len(speakers) > 1 else ""
        if len(speakers) == 1:
            measured = _fit_text(speakers[0])
        else:
            measured = _range_text(slopes)
        law = _range_text([s.predicted_slope for s in speakers])
        regimes = [s.regime_label for s in speakers]
        labels = [r for r in (*REGIME_ORDER, NOT_ASSESSED) if r in regimes]
        text = (
            f"{relation} ({' / '.join(kinds)}): slope {measured}{where} against the law's "
            f"{law}, {_outcome_text(speakers)} — {_regime_text(labels, regimes, explained)}"
        )
        floors = [s.floor for s in speakers if s.floor is not None]
        ratios = [f.upper_ratio for f in floors if math.isfinite(f.upper_ratio)]
        floor_slopes = [f.slope for f in floors if math.isfinite(f.slope) and f.varies]
        if floor_slopes:
            text += f"; the data floor's own slope is {_range_text(floor_slopes)}"
        if ratios:
            text += (
                f"; the certified fits sit at {ratio_text(min(ratios))}"
                + (f"–{ratio_text(max(ratios))}" if max(ratios) - min(ratios) > 0.05 else "")
                + " the data floor"
            )
        elif floors and floors[0].reason:
            text += f"; {floors[0].reason}"
        sentences.append(text + ".")
    theorem3 = [v.regime.theorem3 for v in verdicts if v.regime and v.regime.theorem3]
    if theorem3:
        holds = all(t.holds for t in theorem3)
        fails = not any(t.holds_at for t in theorem3)
        needed = max(t.min_n for t in theorem3)
        largest = max(max(t.n_values) for t in theorem3)
        if fails:
            sentences.append(
                f"Theorem 3's hypothesis fails at every n here (n ≤ {largest:,}; it needs "
                f"n ≥ {needed:,} even at the most favourable ε), so the slopes test the law's "
                "scaling, not its rigorous bound."
            )
        elif holds:
            sentences.append("Theorem 3's hypothesis holds at every n here.")
        else:
            sentences.append("Theorem 3's hypothesis holds at some of the n here only.")
    return " ".join(sentences)
