"""The engine's settings are values: validated, built from a spec's mappings, and the same in
every process of a split search."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from robustlaw._pl import CutSettings, ExactSettings, RegionSearchSettings, family_nets, solve_exact
from robustlaw._pl.parallel import Helpers
from robustlaw._pl.settings import settings_from
from robustlaw.lipschitz import Budget, region_search
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer


def test_settings_are_frozen_and_validated():
    s = ExactSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.learn = False  # type: ignore[misc]
    with pytest.raises(ValueError, match="sdp_start"):
        ExactSettings(sdp_start="lukewarm")
    with pytest.raises(ValueError, match="n_starts"):
        RegionSearchSettings(n_starts=0)
    with pytest.raises(ValueError, match="cut pool"):
        CutSettings(pool=0)


def test_settings_from_a_spec_mapping():
    built = settings_from(ExactSettings, {"learn": False, "cuts": {"pool": 3}})
    assert built == ExactSettings(learn=False, cuts=CutSettings(pool=3))
    assert settings_from(RegionSearchSettings, None) == RegionSearchSettings()
    with pytest.raises(ValueError, match=r"unknown keys \['magic'\]"):
        settings_from(ExactSettings, {"magic": 1})
    with pytest.raises(TypeError, match="settings must be a RegionSearchSettings"):
        settings_from(RegionSearchSettings, 3)
    fam = TwoLayer(d=2, widths=[6], seeds=[0], dtype=torch.float64)
    res = region_search(fam, "rd", Budget(seconds=5), settings={"n_starts": 2, "max_rounds": 1})
    assert res.info[0]["rounds"] == 1
    with pytest.raises(ValueError, match="unknown keys"):
        exact_lipschitz(fam, settings={"exact_unit": 3})


def test_helpers_search_with_the_callers_settings():
    """With no-good learning off in the caller's settings, neither the calling process nor
    its helper learns one: the helper searches with the settings of its job."""
    fam = TwoLayer(d=6, widths=[48], seeds=[3], dtype=torch.float64)
    net = family_nets(fam)[0]
    settings = ExactSettings(learn=False)
    with Helpers(1, settings) as helpers:
        assert helpers.wait_ready(60.0)
        res = solve_exact(
            net, "rd", seconds=120, method="branch_and_bound", samples=64, helpers=helpers,
            settings=settings,
        )  # fmt: skip
    learned = solve_exact(net, "rd", seconds=120, method="branch_and_bound", samples=64)
    assert res.status == learned.status == "ok"
    assert res.upper == pytest.approx(learned.upper, rel=1e-6)
    assert res.info["handoffs"] >= 1 and res.info["helper_nodes"] > 0
    assert res.info["nogoods"] == 0 and learned.info["nogoods"] > 0
