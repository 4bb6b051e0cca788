"""PixelCNN and Gated PixelCNN training throughput at pytorch-generative's configurations.

The peer (EugenHotaj/pytorch-generative @ d1f0a5c, REFERENCE_FIGURES.md, 2026-11-25, 2 threads,
28x28 binary images, forward + binary cross-entropy + backward + Adam step):

- PixelCNN, 15 residual blocks x 16 channels, head 32 (53,569 parameters): 219.5 images/s at
  batch 32 in the first run, 261-332 in a second (50 timed steps, 3 runs); 282 at batch 256.
- Gated PixelCNN, 10 gated layers x 128 channels, head 32 (3,364,161 parameters): 8.6 images/s.

Ours: the registry entries ``pixelcnn_small_bmnist`` and ``pixelcnn_gated_bmnist`` through the
public ``loss`` (input validation, exact Bernoulli log-likelihood), AdamW. Beside them, in the
same process, a reference loop of the same small PixelCNN written the plain way (nn.Conv2d
with a mask multiplied in, BCE on logits), so the ratio to a same-architecture loop is
measured on the same machine state; the peer's own figures are quoted from the file.

    python -m benchmarks.pixelcnn_throughput [--steps 10] [--warmup 3] [--skip-gated]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from benchmarks.common import train_images_per_second, write_results
from zoo import DataSpec

PEER = {  # images/s, REFERENCE_FIGURES.md (2026-11-25)
    ("small", 32): (219.5, 332.0),
    ("small", 256): (282.0, 282.0),
    ("gated", 32): (8.6, 8.6),
}
ENTRIES = {"small": "pixelcnn_small_bmnist", "gated": "pixelcnn_gated_bmnist"}


class _RefMaskedConv(nn.Conv2d):
    def __init__(self, cin: int, cout: int, k: int, mask_a: bool) -> None:
        super().__init__(cin, cout, k, padding=k // 2)
        mask = torch.ones_like(self.weight)
        mask[:, :, k // 2, k // 2 + (0 if mask_a else 1) :] = 0
        mask[:, :, k // 2 + 1 :] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ReferencePixelCNN(nn.Module):
    """The peer's small PixelCNN, written plainly (one residual add per block)."""

    def __init__(self, h: int = 16, blocks: int = 15, head: int = 32) -> None:
        super().__init__()
        self.stem = _RefMaskedConv(1, 2 * h, 7, True)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(2 * h, h, 1),
                nn.ReLU(),
                _RefMaskedConv(h, h, 3, False),
                nn.ReLU(),
                nn.Conv2d(h, 2 * h, 1),
            )
            for _ in range(blocks)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(2 * h, head, 1), nn.ReLU(), nn.Conv2d(head, 1, 1)
        )

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        z = self.stem(x.float())
        for b in self.blocks:
            z = z + b(z)
        logits = self.head(z)
        return (
            F.binary_cross_entropy_with_logits(logits, x.float(), reduction="none")
            .sum((1, 2, 3))
            .mean()
        )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-gated", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")

    rows = []
    runs = [("small", 32), ("small", 256)] + ([] if args.skip_gated else [("gated", 32)])
    for kind, batch in runs:
        torch.manual_seed(0)
        model = zoo.create_model(ENTRIES[kind], spec)
        x = (torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13).long()
        timing = dict(steps=args.steps, warmup=args.warmup, optimizer=torch.optim.AdamW)
        ours = train_images_per_second(
            lambda x, m=model: m.loss(x)[0], model.parameters(), x, **timing
        )
        ref = None
        if kind == "small":
            r = ReferencePixelCNN()
            ref = train_images_per_second(r.loss, r.parameters(), x, **timing)
        lo, hi = PEER[(kind, batch)]
        rows.append(
            dict(
                model=ENTRIES[kind],
                batch=batch,
                params=model.num_parameters(),
                ours=ours,
                reference_loop=ref,
                peer_low=lo,
                peer_high=hi,
                ratio_to_peer_high=ours / hi,
            )
        )
        ref_txt = f", same-architecture loop {ref:.1f} ({ours / ref:.2f}x)" if ref else ""
        print(
            f"{ENTRIES[kind]:24s} batch {batch:3d}: ours {ours:7.1f} images/s{ref_txt}; "
            f"pytorch-generative {lo:g}-{hi:g} -> {ours / lo:.2f}-{ours / hi:.2f}x"
        )
    out = dict(
        steps=args.steps,
        warmup=args.warmup,
        rows=rows,
    )
    write_results("pixelcnn_throughput", out)
    summary = "; ".join(
        f"{r['model'].split('_')[1]} b{r['batch']} {r['ours']:.0f} img/s "
        f"({r['ours'] / r['peer_high']:.2f}x peer's {r['peer_high']:g})"
        for r in rows
    )
    print(f"pixelcnn_throughput: {summary}")
    return out


if __name__ == "__main__":
    main()
