"""Probing a trained WaveNet autoencoder: what do its representations know?

As in Chorowski et al. 2019 (sec. V): freeze the model, read its representations at four probe
points (``WaveNetAutoencoder.representations``: "encoder", "projection", "bottleneck",
"conditioning", all at the latent rate), and fit simple read-outs on the train split, scored on
the test split:

- ``speaker`` and ``digit`` (whatever labels the data set has): a logistic regression on the
  chunk's representation averaged over time (one vector per chunk; metric "accuracy"), and for
  the speaker also per latent frame (metric "frame_accuracy", every frame labelled with its
  chunk's speaker). ``baseline``: the majority class of the train split, scored on test.
- ``mel``: a ridge regression from each latent frame to the log-mel filterbank of the audio it
  covers (``n_mels`` bands, a window of 2 hops centred on the latent's stretch); metric "r2"
  (variance-weighted R^2 on test frames; 0 = predicting the train mean).

The seed's finding to check: the VQ bottleneck keeps the content (digit accuracy and mel R^2
stay high after quantisation) but discards the speaker (speaker accuracy drops towards chance
from "encoder" to "bottleneck"), because the decoder is given the speaker separately.

    rows = probe(model, load_dataset("fsdd"))
    print(format_table(rows))

``probe_run(run_dir)`` does the same for a run folder (its config names the data set) and
writes ``probes.json`` there: the function behind ``zoo probe RUN``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from einops import rearrange
from threadpoolctl import threadpool_limits

from zoo.data import load_dataset
from zoo.data.base import Dataset, Split
from zoo.engine.checkpoint import load_model, read_config
from zoo.errors import ZooInputError

POINTS = ("encoder", "projection", "bottleneck", "conditioning")


def _subset(split: Split, max_examples: int | None, seed: int) -> Split:
    if max_examples is None or len(split) <= max_examples:
        return split
    g = torch.Generator().manual_seed(seed)
    return split.subset(torch.randperm(len(split), generator=g)[:max_examples].sort().values)


def mel_targets(x: torch.Tensor, model: Any, n_mels: int = 40) -> torch.Tensor:
    """Log-mel frames aligned with the latents: ``x: [B, T]`` -> ``[B, L, n_mels]``.

    Frame l covers samples ``[l hop - hop/2, (l + 1) hop + hop/2)`` (a window of 2 hops centred
    on the stretch of audio latent l stands for).
    """
    hop, L = model.hop, model.num_latents(x.shape[1])
    wave = torchaudio.functional.mu_law_decoding(x.long(), model.levels)
    wave = F.pad(wave, (hop // 2, L * hop - x.shape[1] + hop - hop // 2))
    mel = torchaudio.transforms.MelSpectrogram(
        model.spec.sample_rate,
        n_fft=2 * hop,
        hop_length=hop,
        n_mels=n_mels,
        center=False,
    ).to(wave.device)(wave)  # [B, n_mels, L]
    return rearrange(torch.log(mel.clamp_min(1e-5)), "b m l -> b l m")


@torch.no_grad()
def extract(
    model: Any,
    split: Split,
    *,
    batch_size: int = 32,
    n_mels: int = 40,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Representations of every example of ``split`` at the four points (model frozen).

    Returns ``{"frames": {point: [N, L, C]}, "labels": {name: [N]}, "mel": [N, L, n_mels]}``
    as numpy arrays.
    """
    device = torch.device(device) if device is not None else model.device
    model.eval()
    frames: dict[str, list[np.ndarray]] = {p: [] for p in POINTS}
    mels: list[np.ndarray] = []
    g = torch.Generator(device=device).manual_seed(seed)  # the VAE's bottleneck samples
    for x, _ in split.batches(batch_size):
        x = x.to(device)
        reps = model.representations(x, generator=g)
        for p in POINTS:
            frames[p].append(rearrange(reps[p], "b c l -> b l c").float().cpu().numpy())
        mels.append(mel_targets(x, model, n_mels).cpu().numpy())
    return {
        "frames": {p: np.concatenate(v) for p, v in frames.items()},
        "labels": {k: v.numpy() for k, v in split.labels.items()},
        "mel": np.concatenate(mels),
    }


def _classify(train_x, train_y, test_x, test_y, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(train_y)) < 2:
        return float(np.mean(test_y == train_y[0]))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    clf.fit(train_x, train_y)
    return float(clf.score(test_x, test_y))


def _regress(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(train_x, train_y)
    return float(r2_score(test_y, reg.predict(test_x), multioutput="variance_weighted"))


def _frames(a: np.ndarray, keep: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``[N, L, C]`` -> a seeded random subset of ``keep`` rows of ``[N L, C]`` and their chunk."""
    N, L, C = a.shape
    flat, owner = a.reshape(N * L, C), np.repeat(np.arange(N), L)
    if N * L > keep:
        idx = np.random.default_rng(seed).choice(N * L, keep, replace=False)
        flat, owner = flat[idx], owner[idx]
    return flat, owner


def probe(
    model: Any,
    dataset: Dataset,
    *,
    train_split: str = "train",
    test_split: str = "test",
    targets: tuple[str, ...] | None = None,
    max_examples: int | None = 2000,
    max_frames: int = 20000,
    n_mels: int = 40,
    mel: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    blas_threads: int = 1,
) -> list[dict[str, Any]]:
    """Fit the read-outs; one row ``{point, target, metric, value, baseline, n_train, n_test}``
    per point x target x metric.

    ``targets``: label names to predict (default: every label of the data set). Up to
    ``max_examples`` chunks per split (a seeded subset) and ``max_frames`` frames for the
    frame-level probes keep it to seconds.
    """
    if not hasattr(model, "representations"):
        raise ZooInputError(
            f"{type(model).__name__} has no probe points; probing needs a model with "
            "representations(x) (a WaveNet autoencoder run)"
        )
    if max_examples is not None and max_examples < 1:
        raise ZooInputError(f"max_examples must be >= 1 (or left out), got {max_examples}")
    targets = tuple(dataset.spec.labels) if targets is None else tuple(targets)
    unknown = [t for t in targets if t not in dataset.spec.labels]
    if unknown:
        raise ZooInputError(
            f"unknown targets {unknown}; {dataset.name} has {list(dataset.spec.labels)}"
        )
    tr_split = _subset(dataset[train_split], max_examples, seed)
    te_split = _subset(dataset[test_split], max_examples, seed + 1)
    tr = extract(model, tr_split, n_mels=n_mels, device=device, seed=seed)
    te = extract(model, te_split, n_mels=n_mels, device=device, seed=seed + 1)
    with threadpool_limits(blas_threads):  # small fits: BLAS threads only contend
        return _fit_probes(tr, te, targets, max_frames=max_frames, mel=mel, seed=seed)


def _fit_probes(
    tr: dict, te: dict, targets: tuple[str, ...], *, max_frames: int, mel: bool, seed: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(point: str, target: str, metric: str, value: float, base: float, n: tuple) -> None:
        rows.append(
            dict(
                point=point,
                target=target,
                metric=metric,
                value=value,
                baseline=base,
                n_train=n[0],
                n_test=n[1],
            )  # fmt: skip
        )

    for t in targets:
        ytr, yte = tr["labels"][t], te["labels"][t]
        major = np.bincount(ytr).argmax()
        base = float(np.mean(yte == major))
        for p in POINTS:
            a, b = tr["frames"][p].mean(1), te["frames"][p].mean(1)
            row(p, t, "accuracy", _classify(a, ytr, b, yte, seed), base, (len(a), len(b)))
        if t == "speaker":
            for p in POINTS:
                a, oa = _frames(tr["frames"][p], max_frames, seed)
                b, ob = _frames(te["frames"][p], max_frames, seed + 1)
                acc = _classify(a, ytr[oa], b, yte[ob], seed)
                row(p, t, "frame_accuracy", acc, base, (len(a), len(b)))
    if mel:
        for p in POINTS:
            a, oa = _frames(tr["frames"][p], max_frames, seed)
            b, ob = _frames(te["frames"][p], max_frames, seed + 1)
            ma, _ = _frames(tr["mel"], max_frames, seed)
            mb, _ = _frames(te["mel"], max_frames, seed + 1)
            row(p, "mel", "r2", _regress(a, ma, b, mb), 0.0, (len(a), len(b)))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows -> a plain-text table: one line per (target, metric), one column per point."""
    keys = list(dict.fromkeys((r["target"], r["metric"]) for r in rows))
    points = list(dict.fromkeys(r["point"] for r in rows))
    head = (
        f"{'target':<8} {'metric':<15}" + "".join(f"{p:>14}" for p in points) + f"{'baseline':>10}"
    )
    lines = [head, "-" * len(head)]
    for t, m in keys:
        vals = {r["point"]: r for r in rows if (r["target"], r["metric"]) == (t, m)}
        cells = "".join(f"{vals[p]['value']:>14.3f}" if p in vals else f"{'':>14}" for p in points)
        base = next(iter(vals.values()))["baseline"]
        lines.append(f"{t:<8} {m:<15}{cells}{base:>10.3f}")
    return "\n".join(lines)


def probe_run(
    run_dir: str | os.PathLike,
    *,
    split: str = "test",
    device: str | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Probe a trained run (``zoo probe RUN``): load its model and data set, fit the probes on
    its train split, score them on ``split``, write ``probes.json`` in the run folder."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    model = load_model(run_dir, map_location=device or "cpu")
    dataset = load_dataset(config["dataset"], **config.get("data_options", {}))
    rows = probe(model, dataset, test_split=split, **options)
    tmp = run_dir / "probes.json.tmp"
    tmp.write_text(json.dumps({"split": split, "rows": rows}, indent=2) + "\n")
    os.replace(tmp, run_dir / "probes.json")
    return rows


# ---------------------------------------------------------------- the speech experiment's probes
SPEECH_TARGETS = ("phone", "gender", "speaker")


def frame_phones(phones: torch.Tensor, hop: int, L: int) -> torch.Tensor:
    """The phone at each latent frame's centre: ``phones: [N, T]`` int64 (-1: none) ->
    ``[N, L]``, frame l's centre being sample ``l hop + hop // 2`` (clamped to T - 1)."""
    T = phones.shape[1]
    centre = (torch.arange(L) * hop + hop // 2).clamp(max=T - 1)
    return phones[:, centre]


def _chance(train_y: np.ndarray, test_y: np.ndarray) -> float:
    """Accuracy on test of always answering the train split's majority class."""
    return float(np.mean(test_y == np.bincount(train_y).argmax()))


@torch.no_grad()
def speech_representations(
    model: Any, x: torch.Tensor, *, batch_size: int = 32, seed: int = 0
) -> dict[str, np.ndarray]:
    """``x: [N, T]`` -> ``{point: [N, L, C]}`` float32 at the four probe points (frozen)."""
    model.eval()
    g = torch.Generator(device=model.device).manual_seed(seed)
    out: dict[str, list[np.ndarray]] = {p: [] for p in POINTS}
    for i in range(0, len(x), batch_size):
        reps = model.representations(x[i : i + batch_size].to(model.device), generator=g)
        for p in POINTS:
            out[p].append(rearrange(reps[p], "b c l -> b l c").float().cpu().numpy())
    return {p: np.concatenate(v) for p, v in out.items()}


def speech_probes(
    model: Any,
    splits: dict[str, Any],
    *,
    max_frames: int = 20000,
    seed: int = 0,
    blas_threads: int = 1,
) -> list[dict[str, Any]]:
    """Framewise phone, gender and speaker probes (Chorowski et al. 2019, sec. V).

    ``splits``: ``{"train", "valid", "test"}``, each with ``.x [N, T]`` levels,
    ``.labels["speaker" | "gender"] [N]`` and ``.phones [N, T]`` int64 (-1: none); test's
    voices are absent from train, valid holds unheard utterances of train's voices. A
    logistic regression on the frozen representation, at every probe point:

    - ``phone``: per latent frame, the phone at its centre (:func:`frame_phones`; frames
      with none are left out); fitted on train, scored on test (held-out voices).
    - ``gender``: per utterance (time-averaged); fitted on train, scored on test.
    - ``speaker``: per utterance; fitted on train, scored on valid (seen voices).

    One row ``{point, target, accuracy, chance, n_train, n_test}`` per point x target;
    ``chance``: the train split's majority class scored on the test data.
    """
    if not hasattr(model, "representations"):
        raise ZooInputError(f"{type(model).__name__} has no probe points (representations)")
    missing = [s for s in ("train", "valid", "test") if s not in splits]
    if missing:
        raise ZooInputError(f"speech_probes needs train, valid and test splits; missing {missing}")
    reps = {s: speech_representations(model, splits[s].x, seed=seed) for s in splits}
    rows: list[dict[str, Any]] = []
    with threadpool_limits(blas_threads):
        for p in POINTS:
            for target, fit, score in (
                ("phone", "train", "test"),
                ("gender", "train", "test"),
                ("speaker", "train", "valid"),
            ):
                a, b = reps[fit][p], reps[score][p]
                if target == "phone":
                    L = a.shape[1]
                    ya = frame_phones(splits[fit].phones, model.hop, L).numpy()
                    yb = frame_phones(splits[score].phones, model.hop, L).numpy()
                    a, ya = a.reshape(-1, a.shape[2]), ya.reshape(-1)
                    b, yb = b.reshape(-1, b.shape[2]), yb.reshape(-1)
                    rng = np.random.default_rng(seed)
                    ka, kb = np.flatnonzero(ya >= 0), np.flatnonzero(yb >= 0)
                    ka = ka if len(ka) <= max_frames else rng.choice(ka, max_frames, False)
                    kb = kb if len(kb) <= max_frames else rng.choice(kb, max_frames, False)
                    a, ya, b, yb = a[ka], ya[ka], b[kb], yb[kb]
                else:
                    a, b = a.mean(1), b.mean(1)
                    ya = splits[fit].labels[target].numpy()
                    yb = splits[score].labels[target].numpy()
                rows.append(
                    dict(
                        point=p,
                        target=target,
                        accuracy=_classify(a, ya, b, yb, seed),
                        chance=_chance(ya, yb),
                        n_train=len(a),
                        n_test=len(b),
                    )
                )
    return rows
