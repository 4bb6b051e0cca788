"""The contract's edges: DataSpec validation, metrics, registry look-ups, clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import zoo
from zoo.core import metrics
from zoo.engine.registry import UnknownModelError
from zoo.models.independent import Independent

IMAGE = zoo.DataSpec("image", (1, 4, 4), levels=16, labels={"class": 10})
TEXT = zoo.DataSpec("text", (5,), levels=3)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.full((2, 1, 4, 4), 16), r"\[0, 16\).*max 16"),
        (torch.full((2, 1, 4, 4), -1), r"min -1"),
        (torch.zeros(2, 1, 4, 4, dtype=torch.float32), r"integer levels.*float32"),
        (torch.zeros(2, 4, 4, dtype=torch.long), r"shape \[B, 1, 4, 4\].*\[2, 4, 4\]"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.long), r"got \[2, 3, 4, 4\]"),
        ([[0]], r"must be a torch.Tensor"),
    ],
)
def test_log_prob_rejects_bad_input_with_expected_vs_got(bad, message):
    model = Independent(IMAGE)
    with pytest.raises(ValueError, match=message):
        model.log_prob(bad)


def test_pixel_of_17_on_16_level_spec_is_rejected():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    x[0, 0, 2, 2] = 17
    with pytest.raises(ValueError, match="max 17"):
        Independent(IMAGE).log_prob(x)


@pytest.mark.parametrize(
    "cond, message",
    [
        ({"speaker": torch.zeros(2, dtype=torch.long)}, "unknown conditioning label 'speaker'"),
        ({"class": torch.full((2,), 10)}, r"\[0, 10\)"),
        ({"class": torch.zeros(3, dtype=torch.long)}, r"shape \[2\]"),
        ({"class": torch.zeros(2)}, "integer tensor"),
    ],
)
def test_bad_conditioning_is_rejected(cond, message):
    with pytest.raises(ValueError, match=message):
        Independent(IMAGE).log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long), cond=cond)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_k_must_be_a_positive_int(k):
    with pytest.raises(ValueError, match="k"):
        Independent(TEXT).log_prob(torch.zeros(1, 5, dtype=torch.long), k=k)


@pytest.mark.parametrize("n", [0, -3, 2.0])
def test_sample_count_must_be_positive(n):
    with pytest.raises(ValueError, match="n"):
        Independent(TEXT).sample(n)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"modality": "video", "shape": (3,), "levels": 2}, "modality"),
        ({"modality": "image", "shape": (4, 4), "levels": 2}, r"\(C, H, W\)"),
        ({"modality": "text", "shape": (4,), "levels": 1}, "levels must be >= 2"),
        ({"modality": "audio", "shape": (4,), "levels": 256}, "sample_rate"),
        ({"modality": "text", "shape": (0,), "levels": 3}, "positive"),
        ({"modality": "text", "shape": (2,), "levels": 3, "vocab": ("a", "b")}, "vocab"),
    ],
)
def test_dataspec_rejects_inconsistent_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.DataSpec(**kwargs)


def test_dataspec_round_trips_through_dict():
    spec = zoo.DataSpec(
        "text", (8,), levels=4, vocab=("</s>", "<unk>", "a", "b"), eos=0, unk=1, name="t"
    )
    assert zoo.DataSpec.from_dict(spec.to_dict()) == spec
    assert spec.D == 8 and IMAGE.D == 16


def test_model_refuses_a_modality_it_does_not_model():
    from zoo.core.contract import LikelihoodModel

    class ImagesOnly(LikelihoodModel):
        modalities = ("image",)

    with pytest.raises(ValueError, match="models image data; got a text spec"):
        ImagesOnly(TEXT)


@given(
    nats=st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
    D=st.integers(min_value=1, max_value=10_000),  # noqa: N803
)
def test_bits_per_dim_conversions_are_consistent(nats, D):  # noqa: N803
    bpd = metrics.bits_per_dim(torch.tensor([-nats], dtype=torch.float64), D)
    assert bpd == pytest.approx(nats / (D * math.log(2)), rel=1e-12, abs=1e-15)
    assert metrics.bits_to_nats(metrics.nats_to_bits(nats)) == pytest.approx(nats, abs=1e-9)
    if bpd < 1000:
        ppl = metrics.perplexity(bpd)
        assert metrics.bits_per_token_from_perplexity(ppl) == pytest.approx(bpd, abs=1e-9)
    else:
        assert metrics.perplexity(bpd) == math.inf


def test_uniform_model_scores_log2_levels_bits_per_dim():
    model = Independent(IMAGE)  # zero logits: uniform over 16 levels
    x = torch.randint(0, 16, (7, 1, 4, 4))
    assert metrics.bits_per_dim(model.log_prob(x), IMAGE.D) == pytest.approx(4.0, abs=1e-6)


def test_vq_bitrate_is_rate_times_log2_k():
    assert metrics.vq_bitrate(50, 512) == 50 * 9
    with pytest.raises(ValueError):
        metrics.vq_bitrate(50, 1)


def test_unknown_model_suggests_closest_names():
    with pytest.raises(UnknownModelError, match="did you mean independent_digits"):
        zoo.create_model("independent_digit", IMAGE)


def test_list_models_filters_by_pattern():
    names = zoo.list_models("independent_*")
    assert "independent_digits" in names
    assert all(n.startswith("independent_") for n in names)
    assert zoo.list_models("no-such-model-*") == []


def test_create_model_applies_overrides():
    model = zoo.create_model("independent_digits", TEXT, shared=True)
    assert model.logits.shape == (1, 1, 3)
    assert model.hparams == {"shared": True, "pseudo_count": 0.5}


def test_contract_declares_every_hook_the_trainer_and_evaluator_call():
    model = Independent(IMAGE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.set_step(10) is None  # a model without schedules ignores the step
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert model.stream_log_prob([0, 1, 2]) is None  # scores fixed-size examples only


@pytest.mark.parametrize(
    "path, message",
    [
        ("zoo.models.nowhere:Model", "no model class"),
        ("zoo.models.independent:Nothing", "no model class"),
        ("zoo.core.spec:DataSpec", "is no LikelihoodModel"),
    ],
)
def test_model_class_path_that_names_no_model_is_a_clear_error(path, message):
    from zoo.core.contract import model_class

    with pytest.raises((ValueError, TypeError), match=message):
        model_class(path)
