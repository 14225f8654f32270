"""The example specs of docs/science.md section 7 load, validate and expand."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlaw.sweep import EXPERIMENTS, expand, group, load_spec

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.toml"))


def test_every_experiment_of_section_7_has_an_example():
    assert {load_spec(path).experiment for path in EXAMPLES} >= set(EXPERIMENTS)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_expand_to_small_batched_grids(path):
    spec = load_spec(path)
    trials = expand(spec)
    batches = group(trials)
    assert 0 < len(trials) <= 1000  # laptop-sized by default
    assert sum(len(b) for b in batches) == len(trials)
    assert len({t.hash for t in trials}) == len(trials)
    assert len({t.config.seed for t in trials}) >= 2  # seeds to bootstrap over
