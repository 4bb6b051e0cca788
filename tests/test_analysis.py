"""zoo.analysis: ABX on planted cases, code statistics exactly, baseline features and labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.analysis.abx import Item, abx, abx_error, dtw, segments, triphone_items
from zoo.analysis.codes import code_report, mutual_information, nmi, perplexity, purity, top_phones
from zoo.analysis.features import frame_phones, log_mel, mfcc
from zoo.errors import ZooInputError


def test_segments_and_triphone_items_skip_edges_and_gaps():
    labels = np.array([0, 0, 1, 1, 2, 3, 3, -1, 4, 5, 6, 6])
    assert segments(labels)[:3] == [(0, 2, 0), (2, 4, 1), (4, 5, 2)]
    items = triphone_items([labels], [7])
    # 0-1-2 touches the start, 3-(-1)-4 has a gap, 4-5-6 ends at the edge: only 1-2-3 remains
    assert items == [Item(0, 2, 7, 2, (1, 3), 7)]


def test_dtw_identical_is_zero_and_is_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((7, 3))
    assert dtw(a, a) == pytest.approx(0.0, abs=1e-6)
    assert dtw(a, b) == pytest.approx(dtw(b, a))
    assert dtw(np.repeat(a, 2, axis=0), a) == pytest.approx(0.0, abs=1e-6)  # time warping
    p = rng.dirichlet(np.ones(4), size=6)
    assert dtw(p, p, "kl") == pytest.approx(0.0, abs=1e-9) and dtw(p, p[::-1], "kl") > 0


def _planted(n_ctx=3, reps=3, speakers=(0, 1), dim=8, noise=0.0, seed=0, informative=True):
    """Items in their own sequences: context (c, c), centre a or b; features = a centre code
    (informative) or pure noise."""
    rng = np.random.default_rng(seed)
    code = rng.standard_normal((2, dim))
    feats, items = [], []
    for c in range(n_ctx):
        for s in speakers:
            for phone in (0, 1):
                for _ in range(reps):
                    f = rng.standard_normal((4, dim)) * noise
                    if informative:
                        f = f + code[phone]
                    items.append(Item(len(feats), 0, 4, phone, (10 + c, 20 + c), s))
                    feats.append(f)
    return feats, items


def test_identical_a_and_x_give_zero():
    feats, items = _planted(noise=0.0)
    assert abx_error(feats, items, condition="within") == 0.0
    assert abx_error(feats, items, condition="across") == 0.0


def test_random_features_give_fifty_percent():
    feats, items = _planted(n_ctx=6, reps=4, speakers=(0, 1, 2), noise=1.0, informative=False)
    for cond in ("within", "across"):
        assert abs(abx_error(feats, items, condition=cond) - 50.0) < 6.0


def test_hand_worked_three_items():
    # one context, one speaker: A = [1, 0], X = [1, 1] (phone 0), B = [0, 1] (phone 1).
    # Triplets for the pair (0, 1): X = X: d(A,X) = 1/4 = d(B,X): tie, 1/2; X = A: d(X,A) = 1/4
    # < d(B,A) = 1/2: right, 0. The pair (1, 0) has one phone-1 item: no triplet. 25 %.
    feats = [np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]])]
    items = [Item(0, 0, 1, 0, (5, 5), 0), Item(1, 0, 1, 0, (5, 5), 0), Item(2, 0, 1, 1, (5, 5), 0)]
    assert abx_error(feats, items, condition="within") == pytest.approx(25.0)
    assert math.isnan(abx_error(feats, items, condition="across"))  # one speaker


@settings(max_examples=15)
@given(seed=st.integers(0, 10_000), cond=st.sampled_from(["within", "across"]))
def test_abx_invariant_to_speaker_relabelling_and_item_order(seed, cond):
    feats, items = _planted(n_ctx=2, reps=2, speakers=(0, 1, 2), noise=1.5, seed=seed)
    base = abx_error(feats, items, condition=cond)
    rng = np.random.default_rng(seed)
    relabel = dict(zip((0, 1, 2), (rng.permutation(3) + 40).tolist()))
    moved = [Item(i.source, i.start, i.end, i.phone, i.context, relabel[i.speaker]) for i in items]
    order = rng.permutation(len(items))
    assert abx_error(feats, moved, condition=cond) == pytest.approx(base)
    assert abx_error(feats, [items[k] for k in order], condition=cond) == pytest.approx(base)


def test_abx_from_frame_labels_end_to_end():
    # two speakers, sequences "9 0 c 0 9" with centre c in {1, 2}; features one-hot of the label
    labels, spk = [], []
    for s in (0, 1):
        for c in (1, 2, 1, 2):
            labels.append(np.array([9, 9, 0, 0, c, c, 0, 0, 9, 9]))
            spk.append(s)
    feats = [np.eye(10)[lab] for lab in labels]
    out = abx(feats, np.stack(labels), spk)
    assert out == {"within": 0.0, "across": 0.0}
    with pytest.raises(ZooInputError):
        abx_error(feats, [], condition="sideways")


def test_code_statistics_exact():
    codes = np.array([0, 0, 0, 1, 1, 2, 2])
    phones = np.array([5, 5, 6, 6, 6, 7, -1])
    assert purity(codes, phones) == pytest.approx(5 / 6)
    # labelled frames: codes (0,0,0,1,1,2), phones (5,5,6,6,6,7)
    h = lambda *p: -sum(x * math.log(x) for x in p)  # noqa: E731
    hc, hp = h(1 / 2, 1 / 3, 1 / 6), h(1 / 3, 1 / 2, 1 / 6)
    hj = h(1 / 3, 1 / 6, 1 / 3, 1 / 6)
    assert mutual_information(codes, phones) == pytest.approx(hc + hp - hj)
    assert nmi(codes, phones) == pytest.approx(2 * (hc + hp - hj) / (hc + hp))
    assert perplexity([0, 1, 2, 3]) == pytest.approx(4.0) and perplexity([1, 1]) == 1.0
    assert perplexity(codes) == pytest.approx(math.exp(h(3 / 7, 2 / 7, 2 / 7)))
    names = [f"p{i}" for i in range(8)]
    assert top_phones(codes, phones, names, k=2) == {
        0: [("p5", 2 / 3), ("p6", 1 / 3)],
        1: [("p6", 1.0)],
        2: [("p7", 1.0)],
    }
    assert nmi([0, 0, 1, 1], [3, 3, 4, 4]) == pytest.approx(1.0)
    assert nmi([0, 1, 0, 1], [3, 3, 4, 4]) == pytest.approx(0.0, abs=1e-12)
    rep = code_report(codes, phones, names)
    assert set(rep) == {"purity", "nmi", "perplexity", "top_phones"}


def test_frame_phones_at_centres():
    phones = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 4]])
    assert frame_phones(phones, 2).tolist() == [[0, 1, 2, 3]]  # centres 1, 3, 5, 7
    assert frame_phones(phones, 2, first_centre=0).tolist() == [[0, 1, 2, 3, 4]]
    assert frame_phones(phones, 4, n_frames=4).tolist() == [[1, 3, -1, -1]]


def test_mel_and_mfcc_shapes_and_frame_rate():
    t = torch.arange(16000) / 16000
    wave = torch.stack([torch.sin(2 * math.pi * 440 * t), 0.1 * torch.sin(2 * math.pi * 3000 * t)])
    lm = log_mel(wave, 16000, frame_rate=100)
    assert lm.shape == (2, 101, 40) and torch.isfinite(lm).all()
    m = mfcc(wave, 16000, frame_rate=50, n_mfcc=13)
    assert m.shape == (2, 51, 13)
    # the 440 Hz tone's energy sits in lower mel bands than the 3 kHz one
    assert lm[0, 50].argmax() < lm[1, 50].argmax()
    with pytest.raises(ZooInputError):
        log_mel(wave, 16000, frame_rate=33)


def test_triphones_repeated_by_overlapping_chunks_are_kept_once():
    rec = np.array([9, 0, 0, 1, 1, 0, 0, 2, 2, 0, 9])  # two triphones 0-1-0 and 0-2-0 (+ 1-0-2)
    chunks = np.stack([rec[0:10], rec[1:11]])  # overlapping windows of one recording
    both = triphone_items(chunks, [0, 0])
    once = triphone_items(chunks, [0, 0], origins=[[0, 0], [0, 1]], hop=1)
    assert len(both) == 4 and len(once) == 3  # 1-0-2 appears in both chunks
    assert sorted((it.start + it.source, it.phone) for it in once) == [(1, 1), (3, 0), (5, 2)]
    other = triphone_items(chunks, [0, 0], origins=[[0, 0], [1, 1]], hop=1)  # two recordings
    assert len(other) == 4
