"""Lossless compression: zoo models with an entropy coder against general-purpose compressors.

For each data set's test split, the same bytes go to every compressor: image levels one byte
each (binary images also bit-packed; the smaller is kept and named), text as its characters
with a newline per ``</s>`` (UTF-8), audio as the 8-bit mu-law samples of each test recording
once (FSDD's test recordings, quantised as ``zoo.data.speech`` does; the data set's 2,048-sample
chunks overlap at every recording's end and would hand LZ compressors free repeats).

Rows: each zoo model's ``-log2 p(x)`` (its exact log-likelihood of those values), the size of
its ``zoo compress`` archive (header included) and the archive's overhead over ``-log2 p``,
encode and decode throughput; gzip -9, bz2 -9, xz -9e, zstd -19, brotli -q 11 (window 2^24)
and, for images, one optimised PNG of all test images tiled in a column. Models are trained
here with fixed seeds and step budgets (n-grams are counted in seconds), so sizes are a
function of the code, the data and the budgets; throughput depends on the machine and its
load and is labelled so.

    python -m benchmarks.compression [--only digits,ptb_char,wavenet_speed,wavenet_overhead]
                                     [--steps-scale 1.0]
                                     [--max-test N]   # a prefix of each test split (labelled)
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import lzma
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import zoo
from benchmarks.common import write_results
from zoo.coding import compress, container, decompress
from zoo.coding.coder import Decoder, Encoder
from zoo.coding.conditionals import code_lanes
from zoo.engine.checkpoint import load_model, read_config
from zoo.engine.runs import train_run
from zoo.models.ngram import NGram

# data set -> [(registry entry, training steps or None for a count-based fit)]
MODELS = {
    "digits": [("pixelcnn_digits", 150), ("ngram_add1_pixels", None)],
    "binarized_mnist": [
        ("pixelcnn_small_bmnist", 600),  # with SMALLER below: minutes on a shared CPU
        ("ngram_mkn5_pixels_bmnist", None),
        ("vae_bmnist", 3000),  # bits-back: a VAE's ELBO as a file size
    ],
    "ptb_char": [("ngram_mkn5_char", None)],
    "shakespeare_char": [("ngram_mkn5_shakespeare_char", None)],
    "fsdd": [("ngram_mkn4_fsdd", None)],
}
BATCH_SIZE = {"pixelcnn_digits": 64, "pixelcnn_small_bmnist": 16, "vae_bmnist": 100}
ELBO_DRAWS = 10  # a VAE's -ELBO: the mean of this many one-draw estimates over the split
# hyper-parameters changed from the registry entry's (named in the results)
SMALLER = {"pixelcnn_small_bmnist": {"blocks": 2}}
# default subsets of test splits, labelled in the results (none: every split is coded whole;
# --max-test N codes a prefix for quick runs)
MAX_TEST: dict[str, int] = {}


# ---------------------------------------------------------------------- baselines
def generic_sizes(data: bytes) -> dict[str, int]:
    import brotli
    import zstandard

    return {
        "gzip -9": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "bz2 -9": len(bz2.compress(data, compresslevel=9)),
        "xz -9e": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
        "zstd -19": len(zstandard.ZstdCompressor(level=19).compress(data)),
        "brotli -q 11": len(brotli.compress(data, quality=11, lgwin=24)),
    }


def png_size(x: np.ndarray, levels: int) -> int:
    from PIL import Image

    N, C, H, W = x.shape
    column = x.transpose(0, 2, 3, 1).reshape(N * H, W, C)
    if levels == 2 and C == 1:
        img = Image.fromarray(column[:, :, 0].astype(bool))
    else:
        img = Image.fromarray(column[:, :, 0] if C == 1 else column, "L" if C == 1 else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return len(buf.getvalue())


def image_baselines(x: np.ndarray, levels: int) -> dict[str, dict]:
    raw = generic_sizes(x.astype(np.uint8).tobytes())
    out = {k: {"bytes": v, "input": "one byte per value"} for k, v in raw.items()}
    if levels == 2:
        packed = generic_sizes(np.packbits(x.reshape(-1)).tobytes())
        for k, v in packed.items():
            if v < out[k]["bytes"]:
                out[k] = {"bytes": v, "input": "bit-packed values"}
    out["PNG (optimised)"] = {"bytes": png_size(x, levels), "input": "one PNG, images tiled"}
    return out


# ---------------------------------------------------------------------- the zoo's rows
def trained_run(entry: str, steps: int | None, root: Path, scale: float) -> tuple[Path, int]:
    run = root / entry
    train = {"seed": 0, "device": "cpu", "eval_every": 10**9, "checkpoint_every": 10**9}
    if steps is not None:
        steps = max(1, int(steps * scale))
        train.update(max_steps=steps, batch_size=BATCH_SIZE.get(entry, 32))
    torch.manual_seed(0)  # the initial weights (train_run builds the model before seeding)
    train_run(entry, run_dir=run, train=train, hparams=SMALLER.get(entry))
    return run, steps or 0


def split_row(run: Path, entry: str, steps: int, tmp: Path, max_test: int | None) -> dict:
    """Compress the run's test split through ``zoo compress`` and decompress it back."""
    model = load_model(run)
    config = read_config(run)
    loaded = (model, config, container.model_checksum(model, config))
    ds = zoo.load_dataset(config["dataset"], **(config.get("data_options") or {}))
    text = isinstance(model, NGram) and "streams" in ds.meta  # coded as its token stream
    stream = ds.meta["streams"]["test"] if text else None
    split = f"test[:{max_test}]" if max_test is not None and not text else "test"
    archive = tmp / f"{entry}.zc"
    r = compress(run, [], archive, split=split, loaded=loaded)
    d = decompress(archive, tmp / f"{entry}.npz", loaded=loaded)
    back = np.load(d["written"][0])
    want = stream.numpy() if stream is not None else ds["test"].x[:max_test].numpy()
    got = back["stream"] if "stream" in back else back["x"]
    exact = bool(np.array_equal(got, want))
    draws = []  # the model's own log-likelihood (or -ELBO), not the coder's tables
    with torch.no_grad():
        if stream is not None:
            draws.append(-model.stream_log_prob(stream)[0])
        else:
            x = ds["test"].x[:max_test].long()
            for seed in range(ELBO_DRAWS if model.estimate == "elbo" else 1):
                torch.manual_seed(seed)  # a VAE's ELBO: one-draw estimates, averaged
                draws.append(
                    -sum(float(model.log_prob(x[i : i + 500]).sum()) for i in range(0, len(x), 500))
                )
    nats = float(np.mean(draws))
    out = row(entry, steps, nats / math.log(2), r, d["decode_seconds"], exact)
    if entry in SMALLER:
        out["hparams_changed"] = SMALLER[entry]
    if r["coding"]["coder"] == "bits-back-ans":
        c = r["coding"]
        out.update(
            estimate=f"elbo (bits-back; model_bits: the mean of {len(draws)} one-draw -ELBOs)",
            neg_elbo_draw_std_bits=float(np.std(draws) / math.log(2)),
            neg_elbo_first_draw_bits=draws[0] / math.log(2),
            net_bits=c["net_bits"],
            net_vs_neg_elbo_pct=100 * (c["net_bits"] / out["model_bits"] - 1),
            initial_bits_in_file=c["seed_bits"],
            first_example_pop_bits=c["first_pop_bits"],
            latent_grid_step=2.0 ** -c["latent_bits"],
        )
    return out


def row(entry, steps, model_bits, r, decode_s, exact) -> dict:
    return {
        "model": entry,
        "train_steps": steps,
        "model_bits": model_bits,
        "file_bytes": r["bytes"],
        "header_bytes": r["header_bytes"],
        "payload_over_model_bits_pct": 100 * (8 * r["payload_bytes"] / model_bits - 1),
        "bits_per_symbol": 8 * r["bytes"] / r["symbols"],
        "round_trip_exact": exact,
        "encode_symbols_per_s": r["symbols"] / r["encode_seconds"],
        "decode_symbols_per_s": r["symbols"] / decode_s,
    }


# ---------------------------------------------------------------------- data sets
def text_bytes(stream: np.ndarray, vocab: tuple[str, ...]) -> bytes:
    return "".join("\n" if t == 0 else vocab[t] for t in stream.tolist()).encode("utf-8")


def fsdd_recordings() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, test) recordings as mu-law levels, quantised as the FSDD loader does."""
    from zoo.data.base import data_root
    from zoo.data.speech import quantize_waveform, read_audio

    files = sorted((data_root() / "fsdd" / "recordings").glob("*.wav"))
    out: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for f in files:
        take = int(f.stem.split("_")[2])
        split = "test" if take < 5 else "train" if take >= 10 else None
        if split:
            w, sr = read_audio(f)
            out[split].append(quantize_waveform(w, sr, target_rate=8000, levels=256).numpy())
    return out["train"], out["test"]


def fsdd_row(entry: str, tmp: Path) -> tuple[dict, bytes, int]:
    """The n-gram fitted on the training recordings codes each test recording as one lane."""
    train, test = fsdd_recordings()
    spec = zoo.load_dataset("fsdd").spec
    order = zoo.get_entry(entry).hparams["order"]
    model = NGram(spec, order=order).fit_stream(np.concatenate(train))
    lengths = [len(q) for q in test]
    t0 = time.perf_counter()
    enc = Encoder()
    code_lanes(model, lengths, enc, test)
    payload = enc.finish()
    header = {"model": {"entry": entry, "family": "ngram"}, "lanes": lengths}
    size = len(container.pack(header, payload))
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = code_lanes(model, lengths, Decoder(payload))
    dec_s = time.perf_counter() - t0
    exact = all(np.array_equal(a, b) for a, b in zip(back, test))
    nats = -sum(float(model.token_log_probs(q).sum()) for q in test)
    r = {"bytes": size, "header_bytes": size - len(payload), "payload_bytes": len(payload),
         "symbols": sum(lengths), "encode_seconds": enc_s}  # fmt: skip
    out = row(entry + " (fitted on the train recordings)", 0, nats / math.log(2), r, dec_s, exact)
    return out, np.concatenate(test).astype(np.uint8).tobytes(), sum(lengths)


def run_dataset(
    name: str, tmp: Path, scale: float, max_test: int | None, keep: set[str] | None = None
) -> dict:
    rows = []
    max_test = max_test if max_test is not None else MAX_TEST.get(name)
    if name == "fsdd":
        fs_row, data, symbols = fsdd_row(MODELS["fsdd"][0][0], tmp)
        rows.append(fs_row)
        base = {k: {"bytes": v, "input": "mu-law bytes"} for k, v in generic_sizes(data).items()}
        what = f"FSDD test recordings (takes 0-4), {len(data)} mu-law samples, each once"
    else:
        for entry, steps in MODELS[name]:
            if keep and entry not in keep:
                continue
            run, used = trained_run(entry, steps, tmp / "runs", scale)
            rows.append(split_row(run, entry, used, tmp, max_test))
        ds = zoo.load_dataset(name)
        if "streams" in ds.meta:
            stream = ds.meta["streams"]["test"].numpy()
            data = text_bytes(stream, ds.spec.vocab)
            base = {k: {"bytes": v, "input": "text"} for k, v in generic_sizes(data).items()}
            symbols, what = len(stream), f"{name} test stream, {len(stream)} tokens with </s>"
        else:
            x = ds["test"].x.numpy()[:max_test]
            base = image_baselines(x, ds.spec.levels)
            symbols, what = x.size, f"{name} test split, {len(x)} images, {x.size} values"
        if max_test is not None and "streams" not in ds.meta:
            what += f" (SUBSET: the first {max_test} test images)"
    best = min(rows, key=lambda r: r["file_bytes"])
    generic_best = min(base["xz -9e"]["bytes"], base["zstd -19"]["bytes"])
    for v in base.values():
        v["bits_per_symbol"] = 8 * v["bytes"] / symbols
    return {
        "data": what,
        "symbols": symbols,
        "models": rows,
        "baselines": base,
        "best_model": best["model"],
        "best_beats_xz_and_zstd": best["file_bytes"] < generic_best,
    }


def wavenet_speed(seconds: float = 1.0, rounds: int = 7) -> dict:
    """Decode vs sample: 1 s of 16 kHz audio with the generation benchmark's WaveNet (random
    weights: speed does not depend on them), one sequence, one thread, both on the fast loop;
    sampling and decoding alternate for ``rounds`` rounds in this process (the machine's load
    changes under both alike). The headline is the median over rounds of decode / sample
    within a round (a pair run back to back); the ratio of the two medians is kept beside it."""
    from benchmarks.wavenet_generation import CONFIG, SAMPLE_RATE
    from zoo.coding.conditionals import code_batch
    from zoo.models.wavenet import WaveNet

    T = int(seconds * SAMPLE_RATE)
    spec = zoo.DataSpec("audio", (T,), levels=256, sample_rate=SAMPLE_RATE)
    torch.manual_seed(0)
    model = WaveNet(spec, **CONFIG).eval()
    x = model.sample(1, generator=torch.Generator().manual_seed(0))
    enc = Encoder()
    t0 = time.perf_counter()
    code_batch(model, 1, enc, x=x)
    encode_s = time.perf_counter() - t0
    payload = enc.finish()
    sample_s, decode_s, exact = [], [], True
    load_at_start = os.getloadavg()[0]
    for r in range(rounds):
        g = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        model.sample(1, generator=g)
        sample_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        back = code_batch(model, 1, Decoder(payload))
        decode_s.append(time.perf_counter() - t0)
        exact = exact and bool(torch.equal(back, x))
    return {
        "config": CONFIG,
        "samples": T,
        "load_average_at_start": load_at_start,
        "rounds": rounds,
        "sample_seconds_each": sample_s,
        "decode_seconds_each": decode_s,
        "sample_seconds": float(np.median(sample_s)),
        "encode_seconds": encode_s,
        "decode_seconds": float(np.median(decode_s)),
        "decode_over_sample": float(np.median(np.array(decode_s) / np.array(sample_s))),
        "ratio_of_medians": float(np.median(decode_s) / np.median(sample_s)),
        "round_trip_exact": exact,
    }


def wavenet_coding_overhead(steps: int = 1000, rounds: int = 100) -> dict:
    """What each path adds per sample to the bare network step: the sampler's draw (its noise
    block's share, an add, an argmax) against the decoder's coding (the table, constriction's
    decode), and, as the floor of any decode through constriction, its decode call alone on a
    fixed table. The model of :func:`wavenet_speed`; runs of ``steps`` samples of four kinds
    (a loop whose draw is a constant: the bare network; that loop drawing with constriction's
    decode from a stream coded under one fixed table; sampling; decoding) in a random order
    within each of ``rounds`` rounds, timed in this process's CPU time. Short interleaved runs
    see the same machine state, where 16,000-sample rounds drift by up to half on a shared
    host; each figure is the median over rounds of a run minus its round's bare run."""
    from benchmarks.wavenet_generation import CONFIG, SAMPLE_RATE
    from zoo.coding.conditionals import code_batch, single_thread
    from zoo.models.wavenet import WaveNet, _FastSampler

    spec = zoo.DataSpec("audio", (steps,), levels=256, sample_rate=SAMPLE_RATE)
    torch.manual_seed(0)
    model = WaveNet(spec, **CONFIG).eval()
    x = model.sample(1, generator=torch.Generator().manual_seed(0))
    enc = Encoder()
    code_batch(model, 1, enc, x=x)
    payload = enc.finish()
    constant = np.zeros(1, np.int64)
    exact = True
    fixed = np.exp(np.random.default_rng(0).standard_normal((1, 256)))  # one table, kept hot
    fixed_enc = Encoder()
    for v in np.random.default_rng(1).integers(0, 256, steps):
        fixed_enc(fixed, np.array([v]))
    fixed_payload = fixed_enc.finish()

    def bare() -> None:
        _FastSampler(model, 1, None)._run_numpy(steps, None, None, pick=lambda params: constant)

    def coder_alone() -> None:
        decode = Decoder(fixed_payload).decode_int32
        _FastSampler(model, 1, None)._run_numpy(steps, None, None, pick=lambda p: decode(fixed))

    def sample() -> None:
        model.sample(1, generator=torch.Generator().manual_seed(1))

    def decode() -> None:
        nonlocal exact
        exact = exact and bool(torch.equal(code_batch(model, 1, Decoder(payload)), x))

    runs = {"bare": bare, "coder_alone": coder_alone, "sample": sample, "decode": decode}
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    order = np.random.default_rng(0)
    with single_thread():
        for _ in range(rounds):
            for k in order.permutation(list(runs)):
                t0 = time.process_time()
                runs[k]()
                seconds[k].append(time.process_time() - t0)
    s = {k: np.array(v) for k, v in seconds.items()}
    us = 1e6 / steps
    return {
        "config": CONFIG,
        "steps": steps,
        "rounds": rounds,
        "clock": "process CPU time",
        "load_average_at_end": os.getloadavg()[0],
        "bare_us_per_sample": float(np.median(s["bare"]) * us),
        "sample_over_bare_us": float(np.median(s["sample"] - s["bare"]) * us),
        "coder_call_alone_over_bare_us": float(np.median(s["coder_alone"] - s["bare"]) * us),
        "decode_over_bare_us": float(np.median(s["decode"] - s["bare"]) * us),
        "decode_over_sample": float(np.median(s["decode"] / s["sample"])),
        "round_trip_exact": exact,
    }


def _conditions(w: dict) -> str:
    """What the machine was doing while the WaveNet rows were timed, as the record says it."""
    if "conditions" in w:
        return w["conditions"]
    if "load_average_at_start" in w:
        return f"load average {w['load_average_at_start']:.2f} at the start"
    return "machine state not recorded"


def markdown_table(record: dict) -> str:
    """The README table: bits per symbol of the best zoo model's file and of each compressor."""
    names = ["gzip -9", "bz2 -9", "xz -9e", "zstd -19", "brotli -q 11", "PNG (optimised)"]
    lines = [
        "| data (test split) | symbols | zoo model | model -log2 p | zoo file | "
        + " | ".join(names) + " |",
        "|---" * (5 + len(names)) + "|",
    ]  # fmt: skip
    for name, d in record["datasets"].items():
        best = next(r for r in d["models"] if r["model"] == d["best_model"])
        cells = []
        for n in names:
            b = d["baselines"].get(n)
            cells.append(f"{b['bits_per_symbol']:.4f}" if b else "")
        lines.append(
            f"| {name} | {d['symbols']:,} | {best['model']} | "
            f"{best['model_bits'] / d['symbols']:.4f} | **{best['bits_per_symbol']:.4f}** | "
            + " | ".join(cells) + " |"
        )  # fmt: skip
    return "\n".join(lines)


def targets(record: dict) -> list[str]:
    """Issue 14's targets checked against a results record, one line each (met / NOT met)."""
    lines = []

    def say(ok: bool, text: str) -> None:
        lines.append(f"{'met' if ok else 'NOT met'}: {text}")

    for name, d in record["datasets"].items():
        subset = "SUBSET" in d["data"]
        for r in d["models"]:
            if "net_bits" in r:  # bits-back: the rate against -ELBO, the overhead apart
                say(
                    abs(r["net_vs_neg_elbo_pct"]) <= 1 and not subset,
                    f"{name} {r['model']}: bits-back net rate {r['net_bits']:,.0f} bits vs "
                    f"-ELBO {r['model_bits']:,.0f} ({r['net_vs_neg_elbo_pct']:+.3f}%, within 1%"
                    f"{'; a SUBSET' if subset else ''}); first-example overhead apart: "
                    f"{r['initial_bits_in_file']} initial bits in the file",
                )
                continue
            over = r["payload_over_model_bits_pct"]
            say(
                over <= 0.1 and r["round_trip_exact"] and not subset,
                f"{name} {r['model']}: payload {over:+.4f}% over -log2 p (<= 0.1%), header "
                f"{r['header_bytes']} bytes, round trip "
                f"{'exact' if r['round_trip_exact'] else 'NOT exact'}"
                + ("; a SUBSET of the split" if subset else ""),
            )
        base = d["baselines"]
        best = next(r for r in d["models"] if r["model"] == d["best_model"])
        say(
            d["best_beats_xz_and_zstd"],
            f"{name}: best zoo model {best['model']} {best['bits_per_symbol']:.4f} bits/symbol "
            f"vs xz -9e {base['xz -9e']['bits_per_symbol']:.4f}, zstd -19 "
            f"{base['zstd -19']['bits_per_symbol']:.4f}",
        )
    w = record.get("wavenet_decode_vs_sample")
    if w:
        say(
            w["decode_over_sample"] <= 1 and w["round_trip_exact"],
            f"WaveNet 1 s of 16 kHz: decode {w['decode_seconds']:.2f} s vs sampling "
            f"{w['sample_seconds']:.2f} s (ratio {w['decode_over_sample']:.2f}; "
            f"{_conditions(w)})",
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", help="comma-separated data sets (default: all five)")
    p.add_argument("--steps-scale", type=float, default=1.0, help="scale the training budgets")
    p.add_argument(
        "--max-test",
        type=int,
        help="code only the first N test images (default: every test image; a subset is "
        "labelled in the results)",
    )
    p.add_argument("--models", help="comma-separated registry entries: only these models' rows")
    p.add_argument("--table", action="store_true", help="print the README table and exit")
    p.add_argument(
        "--targets", action="store_true", help="check issue 14's targets on the results and exit"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads for training and scoring (coding always uses one); on a "
        "loaded shared CPU more threads than free cores slow training down many times",
    )
    a = p.parse_args()
    if a.table or a.targets:
        path = Path(__file__).resolve().parent / "results" / "compression.json"
        record = json.loads(path.read_text())
        print(markdown_table(record) if a.table else "\n".join(targets(record)))
        return
    torch.set_num_threads(a.threads)
    names = a.only.split(",") if a.only else [*MODELS, "wavenet_speed", "wavenet_overhead"]
    results, speed, overhead = {}, None, None
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            t0 = time.perf_counter()
            if name == "wavenet_speed":
                speed = wavenet_speed()
                print(name, speed)
                continue
            if name == "wavenet_overhead":
                overhead = wavenet_coding_overhead()
                print(name, overhead)
                continue
            keep = set(a.models.split(",")) if a.models else None
            results[name] = run_dataset(name, Path(d), a.steps_scale, a.max_test, keep)
            results[name]["wall_seconds"] = time.perf_counter() - t0
            print(name, results[name]["best_model"], results[name]["best_beats_xz_and_zstd"])
    if a.only:  # a partial run updates the results file's other entries in place
        previous = Path(__file__).resolve().parent / "results" / "compression.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            if a.models:  # only some models ran: keep the other models' rows
                for name, d in results.items():
                    was = old.get("datasets", {}).get(name)
                    if was is not None:
                        ran = {r["model"] for r in d["models"]}
                        keep = [r for r in was["models"] if r["model"] not in ran]
                        merged = keep + d["models"]
                        d["models"] = merged
                        best = min(merged, key=lambda r: r["file_bytes"])
                        d["best_model"] = best["model"]
                        d["best_beats_xz_and_zstd"] = best["file_bytes"] < min(
                            d["baselines"]["xz -9e"]["bytes"], d["baselines"]["zstd -19"]["bytes"]
                        )
            results = {**old.get("datasets", {}), **results}
            speed = speed or old.get("wavenet_decode_vs_sample")
            overhead = overhead or old.get("wavenet_coding_overhead")
    path = write_results(
        "compression",
        {
            "datasets": results,
            "wavenet_decode_vs_sample": speed,
            "wavenet_coding_overhead": overhead,
            "steps_scale": a.steps_scale,
            "max_test": a.max_test or MAX_TEST,
            "throughput_note": "symbols per second on this machine under its load at the time "
            "(a shared 2-core CPU); sizes do not depend on it",
        },
    )
    print(path)


if __name__ == "__main__":
    main()
