"""Issue 15's "no fast path gets slower": a base revision and this tree, alternately.

Each measurement runs in a fresh subprocess whose ``PYTHONPATH`` is one tree (the base: a
checkout of the revision before the refactor, ``--base-tree``; the new: this tree), with the
same worker code (below, public API only, so it runs on both). Per workload, the two sides
alternate (ABBA order over ``--rounds`` rounds, >= 3), and the median of each side is
compared. Workloads (the configurations of the benchmarks named):

- ``wavenet_generation_k2`` / ``_k3``: ``benchmarks.wavenet_generation``'s WaveNet (2 x 10
  layers, 64 / 128 / 64 channels, 256-way categorical, random weights, seed 0), the fast path
  drawing ``--samples`` samples (default 16,000: 1 s at 16 kHz) for one sequence; seconds.
- ``pixelcnn_sampling_small`` / ``_gated``: ``benchmarks.pixelcnn_sampling``'s cached path,
  16 binary 28 x 28 images from ``pixelcnn_small_bmnist`` / ``pixelcnn_gated_bmnist``
  (untrained, seed 0); seconds.
- ``training_small`` / ``training_gated``: ``benchmarks.pixelcnn_throughput``'s training
  step (batch 32 of binary 28 x 28 images, ``loss``, backward, Adam), images per second.

Every worker also returns a SHA-256 of what it drew (the samples, or the losses), so the
report says whether the two trees give identical results for the seed. Writes
``benchmarks/results/refactor_ab.json``; prints base / new / ratio (new / base for images per
second, base / new for seconds: above 1 is faster, ``--tolerance`` is the allowed slowdown).

    git worktree add --detach /tmp/zoo-base d040f0b   # the tree before the refactor
    python -m benchmarks.refactor_ab --base-tree /tmp/zoo-base [--rounds 3] [--threads 2]
        [--only wavenet_generation_k3 training_small ...] [--samples 16000]

(``--base-tree`` defaults to /work/base, where the figures in the results file were taken.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from zoo.errors import ZooInputError

HERE = Path(__file__).resolve().parents[1]
RESULTS = HERE / "benchmarks" / "results" / "refactor_ab.json"

# One workload per call; prints one JSON line {"value": ..., "unit": ..., "digest": ...}.
WORKER = r"""
import hashlib, json, sys, time
import torch
import zoo
from zoo import DataSpec

name, threads, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)

def digest(t):
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]

if name.startswith("wavenet_generation"):
    from zoo.models.wavenet import WaveNet
    k = int(name[-1])
    spec = DataSpec("audio", (samples,), levels=256, sample_rate=16000)
    torch.manual_seed(0)
    m = WaveNet(spec, kernel_size=k, layers=10, stacks=2, residual_channels=64,
                gate_channels=128, skip_channels=64).eval()
    g = torch.Generator().manual_seed(0)
    m.sample_given(1, 64, generator=g)  # warm-up
    t0 = time.perf_counter()
    x = m.sample_given(1, samples, generator=g)
    value, unit = time.perf_counter() - t0, "s"
elif name.startswith("pixelcnn_sampling"):
    entry = "pixelcnn_" + name.rsplit("_", 1)[1] + "_bmnist"
    torch.manual_seed(0)
    m = zoo.create_model(entry, DataSpec("image", (1, 28, 28), levels=2)).eval()
    t0 = time.perf_counter()
    x = m.sample(16, generator=torch.Generator().manual_seed(0), fast=True)
    value, unit = time.perf_counter() - t0, "s"
elif name.startswith("training"):
    kind = name.rsplit("_", 1)[1]
    steps, warmup = (10, 2) if kind == "small" else (2, 1)
    spec = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")
    u = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    batch = (u < 0.13).long()
    torch.manual_seed(0)
    m = zoo.create_model("pixelcnn_" + kind + "_bmnist", spec)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = m.loss(batch)[0]
        loss.backward()
        opt.step()
        losses.append(float(loss))
    value, unit = steps * batch.shape[0] / (time.perf_counter() - t0), "images/s"
    x = torch.tensor(losses)
else:
    raise SystemExit(f"unknown workload {name}")
print(json.dumps({"value": value, "unit": unit, "digest": digest(x), "zoo": zoo.__file__}))
"""

WORKLOADS = (
    "wavenet_generation_k2",
    "wavenet_generation_k3",
    "pixelcnn_sampling_small",
    "pixelcnn_sampling_gated",
    "training_small",
    "training_gated",
)


def run_worker(tree: Path, name: str, threads: int, samples: int) -> dict:
    """One measurement of ``name`` with ``zoo`` imported from ``tree``, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", WORKER, name, str(threads), str(samples)]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} in {tree} failed:\n{done.stderr[-2000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(got["zoo"]).resolve().parent.parent != tree.resolve():
        raise RuntimeError(f"{name}: imported zoo from {got['zoo']}, not from {tree}")
    return got


def measure(name: str, base: Path, new: Path, rounds: int, threads: int, samples: int) -> dict:
    """``rounds`` measurements per side, ABBA order; medians, ratio and digests."""
    sides: dict[str, list[dict]] = {"base": [], "new": []}
    trees = {"base": base, "new": new}
    for r in range(rounds):
        for side in ("base", "new") if r % 2 == 0 else ("new", "base"):
            sides[side].append(run_worker(trees[side], name, threads, samples))
    unit = sides["new"][0]["unit"]
    med = {s: statistics.median(g["value"] for g in got) for s, got in sides.items()}
    faster = med["new"] / med["base"] if unit == "images/s" else med["base"] / med["new"]
    digests = {s: sorted({g["digest"] for g in got}) for s, got in sides.items()}
    return {
        "workload": name,
        "unit": unit,
        "base": med["base"],
        "new": med["new"],
        "base_rounds": [g["value"] for g in sides["base"]],
        "new_rounds": [g["value"] for g in sides["new"]],
        "speed_ratio": faster,  # > 1: the new tree is faster
        "identical_results": digests["base"] == digests["new"] and len(digests["new"]) == 1,
    }


def git_revision(tree: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-tree", type=Path, default=Path("/work/base"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=16000, help="WaveNet samples per draw")
    ap.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    ap.add_argument("--tolerance", type=float, default=0.05, help="allowed slowdown")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.rounds < 3:
        raise ZooInputError(f"--rounds must be >= 3 for a median, got {args.rounds}")
    if not (args.base_tree / "zoo" / "__init__.py").is_file():
        raise ZooInputError(
            f"--base-tree {args.base_tree} holds no zoo package; check out the base revision "
            f"there first (e.g. git worktree add {args.base_tree} d040f0b)"
        )
    load = os.getloadavg()[0]
    print(f"base {args.base_tree} ({git_revision(args.base_tree)}) vs new {HERE} "
          f"({git_revision(HERE)}); {args.rounds} rounds, {args.threads} threads, "
          f"load average {load:.2f} at the start")  # fmt: skip
    rows: list[dict] = []
    for name in args.only:
        row = measure(name, args.base_tree, HERE, args.rounds, args.threads, args.samples)
        row["within_tolerance"] = row["speed_ratio"] >= 1 - args.tolerance
        rows.append(row)
        print(
            f"{name:26s} base {row['base']:9.3f}  new {row['new']:9.3f} {row['unit']:9s} "
            f"speed new/base {row['speed_ratio']:.3f}  identical results: "
            f"{row['identical_results']}"
        )
        write(args, load, rows, done=len(rows) == len(args.only))  # after each workload
    bad = [r["workload"] for r in rows if not r["within_tolerance"]]
    print("all within tolerance" if not bad else f"slower than tolerated: {', '.join(bad)}")
    return json.loads(args.out.read_text())


def write(args: argparse.Namespace, load: float, rows: list[dict], done: bool) -> None:
    out = {
        "benchmark": "refactor_ab",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "base_tree": str(args.base_tree),
        "base_revision": git_revision(args.base_tree),
        "new_revision": git_revision(HERE),
        "rounds": args.rounds,
        "threads": args.threads,
        "wavenet_samples": args.samples,
        "load_average_at_start": load,
        "tolerance": args.tolerance,
        "complete": done,  # False while (or if interrupted before) every workload ran
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
