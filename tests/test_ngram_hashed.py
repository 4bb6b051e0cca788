"""N-gram back-off scoring through the hashed tables: bit-for-bit what the ARPA file says."""

from __future__ import annotations

import math

import numpy as np
import torch
from arpa_models import WORDS, arpa_models, spec_of, write  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.models.ngram import LN10, NGram
from zoo.models.ngram_tables import Hashed


def reference(tables, sentences) -> list[float]:
    """log10 p of every token, read straight off the tables (KenLM's query): the longest
    stored n-gram ending in the token, plus the back-off weights of the stored contexts at
    least as long as its context, added from the longest down."""
    N, out = len(tables), []
    for s in sentences:
        for j, w in enumerate(s):
            h = ("<s>", *s[:j])[-(N - 1) :] if N > 1 else ()
            acc = 0.0
            for n in range(N, 0, -1):
                if n < N and len(h) >= n and h[len(h) - n :] in tables[n - 1]:
                    acc += tables[n - 1][h[len(h) - n :]][1]
                g = (*h[len(h) - (n - 1) :], w) if n > 1 else (w,)
                if n - 1 <= len(h) and g in tables[n - 1]:
                    out.append(tables[n - 1][g][0] + acc)
                    break
    return out


@settings(deadline=None, max_examples=60)
@given(arpa_models(), st.data())
def test_hashed_back_off_scoring_equals_the_arpa_tables_bit_for_bit(tmp_path_factory, model, data):
    V, tables = model
    path = tmp_path_factory.mktemp("arpa") / "m.arpa"
    write(path, tables)
    m = NGram.from_arpa(path, spec_of(V))
    stream = data.draw(st.lists(st.integers(0, V - 1), min_size=8, max_size=40))
    got = m.token_log_probs(np.array(stream))
    want = np.array(reference(tables, sentences_of(stream, V))) * LN10
    assert np.array_equal(got, want)
    # log_prob: each row of a batch starts a sentence (as does every token after </s>)
    rows = np.array(stream[:8]).reshape(2, 4)
    lp = m.log_prob(torch.from_numpy(rows)).double().numpy()
    per_row = [math.fsum(reference(tables, sentences_of(r.tolist(), V))) * LN10 for r in rows]
    assert np.allclose(lp, per_row, rtol=1e-6)


def sentences_of(stream: list[int], V: int) -> list[list[str]]:
    sentences, cur = [], []
    for i in stream:
        cur.append(WORDS[i])
        if i == 0:
            sentences.append(cur)
            cur = []
    return [*sentences, cur] if cur else sentences


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.integers(0, 2**40), min_size=0, max_size=300, unique=True),
    st.lists(st.integers(0, 2**40), min_size=0, max_size=100),
)
def test_hash_table_finds_exactly_the_stored_keys(keys, extra):
    k = np.array(keys, np.int64)
    logp = -np.arange(len(k), dtype=np.float64) / 7
    bo = np.arange(len(k), dtype=np.float64) / 3
    h = Hashed(k, logp, bo)
    q = np.array(keys + extra, np.int64)
    found, rows, lp, b = h.find(q)
    assert np.array_equal(found, np.isin(q, k))
    where = {key: i for i, key in enumerate(keys)}
    idx = np.array([where[key] for key in q[found].tolist()], np.int64)
    assert np.array_equal(lp, logp[idx]) and np.array_equal(b, bo[idx])
    assert np.array_equal(rows, h.slots[idx])  # the row it was stored in
