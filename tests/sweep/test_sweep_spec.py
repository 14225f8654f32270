"""Spec loading: TOML and YAML, unknown keys, key paths in messages, fuzzing."""

from __future__ import annotations

import copy
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sweep_toy_runner import toy_spec

from robustlaw.sweep import SpecError, expand, load_spec, parse_spec

TOML = textwrap.dedent(
    """
    name = "small"
    experiment = "two_layer_law"
    seeds = [0, 1]
    zip = [["data.n", "model.widths"]]

    [data]
    distribution = "sphere"
    n = [50, 100]
    d = 5

    [model]
    activation = "relu"
    widths = [[5, 10], [10, 20, 40]]

    [fit]
    target = "below_noise"
    eps = 0.1

    [lipschitz]
    domain = "sphere"
    """
)


def _error(raw: dict) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return info.value


def test_toml_and_yaml_give_the_same_trials(tmp_path):
    toml_path = tmp_path / "small.toml"
    toml_path.write_text(TOML)
    spec = load_spec(toml_path)
    yaml_path = tmp_path / "small.yaml"
    yaml_path.write_text(yaml.safe_dump(spec.source))
    again = load_spec(yaml_path)
    assert [t.hash for t in expand(spec)] == [t.hash for t in expand(again)]
    assert spec.name == "small" and spec.experiment == "two_layer_law"
    # (2 + 3 widths) x 2 seeds
    assert len(expand(spec)) == 10


def test_name_defaults_to_the_file_stem(tmp_path):
    raw = toy_spec()
    del raw["name"]
    path = tmp_path / "my-sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(path).name == "my-sweep"


def test_an_invalid_width_names_its_key_path_and_reason():
    raw = toy_spec(model={"widths": [16, 64, 0]})
    error = _error(raw)
    assert str(error) == "invalid spec: model.widths[2]: must be positive, got 0"
    assert error.problems == [("model.widths[2]", "must be positive, got 0")]


@pytest.mark.parametrize(
    ("overrides", "path", "reason"),
    [
        ({"data": {"m": 3}}, "data.m", "unknown key (allowed: d, dataset, distribution"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"data": {"n": [10, -1]}}, "data.n[1]", "must be positive, got -1"),
        ({"data": {"n": 2.5}}, "data.n", "must be an integer, got 2.5"),
        ({"data": {"d": True}}, "data.d", "must be an integer, got True"),
        ({"seeds": [0, -2]}, "seeds[1]", "must be non-negative, got -2"),
        ({"fit": {"target": "below_noise", "eps": 1.5}}, "fit.eps", "must lie in (0, 1), got 1.5"),
        ({"fit": {"target": "exact"}}, "fit.target", "must be one of 'interpolate'"),
        ({"model": {"widths": [[2, 3], [4, 4]]}}, "model.widths[1][1]", "duplicate width 4"),
        ({"model": {"widths": []}}, "model.widths", "must be a non-empty list"),
        ({"data": {"params": {"m": [1, float("nan")]}}}, "data.params.m[1]", "finite number"),
        ({"lipschitz": {"methods": ["lower", 3]}}, "lipschitz.methods[1]", "non-empty string"),
        ({"lipschitz": {"methods": ["lower", "magic"]}}, "lipschitz.methods[1]", "unknown method"),
        ({"lipschitz": {"budget_seconds": 0}}, "lipschitz.budget_seconds", "must be positive"),
        ({"run": {"max_members": 0}}, "run.max_members", "must be positive"),
        ({"zip": [["data.n", "data.q"]]}, "zip[0]", "'data.q' is not an axis"),
        ({"zip": [["data.n", "model.widths"]]}, "zip[0]", "need equal lengths"),
        ({"kind": "nope"}, "kind", "unknown runner 'nope'"),
        ({"name": "has space"}, "name", "no spaces"),
        ({"fit": {"strengths": [0.1]}}, "fit.strengths", "only used with smoothest = true"),
    ],
)
def test_each_problem_is_reported_with_its_key_path(overrides, path, reason):
    error = _error(toy_spec(**overrides))
    paths = [p for p, _ in error.problems]
    assert path in paths, error.problems
    assert reason in dict(error.problems)[path]
    assert f"{path}: " in str(error)


def test_exactly_one_data_source_and_required_dimensions():
    error = _error(toy_spec(data={"dataset": "digits"}))
    assert ("data", "give exactly one of 'distribution' and 'dataset'") in error.problems
    raw = toy_spec()
    raw["data"] = {"distribution": "sphere"}
    paths = [p for p, _ in _error(raw).problems]
    assert "data.n" in paths and "data.d" in paths


def test_missing_sections_and_keys():
    raw = toy_spec()
    del raw["data"]
    assert _error(raw).problems == [("data", "required key is missing")]
    raw = toy_spec()
    del raw["experiment"]
    assert ("experiment", "required key is missing") in _error(raw).problems


def test_cases_are_validated_with_their_own_path():
    raw = toy_spec(cases=[{"data": {"n": 30}}, {"model": {"widths": [3, 0]}}])
    error = _error(raw)
    assert error.problems == [("cases[1].model.widths[1]", "must be positive, got 0")]
    raw = toy_spec(cases=[{"name": "other"}])
    assert ("cases[0].name", "cannot be set per case") in _error(raw).problems


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    odd = tmp_path / "spec.json"
    odd.write_text("{}")
    with pytest.raises(SpecError, match="unknown spec format"):
        load_spec(odd)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="a spec must be a table"):
        load_spec(listed)


# --------------------------------------------------------------------------- fuzzing

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_paths = st.sampled_from(
    [
        ("name",),
        ("experiment",),
        ("kind",),
        ("seeds",),
        ("zip",),
        ("cases",),
        ("data",),
        ("data", "n"),
        ("data", "d"),
        ("data", "distribution"),
        ("data", "dataset"),
        ("data", "labels"),
        ("data", "params"),
        ("data", "label_params"),
        ("model",),
        ("model", "widths"),
        ("model", "activation"),
        ("model", "family"),
        ("model", "hidden_layers"),
        ("fit", "target"),
        ("fit", "eps"),
        ("fit", "smoothest"),
        ("fit", "strengths"),
        ("lipschitz", "methods"),
        ("lipschitz", "domain"),
        ("run", "device"),
        ("model", "unknown_key"),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(_paths, _values), min_size=1, max_size=4))
def test_fuzzed_specs_either_load_or_raise_one_spec_error(mutations):
    raw = copy.deepcopy(toy_spec())
    for path, value in mutations:
        node = raw
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    try:
        spec = parse_spec(raw)
    except SpecError as error:
        assert error.problems
        for path, reason in error.problems:
            assert isinstance(path, str) and reason
        assert str(error).startswith("invalid spec")
        return
    trials = expand(spec)
    assert trials and len({t.hash for t in trials}) == len(trials)


def test_below_noise_on_a_data_set_needs_its_noise_level():
    raw = toy_spec(data={"distribution": None, "d": None, "n": 100, "dataset": "digits"},
                   fit={"target": "below_noise", "eps": 0.1})  # fmt: skip
    raw["data"] = {k: v for k, v in raw["data"].items() if v is not None}
    error = _error(raw)
    assert error.problems[0][0] == "fit.target" and "data.noise_level" in error.problems[0][1]
    raw["data"]["noise_level"] = 0.5
    assert parse_spec(raw).grids[0].data.noise_level == (0.5,)


def test_registry_names_are_checked_for_the_built_in_runners():
    raw = toy_spec(kind=None, model={"activation": ["relu", "relux"], "widths": [2]})
    del raw["kind"]
    error = _error(raw)
    assert error.problems[0][0] == "model.activation[1]"
    assert "unknown activation 'relux' (known:" in error.problems[0][1]
