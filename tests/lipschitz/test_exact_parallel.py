"""The exact solver's branch and bound split between processes."""

from __future__ import annotations

import pytest
import torch

from robustlaw.lipschitz import Budget
from robustlaw.lipschitz._exact_parallel import Helpers
from robustlaw.lipschitz.exact import _solve_member, exact_lipschitz, member_arrays
from robustlaw.models import TwoLayer


def _solve(net: dict, helpers: Helpers | None) -> tuple:
    return _solve_member(
        net,
        "rd",
        Budget(seconds=120),
        1e-6,
        [],
        "branch_and_bound",
        64,
        0,
        "cpu",
        "auto",
        None,
        helpers,
    )


def test_a_tree_split_with_a_helper_proves_the_same_value():
    """d = 6, k = 48 (about 1600 nodes alone): with a started helper the tree is handed
    out, the helper searches nodes, and the proven value is the one process's value."""
    fam = TwoLayer(d=6, widths=[48], seeds=[3], dtype=torch.float64)
    net = member_arrays(fam, 0)
    alone = _solve(net, None)
    with Helpers(1) as helpers:
        assert helpers.wait_ready(60.0)
        split = _solve(net, helpers)
        again = _solve(net, helpers)  # the same helpers serve a second search
    for res in (split, again):
        lower, upper, witness, status, info = res
        assert status == alone[3] == "ok"
        assert lower == pytest.approx(alone[0], rel=1e-6)
        assert upper == pytest.approx(alone[1], rel=1e-6)
        assert witness is not None
        assert info["handoffs"] >= 1 and info["helper_nodes"] > 0
        assert "helper_errors" not in info


def test_workers_through_exact_lipschitz():
    """workers = 2 gives each member's proven value; a bad count is refused."""
    fam = TwoLayer(d=5, widths=[40], seeds=[0, 1], dtype=torch.float64)
    alone = exact_lipschitz(fam, method="branch_and_bound", samples=64)
    both = exact_lipschitz(fam, method="branch_and_bound", samples=64, workers=2)
    assert alone.status == both.status == ["ok", "ok"]
    assert both.lower == pytest.approx(alone.lower, rel=1e-6)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers"):
            exact_lipschitz(fam, workers=bad)
