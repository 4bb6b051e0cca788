"""Step budgets for the suites from measured throughput: seconds per training step per entry.

    python -m benchmarks.suite_budgets --suite standard --steps 5

For each gradient-trained entry of the suite: build it on its data set (random data of the
spec's shape where the data set is missing, e.g. CIFAR-10), run ``--warmup`` untimed then
``--steps`` timed training steps (loss, backward, AdamW) on one thread, and record the CPU
seconds per step. CPU time rather than wall time, because the machine this runs on is shared:
CPU time per step is what an idle machine would spend, whatever else runs beside it. On an
idle 2-core machine with 2 threads, a step takes about CPU time / ``--speedup`` wall seconds.
The budget printed for each entry is the number of steps that fits ``--minutes`` there
(rounded down to 2 significant figures); the registry's ``train.max_steps`` were set from
this file's output. ``--batch B`` times steps of B examples and scales linearly to the entry's
batch size (the CIFAR-10 models, whose full steps take minutes here). Results go to
``benchmarks/results/suite_budgets_SUITE.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import time

import torch

from benchmarks.common import write_results
from zoo.bench import suite_entries
from zoo.data import DatasetNotFound, load_dataset
from zoo.engine.registry import create_model, get_entry


def _batch(name: str, batch_size: int):
    entry = get_entry(name)
    try:
        ds = load_dataset(entry.dataset, **entry.data)
    except DatasetNotFound:
        return None, None, "random"
    x, labels = next(ds["train"].batches(batch_size))
    return ds.spec, (x, labels or None), "data"


def cpu_seconds_per_step(name: str, *, steps: int, warmup: int, batch: int | None) -> dict:
    """CPU seconds per training step at the entry's batch size (measured at ``batch`` and
    scaled linearly to the entry's, when ``batch`` is given)."""
    entry = get_entry(name)
    batch_size = int(entry.train.get("batch_size", 32))
    measured = batch or batch_size
    spec, batch, source = _batch(name, measured)
    if spec is None:  # data set missing: its spec from the model's declared shape
        from zoo.core.spec import DataSpec

        shapes = {"cifar10": DataSpec("image", (3, 32, 32), 256, labels={"class": 10})}
        spec = shapes[entry.dataset]
        batch = (torch.randint(0, spec.levels, (measured, *spec.shape)), None)
    model = create_model(name, spec)
    if model.count_based:
        return {"count_based": True}
    model.set_phase(model.phases[0])
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    x, cond = batch
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.process_time()
        loss, _ = model.loss(x, cond=cond)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {
        "cpu_seconds_per_step": (time.process_time() - t0) / steps * batch_size / measured,
        "batch_size": batch_size,
        "measured_batch_size": measured,
        "data": source,
        "phase": model.phases[0],
    }


def budget(seconds_per_step: float, minutes: float, speedup: float) -> int:
    steps = minutes * 60 * speedup / seconds_per_step
    digits = max(int(math.floor(math.log10(steps))) - 1, 0)
    return int(steps // 10**digits * 10**digits)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="standard", choices=("quick", "standard"))
    p.add_argument("--only", help="shell pattern over entry names")
    p.add_argument("--exclude", help="shell pattern over entry names to leave out")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--minutes", type=float, default=10.0, help="wall minutes per entry")
    p.add_argument("--speedup", type=float, default=1.6, help="2 threads vs 1 on 2 cores")
    p.add_argument("--out", help="suffix of the results file name")
    p.add_argument("--batch", type=int, help="measure at this batch size, scale to the entry's")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = {}
    names = suite_entries(a.suite, a.only)
    if a.exclude:
        names = [n for n in names if not fnmatch.fnmatch(n, a.exclude)]
    for name in names:
        r = cpu_seconds_per_step(name, steps=a.steps, warmup=a.warmup, batch=a.batch)
        if "cpu_seconds_per_step" in r:
            r["budget_steps"] = budget(r["cpu_seconds_per_step"], a.minutes, a.speedup)
            print(
                f"{name:32s} {r['cpu_seconds_per_step']:8.4f} CPU s/step  "
                f"-> {r['budget_steps']:7d} steps in {a.minutes:g} min"
            )
        rows[name] = r
    write_results(
        f"suite_budgets_{a.suite}" + (f"_{a.out}" if a.out else ""),
        {"minutes": a.minutes, "speedup": a.speedup, "steps": a.steps, "entries": rows},
    )


if __name__ == "__main__":
    main()
