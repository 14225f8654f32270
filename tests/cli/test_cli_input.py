"""Bad input and readable output, command by command (in-process, typer's CliRunner).

Every case is a row of the list of what a new user ran into: names checked at load with a
did-you-mean, honest exit codes, user files by the ecosystem's conventions, stores that
are not stores, and texts as users write them.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from cli_helpers import FAST_SPEC, merged, write_csv
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.sweep import RUNNERS, load
from robustlaw.sweep.registry import get_runner

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *fragments):
    """Exit 2, one line on stderr holding every fragment, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("sections", "fragments"),
    [
        (
            {"data": {"distribution": "spehre"}},
            ["data.distribution: unknown 'spehre'", "did you mean 'sphere'?", "gaussian"],
        ),
        ({"experiment": "two_layer_lwa"}, ["experiment: unknown", "did you mean 'two_layer_law'"]),
        ({"data": {"labels": "random_sing"}}, ["data.labels", "did you mean 'random_sign'"]),
        (
            {"data": {"distribution": None, "dataset": "digitz"}},
            ["data.dataset", "did you mean 'digits'"],
        ),
        ({"model": {"activation": "rleu"}}, ["model.activation", "did you mean 'relu'"]),
        ({"model": {"family": "random_feature"}}, ["model.family", "'random_features'"]),
        ({"lipschitz": {"methods": ["uper"]}}, ["lipschitz.methods[0]", "did you mean 'upper'"]),
        ({"lipschitz": {"domain": "spher"}}, ["lipschitz.domain", "R^d", "did you mean 'sphere'"]),
        (
            {"model": {"family": "construction", "construction": "capz", "widths": None}},
            ["model.construction", "did you mean 'caps'"],
        ),
        ({"kind": "trian"}, ["kind: unknown runner 'trian'", "did you mean 'train'"]),
        ({"data": {"params": {"scal": 2}}}, ["data.params", "'scal'"]),
    ],
)
def test_names_are_checked_at_load_with_a_did_you_mean(tmp_path, write_spec, sections, fragments):
    store = tmp_path / "r.db"
    result = invoke("sweep", "run", write_spec(**sections), "--store", store)
    one_error_line(result, *fragments)
    assert not store.exists()  # nothing run, nothing written


def test_executor_names_are_checked_against_their_registry(tmp_path, write_spec):
    store = tmp_path / "r.db"
    result = invoke("sweep", "run", write_spec(), "--store", store, "--executor", "rey")
    one_error_line(result, "--executor: unknown 'rey'", "did you mean 'ray'")
    result = invoke("demo", "--out", tmp_path / "demo", "--executor", "locl")
    one_error_line(result, "--executor", "did you mean 'local'")
    assert not store.exists() and not (tmp_path / "demo").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_address_nobody_answers_is_one_line(tmp_path, write_spec):
    """Ray waits minutes for a cluster that is not there; the CLI refuses at once."""
    store, out = tmp_path / "r.db", tmp_path / "rep"
    address = f"127.0.0.1:{_closed_port()}"
    args = ["--executor", "ray", "--address", address]
    one_error_line(invoke("sweep", "run", write_spec(), "--store", store, *args),
                   f"--address {address}: no Ray cluster answers there")  # fmt: skip
    one_error_line(invoke("reproduce", "rf-ntk", "--out", out, *args), "no Ray cluster")
    for bad in ("localhost", "host:port", "1.2.3.4:0", "ray://:80"):
        one_error_line(invoke("sweep", "run", write_spec(), "--store", store, "--executor",
                              "ray", "--address", bad), "--address: expected")  # fmt: skip
    assert not store.exists() and not out.exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["demo", "--device", "tpu"], ["--device must be", "'tpu'"]),
        (["reproduce", "rf-ntk", "--device", "cuda:x"], ["--device must be"]),
        (["reproduce", "rf-ntk", "--scale", "hug"], ["--scale of 'rf-ntk'"]),
        (["bound", "--n", "-5", "--d", "3", "--p", "4"], ["--n must be a positive integer"]),
        (["data", "info", "sphere", "--seed", "-3"], ["--seed must lie in"]),
        (["data", "info", "sphere", "--labels", "none", "--label-param", "noise=0.1"],
         ["--label-param applies to a label model"]),
        (["data", "info", "sphere", "--label-param", "nosie=0.1"], ["--label-param: bad"]),
        (["data", "info", "gaussian", "--n", str(10**12), "--d", "300"],
         ["--n 1000000000000 × --d 300 points take", "GiB"]),
    ],
)  # fmt: skip
def test_bad_values_are_named_by_their_flag_before_anything_is_written(tmp_path, args, fragments):
    if args[0] in ("demo", "reproduce"):
        args = [*args, "--out", tmp_path / "out"]
    line = one_error_line(invoke(*args), *fragments)
    assert "Traceback" not in line and not (tmp_path / "out").exists()


def test_lipschitz_names_are_checked_with_a_did_you_mean(models):
    result = invoke("lipschitz", models["two_layer"], "--domain", "shpere")
    one_error_line(result, "--domain: unknown 'shpere'", "did you mean 'sphere'")
    result = invoke("lipschitz", models["two_layer"], "--methods", "spectral,exakt")
    one_error_line(result, "--methods: unknown method 'exakt'", "did you mean 'exact'")
    result = invoke("reproduce", "two-layer-lwa")
    one_error_line(result, "unknown experiment", "did you mean 'two-layer-law'")


# --------------------------------------------------------------------------- exit codes


@pytest.fixture
def broken_runner(monkeypatch):
    """The built-in features runner replaced, for one test, by one that raises."""
    get_runner("features")

    def broken(batch, context):
        raise RuntimeError("the solver exploded")

    monkeypatch.setitem(RUNNERS, "features", broken)


def test_a_sweep_with_failed_trials_exits_1_after_a_summary(tmp_path, write_spec):
    store = tmp_path / "r.db"
    spec = write_spec(model={"options": {"no_such_option": 1}})  # valid names, fails at run
    result = invoke("sweep", "run", spec, "--store", store, "--json")
    assert result.exit_code == 1, result.output
    (summary,) = json.loads(result.stdout)  # stdout stays valid JSON
    assert summary["failed"] == summary["total"] == 4
    assert "4 trial(s) failed, 0 diverged" in result.stderr
    assert "no_such_option" in result.stderr  # the first error of its kind
    (kind,) = summary["errors"]
    assert kind["status"] == "failed" and kind["count"] == 4 and kind["kind"] == "TypeError"
    again = invoke("sweep", "run", spec, "--store", store, "--allow-failures")
    assert again.exit_code == 0, again.output
    assert "4 trial(s) failed" in again.stderr  # still summarized


def test_demo_and_reproduce_exit_1_when_trials_fail(tmp_path, broken_runner):
    result = invoke("reproduce", "rf-ntk", "--scale", "tiny", "--out", tmp_path, "--json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["summary"]["failed"] == payload["summary"]["total"] > 0
    assert "the solver exploded" in result.stderr
    allowed = invoke(
        "reproduce", "rf-ntk", "--scale", "tiny", "--out", tmp_path, "--allow-failures"
    )
    assert allowed.exit_code == 0, allowed.output


def test_status_lists_every_version_of_a_spec_with_its_failed_trials(tmp_path, write_spec):
    store = tmp_path / "r.db"
    first = write_spec(model={"options": {"no_such_option": 1}})
    assert invoke("sweep", "run", first, "--store", store).exit_code == 1
    second = write_spec(data={"n": 24})  # the same name, other trials
    assert invoke("sweep", "run", second, "--store", store).exit_code == 0
    payload = json.loads(invoke("sweep", "status", "--store", store, "--json").stdout)
    assert [(v["version"], v["latest"], v["failed"]) for v in payload] == [
        (1, False, 4),
        (2, True, 0),
    ]
    assert all("no_such_option" in f["error"] for f in payload[0]["failures"])
    table = invoke("sweep", "status", "--store", store)
    assert table.exit_code == 0
    assert "version 1: 4 failed trial(s)" in table.stdout and "no_such_option" in table.stdout
    assert "the latest version" in table.stdout


def test_export_of_an_unknown_spec_is_exit_2_and_writes_nothing(tmp_path, write_spec):
    store = tmp_path / "r.db"
    assert invoke("sweep", "run", write_spec(), "--store", store).exit_code == 0
    out = tmp_path / "out.csv"
    stamp = store.stat().st_mtime_ns, store.read_bytes()
    result = invoke("sweep", "export", "--store", store, "-o", out, "--spec", "fsat")
    one_error_line(result, "unknown spec 'fsat'", "did you mean 'fast'")
    one_error_line(invoke("sweep", "export", "--store", store, "-o", tmp_path), "is a directory")
    assert invoke("sweep", "status", "--store", store).exit_code == 0
    assert not out.exists() and (store.stat().st_mtime_ns, store.read_bytes()) == stamp
    result = invoke("sweep", "export", "--store", store, "-o", out, "--spec", "fast", "--json")
    assert json.loads(result.stdout) == {"path": str(out), "trials": 4}


# --------------------------------------------------------------------------- stores


@pytest.mark.parametrize("content", [b"a,b\n1,2\n", b"", b"\x00" * 200])
def test_a_file_that_is_not_a_store_is_one_line(tmp_path, content):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    one_error_line(invoke("sweep", "status", "--store", path), "not a results store")
    one_error_line(invoke("report", path, "-o", tmp_path / "rep"), "not a results store")
    one_error_line(invoke("sweep", "export", "--store", path, "-o", tmp_path / "e.csv"), str(path))
    assert path.read_bytes() == content  # untouched
    assert not (tmp_path / "rep").exists() and not (tmp_path / "e.csv").exists()


def test_a_directory_or_a_foreign_database_is_not_a_store(tmp_path, write_spec):
    one_error_line(invoke("sweep", "status", "--store", tmp_path), "is a directory")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    one_error_line(invoke("sweep", "status", "--store", other), "no trials table")
    one_error_line(invoke("sweep", "run", write_spec(), "--store", tmp_path), "is a directory")


# --------------------------------------------------------------------------- user files


def test_label_columns_are_found_by_their_common_names(tmp_path, points):
    X, y = points
    for name in ("y", "label", "labels", "target", "class", "Label"):
        path = write_csv(tmp_path / f"{name}.csv", X, y, label=name)
        payload = json.loads(invoke("data", "info", path, "--json").stdout)
        assert (payload["meta"]["n"], payload["meta"]["d"]) == (100, 3), name
        assert payload["meta"]["labels"] == "raw" and payload["meta"]["params"]["label_column"]


def test_an_ambiguous_file_is_refused_and_label_column_chooses(tmp_path, points):
    X, y = points
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y, label=y)
    frame.to_csv(tmp_path / "two.csv", index=False)
    one_error_line(
        invoke("data", "info", tmp_path / "two.csv"),
        "several label columns ['y', 'label']",
        "--label-column",
        "['a', 'b', 'c', 'y', 'label']",
    )
    payload = json.loads(
        invoke("data", "info", tmp_path / "two.csv", "--label-column", "label", "--json").stdout
    )
    assert payload["meta"]["d"] == 4  # the other label-like column is a feature then
    frame.drop(columns=["label"]).rename(columns={"y": "score"}).to_csv(
        tmp_path / "named.csv", index=False
    )
    payload = json.loads(
        invoke("data", "info", tmp_path / "named.csv", "--label-column", "score", "--json").stdout
    )
    assert payload["meta"]["d"] == 3 and payload["meta"]["labels"] == "raw"
    one_error_line(
        invoke("data", "info", tmp_path / "named.csv", "--label-column", "nope"),
        "no label column 'nope'",
    )


def test_a_csv_without_a_header_keeps_its_first_row(tmp_path, points):
    X, y = points
    path = write_csv(tmp_path / "bare.csv", X, y, header=False)
    payload = json.loads(invoke("data", "info", path, "--json").stdout)
    assert payload["meta"]["n"] == 100 and payload["meta"]["d"] == 4
    assert any("no header row" in note for note in payload["notes"])
    labelled = json.loads(invoke("data", "info", path, "--label-column", "3", "--json").stdout)
    assert (labelled["meta"]["n"], labelled["meta"]["d"]) == (100, 3)
    assert labelled["meta"]["labels"] == "raw"


def _empty_file(folder, name):
    (folder / name).write_bytes(b"")
    return folder / name


def _text(folder, name, text):
    (folder / name).write_text(text)
    return folder / name


def _empty_npy(folder):
    np.save(folder / "e.npy", np.zeros((0, 3)))
    return folder / "e.npy"


def _empty_npz(folder):
    np.savez(folder / "e.npz", X=np.zeros((0, 3)))
    return folder / "e.npz"


def _npy_named_npz(folder):
    np.save(folder / "a.npy", np.ones((3, 2)))
    return (folder / "a.npy").rename(folder / "a.npz")


BAD_FILES = [
    (lambda p: _empty_file(p, "e.npy"), ["empty (0 bytes)"]),
    (lambda p: _empty_file(p, "e.npz"), ["empty (0 bytes)"]),
    (_empty_npy, ["is empty"]),
    (_empty_npz, ["is empty"]),
    (
        lambda p: _text(p, "r.csv", "a,b,y\n1,2,1\n1,2,-1\n1,2,3,4\n"),
        ["r.csv' line 4 has 4 fields, expected 3"],
    ),
    (lambda p: _text(p, "s.csv", "a,b,y\n1,2,1\n1,2\n"), ["s.csv' line 3", "missing field"]),
    (lambda p: _text(p, "x.txt", "1,2"), ["unknown file type"]),
    (lambda p: p, ["is a directory"]),
    (_npy_named_npz, ["is a .npy array, not a .npz"]),
]


@pytest.mark.parametrize(("make", "fragments"), BAD_FILES)
def test_bad_files_are_one_line_naming_the_file(tmp_path, make, fragments):
    path = make(tmp_path)
    one_error_line(invoke("data", "info", path), *fragments)


def test_lipschitz_reads_points_from_any_data_file(tmp_path, models, points):
    X, y = points
    np.savez(tmp_path / "x.npz", X=X, y=y)
    write_csv(tmp_path / "x.csv", X, y, label="target")
    values = []
    for name in ("x.npz", "x.csv"):
        args = ["lipschitz", models["two_layer"], "--data", tmp_path / name]
        result = invoke(*args, "--methods", "grad_data", "--json")
        assert result.exit_code == 0, result.output
        (member,) = json.loads(result.stdout)["members"]
        values.append(member["lower"])
    assert values[0] == values[1] > 0  # the same points, the labels left out
    args = ["lipschitz", models["two_layer"], "--data", tmp_path / "x.csv"]
    one_error_line(invoke(*args, "--label-column", "y"), "no label column 'y'")


def test_messages_name_the_command_line_flags(tmp_path, points):
    X, _ = points
    path = write_csv(tmp_path / "wide.csv", X, np.linspace(-3, 3, 100))
    line = one_error_line(invoke("data", "info", path), "--classes", "--rescale", "--no-labels")
    assert "classes=" not in line and "rescale=True" not in line
    line = one_error_line(invoke("data", "info", path, "--classes", "3", "--rescale"), "--classes")
    assert "--rescale" in line
    one_error_line(invoke("data", "info", path, "--flip-prob", "0.7"), "--flip-prob")


# --------------------------------------------------------------------------- texts


def _words(table: str) -> str:
    """A rich table's text without borders, its cells' wrapped words joined."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", table).split())


def test_lipschitz_tables_speak_the_users_words(models):
    result = invoke("lipschitz", models["mlp_d6"], "--methods", "exact,spectral")
    assert result.exit_code == 0, result.output
    text = _words(result.stdout)
    assert "Lip(f) on R^d" in text and "on rd" not in text
    assert "None" not in text and "interval [0, ∞]" not in text
    assert "not applicable to this network" in text and "two-layer relu / leaky-relu" in text
    assert "(by deep_bnb)" in text  # d = 6: the branch and bound over patterns closes
    alone = invoke("lipschitz", models["mlp_d6"], "--methods", "spectral")
    assert alone.exit_code == 0, alone.output
    assert "0 (no method gave a lower bound)" in _words(alone.stdout)
    # the whole call's time is shared: enough for the enumeration on a loaded machine
    small = invoke("lipschitz", models["mlp"], "--methods", "exact", "--budget-seconds", "30")
    small = _words(small.stdout)
    assert "(by deep_exact)" in small and "exact value" in small  # d = 3: regions enumerated
    sphere = invoke("lipschitz", models["two_layer"], "--methods", "spectral", "--domain", "sphere")
    assert "Lip(f) on sphere" in sphere.stdout


def test_bound_numbers(tmp_path):
    line = one_error_line(invoke("bound", "--n", "abc", "--d", "3", "--p", "5"), "'--n'")
    assert "bound --help" in line
    result = invoke("bound", "--n", "1e30", "--d", "10", "--k", "5")
    assert result.exit_code == 0, result.output
    assert "n = 1e+30" in result.stdout and "1000000000000000019884624838656" not in result.stdout


def test_store_times_are_iso_8601(tmp_path, write_spec):
    store = tmp_path / "r.db"
    assert invoke("sweep", "run", write_spec(), "--store", store).exit_code == 0
    frame = load(store)
    stamps = pd.to_datetime(frame["finished_at"], format="ISO8601")
    assert (stamps.dt.tz is not None) and stamps.notna().all()
    out = tmp_path / "e.csv"
    assert invoke("sweep", "export", "--store", store, "-o", out).exit_code == 0
    assert pd.read_csv(out)["finished_at"].str.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    (status,) = json.loads(invoke("sweep", "status", "--store", store, "--json").stdout)
    assert pd.Timestamp(status["registered_at"]).tzname() == "UTC"


def test_a_store_of_the_earlier_layout_still_loads(tmp_path, write_spec):
    """A layout-1 store (one version per spec name, POSIX times) is upgraded on opening."""
    store = tmp_path / "old.db"
    spec_path = write_spec()
    assert invoke("sweep", "run", spec_path, "--store", store).exit_code == 0
    before = load(store)
    with sqlite3.connect(store) as conn:  # rewrite the file as the earlier layout kept it
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("ALTER TABLE trials RENAME COLUMN finished_at TO iso")
        conn.execute("ALTER TABLE trials ADD COLUMN finished_at REAL")
        conn.execute("UPDATE trials SET finished_at = strftime('%s', substr(iso, 1, 19)) + 0.25")
        conn.execute("ALTER TABLE trials DROP COLUMN iso")
        conn.execute(
            "CREATE TABLE old_specs AS SELECT spec_name, experiment, source, path, "
            "1700000000.5 AS registered_at, 1700000000.5 AS updated_at FROM specs"
        )
        conn.execute(
            "CREATE TABLE old_members AS SELECT spec_name, trial_hash, position FROM spec_trials"
        )
        conn.execute("DROP TABLE specs")
        conn.execute("DROP TABLE spec_trials")
        conn.execute("ALTER TABLE old_specs RENAME TO specs")
        conn.execute("ALTER TABLE old_members RENAME TO spec_trials")
    after = load(store, "fast")
    assert sorted(after["trial_hash"]) == sorted(before["trial_hash"])
    assert after["finished_at"].str.endswith(".250+00:00").all()
    assert (after["finished_at"].str[:19] == before["finished_at"].str[:19]).all()
    (status,) = json.loads(invoke("sweep", "status", "--store", store, "--json").stdout)
    assert (status["version"], status["done"]) == (1, 4)
    assert status["registered_at"].startswith("2023-11-14T22:13:20.500")
    resumed = invoke("sweep", "run", spec_path, "--store", store, "--json")
    assert json.loads(resumed.stdout)[0]["skipped"] == 4


def test_spec_files_read_with_a_label_column(tmp_path, points):
    X, y = points
    path = write_csv(tmp_path / "points.csv", X, y, label="target")
    spec = merged(
        FAST_SPEC,
        data={"distribution": None, "dataset": str(path), "n": 60, "d": None},
        experiment="real_data",
    )
    good = tmp_path / "file.yaml"
    good.write_text(yaml.safe_dump(spec))
    store = tmp_path / "r.db"
    assert invoke("sweep", "run", good, "--store", store).exit_code == 0
    assert set(load(store)["d"]) == {3}  # the label column is not a feature
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y, target=y)
    frame.to_csv(tmp_path / "two.csv", index=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(merged(spec, data={"dataset": str(tmp_path / "two.csv")})))
    one_error_line(
        invoke("sweep", "run", bad, "--store", tmp_path / "b.db"),
        "data.dataset",
        "several label columns",
        "data.options.label_column",
    )
    chosen = merged(
        spec, data={"dataset": str(tmp_path / "two.csv"), "options": {"label_column": "y"}}
    )
    bad.write_text(yaml.safe_dump(chosen))
    assert invoke("sweep", "run", bad, "--store", tmp_path / "b.db").exit_code == 0
    assert set(load(tmp_path / "b.db")["d"]) == {4}


def test_a_spec_that_is_not_text_is_one_line(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(bytes(range(256)))
    one_error_line(
        invoke("sweep", "run", path, "--store", tmp_path / "r.db"),
        f"invalid spec {path}: not UTF-8 text",
    )
    assert not (tmp_path / "r.db").exists()


def test_bound_refuses_counts_past_what_float64_holds():
    # found by the fuzzer: --k 1e308 overflowed inside Theorem 3's net size
    for args, flag in (
        (("--n", "1", "--d", "1", "--k", "1e308"), "--k must be at most 1e300"),
        (("--n", "1e308", "--d", "1", "--p", "5"), "--n must be at most 1e300"),
        (("--n", "5", "--d", "1e200", "--k", "1e200"), "--k = 1e+200 gives more than 1e300"),
        # found by the fuzzer: the inverses square the Lipschitz target
        (("--n", "1", "--d", "1", "--p", "1", "--target-lip", "1e308"), "--target-lip must be"),
        (("--n", "1", "--d", "1", "--p", "1", "--target-lip", "1e-200"), "--target-lip must be"),
    ):
        one_error_line(invoke("bound", *args), flag)
    assert invoke("bound", "--n", "1", "--d", "1", "--k", "1e299").exit_code == 0
