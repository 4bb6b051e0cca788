"""Restoring a committed board into a database and exporting it again gives the same board."""

from __future__ import annotations

import json

import pytest

from benchmarks import export_boards, restore_board

pytestmark = pytest.mark.xdist_group("boards")


@pytest.mark.parametrize("suite", ["quick", "standard"])
def test_restore_then_export_round_trips(tmp_path, suite):
    path = export_boards.RESULTS / f"board_{suite}.json"
    committed = json.loads(path.read_text())
    db = tmp_path / "lb.db"
    restore_board.restore(path, db)
    again = export_boards.board(db, suite)

    def strip(rows):  # ids are new; a flag of drift from the registry is the registry's
        out = []
        for r in rows:
            r = {k: v for k, v in r.items() if k != "id"}
            r["flags"] = [f for f in r["flags"] if not f.startswith("an earlier configuration")]
            out.append(json.dumps(r, sort_keys=True))
        return sorted(out)

    assert strip(again["rows"]) == strip(committed["rows"])
    assert again["missing"] == committed["missing"]


def test_skip_leaves_the_models_out_and_a_second_restore_is_refused(tmp_path):
    path = export_boards.RESULTS / "board_quick.json"
    rows = json.loads(path.read_text())["rows"]
    model = rows[0]["model"]
    db = tmp_path / "lb.db"
    done = restore_board.restore(path, db, skip=(model,))
    assert model not in done and len(done) == sum(r["model"] != model for r in rows)
    assert model in export_boards.board(db, "quick")["missing"]
    with pytest.raises(SystemExit, match=f"already holds quick rows of .*{rows[1]['model']}"):
        restore_board.restore(path, db)
    # a database holding only the skipped model's rerun takes the rest
    rerun = tmp_path / "rerun.db"
    restore_board.restore(path, rerun, skip=tuple(r["model"] for r in rows[1:]))
    assert len(restore_board.restore(path, rerun, skip=(model,))) == len(rows) - 1
    with pytest.raises(SystemExit, match="no row of"):
        restore_board.restore(path, tmp_path / "other.db", skip=("no_such_model",))
