"""Search settings: presets, overrides, validation, spec options, and the progress bar."""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
import torch
from fitting_data import sphere_data

from robustlaw.fitting import Interpolate, smoothest_fit
from robustlaw.fitting.settings import EFFORTS, SearchSettings, check_search_options
from robustlaw.models import TwoLayer


def test_presets_are_frozen_picklable_and_ordered_by_effort():
    for name, st in EFFORTS.items():
        assert SearchSettings.preset(name) is st
        assert pickle.loads(pickle.dumps(st)) == st
        with pytest.raises(AttributeError):
            st.steps = 1  # type: ignore[misc]
    order = ["lean", "standard", "thorough"]
    for a, b in itertools.pairwise(order):
        assert EFFORTS[a].steps <= EFFORTS[b].steps
        assert EFFORTS[a].minmax_rounds <= EFFORTS[b].minmax_rounds
    assert EFFORTS["legacy"].fit_steps == 3000 and EFFORTS["legacy"].steps == 3000


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"margin": 1.0}, "margin"),
        ({"steps": -1}, "steps"),
        ({"stages": 0}, "stages"),
        ({"lr": 0.0}, "lr"),
        ({"certify_methods": ("lipsdp",)}, "certify_methods"),
        ({"domain_strengths": ()}, "domain_strengths"),
        ({"fit_steps": True}, "fit_steps"),
        ({"minmax_temperature": -0.01}, "minmax_temperature"),
        ({"minmax_temperature": math.inf}, "minmax_temperature"),
        ({"steps_per_round": 3}, "unknown search setting"),
    ],
)
def test_bad_settings_name_the_field(change, match):
    with pytest.raises(ValueError, match=match):
        SearchSettings().replace(**change)


def test_spec_options_are_checked_by_name():
    assert check_search_options({"mode": "certified", "domain": "sphere", "fit_steps": 10}) == []
    problems = dict(check_search_options({"mode": "exact", "colour": 1, "stages": 0}))
    assert "must be one of" in problems["mode"]
    assert "unknown option" in problems["colour"]
    assert problems.keys() == {"mode", "colour"}  # values are checked once names are known
    assert dict(check_search_options({"stages": 0}))["stages"].startswith("stages must be")


def test_spec_load_rejects_bad_fit_options():
    from robustlaw.sweep.spec import SpecError, parse_spec

    raw = {
        "name": "t",
        "experiment": "two_layer_law",
        "seeds": [0],
        "data": {"distribution": "sphere", "n": 8, "d": 3, "labels": "random_sign"},
        "model": {"family": "two_layer", "widths": [4]},
        "fit": {"smoothest": True, "strengths": [0.1], "options": {"mode": "fastest"}},
    }
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    assert "fit.options.mode" in dict(info.value.problems)


def test_overrides_settings_and_effort_together():
    X, y = sphere_data(8, 3, seed=2)
    fam = TwoLayer(3, [4], seeds=[0])
    with pytest.raises(ValueError, match="effort or settings"):
        smoothest_fit(fam, X, y, Interpolate(), effort="quick", settings=SearchSettings())
    with pytest.raises(ValueError, match="unknown search setting"):
        smoothest_fit(fam, X, y, Interpolate(), stepz=3)
    with pytest.raises(TypeError, match="SearchSettings"):
        smoothest_fit(fam, X, y, Interpolate(), settings={"steps": 3})


def test_progress_is_quiet_off_a_terminal(capfd):
    X, y = sphere_data(8, 3, seed=2)
    for progress in (None, True, False):
        smoothest_fit(
            TwoLayer(3, [4], seeds=[0], dtype=torch.float64), X, y, Interpolate(),
            penalty="averaged", strengths=(1e-2,), fit_steps=20, steps=10, stages=1,
            polish_steps=5, progress=progress,
        )  # fmt: skip
        out, err = capfd.readouterr()
        assert out == "" and err == ""
