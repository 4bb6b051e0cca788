"""The WaveNet-autoencoder experiment is shown: tables and a figure from the results file."""

from __future__ import annotations

import json

from zoo.bench import probes
from zoo.cli import main


def _results(tmp_path):
    rows = [
        {
            "point": p,
            "target": t,
            "metric": m,
            "value": v,
            "baseline": base,
            "n_train": 8,
            "n_test": 4,
        }
        for p, v in zip(probes.POINTS, (0.9, 0.7, 0.3, 0.35))
        for t, m, base in (
            ("speaker", "accuracy", 0.2),
            ("digit", "accuracy", 0.1),
            ("mel", "r2", 0.0),
        )
    ]
    run = {
        "estimate": "bound",
        "probes": rows,
        "untrained_probes": [{**r, "value": r["value"] / 2} for r in rows],
        "eval": {
            "bits_per_dim": 5.3,
            "decoder_bits_per_dim": 5.2,
            "bottleneck_bits_per_s": 300.0,
            "waveform_bits_per_s": 64000.0,
            "code_perplexity": 31.0,
        },
        "train": {"steps": 100},
    }
    results = {
        "dataset": "fsdd",
        "minutes_per_bottleneck": 1,
        "threads": 2,
        "speakers_seen_in_training": "yes: all 6",
        "runs": {"vq": run},
    }
    path = tmp_path / "probes.json"
    path.write_text(json.dumps(results))
    return path


def test_probe_tables_show_bitrate_trained_untrained_and_chance(tmp_path):
    md = probes.probes_markdown(probes.load_results(_results(tmp_path)))
    assert "| vq | 5.300 (bound) | 5.200 | 300 | 64,000 | code perplexity 31.0 | 100 |" in md
    assert "| vq | trained | bottleneck | 0.300 | 0.300 |  | 0.300 |" in md
    assert "| vq | untrained | encoder | 0.450 | 0.450 |  | 0.450 |" in md
    assert "| chance | majority class |  | 0.200 | 0.100 |  | 0.000 |" in md
    assert "test speakers seen in training: yes: all 6" in md


def test_zoo_leaderboard_probes_prints_the_tables_and_draws_the_figure(tmp_path, capsys):
    png = tmp_path / "probes.png"
    assert (
        main(
            [
                "leaderboard",
                "--format",
                "probes",
                "--probes",
                str(_results(tmp_path)),
                "--figure",
                str(png),
            ]
        )
        == 0
    )
    assert "| chance | majority class |" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_committed_probe_results_render(tmp_path):
    results = probes.load_results()  # benchmarks/results/wavenet_ae_fsdd.json
    assert {"ae", "vae", "vq"} <= set(results["runs"])
    md = probes.probes_markdown(results)
    assert md.count("| untrained |") == 12 and "seen in training: yes" in md
