"""The main job end to end: the real quick suite on the embedded data, on a tiny budget
(3 steps, 64 test examples and 2 samples per entry)."""

from __future__ import annotations

import math

import pytest

from zoo.bench import run_suite, suite_entries
from zoo.data import load_dataset
from zoo.engine.registry import get_entry
from zoo.leaderboard import Leaderboard


@pytest.mark.slow
def test_quick_suite_gives_every_family_a_finite_row_on_every_modality_it_supports(tmp_path):
    db = tmp_path / "lb.db"
    index = run_suite(
        "quick",
        max_steps=3,
        max_eval=64,  # the first 64 test examples, named so in each row's split
        samples=2,
        db=str(db),
        runs=str(tmp_path / "runs"),
        report=str(tmp_path / "report"),
        device="cpu",
    )
    names = suite_entries("quick")
    modality = {}  # data set -> modality
    expected = set()  # (family, modality) pairs the quick data sets can show
    for name in names:
        entry = get_entry(name)
        modality[entry.dataset] = load_dataset(entry.dataset).spec.modality
    for name in names:
        entry = get_entry(name)
        for m in entry.model_class().modalities:
            if m in modality.values():
                expected.add((entry.family, m))
    rows = Leaderboard(db).rows(suite="quick")
    assert sorted(r["model"] for r in rows) == sorted(names)  # every entry, once
    got = {(r["family"], modality[r["dataset"]]) for r in rows if math.isfinite(r["bits_per_dim"])}
    assert expected <= got, f"families without a row on a modality they model: {expected - got}"
    assert all(r["estimate"] in ("exact", "elbo", "bound") for r in rows)
    assert {r["split"] for r in rows} <= {"test", "test[:64]"}  # a subset says so
    assert index.exists() and "Measured on" in index.read_text()
