"""The whole-call budget of estimate: shares of what remains, the deadline, closing early."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import robustlaw.lipschitz as L
from robustlaw.lipschitz import Budget, estimate
from robustlaw.lipschitz.estimate import DEFAULT_SHARE, SHARES, _share
from robustlaw.lipschitz.result import CLOSED
from robustlaw.lipschitz.testing import brute_force_rd, random_family

FAST = {"ascent": {"steps": 10, "n_starts": 8}, "grad_random": {"n_points": 1000}}


def _schedule(rep, seconds):
    """(name, started_at, share of the call, seconds used) of every method that ran."""
    rows = []
    for name, res in rep.results.items():
        info = res.info[0]
        if "started_at" in info:
            share = None if info["share_seconds"] is None else info["share_seconds"] * res.B
            rows.append((name, info["started_at"], share, float(res.seconds.sum())))
    return rows


@pytest.mark.parametrize("seconds", [0.05, 0.5, 3.0])
def test_every_share_ends_by_the_call_deadline(seconds):
    fam = random_family(3, [7, 5], 4)
    rep = estimate(fam, "rd", ("lower", "upper", "exact"), Budget(seconds=seconds), options=FAST)
    rows = _schedule(rep, seconds)
    assert rows, "at least one method started"
    for name, started, share, _ in rows:
        assert 0 <= started < seconds, name
        assert share is not None and started + share <= seconds * (1 + 1e-9), name
    for (_, s0, _, used), (name, s1, _, _) in itertools.pairwise(rows):
        assert s1 >= s0 + used * (1 - 1e-6), name  # methods run one after another
    ran = {row[0] for row in rows}
    for name, res in rep.results.items():
        if name not in ran:
            assert res.status[0].startswith(("budget", "not_applicable", "skipped")), name
    truth = [brute_force_rd(fam, b) for b in range(fam.B)]
    assert (rep.lower <= np.array(truth) * (1 + 1e-9)).all()
    assert (rep.upper >= np.array(truth) * (1 - 1e-9)).all()


def test_a_spent_budget_records_the_methods_it_could_not_start():
    fam = random_family(2, [6], 0)
    rep = estimate(fam, "rd", ("lower", "upper"), Budget(seconds=1e-9))
    statuses = [res.status[0] for res in rep.results.values()]
    assert all(s.startswith(("budget: the call's", "not_applicable")) for s in statuses)
    assert rep.lower[0] == 0 and np.isinf(rep.upper[0])


def test_shares_split_what_remains_by_weight():
    names = ["spectral", "ascent", "region_search", "exact"]
    weights = [DEFAULT_SHARE, SHARES["ascent"], SHARES["region_search"], SHARES["exact"]]
    assert _share(names, 0, 10.0) == pytest.approx(10.0 * weights[0] / sum(weights))
    assert _share(names, 2, 4.0) == pytest.approx(4.0 * weights[2] / sum(weights[2:]))
    assert _share(names, 3, 1.5) == 1.5  # the last method gets what remains


def test_methods_after_a_closed_interval_are_skipped():
    # One unit: Lip = |a| ||w||, given by the spectral bound and by any active gradient.
    fam = random_family(2, [1], 3)
    rep = estimate(fam, "rd", ("lower", "upper"), Budget(seconds=30), options=FAST)
    assert L.is_closed(rep.lower[0], rep.upper[0])
    assert rep.results["region_search"].status == ["skipped: interval closed"]
    assert rep.exact[0] == pytest.approx(brute_force_rd(fam, 0), rel=CLOSED)


def test_no_progress_output_off_a_terminal(capsys):
    fam = random_family(2, [4], 1)
    for progress in (None, False, True):
        estimate(fam, "rd", "upper", Budget(seconds=5), progress=progress)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
