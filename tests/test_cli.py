"""The `zoo` command end to end: train -> eval -> sample -> leaderboard, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_eval_sample_leaderboard_end_to_end(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    code, out, _ = run(
        capsys,
        "train",
        "independent_digits",
        "--max-steps",
        "20",
        "--run-dir",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "-q",
    )
    assert code == 0
    run_dir = out.strip().splitlines()[-1]  # the run folder is printed last
    assert Path(run_dir) == tmp_path / "run"
    code, out, _ = run(capsys, "eval", run_dir, "--db", db, "--json")
    assert code == 0
    row = json.loads(out)
    assert row["estimate"] == "exact" and 0 < row["bits_per_dim"] < 4.1
    code, out, _ = run(capsys, "sample", run_dir, "-n", "9", "--out", str(tmp_path / "s"))
    assert code == 0 and (tmp_path / "s" / "samples.png").exists()
    code, out, _ = run(capsys, "leaderboard", "--db", db, "--format", "json")
    rows = json.loads(out)
    assert [r["model"] for r in rows] == ["independent_digits"]
    code, out, _ = run(capsys, "leaderboard", "--db", db, "--format", "markdown")
    assert "| digits | test | independent_digits |" in out
    first = out.splitlines()[0]  # the header a README pastes with the table
    assert "measured" in first and "commit" in first and "torch" in first


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "independent_digitz", "--max-steps", "1"], "did you mean independent_digits"),
        (["train", "independent_digits", "--dataset", "nope"], "unknown data set 'nope'"),
        (["train", "independent_digits", "--max-steps", "-1"], "max_steps must be >= 0"),
        (["train", "independent_digits", "--device", "cuda:7"], "CUDA is not available"),
        (["eval", "/nonexistent/run"], "not a zoo run folder"),
        (["info", "vea_bmnist"], "unknown model"),
        (["bench", "quick", "--max-steps", "-1"], "max-steps must be >= 0"),
        (["train"], "needs a model NAME"),
    ],
)
def test_bad_input_exits_2_with_one_line_reason(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_list_and_info(capsys):
    code, out, _ = run(capsys, "list", "independent_*", "--json")
    assert code == 0 and "independent_digits" in json.loads(out)
    code, out, _ = run(capsys, "info", "independent_digits")
    info = json.loads(out)
    assert info["estimate"] == "exact" and info["dataset"] == "digits"


def test_conditional_model_samples_every_class_when_no_label_is_given(tmp_path, capsys):
    """`zoo sample` on a class-conditional run without --cond cycles through the classes."""
    import torch

    from zoo.engine.runs import load_model

    run_dir = tmp_path / "gated"
    code, _, _ = run(
        capsys, "train", "pixelcnn_gated_digits", "--max-steps", "1",
        "--run-dir", str(run_dir), "--device", "cpu", "-q",
    )  # fmt: skip
    assert code == 0
    model = load_model(run_dir)
    assert model.cond_labels == ("class",)
    assert torch.equal(model.default_cond(12)["class"], torch.arange(12) % 10)
    code, _, _ = run(capsys, "sample", str(run_dir), "-n", "4", "--out", str(tmp_path / "s"))
    assert code == 0 and (tmp_path / "s" / "samples.png").exists()
