"""A run folder records everything its model was built with: the class, the hyper-parameters
with the constructor's defaults filled in, every train setting, the data set with every loader
option, the declared evaluation; so it loads and evaluates without its registry entry."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import torch

import zoo
from zoo.data import dataset_options, load_dataset
from zoo.engine.checkpoint import full_hparams, load_checkpoint, read_config
from zoo.engine.registry import hparam_defaults
from zoo.engine.runs import eval_run, initial_model, train_run
from zoo.engine.trainer import TrainConfig
from zoo.errors import ZooInputError
from zoo.models.vae import VAE

TINY_VAE = {"hidden": [8], "latent_dim": 2, "metrics_k": 2}
TRAIN = {"max_steps": 2, "batch_size": 16, "warmup_steps": 0, "device": "cpu", "eval_every": 100}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return train_run(
        "vae_digits", run_dir=tmp_path_factory.mktemp("vae") / "run", hparams=TINY_VAE, train=TRAIN
    )


def test_config_records_class_and_every_resolved_setting(vae_run):
    cfg = json.loads((vae_run / "config.json").read_text())
    entry = zoo.get_entry("vae_digits")
    assert cfg["class"] == "zoo.models.vae:VAE" and cfg["family"] == "vae"
    # every constructor keyword, the deprecated decoder_head= excepted
    keywords = set(inspect.signature(VAE.__init__).parameters) - {"self", "spec"}
    assert set(cfg["hparams"]) == keywords - {"decoder_head"}
    assert cfg["hparams"]["hidden"] == [8] and cfg["hparams"]["latent_dim"] == 2
    assert cfg["hparams"]["kl_warmup"] == entry.hparams["kl_warmup"]  # the entry's own
    assert cfg["hparams"]["iwae_batch"] == 1024 and cfg["hparams"]["head"] == "auto"  # defaults
    assert cfg["data_options"] == {"seed": 0}  # load_digits(seed=0)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(cfg["train"]) == fields
    assert cfg["train"]["max_steps"] == 2 and cfg["train"]["lr"] == entry.train["lr"]
    assert cfg["eval"] == {}


def test_a_run_loads_scores_and_evaluates_after_its_entry_is_gone(vae_run, tmp_path, monkeypatch):
    x = load_dataset("digits")["test"].x[:8]
    torch.manual_seed(0)  # the ELBO draws its latent
    with torch.no_grad():
        before = zoo.load(vae_run).log_prob(x)
    empty = tmp_path / "registry.yaml"
    empty.write_text("models: {}\n")
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(empty))
    with pytest.raises(ZooInputError):
        zoo.get_entry("vae_digits")
    torch.manual_seed(0)
    with torch.no_grad():
        after = zoo.load(vae_run).log_prob(x)
    torch.testing.assert_close(before, after, rtol=0, atol=0)
    row = eval_run(vae_run, max_examples=8, device="cpu")
    assert row["model"] == "vae_digits" and row["paper_value"] is None
    assert row["estimate"] == "elbo" and row["extra"]["declared"]


def test_a_run_of_a_renamed_entry_uses_its_recorded_declared_evaluation(tmp_path, monkeypatch):
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "models:\n  v:\n    class: zoo.models.vae:VAE\n    dataset: digits\n"
        "    hparams: {hidden: [8], latent_dim: 2, metrics_k: 2}\n    eval: {k: 3}\n"
    )
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(registry))
    run = train_run("v", run_dir=tmp_path / "run", train=TRAIN)
    assert read_config(run)["eval"] == {"k": 3}
    registry.write_text(registry.read_text().replace("  v:", "  v_renamed:"))
    row = eval_run(run, max_examples=4, device="cpu")
    assert row["estimate"] == "iwae-3" and row["extra"]["declared"]


def test_full_hparams_fills_defaults_and_records_a_deprecated_head_keyword_as_head():
    full = full_hparams("zoo.models.vae:VAE", {"latent_dim": 3})
    assert full == {**{k: v for k, v in hparam_defaults(VAE).items() if k != "decoder_head"},
                    "latent_dim": 3}  # fmt: skip
    old = full_hparams("zoo.models.vae:VAE", {"decoder_head": "logistic"})
    assert old["head"] == "logistic" and "decoder_head" not in old
    assert full_hparams("zoo.models.independent:Independent", {}) == {
        "shared": False,
        "conditional": False,
        "pseudo_count": None,
    }


def test_dataset_options_fill_the_loader_defaults_and_share_one_cached_load():
    assert dataset_options("pydoc_char") == {"seq_len": 128}
    assert dataset_options("pydoc_char", seq_len=64) == {"seq_len": 64}
    options = dataset_options("spoken_digits", seq_len=512)
    assert options["seq_len"] == 512 and options["sample_rate"] == 8000 and options["takes"] == 10
    assert "clipped" not in options  # spoken_digits fixes it itself
    assert load_dataset("pydoc_char") is load_dataset("pydoc_char", seq_len=128)
    with pytest.raises(ZooInputError, match="data set 'pydoc_char' has no option 'seq_length'"):
        dataset_options("pydoc_char", seq_length=64)


def test_initial_weights_are_a_function_of_the_seed_alone(tmp_path):
    """Two runs with one seed start from the same weights whatever the process drew between
    them (a suite trains many entries in one process); another seed starts elsewhere."""

    def one_step(name: str, seed: int) -> dict[str, torch.Tensor]:
        train = {**TRAIN, "max_steps": 1, "seed": seed}
        run = train_run("vae_digits", run_dir=tmp_path / name, hparams=TINY_VAE, train=train)
        return load_checkpoint(run)["model"]

    a = one_step("a", 0)
    torch.rand(12345)  # the process draws in between
    b = one_step("b", 0)
    c = one_step("c", 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    cfg = read_config(tmp_path / "a")
    before = torch.get_rng_state()
    first, again = initial_model(cfg, 0).state_dict(), initial_model(cfg, 0).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random state untouched
