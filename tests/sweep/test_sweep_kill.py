"""kill -9 of the driver at several moments, then a rerun: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sweep_toy_runner import toy_member, toy_spec

from robustlaw.sweep import Store, expand, load, load_spec, run_sweep

HERE = Path(__file__).parent

DRIVER = """
import sys
sys.path.insert(0, {here!r})
import sweep_toy_runner  # registers the toy runner
from robustlaw.sweep import run_sweep
run_sweep({spec!r}, store={store!r}, progress=False)
"""


def _rows(store: Path) -> int:
    if not store.exists():
        return -1
    try:
        with sqlite3.connect(store, timeout=0.2) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return -1


def _log(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# (rows written before the kill, extra random delay bound in seconds)
KILL_POINTS = [(-1, 0.0), (0, 0.05), (6, 0.03), (33, 0.02)]


@pytest.mark.parametrize(("rows", "jitter"), KILL_POINTS)
def test_kill_minus_nine_then_rerun_keeps_every_trial_exactly_once(tmp_path, rows, jitter):
    log = tmp_path / "executed.log"
    raw = toy_spec(
        seeds=[0, 1, 2],
        data={"n": [10, 14, 18, 22]},
        model={"widths": [1, 3, 5], "options": {"sleep": 0.02, "log": str(log)}},
    )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    store = tmp_path / "results.db"
    trials = expand(load_spec(spec_path))
    assert len(trials) == 36

    script = DRIVER.format(here=str(HERE), spec=str(spec_path), store=str(store))
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    deadline = time.monotonic() + 60
    while _rows(store) < rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(random.Random(rows).uniform(0, jitter))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL

    survived: set[str] = set()
    if store.exists():
        with Store(store) as db:  # opens cleanly and recovers the WAL
            assert db.integrity_check() == "ok"
            survived = set(db.statuses())
    executed_before = len(_log(log))

    summary = run_sweep(spec_path, store=store, progress=False)
    assert summary.skipped == len(survived)
    rerun = set(_log(log)[executed_before:])
    assert not rerun & survived, "a stored trial was run again"
    assert rerun == {t.hash for t in trials} - survived

    frame = load(store)
    assert len(frame) == len(trials) and frame["trial_hash"].is_unique
    assert set(frame["trial_hash"]) == {t.hash for t in trials}
    assert set(frame["status"]) == {"done"}
    for _, row in frame.iterrows():
        expected = toy_member(int(row["seed"]), int(row["n"]), 3, int(row["width"]))
        assert row["train_mse"] == expected["train_mse"]
        assert row["lip_upper"] == expected["lip_upper"]
    with Store(store) as db:
        assert db.integrity_check() == "ok"
        (status,) = db.status()
        assert (status.total, status.done, status.pending) == (36, 36, 0)
