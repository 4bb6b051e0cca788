"""Speech data layer: mu-law, chunking, FSDD splits and labels, bad audio, synthesised digits."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.data import DatasetNotFound, data_root, load_dataset
from zoo.data.speech import (
    chunk,
    load_fsdd,
    load_librispeech,
    load_vctk,
    load_wavfolder,
    mu_law_decode,
    mu_law_encode,
    read_audio,
    silence_level,
    write_wav,
)

FSDD = data_root() / "fsdd" / "recordings"


@settings(deadline=None, max_examples=30)
@given(levels=st.integers(2, 1024), seed=st.integers(0, 1000))
def test_mu_law_levels_in_range_and_round_trip(levels, seed):
    q = torch.randint(levels, (257,), generator=torch.Generator().manual_seed(seed))
    wave = mu_law_decode(q, levels)
    assert wave.min() >= -1 and wave.max() <= 1
    assert torch.equal(mu_law_encode(wave, levels), q)  # decoding then encoding is lossless
    x = torch.linspace(-1.5, 1.5, 101)  # out-of-range input is clamped, never out of levels
    e = mu_law_encode(x, levels)
    assert e.min() >= 0 and e.max() < levels


def test_silence_level_decodes_near_zero():
    for levels in (3, 17, 256):
        assert abs(float(mu_law_decode(torch.tensor([silence_level(levels)]), levels))) < 0.1


@settings(deadline=None, max_examples=40)
@given(T=st.integers(1, 200), seq_len=st.integers(1, 64), hop=st.integers(1, 64))
def test_chunks_have_seq_len_and_cover_the_recording(T, seq_len, hop):
    q = torch.arange(T) % 7
    c = chunk(q, seq_len, hop=hop, pad="silence", levels=256)
    assert c.shape[1] == seq_len and len(c) >= 1
    if T < seq_len:
        assert len(c) == 1 and torch.equal(c[0, :T], q)
        assert (c[0, T:] == silence_level(256)).all()
        assert len(chunk(q, seq_len, hop=hop, pad="drop", levels=256)) == 0
    elif hop <= seq_len:  # every sample lies in some chunk (the tail chunk ends at T)
        assert torch.equal(c[-1], q[T - seq_len :])


def _write(path, wave, sr=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave, sr, subtype="FLOAT" if np.isnan(wave).any() else "PCM_16")


def _fake_fsdd(root, speakers=("alice", "bob"), indices=range(12), sr=8000):
    rng = np.random.default_rng(0)
    for d in range(10):
        for s in speakers:
            for i in indices:
                n = int(rng.integers(500, 3000))
                _write(
                    root / "fsdd" / "recordings" / f"{d}_{s}_{i}.wav",
                    0.3 * rng.standard_normal(n).clip(-3, 3) / 3,
                    sr,
                )


def test_fsdd_split_by_take_index_and_labels_parsed(tmp_path):
    _fake_fsdd(tmp_path, indices=(0, 4, 5, 9, 10, 11))
    ds = load_fsdd(root=tmp_path, seq_len=1024)
    assert ds.meta["speakers"] == ["alice", "bob"]
    assert ds.meta["recordings"] == {"train": 40, "valid": 40, "test": 40}
    assert ds.spec.labels == {"digit": 10, "speaker": 2} and ds.spec.shape == (1024,)
    for split in ("train", "valid", "test"):
        s = ds[split]
        assert s.x.dtype == torch.int64 and s.x.shape[1] == 1024
        assert set(s.labels["digit"].tolist()) == set(range(10))
        assert set(s.labels["speaker"].tolist()) == {0, 1}
        assert 0 <= int(s.x.min()) and int(s.x.max()) < 256


def test_fsdd_resampled_chunks_have_the_target_rate(tmp_path):
    _write(tmp_path / "fsdd" / "recordings" / "3_bob_0.wav", np.sin(np.arange(8000) / 5) * 0.5)
    ds = load_fsdd(root=tmp_path, sample_rate=16000, seq_len=4000, levels=17)
    assert ds.spec.sample_rate == 16000 and ds.spec.levels == 17
    assert len(ds["test"]) == 4  # 1 s at 16 kHz = 16,000 samples = 4 chunks of 4,000


def test_real_fsdd_official_test_split():
    if not FSDD.is_dir():
        pytest.skip(f"FSDD not found at {FSDD}")
    ds = load_dataset("fsdd")
    assert ds.meta["recordings"] == {"train": 2400, "valid": 300, "test": 300}
    assert ds.spec.labels == {"digit": 10, "speaker": 6} and ds.spec.sample_rate == 8000
    assert len(ds.meta["speakers"]) == 6


def test_nan_audio_raises_naming_the_file(tmp_path):
    wave = np.zeros(2000, np.float32)
    wave[100] = np.nan
    _write(tmp_path / "fsdd" / "recordings" / "1_bob_0.wav", wave)
    with pytest.raises(ValueError, match="1_bob_0.wav.*NaN"):
        load_fsdd(root=tmp_path)


def test_clipped_audio_raises_unless_allowed(tmp_path):
    wave = np.clip(np.sin(np.arange(4000) / 3) * 3, -1, 1)  # most samples at full scale
    _write(tmp_path / "fsdd" / "recordings" / "2_bob_0.wav", wave)
    with pytest.raises(ValueError, match="2_bob_0.wav.*clipped"):
        load_fsdd(root=tmp_path)
    assert len(load_fsdd(root=tmp_path, clipped="ignore")["test"]) == 2


def test_missing_data_set_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFound, match=str(tmp_path)) as e:
        load_fsdd(root=tmp_path)
    assert "git clone" in str(e.value)
    with pytest.raises(DatasetNotFound, match="openslr"):
        load_librispeech(root=tmp_path)
    with pytest.raises(DatasetNotFound, match="VCTK"):
        load_vctk(root=tmp_path)
    with pytest.raises(DatasetNotFound, match="no .wav"):
        load_wavfolder(root=tmp_path)


def test_wavfolder_pattern_labels_and_split_group(tmp_path):
    for split in ("train", "valid", "test"):
        for spk in ("ann", "ben", "cid"):
            for i in range(2):
                _write(tmp_path / split / f"{spk}-{i}.wav", np.sin(np.arange(1500) / 4) * 0.4)
    ds = load_wavfolder(
        root=tmp_path, pattern=r"(?P<split>\w+)/(?P<speaker>\w+)-(?P<index>\d)\.wav", seq_len=1000
    )
    assert ds.spec.labels == {"speaker": 3}
    assert ds.meta["recordings"] == {"train": 6, "valid": 6, "test": 6}
    assert ds["valid"].labels["speaker"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_librispeech_and_vctk_folders_read_with_soundfile(tmp_path):
    for spk in ("19", "26"):
        for utt in range(4):
            _write(
                tmp_path / "LibriSpeech" / "dev-clean" / spk / "198" / f"{spk}-198-{utt:04d}.flac",
                np.sin(np.arange(5000) / 7) * 0.3,
                16000,
            )
            _write(
                tmp_path
                / "VCTK-Corpus-0.92"
                / "wav48_silence_trimmed"
                / f"p2{spk}"
                / f"p2{spk}_{utt:03d}_mic1.flac",
                np.sin(np.arange(5000) / 7) * 0.3,
                48000,
            )
    ls = load_librispeech(root=tmp_path, seq_len=4096)
    assert ls.spec.labels == {"speaker": 2} and ls.meta["speakers"] == ["19", "26"]
    assert sum(ls.meta["recordings"].values()) == 8 and ls.meta["recordings"]["test"] == 2
    vc = load_vctk(root=tmp_path, seq_len=1000)
    assert vc.meta["speakers"] == ["p219", "p226"]
    assert vc["train"].x.shape[1] == 1000  # 5,000 samples at 48 kHz -> 1,667 at 16 kHz


def _mean_pitch_hz(wave: np.ndarray, sr: int) -> float:
    """Median autocorrelation pitch of the voiced frames (50-400 Hz)."""
    f0 = []
    for s in range(0, len(wave) - 512, 256):
        w = wave[s : s + 512] - wave[s : s + 512].mean()
        if np.sqrt((w**2).mean()) < 0.05:
            continue
        ac = np.correlate(w, w, "full")[511:]
        lo, hi = sr // 400, sr // 50
        f0.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0))


def test_spoken_digits_have_all_digits_and_distinct_speakers():
    ds = load_dataset("spoken_digits")
    tr = ds["train"]
    assert ds.spec.labels == {"speaker": 8, "digit": 10}
    assert set(tr.labels["digit"].tolist()) == set(range(10))
    assert set(tr.labels["speaker"].tolist()) == set(range(8))
    # speakers differ in pitch: the male and female voices' median pitches are far apart
    pitch = {}
    for s in range(8):
        x = tr.x[tr.labels["speaker"] == s][:20]
        pitch[s] = _mean_pitch_hz(mu_law_decode(x.reshape(-1), 256).numpy(), 8000)
    male = [pitch[s] for s in range(4)]
    female = [pitch[s] for s in range(4, 8)]
    assert max(male) < min(female), pitch
    assert len({round(p / 5) for p in pitch.values()}) >= 6, pitch  # mostly distinct


def test_written_wav_reads_back_as_the_same_levels(tmp_path):
    q = torch.randint(256, (800,), generator=torch.Generator().manual_seed(0))
    write_wav(tmp_path / "a.wav", q, 8000)
    wave, sr = read_audio(tmp_path / "a.wav")
    assert sr == 8000 and torch.equal(mu_law_encode(torch.from_numpy(wave), 256), q)


@pytest.mark.slow
def test_spoken_digits_are_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    from zoo.data.speech import load_spoken_digits

    a = load_spoken_digits(takes=3)
    (f,) = tmp_path.glob("spoken_digits_*.npz")
    f.unlink()  # synthesise again from scratch
    b = load_spoken_digits(takes=3)
    assert torch.equal(a["train"].x, b["train"].x) and len(a["test"]) > 0


def test_every_speech_loader_takes_the_chunking_options_by_name_with_its_defaults():
    import inspect

    from zoo.data.speech import Chunking, load_spoken_digits

    common = {"levels": 256, "hop": None, "pad": "silence", "normalize": True}
    expected = {  # the defaults each loader had when it spelled the options out itself
        load_fsdd: {**common, "sample_rate": 8000, "seq_len": 2048, "clipped": "error"},
        load_wavfolder: {**common, "sample_rate": 8000, "seq_len": 2048, "clipped": "error"},
        load_librispeech: {**common, "sample_rate": 16000, "seq_len": 4096, "clipped": "warn"},
        load_vctk: {**common, "sample_rate": 16000, "seq_len": 4096, "clipped": "warn"},
        load_spoken_digits: {**common, "sample_rate": 8000, "seq_len": 2048},
    }
    for loader, defaults in expected.items():
        params = inspect.signature(loader).parameters
        assert "chunking" not in params
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values()), loader.__name__
        got = {k: params[k].default for k in defaults}
        assert got == defaults, loader.__name__
        if loader is not load_spoken_digits:
            assert params["clip_fraction"].default == 1e-3
    with pytest.raises(ValueError, match="pad must be 'silence' or 'drop', got 'loop'"):
        Chunking(pad="loop").check()
    ds = load_spoken_digits(seq_len=512, hop=256)  # options by name reach the chunker
    assert ds.spec.shape == (512,) and ds.meta["chunking"]["hop"] == 256
    with pytest.raises(TypeError, match="unexpected keyword argument 'seq_length'"):
        load_spoken_digits(seq_length=512)
