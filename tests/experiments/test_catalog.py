"""The packaged experiments: every spec validates, scales grow, bad names are refused."""

from __future__ import annotations

import pytest

from robustlaw.experiments import CATALOG, experiment_spec, spec_text
from robustlaw.sweep import EXPERIMENTS, expand, group

PAIRS = [(name, scale) for name, e in CATALOG.items() for scale in e.scales]


@pytest.mark.parametrize(("name", "scale"), PAIRS, ids=lambda v: str(v))
def test_every_packaged_spec_validates_and_expands(name, scale):
    spec = experiment_spec(name, scale)
    trials = expand(spec)
    assert trials
    assert spec.experiment == CATALOG[name].label
    assert sum(len(b) for b in group(trials)) == len(trials)
    assert len({t.config.seed for t in trials}) >= 2  # seeds to bootstrap over


def test_every_experiment_of_section_7_is_packaged():
    assert {e.label for e in CATALOG.values()} >= set(EXPERIMENTS)


@pytest.mark.parametrize("name", [n for n, e in CATALOG.items() if "small" in e.scales])
def test_scales_grow_from_tiny_to_small_to_full(name):
    sizes = [len(expand(experiment_spec(name, s))) for s in ("tiny", "small", "full")]
    assert sizes[0] < sizes[1] <= sizes[2]


def test_demo_follows_the_issue_two_layer_law_on_the_sphere():
    configs = [t.config for t in expand(experiment_spec("demo", "default"))]
    (n,) = {c.data.n for c in configs}
    (d,) = {c.data.d for c in configs}
    widths = sorted({c.model.width for c in configs})
    assert {(c.data.distribution, c.data.labels) for c in configs} == {("sphere", "random_sign")}
    assert widths[0] < n / d and widths[-1] > n  # k from below n/d to above n
    assert len({c.seed for c in configs}) >= 3
    assert all(c.fit.smoothest for c in configs)
    assert {frozenset(c.lipschitz.methods) for c in configs} == {
        frozenset({"lower", "upper", "exact"})
    }


def test_unknown_experiment_and_scale_name_the_choices():
    with pytest.raises(ValueError, match="experiment must be one of"):
        spec_text("three-layer-law", "small")
    with pytest.raises(ValueError, match="scale of 'demo' must be one of"):
        spec_text("demo", "full")
