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
    assert cells[("vae", "d")] == "1.020 ≥ elbo" and cells[("pixelcnn", "d")] == "1.010"


def test_markdown_says_what_each_data_set_was_measured_on(tmp_path):
    board = Leaderboard(tmp_path / "lb.db")
    board.add(_row(1, source="MNIST test set, split 8000/1000/1000 with seed 0"))
    board.add(_row(2, dataset="e"))
    md = views.to_markdown(board.rows())
    assert "- d: MNIST test set, split 8000/1000/1000 with seed 0" in md
    assert "- e: source not recorded" in md


def _views_text(rows) -> str:
    """Everything a user can see: markdown, matrix, rich tables, CSV."""
    from rich.console import Console

    console = Console(record=True, width=400)
    console.print(views.render_rich(rows))
    console.print(views.render_matrix_rich(rows))
    return "\n".join(
        [
            views.to_markdown(rows),
            views.matrix_markdown(rows),
            console.export_text(),
            views.to_csv(rows),
        ]
    )


def test_conditional_rows_are_ranked_apart_from_unconditional_ones_in_every_view():
    rows = [
        _row(1, family="independent", bits_per_dim=2.0),
        _row(2, model="uncond", family="pixelcnn", bits_per_dim=1.5),
        _row(3, model="given_class", family="pixelcnn", bits_per_dim=1.2, cond="class"),
    ]
    _, datasets, cells = views.matrix(rows)
    assert cells[("pixelcnn", "d")] == "1.500"  # the conditional 1.2 does not win the cell
    assert views.matrix(rows, conditional=True)[2] == {("pixelcnn", "d"): "1.200"}
    md = views.to_markdown(rows)
    ranked, conditional = md.split("Conditional models")
    assert "uncond" in ranked and "given_class" not in ranked
    assert "| given_class | pixelcnn | class |" in conditional
    assert _views_text(rows).count("Conditional models") >= 3  # markdown, matrix, rich


def test_matrix_takes_the_test_split_and_one_declared_estimate_per_row():
    rows = [
        _row(1, model="vae", family="vae", estimate="elbo", bits_per_dim=1.3),
        _row(
            1,
            model="vae",
            family="vae",
            estimate="iwae-50",
            bits_per_dim=1.2,
            extra={"declared": False},
        ),  # an extra evaluation: not the entry's estimate
        _row(1, model="vae", family="vae", split="train", estimate="elbo", bits_per_dim=1.0),
        _row(
            2,
            model="iw",
            family="iwae",
            estimate="iwae-5000",
            bits_per_dim=1.25,
            extra={"declared": True},
        ),
        _row(3, dataset="e", split="test[:512]", bits_per_dim=3.0),
    ]
    families, datasets, cells = views.matrix(rows)
    assert cells[("vae", "d")] == "1.300 ≥ elbo"  # neither the train row nor the extra IWAE
    assert cells[("iwae", "d")] == "1.250 ≥ iwae-5000"
    assert "e test[:512]" in datasets  # a subset says so in its column


def test_paper_column_names_both_estimates_unless_they_are_the_same():
    nats = dict(paper_value=86.76, paper_unit="nats")
    elbo = _row(1, estimate="elbo", paper_estimate="iwae-5000", **nats)
    iwae = _row(1, estimate="iwae-5000", paper_estimate="iwae-5000", **nats)
    assert views._paper(elbo).startswith("ours elbo vs paper iwae-5000: ")
    assert "vs" not in views._paper(iwae) and "86.76 nats" in views._paper(iwae)


def test_rows_that_do_not_beat_the_baseline_or_collapsed_are_flagged_in_every_view():
    rows = [
        _row(1, family="independent", bits_per_dim=2.0),
        _row(2, model="worse", family="vae", estimate="elbo", bits_per_dim=2.1),
        _row(
            3,
            model="collapsed",
            family="vqvae",
            estimate="bound",
            bits_per_dim=1.5,
            extra={"codebook_perplexity": 1.2, "codes_used": 2, "num_codes": 64},
        ),
        _row(
            4,
            model="dead",
            family="vae",
            estimate="elbo",
            bits_per_dim=1.6,
            extra={"active_units": 0.0, "latent_units": 50.0},
        ),
        _row(5, model="fine", family="pixelcnn", bits_per_dim=1.4),
        _row(6, model="other_split", family="vae", split="valid", bits_per_dim=9.0),
    ]
    by_model = {r["model"]: r["flags"] for r in views.annotate(rows)}
    assert by_model["worse"] == ["no better than the independent baseline (2.0000 bits/dim)"]
    assert by_model["collapsed"] == [
        "codebook collapsed: code-usage perplexity 1.2 of 64 codes (2 used)"
    ]
    assert by_model["dead"] == ["posterior collapsed: 0 of 50 latent units active"]
    assert by_model["fine"] == [] and by_model["other_split"] == []  # no baseline on valid
    text = _views_text(rows)
    assert text.count("no better than the independent baseline") >= 3  # md, rich, csv
    assert text.count("codebook collapsed") >= 3
    assert views.matrix(rows)[2][("vqvae", "d")].endswith("⚠")


def test_a_leaderboard_file_from_before_the_cond_column_still_opens(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, "
        "model TEXT NOT NULL, family TEXT NOT NULL, estimate TEXT NOT NULL, dataset TEXT NOT "
        "NULL, split TEXT NOT NULL, bits_per_dim REAL NOT NULL, extra TEXT)"
    )
    con.execute(
        "INSERT INTO results (created, model, family, estimate, dataset, split, bits_per_dim) "
        "VALUES ('2026-01-01T00:00:00', 'm', 'f', 'exact', 'd', 'test', 1.0)"
    )
    con.commit()
    con.close()
    board = Leaderboard(path)
    board.add(_row(1, cond="class"))
    assert sorted(r["cond"] for r in board.rows()) == ["class", "none"]


def test_evaluation_is_reproducible_and_names_its_subset_and_conditioning(tmp_path):
    from zoo.engine.runs import eval_run, train_run

    train = {"max_steps": 2, "device": "cpu", "warmup_steps": 0, "eval_every": 1000}
    vae = train_run(
        "vae_digits", run_dir=tmp_path / "vae", train=train, hparams={"hidden": [8], "metrics_k": 2}
    )
    db = tmp_path / "lb.db"
    first = eval_run(vae, record=Leaderboard(db).add, max_examples=40, k=3)
    second = eval_run(vae, record=Leaderboard(db).add, max_examples=40, k=3)
    assert first["bits_per_dim"] == second["bits_per_dim"]  # latents drawn from the run's seed
    timeless = {k for k in first["extra"] if k != "eval_seconds"}
    assert {k: first["extra"][k] for k in timeless} == {k: second["extra"][k] for k in timeless}
    assert first["split"] == "test[:40]" and first["cond"] == "none"
    assert first["extra"]["declared"] is False  # vae_digits declares no IWAE evaluation
    gated = train_run(
        "pixelcnn_gated_digits",
        run_dir=tmp_path / "gated",
        train=train,
        hparams={"channels": 4, "layers": 1},
    )
    row = eval_run(gated, record=Leaderboard(db).add)
    assert row["cond"] == "class" and row["split"] == "test"
