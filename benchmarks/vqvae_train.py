"""Train VQ-VAEs for a fixed CPU budget; report both bounds in bits/dim and codebook use.

For each data set (binarized MNIST and FSDD speech by default) this builds the registry entry
(``vqvae_bmnist``, ``vqvae_fsdd``), trains it in its two phases (autoencoder, then the learned
prior over the frozen codes) on the entry's phase split of ``--minutes``, and evaluates on the
test split:

- bits/dim with the uniform prior, ``(-log p(x|z) + L log K) / (D ln 2)``;
- bits/dim with the learned prior, ``(-log p(x|z) - log p_prior(z)) / (D ln 2)``;
- the reconstruction term alone, codebook perplexity and the number of codes used.

No peer publishes these figures on this data; beside ours the benchmark prints the closed-form
independent-values baseline (each dimension's smoothed training histogram), the floor any
latent model must beat, and the ratio. The inline loop is Adam with a constant learning rate.

    python -m benchmarks.vqvae_train [--minutes 3] [--datasets binarized_mnist fsdd]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

import zoo
from zoo.core.spec import DataSpec
from zoo.data import DatasetNotFound, load_dataset
from zoo.models.vqvae import VQVAE
from zoo.nn.quantizer import code_perplexity

ENTRIES = {
    "binarized_mnist": "vqvae_bmnist",
    "fsdd": "vqvae_fsdd",
    "digits": "vqvae_digits",
    "spoken_digits": "vqvae_spoken_digits",
    "cifar10": "vqvae_cifar10",
}
RESULTS = Path(__file__).resolve().parent / "results" / "vqvae_train.json"
LN2 = math.log(2.0)


def independent_bits_per_dim(train: torch.Tensor, test: torch.Tensor, spec: DataSpec) -> float:
    """Bits/dim of the model that draws every dimension from its own training histogram."""
    k = spec.levels
    flat_train = train.reshape(len(train), -1).long()
    counts = torch.zeros(flat_train.shape[1], k, dtype=torch.float64)
    counts.scatter_add_(1, flat_train.t(), torch.ones_like(flat_train.t(), dtype=torch.float64))
    logp = torch.log((counts + 0.5) / (counts.sum(1, keepdim=True) + 0.5 * k))  # [D, K]
    flat_test = test.reshape(len(test), -1).long()
    nll = -logp.gather(1, flat_test.t()).sum(0)  # [N]
    return float(nll.mean()) / (spec.D * LN2)


@torch.no_grad()
def evaluate(model: VQVAE, x: torch.Tensor, batch: int) -> dict[str, float]:
    """Both bounds, reconstruction and codebook use over all of ``x``."""
    model.eval()
    recon, prior, codes = [], [], []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].long()
        c = model.encode(xb)
        recon.append(model._recon_log_prob(xb, model.decode(c)).double())
        prior.append(model._prior_log_prob(c).double())
        codes.append(c)
    recon_nll = -float(torch.cat(recon).mean())
    denom = model.spec.D * LN2
    all_codes = torch.cat(codes)
    out = {
        "recon_bits_per_dim": recon_nll / denom,
        "bits_per_dim_uniform": (recon_nll + model.num_latents * math.log(model.num_codes)) / denom,
        "codebook_perplexity": float(code_perplexity(all_codes, model.num_codes)),
        "codes_used": int(torch.unique(all_codes).numel()),
        "num_codes": model.num_codes,
        "latents_per_example": model.num_latents,
    }
    if model.prior is not None:
        out["bits_per_dim_prior"] = (recon_nll - float(torch.cat(prior).mean())) / denom
    return out


def train_phase(
    model: VQVAE, phase: str, x: torch.Tensor, seconds: float, batch: int, lr: float, seed: int
) -> dict[str, float]:
    model.set_phase(phase)
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    g = torch.Generator().manual_seed(seed)
    steps, t0, last = 0, time.perf_counter(), {}
    while time.perf_counter() - t0 < seconds:
        idx = torch.randint(len(x), (batch,), generator=g)
        loss, parts = model.loss(x[idx].long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(opt.param_groups[0]["params"], 1.0)
        opt.step()
        steps += 1
        last = {"loss": float(loss.detach()), **{k: float(v) for k, v in parts.items()}}
    return {"steps": steps, "seconds": round(time.perf_counter() - t0, 1), **last}


def run(name: str, minutes: float, eval_examples: int, seed: int) -> dict | None:
    entry = zoo.get_entry(ENTRIES[name])
    try:
        data = load_dataset(name, **entry.data)
    except DatasetNotFound as e:
        print(f"{name}: skipped ({e})")
        return None
    torch.manual_seed(seed)
    model = zoo.create_model(entry.name, data.spec)
    batch, lr = int(entry.train.get("batch_size", 32)), float(entry.train.get("lr", 1e-3))
    train_x = data["train"].x
    test_x = data["test"].x[:eval_examples]
    phases = {}
    for phase, frac in zip(model.phases, model.phase_fractions):
        phases[phase] = train_phase(model, phase, train_x, minutes * 60 * frac, batch, lr, seed)
        print(f"  {name} phase {phase}: {phases[phase]}")
    metrics = evaluate(model, test_x, batch=256)
    floor = independent_bits_per_dim(train_x, test_x, data.spec)
    return {
        "dataset": name,
        "entry": entry.name,
        "prior": model.hparams.get("prior", "uniform"),
        "spec": repr(data.spec),
        "test_examples": len(test_x),
        "parameters": model.num_parameters(),
        "minutes": minutes,
        "phases": phases,
        **metrics,
        "independent_bits_per_dim": floor,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="CPU budget per data set")
    ap.add_argument(
        "--datasets", nargs="+", default=["binarized_mnist", "fsdd"], choices=sorted(ENTRIES)
    )
    ap.add_argument("--eval-examples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = [
        r for name in args.datasets if (r := run(name, args.minutes, args.eval_examples, args.seed))
    ]
    print(
        f"{'data set':16s} {'uniform':>8s} {'prior':>8s} {'recon':>8s} {'indep.':>8s} "
        f"{'ratio':>6s} {'perplex.':>9s} {'used':>9s}   (bits/dim; ratio = prior / indep.)"
    )
    for r in rows:
        best = r.get("bits_per_dim_prior", r["bits_per_dim_uniform"])
        print(
            f"{r['dataset']:16s} {r['bits_per_dim_uniform']:8.4f} "
            f"{r.get('bits_per_dim_prior', float('nan')):8.4f} {r['recon_bits_per_dim']:8.4f} "
            f"{r['independent_bits_per_dim']:8.4f} {best / r['independent_bits_per_dim']:6.3f} "
            f"{r['codebook_perplexity']:9.1f} {r['codes_used']:4d}/{r['num_codes']:<4d}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "vqvae_train",
                "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "torch": torch.__version__,
                "threads": args.threads,
                "machine": platform.platform(),
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    summary = "; ".join(
        f"{r['dataset']} {r['bits_per_dim_uniform']:.3f} uniform / "
        f"{r.get('bits_per_dim_prior', float('nan')):.3f} learned prior bits/dim "
        f"(independent {r['independent_bits_per_dim']:.3f}, "
        f"{r['codes_used']}/{r['num_codes']} codes)"
        for r in rows
    )
    print(f"VQ-VAE {args.minutes:g} min/data set: {summary}")


if __name__ == "__main__":
    main()
