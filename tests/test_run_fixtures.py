"""Run folders written by older code keep loading, scoring the same and sampling.

tests/fixtures/runs/ holds one tiny run per family written by the code of the day it was
committed (tests/fixtures/make_runs.py). A refactor that changes a parameter layout, a
keyword or a default must migrate old folders or fail here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo

RUNS = Path(__file__).resolve().parent / "fixtures" / "runs"
FIXTURES = sorted(p.name for p in RUNS.iterdir() if (p / "config.json").exists())


def test_there_is_a_fixture_run_for_every_family():
    families = {json.loads((RUNS / n / "config.json").read_text())["family"] for n in FIXTURES}
    assert families >= {
        "independent",
        "ngram",
        "pixelcnn",
        "pixelrnn",
        "vae",
        "vqvae",
        "wavenet",
        "wavenet_ae",
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_old_run_folder_loads_scores_the_same_and_samples(name):
    run = RUNS / name
    expected = json.loads((run / "expected.json").read_text())
    model = zoo.load(run)
    x = torch.tensor(expected["x"])
    cond = {k: torch.tensor(v) for k, v in expected["cond"].items() if k in model.cond_labels}
    torch.manual_seed(expected["seed"])
    with torch.no_grad():
        lp = model.log_prob(x, cond=cond or None)
    torch.testing.assert_close(
        lp.double(), torch.tensor(expected["log_prob"], dtype=torch.float64), rtol=1e-6, atol=1e-6
    )
    n = 2
    g = torch.Generator().manual_seed(0)
    s = model.sample(n, cond=model.default_cond(n), generator=g)
    assert s.shape == (n, *model.spec.shape)
    model.spec.validate(s, what="samples")
