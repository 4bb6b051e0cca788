"""N-grams: normalisation, the add-k closed form, KN/MKN fidelity to KenLM, ARPA, errors."""

from __future__ import annotations

import gzip
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.spec import DataSpec
from zoo.data import data_root
from zoo.models.ngram import NGram

SMOOTHINGS = ("mkn", "kn", "addk")


def text_spec(V: int, T: int = 4) -> DataSpec:
    vocab = ("</s>", "<unk>", *[f"w{i}" for i in range(V - 2)])
    return DataSpec("text", (T,), levels=V, vocab=vocab, eos=0, unk=1, name="tiny")


corpora = st.integers(3, 5).flatmap(
    lambda V: st.tuples(st.just(V), st.lists(st.integers(0, V - 1), min_size=1, max_size=60))
)


# ---------------------------------------------------------------------- normalisation
@settings(deadline=None, max_examples=30)
@given(corpora, st.integers(1, 4), st.sampled_from(SMOOTHINGS))
def test_every_context_distribution_sums_to_one(corpus, order, smoothing):
    V, stream = corpus
    m = NGram(text_spec(V), order=order, smoothing=smoothing).fit_stream(np.array(stream))
    contexts = [()] + [
        c for n in range(1, order + 1) for c in itertools.product(range(V), repeat=n)
    ]
    for ctx in contexts[:60]:
        lp = m.next_token_log_probs(list(ctx))
        assert lp.shape == (V,)
        assert torch.isfinite(lp).all()
        assert float(torch.logsumexp(lp, 0).exp()) == pytest.approx(1.0, abs=1e-9)


@settings(deadline=None, max_examples=20)
@given(corpora, st.integers(1, 3), st.sampled_from(SMOOTHINGS))
def test_log_prob_is_normalised_over_all_sequences_and_matches_next_token(corpus, order, smoothing):
    V, stream = corpus
    spec = text_spec(V, T=3)
    m = NGram(spec, order=order, smoothing=smoothing).fit_stream(np.array(stream))
    x = torch.tensor(list(itertools.product(range(V), repeat=3)))
    lp = m.log_prob(x).double()
    assert float(torch.logsumexp(lp, 0).exp()) == pytest.approx(1.0, abs=1e-5)
    # The chain rule with the per-context distributions (context resets after </s>).
    seq = x[7 % len(x)].tolist()
    total, ctx = 0.0, []
    for w in seq:
        total += float(m.next_token_log_probs(ctx)[w])
        ctx = [] if w == spec.eos else ctx + [w]
    assert float(lp[7 % len(x)]) == pytest.approx(total, abs=1e-4)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_image_and_audio_models_sum_to_one(smoothing):
    for spec in (
        DataSpec("image", (1, 2, 3), levels=2),
        DataSpec("audio", (4,), levels=3, sample_rate=8000),
    ):
        x = torch.tensor(list(itertools.product(range(spec.levels), repeat=spec.D)))
        x = x.reshape(-1, *spec.shape)
        m = NGram(spec, order=3, smoothing=smoothing).fit([(x[::3], {})])
        assert float(torch.logsumexp(m.log_prob(x).double(), 0).exp()) == pytest.approx(
            1.0, abs=1e-5
        )


# ---------------------------------------------------------------------- add-k closed form
@settings(deadline=None, max_examples=30)
@given(corpora, st.integers(1, 3), st.floats(0.01, 3.0))
def test_addk_equals_closed_form(corpus, order, k):
    V, stream = corpus
    spec = text_spec(V)
    m = NGram(spec, order=order, smoothing="addk", k=k).fit_stream(np.array(stream))
    # Count by hand over sentences padded with one <s>.
    sents, cur = [], []
    for w in stream:
        cur.append(w)
        if w == spec.eos:
            sents.append(cur)
            cur = []
    if cur:
        sents.append(cur)
    counts: dict[tuple, int] = {}
    for s in sents:
        padded = ["<s>", *s]
        for i in range(1, len(padded)):
            for n in range(1, order + 1):
                if i - n + 1 >= 0:
                    g = tuple(padded[i - n + 1 : i + 1])
                    counts[g] = counts.get(g, 0) + 1
    ctx = ["<s>", 2, 3 % V][: order - 1] if order > 1 else []
    h = tuple(ctx)
    c_h = sum(c for g, c in counts.items() if len(g) == len(h) + 1 and g[:-1] == h)
    lp = m.next_token_log_probs([w for w in ctx if w != "<s>"]).exp()
    for w in range(V):
        expect = (counts.get((*h, w), 0) + k) / (c_h + k * V)
        assert float(lp[w]) == pytest.approx(expect, rel=1e-9)


def test_kenlm_discounts_from_counts_of_counts():
    # Counts of counts (1, 2, 3, 4) = (4, 2, 1, 1) at the unigram level of a unigram model.
    spec = text_spec(10)
    stream = [2, 3, 4, 5, 6, 6, 7, 7, 8, 8, 8, 9, 9, 9, 9]
    m = NGram(spec, order=1).fit_stream(np.array(stream))
    y = 4 / (4 + 2 * 2)
    assert m.discounts[0] == pytest.approx(
        [1 - 2 * y * 2 / 4, 2 - 3 * y * 1 / 2, 3 - 4 * y * 1 / 1]
    )
    d = dict(zip([1, 2, 3], m.discounts[0]))
    gamma = (4 * d[1] + 2 * d[2] + 2 * d[3]) / len(stream)
    p = m.next_token_log_probs([]).exp()
    assert float(p[9]) == pytest.approx((4 - d[3]) / 15 + gamma / 10)
    assert float(p[0]) == pytest.approx(gamma / 10)  # </s> never seen: the uniform share


# ---------------------------------------------------------------------- fitting API
def test_fit_on_consecutive_chunks_equals_fit_on_the_stream():
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 6, 400)
    spec = text_spec(6, T=8)
    a = NGram(spec, order=3).fit_stream(stream)
    chunks = torch.from_numpy(stream.reshape(-1, 8))
    b = NGram(spec, order=3).fit([(chunks[:20], {}), (chunks[20:], {})])
    x = chunks[:5]
    assert torch.equal(a.log_prob(x), b.log_prob(x))
    c = NGram(spec, order=3).fit(torch.from_numpy(stream))
    assert torch.equal(a.log_prob(x), c.log_prob(x))


def test_state_dict_round_trips_a_fitted_model():
    spec = DataSpec("image", (1, 3, 3), levels=4)
    x = torch.randint(0, 4, (50, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    m = NGram(spec, order=4).fit([(x, {})])
    state = m.state_dict()
    torch.save(state, buf := __import__("io").BytesIO())
    buf.seek(0)
    fresh = NGram(spec, order=4)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(fresh.log_prob(x), m.log_prob(x))
    assert fresh.num_parameters() == m.num_parameters() > 0


def test_sample_is_in_range_reproducible_and_cold_temperature_is_greedy():
    spec = text_spec(5, T=12)
    stream = np.array([2, 3, 4, 0] * 30)
    m = NGram(spec, order=3).fit_stream(stream)
    g = torch.Generator().manual_seed(1)
    s1 = m.sample(6, generator=g)
    s2 = m.sample(6, generator=torch.Generator().manual_seed(1))
    assert s1.shape == (6, 12) and s1.dtype == torch.int64
    assert torch.equal(s1, s2) and int(s1.min()) >= 0 and int(s1.max()) < 5
    cold = m.sample(3, temperature=1e-3, generator=g)
    assert (cold == torch.tensor([2, 3, 4, 0] * 3)).all()


# ---------------------------------------------------------------------- bad input
def test_bad_hyper_parameters_and_inputs_raise_clear_errors(tmp_path):
    spec = text_spec(4)
    with pytest.raises(ValueError, match="order"):
        NGram(spec, order=0)
    with pytest.raises(ValueError, match="smoothing"):
        NGram(spec, smoothing="witten-bell")
    with pytest.raises(ValueError, match="k"):
        NGram(spec, smoothing="addk", k=0)
    with pytest.raises(ValueError, match="empty"):
        NGram(spec).fit_stream(np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="empty"):
        NGram(spec).fit([])
    with pytest.raises(RuntimeError, match="not fitted"):
        NGram(spec).log_prob(torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        NGram(spec).fit_stream(np.array([1, 7]))
    with pytest.raises(ValueError, match="no exact ARPA form"):
        NGram(spec, smoothing="addk").fit_stream(np.array([1, 2])).to_arpa(tmp_path / "a.arpa")


def test_non_utf8_text_file_error_names_file_and_line(tmp_path):
    from zoo.data.text import read_lines

    p = tmp_path / "latin1.txt"
    p.write_bytes("a b\nca f\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt.*line 2"):
        read_lines(p)


# ---------------------------------------------------------------------- ARPA
@settings(deadline=None, max_examples=15)
@given(corpora, st.integers(1, 4), st.sampled_from(("mkn", "kn")))
def test_arpa_round_trip_preserves_every_log_prob(tmp_path_factory, corpus, order, smoothing):
    V, stream = corpus
    spec = text_spec(V, T=3)
    m = NGram(spec, order=order, smoothing=smoothing).fit_stream(np.array(stream))
    path = tmp_path_factory.mktemp("arpa") / "m.arpa.gz"
    m.to_arpa(path)
    back = NGram.from_arpa(path, spec)
    x = torch.tensor(list(itertools.product(range(V), repeat=3)))
    assert torch.equal(back.log_prob(x), m.log_prob(x))
    for n in range(1, order + 1):
        assert np.array_equal(back.tables.logp[n], m.tables.logp[n])


def _arpa(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.arpa"
    p.write_text(text)
    return p


GOOD = (
    "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.3\t</s>\n-0.3\ta\t0\n"
    "\n\\2-grams:\n-0.2\t<s> a\n\n\\end\\\n"
)


def test_malformed_or_truncated_arpa_raises_value_error_naming_file_and_line(tmp_path):
    assert NGram.from_arpa(_arpa(tmp_path, GOOD)).tables.sizes() == [3, 1]
    cases = {
        GOOD.replace("\n\\end\\\n", ""): r"bad\.arpa:\d+: expected '\\end\\'",
        GOOD[: GOOD.index("\\2-grams")]: r"bad\.arpa:\d+: expected the '\\2-grams:' section",
        GOOD.replace("-0.2\t<s> a", "-0.2\t<s>"): r"bad\.arpa:11: a 2-gram line",
        GOOD.replace("-0.3\ta", "x\ta"): r"bad\.arpa:8: not a number",
        GOOD.replace("ngram 2=1", "ngram 2=2"): r"bad\.arpa:\d+: .*declares 2 2-grams",
        "hello\n": r"bad\.arpa:\d+: no \\data\\",
        GOOD.replace("\ta\t0", "\tb\t0").replace("<s> a", "<s> c"): r"bad\.arpa:11: word 'c'",
    }
    for text, pattern in cases.items():
        with pytest.raises(ValueError, match=pattern):
            NGram.from_arpa(_arpa(tmp_path, text))
    gz = tmp_path / "cut.arpa.gz"
    gz.write_bytes(gzip.compress(GOOD.encode())[:-12])
    with pytest.raises(ValueError, match=r"cut\.arpa\.gz"):
        NGram.from_arpa(gz)


# ---------------------------------------------------------------------- KenLM fidelity
def _ptb(name: str) -> Path:
    p = data_root() / "ptb" / name
    if not p.exists():
        pytest.skip(f"{p} not found (see ../shared/datasets/SOURCES.md)")
    return p


def kenlm_corpus(
    train: Path, test: Path, rename_unk: bool
) -> tuple[DataSpec, np.ndarray, np.ndarray]:
    """Read text as KenLM's lmplz/query do: whitespace tokens, one </s> per line.

    The <unk> rule: the vocabulary is </s>, <unk> and the training words; a test word never
    seen in training maps to <unk> (KenLM's OOV). ``rename_unk`` turns PTB's own ``<unk>``
    token into the plain word ``UNK`` (KenLM reserves ``<unk>``). The files end with a
    whitespace-only line without a newline, which KenLM does not count: it is dropped.
    """
    from zoo.data.text import build_vocab, encode, read_lines, tokenize

    def sentences(path: Path) -> list[list[str]]:
        lines = read_lines(path)
        while lines and not lines[-1].strip():
            lines.pop()
        s = tokenize(lines, "word")
        return [["UNK" if t == "<unk>" else t for t in x] for x in s] if rename_unk else s

    tr, te = sentences(train), sentences(test)
    vocab = build_vocab(tr)
    spec = DataSpec("text", (64,), levels=len(vocab), vocab=tuple(vocab), eos=0, unk=1)
    return spec, encode(tr, vocab)[0], encode(te, vocab)[0]


@pytest.mark.parametrize("order, kenlm", [(3, 6.378876), (5, 3.561069)])
def test_mkn_matches_kenlm_on_ptb_char(order, kenlm):
    spec, train, test = kenlm_corpus(_ptb("ptb.char.valid.txt"), _ptb("ptb.char.test.txt"), False)
    assert len(test) == 438_662 + 3_761
    total, n = NGram(spec, order=order).fit_stream(train).stream_log_prob(test)
    assert math.exp(-total / n) == pytest.approx(kenlm, rel=1e-5)


@pytest.mark.parametrize(
    "order, kenlm_excl, kenlm_incl", [(3, 215.0525, 271.9586), (5, 211.9405, 268.0503)]
)
def test_mkn_matches_kenlm_on_ptb_word_valid_with_oovs(order, kenlm_excl, kenlm_incl):
    spec, train, test = kenlm_corpus(_ptb("ptb.valid.txt"), _ptb("ptb.test.txt"), True)
    lp = NGram(spec, order=order).fit_stream(train).token_log_probs(test)
    oov = test == spec.unk
    assert int(oov.sum()) == 3368
    assert math.exp(-lp[~oov].mean()) == pytest.approx(kenlm_excl, rel=1e-5)
    assert math.exp(-lp.mean()) == pytest.approx(kenlm_incl, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("order, kenlm", [(3, 148.28), (5, 141.19)])
def test_mkn_matches_kenlm_on_full_ptb_word(order, kenlm):
    spec, train, test = kenlm_corpus(_ptb("ptb.train.txt"), _ptb("ptb.test.txt"), True)
    total, n = NGram(spec, order=order).fit_stream(train).stream_log_prob(test)
    assert n == 82_430
    assert math.exp(-total / n) == pytest.approx(kenlm, abs=0.005)


@pytest.mark.parametrize(
    "name, kenlm", [("ptb-char-valid.o3.arpa", 6.378876), ("ptb-char-valid.o5.arpa", 3.561069)]
)
def test_kenlm_arpa_import_reproduces_kenlm_perplexity(name, kenlm):
    path = data_root() / "kenlm" / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    from zoo.data.text import encode, read_lines, tokenize

    m = NGram.from_arpa(path)
    test = tokenize(read_lines(_ptb("ptb.char.test.txt")), "word")  # trailing blank dropped
    total, n = m.stream_log_prob(encode(test, m.spec.vocab)[0])
    assert f"{math.exp(-total / n):.6f}" == f"{kenlm:.6f}"


def test_kenlm_word_arpa_import_matches_our_fit_excluding_oovs():
    path = data_root() / "kenlm" / "ptb-word-valid.o3.arpa.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    spec, train, test = kenlm_corpus(_ptb("ptb.valid.txt"), _ptb("ptb.test.txt"), True)
    imported = NGram.from_arpa(path, spec)
    ours = NGram(spec, order=3).fit_stream(train)
    a, b = imported.token_log_probs(test), ours.token_log_probs(test)
    assert np.abs(a - b).max() < 1e-4  # KenLM keeps float32
    keep = test != spec.unk
    assert math.exp(-a[keep].mean()) == pytest.approx(215.0525, rel=1e-5)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_samples_follow_the_model_distribution(smoothing):
    spec = text_spec(3, T=2)
    m = NGram(spec, order=2, smoothing=smoothing).fit_stream(np.array([2, 2, 0, 1, 2, 0, 2]))
    x = torch.tensor(list(itertools.product(range(3), repeat=2)))
    p = m.log_prob(x).double().exp()
    s = m.sample(20_000, generator=torch.Generator().manual_seed(0))
    freq = torch.tensor([float(((s == row).all(1)).double().mean()) for row in x])
    assert torch.allclose(freq, p.float(), atol=0.015)
