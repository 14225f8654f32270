"""The local executor's worker processes: same numbers as one process, killed workers,
Ctrl-C, callers without a ``__main__`` guard, and batches that ignore the worker count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_toy_runner import toy_member, toy_spec
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.sweep import (
    LocalExecutor,
    SpecError,
    expand,
    group,
    load,
    parse_spec,
    run_sweep,
)
from robustlaw.sweep.compare import differences
from robustlaw.sweep.executors import resolve_workers
from robustlaw.sweep.sizing import split_group, trial_cost

HERE = Path(__file__).parent

#: A real train sweep without wall-clock budgets (every number is deterministic): the
#: smoothest-fit search, simple certified bounds, sampled lower bounds and PGD accuracy.
REAL = {
    "name": "workers-real",
    "experiment": "executor_check",
    "seeds": [0, 1],
    "data": {"distribution": "sphere", "n": 30, "d": 4},
    "model": {"family": "two_layer", "activation": "relu", "widths": [3, 8, 24]},
    "fit": {
        "target": "interpolate",
        "tol": 1e-3,
        "smoothest": True,
        "penalty": "averaged",
        "strengths": [0.01],
        "steps": 60,
        "lr": 0.01,
        "options": {"fit_steps": 200, "polish_steps": 30, "stages": 1},
    },
    "lipschitz": {
        "methods": ["grad_data", "grad_random", "spectral", "path_norm", "averaged"],
        "test_points": 20,
        "pgd_radius": 0.1,
        "pgd_steps": 5,
    },
    "run": {"split": 2},
}


def _frame(store: Path):
    return load(store).sort_values("trial_hash").reset_index(drop=True)


def test_workers_give_bit_identical_records_to_one_process(tmp_path):
    spec = parse_spec(REAL)
    one = run_sweep(spec, store=tmp_path / "one.db", workers=1, progress=False)
    two = run_sweep(spec, store=tmp_path / "two.db", workers=2, progress=False)
    assert (one.workers, two.workers) == (1, 2)
    assert one.done == two.done == 6 and one.batches == two.batches == 4
    a, b = _frame(tmp_path / "one.db"), _frame(tmp_path / "two.db")
    assert set(a["status"]) == {"done"}
    # every stored field (columns and every key of the JSON blobs), timings left out
    assert differences(a, b) == []


def test_differences_sees_a_changed_number_deep_in_a_blob(tmp_path):
    run_sweep(parse_spec(toy_spec(seeds=[0])), store=tmp_path / "t.db", workers=1)
    a = _frame(tmp_path / "t.db")
    b = a.copy()
    blob = json.loads(b.loc[1, "lipschitz_json"])
    blob["upper"] = blob["upper"] * (1 + 1e-15)
    b.loc[1, "lipschitz_json"] = json.dumps(blob)
    b.loc[2, "train_mse"] = 1.0
    b.loc[0, "seconds"] = 123.0  # a timing: not a difference
    found = {d.field: d for d in differences(a, b)}
    assert set(found) == {"lipschitz_json:upper", "train_mse"}
    assert found["lipschitz_json:upper"].rows == 1
    assert 0 < found["lipschitz_json:upper"].max_relative < 1e-14


def _executed_batches(log: Path) -> set[frozenset[str]]:
    return {frozenset(line.split()) for line in log.read_text().splitlines()}


def test_the_batches_do_not_depend_on_the_number_of_workers(tmp_path):
    log = tmp_path / "log"  # an option of the trials: the same path keeps their hashes
    raw = toy_spec(seeds=[0, 1, 2], model={"widths": [1, 2, 3, 5, 8], "options": {"log": str(log)}})
    raw["run"] = {"split": 2}
    batches = {}
    for workers in (1, 3):
        run_sweep(parse_spec(raw), store=tmp_path / f"{workers}.db", workers=workers)
        batches[workers] = _executed_batches(log)
        log.unlink()
    assert batches[1] == batches[3]
    assert len(batches[1]) == 2 * 2 * 3  # n x seeds, each group split in two


def test_a_worker_killed_mid_batch_is_replaced_and_its_batch_rerun(tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    raw = toy_spec(
        seeds=[0, 1],
        data={"n": [12, 16]},
        model={"options": {"started": str(started), "sleep": 0.5}},
    )
    killed: list[int] = []

    def kill_the_first_worker() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            pids = sorted(int(p.name) for p in started.iterdir())
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_worker)
    killer.start()
    summary = run_sweep(parse_spec(raw), store=tmp_path / "r.db", workers=2, progress=False)
    killer.join()
    assert killed and killed[0] != os.getpid()
    assert (summary.done, summary.failed) == (12, 0)
    frame = load(tmp_path / "r.db")
    for _, row in frame.iterrows():
        expected = toy_member(int(row["seed"]), int(row["n"]), 3, int(row["width"]))
        assert row["train_mse"] == expected["train_mse"]
        assert row["lip_upper"] == expected["lip_upper"]
    # the killed worker's batch ran again in a new process: 4 batches, 5 starts
    assert len(list(started.iterdir())) >= 3


def test_a_batch_whose_worker_dies_twice_is_failed_and_the_rest_done(tmp_path):
    dying = toy_spec(
        name="dying", seeds=[0], data={"n": 12}, model={"options": {"crash_always": True}}
    )
    fine = toy_spec(seeds=[1, 2], data={"n": 12})
    batches = group(expand(parse_spec(dying))) + group(expand(parse_spec(fine)))
    with LocalExecutor(workers=2) as executor:
        results = list(executor.run(batches, runners={"toy": _toy_runner()}))
    by_key = {r.batch.key: r.records for r in results}
    assert sorted(by_key) == sorted(b.key for b in batches)
    dead = by_key[batches[0].key]
    assert {r.status for r in dead} == {"failed"}
    assert all("killed by SIGKILL" in r.error and "2 attempts" in r.error for r in dead)
    for batch in batches[1:]:
        assert {r.status for r in by_key[batch.key]} == {"done"}


def _toy_runner():
    from robustlaw.sweep.run import RUNNERS

    return RUNNERS["toy"]


def test_a_raising_runner_is_not_retried(tmp_path):
    log = tmp_path / "log"
    options = {"raise": True, "log": str(log)}
    raw = toy_spec(seeds=[0, 1], data={"n": 12}, model={"options": options})
    summary = run_sweep(parse_spec(raw), store=tmp_path / "r.db", workers=2, progress=False)
    assert summary.failed == 6
    assert len(log.read_text().splitlines()) == 2  # one attempt per batch
    assert all("toy runner asked to fail" in e for e in load(tmp_path / "r.db")["error"])


SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import sweep_toy_runner
from robustlaw.sweep import parse_spec, run_sweep
spec = parse_spec(sweep_toy_runner.toy_spec(
    seeds=[0, 1, 2], model={{"options": {{"started": {started!r}, "sleep": 0.2}}}}
))
summary = run_sweep(spec, store={store!r}, workers=2, progress=False)
print(summary.done, summary.failed, summary.workers)
"""


def test_a_plain_script_without_a_main_guard_runs_on_workers(tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    script = tmp_path / "plain.py"
    script.write_text(
        SCRIPT.format(here=str(HERE), started=str(started), store=str(tmp_path / "r.db"))
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["18", "0", "2"]
    pids = {int(p.name) for p in started.iterdir()}
    assert pids and len(pids) <= 2  # two workers, never more; the driver ran none
    assert len(load(tmp_path / "r.db")) == 18


DRIVER = """
import signal
import sys
# as in a terminal: Ctrl-C raises KeyboardInterrupt even if the test process that started
# this one ignores SIGINT (an ignored signal stays ignored across exec)
inherited = signal.getsignal(signal.SIGINT)
print("inherited SIGINT handler:", inherited, file=sys.stderr)
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {here!r})
import sweep_toy_runner
from robustlaw.sweep import run_sweep
try:
    run_sweep({spec!r}, store={store!r}, workers=2, progress=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:  # a zombie is not running
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_stops_the_workers_and_keeps_what_was_stored(tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    log = tmp_path / "log"
    raw = toy_spec(
        seeds=list(range(6)),
        data={"n": [10, 14]},
        # long batches: the sweep must still be running when the signal comes, even when this
        # process is not scheduled for a few seconds on a loaded machine
        model={"options": {"started": str(started), "sleep": 2.0, "log": str(log)}},
    )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    store = tmp_path / "r.db"
    script = DRIVER.format(here=str(HERE), spec=str(spec_path), store=str(store))
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_lines(log)) < 4:  # four batches started
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert process.wait(timeout=60) == 130
    workers = {int(p.name) for p in started.iterdir()} - {process.pid}
    assert workers
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
    stored = set(load(store)["trial_hash"])
    assert stored and len(stored) < 36
    rerun = run_sweep(spec_path, store=store, workers=1, progress=False)
    assert rerun.skipped == len(stored) and rerun.done == 36 - len(stored)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("value", [0, -1, 1.5, "many", True, "2"])
def test_run_workers_is_checked_when_the_spec_is_read(value):
    with pytest.raises(SpecError, match=r"run\.workers"):
        parse_spec({**toy_spec(), "run": {"workers": value}})


def test_run_workers_and_split_from_the_spec():
    spec = parse_spec({**toy_spec(), "run": {"workers": 3, "split": 2}})
    assert (spec.run.workers, spec.run.split) == (3, 2)
    assert parse_spec({**toy_spec(), "run": {}}).run.workers == "auto"
    assert resolve_workers("auto") >= 1 and resolve_workers(4) == 4
    with pytest.raises(ValueError, match="workers"):
        resolve_workers(0)
    with pytest.raises(SpecError, match=r"run\.split"):
        parse_spec({**toy_spec(), "run": {"split": 0}})


def test_the_cli_takes_workers_and_checks_them(tmp_path):
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec(seeds=[3])))
    runner = CliRunner()
    store = tmp_path / "r.db"
    args = ["sweep", "run", str(spec), "--store", str(store)]
    result = runner.invoke(app, [*args, "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert summary["workers"] == 2 and summary["done"] == 6
    for bad in ("0", "two", "-3"):
        result = runner.invoke(app, [*args, "--workers", bad])
        assert result.exit_code == 2
        assert "--workers must be a positive integer or 'auto'" in result.output
    result = runner.invoke(app, [*args, "--workers", "2", "--executor", "ray"])
    assert result.exit_code == 2 and "--workers applies to --executor local" in result.output


# --------------------------------------------------------------------------- planning


WIDE = {**REAL["model"], "widths": [2, 3, 5, 8, 13, 21, 34, 55, 89, 144]}
REAL_TRIALS = expand(parse_spec({**REAL, "model": WIDE}))


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(0, 9), min_size=1, max_size=10, unique=True),
    parts=st.integers(1, 6),
)
def test_split_group_is_a_balanced_partition(picks, parts):
    trials = [REAL_TRIALS[i] for i in sorted(picks)]  # one seed's group
    lists = split_group(trials, parts)
    assert len(lists) == min(parts, len(trials))
    assert sorted(t.hash for part in lists for t in part) == sorted(t.hash for t in trials)
    for part in lists:
        assert part and [t.config.model.width for t in part] == sorted(
            t.config.model.width for t in part
        )
    totals = [sum(trial_cost(t.config) for t in part) for part in lists]
    # greedy longest-first: no list exceeds another by more than the costliest trial
    largest = max(trial_cost(t.config) for t in trials)
    assert max(totals) - min(totals) <= largest * (1 + 1e-12)
    assert split_group(trials, parts) == lists  # the same trials give the same batches


# --------------------------------------------------------------------------- sizing


def test_dry_run_measures_a_few_trials_then_uses_stored_timings(tmp_path):
    runner = CliRunner()
    spec = tmp_path / "real.yaml"
    spec.write_text(yaml.safe_dump(REAL))
    store = tmp_path / "r.db"
    args = ["sweep", "run", str(spec), "--store", str(store), "--dry-run", "--json"]
    result = runner.invoke(app, [*args, "--workers", "2"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["trials"], row["pending"], row["batches"], row["workers"]) == (6, 6, 4, 2)
    assert row["basis"].startswith("3 trials run now")
    assert row["cpu_seconds"] > 0 and row["cpu_hours"] == row["cpu_seconds"] / 3600
    assert row["cpu_seconds"] / 2 <= row["wall_seconds"] <= row["cpu_seconds"]
    assert not store.exists()  # nothing written

    first = {**REAL, "name": "seed-0", "seeds": [0]}
    run_sweep(parse_spec(first), store=store, workers=1, progress=False)
    stored = load(store)
    result = runner.invoke(app, args)
    (row,) = json.loads(result.stdout)
    assert (row["finished"], row["pending"]) == (3, 3)
    assert row["basis"] == "stored timings of 3 trials of the same shape"
    # seed 1 has seed 0's widths: the cost of the stored trials
    assert row["cpu_seconds"] == pytest.approx(stored["seconds"].sum(), rel=1e-9)
    assert len(load(store)) == 3  # still only what the run stored


def test_reproduce_and_demo_dry_runs_size_without_writing(tmp_path):
    from robustlaw.experiments import experiment_spec

    runner = CliRunner()
    for args, name in (
        (["reproduce", "rf-ntk", "--scale", "tiny"], "rf-ntk"),
        (["demo", "--scale", "tiny"], "demo"),
    ):
        result = runner.invoke(app, [*args, "--out", str(tmp_path), "--dry-run", "--json"])
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.stdout)
        trials = expand(experiment_spec(name, "tiny"))
        assert row["trials"] == row["pending"] == len(trials) and row["cpu_seconds"] > 0
        assert "trials run now" in row["basis"]
        assert not (tmp_path / "results.db").exists()
    result = runner.invoke(app, ["demo", "--scale", "tiny", "--out", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0 and "CPU-hours" in result.output
