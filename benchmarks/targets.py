"""The issues' quality targets, checked on the committed boards.

Each target names a board row (a registry entry), the quantity read from it, a comparison and
a threshold: a number (``Target("nade_bmnist", "nats", "<=", 90.5, ...)``) or another row of
the same board (``Target("pixelcnn_pp_mnist", "bits_per_dim", "<", "ngram_mkn3_pixels_mnist8",
...)``: the threshold is that row's value). :func:`check` reads ``board_standard.json`` (or
any exported board) and says, per target, ``met``, ``missed`` (with the gap: measured minus
threshold, in the quantity's unit) or ``no row`` (the entry, or the row it is compared
against, is not on the board). Beside the listed targets, :func:`row_checks` applies the
issues' rules that hold for every row: a trained model took at least :data:`MIN_STEPS` steps,
a VQ bottleneck uses at least half of its codes, a VAE keeps at least :data:`MIN_ACTIVE`
active units, and no row carries a flag (the export's baseline, collapse and configuration
checks; the add-one n-gram over pixels is a true finding and stays flagged).

The docs' page ``docs/targets.md`` is generated from this (``python docs/gen.py``), so a
target's verdict on the site is always the committed board's.

    python -m benchmarks.targets [--board benchmarks/results/board_standard.json]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

MIN_STEPS = 1000  # issue 31 item 3: no standard row trains for fewer steps
MIN_ACTIVE = 5  # issue 31 item 2: active units a VAE keeps, on images and audio
MIN_CODES_FRACTION = 0.5  # issue 31 item 1: share of its codebook a VQ bottleneck uses
TRUE_FINDINGS = {"ngram_add1_pixels"}  # flagged rows that are findings, not failures

QUANTITIES = {  # name: (label, unit of a gap, where in a row)
    "nats": ("test nats per image", "nats"),
    "bits_per_dim": ("bits/dim", "bits/dim"),
    "bits_per_char": ("bits/char", "bits/char"),
    "stream_perplexity": ("test perplexity over the stream", "ppl"),
}
OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class Target:
    """Row ``entry``'s ``quantity`` ``op`` ``threshold`` (a number, or another entry's row)."""

    entry: str
    quantity: str
    op: str
    threshold: float | str
    issue: int
    why: str = ""  # where the threshold comes from

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ValueError(f"unknown quantity {self.quantity!r}: one of {sorted(QUANTITIES)}")
        if self.op not in OPS:
            raise ValueError(f"unknown comparison {self.op!r}: one of {sorted(OPS)}")


TARGETS: tuple[Target, ...] = (
    # issue 27 item 5: neural text rows beat the best n-gram on their data set
    *(
        Target(e, "bits_per_char", "<=", 2.35, 27, "Tiny Shakespeare, below the 5-gram's 2.50")
        for e in ("lstm_shakespeare_char", "transformer_char_shakespeare")
    ),
    *(
        Target(e, "bits_per_char", "<=", 1.60, 27, "PTB characters, below the 5-gram")
        for e in ("lstm_ptb_char", "transformer_char_ptb")
    ),
    *(
        Target(
            e, "stream_perplexity", "<=", 125.0, 27, "PTB words (KN5 141.2; Zaremba small 114.5)"
        )
        for e in ("lstm_ptb_word", "transformer_word_ptb")
    ),
    *(
        Target(e, "bits_per_dim", "<", ngram, 27, "the best n-gram on the same test set")
        for e, ngram in (
            ("lstm_shakespeare_char", "ngram_mkn5_shakespeare_char"),
            ("transformer_char_shakespeare", "ngram_mkn5_shakespeare_char"),
            ("lstm_ptb_char", "ngram_mkn5_char"),
            ("transformer_char_ptb", "ngram_mkn5_char"),
            ("lstm_ptb_word", "ngram_kn5_word"),
            ("transformer_word_ptb", "ngram_kn5_word"),
        )
    ),
    # issue 28 item 4: the ladder below PixelCNN, and the flow
    Target("fvsbn_bmnist", "nats", "<=", 100.0, 28, "FVSBN 97.45 (Larochelle & Murray 2011)"),
    Target("nade_bmnist", "nats", "<=", 90.5, 28, "NADE 88.86 (Larochelle & Murray 2011)"),
    Target("made_bmnist", "nats", "<=", 90.0, 28, "MADE one mask 88.40 (Germain et al. 2015)"),
    Target("made_bmnist_masks", "nats", "<=", 88.5, 28, "MADE 32-mask ensemble 86.64"),
    Target("flow_mnist8", "bits_per_dim", "<=", 1.367, 28, "the conv VAE's ELBO on 8-bit MNIST"),
    Target(
        "flow_mnist8", "bits_per_dim", "<", "independent_mnist8", 28, "the independent baseline"
    ),
    # issue 31 item 3: the issue-12 targets and PixelCNN++ against the 3-gram
    Target("pixelcnn_small_bmnist", "nats", "<=", 89.43, 31, "issue 12's PixelCNN target"),
    Target("pixelrnn_rowlstm_bmnist", "nats", "<=", 88.59, 31, "issue 12's Row LSTM target"),
    Target("pixelcnn_pp_mnist", "bits_per_dim", "<", "ngram_mkn3_pixels_mnist8", 31, "the 3-gram"),
)


def value(row: dict[str, Any], quantity: str) -> float | None:
    """``quantity`` of a board row (None where the row has no such figure)."""
    if quantity == "nats":
        v = row.get("nats_per_example")
    elif quantity == "stream_perplexity":
        v = (row.get("extra") or {}).get("stream_perplexity")
    else:
        v = row.get(quantity)
    return None if v is None or not math.isfinite(v) else float(v)


def best_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per model, the test split's (the board's own choice where there are several:
    the lowest bits/dim)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("split", "test") != "test":
            continue
        if r["model"] not in out or r["bits_per_dim"] < out[r["model"]]["bits_per_dim"]:
            out[r["model"]] = r
    return out


def check(record: dict[str, Any], targets: tuple[Target, ...] = TARGETS) -> list[dict[str, Any]]:
    """Per target: ``{target, measured, threshold, verdict, gap}``; verdict in ``met``,
    ``missed`` or ``no row`` (``gap`` = measured - threshold, None unless both exist)."""
    rows = best_rows(record.get("rows") or [])
    out = []
    for t in targets:
        row = rows.get(t.entry)
        measured = value(row, t.quantity) if row else None
        if isinstance(t.threshold, str):
            ref = rows.get(t.threshold)
            threshold = value(ref, t.quantity) if ref else None
        else:
            threshold = float(t.threshold)
        if measured is None or threshold is None:
            verdict, gap = "no row", None
        else:
            verdict = "met" if OPS[t.op](measured, threshold) else "missed"
            gap = measured - threshold
        out.append(
            {
                "target": t,
                "measured": measured,
                "threshold": threshold,
                "verdict": verdict,
                "gap": gap,
            }
        )
    return out


def row_checks(
    record: dict[str, Any], *, min_steps: int | None = MIN_STEPS
) -> list[dict[str, Any]]:
    """The rules for every row: ``{model, rule, measured, verdict}`` for each row a rule
    applies to (``min_steps=None``: no step rule, as on the quick board, whose budgets are a
    demo's)."""
    out = []
    for r in best_rows(record.get("rows") or []).values():
        extra = r.get("extra") or {}
        steps = r.get("train_steps") or 0
        if min_steps is not None and steps > 1:  # count-based fits record 0 or 1 steps
            out.append(_rule(r, f"trained for >= {min_steps:,} steps", steps, steps >= min_steps))
        num_codes = extra.get("num_codes")
        if num_codes and extra.get("codes_used") is not None:
            share = float(extra["codes_used"]) / float(num_codes)
            out.append(
                _rule(
                    r,
                    f"uses >= {MIN_CODES_FRACTION:.0%} of its codes",
                    f"{int(extra['codes_used'])} of {int(num_codes)}",
                    share >= MIN_CODES_FRACTION,
                )
            )
        if extra.get("active_units") is not None:
            active = int(extra["active_units"])
            out.append(
                _rule(r, f"keeps >= {MIN_ACTIVE} active units", active, active >= MIN_ACTIVE)
            )
        flags = r.get("flags") or []
        if flags and r["model"] not in TRUE_FINDINGS:
            out.append(_rule(r, "carries no flag", "; ".join(flags), False))
    return sorted(out, key=lambda c: (c["verdict"] == "met", c["model"], c["rule"]))


def _rule(row: dict[str, Any], rule: str, measured: Any, ok: bool) -> dict[str, Any]:
    return {
        "model": row["model"],
        "rule": rule,
        "measured": measured,
        "verdict": "met" if ok else "missed",
    }


DECIMALS = {"nats": 2, "stream_perplexity": 1}  # others: 3


def _num(x: float | None, quantity: str) -> str:
    return "" if x is None else f"{x:.{DECIMALS.get(quantity, 3)}f}"


def markdown(record: dict[str, Any], *, min_steps: int | None = MIN_STEPS) -> str:
    """The targets table and the failing row rules, as markdown."""
    lines = [
        "| issue | entry | quantity | target | measured | verdict | gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in check(record):
        t = c["target"]
        label, unit = QUANTITIES[t.quantity]
        if isinstance(t.threshold, str):
            goal = f"{t.op} `{t.threshold}` ({_num(c['threshold'], t.quantity) or 'no row'})"
        else:
            goal = f"{t.op} {_num(c['threshold'], t.quantity)}"
        gap = "" if c["gap"] is None or c["verdict"] == "met" else f"+{c['gap']:.3g} {unit}"
        why = f" ({t.why})" if t.why else ""
        lines.append(
            f"| #{t.issue} | `{t.entry}` | {label} | {goal}{why} | "
            f"{_num(c['measured'], t.quantity)} | {c['verdict']} | {gap} |"
        )
    return "\n".join(lines) + "\n\n" + rules_markdown(record, min_steps=min_steps)


def rules_markdown(record: dict[str, Any], *, min_steps: int | None = MIN_STEPS) -> str:
    """The rules for every row (:func:`row_checks`): how many hold, and the rows that fail."""
    rules = row_checks(record, min_steps=min_steps)
    missed = [c for c in rules if c["verdict"] != "met"]
    lines = [
        f"Rules for every row: {len(rules) - len(missed)} of {len(rules)} checks met"
        + ("; the others:" if missed else ".")
    ]
    if missed:
        lines += ["", "| entry | rule | measured |", "|---|---|---|"]
        lines += [f"| `{c['model']}` | {c['rule']} | {c['measured']} |" for c in missed]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=str(RESULTS / "board_standard.json"))
    a = ap.parse_args(argv)
    print(markdown(json.loads(Path(a.board).read_text())), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
