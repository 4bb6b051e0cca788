"""eSpeak phoneme events and the phone-aligned ``spoken_words`` data set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data import EMBEDDED, load_dataset
from zoo.data.espeak import Voice, synthesize_phonemes
from zoo.data.speech import phone_track
from zoo.data.words import clean_phone, segments_from_events

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"voices": 4, "test_voices": 2, "utterances": 5}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("text", ["say bab again", "say kit dud again", "bib"])
def test_phoneme_events_are_monotone_cover_the_utterance_and_fit_the_audio(text):
    wave, sr, events = synthesize_phonemes(text, Voice("en-us+f2", rate=170, pitch=60), seed=3)
    assert sr == 22050 and len(events) >= 3
    samples = [s for s, _ in events]
    assert samples == sorted(samples) and samples[0] >= 0
    assert events[-1][1] == ""  # the end event
    end = samples[-1]
    assert end <= len(wave) and end >= 0.8 * len(wave)  # the events span the utterance
    phones = [clean_phone(n) for _, n in events[:-1]]
    assert sum(p is not None for p in phones) >= len(text.replace(" ", "")) // 2
    # the sound sits where the phones are: louder inside phones than before the first one
    w = wave.astype(np.float64) / 32768
    first = samples[0]
    inside = np.abs(w[first:end]).mean()
    assert first == 0 or inside > 5 * np.abs(w[:first]).mean()


def _audio_digest(events_on: bool) -> str:
    code = (
        "import hashlib; from zoo.data import espeak; "
        f"espeak.configure(phoneme_events={events_on}); "
        "w, _, e = espeak.synthesize_phonemes('say bab again', espeak.Voice('en-us+m3'), seed=1); "
        "print(hashlib.sha256(w.tobytes()).hexdigest(), sum(bool(n) for _, n in e))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_audio_is_byte_identical_with_phoneme_events_on_or_off():
    on, off = _audio_digest(True), _audio_digest(False)
    assert on[0] == off[0]
    assert int(on[1]) > 3 and int(off[1]) == 0


def test_segments_and_phone_track_from_events():
    ids = {"b": 0, "a": 1}
    segs = segments_from_events([10, 20, 40, 60, 70], ["b", "'a", "_:", "b", ""], ids)
    assert segs == [(10, 20, 0), (20, 40, 1), (60, 70, 0)]
    track = phone_track(segs, 40, orig_rate=100, target_rate=50)  # halves every boundary
    expect = torch.full((40,), -1)
    expect[5:10], expect[10:20], expect[30:35] = 0, 1, 0
    assert torch.equal(track, expect)


def test_spoken_words_interface_splits_and_alignment(cache):
    assert "spoken_words" in EMBEDDED
    ds = load_dataset("spoken_words", **SMALL, seq_len=8000)
    spec = ds.spec
    assert spec.modality == "audio" and spec.levels == 256 and spec.sample_rate == 16000
    assert spec.labels == {"speaker": 4, "gender": 2}
    names = ds.phone_names
    assert len(names) >= 10 and all(isinstance(n, str) and n for n in names)
    voices = {}
    for name in ("train", "valid", "test"):
        s = ds[name]
        assert s.phones is not None and s.phones.shape == s.x.shape == (len(s), 8000)
        assert s.phones.dtype == torch.int64
        assert s.phones.min() >= -1 and s.phones.max() < len(names)
        assert (s.phones >= 0).float().mean() > 0.5
        voices[name] = set(s.labels["speaker"].tolist())
        # aligned: speech sits where the phones are (louder than the unlabelled samples)
        w = (s.x.float() - 128).abs()
        assert w[s.phones >= 0].mean() > 2 * w[s.phones < 0].mean()
    assert voices["test"].isdisjoint(voices["train"]) and voices["valid"] == voices["train"]
    assert set(ds["test"].labels["gender"].tolist()) == {0, 1}
    assert set(ds["train"].labels["gender"].tolist()) == {0, 1}
    sub = ds["train"].subset(slice(0, 3))
    assert torch.equal(sub.phones, ds["train"].phones[:3])


def test_spoken_words_deterministic_for_a_seed(tmp_path, monkeypatch):
    from zoo.data.words import load_spoken_words

    built = []
    for seed, where in ((0, "a"), (0, "b"), (1, "c")):
        monkeypatch.setenv("ZOO_CACHE", str(tmp_path / where))
        built.append(load_spoken_words(**SMALL, seed=seed))
    a, b, c = built
    for split in ("train", "valid", "test"):
        assert torch.equal(a[split].x, b[split].x)
        assert torch.equal(a[split].phones, b[split].phones)
    assert a.phone_names == b.phone_names
    assert not torch.equal(a["train"].x[:1], c["train"].x[:1])


@pytest.mark.parametrize(
    "bad", [{"voices": 3}, {"test_voices": 3}, {"voices": 4, "test_voices": 4}, {"utterances": 2}]
)
def test_spoken_words_bad_options_raise(cache, bad):
    from zoo.errors import ZooInputError

    with pytest.raises(ZooInputError):
        load_dataset("spoken_words", **{**SMALL, **bad})


def test_chunk_origin_names_each_chunks_recording_and_start(cache):
    ds = load_dataset("spoken_words", **SMALL, seq_len=8000)
    for name in ("train", "valid", "test"):
        origin = ds.meta["chunk_origin"][name]
        assert len(origin) == len(ds[name])
        recs = [r for r, _ in origin]
        assert recs == sorted(recs) and all(st >= 0 for _, st in origin)
        # chunks of one recording that start at the same sample hold the same samples
        for i in range(1, len(origin)):
            if origin[i][0] == origin[i - 1][0]:
                shift = origin[i][1] - origin[i - 1][1]
                assert 0 < shift <= 8000
                if shift < 8000:
                    assert torch.equal(ds[name].x[i, : 8000 - shift], ds[name].x[i - 1, shift:])
