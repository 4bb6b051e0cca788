"""benchmarks.refactor_ab refuses what would make its ratios meaningless."""

from __future__ import annotations

import pytest

from benchmarks.refactor_ab import main
from zoo.errors import ZooInputError


def test_fewer_than_three_rounds_are_refused(tmp_path):
    with pytest.raises(ZooInputError, match="rounds must be >= 3"):
        main(["--rounds", "2", "--out", str(tmp_path / "x.json")])


def test_a_base_tree_without_zoo_is_refused_with_how_to_make_one(tmp_path):
    with pytest.raises(ZooInputError, match="git worktree add"):
        main(["--base-tree", str(tmp_path), "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
