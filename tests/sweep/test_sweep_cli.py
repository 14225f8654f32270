"""``robustlaw sweep run | status | export`` through typer's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from sweep_toy_runner import toy_spec
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.sweep import load

runner = CliRunner()


def _spec_file(tmp_path, name="toy", **overrides):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(toy_spec(name=name, **overrides)))
    return path


def test_run_status_export_and_rerun(tmp_path):
    spec = _spec_file(tmp_path, model={"widths": [2, 4], "options": {"diverge": [4]}})
    store = tmp_path / "r.db"
    result = runner.invoke(app, ["sweep", "run", str(spec), "--store", str(store), "--json"])
    assert result.exit_code == 1, result.output  # diverged trials: exit 1 after a summary
    assert "4 diverged" in result.stderr and "loss became NaN" in result.stderr
    (summary,) = json.loads(result.stdout)
    assert (summary["total"], summary["done"], summary["diverged"], summary["skipped"]) == (
        8, 4, 4, 0,
    )  # fmt: skip

    result = runner.invoke(app, ["sweep", "status", "--store", str(store), "--json"])
    assert result.exit_code == 0
    (status,) = json.loads(result.stdout)
    assert (status["done"], status["diverged"], status["failed"], status["pending"]) == (4, 4, 0, 0)

    again = runner.invoke(app, ["sweep", "run", str(spec), "--store", str(store), "--json"])
    assert again.exit_code == 0, again.output  # nothing run now
    (summary,) = json.loads(again.stdout)
    assert summary["skipped"] == 8 and summary["done"] == summary["diverged"] == 0

    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["sweep", "export", "--store", str(store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 8 trials" in result.output
    pd.testing.assert_frame_equal(pd.read_parquet(out), load(store))

    result = runner.invoke(app, ["sweep", "status", "--store", str(store)])
    assert result.exit_code == 0 and "toy" in result.output


def test_dry_run_plans_without_writing(tmp_path):
    spec = _spec_file(tmp_path)
    store = tmp_path / "r.db"
    result = runner.invoke(
        app, ["sweep", "run", str(spec), "--store", str(store), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    plan = {key: row[key] for key in ("spec_name", "trials", "finished", "pending", "batches")}
    assert plan == {"spec_name": "toy", "trials": 12, "finished": 0, "pending": 12, "batches": 4}
    assert row["largest_batch"] == 3
    assert row["basis"].startswith("3 trials run now") and row["cpu_seconds"] > 0
    assert not store.exists()


def test_an_invalid_spec_exits_2_with_one_message_and_writes_nothing(tmp_path):
    good = _spec_file(tmp_path, name="good")
    bad = _spec_file(tmp_path, name="bad", model={"widths": [16, 64, 0]})
    store = tmp_path / "r.db"
    result = runner.invoke(app, ["sweep", "run", str(good), str(bad), "--store", str(store)])
    assert result.exit_code == 2
    assert "model.widths[2]: must be positive, got 0" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not store.exists()  # the valid spec listed first did not run either


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "status", "--store", "{tmp}/absent.db"], "no results store"),
        (["sweep", "export", "--store", "{tmp}/absent.db", "-o", "{tmp}/x.csv"], "no results"),
        (["sweep", "run", "{tmp}/absent.toml", "--store", "{tmp}/r.db"], "spec file not found"),
        (["sweep", "run", "{spec}", "--executor", "dask", "--store", "{tmp}/r.db"], "--executor"),
        (["sweep", "run", "{spec}", "--address", "auto", "--store", "{tmp}/r.db"], "apply to"),
    ],
)
def test_bad_input_exits_2(tmp_path, args, message):
    spec = _spec_file(tmp_path)
    args = [a.format(tmp=tmp_path, spec=spec) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "r.db").exists()


def test_progress_is_quiet_off_a_terminal_and_counts_on_one():
    import io

    from rich.console import Console

    from robustlaw.sweep.progress import SweepProgress

    quiet = io.StringIO()
    with SweepProgress(4, "toy", console=Console(file=quiet, force_terminal=False)) as bar:
        bar.update(done=3, failed=1, running=0)
    assert quiet.getvalue() == "" and (bar.done, bar.failed) == (3, 1)

    shown = io.StringIO()
    console = Console(file=shown, force_terminal=True, width=120)
    with SweepProgress(4, "toy", console=console) as bar:
        bar.update(running=2)
        bar.update(done=2, failed=1, running=1)
    text = shown.getvalue()
    assert "3/4" in text and "2 done" in text and "1 failed" in text and "1 running" in text
