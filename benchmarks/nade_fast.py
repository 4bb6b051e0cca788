"""NADE's blocked forward with its hand-written backward against the running sum under
autograd: CPU seconds per training step on binarized-MNIST-sized batches.

Both sides are the same ``NADE`` (500 hidden units, Bernoulli outputs, D = 784, batch 64 as
the ``nade_bmnist`` entry) with the same weights and batch; one training step is forward,
loss, backward and an Adam step, timed with ``time.process_time`` on one thread. The sides
alternate in one process (``--rounds``, median), so the ratio is measured on one machine
state; ``load_average`` (1-minute, before and after) says how loaded the machine was, which
moves absolute times but not the ratio. ``max_abs_diff_nll``: the largest difference of the
two sides' per-example negative log-likelihoods on the batch.

    python -m benchmarks.nade_fast [--rounds 3] [--steps 3] [--batch 64] [--hidden 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from benchmarks.common import alternate, write_results
from zoo.core.spec import DataSpec
from zoo.models.nade import NADE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 28, 28), 2)
    x = (torch.rand(args.batch, 1, 28, 28) < 0.13).long()
    load_before = os.getloadavg()[0]

    def side(fast: bool):
        model = NADE(spec, hidden=args.hidden)
        model.load_state_dict(NADE(spec, hidden=args.hidden).state_dict())
        if not fast:
            model.params = lambda u, mask_index=0: model.params_running_sum(u)  # type: ignore[method-assign]
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step() -> None:
            loss = -model.joint(x).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def run() -> float:
            step()  # warm-up
            t0 = time.process_time()
            for _ in range(args.steps):
                step()
            return (time.process_time() - t0) / args.steps

        return model, run

    torch.manual_seed(1)
    fast_model, fast_run = side(True)
    torch.manual_seed(1)
    slow_model, slow_run = side(False)
    with torch.no_grad():
        diff = float((fast_model.joint(x) - slow_model.joint(x)).abs().max())
    got = alternate({"running_sum": slow_run, "blocked": fast_run}, rounds=args.rounds)
    old, new = statistics.median(got["running_sum"]), statistics.median(got["blocked"])
    path = write_results(
        "nade_fast",
        {
            "config": {
                "batch": args.batch,
                "hidden": args.hidden,
                "D": spec.D,
                "steps_per_round": args.steps,
                "rounds": args.rounds,
            },  # fmt: skip
            "unit": "CPU seconds per training step (forward, loss, backward, Adam)",
            "running_sum_s_per_step": old,
            "blocked_s_per_step": new,
            "speedup": old / new,
            "all": got,
            "max_abs_diff_nll": diff,
            "load_average": [load_before, os.getloadavg()[0]],
        },
    )
    print(f"running sum {old:.3f} s/step, blocked {new:.3f} s/step ({old / new:.2f}x) -> {path}")


if __name__ == "__main__":
    main()
