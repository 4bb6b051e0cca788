"""Evaluation throughput by batch size on the CPU: the batch ``eval_batch_size`` chooses
against the others, the old fixed 256 among them.

    python -m benchmarks.eval_batch [--only PATTERN] [--rounds 2]

For each gradient-trained entry of the standard suite (one model per architecture and data
shape): build it on its data set (random weights: the cost of a forward pass does not depend
on them), then score real test examples with ``evaluate``'s per-batch work (``log_prob``
under ``no_grad``) in batches of 8, 16, ... 256 examples, one thread, CPU seconds
(``time.process_time``). Every batch size scores ``max(b, 64)`` examples, so the small ones
are timed on several batches; audio entries stop at 64 (a batch of 256 WaveNet crops takes
minutes). ``--rounds`` repeats each size in turn (order reversed every round) and keeps the
fastest. Results go to ``benchmarks/results/eval_batch.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import time

import torch

from benchmarks.common import write_results
from zoo.data import load_dataset
from zoo.engine.evaluator import eval_batch_size
from zoo.engine.registry import create_model, get_entry

ENTRIES = (
    "pixelcnn_small_bmnist",
    "pixelcnn_gated_bmnist",
    "pixelcnn_pp_mnist",
    "pixelrnn_rowlstm_bmnist",
    "pixelrnn_diagbilstm_bmnist",
    "vae_bmnist",
    "vqvae_bmnist",
    "wavenet_char_shakespeare",
    "wavenet_fsdd",
    "vqvae_fsdd",
    "wavenet_ae_vq_fsdd",
)
BASE = 64  # examples scored at every batch size below it


def cpu_ms_per_example(model, x, cond, batch: int) -> float:
    n = max(batch, BASE)
    t0 = time.process_time()
    with torch.no_grad():
        for i in range(0, n, batch):
            c = None if cond is None else {k: v[i : i + batch] for k, v in cond.items()}
            model.log_prob(x[i : i + batch], cond=c)
    return (time.process_time() - t0) / n * 1000


def measure(name: str, rounds: int) -> dict:
    entry = get_entry(name)
    ds = load_dataset(entry.dataset, **entry.data)
    spec = ds.spec
    top = 64 if spec.modality == "audio" else 256
    sizes = [b for b in (8, 16, 32, 64, 128, 256) if b <= top]
    x, labels = next(ds["test"].batches(top))
    cond = {k: v for k, v in labels.items() if k in spec.labels} or None
    torch.manual_seed(0)
    model = create_model(name, spec).eval()
    cpu_ms_per_example(model, x, cond, 8)  # warm-up: first-call allocations
    best: dict[int, float] = {}
    for r in range(rounds):
        for b in sizes if r % 2 == 0 else sizes[::-1]:
            ms = cpu_ms_per_example(model, x, cond, b)
            best[b] = min(best.get(b, ms), ms)
    chosen = eval_batch_size(spec, "cpu")
    row = {
        "dataset": entry.dataset,
        "D": spec.D,
        "chosen_batch": chosen,
        "cpu_ms_per_example": {str(b): round(ms, 3) for b, ms in best.items()},
        "fastest_batch": min(best, key=best.get),
        "chosen_over_fastest": round(best[chosen] / min(best.values()), 3),
    }
    if 256 in best:
        row["speedup_over_256"] = round(best[256] / best[chosen], 3)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="shell pattern over entry names")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--conditions", default="", help="what else ran on the machine, recorded")
    a = p.parse_args()
    torch.set_num_threads(1)
    rows = {}
    for name in ENTRIES:
        if a.only and not fnmatch.fnmatch(name, a.only):
            continue
        rows[name] = r = measure(name, a.rounds)
        times = "  ".join(f"{b}:{ms:.2f}" for b, ms in r["cpu_ms_per_example"].items())
        vs = f"  x{r['speedup_over_256']:.2f} vs 256" if "speedup_over_256" in r else ""
        print(f"{name:28s} D={r['D']:5d} chosen {r['chosen_batch']:3d}  ms/example {times}{vs}")
    write_results(
        "eval_batch",
        {
            "what": "CPU ms per example of log_prob under no_grad by batch size, one thread",
            "conditions": a.conditions,
            "rounds": a.rounds,
            "entries": rows,
        },
    )


if __name__ == "__main__":
    main()
