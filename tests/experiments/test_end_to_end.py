"""`robustlaw demo` and every `robustlaw reproduce` experiment, end to end at tiny scale."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.experiments import CATALOG, experiment_spec
from robustlaw.sweep import load
from robustlaw.sweep.spec import parse_spec

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

runner = CliRunner()
REPRODUCIBLE = [name for name in CATALOG if name != "demo"]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    first = invoke("demo", "--scale", "tiny", "--out", str(out), "--no-progress")
    return out, first


def test_demo_runs_fits_and_reports(demo_run):
    out, result = demo_run
    assert result.exit_code == 0, result.output
    assert "Lip vs n/k" in result.output
    assert "0.50" in result.output  # the conjecture's slope, printed beside the fit
    assert "slope (95% CI)" in result.output
    # every verdict's regime and the data floor beside its slope
    assert "regime" in result.output and "up/floor" in result.output
    report = out / "demo-tiny-report" / "report.html"
    assert report.exists() and f"report: {report}" in result.output.replace("\n", "")
    assert list((out / "demo-tiny-report" / "figures").glob("*.png"))
    records = load(out / "results.db", spec_name="demo-tiny")
    assert set(records["domain"]) == {"sphere"}
    # every member's Lipschitz constant is bracketed: lower <= upper, both finite
    fitted = records[records["fit_reached"].astype(bool)]
    assert not fitted.empty
    assert (fitted["lip_lower"] <= fitted["lip_upper"] * (1 + 1e-9)).all()


def test_demo_resumes_from_the_store_with_the_same_verdicts(demo_run):
    out, first = demo_run
    args = ("demo", "--scale", "tiny", "--out", str(out), "--json")
    second = json.loads(invoke(*args).stdout)
    assert second["summary"]["done"] == 0
    assert second["summary"]["skipped"] == second["summary"]["total"] > 0
    slopes = {v["quantity"]: v["slope"] for v in second["headline"]}
    assert set(slopes) >= {"lip_lower", "lip_upper"}
    for quantity, slope in slopes.items():  # no fit (too few proven values): printed as —
        assert ("—" if slope is None else f"{slope:.2f}") in first.output, quantity
    labels = {"floor-dominated", "search-limited", "certificate-limited", "in the law's regime"}
    for verdict in second["headline"]:
        short = verdict["regime"].replace("in the law's regime", "law's regime")
        assert short in first.output
        if verdict["verdict"] != "insufficient data":
            assert verdict["regime"] in labels
            assert [c["label"] for c in verdict["regime_checks"]] == [
                "floor-dominated",
                "search-limited",
                "certificate-limited",
            ]
        # an interpolation target on the sphere: the floor is recorded, certified fits above it
        assert verdict["upper_over_floor"] >= 1 - 1e-6


def test_demo_json_from_the_console_script_parses(demo_run):
    """The demo as a user runs it (a subprocess): stdout is the JSON and nothing else."""
    out, _ = demo_run
    script = Path(sys.executable).with_name("robustlaw")
    result = subprocess.run(
        [str(script), "demo", "--scale", "tiny", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["summary"]["skipped"] == payload["summary"]["total"] > 0
    assert payload["report"] and Path(payload["report"]).is_file()


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.xdist_group(f"reproduce-{n}")) for n in REPRODUCIBLE]
)
def test_reproduce_runs_each_experiment_at_tiny_scale(name, tmp_path):
    result = invoke("reproduce", name, "--scale", "tiny", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    summary = payload["summary"]
    assert summary["total"] > 0
    assert summary["failed"] == 0
    assert summary["done"] + summary["skipped"] == summary["total"]
    report = tmp_path / f"{payload['spec_name']}-report" / "report.html"
    assert payload["report"] == str(report) and report.exists()
    assert "<img" in report.read_text(encoding="utf-8")
    for verdict in payload["headline"]:
        assert verdict["verdict"] in ("consistent", "inconsistent", "insufficient data")
        if verdict["verdict"] != "insufficient data":
            low, high = verdict["slope_ci"]
            assert low <= verdict["slope"] <= high and math.isfinite(verdict["slope"])


def test_reproduce_lists_the_experiments():
    result = invoke("reproduce", "--list", "--json")
    names = {row["name"] for row in json.loads(result.stdout)}
    assert names == set(REPRODUCIBLE)


def test_print_spec_is_the_spec_that_runs():
    text = invoke("reproduce", "two-layer-law", "--scale", "full", "--print-spec").stdout
    printed = parse_spec(tomllib.loads(text))
    packaged = experiment_spec("two-layer-law", "full")
    assert printed.grids == packaged.grids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reproduce", "three-layer-law"), "unknown experiment 'three-layer-law' (known: "),
        (("reproduce", "rf-ntk", "--scale", "huge"), "--scale of 'rf-ntk' must be one of"),
        (("reproduce",), "NAME is required"),
        (("reproduce", "rf-ntk", "--executor", "dask"), "--executor: unknown 'dask' (known: local"),
        (("demo", "--address", "10.0.0.1:6379"), "--address applies to --executor ray"),
        (("demo", "--device", "tpu"), "--device must be"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "results.db").exists()
