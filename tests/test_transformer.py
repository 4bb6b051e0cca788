"""The decoder-only Transformer: causality (cached and uncached), the cached step == the full
forward, fast == naive sampling on every modality, batch == one at a time, the first value
scored, streams, and bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.errors import ZooInputError
from zoo.models.transformer import Transformer

SPECS = {
    "text": zoo.DataSpec(
        "text", (7,), levels=4, vocab=("</s>", "<unk>", "a", "b"), eos=0, unk=1, name="t"
    ),
    "audio": zoo.DataSpec("audio", (6,), levels=5, sample_rate=8000, labels={"speaker": 3}),
    "image": zoo.DataSpec("image", (3, 2, 2), levels=4, labels={"class": 2}),
}


def tiny(modality: str, conditional: bool = False, **kw) -> Transformer:
    torch.manual_seed(0)
    spec = SPECS[modality]
    labels = list(spec.labels) if conditional else []
    m = Transformer(spec, layers=2, heads=2, dim=16, dropout=0.0, cond_labels=labels, **kw)
    with torch.no_grad():  # non-trivial weights: GPT init leaves the output nearly uniform
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return m.eval()


MODELS = {m: tiny(m) for m in SPECS}


def cond_for(model: Transformer, n: int) -> dict | None:
    return {c: torch.arange(n) % model.spec.labels[c] for c in model.cond_labels} or None


@settings(max_examples=25)
@given(
    modality=st.sampled_from(sorted(SPECS)),
    seed=st.integers(0, 10_000),
    cut=st.integers(0, 11),
    cached=st.booleans(),
)
def test_changing_values_at_or_after_t_never_changes_log_probs_before_t(
    modality, seed, cut, cached
):
    model = MODELS[modality]
    spec = model.spec
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, spec.levels, (2, *spec.shape), generator=g)
    t = cut % spec.D
    tokens = model.to_tokens(x).clone()
    tokens[:, t:] = torch.randint(0, spec.levels, tokens[:, t:].shape, generator=g)
    y = model.from_tokens(tokens)
    with torch.no_grad():
        a = model.token_log_probs(x, cached=cached)
        b = model.token_log_probs(y, cached=cached)
    torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=1e-6)


@pytest.mark.parametrize("modality", sorted(SPECS))
@pytest.mark.parametrize("conditional", [False, True])
def test_cached_steps_compute_the_full_forward(modality, conditional):
    model = tiny(modality, conditional)
    x = torch.randint(0, model.spec.levels, (3, *model.spec.shape))
    cond = cond_for(model, 3)
    with torch.no_grad():
        full = model.token_log_probs(x, cond)
        step = model.token_log_probs(x, cond, cached=True)
    torch.testing.assert_close(full, step, rtol=0, atol=1e-5)


@pytest.mark.parametrize("modality", sorted(SPECS))
@pytest.mark.parametrize("conditional", [False, True])
def test_fast_and_naive_sampling_draw_the_same_samples(modality, conditional):
    model = tiny(modality, conditional)
    cond = cond_for(model, 6)
    fast = model.sample(6, cond=cond, generator=torch.Generator().manual_seed(3))
    slow = model.sample(6, cond=cond, generator=torch.Generator().manual_seed(3), fast=False)
    assert fast.shape == (6, *model.spec.shape)
    assert torch.equal(fast, slow)
    assert 0 <= int(fast.min()) and int(fast.max()) < model.spec.levels
    other = model.sample(6, cond=cond, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(fast, other)


def test_samples_follow_the_model_distribution():
    # D = 2, 3 levels: the empirical frequencies of 6000 draws match exp(log_prob)
    spec = zoo.DataSpec("audio", (2,), levels=3, sample_rate=8000)
    torch.manual_seed(1)
    model = Transformer(spec, layers=1, heads=1, dim=8, dropout=0.0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    x = torch.tensor(list(itertools.product(range(3), repeat=2)))
    p = model.log_prob(x).exp().detach()
    s = model.sample(6000, generator=torch.Generator().manual_seed(0))
    freq = torch.stack([((s == row).all(1)).float().mean() for row in x])
    assert float((freq - p).abs().max()) < 0.025


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_log_prob_of_a_batch_equals_one_at_a_time(modality):
    model = tiny(modality, conditional=True)
    x = torch.randint(0, model.spec.levels, (5, *model.spec.shape))
    cond = cond_for(model, 5) or {}
    with torch.no_grad():
        batch = model.log_prob(x, cond=cond or None)
        one = torch.cat(
            [model.log_prob(x[i : i + 1], cond={c: v[i : i + 1] for c, v in cond.items()} or None)
             for i in range(5)]
        )  # fmt: skip
    torch.testing.assert_close(batch, one, rtol=0, atol=1e-5)


@pytest.mark.parametrize("modality", sorted(SPECS))
def test_every_value_is_scored_the_first_from_the_start_token(modality):
    model = MODELS[modality]
    spec = model.spec
    x = torch.randint(0, spec.levels, (4, *spec.shape))
    with torch.no_grad():
        each = model.token_log_probs(x)
        assert each.shape == (4, spec.D)
        torch.testing.assert_close(each.sum(1), model.log_prob(x), rtol=0, atol=1e-5)
        # the first value's distribution: from the start token alone, normalised over levels
        start = torch.full((1, 1), spec.levels)
        first = model(start)[0, 0].log_softmax(-1)
        assert float(first.exp().sum()) == pytest.approx(1.0, abs=1e-6)
        torch.testing.assert_close(each[:, 0], first[model.to_tokens(x)[:, 0]])
        # changing only the first value changes the example's log-probability
        tokens = model.to_tokens(x).clone()
        tokens[:, 0] = (tokens[:, 0] + 1) % spec.levels
        assert not torch.allclose(model.log_prob(model.from_tokens(tokens)), model.log_prob(x))


def test_images_are_read_pixel_by_pixel_with_the_channels_adjacent():
    model = MODELS["image"]
    x = torch.arange(12).reshape(1, 3, 2, 2) % 4
    t = model.to_tokens(x)[0]
    assert t[:3].tolist() == x[0, :, 0, 0].tolist()  # the three channels of pixel (0, 0)
    assert t[3:6].tolist() == x[0, :, 0, 1].tolist()
    assert torch.equal(model.from_tokens(model.to_tokens(x)), x)


def test_exact_normalisation_on_a_tiny_conditional_image_space():
    spec = zoo.DataSpec("image", (1, 2, 2), levels=3, labels={"class": 2})
    torch.manual_seed(0)
    model = Transformer(spec, layers=1, heads=2, dim=8, cond_labels=["class"]).eval()
    x = torch.tensor(list(itertools.product(range(3), repeat=4))).reshape(-1, 1, 2, 2)
    for label in (0, 1):
        with torch.no_grad():
            lp = model.log_prob(x, cond={"class": torch.full((len(x),), label)})
        assert float(torch.logsumexp(lp.double(), 0).exp()) == pytest.approx(1.0, abs=1e-5)


def test_stream_of_whole_windows_equals_the_sum_of_its_chunks():
    model = tiny("text", stream_stride=7)
    stream = torch.randint(0, 4, (35,))
    total, n = model.stream_log_prob(stream)
    assert n == 35
    chunks = model.log_prob(stream.reshape(5, 7)).sum()
    assert total == pytest.approx(float(chunks.detach()), abs=1e-4)


def test_stream_scores_every_token_once_with_overlapping_context():
    model = tiny("text")  # stride D // 2 = 3
    stream = torch.randint(0, 4, (23,))
    total, n = model.stream_log_prob(stream)
    assert n == 23
    with torch.no_grad():  # by hand: the first window, then windows ending 3 further on
        want = float(model.token_log_probs(stream[:7][None]).sum())
        a = 7
        while a < 23:
            e = min(a + 3, 23)
            lp = model.token_log_probs(stream[e - 7 : e][None])[0]
            want += float(lp[a - (e - 7) :].sum())
            a = e
    assert total == pytest.approx(want, abs=1e-4)
    short = stream[:5]  # shorter than a window: one window
    assert model.stream_log_prob(short)[0] == pytest.approx(
        float(model.token_log_probs(short[None]).sum()), abs=1e-5
    )
    assert MODELS["image"].stream_log_prob(stream) is None


def test_dropout_is_active_in_training_only():
    m = Transformer(SPECS["text"], layers=1, heads=1, dim=8, dropout=0.5)
    x = torch.randint(0, 4, (4, 7))
    m.train()
    assert not torch.equal(m.log_prob(x), m.log_prob(x))
    m.eval()
    assert torch.equal(m.log_prob(x), m.log_prob(x))


def test_untied_output_and_parameter_count():
    spec = SPECS["text"]
    tied = Transformer(spec, layers=1, heads=1, dim=8)
    untied = Transformer(spec, layers=1, heads=1, dim=8, tie_embeddings=False)
    assert untied.num_parameters() - tied.num_parameters() == 8 * spec.levels


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"dim": 10, "heads": 3}, "divisible"),
        ({"cond_labels": ["speaker"]}, "not labels"),
        ({"dropout": 1.0}, "dropout"),
        ({"stream_stride": 8}, "stream_stride"),
    ],
)
def test_bad_hyper_parameters_raise_clear_errors(kw, match):
    with pytest.raises(ZooInputError, match=match):
        Transformer(SPECS["text"], **kw)


def test_conditional_model_needs_its_labels():
    model = tiny("image", conditional=True)
    x = torch.zeros(2, *model.spec.shape, dtype=torch.long)
    with pytest.raises(ZooInputError, match="conditioned on"):
        model.log_prob(x)
    assert model.sample(2).shape == (2, 3, 2, 2)  # default_cond cycles the classes


def test_fast_and_naive_sampling_agree_across_noise_blocks():
    spec = zoo.DataSpec("audio", (300,), levels=3, sample_rate=8000)  # > NOISE_BLOCK positions
    torch.manual_seed(0)
    model = Transformer(spec, layers=1, heads=1, dim=8, dropout=0.0).eval()
    fast = model.sample(2, generator=torch.Generator().manual_seed(5))
    slow = model.sample(2, generator=torch.Generator().manual_seed(5), fast=False)
    assert torch.equal(fast, slow)


def test_low_temperature_sampling_takes_the_most_likely_value():
    model = MODELS["text"]
    x = model.sample(3, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert (x == x[0]).all()  # greedy decoding: every draw the same
    first = model(torch.full((1, 1), model.spec.levels))[0, 0].argmax()
    assert int(x[0, 0]) == int(first)
