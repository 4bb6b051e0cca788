"""The seed's speech experiment (Chorowski et al. 2019): what do WaveNet-autoencoder latents
hold, the content or the speaker?

``run(out_dir, smoke=False, device="cpu", seed=0)`` trains the three bottlenecks (ae, vae,
vq), VQ with non-max-suppression emission (``vq_nms``, 25 Hz, a quarter emitted) and the
ablations on a phone-aligned multi-voice corpus, then writes ``DIR/results.json``:

- ``probes``: ``{model, trained, point, target (phone | gender | speaker), accuracy,
  chance}`` (:func:`zoo.probing.speech_probes`, trained and untrained models) and mel R^2
  rows (``target`` "mel", ``accuracy`` holding the R^2).
- ``abx``: ``{model (each bottleneck, "mfcc", "mel"), point, condition (within | across),
  error}`` in percent (:func:`abx_error`).
- ``ablations``: ``{name, value, model, phone_accuracy, speaker_accuracy, abx_across,
  bits_per_dim, latent_bits_per_second}``, probes at the "bottleneck" point.
- ``codes``: the VQ model's codes against the frame phones: ``purity``, ``nmi``,
  ``perplexity``; ``emission``: the NMS model's ``rate_hz``, ``nonzero_fraction``,
  ``boundary_precision``, ``boundary_recall``, ``random_precision``, ``random_recall``,
  ``top_phones`` (per token).

and ``DIR/report.md`` with four figures (PNG, matplotlib Agg). Every figure is a function of
the seed and the step budgets (``SMOKE`` / ``FULL``).

The corpus is ``spoken_words`` when that data set exists, else (``dataset="synthetic"``) a
small stand-in made here (:func:`synthetic_corpus`): vowel-like phones with formants, voices
of two genders differing in pitch and vocal-tract length. ABX on it is the segment form
(:func:`abx_error`: mean-pooled phone segments, cosine distance, no DTW).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

from zoo.core.metrics import LN2
from zoo.core.spec import DataSpec
from zoo.errors import ZooInputError
from zoo.models.wavenet_ae import WaveNetAutoencoder
from zoo.probing import POINTS, frame_phones, mel_targets, speech_probes

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- the corpus
@dataclass
class SpeechSplit:
    """``x [N, T]`` int64 levels, ``labels {"speaker", "gender"} [N]``, ``phones [N, T]``;
    ``origins [N, 2]`` (recording, first sample) of each chunk where chunks may overlap
    (a data set's ``meta["chunk_origin"]``; ABX keeps a repeated triphone once), or None."""

    x: torch.Tensor
    labels: dict[str, torch.Tensor]
    phones: torch.Tensor
    origins: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.x)


# (F1, F2) Hz of the stand-in's phones (vowel-like), and a fricative-like noise phone
_FORMANTS = ((700, 1200), (300, 2300), (300, 800), (500, 1800), (600, 1000), (400, 2000))
PHONE_NAMES = ("a", "i", "u", "e", "o", "y", "s")


def synthetic_corpus(
    *,
    seed: int = 0,
    sample_rate: int = 8000,
    length: int = 4096,
    train_voices: int = 8,
    test_voices: int = 4,
    per_voice: int = 24,
) -> tuple[DataSpec, dict[str, SpeechSplit], tuple[str, ...]]:
    """A phone-aligned stand-in: each utterance a random run of phones (60-160 ms each) in
    one voice; voices alternate male (f0 95-140 Hz) and female (f0 180-250 Hz, formants x1.15).
    ``train`` and ``valid`` share the first ``train_voices`` voices (valid: other
    utterances), ``test`` has the others. Returns (spec, splits, phone names)."""
    rng = np.random.default_rng(seed)
    n_voices = train_voices + test_voices
    voices = []
    for v in range(n_voices):
        female = v % 2
        f0 = rng.uniform(180, 250) if female else rng.uniform(95, 140)
        scale = (1.15 if female else 1.0) * rng.uniform(0.95, 1.05)
        voices.append((f0, scale, female))
    t = np.arange(length) / sample_rate

    def utterance(v: int) -> tuple[np.ndarray, np.ndarray]:
        f0, scale, _ = voices[v]
        wave, ph = np.zeros(length), np.full(length, -1, dtype=np.int64)
        pos = int(rng.integers(0, sample_rate // 40))
        while pos < length:
            d = int(rng.uniform(0.06, 0.16) * sample_rate)
            p = int(rng.integers(len(PHONE_NAMES)))
            seg = slice(pos, min(length, pos + d))
            tt = t[seg]
            if p == len(_FORMANTS):  # noise, high-pass by differencing
                n = rng.standard_normal(len(tt))
                s = np.diff(n, prepend=0.0) * 0.3
            else:
                f1, f2 = (f * scale for f in _FORMANTS[p])
                s = np.zeros(len(tt))
                for h in range(1, int(3500 / f0)):
                    f = h * f0
                    a = np.exp(-(((f - f1) / 120) ** 2)) + 0.6 * np.exp(-(((f - f2) / 160) ** 2))
                    s += (a + 0.02) * np.sin(2 * np.pi * f * tt)
                s /= max(1e-6, np.abs(s).max()) * 2.5
            env = np.minimum(1.0, np.minimum(np.arange(len(tt)), np.arange(len(tt))[::-1]) / 80)
            wave[seg], ph[seg] = s * env, p
            pos += d + int(rng.integers(0, sample_rate // 50))
        return wave, ph

    def split(vs: range, offset: int) -> SpeechSplit:
        xs, phs, spk = [], [], []
        for v in vs:
            for _ in range(per_voice):
                w, p = utterance(v)
                xs.append(w)
                phs.append(p)
                spk.append(v)
        wave = torch.tensor(np.stack(xs), dtype=torch.float32).clamp(-1, 1)
        x = torchaudio.functional.mu_law_encoding(wave, 256)
        spk_t = torch.tensor(spk)
        gender = torch.tensor([voices[v][2] for v in spk])
        return SpeechSplit(x, {"speaker": spk_t, "gender": gender}, torch.tensor(np.stack(phs)))

    splits = {
        "train": split(range(train_voices), 0),
        "valid": split(range(train_voices), 1),
        "test": split(range(train_voices, n_voices), 2),
    }
    n_valid = max(4, per_voice // 3)
    splits["valid"] = SpeechSplit(
        splits["valid"].x[::3][: n_valid * train_voices],
        {k: v[::3][: n_valid * train_voices] for k, v in splits["valid"].labels.items()},
        splits["valid"].phones[::3][: n_valid * train_voices],
    )
    spec = DataSpec(
        "audio",
        (length,),
        256,
        sample_rate=sample_rate,
        labels={"speaker": n_voices, "gender": 2},
        name="synthetic_speech",
    )
    return spec, splits, PHONE_NAMES


def load_corpus(name: str, *, seed: int, smoke: bool, options: dict[str, Any] | None = None):
    """(spec, splits, phone names) of ``name``: "synthetic", or a phone-aligned data set with
    ``speaker`` and ``gender`` labels ("spoken_words", "timit", "aligned_folder") loaded with
    ``options``."""
    if name == "synthetic":
        kw = dict(per_voice=10, length=3072) if smoke else {}
        return synthetic_corpus(seed=seed, **kw, **(options or {}))
    from zoo.data import load_dataset

    ds = load_dataset(name, **(options or {}))
    if ds.spec.modality != "audio" or ds["test"].phones is None:
        raise ZooInputError(
            f"data set {name!r} has no phone alignment; the speech experiment needs one "
            "(spoken_words, timit, aligned_folder)"
        )
    if not {"speaker", "gender"} <= set(ds.spec.labels):
        raise ZooInputError(f"data set {name!r} lacks speaker and gender labels")
    origin = ds.meta.get("chunk_origin", {})
    splits = {
        s: SpeechSplit(
            ds[s].x,
            {k: ds[s].labels[k] for k in ("speaker", "gender")},
            ds[s].phones,
            torch.tensor(origin[s], dtype=torch.long).reshape(-1, 2) if s in origin else None,
        )
        for s in ("train", "valid", "test")
    }
    return ds.spec, splits, tuple(ds.phone_names)


# ---------------------------------------------------------------- budgets and models
@dataclass(frozen=True)
class Budget:
    steps: int
    batch: int
    lr: float
    model: dict[str, Any] = field(default_factory=dict)
    abx_triples: int = 3000
    crop: int | None = None  # train and bits/dim on windows of this many samples (None: whole)
    bpd_examples: int = 48


SMOKE = Budget(
    steps=12,
    batch=8,
    lr=3e-3,
    model=dict(
        encoder_channels=16, encoder_blocks=1, latent_dim=8, num_codes=16, cond_channels=16,
        layers=5, stacks=1, residual_channels=16, gate_channels=16, skip_channels=16,
        global_dim=8,
    ),
    abx_triples=600,
    crop=2048,
    bpd_examples=16,
)  # fmt: skip
FULL = Budget(
    steps=300,
    batch=16,
    lr=2e-3,
    model=dict(
        encoder_channels=48, encoder_blocks=2, latent_dim=16, num_codes=32, cond_channels=32,
        layers=8, stacks=1, residual_channels=24, gate_channels=48, skip_channels=32,
        global_dim=16,
    ),
    crop=2048,
)  # fmt: skip

BASES = {
    "ae": dict(bottleneck="ae"),
    "vae": dict(bottleneck="vae"),
    "vq": dict(bottleneck="vq"),
    "vq_nms": dict(bottleneck="vq", emission="nms", latent_rate=25.0),
}
# (ablation name, value, model options): the "on"/default value is the base "vq" (or "vae")
ABLATIONS = (
    ("jitter", 0.12, "vq", {}),
    ("jitter", 0.0, "vq", dict(jitter=0.0)),
    ("speaker_conditioning", True, "vq", {}),
    ("speaker_conditioning", False, "vq", dict(speaker_conditioning=False)),
    ("latent_rate", 50.0, "vq", {}),
    ("latent_rate", 25.0, "vq", dict(latent_rate=25.0)),
    ("encoder_field_of_view", 2, "vq", {}),
    ("encoder_field_of_view", 0, "vq", dict(encoder_blocks=0)),
    ("decoder_field_of_view", "base", "vq", {}),
    ("decoder_field_of_view", "half_layers", "vq", "half_layers"),
    ("input", "mfcc", "vq", {}),
    ("input", "mel", "vq", dict(features="mel")),
    ("input", "waveform", "vq", dict(features="waveform")),
    ("free_bits", 0.0, "vae", {}),
    ("free_bits", 0.5, "vae", dict(free_bits=0.5)),
)


def build(spec: DataSpec, budget: Budget, options: dict[str, Any], seed: int) -> Any:
    torch.manual_seed(seed)
    kw = {"latent_rate": 50.0, **budget.model, **options}
    return WaveNetAutoencoder(spec, **kw)


def _crop(x: torch.Tensor, T: int, offsets: torch.Tensor) -> torch.Tensor:
    """Windows ``x[n, o_n : o_n + T]``: ``[B, T]``."""
    return torch.stack([x[n, o : o + T] for n, o in zip(range(len(x)), offsets.tolist())])


def train(model: Any, split: SpeechSplit, budget: Budget, seed: int, device: str) -> list[float]:
    """``budget.steps`` Adam steps on seeded random batches (random windows of the model's
    spec length); returns the losses."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=budget.lr)
    g = torch.Generator().manual_seed(seed)
    T, full = model.spec.length, split.x.shape[1]
    losses = []
    for _ in range(budget.steps):
        idx = torch.randint(len(split), (budget.batch,), generator=g)
        off = torch.randint(full - T + 1, (budget.batch,), generator=g)
        cond = {k: v[idx].to(device) for k, v in split.labels.items()}
        loss, _ = model.loss(_crop(split.x[idx], T, off).to(device), cond=cond)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def bits_per_dim(model: Any, split: SpeechSplit, batch: int = 16, limit: int = 48) -> float:
    """``-log2 p`` per sample (the model's bound) on the centre window of the first ``limit``
    examples."""
    T, full = model.spec.length, split.x.shape[1]
    xs = split.x[:limit, (full - T) // 2 : (full - T) // 2 + T]
    total, n = 0.0, 0
    for i in range(0, len(xs), batch):
        x = xs[i : i + batch].to(model.device)
        cond = {k: v[i : i + batch].to(model.device) for k, v in split.labels.items()}
        total += float(-model.log_prob(x, cond=cond).sum())
        n += x.numel()
    return total / n / LN2


@torch.no_grad()
def latent_bits_per_second(model: Any, split: SpeechSplit) -> float:
    T = model.spec.length
    x = split.x[:16, :T].to(model.device)
    cond = {k: v[:16].to(model.device) for k, v in split.labels.items()}
    return float(model.extra_metrics(x, cond=cond)["bottleneck_bits_per_s"])


# ---------------------------------------------------------------- ABX (stand-in)
def phone_segments(phones: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``phones: [N, L]`` frame phones -> ``(utterance, start, end, phone)`` runs (no -1)."""
    segs = []
    for n, row in enumerate(phones):
        start = 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i] != row[start]:
                if row[start] >= 0:
                    segs.append((n, start, i, int(row[start])))
                start = i
    return segs


def abx_error(
    feats: np.ndarray,
    phones: np.ndarray,
    speakers: np.ndarray,
    *,
    triples: int = 3000,
    seed: int = 0,
) -> dict[str, float]:
    """ABX phone discrimination error (percent), within and across speaker.

    ``feats: [N, L, C]``, ``phones: [N, L]`` (-1: none), ``speakers: [N]``. Items are phone
    segments, each mean-pooled over its frames; distance 1 - cosine. A triple: A and X the
    same phone, B another; within: A, B, X one speaker; across: A, B one speaker, X another.
    Error = share of triples with d(A, X) > d(B, X) (ties count half), averaged over (A, B)
    phone pairs and then speakers (or speaker pairs), as ZeroSpeech averages.
    """
    segs = phone_segments(phones)
    vec = np.stack([feats[n, s:e].mean(0) for n, s, e, _ in segs])
    vec = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-8)
    ph = np.array([p for *_, p in segs])
    spk = np.array([speakers[n] for n, *_ in segs])
    rng = np.random.default_rng(seed)
    out = {}
    spks = np.unique(spk)
    for cond in ("within", "across"):
        scores: dict[tuple, list[float]] = {}
        for _ in range(triples):
            s1 = rng.choice(spks)
            s2 = s1 if cond == "within" else rng.choice(spks[spks != s1])
            pa, pb = rng.choice(np.unique(ph), 2, replace=False)
            A = np.flatnonzero((spk == s1) & (ph == pa))
            B = np.flatnonzero((spk == s1) & (ph == pb))
            X = np.flatnonzero((spk == s2) & (ph == pa))
            if cond == "within":
                X = X[X != A[0]] if len(A) else X
            if not (len(A) and len(B) and len(X)):
                continue
            a, b, x = rng.choice(A), rng.choice(B), rng.choice(X)
            if a == x:
                continue
            dax, dbx = 1 - vec[a] @ vec[x], 1 - vec[b] @ vec[x]
            e = 1.0 if dax > dbx else 0.5 if dax == dbx else 0.0
            scores.setdefault((s1, s2, pa, pb), []).append(e)
        by_spk: dict[tuple, list[float]] = {}
        for (s1, s2, _, _), v in scores.items():
            by_spk.setdefault((s1, s2), []).append(float(np.mean(v)))
        out[cond] = 100.0 * float(np.mean([np.mean(v) for v in by_spk.values()]))
    return out


def abx_scores(
    feats: np.ndarray,
    phones: np.ndarray,
    speakers: np.ndarray,
    *,
    triples: int,
    seed: int,
    origins: torch.Tensor | None = None,
    hop: int = 1,
    method: str = "triphone",
) -> dict[str, float]:
    """``{"within", "across"}`` ABX error in percent. ``method`` "triphone": ZeroSpeech's
    triphone DTW ABX (:func:`zoo.analysis.abx.abx`; ``origins`` and ``hop`` samples per frame
    drop the triphones that overlapping chunks repeat); "segment": :func:`abx_error` on
    mean-pooled phone segments, for the synthetic stand-in corpus, whose vowel-only phones
    give too few triphone minimal pairs."""
    if method == "segment":
        return abx_error(feats, phones, speakers, triples=triples, seed=seed)
    from zoo.analysis.abx import abx

    o = None if origins is None else origins.numpy()
    return abx(feats, phones, speakers, origins=o, hop=hop)


def baseline_features(x: torch.Tensor, spec: DataSpec, hop: int, kind: str) -> np.ndarray:
    """MFCC (13 + deltas) or log-mel (40) frames at the latent rate: ``[N, L, C]``."""
    sr, L = int(spec.sample_rate), -(-x.shape[1] // hop)
    wave = torchaudio.functional.mu_law_decoding(x, spec.levels)
    mel = dict(n_fft=512 if sr > 8000 else 256, hop_length=hop, n_mels=40, center=True)
    if kind == "mel":
        f = torch.log(torchaudio.transforms.MelSpectrogram(sr, **mel)(wave).clamp_min(1e-5))
    else:
        f = torchaudio.transforms.MFCC(sr, n_mfcc=13, melkwargs=mel)(wave)
        d = torchaudio.functional.compute_deltas(f)
        f = torch.cat([f, d, torchaudio.functional.compute_deltas(d)], 1)
    f = f[:, :, :L]
    f = (f - f.mean((0, 2), keepdim=True)) / f.std((0, 2), keepdim=True).clamp_min(1e-5)
    return f.transpose(1, 2).numpy()


# ---------------------------------------------------------------- codes and emissions
def code_analysis(codes: np.ndarray, phones: np.ndarray) -> dict[str, float]:
    """VQ codes vs frame phones (both ``[M]``, frames with a phone and a code): purity (share
    of frames whose phone is their code's most common one), NMI, code perplexity."""
    from sklearn.metrics import normalized_mutual_info_score

    keep = (codes >= 0) & (phones >= 0)
    c, p = codes[keep], phones[keep]
    table = np.zeros((c.max() + 1, p.max() + 1))
    np.add.at(table, (c, p), 1)
    q = np.bincount(c) / len(c)
    q = q[q > 0]
    return {
        "purity": float(table.max(1).sum() / len(c)),
        "nmi": float(normalized_mutual_info_score(p, c)),
        "perplexity": float(np.exp(-(q * np.log(q)).sum())),
    }


def boundary_scores(
    emit: np.ndarray, phones: np.ndarray, hop: int, sr: int, tol_s: float = 0.02
) -> tuple[float, float]:
    """Emission frames ``emit [N, L]`` (bool) vs phone boundaries in ``phones [N, T]``:
    (precision: share of emissions within ``tol_s`` of a boundary, recall: share of
    boundaries within ``tol_s`` of an emission). Emission time: the frame's centre."""
    tol = tol_s * sr
    hit_e = n_e = hit_b = n_b = 0
    for n in range(len(emit)):
        b = np.flatnonzero(np.diff(phones[n]) != 0) + 1
        e = np.flatnonzero(emit[n]) * hop + hop // 2
        n_e, n_b = n_e + len(e), n_b + len(b)
        if len(b) and len(e):
            d = np.abs(e[:, None] - b[None, :])
            hit_e += int((d.min(1) <= tol).sum())
            hit_b += int((d.min(0) <= tol).sum())
    return hit_e / max(1, n_e), hit_b / max(1, n_b)


# ---------------------------------------------------------------- the run
def _model_phone_frames(model: Any, split: SpeechSplit) -> np.ndarray:
    L = model.num_latents(split.x.shape[1])
    return frame_phones(split.phones, model.hop, L).numpy()


def _mel_r2(model: Any, splits: dict[str, SpeechSplit], reps: dict) -> dict[str, float]:
    from zoo.probing import _regress

    out = {}
    ma = mel_targets(splits["train"].x, model).numpy()
    mb = mel_targets(splits["test"].x, model).numpy()
    for p in POINTS:
        a, b = reps["train"][p], reps["test"][p]
        out[p] = _regress(
            a.reshape(-1, a.shape[2]), ma.reshape(-1, ma.shape[2]),
            b.reshape(-1, b.shape[2]), mb.reshape(-1, mb.shape[2]),
        )  # fmt: skip
    return out


def run(
    out_dir: str | os.PathLike,
    *,
    smoke: bool = False,
    device: str = "cpu",
    seed: int = 0,
    dataset: str | None = None,
    data_options: dict[str, Any] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Train, probe, score and write ``results.json``, ``report.md`` and figures in
    ``out_dir``; returns the results. ``dataset``: "spoken_words" (default when it exists)
    or "synthetic", or a real aligned corpus ("timit", "aligned_folder") with its loader's
    ``data_options`` (e.g. ``{"root": ...}``)."""
    from zoo.probing import speech_representations

    out = Path(out_dir)
    budget = budget or (SMOKE if smoke else FULL)
    if dataset is None:
        from zoo.data import list_datasets

        dataset = "spoken_words" if "spoken_words" in list_datasets() else "synthetic"
    spec, splits, phone_names = load_corpus(dataset, seed=seed, smoke=smoke, options=data_options)
    out.mkdir(parents=True, exist_ok=True)  # after the data loaded: bad input leaves nothing
    sr = int(spec.sample_rate)
    if budget.crop is not None and budget.crop < spec.length:  # models see windows
        spec = DataSpec(
            "audio",
            (budget.crop,),
            spec.levels,
            sample_rate=sr,
            labels=dict(spec.labels),
            name=f"{spec.name}_crop{budget.crop}",
        )
    # the stand-in corpus has too few triphone minimal pairs for ZeroSpeech's ABX
    abx_method = "segment" if dataset == "synthetic" else "triphone"
    results: dict[str, Any] = {
        "dataset": dataset,
        "data_options": dict(data_options or {}),
        "seed": seed,
        "budget": {
            "steps": budget.steps,
            "batch": budget.batch,
            "lr": budget.lr,
            "crop": budget.crop,
            "abx": abx_method,
        },
        "model": budget.model,
        "probes": [],
        "abx": [],
        "ablations": [],
    }
    trained: dict[str, Any] = {}
    summary: dict[str, dict[str, Any]] = {}

    def evaluate(name: str, options: dict[str, Any]) -> dict[str, Any]:
        model = build(spec, budget, options, seed)
        untrained_rows = speech_probes(model, splits, seed=seed) if name in BASES else []
        losses = train(model, splits["train"], budget, seed, device)
        model.to("cpu")
        rows = speech_probes(model, splits, seed=seed)
        reps = {s: speech_representations(model, splits[s].x, seed=seed) for s in splits}
        test_ph = _model_phone_frames(model, splits["test"])
        spk = splits["test"].labels["speaker"].numpy()
        abx = {
            p: abx_scores(
                reps["test"][p],
                test_ph,
                spk,
                triples=budget.abx_triples,
                seed=seed,
                origins=splits["test"].origins,
                hop=model.hop,
                method=abx_method,
            )
            for p in ("encoder", "bottleneck")
        }
        info = {
            "model": model,
            "rows": rows,
            "untrained": untrained_rows,
            "abx": abx,
            "reps": reps,
            "bpd": bits_per_dim(model, splits["test"], limit=budget.bpd_examples),
            "bps": latent_bits_per_second(model, splits["test"]),
            "final_loss": losses[-1],
        }
        if name in BASES:
            info["mel_r2"] = _mel_r2(model, splits, reps)
        log.info("%s: bpd %.3f", name, info["bpd"])
        return info

    for name, options in BASES.items():
        info = evaluate(name, options)
        trained[name], summary[name] = info["model"], info
        for trained_flag, rows in ((True, info["rows"]), (False, info["untrained"])):
            for r in rows:
                results["probes"].append(
                    dict(model=name, trained=trained_flag, **{k: r[k] for k in
                         ("point", "target", "accuracy", "chance")})
                )  # fmt: skip
        for p, r2 in info["mel_r2"].items():
            results["probes"].append(
                dict(model=name, trained=True, point=p, target="mel", accuracy=r2, chance=0.0)
            )
        for p, e in info["abx"].items():
            for cond, err in e.items():
                results["abx"].append(dict(model=name, point=p, condition=cond, error=err))
    hop = trained["vq"].hop
    test_ph = _model_phone_frames(trained["vq"], splits["test"])
    spk = splits["test"].labels["speaker"].numpy()
    for kind in ("mfcc", "mel"):
        f = baseline_features(splits["test"].x, spec, hop, kind)
        e = abx_scores(f, test_ph, spk, triples=budget.abx_triples, seed=seed,
                       origins=splits["test"].origins, hop=hop, method=abx_method)  # fmt: skip
        for cond, err in e.items():
            results["abx"].append(dict(model=kind, point="features", condition=cond, error=err))

    variants: dict[str, dict[str, Any]] = {}
    for abl, value, base, options in ABLATIONS:
        if options == {}:
            info = summary[base]
        else:
            if options == "half_layers":
                options = dict(layers=max(2, budget.model["layers"] // 2))
            key = f"{abl}={value}"
            variants[key] = info = evaluate(key, {**BASES[base], **options})
        bott = {r["target"]: r["accuracy"] for r in info["rows"] if r["point"] == "bottleneck"}
        results["ablations"].append(
            dict(
                name=abl,
                value=value,
                model=base,
                phone_accuracy=bott["phone"],
                speaker_accuracy=bott["speaker"],
                gender_accuracy=bott["gender"],
                abx_across=info["abx"]["bottleneck"]["across"],
                abx_within=info["abx"]["bottleneck"]["within"],
                bits_per_dim=info["bpd"],
                latent_bits_per_second=info["bps"],
                receptive_field=info["model"].receptive_field,
            )
        )

    # codes of the VQ model, emissions of the NMS model (test split: held-out voices)
    vq = trained["vq"]
    with torch.no_grad():
        codes = vq.encode(splits["test"].x).numpy()
    results["codes"] = code_analysis(codes.reshape(-1), test_ph.reshape(-1))
    nms = trained["vq_nms"]
    with torch.no_grad():
        em = nms.emission_scores(splits["test"].x)
        nms_codes = nms.encode(splits["test"].x).numpy()
    emit = em["mask"].numpy() > 0
    phones_np = splits["test"].phones.numpy()
    prec, rec = boundary_scores(emit, phones_np, nms.hop, sr)
    rng = np.random.default_rng(seed)
    k = int(emit[0].sum())
    rand = np.zeros_like(emit)
    for n in range(len(rand)):
        rand[n, rng.choice(emit.shape[1], k, replace=False)] = True
    rprec, rrec = boundary_scores(rand, phones_np, nms.hop, sr)
    nms_ph = _model_phone_frames(nms, splits["test"])
    top: dict[str, list] = {}
    for c in np.unique(nms_codes[nms_codes >= 0]):
        p = nms_ph[(nms_codes == c) & (nms_ph >= 0)]
        if len(p):
            cnt = np.bincount(p, minlength=len(phone_names))
            best = np.argsort(-cnt)[:3]
            top[str(int(c))] = [
                [phone_names[b], round(float(cnt[b] / len(p)), 3)] for b in best if cnt[b]
            ]
    results["emission"] = dict(
        rate_hz=nms.latent_rate,
        nonzero_fraction=float(emit.mean()),
        boundary_precision=prec,
        boundary_recall=rec,
        random_precision=rprec,
        random_recall=rrec,
        top_phones=top,
    )
    results["load_average"] = list(os.getloadavg())
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    _figures(out, results, splits["test"], nms, emit, spec, phone_names)
    (out / "report.md").write_text(report(results))
    return results


# ---------------------------------------------------------------- figures and report
def _figures(out: Path, results: dict, test: SpeechSplit, nms: Any, emit, spec, names) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(BASES)
    # 1. phone vs gender accuracy per point per bottleneck
    fig, ax = plt.subplots(figsize=(5, 4))
    for m in models:
        rows = [r for r in results["probes"] if r["model"] == m and r["trained"]]
        ph = [next(r["accuracy"] for r in rows if r["point"] == p and r["target"] == "phone")
              for p in POINTS]  # fmt: skip
        ge = [next(r["accuracy"] for r in rows if r["point"] == p and r["target"] == "gender")
              for p in POINTS]  # fmt: skip
        ax.plot(ge, ph, "o-", label=m)
        for p, g, f in zip(POINTS, ge, ph):
            ax.annotate(p[:4], (g, f), fontsize=6)
    ax.set_xlabel("gender accuracy (held-out voices)")
    ax.set_ylabel("framewise phone accuracy (held-out voices)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "phone_vs_gender.png", dpi=80)
    plt.close(fig)
    # 2. ABX within / across per bottleneck beside MFCC and mel
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [*models, "mfcc", "mel"]
    for j, cond in enumerate(("within", "across")):
        vals = []
        for m in labels:
            pt = "features" if m in ("mfcc", "mel") else "bottleneck"
            hits = [r for r in results["abx"] if (r["model"], r["point"]) == (m, pt)]
            vals.append(next(r["error"] for r in hits if r["condition"] == cond))
        ax.bar(np.arange(len(labels)) + 0.4 * j, vals, 0.4, label=cond)
    ax.set_xticks(np.arange(len(labels)) + 0.2, labels)
    ax.set_ylabel("ABX error (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "abx.png", dpi=80)
    plt.close(fig)
    # 3. jitter off / on
    rows = [r for r in results["ablations"] if r["name"] == "jitter"]
    fig, axes = plt.subplots(1, 3, figsize=(7, 2.5))
    for a, key in zip(axes, ("phone_accuracy", "speaker_accuracy", "abx_across")):
        a.bar([str(r["value"]) for r in rows], [r[key] for r in rows])
        a.set_title(key, fontsize=8)
        a.set_xlabel("jitter")
    fig.tight_layout()
    fig.savefig(out / "jitter.png", dpi=80)
    plt.close(fig)
    # 4. emission timeline over a spectrogram with phone labels
    sr = int(spec.sample_rate)
    wave = torchaudio.functional.mu_law_decoding(test.x[0], spec.levels).numpy()
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.specgram(wave, NFFT=256, Fs=sr, noverlap=192, cmap="magma")
    ph = test.phones[0].numpy()
    starts = np.flatnonzero(np.diff(ph, prepend=-2) != 0)
    for s in starts:
        if ph[s] >= 0:
            ax.axvline(s / sr, color="w", lw=0.5)
            ax.text(s / sr, sr * 0.45, names[ph[s]], color="w", fontsize=7)
    for lat in np.flatnonzero(emit[0]):
        ax.axvline((lat * nms.hop + nms.hop // 2) / sr, color="c", lw=1.5, ls="--")
    ax.set_xlabel("time (s); dashed: NMS emissions")
    fig.tight_layout()
    fig.savefig(out / "emission_timeline.png", dpi=80)
    plt.close(fig)


def _probe(results: dict, model: str, point: str, target: str) -> float:
    return next(r["accuracy"] for r in results["probes"]
                if r["model"] == model and r["trained"] and r["point"] == point
                and r["target"] == target)  # fmt: skip


def _abx(results: dict, model: str, point: str, condition: str) -> float:
    return next(r["error"] for r in results["abx"]
                if r["model"] == model and r["point"] == point
                and r["condition"] == condition)  # fmt: skip


def _ablation(results: dict, name: str, value: Any) -> dict[str, Any]:
    return next(r for r in results["ablations"] if r["name"] == name and r["value"] == value)


def against_paper(results: dict) -> list[str]:
    """The paper's findings, each checked on ``results``: one markdown bullet per finding,
    with the figures that decide it and **reproduces** / **does not reproduce**."""

    def verdict(ok: bool) -> str:
        return "**reproduces**" if ok else "**does not reproduce**"

    chance = {r["target"]: r["chance"] for r in results["probes"] if r["target"] != "mel"}
    bases = [m for m in BASES if any(r["model"] == m for r in results["probes"])]
    enc_phone = {m: _probe(results, m, "encoder", "phone") for m in bases}
    out = [
        f"- Framewise phones are readable from the encoder on voices unheard in training "
        f"(accuracy {min(enc_phone.values()):.2f}-{max(enc_phone.values()):.2f}, chance "
        f"{chance['phone']:.3f}): {verdict(min(enc_phone.values()) > 2 * chance['phone'])}."
    ]
    feats = [m for m in ("mfcc", "mel") if any(r["model"] == m for r in results["abx"])]
    pairs = {m: (_abx(results, m, "features", "within"), _abx(results, m, "features", "across"))
             for m in feats}  # fmt: skip
    out.append(
        "- ABX within-speaker error is below across-speaker error on the baselines ("
        + ", ".join(f"{m} {w:.1f} % vs {a:.1f} %" for m, (w, a) in pairs.items())
        + f"): {verdict(all(w < a for w, a in pairs.values()))}."
    )
    drop = {m: (_probe(results, m, "encoder", "speaker"), _probe(results, m, "bottleneck",
            "speaker")) for m in bases}  # fmt: skip
    lost = {m: e - b for m, (e, b) in drop.items()}
    out.append(
        "- A bottleneck that limits information removes the speaker: speaker accuracy encoder "
        "-> bottleneck "
        + ", ".join(f"{m} {e:.2f} -> {b:.2f}" for m, (e, b) in drop.items())
        + f"; VQ and VAE remove more than the plain AE: "
        f"{verdict(min(lost['vq'], lost['vae']) > lost['ae'])}."
    )
    vq_b, vq_e, ae_b = (_abx(results, "vq", "bottleneck", "across"),
                        _abx(results, "vq", "encoder", "across"),
                        _abx(results, "ae", "bottleneck", "across"))  # fmt: skip
    out.append(
        f"- Quantisation lowers the across-speaker ABX error: VQ bottleneck {vq_b:.1f} % vs "
        f"the AE bottleneck {ae_b:.1f} % and the VQ model's own encoder {vq_e:.1f} %: "
        f"{verdict(vq_b < ae_b and vq_b < vq_e)}."
    )
    on, off = _ablation(results, "jitter", 0.12), _ablation(results, "jitter", 0.0)
    out.append(
        f"- Time jitter (0.12) makes the latents more speaker-invariant and better phone "
        f"predictors: speaker {off['speaker_accuracy']:.3f} (off) -> "
        f"{on['speaker_accuracy']:.3f} (on), phone {off['phone_accuracy']:.3f} -> "
        f"{on['phone_accuracy']:.3f}: "
        f"{verdict(on['speaker_accuracy'] < off['speaker_accuracy'] and on['phone_accuracy'] > off['phone_accuracy'])}."  # noqa: E501
    )
    e = results["emission"]
    out.append(
        f"- Non-max-suppression emissions fall near phone boundaries: precision "
        f"{e['boundary_precision']:.3f} against {e['random_precision']:.3f} for as many random "
        f"emissions: {verdict(e['boundary_precision'] > e['random_precision'])}."
    )
    c = results["codes"]
    out.append(
        f"- VQ codes stand for phones: purity {c['purity']:.3f}, NMI with the frame phones "
        f"{c['nmi']:.3f}, code perplexity {c['perplexity']:.1f} (the paper reads codes by the "
        f"phones they co-occur with; no threshold is claimed)."
    )
    fb0, fb = _ablation(results, "free_bits", 0.0), _ablation(results, "free_bits", 0.5)
    out.append(
        f"- Free bits (0.5) for the VAE: latent rate {fb0['latent_bits_per_second']:.0f} -> "
        f"{fb['latent_bits_per_second']:.0f} bit/s, phone accuracy "
        f"{fb0['phone_accuracy']:.3f} -> {fb['phone_accuracy']:.3f} (measured, no claim)."
    )
    return out


def report(results: dict, *, figures: str = "", title: bool = True) -> str:
    """The markdown report of a results dict (``figures``: the figures' folder as seen from
    where the report lives; ``title``: start with the page title)."""
    b = results["budget"]
    lines = ["# Speech experiment (Chorowski et al. 2019)", ""] if title else []
    lines += [
        f"Data set: `{results['dataset']}`; seed {results['seed']}; {b['steps']} Adam steps of "
        f"{b['batch']} windows of {b['crop']} samples per model, lr {b['lr']}; ABX: {b['abx']}.",
        "",
        "## Against the paper",
        "",
        *against_paper(results),
        "",
        "## Probes (trained models; accuracy on held-out voices, speaker on held-out utterances)",
        "",
        "| model | point | phone | gender | speaker | mel R² |",
        "|---|---|---|---|---|---|",
    ]
    for m in BASES:
        for p in POINTS:
            v = {r["target"]: r["accuracy"] for r in results["probes"]
                 if r["model"] == m and r["trained"] and r["point"] == p}  # fmt: skip
            lines.append(
                f"| {m} | {p} | {v['phone']:.3f} | {v['gender']:.3f} | {v['speaker']:.3f}"
                f" | {v['mel']:.3f} |"
            )
    ch = {r["target"]: r["chance"] for r in results["probes"] if r["target"] != "mel"}
    lines += ["", f"Chance: {', '.join(f'{k} {v:.3f}' for k, v in ch.items())}.", ""]
    lines += ["## ABX error (%)", "", "| model | point | within | across |", "|---|---|---|---|"]
    seen = list(dict.fromkeys((r["model"], r["point"]) for r in results["abx"]))
    for m, p in seen:
        v = {r["condition"]: r["error"] for r in results["abx"]
             if r["model"] == m and r["point"] == p}  # fmt: skip
        lines.append(f"| {m} | {p} | {v['within']:.1f} | {v['across']:.1f} |")
    lines += [
        "",
        "## Ablations (probes at the bottleneck)",
        "",
        "| name | value | phone | speaker | ABX across | bits/dim | latent bit/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["ablations"]:
        lines.append(
            f"| {r['name']} | {r['value']} | {r['phone_accuracy']:.3f} | "
            f"{r['speaker_accuracy']:.3f} | {r['abx_across']:.1f} | {r['bits_per_dim']:.3f} | "
            f"{r['latent_bits_per_second']:.1f} |"
        )
    c, e = results["codes"], results["emission"]
    lines += [
        "",
        f"VQ codes: purity {c['purity']:.3f}, NMI {c['nmi']:.3f}, perplexity "
        f"{c['perplexity']:.1f}.",
        "",
        f"NMS emission ({e['rate_hz']:.1f} Hz): non-zero fraction {e['nonzero_fraction']:.3f};"
        f" boundary precision {e['boundary_precision']:.3f} (random "
        f"{e['random_precision']:.3f}), recall {e['boundary_recall']:.3f} (random "
        f"{e['random_recall']:.3f}).",
        "",
    ]
    top = sorted(e.get("top_phones", {}).items(), key=lambda kv: -kv[1][0][1])[:8]
    if top:
        lines += [
            "Tokens and the phones they are emitted near (the paper's \"token 13 near S and "
            'Z"), the most specific eight:',
            "",
            "| token | phones (share of its emissions) |",
            "|---|---|",
            *(f"| {t} | {', '.join(f'{p} {w:.2f}' for p, w in ph)} |" for t, ph in top),
            "",
        ]
    lines += [
        f"![phone vs gender]({figures}phone_vs_gender.png) ![ABX]({figures}abx.png) "
        f"![jitter]({figures}jitter.png)",
        f"![emissions]({figures}emission_timeline.png)",
        "",
    ]
    return "\n".join(lines)


def smaller(budget: Budget, **changes: Any) -> Budget:
    """A copy of ``budget`` with ``changes`` (e.g. fewer steps for a test)."""
    return replace(budget, **changes)


def check_out_dir(out: str | None) -> str:
    if not out:
        raise ZooInputError("zoo experiment speech needs --out DIR (where results.json goes)")
    return out


__all__ = [
    "run", "report", "against_paper", "synthetic_corpus", "abx_error", "code_analysis", "SMOKE",
    "FULL",
]  # fmt: skip
