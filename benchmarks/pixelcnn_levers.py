"""What each speed lever buys our PixelCNN training step, measured in one process.

The registry's ``pixelcnn_small_bmnist`` (15 x 16, 53,569 parameters; ``--entry`` for
another), batch ``--batch`` of random 28x28 binary images, AdamW, the public ``loss``. Each
variant is a separate copy of the same initial model; all variants alternate (``--rounds``,
median) so they see the same machine state:

- ``full-kernel``: masked convolutions over the whole k x k kernel with the mask multiplied
  in on every call (zoo before issue 16);
- ``baseline``: the library as it is (zero rows of the kernel skipped; no mask multiply for
  all-ones masks);
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


def _full_kernel_forward(self: MaskedConv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


@contextlib.contextmanager
def full_kernel():
    """MaskedConv2d as it was: the whole masked kernel, the mask multiplied every call."""
    fast = MaskedConv2d.forward
    MaskedConv2d.forward = _full_kernel_forward
    try:
        yield
    finally:
        MaskedConv2d.forward = fast


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
        if name == "full-kernel":
            ctx = full_kernel
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

    names = ["full-kernel", "baseline", "channels_last", "bf16"] + (
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
