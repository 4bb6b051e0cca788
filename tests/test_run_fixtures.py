"""Run folders written by older code keep loading, scoring the same and sampling.

tests/fixtures/runs/v<N>/ holds one tiny run per family in run folder format N, written by
the code of the day that format was introduced (tests/fixtures/make_runs.py). A refactor that
changes a parameter layout, a keyword or a default must migrate old folders or fail here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo.engine.checkpoint import FORMAT_VERSION, RunFormatError, migrate_config

RUNS = Path(__file__).resolve().parent / "fixtures" / "runs"
FIXTURES = sorted(str(p.parent.relative_to(RUNS)) for p in RUNS.glob("v*/*/config.json"))


@pytest.mark.parametrize("version", range(1, FORMAT_VERSION + 1))
def test_every_format_has_a_fixture_run_for_every_family(version):
    configs = [json.loads(p.read_text()) for p in RUNS.glob(f"v{version}/*/config.json")]
    assert {c["family"] for c in configs} >= {
        "independent",
        "ngram",
        "pixelcnn",
        "pixelrnn",
        "vae",
        "vqvae",
        "wavenet",
        "wavenet_ae",
    }
    assert all(c.get("format_version", 1) == version for c in configs)


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
    # float32 sums over every pixel: another CPU's SIMD width reorders them (a 2026-12-06 host
    # with AVX-512 gave PixelCNN++ 1.02e-6 relative off the recorded value), so 1e-5, still
    # far below what a wrong weight, mask or migration changes
    torch.testing.assert_close(
        lp.double(), torch.tensor(expected["log_prob"], dtype=torch.float64), rtol=1e-5, atol=1e-5
    )
    n = 2
    g = torch.Generator().manual_seed(0)
    s = model.sample(n, cond=model.default_cond(n), generator=g)
    assert s.shape == (n, *model.spec.shape)
    model.spec.validate(s, what="samples")


def _copy_run(name: str, tmp_path: Path, **config_changes) -> Path:
    run = tmp_path / "run"
    shutil.copytree(RUNS / name, run)
    config = json.loads((run / "config.json").read_text())
    for key, value in config_changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_format_1_folder_whose_entry_was_renamed_fails_with_one_line_saying_what_to_add(tmp_path):
    run = _copy_run("v1/vae_mlp", tmp_path, entry="vae_renamed_long_ago")
    with pytest.raises(RunFormatError, match='cannot migrate.*add "class"') as info:
        zoo.load(run)
    assert "\n" not in str(info.value)
    config = json.loads((run / "config.json").read_text())
    config["class"] = "zoo.models.vae:VAE"  # what the message says to do
    (run / "config.json").write_text(json.dumps(config))
    assert zoo.load(run).head.name == "categorical"


def test_format_1_auto_head_is_resolved_with_the_old_rule_of_its_family():
    config = migrate_config(json.loads((RUNS / "v1/vqvae/config.json").read_text()))
    assert config["format_version"] == FORMAT_VERSION
    assert config["class"] == "zoo.models.vqvae:VQVAE"
    assert config["hparams"]["head"] == "logistic" and "likelihood" not in config["hparams"]


def test_folder_of_a_newer_format_is_refused_with_upgrade_advice(tmp_path):
    run = _copy_run("v2/pixelcnn", tmp_path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(RunFormatError, match="newer than this zoo reads.*upgrade zoo"):
        zoo.load(run)
