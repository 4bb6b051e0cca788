"""Speech data sets -> mu-law integer chunks with speaker (and digit) labels.

Every loader here turns recordings into the same thing: ``[N, seq_len]`` int64 mu-law levels at
one sample rate, each chunk labelled with its speaker (and, for spoken digits, the digit).

The pipeline, one recording at a time (:func:`quantize_waveform`, :func:`chunk`):

1. read with ``soundfile`` (WAV/FLAC; several channels are averaged to mono). NaN or infinite
   samples raise ValueError naming the file. Clipped recordings (more than ``clip_fraction`` of
   the samples at full scale, |x| >= 0.999) raise ValueError too (``clipped="error"``), or are
   kept with a logged warning (``"warn"``) or silently (``"ignore"``).
2. resample to ``sample_rate`` with ``torchaudio.functional.resample`` (8,000 Hz by default:
   FSDD's own rate; the synthesised digits are made at 22,050 Hz and resampled).
3. peak-normalise to 0.9 (``normalize=True``, the default: FSDD's peaks range from 0.01 to 1),
   clamp to [-1, 1].
4. mu-law encode to ``levels`` values (``torchaudio.functional.mu_law_encoding``; 256 = 8 bit).
5. cut into chunks of ``seq_len`` samples every ``hop`` samples (default ``hop = seq_len``).
   The tail that the regular grid misses gets one more chunk aligned with the end of the
   recording (so no sound is dropped; it overlaps the previous chunk). Recordings shorter than
   ``seq_len`` are padded at the end with mu-law silence (``pad="silence"``, the level that
   decodes to 0.0) or dropped (``pad="drop"``). Padding adds easily predicted samples: bits/dim
   on padded data is lower than on speech alone, so every result names its ``seq_len``.

Splits are by recording, never by chunk, so no recording is in two splits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio
import torchaudio.functional as AF

from zoo.core.spec import DataSpec
from zoo.core.validation import keyword_group
from zoo.data.base import SPLITS, Dataset, DatasetNotFound, Split, data_root

log = logging.getLogger(__name__)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PEAK = 0.9
FULL_SCALE = 0.999

# --------------------------------------------------------------------------- waveform <-> levels


def mu_law_encode(wave: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Float waveform in [-1, 1] -> int64 mu-law levels in [0, levels)."""
    return AF.mu_law_encoding(wave.clamp(-1.0, 1.0), levels).long()


def mu_law_decode(q: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Int levels in [0, levels) -> float waveform in [-1, 1] (inverse of :func:`mu_law_encode`)."""
    return AF.mu_law_decoding(q.long(), levels).clamp(-1.0, 1.0)  # float error can pass 1


def silence_level(levels: int = 256) -> int:
    """The mu-law level of 0.0 (what padding uses)."""
    return int(mu_law_encode(torch.zeros(1), levels))


def check_waveform(
    wave: np.ndarray,
    *,
    where: str,
    clipped: str = "error",
    clip_fraction: float = 1e-3,
) -> None:
    """Raise ValueError for NaN/inf samples or (per ``clipped``) a clipped recording."""
    if clipped not in ("error", "warn", "ignore"):
        raise ValueError(f"clipped must be 'error', 'warn' or 'ignore', got {clipped!r}")
    bad = ~np.isfinite(wave)
    if bad.any():
        raise ValueError(
            f"{where}: {int(bad.sum())} NaN/inf samples (first at index {int(np.argmax(bad))}); "
            "the file is corrupt: fix or remove it"
        )
    if clipped == "ignore" or wave.size == 0:
        return
    n_full = int((np.abs(wave) >= FULL_SCALE).sum())
    if n_full > max(2, clip_fraction * wave.size):
        msg = (
            f"{where}: {n_full} of {wave.size} samples ({n_full / wave.size:.2%}) sit at full "
            f"scale (|x| >= {FULL_SCALE}): the recording is clipped. Pass clipped='warn' or "
            "'ignore' to keep it, or raise clip_fraction"
        )
        if clipped == "error":
            raise ValueError(msg)
        log.warning(msg)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV/FLAC file as float32 mono in [-1, 1]: (samples [T], sample rate)."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own LibsndfileError / RuntimeError
        raise ValueError(f"{path}: cannot read audio ({e})") from e
    return data.mean(axis=1), int(sr)


def write_wav(
    path: str | os.PathLike, q: torch.Tensor, sample_rate: int, levels: int = 256
) -> None:
    """Write mu-law levels ``q: [T]`` as a 16-bit PCM WAV file (decoded to a waveform)."""
    import soundfile as sf

    wave = mu_law_decode(q.detach().cpu().reshape(-1), levels).numpy()
    sf.write(str(path), wave, int(sample_rate), subtype="PCM_16")


@functools.lru_cache(maxsize=8)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    """torchaudio's sinc resampler with its kernel made once per pair of rates (the functional
    form rebuilds it for every clip: most of a data set's load time)."""
    return torchaudio.transforms.Resample(orig, new, dtype=torch.float32)


def quantize_waveform(
    wave: np.ndarray | torch.Tensor,
    sample_rate: int,
    *,
    target_rate: int,
    levels: int = 256,
    normalize: bool = True,
) -> torch.Tensor:
    """Float waveform [T] at ``sample_rate`` -> int64 mu-law levels [T'] at ``target_rate``."""
    w = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave)
    w = w.float()
    if sample_rate != target_rate:
        w = _resampler(int(sample_rate), int(target_rate))(w)
    if normalize:
        peak = w.abs().max() if w.numel() else torch.tensor(0.0)
        if peak > 0:
            w = w * (PEAK / peak)
    return mu_law_encode(w, levels)


def chunk(
    q: torch.Tensor,
    seq_len: int,
    *,
    hop: int | None = None,
    pad: str = "silence",
    levels: int,
    fill: int | None = None,
) -> torch.Tensor:
    """Cut one recording ``q: [T]`` into ``[n, seq_len]`` chunks (policy in the module doc).
    ``fill`` pads with that value instead of mu-law silence (-1 for a phone track)."""
    hop = hop or seq_len
    T = q.shape[0]
    if T < seq_len:
        if pad == "drop":
            return q.new_zeros((0, seq_len))
        if pad != "silence":
            raise ValueError(f"pad must be 'silence' or 'drop', got {pad!r}")
        value = silence_level(levels) if fill is None else fill
        return torch.cat([q, q.new_full((seq_len - T,), value)])[None]
    return torch.stack([q[s : s + seq_len] for s in chunk_starts(T, seq_len, hop)])


def chunk_starts(T: int, seq_len: int, hop: int | None = None) -> list[int]:
    """Where :func:`chunk` starts each chunk of a recording of ``T >= 1`` samples (``[0]`` for
    a short one, padded); the tail chunk, aligned with the end, may overlap the one before."""
    hop = hop or seq_len
    if T <= seq_len:
        return [0]
    starts = list(range(0, T - seq_len + 1, hop))
    if starts[-1] + seq_len < T:
        starts.append(T - seq_len)  # the tail, aligned with the end
    return starts


# --------------------------------------------------------------------------- assembling a Dataset


@dataclass
class Recording:
    """One recording: where it came from, its labels (name -> id) and its split."""

    source: str
    labels: dict[str, int]
    split: str
    wave: np.ndarray | None = None  # float32 [T]; None: read from ``source``
    sample_rate: int | None = None
    # phone alignment: (start, end, phone id) in samples at the recording's own rate
    segments: list[tuple[int, int, int]] | None = None


def phone_track(
    segments: Iterable[tuple[int, int, int]], length: int, *, orig_rate: int, target_rate: int
) -> torch.Tensor:
    """Phone segments ``(start, end, id)`` at ``orig_rate`` -> ``[length]`` int64 phone id per
    sample at ``target_rate`` (-1 outside every segment; a later segment overwrites an earlier
    one where they overlap). Boundaries map to ``round(t * target_rate / orig_rate)``."""
    out = torch.full((length,), -1, dtype=torch.long)
    for start, end, pid in segments:
        a = min(length, max(0, round(start * target_rate / orig_rate)))
        b = min(length, max(0, round(end * target_rate / orig_rate)))
        out[a:b] = int(pid)
    return out


@dataclass(frozen=True)
class Chunking:
    """How every speech loader turns recordings into chunks (the pipeline in the module doc):
    the options they all take, under these names, with these defaults unless a loader's
    :func:`speech_loader` says otherwise."""

    sample_rate: int = 8000
    levels: int = 256
    seq_len: int = 2048
    hop: int | None = None
    pad: str = "silence"
    normalize: bool = True
    clipped: str = "error"
    clip_fraction: float = 1e-3

    def check(self) -> None:
        """ValueError naming the first option out of range."""
        seq_len, hop, levels = self.seq_len, self.hop, self.levels
        if not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"seq_len must be a positive int (samples per chunk), got {seq_len!r}")
        if hop is not None and (not isinstance(hop, int) or hop < 1):
            raise ValueError(f"hop must be a positive int or None (= seq_len), got {hop!r}")
        if self.pad not in ("silence", "drop"):
            raise ValueError(f"pad must be 'silence' or 'drop', got {self.pad!r}")
        if not isinstance(levels, int) or levels < 2:
            raise ValueError(f"levels must be an int >= 2, got {levels!r}")


def speech_loader(*, fixed: tuple[str, ...] = (), **defaults: Any) -> Callable:
    """Give a loader ``fn(*, <its own options>, chunking: Chunking)`` the keyword signature
    ``(*, <its own options>, <Chunking's fields>)``: callers (``load_dataset``, the registry's
    ``data:``) pass the chunking options by name, the loader gets them as one
    :class:`Chunking`. ``defaults``: this loader's defaults where they differ from Chunking's;
    ``fixed``: fields the loader sets itself (not options)."""
    return keyword_group("chunking", Chunking(**defaults), fixed=fixed)


def build_dataset(
    name: str,
    recordings: Iterable[Recording],
    *,
    label_sizes: dict[str, int],
    chunking: Chunking,
    source: str,
    meta: dict,
    phone_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Read, check, quantise and chunk recordings into a :class:`Dataset` (splits by recording).

    With ``phone_names``, every recording carries ``segments`` and every split gets ``phones``
    (``[N, seq_len]``, -1 where no phone; chunked like the audio) and ``meta["phone_names"]``.
    """
    c = chunking
    c.check()
    ps: dict[str, list[torch.Tensor]] = {s: [] for s in SPLITS}
    xs: dict[str, list[torch.Tensor]] = {s: [] for s in SPLITS}
    ys: dict[str, dict[str, list[int]]] = {s: {k: [] for k in label_sizes} for s in SPLITS}
    n_rec = {s: 0 for s in SPLITS}
    origin: dict[str, list[tuple[int, int]]] = {s: [] for s in SPLITS}
    for rec in recordings:
        wave, sr = (rec.wave, rec.sample_rate) if rec.wave is not None else read_audio(rec.source)
        check_waveform(wave, where=rec.source, clipped=c.clipped, clip_fraction=c.clip_fraction)
        q = quantize_waveform(
            wave, sr, target_rate=c.sample_rate, levels=c.levels, normalize=c.normalize
        )
        chunks = chunk(q, c.seq_len, hop=c.hop, pad=c.pad, levels=c.levels)
        if len(chunks) == 0:
            continue
        if phone_names is not None:
            if rec.segments is None:
                raise ValueError(f"{rec.source}: no phone alignment (segments)")
            track = phone_track(rec.segments, len(q), orig_rate=sr, target_rate=c.sample_rate)
            ps[rec.split].append(chunk(track, c.seq_len, hop=c.hop, pad=c.pad, levels=2, fill=-1))
            origin[rec.split].extend(
                (n_rec[rec.split], st) for st in chunk_starts(len(q), c.seq_len, c.hop)
            )
        n_rec[rec.split] += 1
        xs[rec.split].append(chunks)
        for k in label_sizes:
            ys[rec.split][k].extend([rec.labels[k]] * len(chunks))
    splits = {}
    for s in SPLITS:
        x = torch.cat(xs[s]) if xs[s] else torch.zeros((0, c.seq_len), dtype=torch.long)
        labels = {k: torch.tensor(v, dtype=torch.long) for k, v in ys[s].items()}
        phones = None
        if phone_names is not None:
            phones = torch.cat(ps[s]) if ps[s] else torch.zeros((0, c.seq_len), dtype=torch.long)
        splits[s] = Split(x.long(), labels, phones=phones)
    spec = DataSpec(
        "audio", (c.seq_len,), c.levels, sample_rate=c.sample_rate, labels=label_sizes, name=name
    )
    meta = {
        **meta,
        "recordings": n_rec,
        "chunking": {"seq_len": c.seq_len, "hop": c.hop or c.seq_len, "pad": c.pad, "tail": "end"},
        "normalize": f"peak {PEAK}" if c.normalize else "none",
        # phone-aligned sets: each chunk's (recording number in its split, first sample), so
        # that ABX can drop the triphones a tail chunk repeats
        **(
            {"phone_names": list(phone_names), "chunk_origin": origin}
            if phone_names is not None
            else {}
        ),
    }
    return Dataset(name=name, spec=spec, splits=splits, source=source, meta=meta)


def _ids(names: Iterable[str]) -> dict[str, int]:
    return {n: i for i, n in enumerate(sorted(set(names)))}


# --------------------------------------------------------------------------- FSDD / wav folders

FSDD_PATTERN = r"(?P<digit>\d)_(?P<speaker>[A-Za-z0-9]+)_(?P<index>\d+)\.wav"


@speech_loader()
def load_fsdd(
    *,
    root: str | os.PathLike | None = None,
    speakers: Iterable[str] | None = None,
    chunking: Chunking,
) -> Dataset:
    """Free Spoken Digit Dataset: 6 speakers x 10 digits x 50 takes at 8 kHz.

    Files ``{root}/fsdd/recordings/{digit}_{speaker}_{index}.wav``. Splits by take index, the
    official test split first: test = index 0-4, valid = 5-9, train = 10-49. Speaker ids are
    the sorted speaker names (``meta["speakers"]``); labels ``speaker`` and ``digit``.
    ``speakers`` keeps only the named speakers.
    """
    base = data_root(root) / "fsdd" / "recordings"
    files = sorted(base.glob("*.wav")) if base.is_dir() else []
    if not files:
        raise DatasetNotFound(
            f"FSDD not found: no {base}/*.wav. Get it with `git clone "
            "https://github.com/Jakobovski/free-spoken-digit-dataset` and put its recordings/ "
            f"folder at {base} (or point ZOO_DATA / root= at the folder holding fsdd/)"
        )

    def split_of(m: dict[str, str], path: Path) -> str:
        i = int(m["index"])
        return "test" if i < 5 else "valid" if i < 10 else "train"

    return _load_pattern_folder(
        "fsdd",
        files,
        pattern=FSDD_PATTERN,
        split_of=split_of,
        keep={"speaker": set(speakers)} if speakers is not None else None,
        fixed_labels={"digit": [str(d) for d in range(10)]},
        chunking=chunking,
        source=f"FSDD (Jakobovski/free-spoken-digit-dataset) from {base}",
        meta={"split": "by take index: test 0-4, valid 5-9, train 10-49"},
    )


@speech_loader()
def load_wavfolder(
    *,
    root: str | os.PathLike,
    pattern: str = FSDD_PATTERN,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    name: str = "wavfolder",
    chunking: Chunking,
) -> Dataset:
    """Any folder of WAV/FLAC files with labels in their names.

    ``pattern`` is a regular expression matched against each file name (relative to ``root``,
    with ``/`` separators; default: FSDD's ``{digit}_{speaker}_{index}.wav``). Each named group
    is a label, except ``index`` and ``split``; label values are numbered in sorted order
    (``meta["label_names"]``). A ``split`` group with values train/valid/test assigns the
    split; otherwise recordings are split at random (``fractions``, ``seed``), deterministic.
    Files that do not match are skipped (counted in ``meta["skipped"]``).
    """
    base = Path(root).expanduser()
    files = (
        sorted(p for p in base.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
        if base.is_dir()
        else []
    )
    if not files:
        raise DatasetNotFound(
            f"no .wav/.flac files under {base}: pass root= a folder of recordings whose names "
            f"match pattern= (now {pattern!r})"
        )
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions}")
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    rank = {files[i]: r for r, i in enumerate(order)}
    n_train = round(fractions[0] * len(files))
    n_valid = round(fractions[1] * len(files))

    def split_of(m: dict[str, str], path: Path) -> str:
        if "split" in m:
            if m["split"] not in SPLITS:
                raise ValueError(f"{path}: split group gave {m['split']!r}, not one of {SPLITS}")
            return m["split"]
        r = rank[path]
        return "train" if r < n_train else "valid" if r < n_train + n_valid else "test"

    return _load_pattern_folder(
        name,
        files,
        pattern=pattern,
        split_of=split_of,
        base=base,
        chunking=chunking,
        source=f"WAV folder {base} (pattern {pattern!r})",
        meta={"split": f"random by recording, fractions {tuple(fractions)}, seed {seed}"},
    )


def _load_pattern_folder(
    name: str,
    files: list[Path],
    *,
    pattern: str,
    split_of: Callable,
    base: Path | None = None,
    keep: dict[str, set[str]] | None = None,
    fixed_labels: dict[str, list[str]] | None = None,
    meta: dict,
    **options: object,
) -> Dataset:
    rx = re.compile(pattern)
    label_names = [g for g in rx.groupindex if g not in ("index", "split")]
    if not label_names:
        raise ValueError(f"pattern {pattern!r} has no named label group, e.g. (?P<speaker>...)")
    parsed, skipped = [], 0
    for f in files:
        rel = f.relative_to(base).as_posix() if base is not None else f.name
        m = rx.fullmatch(rel) or rx.fullmatch(f.name)
        if m is None:
            skipped += 1
            continue
        g = m.groupdict()
        if keep and any(g[k] not in v for k, v in keep.items()):
            continue
        parsed.append((f, g))
    if not parsed:
        raise DatasetNotFound(f"{name}: no file name matched pattern {pattern!r}")
    values = {k: sorted({g[k] for _, g in parsed}) for k in label_names}
    values.update(fixed_labels or {})
    ids = {k: {v: i for i, v in enumerate(vs)} for k, vs in values.items()}

    def recordings():
        for f, g in parsed:
            split = split_of(g, f)
            yield Recording(str(f), {k: ids[k][g[k]] for k in label_names}, split)

    return build_dataset(
        name,
        recordings(),
        label_sizes={k: len(values[k]) for k in label_names},
        meta={
            **meta,
            "label_names": values,
            **({"speakers": values["speaker"]} if "speaker" in values else {}),
            "skipped": skipped,
        },
        **options,
    )


# --------------------------------------------------------------------------- LibriSpeech / VCTK


def _speaker_folder_dataset(
    name: str,
    files: list[tuple[Path, str]],
    *,
    fractions: tuple[float, float, float],
    seed: int,
    max_per_speaker: int | None,
    source: str,
    **options,
) -> Dataset:
    """Recordings grouped by speaker; each speaker's utterances split train/valid/test."""
    by_speaker: dict[str, list[Path]] = {}
    for path, spk in files:
        by_speaker.setdefault(spk, []).append(path)
    ids = _ids(by_speaker)

    def recordings():
        for spk in sorted(by_speaker):
            paths = sorted(by_speaker[spk])
            g = torch.Generator().manual_seed(seed + ids[spk])
            paths = [paths[i] for i in torch.randperm(len(paths), generator=g)]
            if max_per_speaker:
                paths = paths[:max_per_speaker]
            n = len(paths)
            n_test = max(1, round(fractions[2] * n)) if n >= 3 else 0
            n_valid = max(1, round(fractions[1] * n)) if n >= 3 else 0
            for i, p in enumerate(paths):
                split = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
                yield Recording(str(p), {"speaker": ids[spk]}, split)

    return build_dataset(
        name,
        recordings(),
        label_sizes={"speaker": len(ids)},
        source=source,
        meta={
            "speakers": sorted(ids),
            "split": f"per speaker, random by utterance, fractions {fractions}, seed {seed}",
        },
        **options,
    )


# LibriSpeech and VCTK: 16 kHz, 4096-sample chunks; a clipped recording is kept with a warning
LARGE_CORPUS = {"sample_rate": 16000, "seq_len": 4096, "clipped": "warn"}


@speech_loader(**LARGE_CORPUS)
def load_librispeech(
    *,
    root: str | os.PathLike | None = None,
    subset: str = "dev-clean",
    download: bool = False,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_per_speaker: int | None = None,
    chunking: Chunking,
) -> Dataset:
    """One LibriSpeech subset (``{root}/LibriSpeech/{subset}/{speaker}/{chapter}/*.flac``).

    ``download=True`` fetches the subset through ``torchaudio.datasets.LIBRISPEECH``; the
    files are then read with soundfile (torchaudio's own reader needs torchcodec). Each
    speaker's utterances are split train/valid/test (``fractions``), so the speaker label is
    shared by the splits. ``max_per_speaker`` keeps a few utterances per speaker.
    """
    base = data_root(root)
    folder = base / "LibriSpeech" / subset
    if download and not folder.is_dir():
        import torchaudio.datasets

        torchaudio.datasets.LIBRISPEECH(str(base), url=subset, download=True)
    files = sorted(folder.rglob("*.flac")) if folder.is_dir() else []
    if not files:
        raise DatasetNotFound(
            f"LibriSpeech {subset} not found: no {folder}/<speaker>/<chapter>/*.flac. Get it "
            f"from https://www.openslr.org/12 (untar into {base}) or pass download=True"
        )
    return _speaker_folder_dataset(
        f"librispeech-{subset}",
        [(f, f.parent.parent.name) for f in files],
        fractions=fractions,
        seed=seed,
        max_per_speaker=max_per_speaker,
        source=f"LibriSpeech {subset} from {folder}",
        chunking=chunking,
    )


@speech_loader(**LARGE_CORPUS)
def load_vctk(
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    mic: str = "mic1",
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_per_speaker: int | None = None,
    chunking: Chunking,
) -> Dataset:
    """VCTK (0.92: ``{root}/VCTK-Corpus-0.92/wav48_silence_trimmed/{spk}/{spk}_{utt}_{mic}.flac``,
    or the older ``VCTK-Corpus/wav48/{spk}/{spk}_{utt}.wav``). ``download=True`` fetches 0.92
    through ``torchaudio.datasets.VCTK_092``; files are read with soundfile."""
    base = data_root(root)
    new = base / "VCTK-Corpus-0.92" / "wav48_silence_trimmed"
    old = base / "VCTK-Corpus" / "wav48"
    if download and not (new.is_dir() or old.is_dir()):
        import torchaudio.datasets

        torchaudio.datasets.VCTK_092(str(base), mic_id=mic, download=True)
    if new.is_dir():
        files = sorted(new.rglob(f"*_{mic}.flac"))
    elif old.is_dir():
        files = sorted(old.rglob("*.wav"))
    else:
        files = []
    if not files:
        raise DatasetNotFound(
            f"VCTK not found: looked in {new} (*_{mic}.flac) and {old} (*.wav). Get it from "
            f"https://datashare.ed.ac.uk/handle/10283/3443 (unzip into {base}) or pass "
            "download=True"
        )
    return _speaker_folder_dataset(
        "vctk",
        [(f, f.parent.name) for f in files],
        fractions=fractions,
        seed=seed,
        max_per_speaker=max_per_speaker,
        source=f"VCTK from {files[0].parents[1]}",
        chunking=chunking,
    )


# --------------------------------------------------------------------------- synthesised digits

# Eight synthetic speakers: an eSpeak voice variant with its own base pitch, range and rate.
SPEAKERS: tuple[tuple[str, str, int, int, int], ...] = (
    # (speaker name, eSpeak voice, pitch, pitch range, words per minute)
    ("m1", "en-us+m1", 35, 40, 150),
    ("m3", "en-us+m3", 45, 60, 170),
    ("m5", "en+m5", 30, 30, 140),
    ("m7", "en-us+m7", 55, 50, 185),
    ("f1", "en-us+f1", 60, 55, 160),
    ("f2", "en+f2", 70, 70, 175),
    ("f3", "en-us+f3", 80, 45, 145),
    ("f4", "en-us+f4", 65, 80, 190),
)
SYNTH_VERSION = 2  # bump when the generation recipe changes (it names the cache file)


def _takes_plan(takes: int, seed: int) -> list[tuple[int, int, int, int, int, int, int]]:
    """(speaker, digit, take, pitch, range, rate, eSpeak seed) for every utterance, in order."""
    rng = np.random.default_rng(seed)
    plan = []
    for s, (_, _, pitch, rng_, wpm) in enumerate(SPEAKERS):
        for d in range(10):
            for t in range(takes):
                dp, dr, dw = rng.integers(-6, 7), rng.integers(-10, 11), rng.integers(-20, 21)
                plan.append(
                    (
                        s,
                        d,
                        t,
                        int(pitch + dp),
                        int(rng_ + dr),
                        int(wpm + dw),
                        int(rng.integers(1 << 30)),
                    )
                )
    return plan


def synthesize_digits(takes: int, seed: int, out: str) -> None:
    """Synthesise every take of every digit by every speaker into ``out`` (.npz).

    Run in a fresh process (see :func:`_synth_cached`): eSpeak carries state from one
    utterance to the next, so only a fixed order in a fresh process is reproducible.
    """
    from zoo.data.espeak import Voice, synthesize

    waves, meta = [], []
    for s, d, t, pitch, prange, wpm, es in _takes_plan(takes, seed):
        voice = Voice(SPEAKERS[s][1], rate=wpm, pitch=pitch, range=prange)
        w, sr = synthesize(DIGITS[d], voice, seed=es)
        waves.append(w)
        meta.append((s, d, t, len(w)))
    np.savez_compressed(
        out, audio=np.concatenate(waves), meta=np.array(meta, np.int64), sample_rate=sr
    )


def _cache_dir() -> Path:
    """``$ZOO_CACHE``, else ``$ZOO_HOME``, else ``~/.cache/zoo`` (see :mod:`zoo.core.paths`)."""
    from zoo.core.paths import cache_dir

    return cache_dir()


def _synth_cached(takes: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    key = hashlib.sha256(f"v{SYNTH_VERSION}-{takes}-{seed}".encode()).hexdigest()[:12]
    path = _cache_dir() / f"spoken_digits_{key}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            code = (
                "import sys; from zoo.data.speech import synthesize_digits; "
                f"synthesize_digits({takes}, {seed}, sys.argv[1])"
            )
            root = str(Path(__file__).resolve().parents[1].parent)  # the folder holding zoo/
            env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
            res = subprocess.run(
                [sys.executable, "-c", code, tmp], capture_output=True, text=True, env=env
            )
            if res.returncode != 0:
                raise RuntimeError(
                    f"synthesising spoken digits with eSpeak NG failed:\n{res.stderr}"
                )
            os.replace(tmp, path)  # atomic: readers see the whole file or none
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    with np.load(path) as z:
        return z["audio"], z["meta"], int(z["sample_rate"])


@speech_loader(fixed=("clipped", "clip_fraction"))
def load_spoken_digits(
    *,
    takes: int = 10,
    seed: int = 0,
    chunking: Chunking,
) -> Dataset:
    """The embedded spoken digits: "zero".."nine" by 8 eSpeak NG voices, ``takes`` takes each.

    Each synthetic speaker is an eSpeak voice variant with its own pitch, pitch range and
    speaking rate (``SPEAKERS``); each take varies them a little (a seeded plan), so no two
    takes are the same. Made at 22,050 Hz, resampled to ``sample_rate`` (8 kHz, like FSDD).
    Splits by take, like FSDD: test = the first 20% of takes, valid = the next 20%, train the
    rest. The synthesised waveforms are cached in ``~/.cache/zoo`` (``$ZOO_CACHE``), written
    atomically; the first load takes a few seconds.
    """
    if not isinstance(takes, int) or takes < 3:
        raise ValueError(f"takes must be an int >= 3 (one per split at least), got {takes!r}")
    audio, meta_arr, sr = _synth_cached(takes, seed)
    n_eval = max(1, math.floor(0.2 * takes))
    offsets = np.concatenate([[0], np.cumsum(meta_arr[:, 3])])

    def recordings():
        for i, (s, d, t, _) in enumerate(meta_arr.tolist()):
            wave = audio[offsets[i] : offsets[i + 1]].astype(np.float32) / 32768.0
            split = "test" if t < n_eval else "valid" if t < 2 * n_eval else "train"
            name = f"{DIGITS[d]} by {SPEAKERS[s][0]}, take {t}"
            yield Recording(name, {"speaker": s, "digit": d}, split, wave, sr)

    return build_dataset(
        "spoken_digits",
        recordings(),
        label_sizes={"speaker": len(SPEAKERS), "digit": 10},
        chunking=replace(chunking, clipped="ignore"),
        source=f"synthesised with eSpeak NG (espeakng-loader), {len(SPEAKERS)} voices, "
        f"{takes} takes, seed {seed}",
        meta={
            "speakers": [s[0] for s in SPEAKERS],
            "voices": {s[0]: s[1] for s in SPEAKERS},
            "digits": list(DIGITS),
            "label_names": {"speaker": [s[0] for s in SPEAKERS], "digit": list(DIGITS)},
            "split": f"by take: test 0-{n_eval - 1}, valid {n_eval}-{2 * n_eval - 1}, train rest",
        },
    )
