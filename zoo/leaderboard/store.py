"""The leaderboard: one SQLite row per evaluation, safe for many writers at once.

SQLite in WAL mode with a busy timeout lets several processes append concurrently; each row
is written in its own transaction, so a row is either wholly there or not there at all.

Which row a table shows when one model was evaluated several times: the newest per (model,
run folder, data set, split, estimate), where newest means the largest ``id``. SQLite hands
out ids in commit order (AUTOINCREMENT never reuses one), so concurrent writers cannot make
the choice depend on their clocks: the evaluation committed last is the one shown.

Opening checks the file before SQLite touches it: a directory, a file that is not SQLite, or
a SQLite file of something else is an error that leaves it as it was; reading
(``create=False``) never creates a file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from zoo.errors import ZooInputError

COLUMNS: dict[str, str] = {
    "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "created": "TEXT NOT NULL",
    "model": "TEXT NOT NULL",
    "family": "TEXT NOT NULL",
    "estimate": "TEXT NOT NULL",  # exact | elbo | iwae-<k> | bound
    "dataset": "TEXT NOT NULL",
    "split": "TEXT NOT NULL",  # test, or the subset scored: test[:512]
    "cond": "TEXT",  # what the likelihood is conditioned on: none | class | speaker
    "bits_per_dim": "REAL NOT NULL",
    "nats_per_example": "REAL",
    "perplexity": "REAL",
    "bits_per_char": "REAL",
    "bits_per_second": "REAL",
    "n_examples": "INTEGER",
    "parameters": "INTEGER",
    "train_seconds": "REAL",
    "train_steps": "INTEGER",
    "device": "TEXT",
    "code_version": "TEXT",
    "run_dir": "TEXT",
    "suite": "TEXT",
    "paper_value": "REAL",
    "paper_unit": "TEXT",
    "paper_cite": "TEXT",
    "paper_estimate": "TEXT",  # the paper's estimate (exact | elbo | iwae-<k> | bound)
    "source": "TEXT",
    "extra": "TEXT",  # JSON: family diagnostics (KL, active units, codebook usage, ...)
}
REQUIRED = ("model", "family", "estimate", "dataset", "split", "bits_per_dim")
SQLITE_MAGIC = b"SQLite format 3\x00"


def default_db_path() -> Path:
    """``$ZOO_LEADERBOARD``, else ``$ZOO_HOME/leaderboard.db``, else
    ``$XDG_CACHE_HOME/zoo/leaderboard.db`` (~/.cache/zoo; see :mod:`zoo.core.paths`)."""
    from zoo.core.paths import leaderboard_path

    return leaderboard_path()


def _check_file(path: Path, create: bool) -> None:
    """Refuse, before SQLite opens it, what is not (or cannot become) a leaderboard."""
    if path.is_dir():
        raise ZooInputError(f"--db {path} is a directory; give a file such as {path}/lb.db")
    if not path.exists():
        if not create:
            raise ZooInputError(f"no leaderboard at {path}; `zoo eval` or `zoo bench` makes one")
        return
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise ZooInputError(f"--db {path} is not a SQLite file; give a leaderboard file")


class Leaderboard:
    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        _check_file(self.path, create)
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True)) as con:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        except sqlite3.OperationalError:  # no file yet
            tables = set()
        except sqlite3.DatabaseError as e:
            raise ZooInputError(f"--db {self.path}: not a readable SQLite file ({e})") from None
        if tables and "results" not in tables:
            raise ZooInputError(
                f"--db {self.path} is a SQLite file of something else (tables "
                f"{', '.join(sorted(tables))}), not a zoo leaderboard"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
                con.execute(f"CREATE TABLE IF NOT EXISTS results ({cols})")
                have = {r[1] for r in con.execute("PRAGMA table_info(results)")}
                for name in COLUMNS.keys() - have:  # a file written before the column existed
                    con.execute(f"ALTER TABLE results ADD COLUMN {name} {COLUMNS[name]}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=60000")
            yield con
        finally:
            con.close()

    def add(self, row: dict[str, Any]) -> int:
        """Insert one evaluation; returns its id. Unknown keys go into ``extra``."""
        missing = [k for k in REQUIRED if row.get(k) is None]
        if missing:
            raise ValueError(f"leaderboard row lacks {missing}")
        if (
            not isinstance(row["bits_per_dim"], (int, float))
            or row["bits_per_dim"] != row["bits_per_dim"]
        ):
            raise ValueError(f"bits_per_dim must be a finite number, got {row['bits_per_dim']!r}")
        row = dict(row)
        extra = dict(row.pop("extra", None) or {})
        for key in list(row):
            if key not in COLUMNS:
                extra[key] = row.pop(key)
        row["extra"] = json.dumps(extra, default=str) if extra else None
        row.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        row.pop("id", None)
        keys = list(row)
        sql = f"INSERT INTO results ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})"
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute(sql, [row[k] for k in keys])
            con.execute("COMMIT")
            return int(cur.lastrowid)

    def rows(
        self,
        *,
        dataset: str | None = None,
        model: str | None = None,
        split: str | None = None,
        suite: str | None = None,
        latest: bool = True,
    ) -> list[dict[str, Any]]:
        """Rows, best bits/dim first; ``latest`` keeps the newest row (largest id) per (model,
        run folder, data set, split, estimate)."""
        where, args = [], []
        for col, val in (
            ("dataset", dataset),
            ("model", model),
            ("split", split),
            ("suite", suite),
        ):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'results'").fetchone():
                return []  # an empty SQLite file (another writer is just creating it): no rows
            out = [dict(r) for r in con.execute(sql, args)]
        for r in out:
            r["extra"] = json.loads(r["extra"]) if r["extra"] else {}
            r["cond"] = r["cond"] or "none"
        if latest:
            newest: dict[tuple, dict] = {}
            for r in out:
                key = ("model", "run_dir", "dataset", "split", "estimate", "cond")
                newest[tuple(r.get(c) for c in key)] = r
            out = list(newest.values())
        return sorted(out, key=lambda r: (r["dataset"], r["bits_per_dim"]))

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
