"""The exact solver's branch and bound split between processes."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys

import pytest
import torch

from robustlaw._pl import ExactSettings, PLNet, family_nets, solve_exact
from robustlaw._pl.parallel import Helpers
from robustlaw.lipschitz import Budget, region_search
from robustlaw.lipschitz.exact import exact_lipschitz
from robustlaw.models import TwoLayer


def _solve(net: PLNet, helpers: Helpers | None):
    res = solve_exact(
        net, "rd", seconds=120, method="branch_and_bound", samples=64, helpers=helpers
    )
    return res.lower, res.upper, res.x, res.status, res.info


def test_a_tree_split_with_a_helper_proves_the_same_value():
    """d = 6, k = 48 (about 1600 nodes alone): with a started helper the tree is handed
    out, the helper searches nodes, and the proven value is the one process's value."""
    fam = TwoLayer(d=6, widths=[48], seeds=[3], dtype=torch.float64)
    net = family_nets(fam)[0]
    alone = _solve(net, None)
    with Helpers(1, ExactSettings()) as helpers:
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


_SCRIPT = """
import json
import torch
from robustlaw.lipschitz import Budget, estimate, region_search
from robustlaw.models import TwoLayer

fam = TwoLayer(d=5, widths=[40], seeds=[0], dtype=torch.float64)
region_search(fam, "ball", Budget(seconds=5))
rep = estimate(fam, "rd", ("exact",), Budget(seconds=120), options={"exact": {"workers": 2}})
res = rep.results["exact"]
print(json.dumps({"status": res.status[0], "info": res.info[0]}, default=str))
"""


def _run_python(args: list[str], cwd) -> dict:
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )
    assert out.returncode == 0, out.stderr
    assert "bootstrapping" not in out.stderr
    return json.loads(out.stdout)  # stdout holds the one line printed: no solver chatter


@pytest.mark.parametrize("how", ["script", "exec"])
def test_helpers_start_from_a_script_without_a_main_guard(tmp_path, how):
    """From a plain script without ``if __name__ == "__main__":`` (whose main module a
    spawned child would re-run) and from code run with ``python -c`` (no main file, as in
    a notebook), ``workers = 2`` runs two processes and proves the value; HiGHS prints
    nothing on stdout."""
    script = tmp_path / "plain.py"
    script.write_text(_SCRIPT)
    args = [str(script)] if how == "script" else ["-c", _SCRIPT]
    record = _run_python(args, tmp_path)
    assert record["status"] == "ok"
    assert record["info"]["processes"] == 2
    assert "parallel" not in record["info"]


def test_no_spawn_falls_back_to_one_process_and_says_so():
    """Inside a daemonic process no helper can start: the search runs alone, proves the
    value and says why in the info (never solver_failed)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # pool workers are daemonic
        status, info = pool.apply(_exact_in_worker)
    assert status == "ok"
    assert info["processes"] == 1
    assert "could not start" in info["parallel"]


def _exact_in_worker() -> tuple[str, dict]:
    fam = TwoLayer(d=4, widths=[16], seeds=[0], dtype=torch.float64)
    res = exact_lipschitz(fam, method="branch_and_bound", workers=2, budget=Budget(seconds=60))
    return res.status[0], res.info[0]


def test_solvers_print_nothing_on_stdout(capfd):
    """Region search and the exact solver (on the ball: cuts and HiGHS models) write
    nothing to stdout, at the file-descriptor level."""
    fam = TwoLayer(d=3, widths=[12], seeds=[2], dtype=torch.float64)
    capfd.readouterr()
    region_search(fam, "ball", Budget(seconds=5))
    exact_lipschitz(fam, "ball", Budget(seconds=20))
    exact_lipschitz(fam, "sphere", Budget(seconds=20))
    assert capfd.readouterr().out == ""


_RAY_SCRIPT = """
import json
import ray
ray.init(num_cpus=2, object_store_memory=100 * 1024**2, include_dashboard=False,
         log_to_driver=False)

@ray.remote
def solve():
    import torch
    from robustlaw.lipschitz import Budget
    from robustlaw.lipschitz.exact import exact_lipschitz
    from robustlaw.models import TwoLayer
    fam = TwoLayer(d=5, widths=[40], seeds=[0], dtype=torch.float64)
    res = exact_lipschitz(fam, budget=Budget(seconds=120), workers=2)
    return res.status[0], res.info[0]["processes"], res.info[0].get("parallel")

print(json.dumps(ray.get(solve.remote())))
ray.shutdown()
"""


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # beside the other tests that start Ray
def test_helpers_start_inside_a_ray_worker(tmp_path):
    """In a Ray worker (whose main module is Ray's worker loop) ``workers = 2`` runs two
    processes and proves the value."""
    pytest.importorskip("ray")
    status, processes, why = _run_python(["-c", _RAY_SCRIPT], tmp_path)
    assert (status, processes, why) == ("ok", 2, None)
