"""n-gram scoring beside the ``kenlm`` module, and fit + scoring beside NLTK, in one process.

Full Penn Treebank, word level (ptb.train.txt -> ptb.test.txt, ``<unk>`` as the plain word
``UNK``, one ``</s>`` per sentence, 82,430 test tokens; ``benchmarks.ngram_kenlm`` for the
corpus rules):

- **kenlm** (``pip install kenlm``, 0.3.0): our interpolated modified Kneser-Ney model of
  order ``--order`` is fitted and written as an ARPA file; ``kenlm.Model`` and
  ``NGram.from_arpa`` both load that file (each builds its hash tables there), then score
  the whole test set, alternating
  (``--rounds``, median): kenlm with full-sentence ``Model.score(sentence, bos=True,
  eos=True)`` (log10), ours with ``token_log_probs`` on the id stream (the library's input)
  and, as a second line, with the word-to-id encoding included (kenlm's input: words). The
  two perplexities are printed and must agree to 1e-4 relative.
- **NLTK** (3.10.4): ``KneserNeyInterpolated(3)`` against our default ``NGram`` (modified
  Kneser-Ney, order 3) on the same training sentences: fit time, and scoring time
  per token over the first ``--nltk-tokens`` test tokens (NLTK scores one token per call).

A peer that does not import is named with the reason, and its quoted figure
(REFERENCE_FIGURES.md) stands in.

    python -m benchmarks.ngram_peers [--order 5] [--rounds 3] [--nltk-tokens 200] [--skip-nltk]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import alternate, cannot_import, peer_row, quoted_row, write_results
from benchmarks.ngram_kenlm import kenlm_corpus
from zoo.data import data_root
from zoo.data.text import encode, read_lines, tokenize
from zoo.models.ngram import NGram

QUOTED_NLTK = {"fit_s": 13.0, "ms_per_token": 74.0}  # REFERENCE_FIGURES.md, lower ends


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def kenlm_pair(model: NGram, test_sents: list[list[str]], rounds: int) -> list[dict]:
    try:
        import kenlm
    except Exception as e:  # missing, or a build that does not load
        why = cannot_import("kenlm", e) + "; its quoted `query` time includes loading: no ratio"
        print(why)
        return [{"what": "kenlm", "skipped": why}]
    N = sum(len(s) + 1 for s in test_sents)
    lines = [" ".join(s) for s in test_sents]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ptb.arpa"
        model.to_arpa(path)
        theirs = kenlm.Model(str(path))
        ours = NGram.from_arpa(path, model.spec)
        ours.tables.hashed()  # built at load, as kenlm.Model builds its probing tables
    vocab = ours.spec.vocab
    ids = encode(test_sents, vocab)[0]
    ppl: dict[str, float] = {}

    def run_peer() -> float:
        total, s = timed(lambda: sum(theirs.score(line, bos=True, eos=True) for line in lines))
        ppl["kenlm"] = 10 ** (-total / N)
        return s

    def run_ours() -> float:
        lp, s = timed(lambda: ours.token_log_probs(ids))
        ppl["ours"] = math.exp(-float(lp.sum()) / len(lp))
        return s

    def run_ours_words() -> float:
        return timed(lambda: ours.token_log_probs(encode(test_sents, vocab)[0]))[1]

    got = alternate({"ours": run_ours, "words": run_ours_words, "peer": run_peer}, rounds)
    if not math.isclose(ppl["ours"], ppl["kenlm"], rel_tol=1e-4):
        raise RuntimeError(f"perplexities differ: ours {ppl['ours']}, kenlm {ppl['kenlm']}")
    note = f"(perplexity ours {ppl['ours']:.4f}, kenlm {ppl['kenlm']:.4f}; {N:,} tokens)"
    what = f"order-{model.order} scoring of full PTB test from one ARPA file"
    return [
        peer_row(
            f"{what}, ids",
            "kenlm 0.3.0 Model.score",
            got["ours"],
            got["peer"],
            "s",
            higher_is_better=False,
            note=note,
        ),
        peer_row(
            f"{what}, words (encoding included)",
            "kenlm 0.3.0 Model.score",
            got["words"],
            got["peer"],
            "s",
            higher_is_better=False,
            note=note,
        ),
    ]


def nltk_pair(
    spec, train: np.ndarray, tr: list[list[str]], te: list[list[str]], tokens: int, rounds: int
) -> list[dict]:
    """Fit (alternating) and per-token scoring of NLTK's KneserNeyInterpolated(3) vs ours."""
    pairs = [(s[max(0, j - 2) : j], w) for s in te for j, w in enumerate([*s, "</s>"])][:tokens]
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except Exception as e:
        fit = NGram(spec, order=3)
        return [
            quoted_row(
                "order-3 fit, full PTB",
                "NLTK",
                lambda: timed(lambda: fit.fit_stream(train))[1],
                QUOTED_NLTK["fit_s"],
                "s",
                higher_is_better=False,
                why=cannot_import("nltk", e),
            )
        ]
    lm: dict = {}

    def fit_peer() -> float:
        def go():
            grams, vocab = padded_everygram_pipeline(3, tr)
            m = KneserNeyInterpolated(3)
            m.fit(grams, vocab)
            return m

        lm["nltk"], s = timed(go)
        return s

    def fit_ours() -> float:
        lm["ours"], s = timed(lambda: NGram(spec, order=3).fit_stream(train))
        return s

    fit = alternate({"ours": fit_ours, "peer": fit_peer}, rounds)
    ids = [encode([[*h, w]], spec.vocab)[0][:-1] for h, w in pairs]

    def score_peer() -> float:
        m = lm["nltk"]
        hist = [["<s>"] * (2 - len(h)) + list(h) for h, _ in pairs]
        return (
            timed(lambda: [m.logscore(w, hh) for hh, (_, w) in zip(hist, pairs)])[1]
            / len(pairs)
            * 1e3
        )

    def score_ours() -> float:  # one call per token too: the same access pattern
        m = lm["ours"]
        return timed(lambda: [m.next_token_log_probs(c[:-1]) for c in ids])[1] / len(pairs) * 1e3

    score = alternate({"ours": score_ours, "peer": score_peer}, rounds)
    return [
        peer_row(
            "order-3 fit, full PTB (930k tokens)",
            "NLTK 3.10.4 KneserNeyInterpolated(3)",
            fit["ours"],
            fit["peer"],
            "s",
            higher_is_better=False,
        ),
        peer_row(
            f"order-3 scoring, one call per token ({len(pairs)} test tokens)",
            "NLTK 3.10.4 KneserNeyInterpolated(3).logscore",
            score["ours"],
            score["peer"],
            "ms/token",
            higher_is_better=False,
            note="(ours returns the whole next-word distribution per call)",
        ),
    ]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nltk-tokens", type=int, default=200)
    ap.add_argument("--skip-nltk", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    load = [os.getloadavg()[0]]  # the machine's load: ratios alternate sides, times do not
    ptb = data_root() / "ptb"
    train_p, test_p = ptb / "ptb.train.txt", ptb / "ptb.test.txt"
    if not train_p.exists() or not test_p.exists():
        raise SystemExit(f"{train_p} or {test_p} missing: see ../shared/datasets/SOURCES.md")
    spec, train, _, tr = kenlm_corpus(train_p, test_p, True)
    te = [["UNK" if t == "<unk>" else t for t in s] for s in tokenize(read_lines(test_p), "word")]
    model = NGram(spec, order=args.order).fit_stream(train)
    rows = kenlm_pair(model, te, args.rounds)
    if not args.skip_nltk:
        rows += nltk_pair(spec, train, tr, te, args.nltk_tokens, args.rounds)
    load.append(os.getloadavg()[0])
    out = dict(order=args.order, rounds=args.rounds, load_average=load, cpus=os.cpu_count())
    out["peers"] = rows
    write_results("ngram_peers", out)
    return out


if __name__ == "__main__":
    main()
