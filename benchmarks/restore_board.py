"""Rebuild a leaderboard database from a committed board (``benchmarks/results/board_*.json``).

The boards are exported from SQLite files that live on the machine that measured them. On a
fresh machine, to rerun some entries and export the board again without losing the rows of
the others, restore the committed board into a database first, leaving out the entries that
are about to be rerun, then run them into the same database:

    python -m benchmarks.restore_board benchmarks/results/board_standard.json \
        --db /work/boards/standard.db --skip wavenet_ae_vq_fsdd vae_shakespeare_char

Each row goes back as it was measured: its date (``created``), commit, machine, command and
diagnostics (``extra``) are the row's own, in the order of their original ids, so the export
of the restored database reproduces the board. What the export derives (``flags``,
``paper_bits_per_dim``, ``command``, ``provenance``) is derived again, not stored. The run
folder (``run_dir``) is not in a board, so a restored row's configuration is checked against
the registry by its step count alone (:func:`benchmarks.export_boards.config_drift`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zoo.leaderboard import Leaderboard
from zoo.leaderboard.store import COLUMNS

DERIVED = ("flags", "paper_bits_per_dim", "command", "provenance")


def restore(board: str | Path, db: str | Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Add the rows of ``board`` (an exported board file) to leaderboard ``db``, but for the
    models in ``skip``; returns the models restored. The database may already hold rows of
    the skipped models (reruns made before the restore); rows of a model it would restore
    are refused, since restoring twice would double them."""
    record = json.loads(Path(board).read_text())
    if "rows" not in record or "suite" not in record:
        raise SystemExit(f"{board}: not an exported board (no 'suite' and 'rows')")
    unknown = set(skip) - {r["model"] for r in record["rows"]}
    if unknown:
        raise SystemExit(f"--skip names models the board has no row of: {sorted(unknown)}")
    lb = Leaderboard(db)
    have = {r["model"] for r in lb.rows(suite=record["suite"], latest=False)}
    twice = sorted(have & {r["model"] for r in record["rows"]} - set(skip))
    if twice:
        raise SystemExit(
            f"{db} already holds {record['suite']} rows of {', '.join(twice)}; restoring "
            "would add them twice. Restore into a new database, or --skip them."
        )
    done = []
    for row in sorted(record["rows"], key=lambda r: r.get("id", 0)):
        if row["model"] in skip:
            continue
        lb.add({k: v for k, v in row.items() if k in COLUMNS and k not in DERIVED})
        done.append(row["model"])
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("board", help="an exported board, e.g. benchmarks/results/board_standard.json")
    ap.add_argument("--db", required=True, help="the leaderboard file to restore into")
    ap.add_argument("--skip", nargs="*", default=[], help="models to leave out (to be rerun)")
    a = ap.parse_args(argv)
    done = restore(a.board, a.db, tuple(a.skip))
    print(f"{a.db}: {len(done)} rows restored from {a.board}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
