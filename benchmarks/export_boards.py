"""Export the leaderboards as committed JSON: ``benchmarks/results/board_quick.json`` and
``board_standard.json``, the boards that the README and the docs site are generated from.

Each file holds the rows of ``zoo leaderboard --suite SUITE --format json`` (``model``,
``family``, ``dataset``, ``split``, ``cond``, ``estimate``, ``bits_per_dim``, ``train_steps``,
``flags``, ``perplexity`` / ``bits_per_char`` for text, ...), each with its ``provenance``:
the date it was measured, the machine, the commit and the command. Date, machine and commit
come from the row itself; a row whose database recorded no command gets the suite command
that makes it (``zoo bench SUITE --only MODEL``) with ``command_recorded: false``. The
suite's registry entries that have no row are listed under ``missing``.

    python -m benchmarks.export_boards --quick-db /work/boards/quick.db \
        --standard-db /work/boards/standard.db [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from zoo.bench import suite_entries
from zoo.leaderboard import Leaderboard, views

RESULTS = Path(__file__).resolve().parent / "results"


def provenance(row: dict[str, Any], suite: str) -> dict[str, Any]:
    """Where one row comes from: date, machine, commit, command (recorded or the suite's)."""
    extra = row.get("extra") or {}
    command = extra.get("command")
    return {
        "date": row.get("created"),
        "machine": extra.get("machine"),
        "commit": row.get("code_version"),
        "command": command or f"zoo bench {suite} --only {row['model']}",
        "command_recorded": command is not None,
    }


def board(db: str | Path, suite: str) -> dict[str, Any]:
    """The board of ``suite`` in leaderboard ``db``: rows with provenance, and the missing."""
    rows = Leaderboard(db, create=False).rows(suite=suite)
    out = json.loads(views.to_json(rows))
    for r in out:
        r.pop("run_dir", None)  # a path on the machine that measured it, not provenance
        r["provenance"] = provenance(r, suite)
    have = {r["model"] for r in out}
    missing = [name for name in suite_entries(suite) if name not in have]
    return {"suite": suite, "rows": out, "missing": missing}


def export(db: str | Path, suite: str, out_dir: str | Path = RESULTS) -> Path:
    """Write ``out_dir/board_SUITE.json``; returns its path."""
    record = {
        "benchmark": f"board_{suite}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": platform.platform(),
        "command": f"python -m benchmarks.export_boards --{suite}-db {db}",
        **board(db, suite),
    }
    path = Path(out_dir) / f"board_{suite}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick-db", help="leaderboard holding the quick suite's rows")
    ap.add_argument("--standard-db", help="leaderboard holding the standard suite's rows")
    ap.add_argument("--out", default=str(RESULTS), help="folder (default: benchmarks/results)")
    a = ap.parse_args(argv)
    if not (a.quick_db or a.standard_db):
        ap.error("give --quick-db and/or --standard-db")
    for suite, db in (("quick", a.quick_db), ("standard", a.standard_db)):
        if db and not Path(db).exists():
            print(f"{db}: no leaderboard there; board_{suite}.json not written", file=sys.stderr)
        elif db:
            path = export(db, suite, a.out)
            record = json.loads(path.read_text())
            print(f"{path}: {len(record['rows'])} rows", file=sys.stderr)
            if record["missing"]:
                print(f"  no row for: {', '.join(record['missing'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
