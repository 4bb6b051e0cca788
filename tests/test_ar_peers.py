"""The pure parts of the pytorch-generative NADE/MADE side-by-side (benchmarks/ar_peers.py):
the configuration mapping, the shared batch order, argument checks, and a clean exit without
the peer. Nothing here needs the peer's files."""

from __future__ import annotations

import argparse

import pytest
import torch

from benchmarks.ar_peers import (
    PEER_CONFIG,
    batch_indices,
    main,
    ours_hparams,
    parse_models,
)
from zoo.core.spec import DataSpec
from zoo.models.made import MADE
from zoo.models.nade import NADE


def test_ours_take_the_peers_reproduce_sizes():
    assert ours_hparams("nade") == {"hidden": 500}
    made = ours_hparams("made")
    assert made == {"hidden": [8000], "num_masks": 1, "order": "random", "direct": False}
    assert PEER_CONFIG["nade"]["batch"] == 512 and PEER_CONFIG["made"]["batch"] == 64
    with pytest.raises(ValueError, match="unknown model"):
        ours_hparams("pixelcnn")


def test_the_mapping_builds_models_of_the_peers_parameter_count():
    # the peer's NADE: W [H, D], c [H], V [D, H], b [D]; MADE: D -> H -> D masked linears
    spec = DataSpec("image", (1, 28, 28), 2)
    nade = NADE(spec, **ours_hparams("nade"))
    assert sum(p.numel() for p in nade.parameters()) == 2 * 500 * 784 + 500 + 784
    made = MADE(spec, **ours_hparams("made"))
    assert sum(p.numel() for p in made.parameters()) == 2 * 8000 * 784 + 8000 + 784


def test_batches_are_seeded_permutations_per_epoch():
    idx = batch_indices(10, 3, 7, seed=0)
    assert idx.shape == (7, 3)
    assert torch.equal(idx, batch_indices(10, 3, 7, seed=0))
    assert not torch.equal(idx, batch_indices(10, 3, 7, seed=1))
    for epoch in (idx[:3], idx[3:6]):  # 3 full batches of 3 per epoch of 10, no repeats
        assert len(set(epoch.flatten().tolist())) == 9


def test_model_list_is_checked():
    assert parse_models("nade, made") == ["nade", "made"]
    with pytest.raises(argparse.ArgumentTypeError, match="subset"):
        parse_models("nade,pixelcnn")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_models(",")


def test_without_the_peer_it_says_how_to_get_it_and_exits_cleanly(tmp_path, capsys):
    main(["--peer-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert "does not import" in out and "git --git-dir=" in out
