"""The speech experiment: `zoo experiment speech --smoke` end to end on the synthetic
stand-in (schema of results.json and real properties), and its parts on planted cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zoo.cli import main
from zoo.experiments import speech
from zoo.models.wavenet_ae import WaveNetAutoencoder
from zoo.probing import frame_phones, speech_probes

TINY = speech.smaller(
    speech.SMOKE,
    steps=3,
    model=dict(speech.SMOKE.model, layers=3, encoder_channels=8, cond_channels=8),
    abx_triples=300,
)


def test_frame_phones_reads_each_frames_centre():
    phones = torch.arange(10)[None]
    assert frame_phones(phones, hop=4, L=3).tolist() == [[2, 6, 9]]


def test_abx_identical_items_give_zero_and_random_features_half():
    rng = np.random.default_rng(0)
    phones = np.repeat(np.tile(np.arange(4), 3)[None], 12, 0).repeat(2, 1)  # [12, 24]
    spk = np.arange(12) % 3
    onehot = np.eye(4)[phones.clip(0)] + 0.01 * rng.standard_normal((12, 24, 4))
    e = speech.abx_error(onehot, phones, spk, triples=500)
    assert e["within"] == 0.0 and e["across"] == 0.0
    noise = rng.standard_normal((12, 24, 8))
    r = speech.abx_error(noise, phones, spk, triples=3000)
    assert 35.0 < r["within"] < 65.0 and 35.0 < r["across"] < 65.0


def test_code_analysis_on_a_hand_example():
    codes = np.array([0, 0, 1, 1, 1, 2])
    phones = np.array([5, 5, 3, 3, 4, 4])
    c = speech.code_analysis(codes, phones)
    assert c["purity"] == pytest.approx(5 / 6)
    q = np.array([2, 3, 1]) / 6
    assert c["perplexity"] == pytest.approx(float(np.exp(-(q * np.log(q)).sum())))
    assert speech.code_analysis(phones, phones)["nmi"] == pytest.approx(1.0)


def test_boundary_scores_exact():
    phones = np.array([[0] * 100 + [1] * 100])  # one boundary at sample 100
    emit = np.array([[False, True, False, True]])  # hop 50: centres 75 and 175
    p, r = speech.boundary_scores(emit, phones, hop=50, sr=1000, tol_s=0.03)
    assert (p, r) == (0.5, 1.0)


def test_speech_probes_rows_and_chance():
    spec, splits, _ = speech.synthetic_corpus(per_voice=4, length=1600, train_voices=4,
                                              test_voices=2)  # fmt: skip
    model = WaveNetAutoencoder(spec, **TINY.model)
    rows = speech_probes(model, splits)
    assert {(r["point"], r["target"]) for r in rows} == {
        (p, t) for p in speech.POINTS for t in ("phone", "gender", "speaker")
    }
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["chance"] <= 1.0
    gender = next(r for r in rows if r["target"] == "gender")
    assert gender["chance"] == pytest.approx(0.5)  # the test voices: one of each gender


def test_synthetic_corpus_is_deterministic_and_splits_voices():
    a = speech.synthetic_corpus(seed=3, per_voice=2, length=800)[1]
    b = speech.synthetic_corpus(seed=3, per_voice=2, length=800)[1]
    assert torch.equal(a["test"].x, b["test"].x) and torch.equal(
        a["train"].phones, b["train"].phones
    )
    train, test = (
        set(a["train"].labels["speaker"].tolist()),
        set(a["test"].labels["speaker"].tolist()),
    )
    assert not train & test and set(a["valid"].labels["speaker"].tolist()) <= train
    assert set(a["test"].labels["gender"].tolist()) == {0, 1}


def test_smoke_run_writes_the_schema(tmp_path, monkeypatch):
    monkeypatch.setattr(speech, "SMOKE", TINY)
    assert main(["experiment", "speech", "--out", str(tmp_path), "--smoke",
                 "--dataset", "synthetic"]) == 0  # fmt: skip
    r = json.loads((tmp_path / "results.json").read_text())
    for key in ("probes", "abx", "ablations", "codes", "emission"):
        assert key in r
    assert {"model", "trained", "point", "target", "accuracy", "chance"} <= set(r["probes"][0])
    targets = {p["target"] for p in r["probes"]}
    assert {"phone", "gender", "speaker"} <= targets
    assert {False, True} == {p["trained"] for p in r["probes"]}
    assert {"ae", "vae", "vq", "vq_nms", "mfcc", "mel"} == {a["model"] for a in r["abx"]}
    assert {a["condition"] for a in r["abx"]} == {"within", "across"}
    assert all(0.0 <= a["error"] <= 100.0 for a in r["abx"])
    mfcc = {a["condition"]: a["error"] for a in r["abx"] if a["model"] == "mfcc"}
    assert mfcc["within"] < mfcc["across"]  # the speaker shows in MFCCs
    names = {a["name"] for a in r["ablations"]}
    assert names == {"jitter", "speaker_conditioning", "latent_rate", "encoder_field_of_view",
                     "decoder_field_of_view", "input", "free_bits"}  # fmt: skip
    for a in r["ablations"]:
        assert {"value", "phone_accuracy", "speaker_accuracy", "abx_across", "bits_per_dim",
                "latent_bits_per_second"} <= set(a)  # fmt: skip
        assert 0 < a["bits_per_dim"] < 16
    assert set(r["codes"]) >= {"purity", "nmi", "perplexity"}
    assert 0.0 <= r["codes"]["nmi"] <= 1.0 and r["codes"]["perplexity"] >= 1.0
    e = r["emission"]
    assert e["rate_hz"] == pytest.approx(25.0)
    L = -(-3072 // 320)  # smoke length, 25 Hz at 8 kHz
    assert e["nonzero_fraction"] == pytest.approx(3 / L)  # k = floor(L / 4 + 1/2), exactly
    for k in ("boundary_precision", "boundary_recall", "random_precision"):
        assert 0.0 <= e[k] <= 1.0
    for png in ("phone_vs_gender", "abx", "jitter", "emission_timeline"):
        assert (tmp_path / f"{png}.png").stat().st_size > 1000
    assert "ABX" in (tmp_path / "report.md").read_text()


def test_cli_requires_out():
    with pytest.raises(SystemExit):
        main(["experiment", "speech"])


def _committed() -> dict:
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks/results/speech_experiment.json"
    return json.loads(path.read_text())


def test_against_paper_verdicts_follow_the_figures():
    """Each finding's verdict is computed: move the deciding figure across the line and the
    verdict flips (checked on copies of the committed run)."""
    import copy

    r = copy.deepcopy(_committed())
    lines = speech.against_paper(r)
    assert len(lines) == 8 and all(line.startswith("- ") for line in lines)

    def nms_line(rec):
        return next(x for x in speech.against_paper(rec) if "Non-max-suppression" in x)

    r["emission"]["boundary_precision"] = r["emission"]["random_precision"] + 0.1
    assert nms_line(r).endswith("**reproduces**.")
    r["emission"]["boundary_precision"] = r["emission"]["random_precision"] - 0.1
    assert nms_line(r).endswith("**does not reproduce**.")

    def abx_line(rec):
        return next(x for x in speech.against_paper(rec) if "Quantisation" in x)

    for a in r["abx"]:
        if a["model"] == "vq" and a["point"] == "bottleneck" and a["condition"] == "across":
            a["error"] = 0.5
    assert abx_line(r).endswith("**reproduces**.") and "0.5 %" in abx_line(r)


def test_report_carries_the_findings_and_figure_folder():
    text = speech.report(_committed(), figures="speech-experiment/", title=False)
    assert not text.startswith("# ") and "## Against the paper" in text
    assert "(speech-experiment/abx.png)" in text and "| token |" in text
