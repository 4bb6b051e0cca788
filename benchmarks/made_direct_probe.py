"""A short probe of MADE's direct input-to-output connections under connectivity-agnostic
training: the ``made_bmnist_masks`` network (2 x 500, 32 natural-order masks trained in turn)
with and without ``direct``, the same seed and the same first ``--steps`` training batches of
binarized MNIST (Adam at a constant ``--lr``), then the 32-mask mixture on ``--valid``
validation examples (``valid_mixture_nats``: nats per example). A probe of the first steps,
not a result: the board rows train the entries' full budgets.

    python -m benchmarks.made_direct_probe [--steps 300] [--valid 500] [--lr 2e-3]
"""

from __future__ import annotations

import argparse
import os

import torch

from benchmarks.common import write_results
from zoo.data import load_dataset
from zoo.models.made import MADE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--valid", type=int, default=500)
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("binarized_mnist")
    batches = [x for (x, _), _ in zip(ds["train"].batches(64), range(args.steps))]
    xv, _ = next(ds["valid"].batches(args.valid))
    rows = {}
    for direct in (False, True):
        torch.manual_seed(0)
        m = MADE(ds.spec, hidden=[500, 500], num_masks=32, direct=direct)
        opt = torch.optim.Adam(m.parameters(), lr=args.lr)
        for s, x in enumerate(batches):
            m.set_step(s)
            loss, _ = m.loss(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            rows["direct" if direct else "no_direct"] = -float(m.log_prob(xv).mean())
    path = write_results(
        "made_direct_probe",
        {
            "config": {"hidden": [500, 500], "num_masks": 32, "batch": 64, **vars(args)},
            "unit": "nats per example (32-mask mixture, validation)",
            "valid_mixture_nats": rows,
            "load_average": os.getloadavg()[0],
        },
    )
    print(rows, path)


if __name__ == "__main__":
    main()
