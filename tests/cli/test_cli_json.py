"""Every ``--json`` output parses: each command run as a user runs it, through the console
script in a subprocess, with ``json.loads`` on its real stdout.

Solvers print below Python (HiGHS writes a banner to file descriptor 1 when its first model
is created); the exact solver's cases make sure such output never reaches stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_helpers import FAST_SPEC, merged, write_csv
from torch import nn

#: The console script of this environment (what ``pip install`` put next to python).
ROBUSTLAW = Path(sys.executable).with_name("robustlaw")

#: A spec whose trials run the exact solver (HiGHS region LPs: d = 5 is past the vertex sweep).
EXACT_SPEC = merged(
    FAST_SPEC,
    name="exact",
    experiment="two_layer_law",
    seeds=[0],
    data={"distribution": "gaussian", "n": 12, "d": 5},
    model={"family": "two_layer", "activation": "relu", "widths": [6]},
    fit={"steps": 30, "lr": 0.01},
    lipschitz={"methods": ["exact"], "budget_seconds": 5, "test_points": 2},
)


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROBUSTLAW), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def parsed(result: subprocess.CompletedProcess, status: int = 0):
    assert result.returncode == status, result.stderr[-3000:]
    assert "HiGHS" not in result.stdout and "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a two-layer net, a data file and the exact spec."""
    folder = tmp_path_factory.mktemp("json")
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)), folder / "m.pt")
    gen = np.random.default_rng(0)
    write_csv(folder / "points.csv", gen.normal(size=(40, 5)), gen.choice([-1.0, 1.0], 40))
    (folder / "exact.yaml").write_text(yaml.safe_dump(EXACT_SPEC))
    return folder


def test_the_console_script_is_installed():
    assert ROBUSTLAW.is_file(), "pip install -e . puts the robustlaw script next to python"


def test_bound_and_data_info(work):
    payload = parsed(run("bound", "--n", "1e4", "--d", "20", "--k", "50", "--json", cwd=work))
    assert payload["inputs"]["n"] == 10000
    payload = parsed(run("data", "info", "sphere", "--n", "60", "--d", "4", "--json", cwd=work))
    assert payload["meta"]["n"] == 60
    payload = parsed(run("data", "info", "points.csv", "--json", cwd=work))
    assert (payload["meta"]["n"], payload["meta"]["d"]) == (40, 5)


def test_lipschitz_with_the_exact_solver(work):
    args = ("lipschitz", "m.pt", "--methods", "exact", "--data", "points.csv", "--json",
            "--budget-seconds", "60")  # fmt: skip
    (member,) = parsed(run(*args, cwd=work))["members"]
    assert member["methods"]["exact"]["status"] == "ok" and member["exact"] > 0
    payload = parsed(run("lipschitz", "m.pt", "--json", cwd=work))  # lower and upper groups
    assert payload["members"][0]["upper"] >= payload["members"][0]["lower"] > 0


def test_sweep_run_status_export_and_report(work):
    store = work / "sweep.db"
    plan = parsed(run("sweep", "run", "exact.yaml", "--store", store, "--dry-run", "--json",
                      cwd=work))  # fmt: skip
    assert plan[0]["pending"] == 1 and not store.exists()
    (summary,) = parsed(run("sweep", "run", "exact.yaml", "--store", store, "--json", cwd=work))
    assert summary["done"] == 1
    (status,) = parsed(run("sweep", "status", "--store", store, "--json", cwd=work))
    assert status["done"] == 1 and status["latest"]
    exported = parsed(run("sweep", "export", "--store", store, "-o", "x.csv", "--json", cwd=work))
    assert exported["trials"] == 1 and (work / "x.csv").is_file()
    report = parsed(run("report", store, "-o", "report", "--json", cwd=work))
    assert (work / report["report"]).is_file() and report["trials"] == 1


def test_reproduce(work):
    listed = parsed(run("reproduce", "--list", "--json", cwd=work))
    assert "rf-ntk" in {row["name"] for row in listed}
    payload = parsed(run("reproduce", "rf-ntk", "--scale", "tiny", "--out", "rf", "--json",
                         cwd=work))  # fmt: skip
    assert payload["summary"]["done"] == payload["summary"]["total"] > 0
    assert (work / payload["report"]).is_file()


def test_bad_input_is_one_line_on_stderr_and_nothing_on_stdout(work):
    for args in (
        ("bound", "--n", "abc", "--d", "3", "--p", "2", "--json"),
        ("data", "info", "spehre", "--json"),
        ("sweep", "status", "--store", "points.csv", "--json"),
    ):
        result = run(*args, cwd=work)
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
