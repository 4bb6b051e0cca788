"""VQ-VAE training throughput beside pythae's VQVAE on the same architecture, in one process.

pytorch-generative's VQ-VAE configuration (128 hidden / 32 residual channels, 2 residual
blocks, 512 codes x 64, 32x32x3 images with 256 levels, batch 128, Adam), trained by ours
(``model.loss``: discretised-logistic likelihood over 256 levels + codebook + 0.25 commitment)
and by pythae 0.1.2 (``VQVAE``, MSE + codebook + 0.25 commitment, no EMA) around deep copies of
the same encoder, codebook size and decoder (``benchmarks/pythae_peer.py``): the same layers
and parameter count; pythae's MSE reads the decoder's first 3 maps, ours all 6 (mean and
log-scale per colour). Alternating rounds (``--rounds``, median), same random batch.

When pythae does not import, the benchmark says why and quotes pytorch-generative's figure
(REFERENCE_FIGURES.md).

One thread, timed in CPU seconds of this process (``--clock cpu``, the default: on a shared
machine the wall clock also counts the time other processes hold the core); the load average
at the start and the end is recorded (``load_average``).

    python -m benchmarks.vqvae_throughput [--rounds 5] [--batch 128] [--steps 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from benchmarks import pythae_peer
from benchmarks.common import (
    alternate,
    n_params,
    peer_row,
    quoted_row,
    train_images_per_second,
    write_results,
)
from zoo.core.spec import DataSpec
from zoo.models.vqvae import VQVAE

CONFIG = dict(num_codes=512, code_dim=64, hidden=128, res_channels=32, res_blocks=2, downsample=2)
QUOTED_IMAGES_PER_S = 580.9  # pytorch-generative, batch 128, REFERENCE_FIGURES.md


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first, per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = [os.getloadavg()[0]]
    torch.manual_seed(0)
    spec = DataSpec("image", (3, 32, 32), levels=256, name="random 32x32x3")
    ours = VQVAE(spec, head="logistic", **CONFIG).train()
    x = torch.randint(0, 256, (args.batch, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    what = f"VQ-VAE training, batch {args.batch}"
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    timing = dict(steps=args.steps, warmup=args.warmup, lr=2e-4, clock=clock)

    def run_ours() -> float:
        return train_images_per_second(lambda x: ours.loss(x)[0], ours.parameters(), x, **timing)

    why = pythae_peer.import_error()
    if why:
        row = quoted_row(
            what,
            "pytorch-generative",
            run_ours,
            QUOTED_IMAGES_PER_S,
            "images/s",
            higher_is_better=True,
            why=why,
        )
    else:
        peer = pythae_peer.vqvae(ours, (3, 32, 32)).train()
        peer_loss, u = pythae_peer.loss_fn(peer), x.float() / 127.5 - 1.0
        got = alternate(
            {
                "ours": run_ours,
                "peer": lambda: train_images_per_second(peer_loss, peer.parameters(), u, **timing),
            },
            args.rounds,
        )
        row = peer_row(
            what,
            "pythae 0.1.2 VQVAE",
            got["ours"],
            got["peer"],
            "images/s",
            higher_is_better=True,
            params=(ours.num_parameters(), n_params(peer)),
        )
    load.append(os.getloadavg()[0])
    out = dict(
        command="python -m benchmarks.vqvae_throughput "
        + " ".join(sys.argv[1:] if argv is None else argv),
        config=CONFIG,
        steps=args.steps,
        warmup=args.warmup,
        rounds=args.rounds,
        clock="CPU seconds of this process" if args.clock == "cpu" else "wall",
        load_average=load,
        cpus=os.cpu_count(),
        peers=[row],
    )
    write_results("vqvae_throughput", out)
    return out


if __name__ == "__main__":
    main()
