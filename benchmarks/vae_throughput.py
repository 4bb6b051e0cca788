"""VAE training throughput at pytorch-generative's configuration (issue 9).

The peer (EugenHotaj/pytorch-generative @ d1f0a5c, ``VAE`` as in its ``reproduce()``):
``strides=[2, 2, 2, 2]`` (four stride-2 stages), 64 hidden / 32 residual channels, 2 residual
blocks per stack, 16 latent channels (a 2x2x16 latent grid), 32x32 binary images, Adam 5e-4,
Bernoulli (BCE-with-logits) reconstruction + closed-form KL; 974,241 parameters. Its figures
on 2 cores (REFERENCE_FIGURES.md, 2026-11-25): 260.8 images/s at batch 128 (mean of 5 steps
after 2 warm-up), and in a second run 333-337 at batch 128, 278-318 at batch 32.

Ours: ``zoo.models.vae.VAE(encoder="conv", stages=4, channels=64, res_channels=32,
res_blocks=2, latent_channels=16)`` on a ``DataSpec("image", (1, 32, 32), levels=2)``, trained on
``model.loss`` (the same ELBO through the contract: validation, Bernoulli head, analytic KL).
Beside the quoted figures this runs, in the same process, a reference loop of the same
architecture with the peer's own objective, so the ratio is measured on one machine state.

    python -m benchmarks.vae_throughput [--batch-sizes 128 32] [--steps 5] [--warmup 2]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import train_images_per_second, write_results
from zoo.core.spec import DataSpec
from zoo.models.vae import VAE
from zoo.nn.conv import ResidualBlock

PEER = {128: (260.8, 337.0), 32: (278.0, 318.0)}  # images/s: (first run, best of second run)
PEER_PARAMS = 974_241
CONFIG = dict(
    encoder="conv", stages=4, channels=64, res_channels=32, res_blocks=2, latent_channels=16
)


class ReferenceVAE(nn.Module):
    """The peer's network and objective, written plainly: BCE on [0, 1] pixels + KL."""

    def __init__(self, hidden: int = 64, res: int = 32, latent: int = 16, stages: int = 4):
        super().__init__()

        def stack() -> list[nn.Module]:
            return [ResidualBlock(2, hidden, res), ResidualBlock(2, hidden, res), nn.ReLU()]

        enc, dec = [], []
        for i in range(stages):
            enc += [
                nn.Conv2d(1 if i == 0 else hidden, hidden, 4, 2, 1),
                nn.ReLU(),
                *stack(),
                nn.Conv2d(hidden, 2 * latent if i == stages - 1 else hidden, 3, padding=1),
            ]
            dec += [
                nn.Conv2d(latent if i == 0 else hidden, hidden, 3, padding=1),
                *stack(),
                nn.ConvTranspose2d(hidden, 1 if i == stages - 1 else hidden, 4, 2, 1),
            ]
        self.encoder, self.decoder, self.latent = nn.Sequential(*enc), nn.Sequential(*dec), latent

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        mean, log_std = self.encoder(x).split(self.latent, dim=1)
        kl = -0.5 * (1 + 2 * log_std - (2 * log_std).exp() - mean**2)
        z = mean + log_std.exp() * torch.randn_like(log_std)
        recon = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none")
        return (recon.sum((1, 2, 3)) + kl.sum((1, 2, 3))).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    ap.add_argument("--steps", type=int, default=5, help="timed steps (peer: 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (peer: 2)")
    ap.add_argument("--rounds", type=int, default=2, help="alternate ours/reference this often")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    spec = DataSpec("image", (1, 32, 32), levels=2, name="synthetic 32x32 binary")
    ours = VAE(spec, **CONFIG).train()
    ref = ReferenceVAE().train()
    n_ours, n_ref = ours.num_parameters(), sum(p.numel() for p in ref.parameters())
    print(f"parameters: ours {n_ours:,}, reference loop {n_ref:,}, peer {PEER_PARAMS:,}")

    rows = []
    for batch in args.batch_sizes:
        x = torch.randint(0, 2, (batch, 1, 32, 32), generator=torch.Generator().manual_seed(0))
        timing = dict(steps=args.steps, warmup=args.warmup, lr=5e-4)
        ours_runs, ref_runs = [], []
        for _ in range(args.rounds):  # interleaved, best of rounds: less noise from neighbours
            ref_runs.append(train_images_per_second(ref.loss, ref.parameters(), x, **timing))
            ours_runs.append(
                train_images_per_second(lambda x: ours.loss(x)[0], ours.parameters(), x, **timing)
            )
        ours_ips, ref_ips = max(ours_runs), max(ref_runs)
        row = {
            "batch_size": batch,
            "ours_images_per_s": round(ours_ips, 1),
            "reference_loop_images_per_s": round(ref_ips, 1),
            "ours_over_reference": round(ours_ips / ref_ips, 3),
        }
        peer_line = ""
        if batch in PEER:
            first, best = PEER[batch]
            row.update(
                peer_images_per_s=[first, best], ours_over_peer_best=round(ours_ips / best, 3)
            )
            peer_line = f", peer {first}-{best} (ratio to {best}: {ours_ips / best:.2f}x)"
        rows.append(row)
        print(
            f"batch {batch:4d}: ours {ours_ips:7.1f} images/s, same-architecture loop "
            f"{ref_ips:7.1f} (ratio {ours_ips / ref_ips:.2f}x){peer_line}"
        )

    result = {
        "config": CONFIG,
        "steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "parameters": {"ours": n_ours, "reference_loop": n_ref, "peer": PEER_PARAMS},
        "rows": rows,
    }
    write_results("vae_throughput", result)
    main_row = rows[0]
    best = PEER.get(main_row["batch_size"], (None, None))[1]
    vs_peer = f"vs peer {best} -> {main_row['ours_images_per_s'] / best:.2f}x " if best else ""
    print(
        f"VAE training throughput, batch {main_row['batch_size']}: ours "
        f"{main_row['ours_images_per_s']} images/s {vs_peer}(same-architecture loop here: "
        f"{main_row['ours_over_reference']:.2f}x)"
    )


if __name__ == "__main__":
    main()
