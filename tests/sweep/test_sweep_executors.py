"""Executors: one contract for local and Ray (a real local Ray, started once per module)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import sweep_toy_runner
import yaml
from sweep_toy_runner import toy_member, toy_spec
from typer.testing import CliRunner

import robustlaw
from robustlaw.cli import app
from robustlaw.sweep import (
    LocalExecutor,
    RayExecutor,
    expand,
    get_executor,
    group,
    load,
    parse_spec,
    run_sweep,
)
from robustlaw.sweep.run import RUNNERS

ray = pytest.importorskip("ray")
#: every test here runs in the one test process that runs the tests that start Ray
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray for the module, started by a RayExecutor without an address (2 CPUs,
    a 100 MB object store, no dashboard) and shut down by it; other executors reuse it."""
    ray.cloudpickle.register_pickle_by_value(sweep_toy_runner)
    assert not ray.is_initialized()
    owner = RayExecutor(num_cpus=2, object_store_memory=100 * 1024**2)
    owner.start()
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
    yield ray
    owner.close()
    assert not ray.is_initialized()


@pytest.fixture(params=["local", "local-workers", "ray"])
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
        made = RayExecutor(max_retries=1)
    elif request.param == "local-workers":
        made = LocalExecutor(workers=2)
    else:
        made = LocalExecutor(workers=1)
    yield made
    made.close()


def _batches(**overrides):
    return group(expand(parse_spec(toy_spec(**overrides))))


def _run(executor, batches):
    return list(executor.run(batches, runners={"toy": RUNNERS["toy"]}))


# --------------------------------------------------------------------------- the contract


def test_every_batch_runs_once_with_the_numbers_of_a_loop(executor):
    batches = _batches(model={"widths": [1, 4, 7]}, seeds=[0, 1, 2])
    results = _run(executor, batches)
    assert sorted(r.batch.key for r in results) == sorted(b.key for b in batches)
    for result in results:
        assert [r.trial_hash for r in result.records] == result.batch.hashes
        for record in result.records:
            cfg = record.config
            expected = toy_member(cfg.seed, cfg.data.n, cfg.data.d, cfg.model.width)
            assert record.status == "done"
            for key, value in expected.items():
                assert getattr(record.metrics, key) == value


def test_a_raising_runner_fails_its_own_batch_only(executor):
    bad = _batches(name="bad", seeds=[5], model={"widths": [2, 3], "options": {"raise": True}})
    good = _batches(seeds=[0])
    results = _run(executor, [*bad, *good])
    by_key = {r.batch.key: r.records for r in results}
    for batch in bad:
        records = by_key[batch.key]
        assert {r.status for r in records} == {"failed"}
        assert all("RuntimeError: toy runner asked to fail" in r.error for r in records)
    for batch in good:
        assert {r.status for r in by_key[batch.key]} == {"done"}


def test_diverged_members_are_recorded_and_the_rest_done(executor):
    batches = _batches(model={"widths": [2, 3, 4], "options": {"diverge": [3]}})
    for result in _run(executor, batches):
        statuses = {r.config.model.width: r.status for r in result.records}
        assert statuses == {2: "done", 3: "diverged", 4: "done"}
        diverged = [r for r in result.records if r.status == "diverged"]
        assert diverged[0].error == "loss became NaN" and not diverged[0].metrics.measured()


def test_torch_threads_are_pinned_and_the_source_tree_is_imported(executor):
    (result,) = _run(executor, _batches(seeds=[0], data={"n": 12}))
    threads = {r.fit["threads"] for r in result.records}
    assert threads == {1}  # every local process and every Ray task (one CPU each)
    assert {r.fit["package_file"] for r in result.records} == {robustlaw.__file__}


def test_registry_and_bad_options():
    assert isinstance(get_executor("local"), LocalExecutor)
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        get_executor("dask")
    with pytest.raises(ValueError, match="max_retries"):
        RayExecutor(max_retries=-1)
    with pytest.raises(ValueError, match="threads"):
        LocalExecutor(threads=0)
    with pytest.raises(ValueError, match="workers must be a positive integer or 'auto'"):
        LocalExecutor(workers=0)


# --------------------------------------------------------------------------- across executors


def test_the_same_spec_gives_identical_numbers_under_local_and_ray(ray_instance, tmp_path):
    spec = parse_spec(toy_spec(model={"widths": [2, 6, 11]}, seeds=[0, 1, 2]))
    run_sweep(spec, store=tmp_path / "local.db", executor="local", progress=False)
    run_sweep(spec, store=tmp_path / "ray.db", executor=RayExecutor(), progress=False)
    local = load(tmp_path / "local.db").sort_values("trial_hash").reset_index(drop=True)
    remote = load(tmp_path / "ray.db").sort_values("trial_hash").reset_index(drop=True)
    numbers = ["train_mse", "lip_lower", "lip_upper", "p", "n", "width", "seed"]
    pd.testing.assert_frame_equal(local[numbers], remote[numbers], check_exact=True)
    assert set(remote["executor"]) == {"ray"} and set(local["executor"]) == {"local"}


# --------------------------------------------------------------------------- Ray failures


def test_a_killed_ray_worker_is_retried_and_the_sweep_completes(ray_instance, tmp_path):
    marker = tmp_path / "crashed-once"
    spec = parse_spec(
        toy_spec(seeds=[0], data={"n": 12}, model={"options": {"crash_marker": str(marker)}})
    )
    summary = run_sweep(
        spec, store=tmp_path / "r.db", executor=RayExecutor(max_retries=2), progress=False
    )
    assert marker.exists()  # the first attempt really died
    assert (summary.done, summary.failed) == (3, 0)
    frame = load(tmp_path / "r.db")
    assert set(frame["status"]) == {"done"}
    for _, row in frame.iterrows():
        expected = toy_member(0, 12, 3, int(row["width"]))
        assert row["train_mse"] == expected["train_mse"]


def test_a_worker_that_always_dies_is_recorded_as_failed(ray_instance, tmp_path):
    crashing = toy_spec(seeds=[0], data={"n": 12}, model={"options": {"crash_always": True}})
    batches = group(expand(parse_spec(crashing))) + _batches(seeds=[1], data={"n": 12})
    results = _run(RayExecutor(max_retries=1), batches)
    by_key = {r.batch.key: r.records for r in results}
    dead = by_key[batches[0].key]
    assert {r.status for r in dead} == {"failed"}
    assert all("after 1 retries" in r.error for r in dead)
    assert {r.status for r in by_key[batches[1].key]} == {"done"}
    assert all(math.isfinite(r.metrics.train_mse) for r in by_key[batches[1].key])


REAL_SPECS = [
    {
        "name": "real-train",
        "experiment": "executor_check",
        "seeds": [0, 1],
        "data": {"distribution": "sphere", "n": 30, "d": 4},
        "model": {"family": "two_layer", "widths": [3, 24]},
        "fit": {"target": "below_noise", "eps": 0.1, "steps": 60, "lr": 0.01},
        "lipschitz": {"methods": [], "test_points": 30, "pgd_radius": 0.1},
    },
    {
        "name": "real-features",
        "experiment": "executor_check",
        "seeds": [0, 1],
        "data": {"distribution": "gaussian", "n": 40, "d": 5},
        "model": {"family": ["random_features", "ntk"], "activation": "tanh", "widths": [8, 64]},
        "lipschitz": {"methods": [], "test_points": 30},
    },
]


@pytest.mark.parametrize("raw", REAL_SPECS, ids=lambda raw: raw["name"])
def test_real_runners_give_identical_numbers_under_local_and_ray(ray_instance, tmp_path, raw):
    spec = parse_spec(raw)
    run_sweep(spec, store=tmp_path / "local.db", executor="local", progress=False)
    run_sweep(spec, store=tmp_path / "ray.db", executor=RayExecutor(), progress=False)
    local = load(tmp_path / "local.db").sort_values("trial_hash").reset_index(drop=True)
    remote = load(tmp_path / "ray.db").sort_values("trial_hash").reset_index(drop=True)
    assert set(local["status"]) == set(remote["status"]) == {"done"}
    numbers = [
        "train_mse", "fit_reached", "lip_lower", "lip_upper", "sensitivity", "clean_accuracy",
        "robust_accuracy", "p", "n", "d", "width", "noise_level",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(local[numbers], remote[numbers], check_exact=True)


def test_the_cli_runs_a_spec_on_ray(ray_instance, tmp_path):
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(toy_spec(seeds=[3])))
    store = tmp_path / "r.db"
    result = CliRunner().invoke(
        app, ["sweep", "run", str(spec), "--store", str(store), "--executor", "ray", "--json"]
    )
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert summary["executor"] == "ray" and summary["done"] == 6
    frame = load(store)
    assert set(frame["executor"]) == {"ray"}
    assert set(frame["trial_hash"]) == {t.hash for t in expand(parse_spec(toy_spec(seeds=[3])))}
    assert ray.is_initialized()  # the executor reused the running Ray and left it up
