"""The evaluation batch: chosen by the data's shape and the device, never changing a figure."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.engine.evaluator import CPU_BATCH_ELEMENTS, GPU_BATCH, eval_batch_size, evaluate
from zoo.errors import ZooInputError


def _spec(d: int) -> zoo.DataSpec:
    return zoo.DataSpec("audio", (d,), levels=256, sample_rate=8000)


@pytest.mark.parametrize(
    ("d", "batch"),
    [(64, 256), (128, 256), (784, 32), (2048, 16), (4096, 8), (16000, 8), (1, 256)],
)
def test_cpu_batch_for_the_suites_shapes(d, batch):
    # digits / text chunks, (binarized) MNIST, FSDD crops, WaveNet's 4096-sample FSDD crops
    assert eval_batch_size(_spec(d), "cpu") == batch


@settings(deadline=None, max_examples=200)
@given(d=st.integers(1, 10**6), e=st.integers(1, 10**6))
def test_cpu_batch_is_a_bounded_power_of_two_shrinking_with_the_example(d, e):
    b = eval_batch_size(_spec(d), "cpu")
    assert b & (b - 1) == 0 and 8 <= b <= 256
    assert b * d <= CPU_BATCH_ELEMENTS or b == 8  # within the element budget unless floored
    assert 2 * b * d > CPU_BATCH_ELEMENTS or b == 256  # the largest power of two that fits
    if d <= e:
        assert eval_batch_size(_spec(e), "cpu") <= b


def test_an_accelerator_takes_the_large_batch():
    assert eval_batch_size(_spec(784), "cuda") == GPU_BATCH
    assert eval_batch_size(_spec(784), torch.device("cuda", 0)) == GPU_BATCH


@settings(deadline=None, max_examples=8)
@given(batch=st.integers(1, 50))
def test_the_batch_size_never_changes_an_exact_figure(batch):
    ds = zoo.load_dataset("digits")
    torch.manual_seed(0)
    model = zoo.create_model("pixelcnn_digits", ds.spec, channels=8, blocks=1).eval()
    chosen = evaluate(model, ds, "test", max_examples=50)
    given_ = evaluate(model, ds, "test", max_examples=50, batch_size=batch)
    assert given_["n_examples"] == chosen["n_examples"] == 50
    assert given_["bits_per_dim"] == pytest.approx(chosen["bits_per_dim"], rel=1e-6)


def test_a_batch_size_below_one_is_refused():
    ds = zoo.load_dataset("digits")
    model = zoo.create_model("pixelcnn_digits", ds.spec, channels=8, blocks=1)
    with pytest.raises(ZooInputError, match="batch_size must be >= 1"):
        evaluate(model, ds, "test", max_examples=4, batch_size=0)


def test_scoring_and_validation_take_the_batch_the_rule_gives(tmp_path, monkeypatch):
    import zoo.engine.evaluator as evaluator
    import zoo.engine.trainer as trainer
    from zoo.engine.trainer import TrainConfig, Trainer
    from zoo.models.independent import Independent

    asked: list[str] = []

    def rule(spec, device):
        asked.append(torch.device(device).type)
        return 7

    monkeypatch.setattr(evaluator, "eval_batch_size", rule)
    monkeypatch.setattr(trainer, "eval_batch_size", rule)
    ds = zoo.load_dataset("digits")
    model = Independent(ds.spec)
    sizes: list[int] = []
    score = model.log_prob
    monkeypatch.setattr(model, "log_prob", lambda x, **kw: sizes.append(len(x)) or score(x, **kw))
    Trainer(model, ds, TrainConfig(max_steps=0, device="cpu", eval_examples=20), tmp_path).fit()
    assert sizes == [7, 7, 6] * 2  # validation at the start and at the close of the fit
    assert asked == ["cpu", "cpu"]
    sizes.clear(), asked.clear()
    evaluate(model, ds, "test", max_examples=20, device="cpu")
    assert sizes == [7, 7, 6] and asked == ["cpu"]
    sizes.clear(), asked.clear()
    evaluate(model, ds, "test", max_examples=20, device="cpu", batch_size=9)  # given: kept
    assert sizes == [9, 9, 2] and asked == []
