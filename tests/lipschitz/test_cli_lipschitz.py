"""``robustlaw lipschitz`` through typer's CliRunner: table, JSON, state dicts, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from robustlaw.cli import app

runner = CliRunner()


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1))
    path = tmp_path / "net.pt"
    torch.save(net, path)
    return path, net


def test_table_lists_methods_and_says_what_is_certified(saved):
    path, _ = saved
    result = runner.invoke(
        app, ["lipschitz", str(path), "--methods", "grad_random,spectral,pattern_sdp"]
    )
    assert result.exit_code == 0, result.output
    for word in ("grad_random", "spectral", "pattern_sdp", "yes (witness)", "certified:"):
        assert word in result.output


def test_json_members_match_the_library(saved, tmp_path):
    path, _ = saved
    X = np.random.default_rng(0).standard_normal((10, 3))
    np.save(tmp_path / "X.npy", X)
    args = ["lipschitz", str(path), "--json", "--domain", "sphere", "--methods", "upper"]
    result = runner.invoke(
        app, [*args, "--methods", "grad_data", "--data", str(tmp_path / "X.npy")]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    (member,) = payload["members"]
    assert member["domain"] == "sphere"
    assert member["lower"] > 0 and member["lower_method"] == "grad_data"
    assert member["upper"] >= member["lower"]
    assert member["methods"]["lipsdp"]["upper"] is None  # skipped: inf prints as null


def test_exact_with_two_workers_matches_one(saved):
    """--workers 2 reaches the exact value one process proves."""
    path, _ = saved
    args = ["lipschitz", str(path), "--json", "--methods", "exact"]
    values = []
    for workers in ("1", "2"):
        result = runner.invoke(app, [*args, "--workers", workers])
        assert result.exit_code == 0, result.output
        (member,) = json.loads(result.stdout)["members"]
        assert member["methods"]["exact"]["status"] == "ok"
        values.append(member["methods"]["exact"]["upper"])
    assert values[1] == pytest.approx(values[0], rel=1e-9)


def test_state_dict_needs_an_activation(saved, tmp_path):
    _, net = saved
    path = tmp_path / "sd.pt"
    torch.save(net.state_dict(), path)
    result = runner.invoke(app, ["lipschitz", str(path), "--methods", "spectral"])
    assert result.exit_code == 2 and "--activation" in result.output
    result = runner.invoke(
        app, ["lipschitz", str(path), "--methods", "spectral", "--activation", "relu", "--json"]
    )
    assert result.exit_code == 0, result.output
    upper = json.loads(result.stdout)["members"][0]["upper"]
    W1, W2 = net[0].weight.detach().double(), net[2].weight.detach().double()
    expected = float(torch.linalg.matrix_norm(W1, 2) * torch.linalg.matrix_norm(W2, 2))
    assert upper == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.Dropout(), nn.Linear(4, 1)), [], "Dropout"),
        (nn.Sequential(nn.Linear(3, 1)), ["--domain", "torus"], "domain"),
        (nn.Sequential(nn.Linear(3, 1)), ["--methods", "magic"], "magic"),
        (nn.Sequential(nn.Linear(3, 1)), ["--budget-seconds", "-1"], "budget"),
        (nn.Sequential(nn.Linear(3, 1)), ["--workers", "0"], "--workers"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, module, args, message):
    path = tmp_path / "m.pt"
    torch.save(module, path)
    result = runner.invoke(app, ["lipschitz", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_and_corrupt_files(tmp_path):
    result = runner.invoke(app, ["lipschitz", str(tmp_path / "none.pt")])
    assert result.exit_code == 2 and "not found" in result.output
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    result = runner.invoke(app, ["lipschitz", str(bad)])
    assert result.exit_code == 2 and "cannot load" in result.output
