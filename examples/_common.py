"""Shared by the tutorial scripts: run a spec into a store and print what analysis says."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import robustlaw.sweep as sw
from robustlaw.analysis import assess
from robustlaw.analysis.summary import summarize, verdict_sentence


def int_list(text: str) -> list[int]:
    """``"5,10,20"`` -> [5, 10, 20] (argparse type; a clear error on anything else)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        message = f"expected integers separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def run_and_assess(raw: dict[str, Any], out: Path, n_resamples: int = 1999):
    """Validate ``raw`` as a spec, run it into ``out/results.db`` (resumable) and assess it."""
    spec = sw.parse_spec(raw)
    out.mkdir(parents=True, exist_ok=True)
    summary = sw.run_sweep(spec, store=out / "results.db", progress=False)
    print(f"{summary.total} trials: {summary.done} run now, {summary.skipped} already stored")
    records = sw.load(out / "results.db", spec_name=spec.name)
    verdicts = assess(records, n_resamples=n_resamples)
    return records, [v for v in verdicts if v.experiment == spec.experiment]


def print_verdicts(verdicts) -> None:
    """Every verdict in one line each, then the plain-language summary."""
    for verdict in verdicts:
        print(f"  [{verdict.relation}; {verdict.group_text}]")
        print(f"    {verdict_sentence(verdict)}")
    print()
    print(summarize(verdicts))
