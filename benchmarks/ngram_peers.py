"""n-gram scoring beside the ``kenlm`` module, and fit + scoring beside NLTK, in one process.

Full Penn Treebank, word level (ptb.train.txt -> ptb.test.txt, ``<unk>`` as the plain word
``UNK``, one ``</s>`` per sentence, 82,430 test tokens; ``benchmarks.ngram_kenlm`` for the
corpus rules):

- **kenlm** (``pip install kenlm``, 0.3.0): our interpolated modified Kneser-Ney model of
  order ``--order`` is fitted and written as an ARPA file; ``kenlm.Model`` and
  ``NGram.from_arpa`` both load that file (each builds its hash tables there), then score
  every test line (its words and ``</s>``), alternating (``--kenlm-rounds``, median):
  kenlm with ``Model.score(line, bos=True, eos=True)`` (log10); ours from the id stream
  (``token_log_probs``, the library's input), from the same lines of words
  (``line_log_probs``: the word -> id encoding included, kenlm's input) and, for reference,
  by the numpy path (``jit=False``, what runs without numba). The same three lines for
  KenLM's own order-5 ARPA file of PTB characters (``datasets/kenlm/ptb-char-valid.o5.arpa``,
  written by ``lmplz``) on ptb.char.test. Every perplexity must equal kenlm's to 1e-6
  relative. The times are CPU seconds of this process (both sides single-threaded in it: the
  machine is shared, and CPU time leaves out what the OS gave to others); each row also
  keeps the wall seconds of every round and their ratio (``wall_ratio``). ``jit_compile``
  records the seconds a first call pays to compile the loops without the on-disk cache (not
  in the timings: steady state), and ``first_call_s`` each line's first call in this
  process (flattening the tables, loading the cached code).
- **NLTK** (3.10.4): ``KneserNeyInterpolated(3)`` against our default ``NGram`` (modified
  Kneser-Ney, order 3) on the same training sentences: fit time, and scoring time
  per token over the first ``--nltk-tokens`` test tokens (NLTK scores one token per call).

A peer that does not import is named with the reason, and its quoted figure
(REFERENCE_FIGURES.md) stands in.

    python -m benchmarks.ngram_peers [--order 5] [--rounds 3] [--kenlm-rounds 15]
        [--nltk-tokens 200] [--skip-nltk]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import (
    alternate,
    cannot_import,
    carried_rows,
    peer_row,
    quoted_row,
    write_results,
)
from benchmarks.ngram_kenlm import kenlm_corpus
from zoo.core.spec import DataSpec
from zoo.data import data_root, word_ids
from zoo.data.text import encode, read_lines, tokenize
from zoo.data.word_ids import WordIds
from zoo.models import ngram_jit
from zoo.models.ngram import NGram

QUOTED_NLTK = {"fit_s": 13.0, "ms_per_token": 74.0}  # REFERENCE_FIGURES.md, lower ends
KENLM_VERSION = "0.3.0"
TINY = DataSpec("text", (4,), levels=4, vocab=("</s>", "<unk>", "a", "b"), eos=0, unk=1)


def timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def timed_cpu(fn, wall: list[float]) -> tuple[object, float]:
    """(fn(), CPU seconds of this process while it ran); its wall seconds go to ``wall``.
    Both sides run single-threaded in this process, so CPU time is their work without the
    time the OS gave to other processes (the machine is shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    c1, t1 = time.process_time(), time.perf_counter()
    wall.append(t1 - t0)
    return out, c1 - c0


def jit_compile_seconds() -> dict[str, float | None]:
    """Seconds to compile the scoring loop and the word encoder from scratch (no on-disk
    cache), on a tiny input: what a first call pays in a fresh environment; later processes
    load the cached machine code (``cache=True``)."""
    if not (ngram_jit.available() and word_ids.available()):
        return {"score_loop_s": None, "word_ids_s": None}
    import numba

    t = NGram(TINY, order=3).fit_stream(np.array([2, 3, 0, 2, 0])).tables
    flat = ngram_jit.flatten(t)
    loop = numba.njit(cache=False)(ngram_jit._score_loop)
    S = np.array([2, 3, 0], np.int64)
    args = (S, t.bos, 0, 3, t.W, flat.rec, flat.rec.view(np.float64), flat.rec_off, flat.M)
    tail = (flat.ext1, flat.logp1, flat.bo1, flat.closed, 1.0, np.empty(3))
    _, s1 = timed(lambda: loop(*args, *tail))
    enc = numba.njit(cache=False)(word_ids._encode)
    e = WordIds(TINY.vocab, unk=1, eos=0)
    tab, mask, blob, off, ids = e._compiled_table()
    buf = np.frombuffer(b"a b\n", np.uint8)
    _, s2 = timed(
        lambda: enc(buf, word_ids._SPACE, tab, mask, blob, off, ids, 1, 0, np.empty(5, np.int64))
    )
    return {"score_loop_s": s1, "word_ids_s": s2}


def kenlm_pair(
    path: Path, spec: DataSpec | None, lines: list[str], what: str, rounds: int
) -> list[dict]:
    """kenlm.Model and NGram.from_arpa load the same ARPA file; each scores every line (its
    words and ``</s>``), alternating: kenlm by ``Model.score(line, bos=True, eos=True)``,
    ours from ids (encoded beforehand), from the words (``line_log_probs``: encoding
    included) and, for reference, by the numpy path from ids. The perplexities must agree
    to 1e-6 relative."""
    try:
        import kenlm
    except Exception as e:  # missing, or a build that does not load
        why = cannot_import("kenlm", e) + "; its quoted `query` time includes loading: no ratio"
        print(why)
        return [{"what": "kenlm", "skipped": why}]
    theirs = kenlm.Model(str(path))
    ours = NGram.from_arpa(path, spec)
    assert ours.tables is not None
    ours.tables.hashed()  # built at load, as kenlm.Model builds its probing tables
    ids = WordIds(ours.spec.vocab, unk=ours.spec.unk, eos=ours.spec.eos).encode_lines(lines)
    N = len(ids)
    first: dict[str, float] = {}
    _, first["ids_s"] = timed(lambda: ours.token_log_probs(ids))  # flattens (+ cache load)
    _, first["words_s"] = timed(lambda: ours.line_log_probs(lines))
    ppl: dict[str, float] = {}
    wall: dict[str, list[float]] = {k: [] for k in ("ids", "words", "numpy", "peer")}

    def perplexity(lp: np.ndarray) -> float:
        return math.exp(-math.fsum(lp) / len(lp))

    def run_peer() -> float:
        total, s = timed_cpu(
            lambda: sum(theirs.score(line, bos=True, eos=True) for line in lines), wall["peer"]
        )
        ppl["kenlm"] = 10 ** (-total / N)
        return s

    def run(name, fn):
        def go() -> float:
            lp, s = timed_cpu(fn, wall[name])
            ppl[name] = perplexity(lp)
            return s

        return go

    got = alternate(
        {
            "ids": run("ids", lambda: ours.token_log_probs(ids)),
            "words": run("words", lambda: ours.line_log_probs(lines)),
            "numpy": run("numpy", lambda: ours.token_log_probs(ids, jit=False)),
            "peer": run_peer,
        },
        rounds,
    )
    for k in ("ids", "words", "numpy"):
        if not math.isclose(ppl[k], ppl["kenlm"], rel_tol=1e-6):
            raise RuntimeError(f"perplexities differ: ours ({k}) {ppl[k]}, kenlm {ppl['kenlm']}")
    note = f"(perplexity ours {ppl['ids']:.6f}, kenlm {ppl['kenlm']:.6f}; {N:,} tokens)"
    peer = f"kenlm {KENLM_VERSION} Model.score"
    rows = []
    for key, label in (
        ("ids", "ids"),
        ("words", "words (encoding included)"),
        ("numpy", "ids, numpy path (no numba)"),
    ):
        row = peer_row(
            f"{what}, {label}", peer, got[key], got["peer"], "CPU s", higher_is_better=False,
            note=note,
        )  # fmt: skip
        row["wall_ours_rounds"], row["wall_peer_rounds"] = wall[key], wall["peer"]
        row["wall_ratio"] = statistics.median(wall["peer"]) / statistics.median(wall[key])
        row["perplexity"] = {"ours": ppl[key], "kenlm": ppl["kenlm"]}
        row["tokens"] = N
        row["first_call_s"] = first.get(f"{key}_s")
        rows.append(row)
    return rows


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


def _numba_version() -> str | None:
    try:
        import numba
    except Exception:
        return None
    return numba.__version__


def _commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        return None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (NLTK)")
    ap.add_argument("--kenlm-rounds", type=int, default=15, help="alternating rounds (kenlm)")
    ap.add_argument("--nltk-tokens", type=int, default=200)
    ap.add_argument("--skip-nltk", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    jit_compile = jit_compile_seconds()  # the machine's load: ratios alternate sides, times do not
    ptb = data_root() / "ptb"
    train_p, test_p = ptb / "ptb.train.txt", ptb / "ptb.test.txt"
    if not train_p.exists() or not test_p.exists():
        raise SystemExit(f"{train_p} or {test_p} missing: see ../shared/datasets/SOURCES.md")
    spec, train, _, tr = kenlm_corpus(train_p, test_p, True)
    te = [["UNK" if t == "<unk>" else t for t in s] for s in tokenize(read_lines(test_p), "word")]
    model = NGram(spec, order=args.order).fit_stream(train)
    lines = [" ".join(x) for x in te]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ptb.arpa"
        model.to_arpa(path)
        what = f"order-{args.order} scoring of full PTB test from one ARPA file"
        rows = kenlm_pair(path, model.spec, lines, what, args.kenlm_rounds)
    char = data_root() / "kenlm" / "ptb-char-valid.o5.arpa"
    if char.exists():  # a file written by KenLM's lmplz itself (datasets/SOURCES.md)
        text = read_lines(ptb / "ptb.char.test.txt")
        while text and not text[-1].strip():
            text.pop()
        what = "order-5 scoring of PTB char test from KenLM's own ARPA (lmplz, ptb.char.valid)"
        rows += kenlm_pair(char, None, text, what, args.kenlm_rounds)
    if not args.skip_nltk:
        rows += nltk_pair(spec, train, tr, te, args.nltk_tokens, args.rounds)
    else:  # NLTK's lines stay, with the date they were measured
        rows += carried_rows("ngram_peers", lambda r: "NLTK" in r.get("peer", ""))
    load.append(os.getloadavg()[0])
    out = dict(order=args.order, rounds=args.rounds, kenlm_rounds=args.kenlm_rounds)
    out.update(load_average=load, cpus=os.cpu_count(), numba=_numba_version())
    out["jit_compile"] = jit_compile
    out["commit"] = _commit()
    out["peers"] = rows
    write_results("ngram_peers", out)
    return out


if __name__ == "__main__":
    main()
