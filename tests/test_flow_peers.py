"""Smoke test of the normflows side-by-side (benchmarks/flow_peers.py) on the embedded digits;
skipped where normflows is not installed."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("normflows")

from benchmarks.flow_peers import main  # noqa: E402


def test_flow_peer_benchmark_runs_both_sides_and_scores_finite_bits_per_dim():
    fields = main(
        "--dataset digits --K 2 --hidden 8 --batch 16 --steps 2 --test 40 --timed-steps 1 "
        "--no-write".split()
    )
    speed, bpd = fields["rows"]
    assert speed["unit"] == "img/s" and speed["ours"] > 0 and speed["theirs"] > 0
    assert len(speed["ours_rounds"]) == 3
    for v in (bpd["ours"], bpd["theirs"]):
        assert math.isfinite(v) and 0 < v < 20
    assert bpd["params"]["ours"] > 0 and bpd["params"]["peer"] > 0
