"""The side-by-side benchmark helpers: alternation, ratios, the generated peer table."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.common import QUOTED, alternate, peer_row
from benchmarks.peers_table import rows


def test_alternate_runs_each_side_every_round_reversing_the_order():
    calls: list[str] = []
    got = alternate(
        {"ours": lambda: calls.append("o") or 1.0, "peer": lambda: calls.append("p") or 2.0},
        rounds=4,
    )
    assert calls == ["o", "p", "p", "o", "o", "p", "p", "o"]
    assert got == {"ours": [1.0] * 4, "peer": [2.0] * 4}


def test_alternate_refuses_fewer_than_three_rounds():
    with pytest.raises(ValueError, match="rounds must be >= 3"):
        alternate({"ours": lambda: 1.0}, rounds=2)


@pytest.mark.parametrize("higher, ratio", [(True, 2.0), (False, 0.5)])
def test_peer_row_ratio_is_above_one_when_ours_is_better(higher, ratio):
    row = peer_row("x", "peer", [1.0, 4.0, 2.0], [1.0, 1.0, 9.0], "u", higher_is_better=higher)
    assert row["ours"] == 2.0 and row["theirs"] == 1.0 and row["ratio"] == ratio


def test_peer_table_labels_every_line_measured_or_quoted(tmp_path):
    measured = peer_row(
        "a", "p", [2.0] * 3, [1.0] * 3, "img/s", higher_is_better=True, params=(5, 5)
    )
    quoted = peer_row("b", "q", [2.0] * 3, 4.0, "s", higher_is_better=False, source=QUOTED)
    record = {
        "benchmark": "demo",
        "date": "2026-11-25 17:00:00 UTC",
        "threads": 2,
        "torch": torch.__version__,
        "peers": [measured, quoted],
    }
    (tmp_path / "demo.json").write_text(json.dumps(record))
    (tmp_path / "other.json").write_text(json.dumps({"benchmark": "other", "rows": []}))
    lines = rows(tmp_path)[2:]
    assert len(lines) == 2
    assert "measured here (2026-11-25, 2 threads); parameters 5 / 5 (equal)" in lines[0]
    assert "2.00x" in lines[0] and QUOTED in lines[1] and "2.00x" in lines[1]


def test_peer_table_says_the_load_a_run_was_measured_under(tmp_path):
    row = peer_row("a", "p", [2.0] * 3, [1.0] * 3, "s", higher_is_better=False)
    record = {"benchmark": "busy", "date": "2026-11-25 19:00:00 UTC", "threads": 2}
    record |= {"load_average": [11.4, 13.9], "cpus": 2, "peers": [row]}
    (tmp_path / "busy.json").write_text(json.dumps(record))
    (line,) = rows(tmp_path)[2:]
    assert "measured here (2026-11-25, 2 threads; load average 14 on 2 cores)" in line
    assert "| 0.50x |" in line


def test_compile_flag_reaches_the_train_config_only_when_given():
    from zoo.cli import _train_overrides, build_parser
    from zoo.engine.trainer import TrainConfig

    parse = build_parser().parse_args
    on = _train_overrides(parse(["train", "pixelcnn_small_bmnist", "--compile"]))
    off = _train_overrides(parse(["train", "pixelcnn_small_bmnist"]))
    no = _train_overrides(parse(["train", "pixelcnn_small_bmnist", "--compile", "false"]))
    assert on["compile"] is True and off["compile"] is None and no["compile"] is False
    assert TrainConfig.from_dict({"compile": True}).compile is True
    assert TrainConfig().compile == "auto"


@pytest.mark.parametrize(
    "k, mask_type, colours", [(1, "B", 1), (3, "B", 1), (3, "A", 3), (7, "A", 1)]
)
def test_zero_rows_lever_computes_the_masked_convolution(k, mask_type, colours):
    from benchmarks.pixelcnn_levers import zero_rows
    from zoo.nn.masked import MaskedConv2d

    torch.manual_seed(0)
    conv = MaskedConv2d(6, 9, k, mask_type, data_channels=colours)
    x = torch.randn(2, 6, 7, 5)
    full = conv(x)
    with zero_rows():
        fast = conv(x)
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=1e-6)
