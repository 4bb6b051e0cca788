"""The results store: concurrent writers lose nothing; views show exact vs bound and papers."""

from __future__ import annotations

import json
import math
import multiprocessing as mp

import pytest

from zoo.leaderboard import Leaderboard, views


def _row(i: int, **kw) -> dict:
    return {
        "model": f"m{i}",
        "family": "f",
        "estimate": "exact",
        "dataset": "d",
        "split": "test",
        "bits_per_dim": 1.0 + i / 100,
        "nats_per_example": (1.0 + i / 100) * 784 * math.log(2),
        **kw,
    }


def _writer(args):
    path, worker, n = args
    board = Leaderboard(path)
    for j in range(n):
        board.add(_row(worker * 1000 + j, extra={"worker": worker, "j": j}))
    return worker


def test_eight_processes_writing_at_once_lose_no_row(tmp_path):
    path = tmp_path / "lb.db"
    Leaderboard(path)
    n = 25
    with mp.get_context("spawn").Pool(8) as pool:
        done = pool.map(_writer, [(str(path), w, n) for w in range(8)])
    assert sorted(done) == list(range(8))
    board = Leaderboard(path)
    assert board.count() == 8 * n
    rows = board.rows(latest=False)
    seen = {(r["extra"]["worker"], r["extra"]["j"]) for r in rows}
    assert seen == {(w, j) for w in range(8) for j in range(n)}


def test_incomplete_or_nan_rows_are_refused(tmp_path):
    board = Leaderboard(tmp_path / "lb.db")
    with pytest.raises(ValueError, match="lacks"):
        board.add({"model": "m"})
    with pytest.raises(ValueError, match="finite"):
        board.add(_row(0, bits_per_dim=float("nan")))
    assert board.count() == 0


def test_latest_row_per_model_and_estimate_is_shown(tmp_path):
    board = Leaderboard(tmp_path / "lb.db")
    board.add(_row(1, bits_per_dim=2.0))
    board.add(_row(1, bits_per_dim=1.5))
    board.add(_row(1, bits_per_dim=1.7, estimate="iwae-50"))
    rows = board.rows()
    assert [(r["estimate"], r["bits_per_dim"]) for r in rows] == [("exact", 1.5), ("iwae-50", 1.7)]
    assert len(board.rows(latest=False)) == 3


def test_paper_figures_convert_to_bits_per_dim():
    # 81.30 nats on 784 binary pixels = 81.30 / (784 ln 2) bits/dim
    row = _row(0, paper_value=81.30, paper_unit="nats")
    assert views.paper_bits_per_dim(row) == pytest.approx(81.30 / (784 * math.log(2)))
    assert views.paper_bits_per_dim(_row(0, paper_value=141.2, paper_unit="perplexity")) == (
        pytest.approx(math.log2(141.2))
    )
    assert views.paper_bits_per_dim(_row(0, paper_value=3.0, paper_unit="bits/dim")) == 3.0
    assert views.paper_bits_per_dim(_row(0)) is None


def test_views_mark_bounds_and_round_trip_json(tmp_path):
    board = Leaderboard(tmp_path / "lb.db")
    board.add(_row(1, family="pixelcnn"))
    board.add(_row(2, family="vae", estimate="elbo", paper_value=86.76, paper_unit="nats"))
    rows = board.rows()
    md = views.to_markdown(rows)
    assert "| elbo |" in md and "| exact |" in md and "86.76 nats" in md
    parsed = json.loads(views.to_json(rows))
    assert {r["model"] for r in parsed} == {"m1", "m2"}
    assert views.to_csv(rows).splitlines()[0].startswith("id,")
    families, datasets, cells = views.matrix(rows)
    assert cells[("vae", "d")].endswith("≥") and not cells[("pixelcnn", "d")].endswith("≥")


def test_markdown_says_what_each_data_set_was_measured_on(tmp_path):
    board = Leaderboard(tmp_path / "lb.db")
    board.add(_row(1, source="MNIST test set, split 8000/1000/1000 with seed 0"))
    board.add(_row(2, dataset="e"))
    md = views.to_markdown(board.rows())
    assert "- d: MNIST test set, split 8000/1000/1000 with seed 0" in md
    assert "- e: source not recorded" in md
