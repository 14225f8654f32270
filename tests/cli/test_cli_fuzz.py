"""A fuzzer of the command line: hypothesis draws command lines over every command and
option and runs each in-process (typer's CliRunner).

Values: random and boundary numbers, NaN, inf, huge and negative ones, strings, names with
typos; files: missing, empty, garbage, ragged, directories, stores that are not stores;
specs: the packaged ones and a small real one, mutated (keys deleted, renamed, added;
values replaced by other types, boundary numbers and misspelled names).

Every case must
- exit 0 or 2, or 1 only for a run whose trials failed (its summary says so);
- print no traceback (no exception escapes the command);
- on exit 2, print one line to stderr and write nothing (inputs untouched, no output);
- with ``--json`` and exit 0, print valid JSON on stdout.

Expensive paths are kept cheap without mocking: runs of the packaged specs are dry runs,
real runs use a small spec (closed-form random features), Lipschitz budgets are small,
and demo / reproduce runs always carry one bad option (they stop at validation).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_helpers import FAST_SPEC, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from robustlaw.cli import app
from robustlaw.data import BUILTIN_DATASETS, DISTRIBUTIONS, LABEL_MODELS
from robustlaw.experiments import CATALOG
from robustlaw.lipschitz import GROUPS, METHODS

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

#: Generated cases per run (the test checks that at least this many ran).
CASES = 550

PACKAGED = sorted(
    path.name for path in (resources.files("robustlaw.experiments") / "specs").iterdir()
)

# --------------------------------------------------------------------------- inputs


def _inputs(folder: Path) -> None:
    """Every input file a case may name, written once."""
    gen = np.random.default_rng(0)
    X, y = gen.normal(size=(40, 3)), gen.choice([-1.0, 1.0], 40)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 1))
    torch.save(net, folder / "net.pt")
    torch.save(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(),
                             nn.Linear(4, 1)), folder / "mlp.pt")  # fmt: skip
    torch.save(net.state_dict(), folder / "state.pt")
    torch.save({"weights": [1, 2]}, folder / "other.pt")
    (folder / "garbage.pt").write_bytes(b"\x80\x04not a pickle")
    (folder / "empty.pt").write_bytes(b"")
    np.save(folder / "points.npy", X)
    np.save(folder / "wide.npy", gen.normal(size=(40, 7)))
    np.save(folder / "flat.npy", X[:, 0])
    np.save(folder / "empty.npy", np.zeros((0, 3)))
    np.save(folder / "nan.npy", np.full((5, 3), np.nan))
    np.savez(folder / "points.npz", X=X, y=y)
    np.savez(folder / "nox.npz", Z=X)
    write_csv(folder / "points.csv", X, y)
    write_csv(folder / "target.csv", X, y, label="target")
    write_csv(folder / "bare.csv", X, y, header=False)
    write_csv(folder / "big.csv", X, 3 * y)
    (folder / "two.csv").write_text("a,y,label\n1,1,1\n2,-1,1\n3,1,-1\n")
    (folder / "ragged.csv").write_text("a,b,y\n1,2,1\n1,2,3,4\n")
    (folder / "short.csv").write_text("a,b,y\n1,2,1\n1,2\n")
    (folder / "words.csv").write_text("a,b\nx,y\nz,w\n")
    for name in ("zero.csv", "zero.npy", "zero.npz", "zero.db", "zero.toml", "zero.yaml"):
        (folder / name).write_bytes(b"")
    (folder / "text.txt").write_text("1,2,3\n")
    (folder / "binary.toml").write_bytes(bytes(range(256)))
    (folder / "bad.toml").write_text("name = [unclosed")
    (folder / "bad.yaml").write_text("a: [b\n")
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "spec.json").write_text("{}")
    (folder / "folder").mkdir()
    (folder / "fast.yaml").write_text(yaml.safe_dump(FAST_SPEC))
    runner = CliRunner()
    done = runner.invoke(app, ["sweep", "run", str(folder / "fast.yaml"), "--store",
                               str(folder / "store.db")])  # fmt: skip
    assert done.exit_code == 0, done.output
    import sqlite3

    with sqlite3.connect(folder / "foreign.db") as conn:
        conn.execute("CREATE TABLE t (x)")


FILES = [
    "net.pt", "mlp.pt", "state.pt", "other.pt", "garbage.pt", "empty.pt", "points.npy",
    "wide.npy", "flat.npy", "empty.npy", "nan.npy", "points.npz", "nox.npz", "points.csv",
    "target.csv", "bare.csv", "big.csv", "two.csv", "ragged.csv", "short.csv", "words.csv",
    "zero.csv", "zero.npy", "zero.npz", "zero.db", "text.txt", "folder", "missing.csv",
    "missing.pt", "store.db", "foreign.db", "fast.yaml",
]  # fmt: skip
STORES = ["store.db", "foreign.db", "zero.db", "points.csv", "folder", "missing.db", "net.pt"]
SPEC_FILES = ["zero.toml", "zero.yaml", "binary.toml", "bad.toml", "bad.yaml", "list.yaml",
              "spec.json", "missing.toml", "folder", "points.csv"]  # fmt: skip


# --------------------------------------------------------------------------- values


def _typo(rng: random.Random, word: str) -> str:
    """One edit of a word: a character dropped, doubled, swapped or changed."""
    if not word:
        return "x"
    i = rng.randrange(len(word))
    edit = rng.choice(("drop", "double", "swap", "change"))
    if edit == "drop":
        return word[:i] + word[i + 1 :]
    if edit == "double":
        return word[:i] + word[i] + word[i:]
    if edit == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice("aeiouxz_") + word[i + 1 :]


NUMBERS = st.one_of(
    st.integers(-3, 60),
    st.sampled_from([0, -1, 1, 2, 10**6, 10**12, 2**63, 2**64, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(
        ["nan", "inf", "-inf", "1e308", "1e-308", "-0", "abc", "", "1e", "0x10", "1_0", "½"]
    ),
).map(str)
SMALL = st.one_of(st.integers(1, 40).map(str), NUMBERS)


def mostly(valid: st.SearchStrategy, bad: st.SearchStrategy = NUMBERS) -> st.SearchStrategy:
    """A valid value nine times in ten (one bad option usually decides a case)."""
    return st.integers(0, 9).flatmap(lambda i: valid if i < 9 else bad)


COUNT = st.integers(1, 10**9).map(str)
UNIT = st.floats(0.001, 0.999).map(str)
POSITIVE = st.floats(1e-3, 1e6).map(str)
TEXT = st.one_of(st.text(max_size=8), st.sampled_from(["", " ", "-", "--", "../x", "a=b", "[x]"]))


def names(known: list[str]) -> st.SearchStrategy[str]:
    """A registry name, else a typo of one or garbage."""
    typo = st.tuples(st.sampled_from(known), st.randoms(use_true_random=False)).map(
        lambda pair: _typo(pair[1], pair[0])
    )
    return st.integers(0, 9).flatmap(
        lambda i: st.sampled_from(known) if i < 7 else typo if i < 9 else TEXT
    )


def flag(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """``[]`` or ``[name, value]``."""
    return st.one_of(st.just([]), values.map(lambda v: [name, v]))


def rarely(part: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """``part`` one time in five, else nothing."""
    return st.integers(0, 4).flatmap(lambda i: part if i == 0 else st.just([]))


def switch(name: str) -> st.SearchStrategy[list[str]]:
    return st.sampled_from([[], [name]])


def options(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """The parts in a random order, flattened."""
    return (
        st.tuples(*parts)
        .flatmap(lambda chosen: st.permutations(list(chosen)))
        .map(lambda chosen: [word for part in chosen for word in part])
    )


def files(pool: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(pool).map(lambda name: "{in}/" + name)


OUT = st.sampled_from(["{out}/a", "{out}/r.db", "{out}/x.csv", "{out}/x.parquet", "{in}/folder",
                       "{in}/points.csv/x", "{out}/x.xlsx"])  # fmt: skip

# --------------------------------------------------------------------------- commands

BOUND = st.tuples(
    st.just(["bound"]),
    st.one_of(
        st.tuples(mostly(COUNT), mostly(st.integers(1, 10**4).map(str))).map(
            lambda nd: ["--n", nd[0], "--d", nd[1]]),
        st.just([]),
    ),
    st.sampled_from(["--p", "--k", "--p", "--k", None]).flatmap(
        lambda name: st.just([]) if name is None else mostly(COUNT).map(lambda v: [name, v])),
    st.one_of(st.just([]), st.just([]), st.just([]),
              names(["mnist", "imagenet"]).map(lambda v: ["--preset", v])),
    options(
        flag("--eps", mostly(UNIT)), flag("--delta", mostly(UNIT)), flag("--c", mostly(POSITIVE)),
        flag("--W", mostly(POSITIVE)), flag("--J", mostly(POSITIVE)),
        flag("--mixtures", mostly(st.integers(1, 100).map(str))),
        flag("--target-lip", mostly(POSITIVE)), switch("--json"),
    ),
)  # fmt: skip

SIZES = st.one_of(st.integers(1, 300).map(str), st.sampled_from(["0", "-4", "1e3", "2.5",
                  str(10**12), str(2**70), "nan", ""]))  # fmt: skip
DISTRIBUTION_INFO = st.tuples(
    st.just(["data", "info"]),
    mostly(st.sampled_from(list(DISTRIBUTIONS)), names([*DISTRIBUTIONS, *BUILTIN_DATASETS])).map(
        lambda name: [name]),
    options(
        flag("--n", mostly(st.integers(20, 300).map(str), SIZES)),
        flag("--d", mostly(st.integers(1, 30).map(str), SIZES)),
        flag("--seed", mostly(st.integers(0, 2**31).map(str))),
        flag("--labels", names([*LABEL_MODELS, "none"])),
        flag("--param", st.tuples(names(["m", "scale", "components", "radius"]), SMALL).map(
            lambda kv: f"{kv[0]}={kv[1]}")),
        flag("--label-param", st.tuples(names(["noise", "noise_level", "width"]), SMALL).map(
            lambda kv: f"{kv[0]}={kv[1]}")),
        switch("--no-labels"), flag("--confidence", mostly(UNIT)), switch("--json"),
    ),
)  # fmt: skip
FILE_INFO = st.tuples(
    st.just(["data", "info"]),
    st.one_of(st.just(["digits"]), files(FILES).map(lambda path: [path])),
    options(
        flag("--classes", mostly(st.sampled_from(["3", "3,5", "-1,1", "1"]),
                                 st.sampled_from(["a", "1,2,3", "", "nan", "1,1", "99"]))),
        flag("--split", names(["train", "test", "all"])),
        flag("--flip-prob", mostly(st.floats(0, 0.5).map(str))),
        switch("--rescale"), switch("--no-labels"), switch("--raw"),
        flag("--label-column", names(["y", "target", "3", "a"])),
        flag("--seed", mostly(st.integers(0, 2**31).map(str))), switch("--json"),
    ),
)  # fmt: skip
DATA_INFO = st.one_of(DISTRIBUTION_INFO, FILE_INFO)

BUDGETS = st.sampled_from(["0.01", "0.02", "0.05", "0", "-1", "nan", "inf", "-inf", "abc", ""])
LIPSCHITZ = st.tuples(
    st.just(["lipschitz"]),
    mostly(files(["net.pt", "mlp.pt", "state.pt"]), files(FILES)).map(lambda path: [path]),
    flag("--budget-seconds", BUDGETS).map(lambda part: part or ["--budget-seconds", "0.02"]),
    options(
        flag("--domain", names(["R^d", "rd", "ball", "sphere"])),
        flag("--methods", st.lists(names([*GROUPS, *METHODS]), min_size=1, max_size=3).map(
            ",".join)),
        flag("--data", mostly(files(["points.npy", "points.npz", "target.csv"]), files(FILES))),
        flag("--label-column", names(["y", "target"])),
        flag("--activation", mostly(st.sampled_from(["relu", "tanh", "leaky_relu"]),
                                    names(["relu", "tanh"]))),
        flag("--seed", mostly(st.integers(0, 2**31).map(str))),
        flag("--workers", st.sampled_from(["0", "-1", "1", "x", "1.5"])), switch("--json"),
    ),
)  # fmt: skip


def _mutated(base: dict, rng: random.Random, values: list) -> dict:
    """``base`` with 1-3 random edits: a key deleted, renamed or added, a value replaced."""
    spec = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        tables = [spec] + [v for v in spec.values() if isinstance(v, dict)]
        table = rng.choice(tables)
        keys = list(table)
        edit = rng.choice(("delete", "rename", "add", "replace", "replace", "typo"))
        if not keys or edit == "add":
            table[_typo(rng, rng.choice(keys or ["key"]))] = rng.choice(values)
            continue
        key = rng.choice(keys)
        if edit == "delete":
            del table[key]
        elif edit == "rename":
            table[_typo(rng, key)] = table.pop(key)
        elif edit == "typo" and isinstance(table[key], str):
            table[key] = _typo(rng, table[key])
        else:
            table[key] = rng.choice(values)
    return spec


SPEC_VALUES = st.lists(
    st.recursive(
        st.one_of(
            st.none(), st.booleans(), st.integers(-5, 50),
            st.sampled_from([0, -1, 10**9, 2**63, float("nan"), float("inf"), 1e308, 1e-308]),
            st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
            st.sampled_from(["sphere", "relu", "exact", "rd", "two_layer", "interpolate"]),
        ),
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.text(max_size=4), inner, max_size=2)),
        max_leaves=6,
    ),
    min_size=3,
    max_size=6,
)  # fmt: skip
#: Small values only, for specs that really run (a mutated size must not make a big run).
RUN_VALUES = st.lists(
    st.one_of(
        st.none(), st.booleans(), st.integers(-2, 12), st.text(max_size=5),
        st.sampled_from([float("nan"), float("inf"), 0.5, "relu", "sphere", "exact", [3, 0]]),
    ),
    min_size=3,
    max_size=6,
)  # fmt: skip


#: Where a case's mutated spec is written.
SPEC_OUT = "{out}/spec.yaml"


@st.composite
def spec_runs(draw) -> list:
    """``sweep run`` of a mutated packaged spec (a dry run), of the mutated small spec (a
    real run), or of a broken spec file."""
    rng = draw(st.randoms(use_true_random=False))
    source = draw(st.sampled_from(["packaged", "fast", "file"]))
    if source == "file":
        spec = draw(files(SPEC_FILES))
        dry = draw(st.booleans())
    elif source == "packaged":
        name = draw(st.sampled_from(PACKAGED))
        text = (resources.files("robustlaw.experiments") / "specs" / name).read_text("utf-8")
        mutated = _mutated(tomllib.loads(text), rng, draw(SPEC_VALUES))
        spec = SPEC_OUT, yaml.safe_dump(mutated)
        dry = True  # the packaged experiments take minutes to hours
    else:
        spec = SPEC_OUT, yaml.safe_dump(_mutated(FAST_SPEC, rng, draw(RUN_VALUES)))
        dry = draw(st.booleans())
    rest = draw(
        options(
            flag("--store", st.one_of(files(STORES), st.just("{out}/r.db"))).map(
                lambda part: part or ["--store", "{out}/r.db"]
            ),
            flag("--executor", names(["local"])),
            # a cluster nobody runs (a local Ray would take seconds to start per case)
            rarely(st.just(["--executor", "ray", "--address", "127.0.0.1:1"])),
            flag(
                "--threads", mostly(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-2", "x"]))
            ),
            flag(
                "--max-members",
                mostly(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-1", "x"])),
            ),
            flag("--device", st.sampled_from(["cpu", "auto", "tpu", "cuda:x", "", "cuda:99"])),
            rarely(flag("--address", st.sampled_from(["127.0.0.1:1", "auto"]))),
            rarely(flag("--num-cpus", st.sampled_from(["1", "0"]))),
            switch("--allow-failures"),
            switch("--no-progress"),
            switch("--json"),
        )
    )
    if isinstance(spec, tuple):
        spec, content = spec
        return [["sweep", "run", spec, *(["--dry-run"] if dry else []), *rest], content]
    return ["sweep", "run", spec, *(["--dry-run"] if dry else []), *rest]


SOME_STORE = mostly(st.just("{in}/store.db"), files(STORES)).map(lambda p: ["--store", p])
STATUS = st.tuples(
    st.just(["sweep", "status"]), options(mostly(SOME_STORE, st.just([])), switch("--json"))
)
EXPORT = st.tuples(
    st.just(["sweep", "export"]),
    options(
        mostly(st.sampled_from(["{out}/x.csv", "{out}/x.parquet"]), OUT).map(
            lambda path: ["-o", path]
        ),
        mostly(SOME_STORE, st.just([])),
        flag("--format", names(["csv", "parquet"])),
        flag("--spec", names(["fast", "demo"])),
        switch("--json"),
    ),
)
REPORT = st.tuples(
    st.just(["report"]),
    # a real report takes seconds: the sound store is drawn rarely
    st.one_of(files(STORES[1:]), files(STORES[1:]), files(STORES)).map(lambda p: [p]),
    OUT.map(lambda path: ["-o", path]),
    switch("--json"),
)
#: demo and reproduce runs take minutes: every drawn run carries one bad option.
BAD_RUN_OPTION = st.sampled_from(
    [["--executor", "dask"], ["--executor", "locl"], ["--address", "auto"], ["--device", "tpu"],
     ["--device", "cuda:x"], ["--scale", "huge"], ["--scale", ""]]
)  # fmt: skip
RUN_OPTIONS = options(
    flag("--out", st.sampled_from(["{out}/e", "{in}/points.csv", "{in}/folder"])),
    switch("--no-progress"),
    switch("--allow-failures"),
    switch("--json"),
)
# the bad option comes last: nothing after it can make the run valid again
DEMO = st.tuples(st.just(["demo"]), RUN_OPTIONS, BAD_RUN_OPTION)
REPRODUCE = st.one_of(
    st.tuples(
        st.just(["reproduce"]),
        names(list(CATALOG)).map(lambda name: [name]),
        RUN_OPTIONS,
        BAD_RUN_OPTION,
    ),
    st.tuples(
        st.just(["reproduce"]),
        st.one_of(st.just([]), names(list(CATALOG)).map(lambda name: [name])),
        st.sampled_from([["--list"], ["--list", "--json"], ["--print-spec"]]),
        flag("--scale", names(["tiny", "small", "full", "default"])),
    ),
)

COMMANDS = {
    "bound": BOUND,
    "data info": DATA_INFO,
    "lipschitz": LIPSCHITZ,
    "sweep run": spec_runs(),
    "sweep status": STATUS,
    "sweep export": EXPORT,
    "report": REPORT,
    "demo": DEMO,
    "reproduce": REPRODUCE,
}


def _case(drawn) -> tuple[list[str], str | None]:
    """(command line words, content of the case's spec file or None) of a drawn case."""
    if isinstance(drawn, list) and len(drawn) == 2 and isinstance(drawn[1], str):
        if isinstance(drawn[0], list):  # a sweep run of a spec written for the case
            return drawn[0], drawn[1]
    if isinstance(drawn, list) and all(isinstance(word, str) for word in drawn):
        return drawn, None
    return [word for part in drawn for word in part], None


# --------------------------------------------------------------------------- checks


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file below the folders: (size, mtime in ns); SQLite's -wal/-shm left out."""
    out = {}
    for folder in folders:
        for root, dirs, names_ in os.walk(folder):
            dirs[:] = [d for d in dirs if d != "cases"]
            for name in [*names_, *dirs]:
                path = Path(root) / name
                if path.name.endswith(("-wal", "-shm")):
                    continue
                stat = path.stat()
                out[str(path)] = (stat.st_size, stat.st_mtime_ns if path.is_file() else 0)
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    _inputs(folder)
    return folder


def test_every_command_line_exits_0_or_2_without_a_traceback(workspace, monkeypatch):
    monkeypatch.chdir(workspace)  # default output folders land in the workspace
    runner = CliRunner()
    seen: Counter[tuple[str, int]] = Counter()
    slow: list[tuple[float, list[str]]] = []
    cases = workspace / "cases"
    cases.mkdir()
    start = time.perf_counter()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(command=st.sampled_from(list(COMMANDS)), data=st.data())
    def one(command, data):
        words, content = _case(data.draw(COMMANDS[command]))
        out = Path(tempfile.mkdtemp(dir=cases))
        args = [w.replace("{in}", str(workspace)).replace("{out}", str(out)) for w in words]
        if content is not None:
            Path(SPEC_OUT.replace("{out}", str(out))).write_text(content)
        before = _snapshot(workspace, out)
        begun = time.perf_counter()
        result = runner.invoke(app, args)
        seen[(command, result.exit_code)] += 1
        if time.perf_counter() - begun > 5:
            slow.append((time.perf_counter() - begun, args))
        shown = " ".join(repr(a) if " " in a or not a else a for a in args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{shown}: {type(result.exception).__name__}: {result.exception}"
        )
        assert "Traceback" not in result.output, shown
        assert result.exit_code in (0, 1, 2), f"{shown}: exit {result.exit_code}"
        if result.exit_code == 1:
            runs = command in ("demo", "reproduce") or (
                command == "sweep run" and "--dry-run" not in args
            )
            assert runs and "trial(s) failed" in result.stderr, f"{shown}: {result.output}"
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, f"{shown}: {result.stderr}"
            assert result.stdout == "", f"{shown}: {result.stdout}"
            assert _snapshot(workspace, out) == before, f"{shown} wrote files on exit 2"
        if result.exit_code == 0 and "--json" in args:
            json.loads(result.stdout)
        shutil.rmtree(out, ignore_errors=True)

    one()
    seconds = time.perf_counter() - start
    total = sum(seen.values())
    table = "\n".join(f"  {c:<13} exit {e}: {n}" for (c, e), n in sorted(seen.items()))
    print(f"\n{total} command lines in {seconds:.0f} s\n{table}")
    for taken, args in sorted(slow, reverse=True)[:5]:
        print(f"  slow: {taken:.1f} s  {' '.join(args)}")
    assert total >= CASES
