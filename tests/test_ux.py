"""Friendly output and user-facing checks of issue 29: batch sizes, log lines, `zoo list`,
progress bars, user locations, the HTML report."""

from __future__ import annotations

import json

from zoo.cli import console, main


def test_a_batch_larger_than_the_training_split_is_refused_and_leaves_no_run(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path / "runs"))
    run = tmp_path / "run"
    argv = ["train", "vae_digits", "--batch-size", "100000", "--max-steps", "1"]
    assert main([*argv, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "batch_size 100000 is larger than the training split of digits" in err
    assert "--batch-size" in err and "\n" not in err
    assert not run.exists()
    assert main(argv) == 2  # the default folder is not made either
    assert not (tmp_path / "runs").exists()


def test_log_lines_carry_no_source_path():
    with console.capture() as cap:
        console.log("hello from the zoo")
    text = cap.get()
    assert "hello from the zoo" in text and ".py:" not in text


def test_zoo_list_has_family_estimate_modality_conditional_suites(capsys):
    assert main(["list", "pixelcnn_gated_digits"]) == 0
    table = capsys.readouterr().out
    for col in ("family", "estimate", "modality", "conditional", "suites"):
        assert col in table
    assert main(["list", "*_digits", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    gated = rows["pixelcnn_gated_digits"]
    assert gated["family"] == "pixelcnn" and gated["estimate"] == "exact"
    assert gated["modality"] == "image" and gated["conditional"] == ["class"]
    assert "quick" in gated["suites"]
    assert rows["vae_digits"]["estimate"] != "exact" and rows["vae_digits"]["conditional"] == []
    assert rows["wavenet_ae_vq_spoken_digits"]["modality"] == "audio"
    assert rows["wavenet_ae_vq_spoken_digits"]["conditional"] == ["speaker"]
    assert main(["list", "vae_digits", "--format", "names"]) == 0
    assert "vae_digits" in json.loads(capsys.readouterr().out)
