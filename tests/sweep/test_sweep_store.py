"""The SQLite store: flat columns, JSON blobs, status, reruns, exports."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from sweep_toy_runner import toy_member, toy_spec

import robustlaw.sweep as sw
from robustlaw.sweep import Store, expand, group, parse_spec, run_batch

ANALYSIS_COLUMNS = (
    "experiment, spec_name, trial_hash, status, distribution, labels, n, d, intrinsic_dim, "
    "noise_level, family, activation, width, depth, p, seed, target, eps, train_mse, "
    "fit_reached, lip_lower, lip_upper, lip_upper_method, lip_lower_method, lip_exact, "
    "sensitivity, robust_accuracy, pgd_radius, clean_accuracy, fit_seconds, lip_seconds"
).split(", ")


def _spec(**overrides):
    return parse_spec(toy_spec(**overrides))


def _write(store: Store, spec, **run_kw) -> list[sw.TrialRecord]:
    trials = expand(spec)
    store.register_spec(spec, trials)
    records = []
    for batch in group(trials):
        batch_records = run_batch(batch, **run_kw)
        store.write_records(spec.name, batch_records, executor="local")
        records.extend(batch_records)
    return records


def test_rows_hold_the_analysis_columns_with_the_computed_values(tmp_path):
    spec = _spec(model={"widths": [2, 5, 9], "options": {"diverge": [9]}})
    with Store(tmp_path / "r.db") as store:
        records = _write(store, spec)
        frame = store.load()
    assert list(frame.columns[: len(ANALYSIS_COLUMNS)]) == ANALYSIS_COLUMNS
    assert len(frame) == len(records) == 12
    assert frame["trial_hash"].is_unique
    for _, row in frame.iterrows():
        config = json.loads(row["config_json"])
        assert row["n"] == config["data"]["n"] and row["seed"] == config["seed"]
        assert row["family"] == "two_layer" and row["experiment"] == "toy_check"
        assert row["depth"] == 2  # two linear layers
        assert row["spec_name"] == "toy" and row["distribution"] == "gaussian"
        assert math.isnan(row["lip_exact"]) and math.isnan(row["eps"])
        if row["width"] == 9:
            assert row["status"] == "diverged" and row["error"] == "loss became NaN"
            assert math.isnan(row["train_mse"]) and pd.isna(row["fit_reached"])
            continue
        expected = toy_member(int(row["seed"]), int(row["n"]), 3, int(row["width"]))
        assert row["status"] == "done"
        assert row["train_mse"] == expected["train_mse"]
        assert row["lip_upper"] == expected["lip_upper"]
        assert row["lip_lower"] == expected["lip_lower"] <= row["lip_upper"]
        assert row["lip_upper_method"] == "toy_product"
        assert row["p"] == 3 * row["width"]
        assert row["fit_reached"] == (expected["train_mse"] < 1e-9)
        assert json.loads(row["lipschitz_json"])["upper"] == expected["lip_upper"]
        assert row["package_version"] == sw.run.__dict__["_versions"]()["package_version"]
        assert pd.Timestamp(row["finished_at"]).tzname() == "UTC"  # ISO 8601
        assert row["device"] == "cpu" and row["executor"] == "local"
    assert str(frame["n"].dtype) == "Int64" and str(frame["fit_reached"].dtype) == "boolean"


def test_status_counts_done_failed_diverged_and_pending(tmp_path):
    spec = _spec(model={"widths": [2, 5], "options": {"diverge": [5]}})
    trials = expand(spec)
    with Store(tmp_path / "r.db") as store:
        store.register_spec(spec, trials)
        (status,) = store.status()
        assert (status.total, status.pending, status.done) == (8, 8, 0)
        batches = group(trials)
        store.write_records(spec.name, run_batch(batches[0]))
        failing = sw.run.failed_records(batches[1], "worker died")
        store.write_records(spec.name, failing)
        (status,) = store.status()
        registered = status.registered_at
        assert pd.Timestamp(registered).tzname() == "UTC"  # ISO 8601
        assert status.to_dict() == {
            "spec_name": "toy",
            "version": 1,
            "latest": True,
            "experiment": "toy_check",
            "registered_at": registered,
            "total": 8,
            "done": 1,
            "failed": 2,
            "diverged": 1,
            "pending": 4,
            "failures": [{"trial_hash": h, "error": "worker died"} for h in batches[1].hashes],
        }
        # finished = done or diverged: failed trials are run again by the next run
        assert store.finished_hashes() == set(batches[0].hashes)


def test_rewriting_a_trial_replaces_its_row(tmp_path):
    spec = _spec()
    with Store(tmp_path / "r.db") as store:
        _write(store, spec)
        batch = group(expand(spec))[0]
        store.write_records(spec.name, sw.run.failed_records(batch, "boom"))
        assert store.count() == len(expand(spec))
        statuses = store.statuses()
    assert {statuses[h] for h in batch.hashes} == {"failed"}


def test_a_spec_registered_again_with_other_trials_is_a_new_version(tmp_path):
    with Store(tmp_path / "r.db") as store:
        big = _spec(model={"widths": [1, 2, 3]})
        assert store.register_spec(big, expand(big)) == 1
        failing = sw.run.failed_records(group(expand(big))[0], "boom")
        store.write_records(big.name, failing)
        small = _spec(model={"widths": [1]})
        assert store.register_spec(small, expand(small)) == 2
        assert store.register_spec(small, expand(small)) == 2  # same trials, same version
        first, second = store.status()
        assert (first.version, first.latest, first.total) == (1, False, len(expand(big)))
        assert (second.version, second.latest, second.total) == (2, True, len(expand(small)))
        # the earlier version's failed trials stay listed
        assert [f.trial_hash for f in first.failures] == [r.trial_hash for r in failing]
        assert {f.error for f in first.failures} == {"boom"}
        assert store.spec_source("toy")["model"]["widths"] == [1]
        # the latest version's stored trials
        assert set(store.load("toy")["trial_hash"]) == {t.hash for t in expand(small)} & {
            r.trial_hash for r in failing
        }


def test_load_by_spec_and_exports_round_trip(tmp_path):
    path = tmp_path / "r.db"
    spec = _spec()
    other = _spec(name="other", data={"n": 7})
    with Store(path) as store:
        _write(store, spec)
        _write(store, other)
    everything = sw.load(path)
    assert len(everything) == len(expand(spec)) + len(expand(other))
    mine = sw.load(path, "other")
    assert set(mine["n"]) == {7} and set(mine["spec_name"]) == {"other"}
    parquet = sw.export(path, tmp_path / "out" / "r.parquet")
    back = pd.read_parquet(parquet)
    pd.testing.assert_frame_equal(back, everything)
    csv = sw.export(path, tmp_path / "r.csv")
    again = pd.read_csv(csv)
    assert list(again.columns) == list(everything.columns)
    assert again["lip_upper"].tolist() == pytest.approx(
        everything["lip_upper"].tolist(), nan_ok=True
    )
    with pytest.raises(ValueError, match="export format"):
        sw.export(path, tmp_path / "r.xlsx")
    with pytest.raises(ValueError, match=r"unknown spec 'othr'.*did you mean 'other'"):
        sw.export(path, tmp_path / "none.csv", spec_name="othr")
    assert not (tmp_path / "none.csv").exists()


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results store"):
        sw.load(tmp_path / "absent.db")
    with pytest.raises(FileNotFoundError):
        sw.status(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()


def test_store_runs_in_wal_mode_and_checks_clean(tmp_path):
    with Store(tmp_path / "r.db") as store:
        _write(store, _spec())
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        assert store.integrity_check() == "ok"


def test_a_store_from_an_earlier_layout_is_read_and_upgraded(tmp_path):
    path = tmp_path / "old.db"
    with Store(path) as store:
        _write(store, _spec())
        store._conn.execute("ALTER TABLE trials DROP COLUMN certified_robust_accuracy")
    frame = sw.load(path)  # a reader fills the missing column with NaN
    assert frame["certified_robust_accuracy"].isna().all() and len(frame) == 12
    with Store(path) as store:  # a writer adds it back
        assert "certified_robust_accuracy" in store._columns(store._conn)


def test_frames_carry_the_specs_and_provenance(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as store:
        _write(store, _spec())
    frame = sw.load(path)
    (source,) = frame.attrs["specs"]
    assert source["name"] == "toy" and source["model"]["widths"] == [2, 5, 9]
    assert frame.attrs["meta"]["store"] == str(path)
