"""Expansion, content hashes and batching: pure functions, nothing runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_toy_runner import toy_spec

from robustlaw.sweep import expand, group, make_plan, parse_spec, trial_hash
from robustlaw.sweep.plan import HASH_SCHEMA, Trial, TrialConfig, batch_key


def _trials(**overrides) -> list[Trial]:
    return expand(parse_spec(toy_spec(**overrides)))


def test_cartesian_product_of_axes_times_widths():
    trials = _trials(
        data={"n": [10, 20, 30], "d": [2, 3]},
        model={"widths": [1, 2], "activation": ["relu", "tanh"]},
    )
    assert len(trials) == 3 * 2 * 2 * 2 * 2  # n, d, activation, seeds, widths
    combos = {(t.config.data.n, t.config.data.d, t.config.model.activation, t.config.seed,
               t.config.model.width) for t in trials}  # fmt: skip
    assert combos == set(itertools.product([10, 20, 30], [2, 3], ["relu", "tanh"], [0, 1], [1, 2]))


def test_zipped_axes_move_together_and_widths_can_be_zipped():
    trials = _trials(
        zip=[["data.n", "data.d", "model.widths"]],
        data={"n": [10, 40], "d": [2, 5]},
        model={"widths": [[1, 2], [4, 8, 16]]},
    )
    combos = {(t.config.data.n, t.config.data.d, t.config.model.width) for t in trials}
    assert combos == {(10, 2, 1), (10, 2, 2), (40, 5, 4), (40, 5, 8), (40, 5, 16)}
    assert len(trials) == 5 * 2


def test_params_lists_are_axes():
    trials = _trials(data={"label_params": {"flip": [0.0, 0.1, 0.2], "kind": "x"}})
    values = sorted({t.config.data.label_params["flip"] for t in trials})
    assert values == [0.0, 0.1, 0.2]
    assert {t.config.data.label_params["kind"] for t in trials} == {"x"}


def test_cases_are_a_union_without_duplicates():
    raw = toy_spec(
        seeds=[0],
        data={"n": 10},
        model={"widths": [1, 2]},
        cases=[{"data": {"n": [10, 20]}}, {"data": {"n": 10, "d": 4}}, {"data": {"n": 10}}],
    )
    trials = expand(parse_spec(raw))
    combos = sorted((t.config.data.n, t.config.data.d, t.config.model.width) for t in trials)
    assert combos == [(10, 3, 1), (10, 3, 2), (10, 4, 1), (10, 4, 2), (20, 3, 1), (20, 3, 2)]


def test_a_case_replaces_free_form_tables_and_merges_sections():
    raw = toy_spec(
        seeds=[0],
        data={"n": 10, "label_params": {"flip": 0.1, "kind": "x"}},
        model={"widths": [1]},
        cases=[{}, {"data": {"label_params": {"kind": "y"}}}, {"data": {"label_params": {}}}],
    )
    params = sorted(
        (json.dumps(t.config.data.label_params, sort_keys=True), t.config.data.n)
        for t in expand(parse_spec(raw))
    )
    assert params == [
        ('{"flip": 0.1, "kind": "x"}', 10),  # the base, untouched
        ('{"kind": "y"}', 10),  # replaced whole: no "flip" left over from the base
        ("{}", 10),  # cleared
    ]


def test_hash_is_sha256_of_the_canonical_json_written_out_by_hand():
    raw = toy_spec(seeds=[7], data={"n": 12, "d": 3}, model={"widths": [5]})
    (trial,) = expand(parse_spec(raw))
    identity = {
        "schema": HASH_SCHEMA,
        "experiment": "toy_check",
        "kind": "toy",
        "seed": 7,
        "data": {
            "distribution": "gaussian",
            "dataset": None,
            "n": 12,
            "d": 3,
            "labels": "random_sign",
            "label_params": {},
            "params": {},
            "noise_level": None,
            "options": {},
        },
        "model": {
            "family": "two_layer",
            "activation": "relu",
            "width": 5,
            "hidden_layers": 1,
            "init": "standard",
            "hidden_bias": True,
            "output_bias": False,
            "skip": False,
            "construction": None,
            "dtype": "float64",
            "options": {},
        },
        "fit": {
            "target": "interpolate",
            "eps": None,
            "tol": 1e-6,
            "optimizer": "adam",
            "lr": None,
            "steps": None,
            "smoothest": False,
            "penalty": None,
            "strengths": [],
            "ridge": 0.0,
            "options": {},
        },
        "lipschitz": {
            "domain": "rd",
            "methods": ["lower", "upper"],
            "budget_seconds": None,
            "budget_nodes": None,
            "test_points": 1000,
            "pgd_radius": None,
            "pgd_steps": None,
            "options": {},
        },
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    assert trial.hash == hashlib.sha256(text.encode()).hexdigest()
    assert trial_hash(trial.config) == trial.hash


def test_run_options_do_not_enter_the_hash():
    base = {t.hash for t in _trials()}
    assert {t.hash for t in _trials(run={"device": "cuda:3", "max_members": 1})} == base


@pytest.mark.parametrize(
    "overrides",
    [
        {"data": {"d": 4}},
        {"data": {"labels": "linear"}},
        {"data": {"params": {"scale": 2.0}}},
        {"model": {"activation": "tanh"}},
        {"model": {"dtype": "float32"}},
        {"model": {"init": "ntk"}},
        {"fit": {"tol": 1e-8}},
        {"fit": {"lr": 0.01}},
        {"lipschitz": {"domain": "sphere"}},
        {"lipschitz": {"methods": ["lower"]}},
        {"experiment": "other_experiment"},
    ],
)
def test_every_scientific_field_enters_the_hash(overrides):
    base = {t.hash for t in _trials()}
    changed = {t.hash for t in _trials(**overrides)}
    assert not base & changed


def test_equal_values_written_differently_hash_the_same():
    a = {t.hash for t in _trials(data={"n": [12, 20]}, fit={"tol": 1e-6})}
    b = {t.hash for t in _trials(data={"n": [12.0, 20.0]}, fit={"tol": 0.000001})}
    assert a == b
    # R^d and rd are the same domain
    assert {t.hash for t in _trials(lipschitz={"domain": "R^d"})} == {t.hash for t in _trials()}
    # eps does not apply to exact interpolation, so only the target's own fields count
    trial = _trials(fit={"target": "interpolate"})[0]
    assert trial.config.fit.eps is None and trial.config.fit.tol == 1e-6


def test_spec_name_is_not_identity():
    assert {t.hash for t in _trials(name="a")} == {t.hash for t in _trials(name="b")}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_key_order_of_the_spec_does_not_matter(seed):
    rng = random.Random(seed)

    def shuffled(value):
        if isinstance(value, dict):
            items = list(value.items())
            rng.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        return value

    raw = toy_spec(data={"params": {"a": 1, "b": [2, 3]}, "label_params": {"q": 0.1}})
    assert [t.hash for t in expand(parse_spec(shuffled(raw)))] == [
        t.hash for t in expand(parse_spec(raw))
    ]


def test_batches_share_data_and_hold_widths_in_order():
    trials = _trials(model={"widths": [9, 2, 5]})
    batches = group(trials)
    assert len(batches) == 2 * 2  # n x seeds
    for batch in batches:
        assert batch.widths == [2, 5, 9]
        configs = [t.config.model_dump() for t in batch.trials]
        for config in configs:
            config["model"].pop("width")
        assert all(c == configs[0] for c in configs)
        assert len({t.batch_key for t in batch.trials}) == 1


def test_max_members_splits_batches_into_consecutive_widths():
    batches = group(_trials(model={"widths": [1, 2, 3, 4, 5]}), max_members=2)
    assert [b.widths for b in batches[:3]] == [[1, 2], [3, 4], [5]]
    assert len({b.key for b in batches}) == len(batches)
    with pytest.raises(ValueError, match="max_members"):
        group([], max_members=0)


@settings(max_examples=30, deadline=None)
@given(
    ns=st.lists(st.integers(1, 50), min_size=1, max_size=3, unique=True),
    widths=st.lists(st.integers(1, 30), min_size=1, max_size=5, unique=True),
    seeds=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
    max_members=st.one_of(st.none(), st.integers(1, 4)),
)
def test_grouping_is_a_partition(ns, widths, seeds, max_members):
    trials = _trials(data={"n": ns}, model={"widths": widths}, seeds=seeds)
    batches = group(trials, max_members)
    hashes = [h for b in batches for h in b.hashes]
    assert sorted(hashes) == sorted(t.hash for t in trials)
    assert len(batches) >= len(ns) * len(seeds)
    for batch in batches:
        assert max_members is None or len(batch) <= max_members
        assert len({(t.config.data.n, t.config.seed) for t in batch.trials}) == 1
    for trial in trials:  # hashes from the shared template equal hashes computed afresh
        assert trial.hash == trial_hash(trial.config)
        assert trial.batch_key == batch_key(trial.config)
        assert TrialConfig.model_validate(trial.config.model_dump()) == trial.config


def test_plan_skips_finished_trials():
    spec = parse_spec(toy_spec())
    everything = make_plan(spec)
    done = {t.hash for t in everything.trials[::3]}
    again = make_plan(spec, done)
    assert again.skipped == len(done)
    assert {t.hash for t in again.pending} == {t.hash for t in everything.trials} - done
    assert sum(len(b) for b in again.batches) == len(again.pending)
