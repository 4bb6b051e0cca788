"""Does ``torch.compile`` of the objective pay for a family on this CPU? (``compile_pays``)

For each registry entry (``--entries``; default one beyond the PixelCNNs, whose gain
``benchmarks/pixelcnn_throughput.py`` measures beside the peer), built on a binarized-MNIST
spec, two copies with the same weights train on one random batch of ``--batch`` images:
eager (``model.loss``) and compiled (``zoo.engine.compiling.CompiledObjective``), alternating
(``--rounds``, median; CPU seconds at one thread, unit "images/s (CPU)"). The compiled copy's
first ``--compile-steps`` steps are timed first from a cold inductor cache (one compile
thread: the C++ compiler's CPU time is counted as a child's). ``entries.<name>``:
``class``, ``compile_pays`` (what the class declares now), ``eager_rounds``,
``compiled_rounds``, ``ratio`` (compiled over eager medians), ``first_steps``,
``compile_cpu_s``, ``break_even_steps``. A class declares ``compile_pays = True`` only where
such a committed figure is above 1.

    python -m benchmarks.compile_gain [--entries vae_bmnist] [--rounds 3] [--steps 10]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch

import zoo
from benchmarks.common import alternate, train_images_per_second, write_results
from benchmarks.pixelcnn_throughput import first_steps
from zoo import DataSpec
from zoo.engine.compiling import CompiledObjective


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", nargs="+", default=["vae_bmnist"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compile-steps", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cold-")
    import torch._inductor.config as inductor_config

    inductor_config.compile_threads = 1
    spec = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")
    u = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = (u < 0.13).long()
    timing = dict(steps=args.steps, warmup=args.warmup, clock=time.process_time)
    load, out = [os.getloadavg()[0]], {}
    for name in args.entries:
        torch.manual_seed(0)
        eager = zoo.create_model(name, spec)
        fast = copy.deepcopy(eager)
        objective = CompiledObjective(fast)
        compiled = lambda x, o=objective: o(x, None)[0]  # noqa: E731
        first = first_steps(compiled, fast.parameters(), x, args.compile_steps)
        if not objective.compiled:
            raise RuntimeError(f"{name}'s objective did not compile: {objective.failure}")
        got = alternate(
            {
                "eager": lambda m=eager: train_images_per_second(
                    lambda x: m.loss(x)[0], m.parameters(), x, **timing
                ),
                "compiled": lambda m=fast, f=compiled: train_images_per_second(
                    f, m.parameters(), x, **timing
                ),
            },
            args.rounds,
        )
        med = {k: sorted(v)[len(v) // 2] for k, v in got.items()}
        step = {k: args.batch / v for k, v in med.items()}
        cost = sum(first["cpu_s"]) - first["steps"] * step["compiled"]
        saving = step["eager"] - step["compiled"]
        out[name] = {
            "class": f"{type(eager).__module__}:{type(eager).__name__}",
            "compile_pays": type(eager).compile_pays,
            "eager_rounds": got["eager"],
            "compiled_rounds": got["compiled"],
            "ratio": med["compiled"] / med["eager"],
            "first_steps": first,
            "compile_cpu_s": cost,
            "break_even_steps": cost / saving if saving > 0 else None,
        }
        print(
            f"{name}: compiled {med['compiled']:.1f} / eager {med['eager']:.1f} images/s (CPU)"
            f" = {out[name]['ratio']:.2f}x; compile {cost:.1f} CPU s"
        )
    load.append(os.getloadavg()[0])
    record = dict(batch=args.batch, rounds=args.rounds, unit="images/s (CPU)", load_average=load)
    record["entries"] = out
    write_results("compile_gain", record)
    return record


if __name__ == "__main__":
    main()
