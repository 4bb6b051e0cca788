"""Sampling 16 binary 28x28 images: naive (one full forward per pixel) vs cached (issue 9).

Models: the small PixelCNN (15 residual blocks x 16 channels, head 32) and the Gated PixelCNN
(10 x 128), untrained (sampling cost does not depend on the weights). The cached path keeps
per-layer activations and computes every layer at the new pixel only (the gated vertical stack
once per row); both paths consume the same pre-drawn uniforms, so for one seed they must draw
the same images. Target: cached >= 20x faster than naive, identical images.

Peer (pytorch-generative @ d1f0a5c, REFERENCE_FIGURES.md, 2026-11-25, 2 threads): 16 small
PixelCNN images in 11.6-13.6 s (784 full forward passes, no cache); 4 Gated PixelCNN images in
151.6 s.

The naive Gated path costs about a second per forward pass on 2 cores (~15 min for 784), so by
default it runs the first ``--naive-pixels`` pixels for real (timed, extrapolated to 784, and
compared with the cached images' first pixels), and checks the rest by teacher forcing: one
forward pass on the cached images gives every pixel's distribution exactly as the naive path
would see it (the model is causal), and the same uniforms must draw the same pixels from it.
``--full-naive`` runs the whole naive path for both models.

Beside the peer: pytorch-generative's small PixelCNN (mirrored layer for layer in
``benchmarks.pixelcnn_throughput``) samples with a full forward pass per pixel; it and our
cached path draw ``--n`` images alternately (``--rounds``, median).

    python -m benchmarks.pixelcnn_sampling [--n 16] [--naive-pixels 56] [--full-naive]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import zoo
from benchmarks.common import alternate, n_params, peer_row, write_results
from benchmarks.pixelcnn_throughput import PeerPixelCNN
from zoo import DataSpec

PEER_NAIVE_4_GATED = 151.6  # seconds, 4 images


def noise(model, n: int, seed: int) -> torch.Tensor:
    """The uniforms ``sample`` draws for this seed (same call as the model makes)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, model.head.noise_channels, model.H, model.W, generator=g)


@torch.no_grad()
def naive_prefix(model, n: int, seed: int, pixels: int) -> tuple[torch.Tensor, float]:
    """The naive path for the first ``pixels`` pixels: the images so far and seconds taken."""
    u = noise(model, n, seed)
    x = torch.zeros(n, 1, model.H, model.W, dtype=torch.long)
    t0 = time.perf_counter()
    for p in range(pixels):
        r, j = divmod(p, model.W)
        params = model.net(model.inputs(x), None)[:, :, r, j]
        x[:, 0, r, j] = model.head.sample_channel(params, u[:, :, r, j], 0)
    return x, time.perf_counter() - t0


@torch.no_grad()
def teacher_forced_matches(model, images: torch.Tensor, seed: int) -> bool:
    """Would the naive path draw ``images``? One causal pass gives each pixel's logits given
    the earlier pixels of ``images``; redraw every pixel from them with the same uniforms."""
    u = noise(model, images.shape[0], seed)
    logits = model.net(model.inputs(images), None)  # [n, 1, H, W]
    redrawn = (u < torch.sigmoid(logits)).long()
    return bool(torch.equal(redrawn, images))


def run(name: str, n: int, seed: int, naive_pixels: int, full_naive: bool) -> dict:
    torch.manual_seed(0)
    model = zoo.create_model(name, DataSpec("image", (1, 28, 28), levels=2)).eval()
    D = model.H * model.W
    t0 = time.perf_counter()
    cached = model.sample(n, generator=torch.Generator().manual_seed(seed), fast=True)
    t_cached = time.perf_counter() - t0
    if full_naive:
        t0 = time.perf_counter()
        naive = model.sample(n, generator=torch.Generator().manual_seed(seed), fast=False)
        t_naive, naive_measured = time.perf_counter() - t0, D
        identical = bool(torch.equal(naive, cached))
    else:
        prefix, t = naive_prefix(model, n, seed, naive_pixels)
        t_naive, naive_measured = t * D / naive_pixels, naive_pixels
        same_prefix = torch.equal(
            prefix.flatten(1)[:, :naive_pixels], cached.flatten(1)[:, :naive_pixels]
        )
        identical = bool(same_prefix and teacher_forced_matches(model, cached, seed))
    return dict(
        model=name,
        params=model.num_parameters(),
        n=n,
        cached_s=t_cached,
        naive_s=t_naive,
        naive_pixels_measured=naive_measured,
        speedup=t_naive / t_cached,
        identical=identical,
        mean_pixel=float(cached.float().mean()),
    )


def peer_pair(n: int, rounds: int) -> dict:
    """Our cached sampling of the small PixelCNN beside pytorch-generative's (mirrored, its
    naive loop: a full forward pass per pixel), alternating."""
    torch.manual_seed(0)
    ours = zoo.create_model("pixelcnn_small_bmnist", DataSpec("image", (1, 28, 28), levels=2))
    peer = PeerPixelCNN()

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    g = torch.Generator().manual_seed(0)
    got = alternate(
        {
            "ours": lambda: timed(lambda: ours.sample(n, generator=g, fast=True)),
            "peer": lambda: timed(lambda: peer.sample(n, g)),
        },
        rounds,
    )
    return peer_row(
        f"sampling {n} binary 28x28 images, PixelCNN 15 x 16",
        "pytorch-generative (mirrored), naive",
        got["ours"],
        got["peer"],
        "s",
        higher_is_better=False,
        params=(ours.num_parameters(), n_params(peer)),
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--naive-pixels", type=int, default=56, help="gated: naive pixels timed")
    ap.add_argument("--full-naive", action="store_true", help="run all 784 naive steps for both")
    ap.add_argument("--skip-gated", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds beside the peer")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [run("pixelcnn_small_bmnist", args.n, args.seed, 784, True)]
    if not args.skip_gated:
        rows.append(
            run("pixelcnn_gated_bmnist", args.n, args.seed, args.naive_pixels, args.full_naive)
        )
    for r in rows:
        how = (
            "measured"
            if r["naive_pixels_measured"] == 784
            else (f"extrapolated from {r['naive_pixels_measured']} pixels")
        )
        print(
            f"{r['model']:24s} {r['n']} images: naive {r['naive_s']:8.1f} s ({how}), cached "
            f"{r['cached_s']:6.2f} s -> {r['speedup']:.1f}x, identical images: {r['identical']}"
        )
    out = dict(
        rows=rows,
        peers=[peer_pair(args.n, args.rounds)],
        peer_naive_4_gated_s=PEER_NAIVE_4_GATED,
    )
    write_results("pixelcnn_sampling", out)
    print(
        "pixelcnn_sampling: "
        + "; ".join(
            f"{r['model'].split('_')[1]} cached {r['cached_s']:.2f} s vs naive "
            f"{r['naive_s']:.1f} s = {r['speedup']:.0f}x (target 20x), identical={r['identical']}"
            for r in rows
        )
    )
    return out


if __name__ == "__main__":
    main()
