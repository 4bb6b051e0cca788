"""VQ-VAE training throughput at pytorch-generative's configuration (issue 9).

The peer (EugenHotaj/pytorch-generative @ d1f0a5c, ``VectorQuantizedVAE`` as in its
``reproduce()``): 128 hidden / 32 residual channels, 2 residual blocks, 512 codes x 64,
32x32x3 images, batch 128, Adam: 580.9 training images/s on 2 cores (REFERENCE_FIGURES.md,
2026-11-25, mean of 5 steps after 2 warm-up steps). It trains on mean squared error; ours
trains on the discretised-logistic likelihood over 256 levels (a 6-channel decoder head instead
of 3) plus the VQ losses, so ours does slightly more work per image.

Beside the quoted figure this runs, in the same process, a reference loop of the same
architecture with the peer's objective (MSE + codebook + 0.25 commitment), so the ratio
between the two loops is measured on the same machine state.

    python -m benchmarks.vqvae_throughput [--batch-sizes 32 128] [--steps 5] [--warmup 2]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import train_images_per_second, write_results
from zoo.core.spec import DataSpec
from zoo.models.vqvae import VQVAE, Decoder, Encoder

PEER_IMAGES_PER_S = 580.9  # batch 128, 2 threads, REFERENCE_FIGURES.md (2026-11-25)
PEER_PARAMS = 662_723
CONFIG = dict(num_codes=512, code_dim=64, hidden=128, res_channels=32, res_blocks=2, downsample=2)


class ReferenceVQVAE(nn.Module):
    """The peer's model and objective with our building blocks: MSE on [-1, 1] images."""

    def __init__(self) -> None:
        super().__init__()
        c = CONFIG
        self.encoder = Encoder(
            2, 3, c["hidden"], c["res_channels"], c["res_blocks"], c["downsample"], c["code_dim"]
        )
        self.codebook = nn.Embedding(c["num_codes"], c["code_dim"])
        self.decoder = Decoder(
            2, c["code_dim"], c["hidden"], c["res_channels"], c["res_blocks"], c["downsample"], 3
        )

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        u = x.float() / 127.5 - 1.0
        z = self.encoder(u)  # [B, D, h, w]
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])
        e = self.codebook.weight
        codes = ((flat**2).sum(1, keepdim=True) - 2 * flat @ e.t() + (e**2).sum(1)).argmin(1)
        q = self.codebook(codes)
        vq = F.mse_loss(q, flat.detach()) + 0.25 * F.mse_loss(flat, q.detach())
        q = flat + (q - flat).detach()
        q = q.reshape(z.shape[0], *z.shape[2:], z.shape[1]).movedim(-1, 1)
        return F.mse_loss(self.decoder(q), u) + vq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 32])
    ap.add_argument("--steps", type=int, default=5, help="timed steps (peer: 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (peer: 2)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    spec = DataSpec("image", (3, 32, 32), levels=256, name="synthetic 32x32x3")
    ours = VQVAE(spec, head="logistic", **CONFIG).train()
    ref = ReferenceVQVAE().train()
    n_ours = ours.num_parameters()
    n_ref = sum(p.numel() for p in ref.parameters())
    print(f"parameters: ours {n_ours:,} (logistic head), reference {n_ref:,}, peer {PEER_PARAMS:,}")

    rows = []
    for batch in args.batch_sizes:
        x = torch.randint(0, 256, (batch, 3, 32, 32), generator=torch.Generator().manual_seed(0))
        timing = dict(steps=args.steps, warmup=args.warmup, lr=2e-4)
        ref_ips = train_images_per_second(ref.loss, ref.parameters(), x, **timing)
        ours_ips = train_images_per_second(
            lambda x: ours.loss(x)[0], ours.parameters(), x, **timing
        )
        row = {
            "batch_size": batch,
            "ours_images_per_s": round(ours_ips, 1),
            "reference_loop_images_per_s": round(ref_ips, 1),
            "ours_over_reference": round(ours_ips / ref_ips, 3),
        }
        if batch == 128:
            row["peer_images_per_s"] = PEER_IMAGES_PER_S
            row["ours_over_peer"] = round(ours_ips / PEER_IMAGES_PER_S, 3)
        rows.append(row)
        peer = (
            f", peer {PEER_IMAGES_PER_S} (ratio {ours_ips / PEER_IMAGES_PER_S:.2f}x)"
            if (batch == 128)
            else ""
        )
        print(
            f"batch {batch:4d}: ours {ours_ips:7.1f} images/s, same-architecture MSE loop "
            f"{ref_ips:7.1f} (ratio {ours_ips / ref_ips:.2f}x){peer}"
        )

    result = {
        "config": CONFIG,
        "steps": args.steps,
        "warmup": args.warmup,
        "parameters": {"ours": n_ours, "reference_loop": n_ref, "peer": PEER_PARAMS},
        "rows": rows,
    }
    write_results("vqvae_throughput", result)
    main_row = next((r for r in rows if r["batch_size"] == 128), rows[0])
    ratio = main_row.get("ours_over_peer", main_row["ours_over_reference"])
    print(
        f"VQ-VAE training throughput, batch {main_row['batch_size']}: ours "
        f"{main_row['ours_images_per_s']} images/s vs peer {PEER_IMAGES_PER_S} -> {ratio:.2f}x "
        f"(same-architecture loop here: {main_row['ours_over_reference']:.2f}x)"
    )


if __name__ == "__main__":
    main()
