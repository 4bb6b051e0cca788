"""Order-5 modified Kneser-Ney: fit and scoring cost as the corpus grows (issue 3).

For each text set (zoo's loaders, the whole train stream, the whole test stream): fit wall time
(best of ``--repeats``), peak memory of the fit (tracemalloc: numpy's allocations), distinct
n-grams stored and bytes of peak memory per n-gram, scoring throughput on the test stream and
the fit time per training token relative to the smallest set, so growth with corpus size is
visible (linear counting gives a ratio near 1; sorting adds a log factor).

Peer: KenLM ``lmplz -o 5`` on ptb.char.valid.txt (392k tokens) takes 0.50 s on this kind of
machine (REFERENCE_FIGURES.md, 2026-11-25; the target is at most 3x). zoo's ptb_char train
split is the whole PTB train file as characters (about 5.0M tokens), so the comparison is per
training token; ``benchmarks.ngram_kenlm`` times both on the same file.

    python -m benchmarks.ngram_scaling [--order 5] [--repeats 3] [--sets pydoc_char ptb_char ...]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import tracemalloc
from pathlib import Path

import torch

from zoo.data import DatasetNotFound, load_dataset
from zoo.models.ngram import NGram

RESULTS = Path(__file__).resolve().parent / "results" / "ngram_scaling.json"
SETS = ("pydoc_char", "ptb_char", "shakespeare_char", "shakespeare_word", "ptb_word")
LMPLZ_O5_PTB_CHAR_S = 0.50  # lmplz -o 5 on ptb.char.valid.txt, 392k tokens
LMPLZ_O5_PTB_CHAR_TOKENS = 392_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    print(
        f"{'data set':17} {'train tok':>10} {'n-grams':>10} {'fit s':>7} {'us/tok':>7} "
        f"{'x smallest':>10} {'peak MB':>8} {'B/n-gram':>8} {'score Mtok/s':>12} {'ppl':>9}"
    )
    for name in args.sets:
        try:
            ds = load_dataset(name)
        except DatasetNotFound as e:
            print(f"{name}: skipped ({e})")
            continue
        train, test = ds.meta["streams"]["train"].numpy(), ds.meta["streams"]["test"].numpy()
        fit_s, model = math.inf, None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model = NGram(ds.spec, order=args.order).fit_stream(train)
            fit_s = min(fit_s, time.perf_counter() - t0)
        score_s = math.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            total, n = model.stream_log_prob(test)
            score_s = min(score_s, time.perf_counter() - t0)
        tracemalloc.start()
        NGram(ds.spec, order=args.order).fit_stream(train)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ngrams = sum(model.tables.sizes())
        rows.append(
            {
                "dataset": name,
                "train_tokens": len(train),
                "test_tokens": n,
                "ngrams": ngrams,
                "fit_s": fit_s,
                "us_per_train_token": fit_s / len(train) * 1e6,
                "peak_mb": peak / 2**20,
                "bytes_per_ngram": peak / ngrams,
                "score_tokens_per_s": n / score_s,
                "test_ppl": math.exp(-total / n),
            }
        )
    if not rows:
        print("SUMMARY no data set found")
        return
    base = min(rows, key=lambda r: r["train_tokens"])["us_per_train_token"]
    for r in rows:
        r["per_token_ratio_to_smallest"] = r["us_per_train_token"] / base
        print(
            f"{r['dataset']:17} {r['train_tokens']:10d} {r['ngrams']:10d} {r['fit_s']:7.2f} "
            f"{r['us_per_train_token']:7.2f} {r['per_token_ratio_to_smallest']:10.2f} "
            f"{r['peak_mb']:8.1f} {r['bytes_per_ngram']:8.0f} "
            f"{r['score_tokens_per_s'] / 1e6:12.2f} {r['test_ppl']:9.3f}"
        )
    out = {
        "machine": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "order": args.order,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    ptb = next((r for r in rows if r["dataset"] == "ptb_char"), None)
    slowest = min(r["score_tokens_per_s"] for r in rows)
    worst = max(r["per_token_ratio_to_smallest"] for r in rows)
    lmplz_us = 1e6 * LMPLZ_O5_PTB_CHAR_S / LMPLZ_O5_PTB_CHAR_TOKENS
    ours_us = 1e6 * ptb["fit_s"] / ptb["train_tokens"] if ptb else 0.0
    head = (
        f"ptb_char fit {ours_us:.2f} us/token vs lmplz {lmplz_us:.2f} us/token "
        f"(ratio {ours_us / lmplz_us:.2f}, target <= 3); "
        if ptb
        else ""
    )
    print(
        f"SUMMARY order-{args.order} MKN: {head}scoring >= {slowest / 1e6:.2f} M tokens/s on "
        f"every set; fit time per token grows at most {worst:.2f}x from the smallest set"
    )


if __name__ == "__main__":
    main()
