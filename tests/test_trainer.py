"""The one training loop: resumable, stops cleanly on NaN, DDP equals 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.data import load_dataset
from zoo.engine.checkpoint import load_checkpoint
from zoo.engine.runs import eval_run, resume_run, train_run
from zoo.engine.trainer import TrainConfig, Trainer, TrainingDiverged, batch_indices
from zoo.models.independent import Independent

PROJECT = Path(__file__).resolve().parents[1]
CONSTANT = {"schedule": "constant", "warmup_steps": 0, "device": "cpu", "eval_every": 1000}
BY_GRADIENT = {"pseudo_count": None}  # the registry's baseline is fitted in closed form


def _state(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run)["model"]


def test_batches_are_a_pure_function_of_seed_and_step():
    a = batch_indices(100, 16, step=7, seed=3)
    assert torch.equal(a, batch_indices(100, 16, step=7, seed=3))
    assert not torch.equal(a, batch_indices(100, 16, step=7, seed=4))
    # one epoch visits every example at most once
    epoch = torch.cat([batch_indices(100, 16, s, 0) for s in range(6)])
    assert len(set(epoch.tolist())) == 96


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    train = {**CONSTANT, "max_steps": 12, "batch_size": 32, "lr": 0.05}
    straight = train_run(
        "independent_digits", run_dir=tmp_path / "a", train=train, hparams=BY_GRADIENT
    )
    half = train_run(
        "independent_digits",
        run_dir=tmp_path / "b",
        train={**train, "max_steps": 6},
        hparams=BY_GRADIENT,
    )
    resume_run(half, train={"max_steps": 12})
    a, b = _state(straight), _state(half)
    assert load_checkpoint(half)["step"] == 12
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_existing_run_dir_is_not_overwritten(tmp_path):
    run = train_run(
        "independent_digits", run_dir=tmp_path / "r", train={**CONSTANT, "max_steps": 1}
    )
    with pytest.raises(FileExistsError, match="--resume"):
        train_run("independent_digits", run_dir=run, train={**CONSTANT, "max_steps": 1})


class _Diverges(Independent):
    """Finite for three steps, then NaN."""

    calls = 0

    def _loss(self, x, *, cond):
        loss, parts = super()._loss(x, cond=cond)
        type(self).calls += 1
        return (loss * float("nan") if type(self).calls > 3 else loss), parts


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    ds = load_dataset("digits")
    model = _Diverges(ds.spec)
    config = TrainConfig(max_steps=10, checkpoint_every=2, **CONSTANT)
    with pytest.raises(TrainingDiverged, match="step 3.*last good checkpoint"):
        Trainer(model, ds, config, tmp_path).fit()
    state = load_checkpoint(tmp_path)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_time_budget_stops_training(tmp_path):
    run = train_run(
        "independent_digits",
        run_dir=tmp_path / "t",
        train={**CONSTANT, "max_steps": 10**9, "max_minutes": 0.005},
        hparams=BY_GRADIENT,
    )
    state = load_checkpoint(run)
    # only the 0.3 s budget can have stopped it (the step budget is out of reach)
    assert 0 < state["step"] < 10**9 and state["train_seconds"] >= 0.3


def test_budget_of_zero_or_none_is_rejected():
    with pytest.raises(ValueError, match="budget"):
        TrainConfig(max_steps=None, max_minutes=None)
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=0)


def test_eval_writes_a_leaderboard_row(tmp_path):
    from zoo.leaderboard import Leaderboard

    run = train_run(
        "independent_digits", run_dir=tmp_path / "e", train={**CONSTANT, "max_steps": 5}
    )
    db = tmp_path / "lb.db"
    row = eval_run(run, record=Leaderboard(db).add)
    rows = Leaderboard(db).rows()
    assert len(rows) == 1 and rows[0]["bits_per_dim"] == pytest.approx(row["bits_per_dim"])
    assert rows[0]["estimate"] == "exact" and rows[0]["family"] == "independent"
    model = zoo.load(run)
    assert isinstance(model, Independent) and not model.training


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path, free_port):
    common = [
        "independent_digits",
        "--max-steps",
        "8",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--seed",
        "1",
        "-q",
        "--lr",
        "0.05",
        "--set",
        "pseudo_count=null",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    one = tmp_path / "one"
    two = tmp_path / "two"
    subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", *common, "--run-dir", str(one)],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            free_port,
            "-m",
            "zoo.cli",
            "train",
            *common,
            "--run-dir",
            str(two),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = _state(one), _state(two)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert not torch.equal(a["logits"], torch.zeros_like(a["logits"]))  # it did train


def test_independent_baseline_is_the_closed_form_fit_with_its_pseudo_count(tmp_path):
    ds = load_dataset("digits")
    a = 0.5
    model = Independent(ds.spec, pseudo_count=a)
    assert model.count_based and not Independent(ds.spec).count_based
    Trainer(model, ds, TrainConfig(max_steps=0, device="cpu"), tmp_path).fit()
    x = ds["train"].x.reshape(len(ds["train"]), -1).long()  # [N, D]
    counts = torch.stack([(x == v).sum(0) for v in range(ds.spec.levels)], -1).double()
    expected = ((counts + a) / (counts.sum(-1, keepdim=True) + ds.spec.levels * a)).log()
    test = ds["test"].x[:5]
    want = expected.gather(1, test.reshape(5, -1).long().T).sum(0)  # [5]
    torch.testing.assert_close(model.log_prob(test).double(), want, rtol=1e-5, atol=1e-4)
    assert load_checkpoint(tmp_path)["step"] == 1  # one pass of counting, no gradient steps
