"""What each speed lever buys our PixelCNN training step, measured in one process.

The registry's ``pixelcnn_small_bmnist`` (15 x 16, 53,569 parameters; ``--entry`` for
another), batch ``--batch`` of random 28x28 binary images, AdamW, the public ``loss``. Each
variant is a separate copy of the same initial model; all variants alternate (``--rounds``,
median) so they see the same machine state:

- ``baseline``: the library as it is (the whole masked k x k kernel);
- ``zero-rows``: masked convolutions that skip the kernel rows below the centre (all zero):
  the top (k//2+1) x k of the kernel, the output's extra bottom rows cropped, and no mask
  product for all-ones masks (measured no faster here; not adopted);
- ``channels_last``: weights and activations in channels-last memory format;
- ``bf16``: CPU autocast to bfloat16 around the loss;
- ``compile`` (``--compile``): ``torch.compile`` of the loss (compile time excluded: the
  warm-up steps compile).

    python -m benchmarks.pixelcnn_levers [--rounds 3] [--steps 5] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import copy

import torch
import torch.nn.functional as F

import zoo
from benchmarks.common import alternate, train_images_per_second, write_results
from zoo import DataSpec
from zoo.nn.masked import MaskedConv2d


def _zero_rows_forward(self: MaskedConv2d, x: torch.Tensor) -> torch.Tensor:
    w = self.weight if bool(self.mask.all()) else self.weight * self.mask
    p = self.kernel_size[0] // 2
    if p == 0:
        return F.conv2d(x, w, self.bias)
    return F.conv2d(x, w[:, :, : p + 1], self.bias, padding=p)[:, :, : x.shape[2]]


@contextlib.contextmanager
def zero_rows():
    """MaskedConv2d without the all-zero kernel rows below the centre."""
    plain = MaskedConv2d.forward
    MaskedConv2d.forward = _zero_rows_forward
    try:
        yield
    finally:
        MaskedConv2d.forward = plain


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entry", default="pixelcnn_small_bmnist")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow start)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = DataSpec("image", (1, 28, 28), levels=2, name="random 28x28 binary")
    torch.manual_seed(0)
    base = zoo.create_model(args.entry, spec)
    u = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = (u < 0.13).long()
    timing = dict(steps=args.steps, warmup=args.warmup, optimizer=torch.optim.AdamW)

    def variant(name: str):
        m = copy.deepcopy(base)
        loss = lambda x: m.loss(x)[0]  # noqa: E731
        ctx = contextlib.nullcontext
        if name == "zero-rows":
            ctx = zero_rows
        elif name == "channels_last":
            m = m.to(memory_format=torch.channels_last)
            loss = lambda x: m.loss(x)[0]  # noqa: E731
        elif name == "bf16":

            def loss(x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return m.loss(x)[0]

        elif name == "compile":
            loss = torch.compile(lambda x: m.loss(x)[0])

        def run() -> float:
            with ctx():
                return train_images_per_second(loss, m.parameters(), x, **timing)

        return run

    names = ["baseline", "zero-rows", "channels_last", "bf16"] + (
        ["compile"] if args.compile else []
    )
    got = alternate({n: variant(n) for n in names}, args.rounds)
    med = {n: sorted(v)[len(v) // 2] for n, v in got.items()}
    for n in names:
        print(
            f"{args.entry} batch {args.batch}, {n:13s}: {med[n]:8.1f} images/s "
            f"({med[n] / med['baseline']:.2f}x the library as it is; rounds {got[n]})"
        )
    out = dict(entry=args.entry, batch=args.batch, rounds=args.rounds, images_per_s=got, median=med)
    write_results("pixelcnn_levers", out)
    return out


if __name__ == "__main__":
    main()
