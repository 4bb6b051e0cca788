"""Polyak/EMA weights (train.ema): the closed form, resumed runs, and what evaluation loads."""

from __future__ import annotations

import json

import pytest
import torch

from zoo.data import load_dataset
from zoo.engine.checkpoint import load_checkpoint, load_model
from zoo.engine.evaluator import evaluate
from zoo.engine.runs import resume_run, train_run
from zoo.engine.trainer import TrainConfig, Trainer
from zoo.errors import ZooInputError
from zoo.models.independent import Independent

CONSTANT = {"schedule": "constant", "warmup_steps": 0, "device": "cpu", "eval_every": 1000}
BY_GRADIENT = {"pseudo_count": None}  # the baseline trained by gradient: weights that move


def _train(tmp_path, steps: int, ema: float | None, lr: float = 0.05):
    """Train the gradient Independent on digits; returns (ema, live weights after each step)."""
    ds = load_dataset("digits")
    torch.manual_seed(0)
    model = Independent(ds.spec, pseudo_count=None)
    seen: list[dict[str, torch.Tensor]] = []

    def grab(event: dict) -> None:
        if event["kind"] == "step":
            seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})

    config = TrainConfig(max_steps=steps, batch_size=32, lr=lr, log_every=1, ema=ema, **CONSTANT)
    trainer = Trainer(model, ds, config, tmp_path, callback=grab)
    trainer.fit()
    return trainer.ema, seen


def test_decay_zero_is_the_live_weights(tmp_path):
    ema, seen = _train(tmp_path, steps=3, ema=0.0)
    for k, v in seen[-1].items():
        torch.testing.assert_close(ema[k], v, rtol=0, atol=0)


def test_ema_is_the_closed_form_on_three_steps(tmp_path):
    d = 0.1  # below the early-average cap (1 + t) / (10 + t): the decay itself applies
    ema, (w1, w2, w3) = _train(tmp_path, steps=3, ema=d)
    for k in w1:
        expected = d * (d * w1[k] + (1 - d) * w2[k]) + (1 - d) * w3[k]
        torch.testing.assert_close(ema[k], expected, rtol=1e-6, atol=1e-7)
        assert not torch.allclose(ema[k], w3[k])  # the average lags the weights


def test_early_updates_are_capped_so_the_average_follows_the_weights(tmp_path):
    ema, (w1, w2) = _train(tmp_path, steps=2, ema=0.9995)
    cap = 2 / 11  # min(0.9995, (1 + 1) / (10 + 1)) at the second update
    for k in w1:
        torch.testing.assert_close(ema[k], cap * w1[k] + (1 - cap) * w2[k], rtol=1e-6, atol=1e-7)


def test_resumed_run_continues_the_same_average(tmp_path):
    train = {**CONSTANT, "max_steps": 8, "batch_size": 32, "lr": 0.05, "ema": 0.5}
    straight = train_run(
        "independent_digits", run_dir=tmp_path / "a", train=train, hparams=BY_GRADIENT
    )
    half = train_run(
        "independent_digits",
        run_dir=tmp_path / "b",
        train={**train, "max_steps": 4},
        hparams=BY_GRADIENT,
    )
    resume_run(half, train={"max_steps": 8})
    a, b = load_checkpoint(straight), load_checkpoint(half)
    assert b["step"] == 8 and a["ema_updates"] == b["ema_updates"] == 8
    for key in a["ema"]:
        torch.testing.assert_close(a["ema"][key], b["ema"][key], rtol=0, atol=0)


def test_evaluation_and_validation_use_the_ema_weights(tmp_path):
    train = {**CONSTANT, "max_steps": 6, "batch_size": 32, "lr": 0.05, "ema": 0.5}
    run = train_run("independent_digits", run_dir=tmp_path / "r", train=train, hparams=BY_GRADIENT)
    state = load_checkpoint(run)
    model = load_model(run)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state["ema"][k], rtol=0, atol=0)
        assert not torch.equal(v, state["model"][k])  # the live weights are another point
    ds = load_dataset("digits")
    split = "valid" if "valid" in ds.splits else "test"
    n = min(len(ds[split]), TrainConfig().eval_examples)
    scored = evaluate(model, ds, split, max_examples=n, device="cpu")["bits_per_dim"]
    valid = [r for r in _records(run) if r.get("kind") == "valid"][-1]
    assert valid["valid_bits_per_dim"] == pytest.approx(scored, rel=1e-9)


def test_off_by_default_and_a_bad_decay_is_refused(tmp_path):
    assert TrainConfig().ema is None
    run = train_run(
        "independent_digits",
        run_dir=tmp_path / "r",
        train={**CONSTANT, "max_steps": 2},
        hparams=BY_GRADIENT,
    )
    assert load_checkpoint(run)["ema"] is None
    for bad in (1.0, -0.1):
        with pytest.raises(ZooInputError, match="ema must be a decay"):
            TrainConfig(ema=bad)


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
