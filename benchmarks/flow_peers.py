"""The flow side by side with ``normflows`` (VincentStimper/normalizing-flows): its Glow
multiscale (``nf.MultiscaleFlow`` of ``GlowBlock``s, ``Squeeze`` and ``Merge``, a ``GlowBase``
per level, as in its README's Glow example) against ``zoo.models.flow:Flow`` on 8-bit MNIST.

The peer's configuration is its example's: ``L`` levels of ``K`` Glow blocks (actnorm, LU
1x1 convolution, affine coupling with a 3x3-1x1-3x3 network of ``hidden`` channels, sigmoid
scale), split by channel, with its example's dequantisation (``x / 256 + U(0, 1/256)``: a
density on ``[0, 1)``, so its bits/dim add ``log2 256 = 8``). The example uses L = 3, K = 16,
hidden = 256 on CIFAR-10; MNIST's 28 x 28 halves only twice, so L = 2 here. Ours is set as
close as our layers allow: ``scales = L + 1`` (our last scale has no squeeze), ``steps = K /
2`` per half scale (our scales put K/2 checkerboard steps before each squeeze and K/2 channel
steps after it, the peer K channel steps after), ``invconv = True``, ``hidden`` the same,
uniform dequantisation with its log-Jacobian on ``[0, 256)``. Differences that stay: our
checkerboard half, our logistic base (the peer: a learnt diagonal Gaussian per level), our
tanh-bounded exp scale (the peer: sigmoid), and our coupling network also sees the mask.

Measured, alternating in one process (benchmarks.common.alternate): training images/s at
batch ``--batch`` and test bits/dim after ``--steps`` steps of Adam (lr 1e-3, same batches)
on ``--test`` test images. Results: benchmarks/results/flow_peers.json (with the load average:
the machine is shared, so absolute speeds are noisy; the ratio is what to read).

    python -m benchmarks.flow_peers [--K 4 --hidden 64 --steps 200 --batch 64]

The committed results come from the defaults (about 2 CPU minutes, in a slot of the shared
machine). Throughput is timed in CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch

import zoo
from benchmarks.common import (
    alternate,
    cannot_import,
    n_params,
    peer_row,
    train_images_per_second,
    write_results,
)
from zoo.models.flow import Flow


def normflows_glow(nf, shape: tuple[int, int, int], L: int, K: int, hidden: int):
    """normflows' README Glow example, unconditional (``GlowBase`` without classes)."""
    c, h, w = shape
    q0, merges, flows = [], [], []
    for i in range(L):
        flows_ = [
            nf.flows.GlowBlock(c * 2 ** (L + 1 - i), hidden, split_mode="channel", scale=True)
            for _ in range(K)
        ]
        flows_ += [nf.flows.Squeeze()]
        flows += [flows_]
        if i > 0:
            merges += [nf.flows.Merge()]
            latent = (c * 2 ** (L - i), h // 2 ** (L - i), w // 2 ** (L - i))
        else:
            latent = (c * 2 ** (L + 1), h // 2**L, w // 2**L)
        q0 += [nf.distributions.GlowBase(latent)]
    return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def peer_log_prob(model, x: torch.Tensor, levels: int) -> torch.Tensor:
    """The peer's bound in nats on the discrete data: its density on [0, 1) at
    ``(x + u) / K``, minus ``D log K`` for the rescaling."""
    t = (x.float() + torch.rand(x.shape)) / levels
    return model.log_prob(t, None) - x[0].numel() * math.log(levels)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=2)
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200, help="training steps per side")
    ap.add_argument("--test", type=int, default=1000, help="test images scored")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timed-steps", type=int, default=5)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    try:
        import normflows as nf
    except Exception as e:  # noqa: BLE001 - reported, then skipped
        print(cannot_import("normflows", e))
        return {}
    data = zoo.load_dataset(args.dataset)
    spec = data.spec
    shape = tuple(spec.shape)
    torch.manual_seed(0)
    ours = Flow(
        spec, scales=args.L + 1, steps=max(1, args.K // 2), hidden=args.hidden, invconv=True
    )
    peer = normflows_glow(nf, shape, args.L, args.K, args.hidden)
    train = data["train"]
    batches = [x for x, _ in train.batches(args.batch)]

    def ours_loss(x):
        return ours.loss(x)[0]

    def peer_loss(x):
        return -peer_log_prob(peer, x, spec.levels).mean()

    # one step each first: actnorm's data-dependent initialisation on a real batch
    x0 = batches[0]
    for m, f in ((ours, ours_loss), (peer, peer_loss)):
        m.train()
        f(x0).backward()
        m.zero_grad()

    def timed(loss_fn, model) -> float:
        return train_images_per_second(
            loss_fn, model.parameters(), x0, steps=args.timed_steps, warmup=1,
            clock=time.process_time,
        )  # fmt: skip

    speed = alternate(
        {"ours": lambda: timed(ours_loss, ours), "peer": lambda: timed(peer_loss, peer)},
        rounds=args.rounds,
    )
    # bits/dim at equal steps (fresh copies, the same batches in the same order)
    torch.manual_seed(0)
    ours = Flow(
        spec, scales=args.L + 1, steps=max(1, args.K // 2), hidden=args.hidden, invconv=True
    )
    peer = normflows_glow(nf, shape, args.L, args.K, args.hidden)
    opts = {
        "ours": (ours, ours_loss, torch.optim.Adam(ours.parameters(), 1e-3)),
        "peer": (peer, peer_loss, torch.optim.Adam(peer.parameters(), 1e-3)),
    }
    for step in range(args.steps):
        x = batches[step % len(batches)]
        for m, f, opt in opts.values():
            m.train()
            loss = f(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 100.0)
            opt.step()
    test = data["test"].subset(slice(0, args.test))
    bpd = {}
    with torch.no_grad():
        for name, (m, _, _) in opts.items():
            m.eval()
            torch.manual_seed(1)
            lp = [
                (ours.log_prob(x) if name == "ours" else peer_log_prob(peer, x, spec.levels))
                for x, _ in test.batches(250)
            ]
            bpd[name] = float(-torch.cat(lp).mean() / (spec.D * math.log(2)))
    params = (n_params(ours), n_params(peer))
    rows = [
        peer_row(
            f"flow training, {args.dataset}, batch {args.batch}",
            "normflows Glow",
            speed["ours"],
            speed["peer"],
            "img/s",
            higher_is_better=True,
            params=params,
        ),
        peer_row(
            f"flow test bits/dim after {args.steps} steps ({args.test} test images)",
            "normflows Glow",
            bpd["ours"],
            bpd["peer"],
            "bits/dim",
            higher_is_better=False,
            params=params,
        ),
    ]
    fields = {
        "command": "python -m benchmarks.flow_peers " + " ".join(sys.argv[1:] or argv or []),
        "config": vars(args),
        "clock": "CPU seconds of this process (one thread)",
        "test_bits_per_dim": bpd,
        "rows": rows,
        "peers": rows,
        "loadavg": os.getloadavg(),
        "load_average": [*load, os.getloadavg()[0]],
        "cpus": os.cpu_count(),
        "normflows": getattr(nf, "__version__", "unknown"),
    }
    if not args.no_write:
        write_results("flow_peers", fields)
    return fields


if __name__ == "__main__":
    main()
