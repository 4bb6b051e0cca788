"""Export the leaderboards as committed JSON: ``benchmarks/results/board_quick.json`` and
``board_standard.json``, the boards that the README and the docs site are generated from.

Each file holds the rows of ``zoo leaderboard --suite SUITE --format json`` (``model``,
``family``, ``dataset``, ``split``, ``cond``, ``estimate``, ``bits_per_dim``, ``train_steps``,
``flags``, ``perplexity`` / ``bits_per_char`` for text, ``command``, ...), each with its
``provenance`` (:func:`zoo.leaderboard.views.provenance`): the date it was measured, the
machine, the commit and the command, all from the row itself. A row whose database recorded
no command says so (``not recorded (a `zoo bench SUITE` row)``, ``command_recorded: false``):
no command is made up. The suite's registry entries that have no row are listed under
``missing`` and, split by why, under ``data_not_available`` (the entry's data set is not on
the machine that exported: ``{model, dataset, reason}``) and ``not_run`` (the data is there,
the entry was not run into this board). A row trained with another configuration than the
entry has now (its run folder's ``config.json`` against the registry) carries a flag that
names the differences.

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


def data_available(dataset: str, options: dict[str, Any]) -> str | None:
    """None if data set ``dataset`` (with the entry's ``options``) loads on this machine,
    else why not (the loader's :class:`~zoo.data.DatasetNotFound` message)."""
    from zoo.data import EMBEDDED, DatasetNotFound, dataset_options, load_dataset

    if dataset in EMBEDDED:  # shipped with the package or its dependencies: always there
        return None
    try:
        load_dataset(dataset, **dataset_options(dataset, **options))
    except DatasetNotFound as e:
        return " ".join(str(e).split())
    return None


def classify_missing(names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Entries with no row, split into (data set not on this machine, not run)."""
    from zoo.engine.registry import get_entry

    unavailable, not_run, why = [], [], {}
    for name in names:
        entry = get_entry(name)
        key = json.dumps([entry.dataset, entry.data], sort_keys=True, default=str)
        if key not in why:
            why[key] = data_available(entry.dataset, dict(entry.data))
        if why[key] is None:
            not_run.append(name)
        else:
            unavailable.append({"model": name, "dataset": entry.dataset, "reason": why[key]})
    return unavailable, not_run


def config_drift(run_dir: str | Path | None, name: str, steps: int | None = None) -> list[str]:
    """Where the configuration a row was trained with (its run's ``config.json``) differs from
    registry entry ``name`` now: ``["train.max_steps 20000 (now 46000)", ...]``. Without the
    run folder on this machine, the row's ``steps`` against the entry's budget (a count-based
    fit, 0 or 1 steps, has none). Empty when they agree or ``name`` is not registered."""
    from zoo.engine.registry import get_entry
    from zoo.errors import ZooInputError

    try:
        entry = get_entry(name)
    except (KeyError, ZooInputError):
        return []
    path = Path(run_dir) / "config.json" if run_dir else None
    if path is None or not path.is_file():
        budget = entry.train.get("max_steps")
        if steps is None or steps <= 1 or budget is None or steps == budget:
            return []
        return [f"train.max_steps {steps} (now {budget})"]
    used = json.loads(path.read_text())
    drift = []
    for part, now in (("hparams", entry.hparams), ("train", entry.train)):
        before = used.get(part) or {}
        for key, value in sorted(now.items()):
            was = before.get(key)
            same = json.dumps(was, sort_keys=True, default=str) == json.dumps(
                value, sort_keys=True, default=str
            )
            if not same and not (isinstance(was, (int, float)) and was == value):
                drift.append(f"{part}.{key} {was} (now {value})")
    return drift


def board(db: str | Path, suite: str) -> dict[str, Any]:
    """The board of ``suite`` in leaderboard ``db``: rows with provenance, and the missing
    (all, and split into ``data_not_available`` and ``not_run``)."""
    rows = Leaderboard(db, create=False).rows(suite=suite)
    out = json.loads(views.to_json(rows))
    for r in out:
        drift = config_drift(r.get("run_dir"), r["model"], r.get("train_steps"))
        if drift:  # the entry changed since this row was measured: say so on the row
            r["flags"] = list(r.get("flags") or []) + [
                "an earlier configuration of the entry: " + "; ".join(drift)
            ]
        r.pop("run_dir", None)  # a path on the machine that measured it, not provenance
    have = {r["model"] for r in out}
    missing = [name for name in suite_entries(suite) if name not in have]
    unavailable, not_run = classify_missing(missing)
    return {
        "suite": suite,
        "rows": out,
        "missing": missing,
        "data_not_available": unavailable,
        "not_run": not_run,
    }


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
            if record["not_run"]:
                print(f"  not run: {', '.join(record['not_run'])}", file=sys.stderr)
            if record["data_not_available"]:
                names = ", ".join(m["model"] for m in record["data_not_available"])
                print(f"  data set not on this machine: {names}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
