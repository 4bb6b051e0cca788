"""The compiled n-gram paths (zoo.models.ngram_jit, zoo.data.word_ids) equal the plain ones bit
for bit, and KenLM's scores; without numba the plain paths run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import DataSpec
from zoo.data import word_ids
from zoo.data.word_ids import WordIds, encode_lines_python
from zoo.models import ngram_jit
from zoo.models.ngram import NGram

pytestmark = pytest.mark.skipif(not ngram_jit.available(), reason="numba is not installed")

from arpa_models import arpa_models, spec_of, write  # noqa: E402


def both_paths_equal(m: NGram, stream: np.ndarray) -> None:
    got = m.token_log_probs(stream, jit=True)
    want = m.token_log_probs(stream, jit=False)
    assert np.array_equal(got, want)
    B = len(stream) // 4
    if B:  # log_prob: padded rows, each starting a sentence
        rows = torch.from_numpy(stream[: 4 * B].reshape(B, 4))
        t = m.tables
        assert t is not None
        from zoo.models.ngram import pad_rows

        S, avail, _ = pad_rows(rows.numpy(), m.spec.levels, m.spec.eos)
        assert np.array_equal(t.score(S, avail, jit=True), t.score(S, avail, jit=False))


@settings(deadline=None, max_examples=60)
@given(arpa_models(max_vocab=6, max_order=5), st.data())
def test_compiled_scoring_equals_numpy_on_random_arpa_models(tmp_path_factory, model, data):
    V, tables = model
    path = tmp_path_factory.mktemp("arpa") / "m.arpa"
    write(path, tables)
    m = NGram.from_arpa(path, spec_of(V))
    stream = np.array(data.draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=60)))
    both_paths_equal(m, stream)


@settings(deadline=None, max_examples=25)
@given(st.integers(2, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_compiled_scoring_equals_numpy_on_fitted_models_past_a_block(V, order, seed):
    """Fitted models are suffix-closed (the early stop is taken); streams of several blocks
    check the state carried from block to block."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, V, 400)
    m = NGram(spec_of(V), order=order).fit_stream(train)
    assert m.tables.suffix_closed()
    both_paths_equal(m, rng.integers(0, V, 2 * ngram_jit._BLOCK + 37))


def test_images_without_eos_score_equal():
    spec = DataSpec("image", (1, 3, 3), levels=2)
    x = torch.randint(0, 2, (20, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    m = NGram(spec, order=4).fit([(x, None)])
    lp = m.log_prob(x).double()
    t = m.tables
    from zoo.models.ngram import pad_rows

    S, avail, _ = pad_rows(x.reshape(20, -1).numpy(), 2, None)
    assert np.array_equal(t.score(S, avail, jit=True), t.score(S, avail, jit=False))
    assert torch.isfinite(lp).all()


def test_without_numba_the_numpy_path_runs(monkeypatch):
    m = NGram(spec_of(5), order=3).fit_stream(np.array([2, 3, 4, 0, 2, 2, 0]))
    want = m.token_log_probs(np.array([2, 3, 0]), jit=True)
    monkeypatch.setattr(ngram_jit, "_HAVE_NUMBA", False)
    monkeypatch.setattr(word_ids, "_HAVE_NUMBA", False)
    assert np.array_equal(m.token_log_probs(np.array([2, 3, 0])), want)
    assert np.array_equal(m.line_log_probs(["a b"]), want)
    with pytest.raises(RuntimeError, match="numba"):
        m.token_log_probs(np.array([2]), jit=True)


_WS = st.sampled_from([" ", "  ", "\t", "\x0b", "\x0c", "\r", "\x1c", "\x1f"])


@settings(deadline=None, max_examples=80)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(["a", "b", "cc", "zz", "UNK", "a1", "</s>", "x"]), _WS)),
        max_size=8,
    ),
    st.booleans(),
)
def test_compiled_word_ids_equal_a_dict_lookup(lines, lead):
    vocab = ["</s>", "<unk>", "a", "b", "cc", "UNK", "a1", "b"]  # "b" twice: first id kept
    text = [("  " if lead else "") + "".join(w + s for w, s in line) for line in lines]
    enc = WordIds(vocab, unk=1, eos=0, jit=True)
    index = {w: i for i, w in reversed(list(enumerate(vocab)))}
    want = []
    for line in text:
        want += [index.get(w, 1) for w in line.split()] + [0]
    assert enc.encode_lines(text).tolist() == want
    assert encode_lines_python(text, enc.index, 1, 0).tolist() == want


def test_word_ids_fall_back_on_non_ascii_and_embedded_newlines():
    enc = WordIds(["</s>", "<unk>", "é", "a"], unk=1, eos=0, jit=True)
    assert enc.encode_lines(["é\u00a0a", "a"]).tolist() == [2, 3, 0, 3, 0]  # nbsp splits
    assert enc.encode_lines(["a\na"]).tolist() == [3, 3, 0]  # one line, one </s>
    assert enc.encode_lines([]).tolist() == []


def test_scores_equal_kenlm_to_1e_6(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    rng = np.random.default_rng(3)
    words = ["</s>", "<unk>", *[f"w{i}" for i in range(12)]]
    spec = DataSpec("text", (8,), levels=len(words), vocab=tuple(words), eos=0, unk=1)
    lines = [" ".join(rng.choice(words[2:], rng.integers(1, 9))) for _ in range(300)]
    train = WordIds(words, unk=1, eos=0).encode_lines(lines)
    m = NGram(spec, order=5).fit_stream(train)
    m.to_arpa(tmp_path / "m.arpa")
    km = kenlm.Model(str(tmp_path / "m.arpa"))
    test = [" ".join(rng.choice(words[2:], rng.integers(1, 9))) for _ in range(40)] + ["w1 zz"]
    ours = NGram.from_arpa(tmp_path / "m.arpa", spec).line_log_probs(test)
    theirs = [s[0] for line in test for s in km.full_scores(line, bos=True, eos=True)]
    assert np.allclose(ours / math.log(10), theirs, rtol=0, atol=1e-6)
