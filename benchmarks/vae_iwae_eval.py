"""IWAE-k evaluation beside pythae's ``get_nll`` at equal k and equal memory, in one process.

One network (the registry's ``vae_bmnist``: 784-200-200-50 tanh, Bernoulli decoder), ours and
pythae 0.1.2's ``VAE`` around a deep copy of it (``benchmarks/pythae_peer.py``). Both estimate
``-log p(x)`` with k importance samples on the same random binary images:

- pythae: ``get_nll(x, n_samples=k, batch_size=M)``: one image at a time, M samples per
  decoder pass;
- ours: ``log_prob(x, k=k)`` with ``iwae_batch = M`` over groups of ``--group`` images, so a
  decoder pass also holds M (image, sample) rows: the same memory.

Both run under ``torch.no_grad()``; alternating rounds (``--rounds``, median). The two
estimates are printed too (independent draws: they agree to sampling noise, not exactly).

    python -m benchmarks.vae_iwae_eval [--k 500] [--images 20] [--memory 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks import pythae_peer
from benchmarks.common import alternate, n_params, peer_row, write_results
from zoo.core.spec import DataSpec
from zoo.models.vae import VAE

MLP = dict(encoder="mlp", hidden=(200, 200), activation="tanh", latent_dim=50)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=500, help="importance samples")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--memory", type=int, default=100, help="rows per decoder pass, both sides")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.k % args.memory or args.memory % min(args.memory, args.images):
        raise SystemExit("--k must be a multiple of --memory (pythae drops the remainder)")
    torch.set_num_threads(args.threads)
    why = pythae_peer.import_error()
    if why:
        print(f"{why}; no quoted figure exists for this pair, nothing to compare")
        out = dict(peers=[], skipped=why)
        write_results("vae_iwae_eval", out)
        return out
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 28, 28), levels=2, name="random 28x28 binary")
    ours = VAE(spec, iwae_batch=args.memory, **MLP).eval()
    peer = pythae_peer.vae(ours, (1, 28, 28)).eval()
    x = torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13
    group = max(1, min(args.images, args.memory))
    nll: dict[str, float] = {}

    @torch.no_grad()
    def run_ours() -> float:
        t0 = time.perf_counter()
        lp = torch.cat(
            [ours.log_prob(x[i : i + group].long(), k=args.k) for i in range(0, args.images, group)]
        )
        nll["ours"] = -float(lp.mean())
        return time.perf_counter() - t0

    @torch.no_grad()
    def run_peer() -> float:
        t0 = time.perf_counter()
        # get_nll returns the mean log p(x) estimate despite its name
        nll["peer"] = -float(peer.get_nll(x.float(), n_samples=args.k, batch_size=args.memory))
        return time.perf_counter() - t0

    got = alternate({"ours": run_ours, "peer": run_peer}, args.rounds)
    row = peer_row(
        f"IWAE-{args.k} evaluation of {args.images} images, {args.memory} rows per pass",
        "pythae 0.1.2 VAE.get_nll",
        got["ours"],
        got["peer"],
        "s",
        higher_is_better=False,
        params=(ours.num_parameters(), n_params(peer)),
        note=f"(-log p(x) ours {nll['ours']:.2f}, pythae {nll['peer']:.2f} nats)",
    )
    out = dict(
        k=args.k,
        images=args.images,
        memory=args.memory,
        rounds=args.rounds,
        nll_nats=nll,
        peers=[row],
    )
    write_results("vae_iwae_eval", out)
    return out


if __name__ == "__main__":
    main()
