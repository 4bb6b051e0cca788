"""VAE training throughput beside pythae's VAE on the same architecture, in one process.

Two networks, each trained by ours (``model.loss``: input validation, Bernoulli log-likelihood
on logits, analytic KL) and by pythae 0.1.2 (``VAE`` with ``reconstruction_loss="bce"``, around
deep copies of the same encoder and decoder: see ``benchmarks/pythae_peer.py``), alternating
(``--rounds``, median), Adam, on the same random binary batch:

- ``mlp``: Burda et al.'s one-stochastic-layer VAE, the registry's ``vae_bmnist``
  (784-200-200-50 tanh), 28x28 binary images, batch 100;
- ``conv``: pytorch-generative's VAE configuration (four stride-2 stages, 64 hidden / 32
  residual channels, 2 residual blocks, 16 latent channels; 974,241 parameters), 32x32 binary,
  batch 128.

When pythae does not import, the benchmark says why and quotes pytorch-generative's VAE
figure (REFERENCE_FIGURES.md) for the conv configuration instead.

One thread, timed in CPU seconds of this process (``--clock cpu``, the default: on a shared
machine the wall clock also counts the time other processes hold the core); the load average
at the start and the end is recorded (``load_average``). ``--mlp-steps`` times the small
network over more steps (one of its steps takes milliseconds).

    python -m benchmarks.vae_throughput [--rounds 5] [--steps 10] [--mlp-steps 200] [--only mlp]
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
from zoo.models.vae import VAE

CONV = dict(
    encoder="conv", stages=4, channels=64, res_channels=32, res_blocks=2, latent_channels=16
)
MLP = dict(encoder="mlp", hidden=(200, 200), activation="tanh", latent_dim=50)
CASES = {  # name -> (hyper-parameters, image side, batch)
    "mlp": (MLP, 28, 100),
    "conv": (CONV, 32, 128),
}
QUOTED_CONV = 260.8  # pytorch-generative's VAE, batch 128, images/s (REFERENCE_FIGURES.md)


def pair(name: str, args: argparse.Namespace, why: str | None) -> dict | None:
    """Ours and pythae's VAE on one network, alternating; None when nothing can be compared."""
    hp, side, batch = CASES[name]
    torch.manual_seed(0)
    spec = DataSpec("image", (1, side, side), levels=2, name=f"random {side}x{side} binary")
    ours = VAE(spec, **hp).train()
    x = torch.randint(0, 2, (batch, 1, side, side), generator=torch.Generator().manual_seed(0))
    what = f"VAE {name} training, batch {batch}"
    steps = args.mlp_steps if name == "mlp" else args.steps
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    timing = dict(steps=steps, warmup=args.warmup, lr=1e-3, clock=clock)

    def run_ours() -> float:
        return train_images_per_second(lambda x: ours.loss(x)[0], ours.parameters(), x, **timing)

    if why:
        if name != "conv":
            print(why)
            return None
        return quoted_row(
            what,
            "pytorch-generative",
            run_ours,
            QUOTED_CONV,
            "images/s",
            higher_is_better=True,
            why=why,
        )
    peer = pythae_peer.vae(ours, (1, side, side)).train()
    peer_loss, xf = pythae_peer.loss_fn(peer), x.float()

    def run_peer() -> float:
        return train_images_per_second(peer_loss, peer.parameters(), xf, **timing)

    got = alternate({"ours": run_ours, "peer": run_peer}, args.rounds)
    return peer_row(
        what,
        "pythae 0.1.2 VAE",
        got["ours"],
        got["peer"],
        "images/s",
        higher_is_better=True,
        params=(ours.num_parameters(), n_params(peer)),
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round (conv)")
    ap.add_argument("--mlp-steps", type=int, default=200, help="timed steps per round (mlp)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first, per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--only", choices=sorted(CASES), nargs="+", default=sorted(CASES))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    why = pythae_peer.import_error()
    load = [os.getloadavg()[0]]

    rows = [row for name in args.only if (row := pair(name, args, why))]
    load.append(os.getloadavg()[0])
    out = dict(
        command="python -m benchmarks.vae_throughput "
        + " ".join(sys.argv[1:] if argv is None else argv),
        steps=args.steps,
        mlp_steps=args.mlp_steps,
        warmup=args.warmup,
        rounds=args.rounds,
        clock="CPU seconds of this process" if args.clock == "cpu" else "wall",
        load_average=load,
        cpus=os.cpu_count(),
        peers=rows,
    )
    write_results("vae_throughput", out)
    return out


if __name__ == "__main__":
    main()
