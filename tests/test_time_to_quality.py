"""benchmarks.time_to_quality: the curves it records from a run's own validations."""

from __future__ import annotations

import json

import pytest

from benchmarks.time_to_quality import draw, from_run
from zoo.engine.runs import train_run

TRAIN = {"schedule": "constant", "warmup_steps": 0, "device": "cpu", "max_steps": 6}


def test_curve_of_a_run_is_its_validations_once_per_step(tmp_path):
    run = train_run(
        "independent_digits",
        run_dir=tmp_path / "r",
        train={**TRAIN, "eval_every": 2, "eval_examples": 64, "lr": 0.05},
        hparams={"pseudo_count": None},
    )
    c = from_run(run)
    assert [p["step"] for p in c["points"]] == [0, 2, 4, 6]  # the final validation not twice
    valid = [
        json.loads(line)
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if json.loads(line).get("kind") == "valid"
    ]
    assert c["points"][-1]["valid_bits_per_dim"] == pytest.approx(valid[-1]["valid_bits_per_dim"])
    seconds = [p["train_seconds"] for p in c["points"]]
    assert seconds == sorted(seconds) and seconds[0] == 0
    assert c["train"]["max_steps"] == 6 and c["held_out"]["examples"] == 64
    path = draw({"curves": {"independent_digits/board": c}}, tmp_path / "f.png")
    assert path.stat().st_size > 0


def test_a_held_out_split_smaller_than_eval_examples_is_recorded_at_its_size(tmp_path):
    run = train_run(
        "independent_digits",
        run_dir=tmp_path / "r",
        train={**TRAIN, "max_steps": 2, "eval_every": 2, "eval_examples": 100_000, "lr": 0.05},
        hparams={"pseudo_count": None},
    )
    c = from_run(run)
    valid = [
        json.loads(line)
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if json.loads(line).get("kind") == "valid"
    ]
    assert c["held_out"]["examples"] == valid[-1]["valid_n"] < 100_000
