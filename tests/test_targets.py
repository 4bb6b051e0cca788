"""The issues' targets (benchmarks/targets.py): verdicts flip at the threshold, a missing row
is said to be missing, comparisons read the other row, and the docs page is the committed
board's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import targets as T
from zoo.engine.registry import get_entry

ROOT = Path(__file__).resolve().parents[1]


def _row(model: str, bpd: float = 1.0, **fields):
    return {"model": model, "split": "test", "bits_per_dim": bpd, "train_steps": 5000, **fields}


@given(st.floats(80.0, 100.0), st.floats(-5.0, 5.0))
def test_a_threshold_target_is_met_exactly_when_the_figure_is_at_most_it(threshold, delta):
    target = T.Target("m", "nats", "<=", threshold, 0)
    (c,) = T.check({"rows": [_row("m", nats_per_example=threshold + delta)]}, (target,))
    assert c["verdict"] == ("met" if threshold + delta <= threshold else "missed")
    assert c["gap"] == pytest.approx(delta, abs=1e-9)


def test_a_comparison_reads_the_other_row_and_a_tie_does_not_beat_it():
    target = T.Target("a", "bits_per_dim", "<", "b", 0)
    board = {"rows": [_row("a", 1.25), _row("b", 1.25)]}
    (c,) = T.check(board, (target,))
    assert (c["threshold"], c["verdict"], c["gap"]) == (1.25, "missed", 0.0)
    board["rows"][0]["bits_per_dim"] = 1.2
    assert T.check(board, (target,))[0]["verdict"] == "met"


def test_no_row_for_the_entry_or_its_reference_is_no_row_not_a_miss():
    board = {"rows": [_row("a", 1.0)]}
    for t in (T.Target("a", "bits_per_dim", "<", "b", 0), T.Target("c", "nats", "<=", 9.0, 0)):
        (c,) = T.check(board, (t,))
        assert c["verdict"] == "no row" and c["gap"] is None
    # a stream perplexity lives in the row's extra; a row without one has no such figure
    t = T.Target("a", "stream_perplexity", "<=", 125.0, 0)
    assert T.check(board, (t,))[0]["verdict"] == "no row"
    board["rows"][0]["extra"] = {"stream_perplexity": 130.0}
    assert T.check(board, (t,))[0]["gap"] == pytest.approx(5.0)


def test_only_the_test_split_counts_and_the_best_test_row_is_read():
    rows = [_row("a", 0.5, split="valid"), _row("a", 1.5), _row("a", 1.1)]
    assert T.best_rows(rows)["a"]["bits_per_dim"] == 1.1


def test_the_rules_for_every_row():
    rows = [
        _row("short", train_steps=900),
        _row("counted", train_steps=1),  # a count-based fit: no step rule
        _row("vq_ok", extra={"codes_used": 19.0, "num_codes": 32}),
        _row("vq_dead", extra={"codes_used": 3.0, "num_codes": 64}),
        _row("vae_dead", extra={"active_units": 0.0}),
        _row("flagged", flags=["no better than the independent baseline (7.78 bits/dim)"]),
        _row("ngram_add1_pixels", flags=["no better than the independent baseline"]),
    ]
    missed = {
        (c["model"], c["rule"].split()[0])
        for c in T.row_checks({"rows": rows})
        if c["verdict"] == "missed"
    }
    assert missed == {
        ("short", "trained"),
        ("vq_dead", "uses"),
        ("vae_dead", "keeps"),
        ("flagged", "carries"),
    }
    quick = T.row_checks({"rows": rows}, min_steps=None)
    assert not any(c["rule"].startswith("trained") for c in quick)


def test_every_target_names_a_standard_entry_and_a_known_quantity():
    for t in T.TARGETS:
        for name in (t.entry, t.threshold) if isinstance(t.threshold, str) else (t.entry,):
            assert "standard" in get_entry(name).suites, name
    with pytest.raises(ValueError, match="unknown quantity"):
        T.Target("a", "nat", "<=", 1.0, 0)


def test_the_docs_page_is_the_committed_boards():
    sys.path.insert(0, str(ROOT / "docs"))
    import gen

    text = (ROOT / "docs" / "targets.md").read_text()
    assert gen.current_block(text, "targets") == gen.targets_block().strip("\n")
    assert gen.current_block(text, "targets-quick") == gen.targets_block(suite="quick").strip("\n")
