"""``spoken_words``: a phone-aligned multi-voice speech set synthesised with eSpeak NG.

Each utterance is a carrier phrase around two items ("say bab dig again"): CVC syllables whose
consonant frame is shared by several vowels (/bab/, /bib/, /bub/ ...: triphone minimal pairs
for ABX) and short real words. eSpeak's phoneme events (:func:`zoo.data.espeak.synthesize_phonemes`)
give every phone's start sample, so the alignment is exact by construction: each phone runs
from its event to the next one; pauses (``_``, ``_:``) and the silence before the first and
after the last phone are -1. Stress marks are dropped from the names (``'a`` -> ``a``).

Voices: eSpeak's male (``+m1``..``+m7``) and female (``+f1``..``+f5``) variants on the ``en-us``
and ``en`` bases, alternately male and female, each with its own seeded pitch, pitch range and
rate; every utterance varies them a little. The last ``test_voices`` voices (half of each
gender) are the ``test`` split, never heard in ``train``; ``valid`` holds the first 20% of the
utterances of each training voice (unheard utterances of heard voices, for speaker probes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from zoo.data.base import Dataset
from zoo.data.speech import Chunking, Recording, _cache_dir, build_dataset, speech_loader

WORDS_VERSION = 1  # bump when the recipe changes (it names the cache file)

CONSONANTS = ("b", "d", "g", "p", "t", "k", "m", "n", "s")
VOWELS = ("a", "i", "u", "e", "o")
REAL_WORDS = (
    "bat", "bit", "bet", "but", "beat", "boot", "bought",
    "dad", "did", "dead", "dud", "deed", "cat", "kit", "cut", "coat",
    "pat", "pit", "pet", "put", "sat", "sit", "set", "mat", "met", "nut", "net",
)  # fmt: skip
MALE = tuple(f"m{i}" for i in range(1, 8))
FEMALE = tuple(f"f{i}" for i in range(1, 6))
GENDERS = ("female", "male")  # label ids


def syllables() -> list[str]:
    """The CVC items: every consonant frame C_C (same or different consonants) with each vowel."""
    return [c1 + v + c2 for c1 in CONSONANTS for c2 in CONSONANTS[:4] for v in VOWELS]


def voice_table(voices: int, seed: int) -> list[tuple[str, str, int, int, int]]:
    """(eSpeak voice, gender, pitch, pitch range, words per minute) for each voice, alternately
    female and male; prosody seeded."""
    rng = np.random.default_rng([seed, 1])
    out = []
    for i in range(voices):
        gender = GENDERS[i % 2]
        k = i // 2
        variants = FEMALE if gender == "female" else MALE
        base = ("en-us", "en")[(k // len(variants)) % 2]
        name = f"{base}+{variants[k % len(variants)]}"
        lo, hi = (55, 85) if gender == "female" else (25, 50)
        pitch = int(rng.integers(lo, hi + 1))
        prange = int(rng.integers(30, 71))
        rate = int(rng.integers(130, 191))
        out.append((name, gender, pitch, prange, rate))
    return out


def utterance_plan(voices: int, utterances: int, seed: int) -> list[tuple[int, int, str, tuple]]:
    """(voice, utterance index, text, (pitch, range, rate, eSpeak seed)) for every utterance."""
    table = voice_table(voices, seed)
    items = syllables() + list(REAL_WORDS)
    rng = np.random.default_rng([seed, 2])
    plan = []
    for v, (_, _, pitch, prange, rate) in enumerate(table):
        for u in range(utterances):
            a, b = (items[int(j)] for j in rng.integers(len(items), size=2))
            prosody = (
                int(pitch + rng.integers(-4, 5)),
                int(prange + rng.integers(-8, 9)),
                int(rate + rng.integers(-15, 16)),
                int(rng.integers(1 << 30)),
            )
            plan.append((v, u, f"say {a} {b} again", prosody))
    return plan


def clean_phone(name: str) -> str | None:
    """An eSpeak phoneme mnemonic without stress marks; None for a pause."""
    name = name.replace("'", "").replace(",", "")
    return None if not name or name.startswith("_") else name


def synthesize_words(voices: int, utterances: int, seed: int, out: str) -> None:
    """Synthesise the whole plan into ``out`` (.npz): audio, per-utterance rows and phone events.
    Run in a fresh process (eSpeak carries state between utterances; see ``_synth_cached``)."""
    from zoo.data.espeak import Voice, synthesize_phonemes

    table = voice_table(voices, seed)
    waves, rows, ev_utt, ev_sample, ev_name, texts = [], [], [], [], [], []
    sr = 22050
    for i, (v, u, text, (pitch, prange, rate, es)) in enumerate(
        utterance_plan(voices, utterances, seed)
    ):
        voice = Voice(table[v][0], rate=rate, pitch=pitch, range=prange)
        w, sr, events = synthesize_phonemes(text, voice, seed=es)
        if not events:
            raise RuntimeError("eSpeak NG reported no phoneme events")
        waves.append(w)
        rows.append((v, u, len(w)))
        texts.append(text)
        for sample, name in events:
            ev_utt.append(i)
            ev_sample.append(sample)
            ev_name.append(name)
    np.savez_compressed(
        out,
        audio=np.concatenate(waves),
        rows=np.array(rows, np.int64),
        texts=np.array(texts),
        ev_utt=np.array(ev_utt, np.int64),
        ev_sample=np.array(ev_sample, np.int64),
        ev_name=np.array(ev_name),
        sample_rate=sr,
    )


def _synth_cached(voices: int, utterances: int, seed: int) -> dict[str, np.ndarray]:
    key = hashlib.sha256(f"v{WORDS_VERSION}-{voices}-{utterances}-{seed}".encode()).hexdigest()
    path = _cache_dir() / f"spoken_words_{key[:12]}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            code = (
                "import sys; from zoo.data.words import synthesize_words; "
                f"synthesize_words({voices}, {utterances}, {seed}, sys.argv[1])"
            )
            root = str(Path(__file__).resolve().parents[2])
            env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
            res = subprocess.run(
                [sys.executable, "-c", code, tmp], capture_output=True, text=True, env=env
            )
            if res.returncode != 0:
                raise RuntimeError(
                    f"synthesising spoken words with eSpeak NG failed:\n{res.stderr}"
                )
            os.replace(tmp, path)  # atomic
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def segments_from_events(
    samples: list[int], names: list[str], ids: dict[str, int]
) -> list[tuple[int, int, int]]:
    """eSpeak events (start sample, mnemonic; the last one the end, name "") -> phone segments
    ``(start, end, id)``: each phone runs to the next event; pauses are left out."""
    segs = []
    for j in range(len(samples) - 1):
        phone = clean_phone(names[j])
        if phone is not None and samples[j + 1] > samples[j]:
            segs.append((int(samples[j]), int(samples[j + 1]), ids[phone]))
    return segs


@speech_loader(sample_rate=16000, seq_len=16000, fixed=("clipped", "clip_fraction"))
def load_spoken_words(
    *,
    voices: int = 16,
    test_voices: int = 4,
    utterances: int = 20,
    seed: int = 0,
    chunking: Chunking,
) -> Dataset:
    """The embedded phone-aligned words: ``voices`` eSpeak voices x ``utterances`` carrier
    phrases, 16 kHz, mu-law 256, 1 s chunks (module doc). Labels ``speaker`` (``voices``
    ids) and ``gender`` (0 female, 1 male); every split has ``phones`` ``[N, seq_len]`` (-1:
    none) indexing ``ds.phone_names``. Cached in ``~/.cache/zoo`` (``$ZOO_CACHE``)."""
    if not isinstance(voices, int) or voices < 4:
        raise ValueError(f"voices must be an int >= 4, got {voices!r}")
    if not isinstance(test_voices, int) or test_voices < 2 or test_voices % 2:
        raise ValueError(
            f"test_voices must be an even int >= 2 (both genders), got {test_voices!r}"
        )
    if voices - test_voices < 2:
        raise ValueError(f"voices - test_voices must leave >= 2 training voices, got {voices}")
    if not isinstance(utterances, int) or utterances < 5:
        raise ValueError(
            f"utterances must be an int >= 5 (one in five is valid), got {utterances!r}"
        )
    z = _synth_cached(voices, utterances, seed)
    table = voice_table(voices, seed)
    sr = int(z["sample_rate"])
    names = [str(n) for n in z["ev_name"]]
    phone_names = tuple(sorted({p for p in map(clean_phone, names) if p is not None}))
    ids = {p: i for i, p in enumerate(phone_names)}
    offsets = np.concatenate([[0], np.cumsum(z["rows"][:, 2])])
    bounds = np.searchsorted(z["ev_utt"], np.arange(len(z["rows"]) + 1))
    n_valid = max(1, round(0.2 * utterances))
    first_test = voices - test_voices

    def recordings():
        for i, (v, u, _) in enumerate(z["rows"].tolist()):
            wave = z["audio"][offsets[i] : offsets[i + 1]].astype(np.float32) / 32768.0
            a, b = bounds[i], bounds[i + 1]
            segs = segments_from_events(z["ev_sample"][a:b].tolist(), names[a:b], ids)
            split = "test" if v >= first_test else "valid" if u < n_valid else "train"
            labels = {"speaker": v, "gender": GENDERS.index(table[v][1])}
            yield Recording(f"{z['texts'][i]} by voice {v}", labels, split, wave, sr, segs)

    speakers = [f"v{v}-{t[0]}" for v, t in enumerate(table)]
    return build_dataset(
        "spoken_words",
        recordings(),
        label_sizes={"speaker": voices, "gender": 2},
        chunking=replace(chunking, clipped="ignore"),
        source=f"synthesised with eSpeak NG (espeakng-loader), {voices} voices x {utterances} "
        f"utterances, seed {seed}; phones from eSpeak's phoneme events",
        meta={
            "speakers": speakers,
            "voices": [dict(zip(("voice", "gender", "pitch", "range", "rate"), t)) for t in table],
            "label_names": {"speaker": speakers, "gender": list(GENDERS)},
            "test_speakers": list(range(first_test, voices)),
            "split": f"test: voices {first_test}-{voices - 1}; valid: utterances 0-{n_valid - 1} "
            "of the other voices; train: the rest",
        },
        phone_names=phone_names,
    )
