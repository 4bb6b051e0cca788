"""LSTM language model: causality, batch == one at a time, stream scoring == carried-state
chunks (TBPTT chunking invariance), training lanes == the stream, normalisation, sampling."""

from __future__ import annotations

import itertools
import math
import tempfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.spec import DataSpec
from zoo.data.text import make_text_dataset
from zoo.engine.evaluator import evaluate
from zoo.engine.trainer import TrainConfig, Trainer
from zoo.errors import ZooInputError
from zoo.models.lstm import LSTMLM

TEXT = DataSpec("text", (12,), levels=7, vocab=("</s>", "<unk>", *"abcde"), eos=0, unk=1)
IMAGE = DataSpec("image", (1, 2, 3), levels=4)


def small(spec: DataSpec = TEXT, **kw) -> LSTMLM:
    torch.manual_seed(kw.pop("seed", 0))
    kw = {"embed": 8, "hidden": 8, "layers": 2, "init_range": 0.5, **kw}
    return LSTMLM(spec, **kw).double().eval()


@settings(max_examples=25)
@given(t=st.integers(0, 11), tied=st.booleans(), data=st.data())
def test_changing_positions_from_t_on_never_changes_earlier_log_probs(t, tied, data):
    model = small(tied=tied, seed=data.draw(st.integers(0, 3)))
    x = torch.tensor(data.draw(st.lists(st.integers(0, 6), min_size=12, max_size=12)))[None]
    y = x.clone()
    y[0, t:] = torch.tensor(
        data.draw(st.lists(st.integers(0, 6), min_size=12 - t, max_size=12 - t))
    )
    a, b = model.token_log_probs(x), model.token_log_probs(y)
    assert torch.equal(a[:, :t], b[:, :t])
    assert torch.allclose(model.log_prob(x), a.sum(1))


def test_the_first_token_is_scored_from_the_start_token():
    model = small()
    x = torch.randint(0, 7, (5, 12))
    lp = model.token_log_probs(x)
    start = torch.full((1, 1), TEXT.levels)
    logits, _ = model._run(start, None)
    first = torch.log_softmax(logits[0, 0], -1)
    assert torch.allclose(lp[:, 0], first[x[:, 0]])


def test_batch_log_prob_equals_one_at_a_time():
    model = small(IMAGE)
    x = torch.randint(0, 4, (6, *IMAGE.shape))
    batch = model.log_prob(x)
    single = torch.cat([model.log_prob(x[i : i + 1]) for i in range(6)])
    assert torch.allclose(batch, single, atol=1e-12)


TINY3 = [
    DataSpec("text", (3,), levels=3, vocab=("</s>", "<unk>", "a"), eos=0, unk=1),
    DataSpec("image", (1, 1, 3), levels=3),
    DataSpec("audio", (3,), levels=3, sample_rate=8000),
]


@pytest.mark.parametrize("spec", TINY3)
@pytest.mark.parametrize("tied", [False, True])
def test_exact_normalisation_over_every_sequence(spec, tied):
    model = small(spec, tied=tied, dropout=0.3)  # eval mode: dropout off
    x = torch.tensor(list(itertools.product(range(3), repeat=3))).reshape(-1, *spec.shape)
    with torch.no_grad():
        total = float(torch.logsumexp(model.log_prob(x), 0).exp())
    assert total == pytest.approx(1.0, abs=1e-10)


@settings(max_examples=20)
@given(
    length=st.integers(1, 60),
    chunk=st.integers(1, 70),
    seed=st.integers(0, 3),
)
def test_stream_log_prob_is_one_sequence_from_the_start_token_whatever_the_chunks(
    length, chunk, seed
):
    model = small(seed=seed)
    g = torch.Generator().manual_seed(seed)
    stream = torch.randint(0, 7, (length,), generator=g)
    whole, n = model.stream_log_prob_chunked(stream, chunk)
    assert n == length
    # the stream is one example of its own length
    spec = DataSpec("text", (length,), levels=7, vocab=TEXT.vocab, eos=0, unk=1)
    as_example = LSTMLM(spec, embed=8, hidden=8, layers=2).double().eval()
    as_example.load_state_dict(model.state_dict())
    assert whole == pytest.approx(float(as_example.token_log_probs(stream[None]).sum()), abs=1e-9)
    assert model.stream_log_prob(stream)[0] == pytest.approx(whole, abs=1e-9)


def test_training_lanes_carry_the_state_across_batches_of_the_stream():
    """With no dropout, the TBPTT losses of one pass over the lanes sum to the lanes' stream
    log-probabilities: each batch continues the previous one's state and last token."""
    model = small()
    model.train()  # carry only in training; dropout 0 keeps it deterministic
    n, B, L = 10, 2, TEXT.shape[0]
    chunks = torch.randint(0, 7, (n, L))
    M = n // B
    total = 0.0
    for step in range(M):
        idx = model.train_batch_indices(n, B, step, seed=0)
        assert idx.tolist() == [pos * M + step for pos in range(B)]
        loss, _ = model.loss(chunks[idx])
        total += float(loss) * B
    lanes = [chunks[b * M : (b + 1) * M].reshape(-1) for b in range(B)]
    expected = -sum(model.stream_log_prob(lane)[0] for lane in lanes)
    assert total == pytest.approx(expected, rel=1e-10)
    # the next pass starts again from the start token and a zero state
    model.train_batch_indices(n, B, M, seed=0)
    loss, _ = model.loss(chunks[torch.arange(B) * M])
    model.eval()
    assert float(loss) == pytest.approx(float(-model.log_prob(chunks[torch.arange(B) * M]).mean()))


def test_images_and_short_lanes_use_the_trainers_batches():
    assert small(IMAGE).train_batch_indices(100, 10, 3, 0) is None
    assert small(carry_state=False).train_batch_indices(100, 10, 3, 0) is None
    assert small().train_batch_indices(15, 10, 3, 0) is None  # one chunk per lane


def test_samples_round_trip_their_probabilities():
    spec = DataSpec("text", (2,), levels=3, vocab=("</s>", "<unk>", "a"), eos=0, unk=1)
    model = small(spec)
    g = torch.Generator().manual_seed(0)
    s = model.sample(20000, generator=g)
    assert s.shape == (20000, 2) and s.min() >= 0 and s.max() < 3
    again = model.sample(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)
    x = torch.tensor(list(itertools.product(range(3), repeat=2)))
    p = model.log_prob(x).exp()
    freq = torch.stack([(s == row).all(1).double().mean() for row in x])
    assert torch.allclose(freq, p, atol=4 * math.sqrt(0.25 / 20000))


def test_trainer_and_evaluator_end_to_end_report_the_stream():
    lines = [" ".join("abcab"[: 1 + i % 5]) for i in range(60)]
    ds = make_text_dataset(
        "t", {"train": lines, "valid": lines[:20], "test": lines[:20]}, seq_len=8
    )
    torch.manual_seed(0)
    model = LSTMLM(ds.spec, embed=8, hidden=8, layers=2, dropout=0.1)
    cfg = TrainConfig(batch_size=4, max_steps=12, warmup_steps=2, eval_every=100, device="cpu")
    with tempfile.TemporaryDirectory() as d:
        summary = Trainer(model, ds, cfg, d).fit()
    assert summary["steps"] == 12 and math.isfinite(summary["valid_bits_per_dim"])
    r = evaluate(model, ds, "test")
    total, n = model.stream_log_prob(ds.meta["streams"]["test"])
    assert n == len(ds.meta["streams"]["test"])
    assert r["stream_perplexity"] == pytest.approx(math.exp(-total / n))


def test_bad_hyper_parameters_and_options_are_clear_errors():
    with pytest.raises(ZooInputError, match="embed == hidden"):
        LSTMLM(TEXT, embed=4, hidden=8, tied=True)
    with pytest.raises(ZooInputError, match="dropout"):
        LSTMLM(TEXT, dropout=1.5)
    with pytest.raises(ZooInputError, match="ids in"):
        small().stream_log_prob(torch.tensor([0, 9]))
    with pytest.raises(ZooInputError, match="temperature"):
        small().sample(2, temperature=0.0)


def test_the_contract_default_leaves_the_data_order_to_the_trainer():
    from zoo.models.independent import Independent

    assert Independent(TEXT).train_batch_indices(100, 10, 3, 0) is None
