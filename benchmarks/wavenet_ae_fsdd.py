"""WaveNet autoencoders on FSDD: each bottleneck trained for a fixed CPU budget, then probed.

    python -m benchmarks.wavenet_ae_fsdd --minutes 3

For each bottleneck (ae, vae, vq; the registry entries ``wavenet_ae_{b}_fsdd``): train with
AdamW for ``--minutes`` on FSDD's train split (2 threads), then report on a fixed subset of the
test split the bound in bits/dim, the decoder's conditional bits/dim, the bottleneck's bitrate
next to the waveform's own, and the probe table (speaker / digit accuracy and mel R^2 at the
four probe points, :mod:`zoo.probing`). The question it answers (Chorowski et al. 2019): does
the VQ bottleneck drop the speaker while keeping the content?

No peer publishes WaveNet-autoencoder probes on FSDD (the paper's are on WSJ and LibriSpeech
with days of GPU training), so there is no peer figure to divide by: the comparison is between
the bottlenecks and against the untrained model's probes (``--untrained``) and the majority
baseline. Results also go to ``benchmarks/results/wavenet_ae_fsdd.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

import zoo
from zoo.bench.probes import speakers_seen_in
from zoo.core.metrics import bits_per_dim
from zoo.data import DatasetNotFound, load_dataset
from zoo.probing import format_table, probe

RESULTS = Path(__file__).resolve().parent / "results" / "wavenet_ae_fsdd.json"


def train(
    model, dataset, *, minutes: float, batch_size: int, lr: float, seed: int, crop: int | None
) -> dict:
    """A plain AdamW loop with a wall-clock budget; returns steps, seconds and last losses.

    ``crop``: train on random crops of this many samples (the model's parameters do not
    depend on the length, so a model trained on crops is evaluated on whole chunks).
    """
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    T = dataset.spec.length
    if crop and crop < T:
        model.spec = model.spec.with_(shape=(crop,))  # validation now expects crops
    model.train()
    split = dataset["train"]
    t0, step, log = time.perf_counter(), 0, []
    while time.perf_counter() - t0 < minutes * 60:
        for x, labels in split.batches(batch_size, shuffle=True, generator=g, drop_last=True):
            if crop and crop < T:
                start = torch.randint(T - crop + 1, (len(x), 1), generator=g)
                x = x.gather(1, start + torch.arange(crop))
            loss, parts = model.loss(x, cond={"speaker": labels["speaker"]})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 25 == 0:
                recon_bpd = float(parts["recon"]) / (x.shape[1] * math.log(2))
                nats = float(loss.detach())
                log.append({"step": step, "loss": nats, "recon_bits_per_dim": recon_bpd})
                print(f"  step {step:5d}  loss {nats:9.1f}  recon {recon_bpd:.3f} bits/dim")
            if time.perf_counter() - t0 >= minutes * 60:
                break
    model.spec = dataset.spec
    model.eval()
    return {"steps": step, "seconds": time.perf_counter() - t0, "crop": crop, "log": log}


@torch.no_grad()
def evaluate(model, dataset, n: int) -> dict:
    test = dataset["test"].subset(slice(0, n))
    lps, metrics = [], []
    for x, labels in test.batches(32):
        cond = {"speaker": labels["speaker"]}
        lps.append(model.log_prob(x, cond=cond))
        metrics.append((len(x), model.extra_metrics(x, cond=cond)))
    total = sum(k for k, _ in metrics)
    avg = {key: sum(k * m[key] for k, m in metrics) / total for key in metrics[0][1]}
    return {"bits_per_dim": bits_per_dim(torch.cat(lps), model.spec.D), **avg}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="training budget per bottleneck")
    ap.add_argument("--bottlenecks", default="ae,vae,vq")
    ap.add_argument("--dataset", default="fsdd", help="fsdd, or spoken_digits without FSDD")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--crop", type=int, default=512, help="train on random crops (0: whole)")
    ap.add_argument("--eval-examples", type=int, default=256, help="test chunks for bits/dim")
    ap.add_argument("--probe-examples", type=int, default=1500, help="chunks per probe split")
    ap.add_argument("--untrained", action="store_true", help="also probe untrained models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        dataset = load_dataset(a.dataset)
    except DatasetNotFound as e:
        raise SystemExit(f"{e}\n(run with --dataset spoken_digits for the embedded set)") from e
    print(dataset.summary())
    results: dict = {
        "dataset": a.dataset,
        "minutes_per_bottleneck": a.minutes,
        "threads": a.threads,
        "speakers_seen_in_training": speakers_seen_in(dataset),
        "runs": {},
    }
    for b in a.bottlenecks.split(","):
        name = f"wavenet_ae_{b}_fsdd"
        torch.manual_seed(a.seed)
        model = zoo.create_model(name, dataset.spec)
        print(f"\n== {name}: {model.num_parameters():,} parameters, bottleneck {b}, "
              f"latents {model.latent_rate:g}/s, decoder receptive field "
              f"{model.receptive_field} samples")  # fmt: skip
        run: dict = {"parameters": model.num_parameters(), "estimate": model.estimate}
        if a.untrained:
            model.eval()
            run["untrained_probes"] = probe(model, dataset, max_examples=a.probe_examples)
            print("untrained probes:\n" + format_table(run["untrained_probes"]))
        run["train"] = train(
            model,
            dataset,
            minutes=a.minutes,
            batch_size=a.batch_size,
            lr=a.lr,
            seed=a.seed,
            crop=a.crop or None,
        )
        run["eval"] = evaluate(model, dataset, a.eval_examples)
        t0 = time.perf_counter()
        run["probes"] = probe(model, dataset, max_examples=a.probe_examples)
        run["probe_seconds"] = time.perf_counter() - t0
        ev = run["eval"]
        print(
            f"{name}: {run['train']['steps']} steps in {run['train']['seconds']:.0f} s; test "
            f"{ev['bits_per_dim']:.3f} bits/dim ({model.estimate}), decoder "
            f"{ev['decoder_bits_per_dim']:.3f} bits/dim given z; bottleneck "
            f"{ev['bottleneck_bits_per_s']:,.0f} bit/s vs waveform "
            f"{ev['waveform_bits_per_s']:,.0f} bit/s"
        )
        print(format_table(run["probes"]))
        results["runs"][b] = run

    def acc(b: str, point: str, target: str, metric: str = "accuracy") -> float:
        for r in results["runs"].get(b, {}).get("probes", []):
            if (r["point"], r["target"], r["metric"]) == (point, target, metric):
                return r["value"]
        return math.nan

    print("\npeer: none published for WaveNet-autoencoder probes on FSDD (see module doc)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    parts = []
    for b in results["runs"]:
        ev = results["runs"][b]["eval"]
        parts.append(
            f"{b}: {ev['bits_per_dim']:.2f} bpd, {ev['bottleneck_bits_per_s']:,.0f} bit/s, "
            f"speaker {acc(b, 'encoder', 'speaker'):.2f}->{acc(b, 'bottleneck', 'speaker'):.2f}"
            f", digit {acc(b, 'encoder', 'digit'):.2f}->{acc(b, 'bottleneck', 'digit'):.2f}"
        )
    print(f"wavenet_ae_fsdd ({a.minutes:g} min each, {a.dataset}): " + "; ".join(parts))
    return results


if __name__ == "__main__":
    main()
