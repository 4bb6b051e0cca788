"""Time to quality: held-out bits/dim against training steps and seconds, a curve per entry.

    python -m benchmarks.time_to_quality --only pixelcnn_gated_bmnist --eval-every 100
    python -m benchmarks.time_to_quality --only pixelcnn_pp_mnist --steps 2400 \\
        --variant 'ema:{"train": {"ema": 0.999}}'
    python -m benchmarks.time_to_quality --figure-only      # redraw docs/time_to_quality.png

Each selected standard entry (``--only``: shell pattern) is trained as the suite trains it
(its registry settings; ``--steps`` replaces the budget, and with it the length of the cosine
schedule) with a validation every ``--eval-every`` steps on a held-out slice: the first
``--eval-examples`` examples of the data set's valid split (its test split where it has
none; the trainer's own validation, so the test split is never used to choose a budget).
``--variant LABEL:JSON`` trains the entry again with ``{"hparams": {...}, "train": {...},
"data": {...}}`` overriding the registry's settings, recorded as ``ENTRY/LABEL``.

Each point of a curve records the step, the trainer's wall seconds of training steps
(validation excluded), the process CPU seconds of those steps (what an idle machine would
spend, on one thread) and the held-out bits/dim (and nats per image on binarized MNIST).
Results are merged into ``benchmarks/results/time_to_quality.json`` (one slot run per entry
adds its curves to those already there) with the load average of each run, and the figure
``docs/time_to_quality.png`` is redrawn from the whole file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import write_results
from zoo.bench import suite_entries
from zoo.core.metrics import LN2
from zoo.data import load_dataset
from zoo.engine.checkpoint import load_model
from zoo.engine.registry import get_entry
from zoo.engine.runs import train_run

NAME = "time_to_quality"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
TRAIN_KEYS = ("batch_size", "lr", "min_lr_ratio", "max_steps", "warmup_steps", "schedule", "ema")
FIGURE = Path(__file__).resolve().parents[1] / "docs" / f"{NAME}.png"


def curve(
    name: str,
    *,
    steps: int | None,
    eval_every: int,
    eval_examples: int,
    variant: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train entry ``name`` once with periodic held-out validation; its curve and settings."""
    variant = variant or {}
    train = {
        **variant.get("train", {}),
        "eval_every": eval_every,
        "eval_examples": eval_examples,
        "log_every": 1,  # a step event after every step: the CPU clock is read between them
        "checkpoint_every": 10**9,
        "checkpoint_minutes": None,
        "device": "cpu",
        "seed": seed,
    }
    if steps is not None:
        train["max_steps"] = steps
    points: list[dict[str, Any]] = []
    clock = {"prev": time.process_time(), "cpu": 0.0}

    def on_event(event: dict[str, Any]) -> None:
        now = time.process_time()
        if event["kind"] == "step":  # the interval since the last event held one step
            clock["cpu"] += now - clock["prev"]
        elif event["kind"] == "valid":
            if points and points[-1]["step"] == event["step"]:
                points.pop()  # the final validation repeats the last periodic one
            points.append(
                {
                    "step": event["step"],
                    "train_seconds": round(event["train_seconds"], 3),
                    "cpu_seconds": round(clock["cpu"], 3),
                    "valid_bits_per_dim": event["valid_bits_per_dim"],
                }
            )
        clock["prev"] = time.process_time()

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ttq-") as tmp:
        run = train_run(
            name,
            run_dir=Path(tmp) / "run",
            hparams=variant.get("hparams"),
            data_options=variant.get("data"),
            train=train,
            callback=on_event,
        )
        cfg = json.loads((run / "config.json").read_text())
        parameters = sum(p.numel() for p in load_model(run).parameters())
    dims = math.prod(cfg["spec"]["shape"]) if "shape" in cfg["spec"] else None
    if cfg["dataset"] == "binarized_mnist" and dims:
        for p in points:
            p["valid_nats"] = p["valid_bits_per_dim"] * dims * LN2
    split = _held_out_split(cfg)
    return {
        "entry": name,
        "dataset": cfg["dataset"],
        "hparams": cfg["hparams"],
        "train": {k: cfg["train"].get(k) for k in TRAIN_KEYS},
        "data_options": cfg["data_options"],
        "variant": variant,
        "held_out": {"split": split, "examples": eval_examples},
        "parameters": parameters,
        "loadavg_start": [round(v, 2) for v in load0],
        "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        "points": points,
    }


def _held_out_split(cfg: dict[str, Any]) -> str:
    """The split the trainer validates on: valid, else test."""
    ds = load_dataset(cfg["dataset"], **cfg["data_options"])
    return "valid" if "valid" in ds.splits else "test"


def from_run(run: Path) -> dict[str, Any]:
    """The curve a finished run's own validations drew (metrics.jsonl's ``valid`` records:
    ``eval_every`` and ``eval_examples`` of its config), e.g. a board run of ``zoo bench``;
    no CPU seconds there, its wall ``train_seconds`` stand in for them."""
    cfg = json.loads((run / "config.json").read_text())
    points: list[dict[str, Any]] = []
    examples = cfg["train"]["eval_examples"]  # at most: a split smaller than that is all read
    for line in (run / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("kind") != "valid":
            continue
        examples = r.get("valid_n", examples)
        if points and points[-1]["step"] == r["step"]:
            points.pop()
        points.append(
            {
                "step": r["step"],
                "train_seconds": round(r["train_seconds"], 3),
                "cpu_seconds": None,
                "valid_bits_per_dim": r["valid_bits_per_dim"],
            }
        )
    dims = math.prod(cfg["spec"]["shape"])
    if cfg["dataset"] == "binarized_mnist":
        for p in points:
            p["valid_nats"] = p["valid_bits_per_dim"] * dims * LN2
    return {
        "entry": cfg["entry"],
        "dataset": cfg["dataset"],
        "hparams": cfg["hparams"],
        "train": {k: cfg["train"].get(k) for k in TRAIN_KEYS},
        "data_options": cfg["data_options"],
        "variant": {},
        "held_out": {"split": _held_out_split(cfg), "examples": examples},
        "from_run": str(run),
        "points": points,
    }


def draw(results: dict[str, Any], path: Path = FIGURE) -> Path:
    """Held-out bits/dim against steps (left) and CPU seconds (right), a line per curve;
    one row of panels per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results.get("curves", {})
    datasets = sorted({c["dataset"] for c in curves.values()})
    fig, axes = plt.subplots(
        len(datasets), 2, figsize=(10, 3.2 * max(len(datasets), 1)), squeeze=False
    )
    for row, ds in zip(axes, datasets):
        for key, c in sorted(curves.items()):
            if c["dataset"] != ds or not c["points"]:
                continue
            pts = [p for p in c["points"] if p["step"] > 0]
            y = [p["valid_bits_per_dim"] for p in pts]
            row[0].plot([p["step"] for p in pts], y, marker=".", label=key)
            secs = [p["cpu_seconds"] or p["train_seconds"] for p in pts]
            row[1].plot(secs, y, marker=".", label=key)
        for ax, xlabel in zip(
            row, ("training steps", "seconds of training (CPU, 1 thread; board runs: wall)")
        ):
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"held-out bits/dim ({ds})")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="shell pattern over the standard suite's entry names")
    p.add_argument("--steps", type=int, help="training steps (default: the entry's budget)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-examples", type=int, default=1000)
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:JSON",
        help='also train with {"hparams": ..., "train": ..., "data": ...} overrides',
    )
    p.add_argument("--no-default", action="store_true", help="train the variants only")
    p.add_argument(
        "--from-runs", type=Path, help="import the curves of the finished runs in this folder"
    )
    p.add_argument("--figure-only", action="store_true", help="redraw the figure and stop")
    a = p.parse_args()
    torch.set_num_threads(1)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if a.figure_only:
        print(draw(old))
        return
    if a.from_runs:
        curves = dict(old.get("curves", {}))
        for run in sorted(a.from_runs.iterdir()):
            if (run / "metrics.jsonl").exists() and (not a.only or fnmatch(run.name, a.only)):
                c = from_run(run)
                curves[f"{c['entry']}/board"] = c
        write_results(NAME, {"curves": curves})
        print(draw({"curves": curves}))
        return
    if not a.only:
        p.error("--only PATTERN is required (one slot run per entry)")
    variants: list[tuple[str, dict]] = [] if a.no_default else [("", {})]
    for spec in a.variant:
        label, _, text = spec.partition(":")
        variants.append((label, json.loads(text)))
    curves = dict(old.get("curves", {}))
    for name in suite_entries("standard", a.only):
        if get_entry(name).train == {}:
            continue  # count-based: fitted in one pass, no curve
        for label, variant in variants:
            key = f"{name}/{label}" if label else name
            c = curve(
                name,
                steps=a.steps,
                eval_every=a.eval_every,
                eval_examples=a.eval_examples,
                variant=variant,
            )
            last = c["points"][-1]
            print(
                f"{key:44s} {last['step']:6d} steps {last['cpu_seconds']:8.1f} CPU s "
                f"-> {last['valid_bits_per_dim']:.4f} bits/dim held out",
                flush=True,
            )
            curves[key] = c
            write_results(NAME, {"curves": curves})  # after each curve: a kill keeps the rest
    print(draw({"curves": curves}))


if __name__ == "__main__":
    main()
