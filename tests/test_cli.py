"""The command line through typer's CliRunner: tables, JSON, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from robustlaw import __version__
from robustlaw.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_bound_json_has_rigorous_verdict_and_heuristic():
    result = runner.invoke(app, ["bound", "--n", "60000", "--d", "784", "--p", "200000", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    rigorous = payload["rigorous"]
    assert rigorous["value"] > 0
    assert rigorous["valid"] is False  # 8^4 log(800) > 6e4 * 0.01
    assert rigorous["hypothesis"]["min_n"] > 60000
    assert payload["heuristic"] == pytest.approx((60000 * 784 / 200000) ** 0.5)


def test_bound_with_width_reports_conjecture():
    result = runner.invoke(
        app, ["bound", "--n", "1e7", "--d", "20", "--k", "100", "--eps", "0.5", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["inputs"]["p"] == 100 * 22
    names = [row["name"] for row in payload["rows"]]
    assert any("conjecture" in name for name in names)
    assert payload["rigorous"]["valid"] is True


def test_bound_table_and_presets():
    result = runner.invoke(app, ["bound", "--n", "1000", "--d", "10", "--p", "500"])
    assert result.exit_code == 0
    assert "Theorem 3" in result.output
    for preset in ("mnist", "imagenet"):
        result = runner.invoke(app, ["bound", "--preset", preset, "--json"])
        assert result.exit_code == 0
        assert json.loads(result.stdout)["preset"]["preset"]["name"] == preset


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bound", "--n", "0", "--d", "10", "--p", "5"], "n must be"),
        (["bound", "--n", "10", "--d", "10", "--p", "5", "--eps", "2"], "eps"),
        (["bound", "--n", "10", "--d", "10"], "exactly one"),
        (["bound", "--n", "10", "--d", "10", "--p", "5", "--k", "3"], "exactly one"),
        (["bound", "--preset", "cifar"], "preset"),
        (["bound", "--n", "10", "--d", "2.5", "--p", "5"], "d must be"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
