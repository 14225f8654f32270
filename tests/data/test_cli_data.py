"""``robustlaw data info`` through typer's CliRunner: JSON, tables, exit 2 on bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from robustlaw import theory
from robustlaw.cli import app

runner = CliRunner()


def _json(args):
    result = runner.invoke(app, ["data", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_distribution_json():
    payload = _json(["sphere", "--n", "300", "--d", "10", "--seed", "2"])
    meta = payload["meta"]
    assert (meta["n"], meta["d"], meta["seed"], meta["intrinsic_dim"]) == (300, 10, 2, 9)
    assert payload["noise"] == {
        "noise_level": 1.0,
        "noise_level_kind": "exact",
        "noise_level_stderr": None,
    }
    iso = payload["isoperimetry"]
    assert iso["nominal_c"] == 1.0 and iso["nominal_dim"] == 9
    assert 0 < iso["probe"]["c_lower"] <= iso["nominal_c_ambient"]
    assert iso["c_lower_intrinsic"] == pytest.approx(iso["probe"]["c_lower"] * 9 / 10)
    ambient, intrinsic = payload["theory"]
    assert ambient["params_heuristic"] == theory.min_params_heuristic(1.0, 300, 10) == 3000
    assert ambient["two_layer_width"] == math.ceil(3000 / 12)
    assert ambient["two_layer_params"] == theory.two_layer_param_count(10, 250)
    assert intrinsic["d_used"] == 9 and intrinsic["params_heuristic"] == 2700
    twonn = payload["intrinsic_dimension"]["twonn"]
    assert twonn["ci_low"] <= twonn["estimate"] <= twonn["ci_high"]
    assert payload["separation"]["interpolation_lipschitz"] > 0


def test_manifold_parameters_and_label_models():
    payload = _json(
        [
            "subspace",
            "--d",
            "30",
            "--n",
            "400",
            "--param",
            "m=3",
            "--labels",
            "linear",
            "--label-param",
            "noise=gaussian",
            "--label-param",
            "noise_level=0.01",
        ]
    )
    assert payload["meta"]["params"] == {"m": 3}
    assert payload["meta"]["label_params"]["noise"] == "gaussian"
    assert payload["noise"]["noise_level"] == pytest.approx(0.01)
    assert payload["intrinsic_dimension"]["nominal"] == 3
    assert payload["theory"][1]["d_used"] == 3
    unlabeled = _json(["ball", "--n", "100", "--labels", "none"])
    assert unlabeled["separation"]["interpolation_lipschitz"] is None
    assert unlabeled["noise"]["noise_level"] is None


def test_digits_and_files(tmp_path):
    payload = _json(["digits", "--classes", "3,5", "--flip-prob", "0.1"])
    assert payload["meta"]["n"] == 365 and payload["meta"]["d"] == 64
    assert payload["noise"]["noise_level"] == pytest.approx(0.36)
    assert payload["noise"]["noise_level_kind"] == "lower_bound"
    assert payload["intrinsic_dimension"]["nominal"] is None
    assert payload["theory"][1]["d_used"] == round(
        payload["intrinsic_dimension"]["twonn"]["estimate"]
    )
    unlabeled = _json(["digits"])
    assert unlabeled["meta"]["labels"] is None and unlabeled["notes"]

    gen = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=gen.normal(size=(60, 4)), y=gen.choice([-1.0, 1.0], 60))
    from_file = _json([str(tmp_path / "d.npz")])
    assert from_file["meta"]["distribution"] == "file:d.npz"
    assert from_file["separation"]["interpolation_lipschitz"] > 0


def test_table_output():
    result = runner.invoke(app, ["data", "info", "gaussian", "--n", "200", "--d", "5"])
    assert result.exit_code == 0, result.output
    for text in ("TwoNN", "pairwise", "probed", "σ²", "two-layer", "heuristic", "exact"):
        assert text in result.output  # single words: rich wraps long cells


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["torus"], "unknown distribution or file type"),
        (["sphere", "--n", "0"], "n must be"),
        (["sphere", "--d", "-3"], "d must be"),
        (["subspace"], "needs parameter"),
        (["sphere", "--param", "m"], "KEY=VALUE"),
        (["sphere", "--labels", "psychic"], "unknown label model"),
        (["sphere", "--labels", "linear"], "takes"),
        (["digits", "--n", "10"], "apply to distributions"),
        (["digits", "--classes", "3,x"], "--classes"),
        (["digits", "--classes", "42"], "does not occur"),
        (["mnist1d", "--split", "dev"], "split must be"),
        (["missing.csv"], "no such file"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = runner.invoke(app, ["data", "info", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_files_exit_2(tmp_path):
    (tmp_path / "nan.csv").write_text("x0,x1\n1,2\nnan,3\n")
    (tmp_path / "labels.csv").write_text("x0,y\n1,2\n3,4\n")
    np.savez(tmp_path / "nox.npz", Z=np.ones((3, 2)))
    for name, message in (
        ("nan.csv", "NaN"),
        ("labels.csv", "outside [-1, 1]"),
        ("nox.npz", "no features array"),
    ):
        result = runner.invoke(app, ["data", "info", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        assert message in result.output and len(result.output.strip().splitlines()) <= 3
