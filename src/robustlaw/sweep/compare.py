"""Compare the records of two runs of a spec field by field (timings left out).

Two runs of a spec compute the same numbers when every stored field agrees bit for bit,
apart from the fields that say how long something took or when it finished
(:data:`TIMING_FIELDS`, as columns and as keys anywhere inside the JSON blobs). Methods
stopped by a wall-clock budget are the exception to expect: where such a method runs out
of time, what it reached depends on the machine's speed at that moment.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TIMING_FIELDS", "FieldDifference", "compare_stores", "differences"]

#: Fields that record time, not results: left out of every comparison.
TIMING_FIELDS = frozenset(
    {"seconds", "batch_seconds", "fit_seconds", "lip_seconds", "finished_at", "pid"}
)


_POSITION = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class FieldDifference:
    """Where two runs disagree on one field.

    Attributes
    ----------
    field : str
        A column, or ``column:key.path`` inside a JSON blob (list positions as ``[]``,
        ``[]#len`` for a list's length).
    rows : int
        Trials whose value differs.
    max_relative : float
        Largest |a - b| / max(|a|, |b|) over differing numbers (NaN when not numeric).
    """

    field: str
    rows: int
    max_relative: float


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in TIMING_FIELDS:
                yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        yield f"{path}[]#len", len(value)
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return (a is None and b is None) or (type(a) is type(b) and a == b)


def _relative(a: Any, b: Any) -> float:
    if isinstance(a, bool) or isinstance(b, bool):
        return math.nan
    if isinstance(a, int | float) and isinstance(b, int | float):
        scale = max(abs(a), abs(b))
        return abs(a - b) / scale if scale and math.isfinite(scale) else math.inf
    return math.nan


def _values(row: Any, column: str) -> Iterator[tuple[str, Any]]:
    value = row[column]
    if column.endswith("_json"):
        parsed = json.loads(value) if isinstance(value, str) else value
        for path, leaf in _leaves(parsed, ""):
            yield f"{column}:{path}", leaf
        return
    import pandas as pd

    if hasattr(value, "item"):
        value = value.item()
    yield column, None if not isinstance(value, str) and pd.isna(value) else value


def differences(a: Any, b: Any) -> list[FieldDifference]:
    """Every field on which two record frames (as :func:`robustlaw.sweep.load` returns)
    disagree, trials matched by hash; an empty list means identical results.

    Raises
    ------
    ValueError
        When the frames hold different trials or columns.
    """
    if set(a["trial_hash"]) != set(b["trial_hash"]):
        raise ValueError("the two runs hold different trials")
    if set(a.columns) != set(b.columns):
        raise ValueError("the two runs have different columns")
    left = a.set_index("trial_hash", drop=False)
    right = b.set_index("trial_hash", drop=False).loc[left.index]
    columns = [c for c in a.columns if c not in TIMING_FIELDS]
    rows: dict[str, int] = {}
    worst: dict[str, float] = {}
    for (_, x), (_, y) in zip(left.iterrows(), right.iterrows(), strict=True):
        differing: set[str] = set()
        for column in columns:
            ours, theirs = dict(_values(x, column)), dict(_values(y, column))
            for field in ours.keys() | theirs.keys():
                p, q = ours.get(field), theirs.get(field)
                if _same(p, q):
                    continue
                name = _POSITION.sub("[]", field)
                differing.add(name)
                rel = _relative(p, q)
                old = worst.get(name, math.nan)
                worst[name] = rel if math.isnan(old) else max(old, rel)
        for field in differing:
            rows[field] = rows.get(field, 0) + 1
    return [FieldDifference(f, rows[f], worst.get(f, math.nan)) for f in sorted(rows)]


def compare_stores(
    a: str | Path, b: str | Path, spec_name: str | None = None
) -> list[FieldDifference]:
    """:func:`differences` of the records of two stores (one spec's, or all)."""
    from robustlaw.sweep import load

    return differences(load(a, spec_name), load(b, spec_name))
