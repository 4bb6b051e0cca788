"""train.compile (zoo.engine.compiling): the compiled objective trains as the eager one does,
a failing compilation falls back to eager with one warning, and the decision is recorded."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from zoo.core.spec import DataSpec
from zoo.engine import compiling
from zoo.engine.runs import train_run
from zoo.engine.trainer import TrainConfig
from zoo.errors import ZooInputError
from zoo.models.pixelcnn import GatedPixelCNN, PixelCNN

TINY = {"channels": 4, "blocks": 1, "head_channels": 4, "kernel": 3}
GATED = {"channels": 4, "layers": 2, "head_channels": 4, "conditional": False}
TRAIN = {"max_steps": 3, "batch_size": 4, "device": "cpu", "log_every": 1, "eval_every": 100}


def _run(tmp_path, name: str) -> tuple[list[float], dict]:
    run = train_run("pixelcnn_digits", run_dir=tmp_path / name, hparams=TINY, train=TRAIN)
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in lines if r.get("kind") == "step"]
    (record,) = [r for r in lines if r.get("kind") == "compile"]
    config = json.loads((run / "config.json").read_text())
    assert config["compiled"] is record["compiled"]
    return losses, record


def test_compiled_training_gives_the_eager_losses(tmp_path, monkeypatch):
    if not compiling.can_compile(torch.device("cpu"))[0]:
        pytest.skip(compiling.can_compile(torch.device("cpu"))[1])
    monkeypatch.setenv("ZOO_COMPILE", "0")
    eager, off = _run(tmp_path, "eager")
    # train.compile="auto": PixelCNN declares it pays, here without its run-length threshold
    monkeypatch.delenv("ZOO_COMPILE")
    monkeypatch.setattr(PixelCNN, "compile_payback_steps", 0)
    compiled, on = _run(tmp_path, "compiled")
    assert not off["compiled"] and "ZOO_COMPILE=0" in off["reason"]
    assert on["compiled"], on["reason"]
    assert len(compiled) == len(eager) == TRAIN["max_steps"]
    assert compiled == pytest.approx(eager, rel=1e-5)


def test_a_failing_compile_falls_back_to_eager_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ZOO_COMPILE", "1")
    monkeypatch.setattr(compiling, "can_compile", lambda device: (True, "pretend"))
    calls = []

    def broken(fn, **kw):
        calls.append(fn)
        raise RuntimeError("no C++ compiler (forced)")

    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING, logger="zoo.engine.compiling"):
        losses, record = _run(tmp_path, "fallback")
    assert calls and len(losses) == TRAIN["max_steps"]
    warned = [r for r in caplog.records if "torch.compile" in r.getMessage()]
    assert len(warned) == 1 and "forced" in warned[0].getMessage()
    assert not record["compiled"] and "fell back: RuntimeError" in record["reason"]


def test_a_compiled_call_that_fails_is_computed_again_eagerly(monkeypatch):
    spec = DataSpec("image", (1, 4, 4), levels=2)
    torch.manual_seed(0)
    model = PixelCNN(spec, **TINY)

    def fails(*a, **kw):
        raise torch._dynamo.exc.Unsupported("forced")

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fails)
    objective = compiling.CompiledObjective(model)
    x = torch.randint(0, 2, (3, 1, 4, 4))
    loss, _ = objective(x, None)
    assert not objective.compiled and "forced" in objective.failure
    assert torch.equal(loss, model.loss(x)[0])


def test_the_decision_follows_the_setting_the_flag_and_the_environment(monkeypatch):
    cpu = torch.device("cpu")
    spec = DataSpec("image", (1, 4, 4), levels=2)
    gated = GatedPixelCNN(spec, **GATED)
    plain = PixelCNN(spec, **TINY)
    monkeypatch.setattr(compiling, "can_compile", lambda device: (True, "pretend"))
    monkeypatch.delenv("ZOO_COMPILE", raising=False)
    assert compiling.decide("auto", gated, cpu)[0] is GatedPixelCNN.compile_pays
    assert compiling.decide("auto", plain, cpu)[0] is PixelCNN.compile_pays
    assert compiling.decide(True, gated, cpu)[0] and not compiling.decide(False, plain, cpu)[0]
    # a run too short to repay compiling stays eager under auto, not when compile is asked for
    short = PixelCNN.compile_payback_steps - 1
    assert not compiling.decide("auto", plain, cpu, steps=short)[0]
    assert compiling.decide("auto", plain, cpu, steps=PixelCNN.compile_payback_steps)[0]
    assert compiling.decide(True, plain, cpu, steps=short)[0]
    monkeypatch.setenv("ZOO_COMPILE", "0")
    assert not compiling.decide(True, plain, cpu)[0]
    monkeypatch.setenv("ZOO_COMPILE", "1")
    assert compiling.decide(False, gated, cpu)[0]
    monkeypatch.setenv("ZOO_COMPILE", "maybe")
    with pytest.raises(ZooInputError, match="ZOO_COMPILE must be"):
        compiling.decide("auto", gated, cpu)
    monkeypatch.setattr(compiling, "can_compile", lambda device: (False, "no C++ compiler"))
    monkeypatch.setenv("ZOO_COMPILE", "1")
    assert compiling.decide(True, plain, cpu) == (False, "ZOO_COMPILE=1: no C++ compiler: eager")


def test_the_setting_is_true_false_or_auto():
    assert TrainConfig().compile == "auto"
    for ok in (True, False, "auto"):
        assert TrainConfig(compile=ok).compile == ok
    with pytest.raises(ZooInputError, match="compile must be"):
        TrainConfig(compile="yes")
