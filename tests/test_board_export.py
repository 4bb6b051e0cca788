"""The committed boards: `zoo leaderboard --format json` rows carry what the docs are generated
from, and benchmarks/export_boards.py adds each row's provenance and names the missing."""

from __future__ import annotations

import json

from benchmarks import export_boards
from zoo.bench import suite_entries
from zoo.cli import main
from zoo.leaderboard import Leaderboard

ROW_KEYS = {
    "model",
    "family",
    "dataset",
    "split",
    "cond",
    "estimate",
    "bits_per_dim",
    "train_steps",
    "flags",
    "perplexity",
    "bits_per_char",
}


def _fill(db) -> None:
    lb = Leaderboard(db)
    common = {"split": "test", "suite": "quick", "train_steps": 1, "code_version": "abc1234"}
    lb.add(
        {
            **common,
            "model": "independent_pydoc",
            "family": "independent",
            "estimate": "exact",
            "dataset": "pydoc_char",
            "bits_per_dim": 4.5,
            "perplexity": 22.6,
            "bits_per_char": 4.5,
            "extra": {"machine": "test box"},
        }
    )
    lb.add(
        {
            **common,
            "model": "ngram_mkn3_pydoc",
            "family": "ngram",
            "estimate": "exact",
            "dataset": "pydoc_char",
            "bits_per_dim": 4.6,  # worse than the baseline: flagged
            "perplexity": 24.3,
            "bits_per_char": 4.6,
            "extra": {"machine": "test box", "command": "zoo eval runs/x"},
        }
    )
    lb.add(
        {
            **common,
            "model": "pixelcnn_gated_digits",
            "family": "pixelcnn",
            "estimate": "exact",
            "dataset": "digits",
            "cond": "class",
            "bits_per_dim": 1.9,
        }
    )


def test_leaderboard_json_rows_carry_the_board_fields(tmp_path, capsys):
    db = tmp_path / "lb.db"
    _fill(db)
    assert main(["leaderboard", "--db", str(db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(ROW_KEYS <= set(r) for r in rows)
    text = {r["model"]: r for r in rows if r["dataset"] == "pydoc_char"}
    assert text["independent_pydoc"]["perplexity"] == 22.6
    assert text["independent_pydoc"]["bits_per_char"] == 4.5
    assert text["ngram_mkn3_pydoc"]["flags"] and not text["independent_pydoc"]["flags"]
    assert next(r for r in rows if r["dataset"] == "digits")["cond"] == "class"


def test_export_adds_provenance_and_names_the_entries_without_a_row(tmp_path):
    db = tmp_path / "lb.db"
    _fill(db)
    path = export_boards.export(db, "quick", tmp_path / "out")
    record = json.loads(path.read_text())
    assert path.name == "board_quick.json" and record["suite"] == "quick"
    rows = {r["model"]: r for r in record["rows"]}
    assert set(rows) == {"independent_pydoc", "ngram_mkn3_pydoc", "pixelcnn_gated_digits"}
    p = rows["independent_pydoc"]["provenance"]
    assert p["machine"] == "test box" and p["commit"] == "abc1234" and p["date"]
    assert p["command"] == "not recorded (a `zoo bench quick` row)"  # known, not made up
    assert not p["command_recorded"]
    assert rows["ngram_mkn3_pydoc"]["provenance"] == {
        **rows["ngram_mkn3_pydoc"]["provenance"],
        "command": "zoo eval runs/x",
        "command_recorded": True,
    }
    assert rows["ngram_mkn3_pydoc"]["command"] == "zoo eval runs/x"  # as zoo leaderboard gives
    assert all(ROW_KEYS <= set(r) and "run_dir" not in r for r in record["rows"])
    assert record["missing"] == [n for n in suite_entries("quick") if n not in rows]


def test_export_cli_writes_both_boards(tmp_path, monkeypatch):
    monkeypatch.setattr(export_boards, "data_available", lambda dataset, options: None)
    db = tmp_path / "lb.db"
    _fill(db)
    out = tmp_path / "out"
    argv = ["--quick-db", str(db), "--standard-db", str(db), "--out", str(out)]
    assert export_boards.main(argv) == 0
    assert not json.loads((out / "board_standard.json").read_text())["rows"]  # no standard rows
    assert len(json.loads((out / "board_quick.json").read_text())["rows"]) == 3


def test_an_empty_or_missing_database_gives_no_rows_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export_boards, "data_available", lambda dataset, options: None)
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("PRAGMA user_version = 0").connection.close()
    assert Leaderboard(empty, create=False).rows() == []
    assert main(["leaderboard", "--db", str(empty), "--format", "json"]) == 0
    out = tmp_path / "out"
    argv = ["--quick-db", str(tmp_path / "none.db"), "--standard-db", str(empty), "--out", str(out)]
    assert export_boards.main(argv) == 0
    assert not (out / "board_quick.json").exists()
    assert json.loads((out / "board_standard.json").read_text())["rows"] == []


MISSING_REGISTRY = """
models:
  had_row_digits:
    class: zoo.models.independent:Independent
    dataset: digits
    suites: [standard]
  unrun_digits:
    class: zoo.models.independent:Independent
    dataset: digits
    suites: [standard]
  no_data_cifar10:
    class: zoo.models.independent:Independent
    dataset: cifar10
    data: {root: ROOT}
    suites: [standard]
"""


def test_missing_entries_say_data_not_available_or_not_run(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "docs_gen", Path(__file__).resolve().parents[1] / "docs" / "gen.py"
    )
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    empty = tmp_path / "no-data-here"  # a data root without CIFAR-10, wherever this runs
    empty.mkdir()
    (tmp_path / "registry.yaml").write_text(MISSING_REGISTRY.replace("ROOT", str(empty)))
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(tmp_path / "registry.yaml"))
    db = tmp_path / "lb.db"
    Leaderboard(db).add(
        {
            "model": "had_row_digits",
            "family": "independent",
            "estimate": "exact",
            "dataset": "digits",
            "split": "test",
            "bits_per_dim": 3.0,
            "suite": "standard",
        }
    )
    out = tmp_path / "out"
    assert export_boards.main(["--standard-db", str(db), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not run: unrun_digits" in err and "not on this machine: no_data_cifar10" in err
    record = json.loads((out / "board_standard.json").read_text())
    assert sorted(record["missing"]) == ["no_data_cifar10", "unrun_digits"]
    assert record["not_run"] == ["unrun_digits"]
    [gone] = record["data_not_available"]
    assert gone["model"] == "no_data_cifar10" and gone["dataset"] == "cifar10"
    assert "CIFAR-10 not found" in gone["reason"]
    page = gen.board_page("standard", out)
    assert "data set is not available" in page and "`cifar10`: `no_data_cifar10`" in page
    assert "have not been run into this board yet: `unrun_digits`" in page
    assert "no_data_cifar10" not in page.split("have not been run")[1]


def test_a_row_from_an_earlier_configuration_is_flagged_with_the_differences(tmp_path):
    from zoo.engine.registry import get_entry

    entry = get_entry("vae_digits")
    run = tmp_path / "run"
    run.mkdir()
    config = {"hparams": dict(entry.hparams), "train": dict(entry.train)}
    (run / "config.json").write_text(json.dumps(config))
    assert export_boards.config_drift(run, "vae_digits") == []  # the entry as it is
    gone = tmp_path / "gone"  # no run folder: the row's steps against the budget
    assert export_boards.config_drift(gone, "vae_digits") == []
    assert export_boards.config_drift(gone, "vae_digits", entry.train["max_steps"]) == []
    assert export_boards.config_drift(gone, "vae_digits", 7) == [
        f"train.max_steps 7 (now {entry.train['max_steps']})"
    ]
    assert export_boards.config_drift(gone, "independent_digits", 1) == []  # a closed-form fit
    steps = entry.train["max_steps"]
    config["train"]["max_steps"] = steps // 2
    (run / "config.json").write_text(json.dumps(config))
    assert export_boards.config_drift(run, "vae_digits") == [
        f"train.max_steps {steps // 2} (now {steps})"
    ]
    db = tmp_path / "lb.db"
    Leaderboard(db).add(
        {
            "model": "vae_digits",
            "family": "vae",
            "estimate": "elbo",
            "dataset": "digits",
            "split": "test",
            "suite": "quick",
            "train_steps": steps // 2,
            "bits_per_dim": 2.2,
            "run_dir": str(run),
        }  # fmt: skip
    )
    row = export_boards.board(db, "quick")["rows"][0]
    assert row["flags"][-1] == (
        f"an earlier configuration of the entry: train.max_steps {steps // 2} (now {steps})"
    )
