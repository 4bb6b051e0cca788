"""Probing: rows for every point x target, read-outs that find planted information."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zoo.core.spec import DataSpec
from zoo.data.base import Dataset, Split
from zoo.data.speech import mu_law_encode
from zoo.errors import ZooInputError
from zoo.models.wavenet_ae import WaveNetAutoencoder
from zoo.probing import POINTS, _classify, _regress, format_table, mel_targets, probe

SMALL = dict(
    encoder_channels=8,
    encoder_blocks=1,
    latent_dim=4,
    num_codes=8,
    cond_channels=8,
    layers=2,
    stacks=1,
    residual_channels=8,
    gate_channels=8,
    skip_channels=8,
    global_dim=4,
)


def _tones(n: int, T: int, seed: int) -> Split:
    """Sine chunks: the speaker sets the pitch, the 'digit' the loudness envelope's shape."""
    g = np.random.default_rng(seed)
    spk, dig = g.integers(0, 3, n), g.integers(0, 2, n)
    t = np.arange(T) / 8000
    waves = []
    for s, d in zip(spk, dig, strict=True):
        env = np.linspace(0, 1, T) if d else np.linspace(1, 0, T)
        waves.append(0.8 * env * np.sin(2 * np.pi * (150 + 150 * s) * t + g.uniform(0, 6)))
    x = torch.from_numpy(np.stack(waves)).float()
    labels = {"speaker": torch.tensor(spk), "digit": torch.tensor(dig)}
    return Split(mu_law_encode(x, 256), labels)


@pytest.fixture(scope="module")
def tones() -> Dataset:
    spec = DataSpec("audio", (800,), 256, sample_rate=8000, labels={"speaker": 3, "digit": 2})
    splits = {"train": _tones(120, 800, 0), "valid": _tones(10, 800, 1), "test": _tones(60, 800, 2)}
    return Dataset("tones", spec, splits)


def test_probe_gives_a_row_for_every_point_target_and_metric(tones):
    torch.manual_seed(0)
    m = WaveNetAutoencoder(tones.spec, bottleneck="vq", features="mel", **SMALL)
    rows = probe(m, tones, n_mels=20)
    keys = {(r["point"], r["target"], r["metric"]) for r in rows}
    expected = {(p, "speaker", "accuracy") for p in POINTS}
    expected |= {(p, "digit", "accuracy") for p in POINTS}
    expected |= {(p, "speaker", "frame_accuracy") for p in POINTS}
    expected |= {(p, "mel", "r2") for p in POINTS}
    assert keys == expected
    for r in rows:
        assert np.isfinite(r["value"]) and r["n_train"] > 0 and r["n_test"] > 0
        if r["metric"] != "r2":
            assert 0.0 <= r["value"] <= 1.0
    json.dumps(rows)  # plain values: storable as probes.json
    table = format_table(rows)
    assert all(p in table for p in POINTS)
    # the encoder sees log-mel frames of pure tones: the pitch (speaker) is easy to read out
    enc = next(r for r in rows if r["point"] == "encoder" and r["metric"] == "accuracy"
               and r["target"] == "speaker")  # fmt: skip
    assert enc["value"] > 0.9


def test_mel_targets_align_with_the_latents(tones):
    m = WaveNetAutoencoder(tones.spec, **SMALL)
    x = tones["train"].x[:3]
    mel = mel_targets(x, m, n_mels=20)
    assert mel.shape == (3, m.num_latents(800), 20)
    # a chunk that fades in: its first frame is quieter than its last
    fade_in = int(torch.nonzero(tones["train"].labels["digit"] == 1)[0])
    e = mel_targets(tones["train"].x[fade_in : fade_in + 1], m, 20).exp().sum(-1)[0]
    assert e[0] < e[-1]


def test_read_outs_recover_planted_information():
    g = np.random.default_rng(0)
    y = g.integers(0, 4, 400)
    X = np.c_[np.eye(4)[y] * 3 + 0.1 * g.standard_normal((400, 4)), g.standard_normal((400, 6))]
    assert _classify(X[:300], y[:300], X[300:], y[300:], 0) > 0.95
    noise = g.standard_normal((400, 10))
    assert _classify(noise[:300], y[:300], noise[300:], y[300:], 0) < 0.5
    W = g.standard_normal((10, 3))
    Y = X @ W
    assert _regress(X[:300], Y[:300], X[300:], Y[300:]) > 0.99
    assert _regress(noise[:300], Y[:300], noise[300:], Y[300:]) < 0.2


def test_probe_refuses_models_without_probe_points(tones):
    with pytest.raises(ZooInputError, match="probe points"):
        probe(torch.nn.Linear(2, 2), tones)
    m = WaveNetAutoencoder(tones.spec, **SMALL)
    with pytest.raises(ValueError, match="unknown targets"):
        probe(m, tones, targets=("accent",))
