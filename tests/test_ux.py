"""Friendly output and user-facing checks of issue 29: batch sizes, log lines, `zoo list`,
progress bars, user locations, the HTML report."""

from __future__ import annotations

import json
import shutil

import pytest

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


REPORT_REGISTRY = """
models:
  a_digits:
    class: zoo.models.independent:Independent
    dataset: digits
    train: {max_steps: 5, warmup_steps: 0}
    suites: [quick]
  b_pydoc:
    class: zoo.models.independent:Independent
    dataset: pydoc_char
    hparams: {shared: true}
    train: {max_steps: 5, warmup_steps: 0}
    suites: [quick]
  v_digits:
    class: zoo.models.vae:VAE
    dataset: digits
    hparams: {hidden: [8], latent_dim: 2, metrics_k: 2}
    train: {max_steps: 6, warmup_steps: 0, batch_size: 16, log_every: 2, eval_every: 3}
    eval: {k: 2}
    suites: [quick]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from zoo.bench import run_suite

    tmp = tmp_path_factory.mktemp("report")
    (tmp / "registry.yaml").write_text(REPORT_REGISTRY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_REGISTRY_ONLY", str(tmp / "registry.yaml"))
        return run_suite(
            "quick",
            db=str(tmp / "lb.db"),
            runs=str(tmp / "runs"),
            report=str(tmp / "report"),
            device="cpu",
            samples=4,
        )


def test_the_report_has_a_board_chart_family_sections_curves_and_readable_samples(report):
    from PIL import Image

    page = report.read_text()
    assert 'src="board.png"' in page and (report.parent / "board.png").exists()
    for family in ("independent", "vae"):
        assert f'id="family-{family}"' in page
        assert (report.parent / f"family_{family}.png").exists()  # training curves
    with Image.open(report.parent / "samples" / "a_digits.png") as im:
        assert min(im.size) >= 256  # upscaled, nearest-neighbour: no blurred pixels
        assert len(im.convert("L").getcolors(1 << 16)) <= 17  # the digits' 17 grey levels
    assert '<pre class="text">' in page  # text samples inline
    assert "<style>" in page and "overflow-x:auto" in page


def test_audio_samples_get_inline_players(tmp_path):
    import numpy as np
    import soundfile as sf

    from zoo.bench.report import AUDIO_PLAYERS, _sample_html

    sdir, out = tmp_path / "run" / "samples", tmp_path / "report"
    sdir.mkdir(parents=True)
    (out / "samples").mkdir(parents=True)
    for i in range(AUDIO_PLAYERS + 2):
        sf.write(
            str(sdir / f"sample_{i:03d}.wav"),
            np.random.default_rng(i).uniform(-0.5, 0.5, 800),
            8000,
            subtype="PCM_16",
        )
    snippet = _sample_html("w", sdir, out)
    assert snippet.count("<audio controls") == AUDIO_PLAYERS
    assert (out / "samples" / "w_0.wav").read_bytes()[:4] == b"RIFF"
    assert (out / "samples" / "w_spec.png").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_the_report_fits_1280_px_and_every_image_loads_in_chromium(report):
    from zoo.bench.report import browser_check

    measured = browser_check(report, width=1280)
    assert measured["scrollWidth"] <= 1280, "the page scrolls sideways at 1280 px"
    assert len(measured["images"]) >= 5
    broken = [src for src, width in measured["images"] if width <= 0]
    assert not broken, f"images that did not load: {broken}"


def _train_and_score(tmp_path, monkeypatch, capsys, progress: str) -> tuple[list, dict, str]:
    monkeypatch.setenv("ZOO_PROGRESS", progress)
    run = tmp_path / f"run-{progress}"
    train = ["train", "vae_digits", "--max-steps", "4", "--batch-size", "16", "--seed", "3"]
    assert main([*train, "--run-dir", str(run), "--device", "cpu"]) == 0
    score = ["eval", str(run), "--iwae-k", "2", "--max-examples", "40", "--json"]
    assert main([*score, "--db", str(tmp_path / f"lb-{progress}.db"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out[captured.out.index("{") :])
    timing = {"examples_per_s", "train_seconds"}
    metrics = [
        {k: v for k, v in json.loads(line).items() if k not in timing}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    return metrics, row, captured.err


def test_progress_bars_on_or_off_give_the_same_numbers(tmp_path, monkeypatch, capsys):
    on_metrics, on_row, on_err = _train_and_score(tmp_path, monkeypatch, capsys, "1")
    off_metrics, off_row, off_err = _train_and_score(tmp_path, monkeypatch, capsys, "0")
    assert on_metrics == off_metrics and len(on_metrics) > 2
    assert on_row["bits_per_dim"] == off_row["bits_per_dim"]
    assert on_row["estimate"] == off_row["estimate"] == "iwae-2"
    assert "4/4" in on_err and "scoring test (IWAE-2)" in on_err  # the bars were drawn
    assert "━" in on_err and "━" not in off_err  # no bar when off, the same log lines
    valid = [line.split("] ")[-1].strip() for line in on_err.splitlines() if "valid" in line]
    assert valid and all(v in off_err for v in valid)


def test_progress_shows_only_on_a_terminal_unless_forced(monkeypatch):
    from zoo import cli

    monkeypatch.delenv("ZOO_PROGRESS", raising=False)
    assert cli.progress_enabled() == cli.console.is_terminal  # under pytest: not a terminal
    assert not cli.progress_enabled(quiet=True)
    monkeypatch.setenv("ZOO_PROGRESS", "1")
    assert cli.progress_enabled() and not cli.progress_enabled(quiet=True)
    monkeypatch.setenv("ZOO_PROGRESS", "0")
    assert not cli.progress_enabled()


LOCATION_VARS = ("ZOO_HOME", "ZOO_RUNS", "ZOO_LEADERBOARD", "ZOO_CACHE", "XDG_CACHE_HOME")


def test_user_locations_default_to_the_xdg_cache_and_each_is_overridable(tmp_path, monkeypatch):
    from pathlib import Path

    from zoo.bench import suite_runs_dir
    from zoo.core import paths
    from zoo.data.speech import _cache_dir
    from zoo.engine.runs import new_run_dir
    from zoo.leaderboard import default_db_path

    for name in LOCATION_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / ".cache" / "zoo"
    assert paths.zoo_home() == home
    assert new_run_dir("vae_digits").parent == home / "runs"
    assert default_db_path() == home / "leaderboard.db" and _cache_dir() == home
    assert suite_runs_dir("quick") == home / "runs" / "bench-quick"
    assert paths.reports_root() == home / "reports"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.zoo_home() == tmp_path / "xdg" / "zoo"
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zh"))  # wins over XDG: everything moves
    assert default_db_path() == tmp_path / "zh" / "leaderboard.db"
    assert paths.runs_root() == tmp_path / "zh" / "runs" and _cache_dir() == tmp_path / "zh"
    monkeypatch.setenv("ZOO_RUNS", str(tmp_path / "r"))  # a specific variable wins over home
    monkeypatch.setenv("ZOO_LEADERBOARD", str(tmp_path / "lb.db"))
    monkeypatch.setenv("ZOO_CACHE", "~/c")
    assert new_run_dir("x").parent == tmp_path / "r"
    assert default_db_path() == tmp_path / "lb.db"
    assert _cache_dir() == Path(str(tmp_path / "home")) / "c"  # ~ expanded
    assert suite_runs_dir("quick", "given") == Path("given")


def test_a_run_without_run_dir_lands_under_zoo_home(tmp_path, monkeypatch, capsys):
    for name in LOCATION_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zh"))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "independent_digits", "-q"]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    assert run.startswith(str(tmp_path / "zh" / "runs" / "independent_digits-"))
    assert not (tmp_path / "runs").exists()  # nothing in the working directory


def test_the_help_says_where_zoo_writes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in ("ZOO_HOME", "ZOO_RUNS", "ZOO_LEADERBOARD", "ZOO_CACHE", "~/.cache/zoo"):
        assert name in text


def test_bench_draws_bars_per_entry_and_they_change_no_figure(tmp_path, monkeypatch, capsys):
    from zoo.leaderboard import Leaderboard

    (tmp_path / "registry.yaml").write_text(REPORT_REGISTRY)
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(tmp_path / "registry.yaml"))
    figures = {}
    for bars in ("1", "0"):
        monkeypatch.setenv("ZOO_PROGRESS", bars)
        db = tmp_path / f"lb{bars}.db"
        args = ["bench", "quick", "--only", "v_*", "--device", "cpu", "--samples", "0"]
        args += ["--db", str(db), "--runs", str(tmp_path / f"runs{bars}")]
        assert main([*args, "--report", str(tmp_path / f"report{bars}")]) == 0
        err = capsys.readouterr().err
        assert ("v_digits" in err and "━" in err) == (bars == "1")
        figures[bars] = [(r["model"], r["bits_per_dim"]) for r in Leaderboard(db).rows()]
    assert figures["1"] == figures["0"] and figures["1"]


def test_resume_with_a_batch_larger_than_the_split_is_refused_and_changes_nothing(tmp_path):
    import zoo
    from zoo.engine.runs import resume_run, train_run

    run = train_run(
        "vae_digits",
        run_dir=tmp_path / "run",
        train={"max_steps": 1, "batch_size": 8, "device": "cpu"},
    )
    config = (run / "config.json").read_bytes()
    with pytest.raises(zoo.ZooInputError, match=r"training split of digits \(\d+ examples\)"):
        resume_run(run, train={"max_steps": 2, "batch_size": 100_000})
    assert (run / "config.json").read_bytes() == config


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_a_wide_board_scrolls_inside_its_tables_not_the_page(tmp_path):
    from zoo.bench.report import browser_check, write_report
    from zoo.leaderboard import Leaderboard

    lb = Leaderboard(tmp_path / "lb.db")
    families = ["independent", "ngram", "pixelcnn", "vae", "vqvae", "wavenet", "flow", "lstm"]
    datasets = ["digits", "mnist", "binarized_mnist", "cifar10", "pydoc_char", "ptb_word", "fsdd"]
    for i, family in enumerate(families):
        for j, dataset in enumerate(datasets):
            lb.add(
                {
                    "model": f"{family}_{dataset}_an_entry_with_a_rather_long_name",
                    "family": family,
                    "estimate": "elbo" if family in ("vae", "vqvae", "flow") else "exact",
                    "dataset": dataset,
                    "split": "test",
                    "cond": "none",
                    "bits_per_dim": 0.5 + (7 * i + 3 * j) % 11 / 4,
                    "suite": "quick",
                    "run_dir": str(tmp_path / "gone"),
                    "source": f"{dataset}: where it came from, at some length " * 4,
                    "paper_cite": "Someone et al. (2016), a long citation of the paper",
                }
            )
    index = write_report("quick", tmp_path / "runs", tmp_path / "report", db=str(lb.path))
    measured = browser_check(index, width=1280)
    assert measured["scrollWidth"] <= 1280
    sources = [src for src, _ in measured["images"]]
    assert "board.png" in sources and not any("curves" in src for src in sources)  # no runs
    assert all(width > 0 for _, width in measured["images"])
