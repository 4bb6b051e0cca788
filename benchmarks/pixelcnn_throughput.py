"""PixelCNN and Gated PixelCNN training throughput beside pytorch-generative's models.

pytorch-generative (EugenHotaj/pytorch-generative @ d1f0a5c) is not a package, so its two
models are mirrored here layer for layer, plainly (``PeerPixelCNN``, ``PeerGatedPixelCNN``),
at its ``reproduce()`` configurations, and trained the way its Trainer does (forward, BCE with
logits summed per image, backward, Adam step):

- PixelCNN, 15 residual blocks x 16 channels, head 32: 53,569 parameters. The peer adds each
  residual twice (its block returns ``x + f(x)`` and the model adds ``x`` again); the mirror
  keeps that bug, so its initial loss is of the peer's order (1.5e5 nats per image on the
  random binary batch here; REFERENCE_FIGURES.md: near 3e5 on MNIST; ours: 560, near
  784 ln 2), and masks its kernels in place before each forward as the peer's
  ``CausalConv2d`` does.
- Gated PixelCNN, an input layer (kernel 7) + 10 gated layers x 128 channels, skip
  connections, head 32: 3,364,161 parameters.

Ours: the registry entries ``pixelcnn_small_bmnist`` (53,569 parameters) and
``pixelcnn_gated_bmnist`` through the public ``loss``. The gated entry's own network is not
the peer's (no skip connections, one (k//2+1) x k vertical convolution instead of the peer's
1 x k then (k//2+1) x 1, no vertical 1x1), so the comparison builds it with
``architecture="pytorch_generative", layers=11`` (the peer's input layer + 10 gated layers):
the peer's network exactly, 3,364,161 parameters (``tests/test_gated_peer_architecture.py``
checks the count and, with the same weights, the same outputs as the mirror). Both sides
train in one process on the same batch, alternating (``--rounds``, median), so the ratio is
measured on one machine state. A third side (unless ``--skip-old-form``) is ours with every
``MaskedConv2d`` running the old form, the whole k x k kernel times its mask
(``forward_masked``), same weights: the row "masked convolutions without the rows below the
centre" is the fast path's speed-up over it. ``load_average`` (1-minute, before and after):
the machine's load while it ran; ratios alternate sides, absolute times do not.
``--profile``: ``checks.<kind>.profile`` (and ``profile_old_form``) is where a training step's
CPU time goes (``torch.profiler``, self time per operator and input shapes: the ``top``
shares, and ``conv_share``, all convolution operators together). With
``--threads 1`` (the default) the times are CPU seconds of this process (unit "images/s
(CPU)"), which leaves out the time the OS gives to other processes on a shared machine.

    python -m benchmarks.pixelcnn_throughput [--rounds 3] [--skip-gated] [--batch 32]
        [--threads 1] [--skip-old-form] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from benchmarks.common import (
    alternate,
    carried_rows,
    n_params,
    peer_row,
    train_images_per_second,
    write_results,
)
from zoo import DataSpec
from zoo.nn.masked import MaskedConv2d

PEER_PARAMS = {"small": 53_569, "gated": 3_364_161}
ENTRIES = {"small": "pixelcnn_small_bmnist", "gated": "pixelcnn_gated_bmnist"}
# the peer's network exactly (the gated entry's default architecture is another one)
OVERRIDES = {"small": {}, "gated": {"layers": 11, "architecture": "pytorch_generative"}}
PEER = "pytorch-generative (mirrored)"


class _PeerCausalConv(nn.Conv2d):
    """The peer's CausalConv2d: a raster mask multiplied into the weights in place."""

    def __init__(self, cin: int, cout: int, k: int, mask_center: bool) -> None:
        super().__init__(cin, cout, k, padding=k // 2)
        mask = torch.zeros_like(self.weight)
        mask[:, :, : k // 2] = 1
        mask[:, :, k // 2, : k // 2 + (0 if mask_center else 1)] = 1
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.weight.data *= self.mask
        return super().forward(x)


def _head(cin: int, head: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, head, 1), nn.ReLU(), nn.Conv2d(head, 1, 1))


def _bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    return (
        F.binary_cross_entropy_with_logits(logits.view(b, -1), x.view(b, -1), reduction="none")
        .sum(1)
        .mean()
    )


class PeerPixelCNN(nn.Module):
    """pytorch-generative's PixelCNN, residual added twice per block as in the peer."""

    def __init__(self, h: int = 16, blocks: int = 15, head: int = 32) -> None:
        super().__init__()
        c = 2 * h
        self.stem = _PeerCausalConv(1, c, 7, True)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(c, h, 1),
                nn.ReLU(),
                _PeerCausalConv(h, h, 3, False),
                nn.ReLU(),
                nn.Conv2d(h, c, 1),
            )
            for _ in range(blocks)
        )
        self.head = _head(c, head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 1, H, W] float -> logits [B, 1, H, W]
        z = self.stem(x)
        for f in self.blocks:
            z = z + (z + f(z))  # the block's own residual, then the model's
        return self.head(z)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return _bce_per_image(self(x.float()), x.float())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The peer's sampling: one full forward pass per pixel, no cache."""
        x = torch.zeros(n, 1, 28, 28)
        for r in range(28):
            for c in range(28):
                p = torch.sigmoid(self(x)[:, :, r, c])
                x[:, :, r, c] = torch.bernoulli(p, generator=generator)
        return x


def _gate(t: torch.Tensor) -> torch.Tensor:
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _PeerGatedLayer(nn.Module):
    def __init__(self, cin: int, c: int, k: int, first: bool) -> None:
        super().__init__()
        p = k // 2
        self.first = first
        self.v_row = nn.Conv2d(cin, c, (1, k), padding=(0, p))
        self.v_col = nn.Conv2d(c, 2 * c, (p + 1, 1), padding=(p + 1, 0))
        self.v_1x1 = nn.Conv2d(cin, 2 * c, 1)
        self.link = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_row = nn.Conv2d(cin, 2 * c, (1, p + 1), padding=(0, p + int(first)))
        self.h_res = nn.Conv2d(c, c, 1)
        self.h_skip = nn.Conv2d(c, c, 1)

    def forward(self, v_in: torch.Tensor, h_in: torch.Tensor):
        H, W = v_in.shape[2:]
        v = self.v_col(self.v_row(v_in))[:, :, :H]
        link = self.link(v)
        v = _gate(v + self.v_1x1(v_in))
        h = _gate(link + self.h_row(h_in)[:, :, :, :W])
        skip, h = self.h_skip(h), self.h_res(h)
        return v, (h if self.first else h + h_in), skip


class PeerGatedPixelCNN(nn.Module):
    """pytorch-generative's Gated PixelCNN: input layer + ``layers`` gated layers, skips."""

    def __init__(self, c: int = 128, layers: int = 10, head: int = 32) -> None:
        super().__init__()
        self.input = _PeerGatedLayer(1, c, 7, True)
        self.layers = nn.ModuleList(_PeerGatedLayer(c, c, 3, False) for _ in range(layers))
        self.head = _head(c, head)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        v, h, skips = self.input(x, x)
        for layer in self.layers:
            v, h, s = layer(v, h)
            skips = skips + s
        return _bce_per_image(self.head(skips), x)


PEERS = {"small": PeerPixelCNN, "gated": PeerGatedPixelCNN}


def old_masked_form(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (same weights) whose masked convolutions run the old form, the whole
    k x k kernel times its mask (``MaskedConv2d.forward_masked``); and how many there are."""
    slow = copy.deepcopy(model)
    convs = [m for m in slow.modules() if isinstance(m, MaskedConv2d)]
    for m in convs:
        m.forward = m.forward_masked
    return slow, len(convs)


def step_profile(model: nn.Module, x: torch.Tensor, steps: int = 3, top: int = 10) -> dict:
    """Where one training step's CPU time goes: ``torch.profiler`` over ``steps`` steps (after
    one untimed), self CPU time per operator and input shapes, the ``top`` largest as shares
    of the total; and the share of all convolution operators (forward and backward)."""
    from torch.profiler import ProfilerActivity, profile

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = model.loss(x)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key)
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {
        "steps": steps,
        "conv_share": conv / total,
        "top": [
            {
                "op": e.key,
                "shapes": str(e.input_shapes)[:160],
                "share": e.self_cpu_time_total / total,
            }
            for e in ranked
        ],
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32, help="images per step (the peer's runs: 32)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round (small)")
    ap.add_argument("--gated-steps", type=int, default=2, help="timed steps per round (gated)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-gated", action="store_true")
    ap.add_argument("--profile", action="store_true", help="record where a step's time goes")
    ap.add_argument(
        "--skip-old-form", action="store_true", help="no third side: the old masked form"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")
    u = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = (u < 0.13).long()

    # one thread: CPU seconds of this process (what others' load does not inflate)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    unit = "images/s (CPU)" if args.threads == 1 else "images/s"
    rows, checks = [], {}
    load = [os.getloadavg()[0]]
    for kind in ["small"] + ([] if args.skip_gated else ["gated"]):
        torch.manual_seed(0)
        ours = zoo.create_model(ENTRIES[kind], spec, **OVERRIDES[kind])
        peer = PEERS[kind]()
        n_ours, n_peer = ours.num_parameters(), n_params(peer)
        if n_peer != PEER_PARAMS[kind]:
            raise RuntimeError(
                f"mirror of the peer's {kind} model has {n_peer:,} parameters, "
                f"the peer {PEER_PARAMS[kind]:,}: the mirror is wrong"
            )
        with torch.no_grad():
            loss0 = {"ours": float(ours.loss(x)[0]), "peer": float(peer.loss(x))}
        checks[kind] = {"initial_loss_nats": loss0, "params": {"ours": n_ours, "peer": n_peer}}
        print(
            f"{kind}: initial loss (nats/image) ours {loss0['ours']:.1f}, "
            f"peer mirror {loss0['peer']:.1f}"
        )
        steps = args.steps if kind == "small" else args.gated_steps
        timing = dict(steps=steps, warmup=args.warmup if kind == "small" else 1, clock=clock)
        slow, n_masked = old_masked_form(ours)
        with torch.no_grad():
            same = torch.allclose(ours.loss(x)[0], slow.loss(x)[0], rtol=1e-5)
        checks[kind]["masked_convs"] = n_masked
        checks[kind]["old_form_same_loss"] = bool(same)
        if args.profile:
            checks[kind]["profile"] = step_profile(copy.deepcopy(ours), x)
            checks[kind]["profile_old_form"] = step_profile(copy.deepcopy(slow), x)
        runs = {
            "ours": lambda m=ours, t=timing: train_images_per_second(
                lambda x: m.loss(x)[0], m.parameters(), x, **t
            ),
            "peer": lambda m=peer, t=timing: train_images_per_second(
                m.loss, m.parameters(), x, **t
            ),
        }
        if n_masked and not args.skip_old_form:
            runs["masked"] = lambda m=slow, t=timing: train_images_per_second(
                lambda x: m.loss(x)[0], m.parameters(), x, **t
            )
        got = alternate(runs, args.rounds)
        if "masked" in got:
            rows.append(
                peer_row(
                    f"{ENTRIES[kind]} training, batch {args.batch}: masked convolutions without "
                    f"the rows below the centre ({n_masked} layers)",
                    "ours, old masked form (forward_masked)",
                    got["ours"],
                    got["masked"],
                    unit,
                    higher_is_better=True,
                    params=(n_ours, n_ours),
                )
            )
        rows.append(
            peer_row(
                f"{ENTRIES[kind]}{' (pytorch_generative architecture)' if OVERRIDES[kind] else ''}"
                f" training, batch {args.batch}",
                PEER,
                got["ours"],
                got["peer"],
                unit,
                higher_is_better=True,
                params=(n_ours, n_peer),
                note="" if n_ours == n_peer else "(parameter counts differ: see the docstring)",
            )
        )
    if args.skip_gated:  # the gated line stays, with the date it was measured
        rows += carried_rows("pixelcnn_throughput", lambda r: "gated" in r.get("what", ""))
    load.append(os.getloadavg()[0])
    out = dict(batch=args.batch, rounds=args.rounds, threads=args.threads, load_average=load)
    out.update(checks=checks, peers=rows)
    write_results("pixelcnn_throughput", out)
    return out


if __name__ == "__main__":
    main()
