"""Suites: resumable, skip missing data with a reason, and write a report whose images load."""

from __future__ import annotations

import shutil
import textwrap

import pytest

import zoo.engine.runs as runs_module
from zoo.bench import load_status, run_suite
from zoo.bench.report import browser_check, image_references, screenshot
from zoo.leaderboard import Leaderboard, views

REGISTRY = textwrap.dedent(
    """
    models:
      a_digits:
        class: zoo.models.independent:Independent
        family: independent
        dataset: digits
        train: {max_steps: 5, warmup_steps: 0}
        suites: [quick]
      b_pydoc:
        class: zoo.models.independent:Independent
        family: independent
        dataset: pydoc_char
        hparams: {shared: true}
        train: {max_steps: 5, warmup_steps: 0}
        suites: [quick]
      c_mnist:
        class: zoo.models.independent:Independent
        family: independent
        dataset: mnist
        train: {max_steps: 5}
        suites: [quick]
    """
)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY)
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(path))
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "no-data-here"))
    return path


def test_interrupted_suite_finishes_without_repeating_or_losing_rows(
    registry, tmp_path, monkeypatch
):
    db, runs, report = tmp_path / "lb.db", tmp_path / "runs", tmp_path / "report"
    real_eval = runs_module.eval_run

    def interrupted(run, **kw):
        if "b_pydoc" in str(run):
            raise KeyboardInterrupt  # the user pressed Ctrl-C during b's evaluation
        return real_eval(run, **kw)

    monkeypatch.setattr(runs_module, "eval_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_suite("quick", db=str(db), runs=str(runs), report=str(report), device="cpu")
    assert Leaderboard(db).count() == 1
    a_checkpoint = (runs / "a_digits" / "checkpoints" / "last.pt").stat().st_mtime_ns

    monkeypatch.setattr(runs_module, "eval_run", real_eval)
    index = run_suite("quick", db=str(db), runs=str(runs), report=str(report), device="cpu")
    rows = Leaderboard(db).rows(latest=False)
    assert sorted(r["model"] for r in rows) == ["a_digits", "b_pydoc"]  # no repeat, no loss
    assert (runs / "a_digits" / "checkpoints" / "last.pt").stat().st_mtime_ns == a_checkpoint

    # the entry whose data set is missing was skipped with the reason, the rest ran
    page = index.read_text()
    assert "c_mnist" in page and "MNIST not found" in page
    assert "Measured on" in page and "scikit-learn" in page  # each data set's source
    for image in image_references(index):
        assert image.exists(), f"report links a missing image {image}"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("samples/a_digits.png" in str(p) for p in image_references(index))
    # the seed's own experiment: WaveNet-autoencoder probes, as tables and a figure
    assert "WaveNet autoencoders: bitrate and probes" in page and "majority class" in page
    assert index.parent / "probes.png" in image_references(index)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_report_renders_in_headless_chromium(registry, tmp_path):
    index = run_suite(
        "quick",
        db=str(tmp_path / "lb.db"),
        runs=str(tmp_path / "runs"),
        report=str(tmp_path / "report"),
        only="a_*",
        device="cpu",
    )
    png = screenshot(index, tmp_path / "shot.png", height=1200)
    assert png.stat().st_size > 10_000  # a rendered page, not a blank one
    # the suite leaves its own screenshot beside the page
    shot = index.parent / "screenshot.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    # at 1280 px wide nothing scrolls sideways, and every image loads
    measured = browser_check(index, width=1280)
    assert measured["scrollWidth"] <= 1280
    assert measured["images"] and all(width > 0 for _, width in measured["images"])


def test_a_failing_entry_is_reported_and_the_rest_still_runs(registry, tmp_path, monkeypatch):
    from zoo.engine.trainer import TrainingDiverged

    real_train = runs_module.train_run

    def diverges(name, **kw):
        if name == "a_digits":
            raise TrainingDiverged("loss became nan at step 3")
        return real_train(name, **kw)

    monkeypatch.setattr(runs_module, "train_run", diverges)
    db, runs = tmp_path / "lb.db", tmp_path / "runs"
    index = run_suite("quick", db=str(db), runs=str(runs), report=str(tmp_path / "r"), device="cpu")
    assert [r["model"] for r in Leaderboard(db).rows()] == ["b_pydoc"]
    page = index.read_text()
    assert "Failed" in page and "loss became nan at step 3" in page
    from zoo.bench import load_status

    assert load_status(runs)["entries"]["a_digits"]["status"] == "failed"


def test_zoo_bench_exits_0_when_all_ran_and_1_when_an_entry_failed(registry, tmp_path, monkeypatch):
    from zoo.cli import main
    from zoo.engine.trainer import TrainingDiverged

    args = ["bench", "quick", "--only", "[ab]_*", "--device", "cpu"]
    args += ["--db", str(tmp_path / "lb.db"), "--report", str(tmp_path / "r")]
    assert main([*args, "--runs", str(tmp_path / "ok")]) == 0

    def diverges(name, **kw):
        raise TrainingDiverged("loss became nan at step 3")

    monkeypatch.setattr(runs_module, "train_run", diverges)
    assert main([*args, "--runs", str(tmp_path / "bad")]) == 1


TWO_FAMILIES = textwrap.dedent(
    """
    models:
      a_digits:
        class: zoo.models.independent:Independent
        family: independent
        dataset: digits
        hparams: {pseudo_count: 0.5}
        train: {}
        suites: [quick]
      v_digits:
        class: zoo.models.vae:VAE
        family: vae
        dataset: digits
        hparams: {hidden: [8], latent_dim: 2, metrics_k: 2}
        train: {max_steps: 4, warmup_steps: 0, batch_size: 16}
        eval: {k: 2}
        suites: [quick]
    """
)


def test_the_same_suite_twice_gives_the_same_bits_per_dim(tmp_path, monkeypatch):
    path = tmp_path / "registry.yaml"
    path.write_text(TWO_FAMILIES)
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(path))
    results, tables = [], []
    for i in range(2):
        db = tmp_path / f"lb{i}.db"
        run_suite(
            "quick",
            db=str(db),
            runs=str(tmp_path / f"runs{i}"),
            report=str(tmp_path / f"r{i}"),
            device="cpu",
        )
        results.append({r["model"]: r for r in Leaderboard(db).rows()})
        rows = Leaderboard(db).rows()
        tables.append(views.to_markdown(rows) + views.matrix_markdown(rows))
    assert tables[0] == tables[1]  # the same command prints the same tables
    again = dict(db=str(tmp_path / "lb0.db"), runs=str(tmp_path / "runs0"), device="cpu")
    run_suite("quick", report=str(tmp_path / "r2"), **again)  # resumed: all done already
    assert Leaderboard(again["db"]).count() == 2  # the IWAE-evaluated entry too is not redone
    assert set(results[0]) == {"a_digits", "v_digits"}
    for name, row in results[0].items():
        again = results[1][name]
        assert row["bits_per_dim"] == pytest.approx(again["bits_per_dim"], abs=1e-6, rel=0)
        assert row["train_steps"] == again["train_steps"]
    assert results[0]["v_digits"]["estimate"] == "iwae-2"  # the entry's declared evaluation
    assert results[0]["a_digits"]["train_steps"] == 1  # fitted in closed form, one pass


def test_suite_entries_budget_steps_never_minutes():
    from zoo.engine.registry import entries

    for name, e in entries().items():
        if not e.suites:
            continue
        assert "max_minutes" not in e.train, f"{name}: suites budget steps, not minutes"
        count_based = e.hparams.get("pseudo_count") is not None or e.model_class().count_based
        assert count_based or e.train.get("max_steps"), f"{name} declares no max_steps"
        paper = e.paper or {}
        if paper.get("estimate", "").startswith("iwae-"):  # compare like with like
            assert f"iwae-{e.eval_k}" == paper["estimate"], name


def test_a_rerun_names_the_rows_an_older_code_computed(registry, tmp_path):
    """A suite rerun keeps what is evaluated (an interrupted suite must not repeat work), but a
    run made by other code than today's is named, with what to remove to compute it again."""
    db, runs, report = tmp_path / "lb.db", tmp_path / "runs", tmp_path / "report"
    kw = {"db": str(db), "runs": str(runs), "report": str(report), "device": "cpu"}
    run_suite("quick", only="a_digits", samples=0, **kw)
    said: list[str] = []
    run_suite("quick", only="a_digits", samples=0, log=said.append, **kw)
    assert "a_digits: already evaluated, skipped" in said
    config = runs / "a_digits" / "config.json"
    config.write_text(config.read_text().replace('"code_version": "', '"code_version": "0ld'))
    said.clear()
    run_suite("quick", only="a_digits", samples=0, log=said.append, **kw)
    (line,) = [s for s in said if s.startswith("a_digits")]
    assert "by code 0ld" in line and f"remove {runs / 'a_digits'}" in line


def test_a_run_of_some_entries_keeps_the_others_status(registry, tmp_path):
    db, runs, report = tmp_path / "lb.db", tmp_path / "runs", tmp_path / "report"
    common = {"db": str(db), "runs": str(runs), "report": str(report), "device": "cpu"}
    run_suite("quick", only="b_*", **common)
    run_suite("quick", only="a_*", **common)
    status = load_status(runs)["entries"]
    assert list(status) == ["a_digits", "b_pydoc"]  # the suite's order, neither lost
    assert status["a_digits"]["status"] == status["b_pydoc"]["status"] == "ok"
    run_suite("quick", only="b_*", **common)  # a rerun says it was done earlier
    status = load_status(runs)["entries"]
    assert status["b_pydoc"]["status"] == "done earlier" and status["a_digits"]["status"] == "ok"
