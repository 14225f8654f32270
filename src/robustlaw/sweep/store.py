"""The results store: one SQLite file, one row per trial, one transaction per batch.

Layout
------
``trials``
    One row per trial hash; its columns are the fields of
    :class:`~robustlaw.sweep.records.Row`: the flat columns the analysis package reads
    (:data:`COLUMNS`), provenance (versions, device, host, ``finished_at`` in ISO 8601)
    and the JSON blobs (config, metrics, fit report, every Lipschitz result, data
    metadata, extras).
``specs``
    Every version of every spec run against the store: a spec name gets a new version
    when its trials change; its source (as parsed) is kept for reports.
``spec_trials``
    Which trial hashes belong to which version of which spec (written before anything
    runs, so that ``status`` can count pending trials).
``meta``
    The layout's version; a store written by an earlier version is upgraded when opened.

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

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robustlaw._names import unknown_name
from robustlaw.sweep.plan import Trial
from robustlaw.sweep.records import BLOB_COLUMNS, COLUMNS, TrialRecord, iso_time
from robustlaw.sweep.spec import Spec

__all__ = [
    "BLOB_COLUMNS",
    "COLUMNS",
    "DEFAULT_STORE",
    "Failure",
    "SpecStatus",
    "Store",
]

#: Where ``robustlaw sweep`` keeps results unless told otherwise.
DEFAULT_STORE = Path("robustlaw-results") / "results.db"

_INT_COLUMNS = [c for c, t in COLUMNS.items() if t.startswith("INTEGER") and c != "fit_reached"]
_FLOAT_COLUMNS = [c for c, t in COLUMNS.items() if t == "REAL"]
#: Layout versions: 1 kept one version per spec name and POSIX times; 2 keeps every
#: version of a spec and ISO 8601 times.
_SCHEMA_VERSION = 2
_SQLITE_HEADER = b"SQLite format 3\x00"
_ISO_FROM_POSIX = "strftime('%Y-%m-%dT%H:%M:%f', {0}, 'unixepoch') || '+00:00'"


@dataclass(frozen=True)
class Failure:
    """A trial of a spec version that failed, and why."""

    trial_hash: str
    error: str | None


@dataclass(frozen=True)
class SpecStatus:
    """Counts of one version of a spec's trials by state, and its failed trials."""

    spec_name: str
    version: int
    latest: bool
    experiment: str
    registered_at: str
    total: int
    done: int
    failed: int
    diverged: int
    pending: int
    failures: tuple[Failure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": [asdict(f) for f in self.failures]}


def _check_sqlite(path: Path) -> None:
    """ValueError unless ``path`` is a file SQLite can open as a database (or empty)."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a results store")
    if path.is_file():
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
        if header and header != _SQLITE_HEADER:
            raise ValueError(f"{path} is not a results store (not an SQLite database)")


def _digest(trials: Sequence[Trial]) -> str:
    return hashlib.sha256("\n".join(t.hash for t in trials).encode("ascii")).hexdigest()


class Store:
    """A SQLite results store (see the module docstring for the layout).

    Parameters
    ----------
    path : str or Path
        The database file; its directory is created when ``create`` is True.
    create : bool
        Create the file and schema when missing (the driver does); readers pass False
        and get a FileNotFoundError for a missing store.

    Raises
    ------
    FileNotFoundError
        ``create=False`` and no file at ``path``.
    ValueError
        ``path`` is a directory, a file that is not an SQLite database, or (for readers)
        a database without robustlaw's tables.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, *, create: bool = True) -> None:
        self.path = Path(path)
        _check_sqlite(self.path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no results store at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=60.0, isolation_level=None)
        try:
            self._conn.execute("PRAGMA busy_timeout = 60000")
            if not create and "trials" not in self._tables():
                raise ValueError(f"{self.path} is not a results store (no trials table)")
            if create:
                self._conn.execute("PRAGMA journal_mode = WAL")
            if self._outdated():
                self._create_schema()
            self._conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{self.path} is not a readable results store: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _tables(self) -> set[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _outdated(self) -> bool:
        """Whether the file lacks the current layout (new, earlier, or missing columns);
        an up-to-date store is opened without a write."""
        if "trials" not in self._tables() or self._schema_version(self._conn) != _SCHEMA_VERSION:
            return True
        return not {*COLUMNS, *BLOB_COLUMNS} <= self._columns(self._conn)

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        if "meta" not in self._tables():
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _create_schema(self) -> None:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS.items())
        blobs = ", ".join(f"{name} TEXT" for name in BLOB_COLUMNS)
        with self._transaction() as conn:
            version = self._schema_version(conn)
            if version > _SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path} was written by a newer robustlaw (store layout {version}, "
                    f"this one reads up to {_SCHEMA_VERSION})"
                )
            fresh = "trials" not in self._tables()
            conn.execute(f"CREATE TABLE IF NOT EXISTS trials ({columns}, {blobs})")
            if not fresh and version < 2:
                self._upgrade_from_1(conn)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS specs (spec_name TEXT NOT NULL, "
                "version INTEGER NOT NULL, digest TEXT, experiment TEXT, source TEXT, path TEXT, "
                "registered_at TEXT, updated_at TEXT, PRIMARY KEY (spec_name, version))"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS spec_trials (spec_name TEXT NOT NULL, "
                "version INTEGER NOT NULL, trial_hash TEXT NOT NULL, position INTEGER NOT NULL, "
                "PRIMARY KEY (spec_name, version, trial_hash)) WITHOUT ROWID"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(_SCHEMA_VERSION),),
            )
            conn.execute("CREATE INDEX IF NOT EXISTS trials_status ON trials (status)")
            present = self._columns(conn)
            for name, sql_type in [*COLUMNS.items(), *((b, "TEXT") for b in BLOB_COLUMNS)]:
                if name not in present:  # a store written by an earlier version
                    conn.execute(f"ALTER TABLE trials ADD COLUMN {name} {sql_type}")

    def _upgrade_from_1(self, conn: sqlite3.Connection) -> None:
        """Layout 1 -> 2: one version per spec name becomes version 1; POSIX times become
        ISO 8601."""
        tables = self._tables()
        conn.execute(
            f"UPDATE trials SET finished_at = {_ISO_FROM_POSIX.format('finished_at')} "
            "WHERE typeof(finished_at) IN ('real', 'integer')"
        )
        if "specs" not in tables:
            return
        conn.execute("ALTER TABLE specs RENAME TO specs_v1")
        conn.execute("ALTER TABLE spec_trials RENAME TO spec_trials_v1")
        conn.execute(
            "CREATE TABLE specs (spec_name TEXT NOT NULL, version INTEGER NOT NULL, "
            "digest TEXT, experiment TEXT, source TEXT, path TEXT, registered_at TEXT, "
            "updated_at TEXT, PRIMARY KEY (spec_name, version))"
        )
        conn.execute(
            "CREATE TABLE spec_trials (spec_name TEXT NOT NULL, version INTEGER NOT NULL, "
            "trial_hash TEXT NOT NULL, position INTEGER NOT NULL, "
            "PRIMARY KEY (spec_name, version, trial_hash)) WITHOUT ROWID"
        )
        conn.execute(
            "INSERT INTO spec_trials (spec_name, version, trial_hash, position) "
            "SELECT spec_name, 1, trial_hash, position FROM spec_trials_v1"
        )
        for (name,) in conn.execute("SELECT spec_name FROM specs_v1").fetchall():
            hashes = conn.execute(
                "SELECT trial_hash FROM spec_trials_v1 WHERE spec_name = ? ORDER BY position",
                (name,),
            ).fetchall()
            digest = hashlib.sha256("\n".join(h for (h,) in hashes).encode("ascii")).hexdigest()
            conn.execute(
                "INSERT INTO specs (spec_name, version, digest, experiment, source, path, "
                "registered_at, updated_at) SELECT spec_name, 1, ?, experiment, source, path, "
                f"{_ISO_FROM_POSIX.format('registered_at')}, "
                f"{_ISO_FROM_POSIX.format('updated_at')} FROM specs_v1 WHERE spec_name = ?",
                (digest, name),
            )
        conn.execute("DROP TABLE specs_v1")
        conn.execute("DROP TABLE spec_trials_v1")

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

    def register_spec(self, spec: Spec, trials: Sequence[Trial]) -> int:
        """Record a spec and its trial hashes; returns the spec's version.

        The same trials as the spec name's latest version keep that version (its source
        is updated); other trials make a new version, and earlier versions stay listed.
        """
        now = iso_time(time.time())
        source = json.dumps({"name": spec.name, **spec.source}, default=str)
        digest = _digest(trials)
        with self._transaction() as conn:
            latest = conn.execute(
                "SELECT version, digest FROM specs WHERE spec_name = ? "
                "ORDER BY version DESC LIMIT 1",
                (spec.name,),
            ).fetchone()
            if latest is not None and latest[1] == digest:
                conn.execute(
                    "UPDATE specs SET experiment = ?, source = ?, path = ?, updated_at = ? "
                    "WHERE spec_name = ? AND version = ?",
                    (spec.experiment, source, spec.path, now, spec.name, latest[0]),
                )
                return int(latest[0])
            version = 1 if latest is None else int(latest[0]) + 1
            conn.execute(
                "INSERT INTO specs (spec_name, version, digest, experiment, source, path, "
                "registered_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, version, digest, spec.experiment, source, spec.path, now, now),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO spec_trials (spec_name, version, trial_hash, position) "
                "VALUES (?, ?, ?, ?)",
                [(spec.name, version, t.hash, i) for i, t in enumerate(trials)],
            )
        return version

    def write_records(
        self, spec_name: str, records: Iterable[TrialRecord], executor: str | None = None
    ) -> int:
        """Write one batch's records in one transaction (a trial's row is replaced when it
        is already present). Returns the number of rows written."""
        rows = [record.row(spec_name, executor).values() for record in records]
        if not rows:
            return 0
        names = [*COLUMNS, *BLOB_COLUMNS]
        sql = (
            f"INSERT OR REPLACE INTO trials ({', '.join(names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with self._transaction() as conn:
            conn.executemany(sql, rows)
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
        cur = self._conn.execute("SELECT DISTINCT spec_name FROM specs ORDER BY spec_name")
        return [row[0] for row in cur]

    def _latest(self, spec_name: str) -> int:
        """The latest version of ``spec_name``; ValueError naming the known specs."""
        row = self._conn.execute(
            "SELECT MAX(version) FROM specs WHERE spec_name = ?", (spec_name,)
        ).fetchone()
        if row[0] is None:
            raise ValueError(f"{unknown_name(spec_name, self.spec_names(), 'spec')} in {self.path}")
        return int(row[0])

    def spec_source(self, spec_name: str) -> dict[str, Any] | None:
        """The latest version's content (as parsed from its file), or None."""
        row = self._conn.execute(
            "SELECT source FROM specs WHERE spec_name = ? ORDER BY version DESC LIMIT 1",
            (spec_name,),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def status(self) -> list[SpecStatus]:
        """Done / failed / diverged / pending counts and failed trials of every version of
        every registered spec (by name, then version)."""
        cur = self._conn.execute(
            "SELECT s.spec_name, s.version, s.experiment, s.registered_at, "
            "COUNT(m.trial_hash), SUM(t.status = 'done'), SUM(t.status = 'failed'), "
            "SUM(t.status = 'diverged'), SUM(t.status IS NULL) "
            "FROM specs s LEFT JOIN spec_trials m "
            "ON m.spec_name = s.spec_name AND m.version = s.version "
            "LEFT JOIN trials t ON t.trial_hash = m.trial_hash "
            "GROUP BY s.spec_name, s.version ORDER BY s.spec_name, s.version"
        )
        rows = cur.fetchall()
        latest = {name: version for name, version, *_ in rows}
        out = []
        for name, version, experiment, registered, total, *counts in rows:
            failures = self._conn.execute(
                "SELECT t.trial_hash, t.error FROM spec_trials m JOIN trials t "
                "ON t.trial_hash = m.trial_hash WHERE m.spec_name = ? AND m.version = ? "
                "AND t.status = 'failed' ORDER BY m.position",
                (name, version),
            ).fetchall()
            out.append(
                SpecStatus(
                    name,
                    int(version),
                    latest[name] == version,
                    experiment,
                    str(registered),
                    int(total),
                    *(int(v or 0) for v in counts),
                    failures=tuple(Failure(h, e) for h, e in failures),
                )
            )
        return out

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" for a sound file)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def load(self, spec_name: str | None = None):  # -> pandas.DataFrame
        """All trials (or the latest version of one spec's) as a DataFrame with the flat
        columns and JSON blobs.

        Integer columns use pandas' nullable ``Int64``, ``fit_reached`` the nullable
        ``boolean``; floats are NaN where not measured. ``frame.attrs["specs"]`` holds the
        registered specs (as written), ``frame.attrs["spec_paths"]`` the file each was read
        from (for reports that show a spec in its own language) and ``frame.attrs["meta"]``
        the store's path and
        the versions that produced the rows (read by :mod:`robustlaw.analysis.report`).

        Raises
        ------
        ValueError
            When ``spec_name`` is not registered in the store.
        """
        import pandas as pd

        select = ", ".join(f"t.{c}" for c in [*COLUMNS, *BLOB_COLUMNS])
        if spec_name is None:
            frame = pd.read_sql_query(
                f"SELECT {select} FROM trials t ORDER BY t.finished_at, t.trial_hash", self._conn
            )
        else:
            frame = pd.read_sql_query(
                f"SELECT {select} FROM spec_trials m JOIN trials t "
                "ON t.trial_hash = m.trial_hash WHERE m.spec_name = ? AND m.version = ? "
                "ORDER BY m.position",
                self._conn,
                params=(spec_name, self._latest(spec_name)),
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
        paths = dict(self._conn.execute("SELECT spec_name, path FROM specs ORDER BY version"))
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
        if path.is_dir():
            raise ValueError(f"{path} is a directory: give a file (.parquet or .csv)")
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
