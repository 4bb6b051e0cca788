"""Benchmark suites that fill the leaderboard: ``zoo bench quick | standard | paper``.

- quick: every entry tagged ``quick`` in registry.yaml, on the embedded data sets (digits,
  pydoc text, synthesised spoken digits): about 4 minutes in all on an idle 2-core CPU.
- standard: every entry tagged ``standard``, on the real data sets: about 10 minutes of
  training per entry on an idle 2-core CPU.
- paper: every entry tagged ``paper``: the papers' own configurations and schedules, for a
  GPU (``zoo bench paper --device cuda``); hours per entry.

A suite's rows are a function of the registry, the seeds and the step counts: every entry
trains for its ``train.max_steps`` (never a time budget) with its seed, and is evaluated on
the whole test split by its declared estimate with latents drawn from that seed, so the same
command gives the same rows. Wall time is recorded beside each result, never used to stop.

Suites are resumable: each entry trains in ``<runs>/<entry>``; an entry whose evaluation is
already written is skipped, an interrupted one resumes from its last checkpoint, and an entry
whose data set is missing is skipped with the reason stated, and an entry that fails (a
diverged loss, say) is reported as failed with its reason; the rest still runs. A rerun
retries failed entries (from their last good checkpoint).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.data.base import DatasetNotFound
from zoo.engine.checkpoint import CHECKPOINT, atomic_write_json, code_version, read_config
from zoo.engine.registry import entries
from zoo.errors import ZooInputError
from zoo.leaderboard import Leaderboard

SUITES = {"quick": {"samples": 16}, "standard": {"samples": 16}, "paper": {"samples": 64}}


def suite_entries(suite: str, only: str | None = None) -> list[str]:
    if suite not in SUITES:
        raise ZooInputError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    names = [n for n, e in sorted(entries().items()) if suite in e.suites]
    if only:
        names = [n for n in names if fnmatch.fnmatch(n, only)]
    return names


def suite_runs_dir(suite: str, runs: str | None = None) -> Path:
    """Where a suite keeps its runs (``$ZOO_RUNS/bench-SUITE``, ``~/.cache/zoo/runs/...``,
    unless given; see :mod:`zoo.core.paths`)."""
    from zoo.core.paths import runs_root

    return Path(runs) if runs else runs_root() / f"bench-{suite}"


def run_suite(
    suite: str,
    *,
    max_steps: int | None = None,
    max_eval: int | None = None,
    samples: int | None = None,
    db: str | None = None,
    runs: str | None = None,
    report: str | None = None,
    only: str | None = None,
    device: str = "auto",
    log: Callable[[str], None] = lambda msg: None,
    progress: Callable[[str], Callable[[dict[str, Any]], None]] | None = None,
    scoring: Callable[[str], Callable[[int, int], None]] | None = None,
    command: str | None = None,
) -> Path:
    """Train, evaluate and sample every entry of ``suite``; write the report; return its path.

    ``progress(name)``: the trainer's event callback for entry ``name`` and ``scoring(name)``
    the evaluator's ``progress(done, total)`` (the CLI's progress bars; they change nothing).

    ``max_steps`` caps every entry's step budget and ``max_eval`` scores only the first
    examples of the test split (its rows then say ``test[:N]``), for smoke runs; by default each
    entry trains for its registry ``train.max_steps`` and is scored on the whole test split.
    ``samples``: examples drawn per entry (default: the suite's; 0: none).
    ``command``: what ran the suite (the CLI passes its command line; default: ``Python API:
    zoo.bench.run_suite``), recorded in every run's ``config.json`` and every row it adds.
    """
    from zoo.engine.runs import (
        eval_path,
        eval_run,
        python_api,
        resume_run,
        sample_run,
        train_run,
    )

    command = command or python_api("zoo.bench.run_suite")

    names = suite_entries(suite, only)
    settings = SUITES[suite]
    if max_steps is not None and max_steps < 0:
        raise ZooInputError(f"--max-steps must be >= 0, got {max_steps}")
    if max_eval is not None and max_eval < 1:
        raise ZooInputError(
            f"--max-eval must be >= 1 (or left out: the whole split), got {max_eval}"
        )
    samples = settings["samples"] if samples is None else samples
    split = "test" if max_eval is None else f"test[:{max_eval}]"
    if not names:
        raise ZooInputError(f"no registry entry matches suite {suite!r} and --only {only!r}")
    runs_dir = suite_runs_dir(suite, runs)
    status: dict[str, dict[str, Any]] = {}
    t_suite = time.perf_counter()
    code_now = code_version()  # the code computing this suite's new rows
    for name in names:
        run = runs_dir / name
        done = eval_path(run, split, entries()[name].eval_k)  # its declared evaluation
        if done.exists():
            status[name] = {"status": "done earlier", "run": str(run)}
            made_by = read_config(run).get("code_version")
            if made_by != code_now:
                log(
                    f"{name}: already evaluated, skipped, but by code {made_by} (now "
                    f"{code_now}): remove {run} to compute it again"
                )
            else:
                log(f"{name}: already evaluated, skipped")
            continue
        train: dict[str, Any] = {"device": device}
        if max_steps is not None:
            steps = entries()[name].train.get("max_steps")
            train["max_steps"] = max_steps if steps is None else min(steps, max_steps)
        if max_eval is not None:  # a smoke run validates on as few examples as it scores
            train["eval_examples"] = min(entries()[name].train.get("eval_examples", 512), max_eval)
        t0 = time.perf_counter()
        callback = progress(name) if progress is not None else None
        try:
            if (run / CHECKPOINT).exists():
                log(f"{name}: resuming the interrupted run in {run}")
                resume_run(run, train={"device": device}, callback=callback, command=command)
            else:
                if run.exists():  # an interrupted start without a checkpoint: begin again
                    shutil.rmtree(run)
                log(f"{name}: training")
                train_run(name, run_dir=run, train=train, callback=callback, command=command)
            row = eval_run(
                run,
                suite=suite,
                max_examples=max_eval,
                device=device,
                record=lambda row: Leaderboard(db).add(row),
                progress=scoring(name) if scoring is not None else None,
                command=command,
            )
            try:
                if samples:
                    sample_run(run, samples, device=device)
            except NotImplementedError as e:
                log(f"{name}: no samples ({e})")
            status[name] = {
                "status": "ok",
                "run": str(run),
                "bits_per_dim": row["bits_per_dim"],
                "estimate": row["estimate"],
                "train_steps": row["train_steps"],
                "seconds": time.perf_counter() - t0,
            }
            log(
                f"{name}: {row['bits_per_dim']:.4f} bits/dim ({row['estimate']}) on "
                f"{row['dataset']}/{row['split']} after {row['train_steps']} steps, "
                f"{status[name]['seconds']:.0f} s wall"
            )
        except DatasetNotFound as e:
            status[name] = {"status": "skipped", "reason": str(e)}
            log(f"{name}: skipped, data set missing: {e}")
        except Exception as e:  # one entry's failure (a diverged loss...) must not stop the rest
            reason = f"{type(e).__name__}: {e}"
            status[name] = {"status": "failed", "reason": reason, "run": str(run)}
            log(f"{name}: FAILED, {reason}")
    # a run of some entries (--only) keeps what earlier runs into this folder recorded
    earlier = load_status(runs_dir)
    kept = earlier.get("entries", {}) if earlier.get("suite") == suite else {}
    merged = {**kept, **status}
    order = [n for n in suite_entries(suite, None) if n in merged]
    status = {n: merged[n] for n in order + sorted(set(merged) - set(order))}
    summary = {
        "suite": suite,
        "max_steps_cap": max_steps,
        "entries": status,
        "seconds": time.perf_counter() - t_suite,
    }
    atomic_write_json(runs_dir / "suite.json", summary)
    from zoo.bench.report import screenshot, write_report
    from zoo.core.paths import reports_root

    report_dir = Path(report) if report else reports_root() / suite
    index = write_report(suite, runs_dir, report_dir, db=db, status=status)
    try:  # the report as a browser shows it, beside index.html
        shot = screenshot(index, index.parent / "screenshot.png")
        log(f"report rendered in headless Chromium: {shot}")
    except (FileNotFoundError, OSError, subprocess.SubprocessError) as e:
        log(f"no report screenshot: {e}")
    return index


def load_status(runs_dir: Path) -> dict[str, Any]:
    path = runs_dir / "suite.json"
    return json.loads(path.read_text()) if path.exists() else {}
