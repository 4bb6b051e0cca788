"""Real phone-aligned corpora (zoo.data.aligned) on small generated fixtures: TIMIT's layout
(NIST SPHERE and RIFF audio, .PHN, 39-phone folding, held-out test speakers) and a folder of
audio with TextGrid alignments; the alignment readers on exact cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from zoo.data import load_dataset
from zoo.data.aligned import read_phn, read_textgrid
from zoo.errors import ZooInputError

SR = 16000
# one utterance: (phone, samples); TIMIT names, with silences and a folded pair (ix -> ih)
UTT = [("h#", 800), ("b", 1200), ("ix", 1600), ("dcl", 400), ("d", 1000), ("aa", 2000),
       ("q", 300), ("ao", 1500), ("h#", 700)]  # fmt: skip


def _tone(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return 0.3 * np.sin(2 * np.pi * (150 + 50 * seed % 7) * t) + 0.01 * rng.standard_normal(n)


def _utterance(folder: Path, stem: str, seed: int, fmt: str) -> None:
    lines, at = [], 0
    for phone, n in UTT:
        lines.append(f"{at} {at + n} {phone}")
        at += n
    (folder / f"{stem}.PHN").write_text("\n".join(lines) + "\n")
    wave = _tone(at, seed).astype(np.float32)
    if fmt == "nist":
        sf.write(folder / f"{stem}.WAV", wave, SR, format="NIST", subtype="PCM_16")
    else:
        sf.write(folder / f"{stem}.WAV.wav", wave, SR, format="WAV", subtype="PCM_16")


@pytest.fixture(scope="module")
def timit_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    speakers = {"TRAIN": ["FAKS0", "MABC0", "FDEF1", "MGHI1"], "TEST": ["FJKL0", "MMNO0"]}
    seed = 0
    for part, spks in speakers.items():
        for spk in spks:
            d = root / "TIMIT" / part / "DR1" / spk
            d.mkdir(parents=True)
            for stem in ("SA1", "SI1001", "SX101", "SX102", "SX103"):
                seed += 1
                _utterance(d, stem, seed, "nist" if seed % 2 else "riff")
    return root


def test_timit_layout_splits_phones_and_labels(timit_root):
    ds = load_dataset("timit", root=str(timit_root), seq_len=2000)
    # 39-phone folding: ix -> ih, ao -> aa; dcl (a closure) and q, h# are no phone
    assert ds.phone_names == ("aa", "b", "d", "ih")
    assert ds.meta["test_speakers"] == [ds.meta["speakers"].index(s) for s in ("FJKL0", "MMNO0")]
    test_spk = set(ds["test"].labels["speaker"].tolist())
    assert test_spk == set(ds.meta["test_speakers"])
    assert not test_spk & set(ds["train"].labels["speaker"].tolist())
    assert set(ds["valid"].labels["speaker"].tolist()) <= set(
        ds["train"].labels["speaker"].tolist()
    )
    assert set(ds["test"].labels["gender"].tolist()) == {0, 1}
    # SA sentences are out: 4 utterances per speaker, one of them valid (0.125 of 4 -> 1)
    assert ds.meta["recordings"] == {"train": 12, "valid": 4, "test": 8}
    # the phone track: the first chunk of an utterance starts in h# (none) and then b
    ph = ds["train"].phones[0]
    assert ph.shape == (2000,) and ph[:800].eq(-1).all() and ph[800:2000].eq(1).all()
    names = list(ds.phone_names)
    assert ds["train"].phones.max() < len(names) and ds["train"].phones.min() >= -1
    assert len(ds.meta["chunk_origin"]["train"]) == len(ds["train"].x)


def test_timit_61_phones_keep_the_distinctions(timit_root):
    ds = load_dataset("timit", root=str(timit_root), seq_len=2000, phone_set="61")
    assert ds.phone_names == ("aa", "ao", "b", "d", "dcl", "ix")


def test_timit_include_sa_and_bad_options(timit_root):
    ds = load_dataset("timit", root=str(timit_root), seq_len=2000, include_sa=True)
    assert sum(ds.meta["recordings"].values()) == 30
    with pytest.raises(ZooInputError, match="phone_set"):
        load_dataset("timit", root=str(timit_root), phone_set="48")


def test_missing_timit_says_where_to_put_it(tmp_path):
    from zoo.data import DatasetNotFound

    with pytest.raises(DatasetNotFound, match="LDC93S1"):
        load_dataset("timit", root=str(tmp_path))


TEXTGRID_LONG = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.6
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 0.6
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 0.6
            text = "bad"
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 0.6
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = ""
        intervals [2]:
            xmin = 0.1
            xmax = 0.25
            text = "B"
        intervals [3]:
            xmin = 0.25
            xmax = 0.45
            text = "AE1"
        intervals [4]:
            xmin = 0.45
            xmax = 0.6
            text = "D"
"""


def test_textgrid_long_and_short_formats_agree():
    from tempfile import TemporaryDirectory

    short = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n0.6\n<exists>\n1\n'
             '"IntervalTier"\n"phones"\n0\n0.6\n4\n0\n0.1\n""\n0.1\n0.25\n"B"\n'
             '0.25\n0.45\n"AE1"\n0.45\n0.6\n"D"\n')  # fmt: skip
    with TemporaryDirectory() as d:
        (Path(d) / "a.TextGrid").write_text(TEXTGRID_LONG)
        (Path(d) / "b.TextGrid").write_text(short)
        want = [(0.0, 0.1, ""), (0.1, 0.25, "B"), (0.25, 0.45, "AE1"), (0.45, 0.6, "D")]
        assert read_textgrid(Path(d) / "a.TextGrid") == want
        assert read_textgrid(Path(d) / "b.TextGrid") == want
        assert read_textgrid(Path(d) / "a.TextGrid", tier="words") == [(0.0, 0.6, "bad")]
        (Path(d) / "c.TextGrid").write_text("not a textgrid")
        with pytest.raises(ValueError, match="not a Praat TextGrid"):
            read_textgrid(Path(d) / "c.TextGrid")


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**4),
                          st.sampled_from(["aa", "b", "h#", "ax-h"])), max_size=20))  # fmt: skip
def test_phn_round_trip(rows):
    from tempfile import TemporaryDirectory

    segs = [(a, a + n, p) for a, n, p in rows]
    with TemporaryDirectory() as d:
        path = Path(d) / "x.PHN"
        path.write_text("".join(f"{a} {b} {p}\n" for a, b, p in segs))
        assert read_phn(path) == segs


def test_phn_bad_line_is_named(tmp_path):
    (tmp_path / "x.PHN").write_text("0 10 aa\n20 5 b\n")
    with pytest.raises(ValueError, match=r"x.PHN:2"):
        read_phn(tmp_path / "x.PHN")


def test_aligned_folder_with_textgrids(tmp_path):
    rng = np.random.default_rng(0)
    speakers = {"s1": "f", "s2": "m", "s3": "f", "s4": "m", "s5": "f", "s6": "m"}
    (tmp_path / "speakers.tsv").write_text("".join(f"{s}\t{g}\n" for s, g in speakers.items()))
    for spk in speakers:
        d = tmp_path / "corpus" / spk
        d.mkdir(parents=True)
        for u in range(4):
            sf.write(d / f"u{u}.flac", (0.1 * rng.standard_normal(9600)).astype(np.float32), SR)
            (d / f"u{u}.TextGrid").write_text(TEXTGRID_LONG)
    ds = load_dataset("aligned_folder", root=str(tmp_path), seq_len=4800, test_fraction=0.34)
    assert ds.phone_names == ("AE1", "B", "D")  # "" is silence
    ph = ds["train"].phones[0]  # B from 0.1 s = sample 1600 to 4000, then AE1
    assert ph[:1600].eq(-1).all() and ph[1600:4000].eq(1).all() and ph[4000:4800].eq(0).all()
    test = set(ds["test"].labels["speaker"].tolist())
    assert len(test) == 2 and set(ds["test"].labels["gender"].tolist()) == {0, 1}
    assert not test & set(ds["train"].labels["speaker"].tolist())
    again = load_dataset("aligned_folder", root=str(tmp_path), seq_len=4800, test_fraction=0.34,
                         seed=0, valid_fraction=0.25)  # fmt: skip
    assert set(again["test"].labels["speaker"].tolist()) == test  # seeded, deterministic


def test_aligned_folder_needs_genders(tmp_path):
    from zoo.data import DatasetNotFound

    (tmp_path / "s1").mkdir()
    with pytest.raises(DatasetNotFound, match="speakers.tsv"):
        load_dataset("aligned_folder", root=str(tmp_path))


def test_speech_experiment_reads_an_aligned_corpus(timit_root):
    from zoo.experiments import speech

    spec, splits, names = speech.load_corpus(
        "timit", seed=0, smoke=True, options={"root": str(timit_root), "seq_len": 2000}
    )
    assert names == ("aa", "b", "d", "ih") and spec.sample_rate == SR
    for s in splits.values():
        assert s.origins is not None and s.origins.shape == (len(s.x), 2)
        assert set(s.labels) == {"speaker", "gender"} and s.phones.shape == s.x.shape
    assert not set(splits["test"].labels["speaker"].tolist()) & set(
        splits["train"].labels["speaker"].tolist()
    )


def test_speech_experiment_refuses_data_without_phones(tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "never"
    assert main(["experiment", "speech", "--out", str(out), "--dataset", "digits"]) == 2
    assert "no phone alignment" in capsys.readouterr().err and not out.exists()
