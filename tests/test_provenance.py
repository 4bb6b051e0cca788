"""Every board figure's provenance (issue 29): date, machine, commit and the command that made
it, recorded by `zoo train` / `zoo eval` / `zoo bench` (or "Python API: ..."), carried by
`zoo leaderboard --format json`; rows written before commands were recorded say so."""

from __future__ import annotations

import json

import pytest

from zoo.cli import main
from zoo.leaderboard import Leaderboard, views

TINY_REGISTRY = """
models:
  tiny_digits:
    class: zoo.models.independent:Independent
    dataset: digits
    train: {max_steps: 2, warmup_steps: 0, eval_every: 1000}
    suites: [quick]
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    (tmp_path / "registry.yaml").write_text(TINY_REGISTRY)
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(tmp_path / "registry.yaml"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    return tmp_path


def _json_rows(db, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(db), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_zoo_train_and_zoo_eval_record_their_command_lines(tiny, capsys):
    run, db = tiny / "run", tiny / "lb.db"
    train = ["train", "tiny_digits", "-q", "--max-steps", "2", "--run-dir", str(run)]
    assert main(train) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["command"] == f"zoo train tiny_digits -q --max-steps 2 --run-dir {run}"
    assert main(["eval", str(run), "--db", str(db), "-q"]) == 0
    [row] = _json_rows(db, capsys)
    assert row["command"] == f"zoo eval {run} --db {db} -q"
    p = row["provenance"]
    assert p["command"] == row["command"] and p["command_recorded"] is True
    assert p["train_command"] == config["command"]
    assert p["date"] and p["machine"] and p["commit"] == config["code_version"]


def test_zoo_bench_records_its_command_on_every_row_and_run(tiny, capsys):
    db, runs = tiny / "lb.db", tiny / "runs"
    argv = ["bench", "quick", "--db", str(db), "--runs", str(runs), "--report"]
    argv += [str(tiny / "report"), "--samples", "0", "-q", "--device", "cpu"]
    assert main(argv) == 0
    command = "zoo " + " ".join(argv)
    [row] = _json_rows(db, capsys)
    assert row["command"] == command and row["provenance"]["command_recorded"]
    assert "train_command" not in row["provenance"]  # the same command trained it
    assert json.loads((runs / "tiny_digits" / "config.json").read_text())["command"] == command
    report_rows = json.loads((tiny / "report" / "leaderboard.json").read_text())
    assert report_rows[0]["command"] == command  # the report's JSON carries it too


def test_the_python_api_says_so_and_resuming_is_recorded(tiny):
    from zoo.engine.runs import eval_run, resume_run, train_run

    run = train_run("tiny_digits", run_dir=tiny / "run", train={"max_steps": 1})
    resume_run(run, train={"max_steps": 2}, command="zoo train --resume run")
    db = tiny / "lb.db"
    eval_run(run, record=lambda row: Leaderboard(db).add(row))
    [row] = Leaderboard(db, create=False).rows()
    p = views.provenance(row)
    assert p["command"] == "Python API: zoo.engine.runs.eval_run" and p["command_recorded"]
    assert p["train_command"] == "Python API: zoo.engine.runs.train_run"
    assert row["extra"]["resumed_by"] == ["zoo train --resume run"]
    config = json.loads((run / "config.json").read_text())
    assert config["resumed_by"] == ["zoo train --resume run"]


def test_a_row_without_a_recorded_command_says_only_what_is_known(tmp_path, capsys):
    db = tmp_path / "lb.db"
    lb = Leaderboard(db)
    base = {"family": "independent", "estimate": "exact", "dataset": "digits", "split": "test"}
    lb.add({**base, "model": "old_suite_row", "bits_per_dim": 3.0, "suite": "standard"})
    lb.add({**base, "model": "old_lone_row", "bits_per_dim": 3.1})
    rows = {r["model"]: r for r in _json_rows(db, capsys)}
    assert rows["old_suite_row"]["command"] == "not recorded (a `zoo bench standard` row)"
    assert rows["old_lone_row"]["command"] == "not recorded"
    assert not any(r["provenance"]["command_recorded"] for r in rows.values())
