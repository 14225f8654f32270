"""The results store: one SQLite file, one row per trial, one transaction per batch.

Layout
------
``trials``
    One row per trial hash: flat columns the analysis package reads (:data:`COLUMNS`),
    the JSON blobs (config, metrics, fit report, every Lipschitz result, data metadata,
    extras), timings, package and torch versions, device and host.
``specs``
    Each spec run against the store, with its source (as parsed) for reports.
``spec_trials``
    Which trial hashes belong to which spec (written before anything runs, so that
    ``status`` can count pending trials).

Floats are stored as IEEE doubles: NaN (not measured) becomes NULL, while +inf is kept
(e.g. the Lipschitz constant of a network of threshold units is proven infinite).

The database runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives a
killed process (``kill -9``), and a killed process leaves the file readable (SQLite rolls
the partial transaction back); only a power loss or an operating-system crash may lose the
last committed batches (never the file's consistency), which saves an fsync per batch.
The primary key on the trial hash makes a trial present at most once; rerunning a trial
replaces its row.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robustlaw.sweep.plan import Trial
from robustlaw.sweep.spec import Spec

__all__ = [
    "BLOB_COLUMNS",
    "COLUMNS",
    "DEFAULT_STORE",
    "SpecStatus",
    "Store",
    "flatten_record",
]

#: Where ``robustlaw sweep`` keeps results unless told otherwise.
DEFAULT_STORE = Path("robustlaw-results") / "results.db"

#: Flat columns and their SQLite types; the first block is the analysis contract.
COLUMNS: dict[str, str] = {
    "experiment": "TEXT",
    "spec_name": "TEXT",
    "trial_hash": "TEXT PRIMARY KEY",
    "status": "TEXT NOT NULL",
    "distribution": "TEXT",
    "labels": "TEXT",
    "n": "INTEGER",
    "d": "INTEGER",
    "intrinsic_dim": "REAL",
    "noise_level": "REAL",
    "family": "TEXT",
    "activation": "TEXT",
    "width": "INTEGER",
    "depth": "INTEGER",
    "p": "INTEGER",
    "seed": "INTEGER",
    "target": "TEXT",
    "eps": "REAL",
    "train_mse": "REAL",
    "fit_reached": "INTEGER",
    "lip_lower": "REAL",
    "lip_upper": "REAL",
    "lip_upper_method": "TEXT",
    "lip_lower_method": "TEXT",
    "lip_exact": "REAL",
    "sensitivity": "REAL",
    "robust_accuracy": "REAL",
    "pgd_radius": "REAL",
    "clean_accuracy": "REAL",
    "fit_seconds": "REAL",
    "lip_seconds": "REAL",
    # further measurements
    "certified_robust_accuracy": "REAL",
    "lip_floor": "REAL",
    # provenance and bookkeeping
    "kind": "TEXT",
    "dataset": "TEXT",
    "domain": "TEXT",
    "batch_key": "TEXT",
    "error": "TEXT",
    "seconds": "REAL",
    "batch_seconds": "REAL",
    "package_version": "TEXT",
    "torch_version": "TEXT",
    "device": "TEXT",
    "executor": "TEXT",
    "host": "TEXT",
    "finished_at": "REAL",
}

#: JSON columns (Python's json: NaN and inf round-trip).
BLOB_COLUMNS = (
    "config_json",
    "metrics_json",
    "fit_json",
    "lipschitz_json",
    "meta_json",
    "extra_json",
)

_INT_COLUMNS = [c for c, t in COLUMNS.items() if t.startswith("INTEGER") and c != "fit_reached"]
_FLOAT_COLUMNS = [c for c, t in COLUMNS.items() if t == "REAL"]
_SCHEMA_VERSION = "1"


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _integer(value: Any) -> int | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return int(out) if math.isfinite(out) else None


def flatten_record(record: Mapping[str, Any], spec_name: str, executor: str | None) -> dict:
    """A record from :func:`robustlaw.sweep.run.run_batch` as one row of ``trials``.

    Columns come from the trial's config (data, model, fit target, PGD radius) and are
    overridden by the runner's ``metrics`` where it measured them (e.g. n and d of a real
    data set, the noise level from the data's metadata).
    """
    config = record["config"]
    data, model, fit, lip = config["data"], config["model"], config["fit"], config["lipschitz"]
    metrics = dict(record.get("metrics") or {})
    family = model["family"]
    if family == "construction" and model.get("construction"):
        family = model["construction"]
    row: dict[str, Any] = {
        "experiment": config["experiment"],
        "spec_name": spec_name,
        "trial_hash": record["trial_hash"],
        "status": record["status"],
        "distribution": data.get("distribution") or data.get("dataset"),
        "labels": data.get("labels"),
        "n": data.get("n"),
        "d": data.get("d"),
        "intrinsic_dim": None,
        "noise_level": data.get("noise_level"),
        "family": family,
        "activation": model.get("activation"),
        "width": model.get("width"),
        "depth": None if model.get("hidden_layers") is None else model["hidden_layers"] + 1,
        "p": None,
        "seed": config.get("seed"),
        "target": fit.get("target"),
        "eps": fit.get("eps"),
        "pgd_radius": lip.get("pgd_radius"),
        "kind": config.get("kind"),
        "dataset": data.get("dataset"),
        "domain": lip.get("domain"),
        "batch_key": record.get("batch_key"),
        "error": record.get("error"),
        "fit_seconds": record.get("fit_seconds"),
        "lip_seconds": record.get("lip_seconds"),
        "seconds": record.get("seconds"),
        "batch_seconds": record.get("batch_seconds"),
        "package_version": record.get("package_version"),
        "torch_version": record.get("torch_version"),
        "device": record.get("device"),
        "executor": executor,
        "host": record.get("host"),
        "finished_at": record.get("finished_at"),
    }
    for key, value in metrics.items():
        if key in COLUMNS and key not in ("trial_hash", "spec_name", "status", "experiment"):
            row[key] = value
    out: dict[str, Any] = {}
    for column, sql_type in COLUMNS.items():
        value = row.get(column)
        if column == "fit_reached":
            out[column] = None if value is None else int(bool(value))
        elif sql_type.startswith("INTEGER"):
            out[column] = _integer(value)
        elif sql_type == "REAL":
            out[column] = _number(value)
        else:
            out[column] = None if value is None else str(value)
    out["config_json"] = json.dumps(config, sort_keys=True)
    out["metrics_json"] = json.dumps(metrics, sort_keys=True, default=str)
    for key in ("fit", "lipschitz", "meta", "extra"):
        value = record.get(key)
        out[f"{key}_json"] = None if value is None else json.dumps(value, default=str)
    return out


@dataclass(frozen=True)
class SpecStatus:
    """Counts of a spec's trials by state."""

    spec_name: str
    experiment: str
    total: int
    done: int
    failed: int
    diverged: int
    pending: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Store:
    """A SQLite results store (see the module docstring for the layout).

    Parameters
    ----------
    path : str or Path
        The database file; its directory is created when ``create`` is True.
    create : bool
        Create the file and schema when missing (the driver does); readers pass False
        and get a FileNotFoundError for a missing store.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no results store at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 60000")
        if create:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._create_schema()
        self._conn.execute("PRAGMA synchronous = NORMAL")

    # ------------------------------------------------------------------ plumbing

    def _create_schema(self) -> None:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS.items())
        blobs = ", ".join(f"{name} TEXT" for name in BLOB_COLUMNS)
        with self._transaction() as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS trials ({columns}, {blobs})")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS specs (spec_name TEXT PRIMARY KEY, experiment TEXT, "
                "source TEXT, path TEXT, registered_at REAL, updated_at REAL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS spec_trials (spec_name TEXT NOT NULL, "
                "trial_hash TEXT NOT NULL, position INTEGER NOT NULL, "
                "PRIMARY KEY (spec_name, trial_hash)) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (_SCHEMA_VERSION,),
            )
            conn.execute("CREATE INDEX IF NOT EXISTS trials_status ON trials (status)")
            present = self._columns(conn)
            for name, sql_type in [*COLUMNS.items(), *((b, "TEXT") for b in BLOB_COLUMNS)]:
                if name not in present:  # a store written by an earlier version
                    conn.execute(f"ALTER TABLE trials ADD COLUMN {name} {sql_type}")

    @staticmethod
    def _columns(conn: sqlite3.Connection) -> set[str]:
        return {row[1] for row in conn.execute("PRAGMA table_info(trials)")}

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")

    def _transaction(self) -> Store._Tx:
        return Store._Tx(self._conn)

    def close(self) -> None:
        """Close the connection (the file stays consistent without it)."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def register_spec(self, spec: Spec, trials: Sequence[Trial]) -> None:
        """Record a spec and its trial hashes (replacing an earlier registration)."""
        now = time.time()
        source = json.dumps({"name": spec.name, **spec.source}, default=str)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO specs (spec_name, experiment, source, path, registered_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(spec_name) DO UPDATE SET "
                "experiment = excluded.experiment, source = excluded.source, "
                "path = excluded.path, updated_at = excluded.updated_at",
                (spec.name, spec.experiment, source, spec.path, now, now),
            )
            conn.execute("DELETE FROM spec_trials WHERE spec_name = ?", (spec.name,))
            conn.executemany(
                "INSERT OR IGNORE INTO spec_trials (spec_name, trial_hash, position) "
                "VALUES (?, ?, ?)",
                [(spec.name, t.hash, i) for i, t in enumerate(trials)],
            )

    def write_records(
        self, spec_name: str, records: Iterable[Mapping[str, Any]], executor: str | None = None
    ) -> int:
        """Write one batch's records in one transaction (a trial's row is replaced when it
        is already present). Returns the number of rows written."""
        rows = [flatten_record(r, spec_name, executor) for r in records]
        if not rows:
            return 0
        names = list(rows[0])
        sql = (
            f"INSERT OR REPLACE INTO trials ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with self._transaction() as conn:
            conn.executemany(sql, [tuple(row[n] for n in names) for row in rows])
        return len(rows)

    # ------------------------------------------------------------------ reading

    def finished_hashes(self) -> set[str]:
        """Hashes of trials that need no rerun: status "done" or "diverged"."""
        cur = self._conn.execute(
            "SELECT trial_hash FROM trials WHERE status IN ('done', 'diverged')"
        )
        return {row[0] for row in cur}

    def timings(self) -> list[tuple[float, str]]:
        """(seconds, config JSON) of every finished trial with a recorded time (its share
        of its batch's wall time), for sizing later runs."""
        cur = self._conn.execute(
            "SELECT seconds, config_json FROM trials "
            "WHERE status = 'done' AND seconds IS NOT NULL AND config_json IS NOT NULL"
        )
        return [(float(seconds), str(config)) for seconds, config in cur]

    def statuses(self) -> dict[str, str]:
        """trial hash -> status, for every stored trial."""
        return dict(self._conn.execute("SELECT trial_hash, status FROM trials"))

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def spec_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT spec_name FROM specs ORDER BY spec_name")]

    def spec_source(self, spec_name: str) -> dict[str, Any] | None:
        """The registered spec's content (as parsed from its file), or None."""
        row = self._conn.execute(
            "SELECT source FROM specs WHERE spec_name = ?", (spec_name,)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def status(self) -> list[SpecStatus]:
        """Done / failed / diverged / pending counts for every registered spec."""
        cur = self._conn.execute(
            "SELECT s.spec_name, s.experiment, COUNT(m.trial_hash), "
            "SUM(t.status = 'done'), SUM(t.status = 'failed'), SUM(t.status = 'diverged'), "
            "SUM(t.status IS NULL) "
            "FROM specs s LEFT JOIN spec_trials m ON m.spec_name = s.spec_name "
            "LEFT JOIN trials t ON t.trial_hash = m.trial_hash "
            "GROUP BY s.spec_name ORDER BY s.spec_name"
        )
        return [
            SpecStatus(name, exp, int(total), *(int(v or 0) for v in counts))
            for name, exp, total, *counts in cur
        ]

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" for a sound file)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def load(self, spec_name: str | None = None):  # -> pandas.DataFrame
        """All trials (or one spec's) as a DataFrame with the flat columns and JSON blobs.

        Integer columns use pandas' nullable ``Int64``, ``fit_reached`` the nullable
        ``boolean``; floats are NaN where not measured. ``frame.attrs["specs"]`` holds the
        registered specs (as written), ``frame.attrs["spec_paths"]`` the file each was read
        from (for reports that show a spec in its own language) and ``frame.attrs["meta"]``
        the store's path and
        the versions that produced the rows (read by :mod:`robustlaw.analysis.report`).
        """
        import pandas as pd

        names = [*COLUMNS, *BLOB_COLUMNS]
        present = self._columns(self._conn)
        select = ", ".join(f"t.{c}" if c in present else f"NULL AS {c}" for c in names)
        if spec_name is None:
            frame = pd.read_sql_query(
                f"SELECT {select} FROM trials t ORDER BY t.finished_at, t.trial_hash", self._conn
            )
        else:
            frame = pd.read_sql_query(
                f"SELECT {select} FROM spec_trials m JOIN trials t "
                "ON t.trial_hash = m.trial_hash WHERE m.spec_name = ? ORDER BY m.position",
                self._conn,
                params=(spec_name,),
            )
            frame["spec_name"] = spec_name
        for column in _INT_COLUMNS:
            frame[column] = pd.array(frame[column], dtype="Int64")
        for column in _FLOAT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        frame["fit_reached"] = pd.array(
            [None if pd.isna(v) else bool(v) for v in frame["fit_reached"]], dtype="boolean"
        )
        names = self.spec_names() if spec_name is None else [spec_name]
        frame.attrs["specs"] = [s for s in map(self.spec_source, names) if s is not None]
        paths = dict(self._conn.execute("SELECT spec_name, path FROM specs").fetchall())
        frame.attrs["spec_paths"] = {n: paths[n] for n in names if paths.get(n)}
        frame.attrs["meta"] = {
            "store": str(self.path),
            "package versions": ", ".join(sorted(set(frame["package_version"].dropna()))),
            "torch versions": ", ".join(sorted(set(frame["torch_version"].dropna()))),
            "devices": ", ".join(sorted(set(frame["device"].dropna()))),
        }
        return frame

    def export(
        self, path: str | Path, fmt: str | None = None, spec_name: str | None = None
    ) -> Path:
        """Write the trials to Parquet or CSV (format from ``fmt`` or the file suffix)."""
        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"export format must be 'parquet' or 'csv', got {fmt!r}")
        frame = self.load(spec_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
        return path
