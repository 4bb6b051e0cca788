"""Real phone-aligned speech: TIMIT's layout, and any folder of audio with alignments.

Both loaders give what ``spoken_words`` gives (and what ``zoo experiment speech`` needs): labels
``speaker`` and ``gender`` (0 female, 1 male), every split's ``phones`` (``[N, seq_len]``, -1
where no phone) indexing ``ds.phone_names``, ``meta["chunk_origin"]`` for ABX, and a ``test``
split of speakers never heard in ``train`` (both genders) beside a ``valid`` split of unheard
utterances of the training speakers.

- :func:`load_timit` reads ``{root}/TIMIT/{TRAIN,TEST}/DR*/{F,M}xxxN/*.WAV`` with its ``.PHN``
  (``start end phone``, samples at 16 kHz). Any letter case; the audio may be NIST SPHERE
  (``.WAV``, read by libsndfile) or RIFF (``.WAV`` or ``.WAV.wav``, as some copies ship it).
  TIMIT's own test speakers are the ``test`` split; the ``SA`` sentences (read by every
  speaker) are left out unless ``include_sa``. ``phone_set="39"`` folds the 61 phones as
  Lee & Hon (1989) do (``"61"`` keeps them); silences (``h#``, ``pau``, ``epi``, and with 39
  the closures folded into them) and the glottal stop ``q`` are -1.
- :func:`load_aligned_folder` reads ``{root}/**/{speaker}/*.wav|flac`` with a sibling
  ``.PHN`` (samples) or ``.TextGrid`` (seconds; the tier named ``phones``, else the first
  interval tier; Praat's long or short text format), e.g. a forced-aligned LibriSpeech.
  The speaker is the audio's folder; genders come from ``{root}/speakers.tsv`` (lines
  ``speaker<TAB>f|m``; required, since the gender probe needs it). A seeded ``test_fraction``
  of the speakers of each gender is held out. Labels in ``silences`` are -1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import torch

from zoo.data.base import Dataset, DatasetNotFound, data_root
from zoo.data.speech import Chunking, Recording, _ids, build_dataset, speech_loader

GENDERS = ("female", "male")  # label ids, as in spoken_words

# TIMIT's 61 phones folded to 39 (Lee & Hon 1989); values "sil" and None (deleted) become -1
FOLD_39 = {
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l",
    "em": "m", "en": "n", "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    "pcl": "sil", "tcl": "sil", "kcl": "sil", "bcl": "sil", "dcl": "sil", "gcl": "sil",
    "h#": "sil", "pau": "sil", "epi": "sil", "q": None,
}  # fmt: skip
TIMIT_SILENCES = frozenset({"h#", "pau", "epi", "q"})
ALIGNED_SILENCES = ("", "sil", "sp", "spn", "<eps>", "h#", "pau")


# ---------------------------------------------------------------- alignment files
def read_phn(path: str | os.PathLike) -> list[tuple[int, int, str]]:
    """A TIMIT-style ``.PHN``/``.WRD`` file: ``[(start, end, label)]`` in samples.

    ValueError naming the line that is not ``start end label`` with ``0 <= start <= end``."""
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end, label = int(parts[0]), int(parts[1]), " ".join(parts[2:])
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{i}: expected 'start end label', got {line!r}") from None
        if not label or start < 0 or end < start:
            raise ValueError(f"{path}:{i}: bad segment {line!r} (need 0 <= start <= end)")
        out.append((start, end, label))
    return out


_NUMBER_OR_STRING = re.compile(r'"((?:[^"]|"")*)"|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)')


def read_textgrid(path: str | os.PathLike, tier: str = "phones") -> list[tuple[float, float, str]]:
    """The intervals ``[(xmin, xmax, text)]`` in seconds of one interval tier of a Praat
    TextGrid (long or short text format): the tier named ``tier``, else the first interval
    tier. ValueError when the file is not a TextGrid or has no interval tier."""
    text = Path(path).read_text(encoding="utf-8-sig")
    text = re.sub(r"\[\s*\d+\s*\]", " ", text)  # long format's item [1]: / intervals [2]:
    toks: list[str | float] = [
        m.group(1).replace('""', '"') if m.group(1) is not None else float(m.group(2))
        for m in _NUMBER_OR_STRING.finditer(text)
    ]
    if len(toks) < 5 or toks[0] != "ooTextFile" or toks[1] != "TextGrid":
        raise ValueError(f"{path}: not a Praat TextGrid in text format")
    tiers: dict[str, list[tuple[float, float, str]]] = {}
    first: str | None = None
    pos, n_tiers = 5, int(toks[4])  # xmin, xmax, size
    try:
        for _ in range(n_tiers):
            kind, name, n = toks[pos], str(toks[pos + 1]), int(toks[pos + 4])
            pos += 5
            if kind == "IntervalTier":
                tiers[name] = [
                    (float(toks[pos + 3 * j]), float(toks[pos + 3 * j + 1]),
                     str(toks[pos + 3 * j + 2]))
                    for j in range(n)
                ]  # fmt: skip
                first = first or name
                pos += 3 * n
            else:  # TextTier: (time, mark) pairs
                pos += 2 * n
    except (IndexError, TypeError, ValueError):
        raise ValueError(f"{path}: truncated or malformed TextGrid") from None
    if first is None:
        raise ValueError(f"{path}: no interval tier")
    return tiers.get(tier, tiers[first])


def _find_audio(stem: Path) -> Path | None:
    """The audio beside an alignment file ``stem.*``: any case of .wav / .flac / .wav.wav."""
    for p in sorted(stem.parent.iterdir()):
        low = p.name.lower()
        if p.is_file() and low in {stem.name.lower() + e for e in (".wav", ".flac", ".wav.wav")}:
            return p
    return None


def _segments(
    labelled: Iterable[tuple[int, int, str]], ids: dict[str, int]
) -> list[tuple[int, int, int]]:
    """Named segments -> ``(start, end, id)``, dropping the labels that ``ids`` lacks."""
    return [(a, b, ids[p]) for a, b, p in labelled if p in ids and b > a]


# ---------------------------------------------------------------- the split rule
def _split_speakers(genders: dict[str, int], test_fraction: float, seed: int) -> set[str]:
    """A seeded ``test_fraction`` of each gender's speakers (at least one of each)."""
    g = torch.Generator().manual_seed(seed)
    test: set[str] = set()
    for gender in (0, 1):
        spk = sorted(s for s, v in genders.items() if v == gender)
        k = max(1, round(test_fraction * len(spk)))
        test |= {spk[i] for i in torch.randperm(len(spk), generator=g)[:k].tolist()}
    return test


def _valid_utterances(files: list[Path], fraction: float, seed: int) -> set[Path]:
    """A seeded ``fraction`` (at least one) of one speaker's utterances."""
    g = torch.Generator().manual_seed(seed)
    k = max(1, round(fraction * len(files)))
    return {files[i] for i in torch.randperm(len(files), generator=g)[:k].tolist()}


def _aligned_dataset(
    name: str,
    items: list[tuple[Path, str, list[tuple[int, int, str]]]],
    *,
    genders: dict[str, int],
    test_speakers: set[str],
    phone_names: tuple[str, ...],
    valid_fraction: float,
    seed: int,
    source: str,
    chunking: Chunking,
    meta: dict,
) -> Dataset:
    """``items``: (audio, speaker, segments in samples with phone names) -> a Dataset."""
    speakers = sorted({s for _, s, _ in items})
    if not test_speakers or set(speakers) <= test_speakers:
        raise ValueError(f"{name}: need both training and test speakers, found {len(speakers)}")
    missing = {genders.get(s) for s in test_speakers} ^ {0, 1}
    if missing:
        raise ValueError(f"{name}: the test speakers must include both genders")
    spk_id = _ids(speakers)
    ids = {p: i for i, p in enumerate(phone_names)}
    by_speaker: dict[str, list[Path]] = {}
    for path, spk, _ in items:
        by_speaker.setdefault(spk, []).append(path)
    valid: set[Path] = set()
    for spk, files in by_speaker.items():
        if spk not in test_speakers:
            valid |= _valid_utterances(sorted(files), valid_fraction, seed + spk_id[spk])

    def recordings():
        for path, spk, segs in items:
            split = "test" if spk in test_speakers else "valid" if path in valid else "train"
            labels = {"speaker": spk_id[spk], "gender": genders[spk]}
            yield Recording(str(path), labels, split, segments=_segments(segs, ids))

    return build_dataset(
        name,
        recordings(),
        label_sizes={"speaker": len(speakers), "gender": 2},
        chunking=chunking,
        source=source,
        meta={
            **meta,
            "speakers": speakers,
            "label_names": {"speaker": speakers, "gender": list(GENDERS)},
            "test_speakers": sorted(spk_id[s] for s in test_speakers),
        },
        phone_names=phone_names,
    )


# ---------------------------------------------------------------- TIMIT
@speech_loader(sample_rate=16000, seq_len=16000, clipped="warn")
def load_timit(
    *,
    root: str | os.PathLike | None = None,
    phone_set: str = "39",
    include_sa: bool = False,
    valid_fraction: float = 0.125,
    seed: int = 0,
    chunking: Chunking,
) -> Dataset:
    """TIMIT from ``{root}/TIMIT`` (module doc): 16 kHz, 1 s chunks by default; TIMIT's test
    speakers are ``test``, ``valid_fraction`` of each training speaker's utterances
    ``valid``. ``phone_set``: "39" (Lee & Hon folding) or "61"."""
    if phone_set not in ("39", "61"):
        raise ValueError(f"phone_set must be '39' or '61', got {phone_set!r}")
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction!r}")
    base = data_root(root)
    folder = next((base / n for n in ("TIMIT", "timit") if (base / n).is_dir()), base / "TIMIT")
    phn = (
        sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".phn")
        if folder.is_dir()
        else []
    )
    if not phn:
        raise DatasetNotFound(
            f"TIMIT not found: no {folder}/{{TRAIN,TEST}}/DR*/<speaker>/*.PHN. TIMIT is "
            "licensed by the LDC (LDC93S1); put your copy there or pass root=..."
        )
    items, genders, test = [], {}, set()
    for path in phn:
        if not include_sa and path.stem.lower().startswith("sa"):
            continue
        audio = _find_audio(path.with_suffix(""))
        if audio is None:
            raise ValueError(f"{path}: no audio beside it (.WAV, .wav or .WAV.wav)")
        spk_dir, part = path.parent.name, path.parent.parent.parent.name.lower()
        spk = spk_dir.upper()
        if spk[0] not in "FM" or part not in ("train", "test"):
            raise ValueError(f"{path}: not in TIMIT's {{TRAIN,TEST}}/DR*/{{F,M}}xxxN/ layout")
        genders[spk] = 0 if spk[0] == "F" else 1
        if part == "test":
            test.add(spk)
        segs = []
        for a, b, p in read_phn(path):
            p = FOLD_39.get(p, p) if phone_set == "39" else p
            if p is not None and p != "sil" and p not in TIMIT_SILENCES:
                segs.append((a, b, p))
        items.append((audio, spk, segs))
    phone_names = tuple(sorted({p for *_, segs in items for *_, p in segs}))
    return _aligned_dataset(
        "timit",
        items,
        genders=genders,
        test_speakers=test,
        phone_names=phone_names,
        valid_fraction=valid_fraction,
        seed=seed,
        source=f"TIMIT from {folder} ({phone_set} phones)",
        chunking=chunking,
        meta={"split": "test: TIMIT's test speakers; valid: "
              f"{valid_fraction} of each training speaker's utterances, seed {seed}",
              "phone_set": phone_set},
    )  # fmt: skip


# ---------------------------------------------------------------- any aligned folder
def _read_genders(path: Path) -> dict[str, int]:
    if not path.is_file():
        raise DatasetNotFound(
            f"{path} not found: an aligned folder needs it, one line per speaker "
            "'speaker<TAB>f' or 'speaker<TAB>m' (the gender probe and the test split use it)"
        )
    out = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1].lower()[:1] not in ("f", "m"):
            raise ValueError(f"{path}:{i}: expected 'speaker f|m', got {line!r}")
        out[parts[0]] = 0 if parts[1].lower().startswith("f") else 1
    return out


@speech_loader(sample_rate=16000, seq_len=16000, clipped="warn")
def load_aligned_folder(
    *,
    root: str | os.PathLike,
    tier: str = "phones",
    silences: tuple[str, ...] = ALIGNED_SILENCES,
    test_fraction: float = 0.25,
    valid_fraction: float = 0.125,
    seed: int = 0,
    chunking: Chunking,
) -> Dataset:
    """Audio + ``.PHN`` / ``.TextGrid`` alignments under ``root`` (module doc); stress digits
    are kept as written (``AH0`` and ``AH1`` are two phones; fold them beforehand if not)."""
    import soundfile as sf

    if not 0.0 < test_fraction < 1.0 or not 0.0 < valid_fraction < 1.0:
        raise ValueError(
            f"test_fraction and valid_fraction must be in (0, 1), got {test_fraction}, "
            f"{valid_fraction}"
        )
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DatasetNotFound(f"aligned folder {folder} not found")
    genders = _read_genders(folder / "speakers.tsv")
    silent = set(silences)
    items = []
    for ali in sorted(folder.rglob("*")):
        if ali.suffix.lower() not in (".phn", ".textgrid"):
            continue
        audio = _find_audio(ali.with_suffix(""))
        if audio is None:
            raise ValueError(f"{ali}: no audio beside it (.wav or .flac)")
        spk = ali.parent.name
        if spk not in genders:
            raise ValueError(f"{ali}: speaker {spk!r} is not in {folder / 'speakers.tsv'}")
        if ali.suffix.lower() == ".phn":
            segs = read_phn(ali)
        else:
            sr = sf.info(str(audio)).samplerate
            segs = [(round(a * sr), round(b * sr), t) for a, b, t in read_textgrid(ali, tier)]
        items.append((audio, spk, [(a, b, p) for a, b, p in segs if p not in silent]))
    if not items:
        raise DatasetNotFound(f"no .PHN or .TextGrid alignments under {folder}")
    present = {s: genders[s] for _, s, _ in items}
    phone_names = tuple(sorted({p for *_, segs in items for *_, p in segs}))
    return _aligned_dataset(
        f"aligned:{folder.name}",
        items,
        genders=present,
        test_speakers=_split_speakers(present, test_fraction, seed),
        phone_names=phone_names,
        valid_fraction=valid_fraction,
        seed=seed,
        source=f"aligned speech from {folder}",
        chunking=chunking,
        meta={"split": f"test: {test_fraction} of each gender's speakers; valid: "
              f"{valid_fraction} of each training speaker's utterances; seed {seed}"},
    )  # fmt: skip
