"""A trained MADE ensemble, mask by mask: is the mixture computed right, and is each mask
undertrained or overfitted?

Loads a run's last checkpoint, scores the first ``--examples`` test examples (and as many
training examples) under every mask alone (``per_mask_test_nats``, ``per_mask_train_nats``:
mean negative log-likelihood in nats per example) and as the mixture
``logsumexp_k log p_k(x) - log K`` (``ensemble_test_nats``). The mixture is at least as good
as the best mask and at most ``log K`` nats worse than the average mask's likelihood allows;
train close to test means underfitting, train far below test overfitting.

    python -m benchmarks.made_per_mask --run RUN_DIR [--examples 500] [--out made_per_mask]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from benchmarks.common import write_results
from zoo.data import load_dataset
from zoo.engine.checkpoint import build_from_config, read_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--examples", type=int, default=500)
    ap.add_argument("--out", default="made_per_mask")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = read_config(args.run)
    model = build_from_config(cfg)
    model = model[0] if isinstance(model, tuple) else model
    ck = torch.load(args.run / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(ck["model"] if "model" in ck else ck)
    model.eval()
    ds = load_dataset(cfg.get("dataset", "binarized_mnist"))
    x_test, _ = next(ds["test"].batches(args.examples))
    x_train, _ = next(ds["train"].batches(args.examples))
    K = model.num_masks
    with torch.no_grad():
        test = torch.stack([model.joint(x_test, m) for m in range(K)])  # [K, N]
        train = torch.stack([model.joint(x_train, m) for m in range(K)])
    mix = torch.logsumexp(test, 0) - math.log(K)
    per_test = [-float(v) for v in test.mean(1)]
    path = write_results(
        args.out,
        {
            "run": str(args.run),
            "entry": cfg.get("entry"),
            "trained_by_code": cfg.get("code_version"),
            "train_steps": cfg.get("train", {}).get("max_steps"),
            "masks": K,
            "examples": args.examples,
            "unit": "nats per example",
            "per_mask_test_nats": per_test,
            "per_mask_train_nats": [-float(v) for v in train.mean(1)],
            "best_mask_test_nats": min(per_test),
            "mean_mask_test_nats": sum(per_test) / K,
            "ensemble_test_nats": -float(mix.mean()),
        },
    )
    print(f"masks {min(per_test):.2f}..{max(per_test):.2f}, mixture {-float(mix.mean()):.2f}")
    print(path)


if __name__ == "__main__":
    main()
