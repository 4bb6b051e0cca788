"""The catalogue (registry.yaml): entries resolve exactly as they did before train presets (but
for the deliberate changes in CHANGED), the family comes from the class, and a bad registry
fails with one line naming the entry."""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path

import pytest

import zoo
from zoo.engine.registry import entries, get_entry, list_models
from zoo.errors import ZooInputError

# Every entry as resolved by the registry of commit d040f0b (before train presets, with a
# family: line per entry), written before registry.yaml changed.
SNAPSHOT = Path(__file__).resolve().parent / "fixtures" / "registry_d040f0b.json"


# Deliberate changes since d040f0b, entry -> {key: value now} (None: changed, not pinned here):
# the standard settings that issue 12 item 6's tries chose
# (benchmarks/results/standard_bmnist_levers.json).
_PIXEL_LEVERS = {"batch_size": 16, "lr": 2e-3, "min_lr_ratio": 0.01}
CHANGED = {
    # budgets raised to the suite's 10 minutes (suite_budgets_standard_cpu_sized_pixels.json)
    "pixelcnn_small_bmnist": {"train": {**_PIXEL_LEVERS, "max_steps": 19000}},
    "pixelrnn_rowlstm_bmnist": {"train": {**_PIXEL_LEVERS, "max_steps": 6000}},
    # CPU-sized standard entries (issue 31); the originals are the *_paper entries
    "pixelcnn_gated_bmnist": {
        "hparams": {"channels": 48, "layers": 8, "head_channels": 32},
        "train": {**_PIXEL_LEVERS, "max_steps": 1900},
        "description": None,
    },
    "pixelrnn_diagbilstm_bmnist": {
        "hparams": {"channels": 16, "layers": 3},
        "train": {**_PIXEL_LEVERS, "max_steps": 1200},
        "description": None,
    },
    "pixelcnn_gated_mnist": {
        "hparams": {"channels": 32, "layers": 6, "conditional": True},
        "train": {**_PIXEL_LEVERS, "max_steps": 3600},
        "description": None,
    },
    "pixelcnn_pp_mnist": {
        "hparams": {"filters": 32, "resnets": 1, "mixtures": 5, "dropout": 0.0},
        "train": {**_PIXEL_LEVERS, "max_steps": 1900},
        "description": None,
    },
    "wavenet_fsdd": {
        "hparams": None,
        "train": {"batch_size": 4, "lr": 1e-3, "max_steps": 1000, "warmup_steps": 10},
        "description": None,
    },
    "vae_bmnist": {
        "train": {
            "batch_size": 100,
            "lr": 2e-3,
            "warmup_steps": 100,
            "min_lr_ratio": 0.01,
            "max_steps": 41600,
            "eval_every": 1000,
            "log_every": 100,
        },
        "data": {"dynamic": True},
        "description": None,
    },
    # collapse remedies set (issue 31, docs/collapse.md): k-means init, EMA, idle-code restarts,
    # free bits; quick budgets that let the model learn
    "vqvae_bmnist": {"hparams": None, "description": None},
    "vqvae_fsdd": {"hparams": None, "description": None},
    "vae_audio_fsdd": {"hparams": None, "description": None},
    "vae_shakespeare_char": {"hparams": None, "description": None, "train": None},
    "wavenet_ae_vq_fsdd": {"hparams": None, "description": None, "train": None},
    "wavenet_ae_vae_fsdd": {"hparams": None, "description": None, "train": None},
    # 1,000 steps, the rule of every row (issue 31; benchmarks/targets.py)
    "wavenet_ae_ae_fsdd": {"train": None},
    "vqvae_digits": {"hparams": None, "description": None},
    "vqvae_spoken_digits": {
        "hparams": None,
        "description": None,
        "train": {"batch_size": 16, "lr": 1e-3, "max_steps": 200, "warmup_steps": 5},
    },
    "vae_audio_spoken_digits": {
        "hparams": None,
        "description": None,
        "train": {"batch_size": 16, "lr": 1e-3, "max_steps": 500, "warmup_steps": 5},
    },
    "wavenet_ae_vq_spoken_digits": {
        "hparams": None,
        "description": None,
        "train": {"batch_size": 8, "lr": 2e-3, "max_steps": 400, "warmup_steps": 5},
    },
    # ptb_char trains on the whole of ptb.train as characters (zoo.data.text.ptb_chars)
    "ngram_mkn5_char": {"description": None},
}


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)  # 1e-3 vs 1, True vs 1 stay apart


def test_every_entry_resolves_byte_for_byte_as_before_the_presets():
    before = json.loads(SNAPSHOT.read_text())
    now = entries()
    assert set(before) <= set(now)  # entries added since are new, not changed
    for name, old in before.items():
        e = now[name]
        got = {
            "class": e.cls_path,
            "family": e.family,  # now the class's, then the entry's own line
            "dataset": e.dataset,
            "hparams": e.hparams,
            "train": e.train,
            "data": e.data,
            "eval": e.eval,
            "paper": e.paper,
            "suites": list(e.suites),
            "description": e.description,
        }
        for key, value in old.items():
            changed = CHANGED.get(name, {})
            if key in changed:  # a deliberate change: it must differ, and be what is pinned
                assert _canonical(got[key]) != _canonical(value), f"{name}.{key} is unchanged"
                if changed[key] is not None:
                    assert _canonical(got[key]) == _canonical(changed[key]), f"{name}.{key}"
                continue
            assert _canonical(got[key]) == _canonical(value), f"{name}.{key}"


def test_registry_yaml_names_no_family_and_no_tiny_build():
    text = zoo.engine.registry.registry_path().read_text()
    lines = [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in lines if line.startswith(("family:", "tiny:"))]


def test_family_filter_uses_the_class():
    assert "vae_digits" in list_models(family="vae")
    assert "vqvae_lstm_prior" in list_models(family="lstm")
    assert not set(list_models(family="vae")) & set(list_models(family="vqvae"))
    assert get_entry("pixelrnn_rowlstm_digits").family == "pixelrnn"


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Write a registry file and point ZOO_REGISTRY at it."""

    def write(text: str) -> Path:
        path = tmp_path / "registry.yaml"
        path.write_text(textwrap.dedent(text))
        monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(path))
        return path

    return write


PRESETS = """
    train_presets:
      small: {batch_size: 16, lr: 1.0e-3, warmup_steps: 5}
      smaller: {batch_size: 8, lr: 1.0e-3}
    models:
"""


def test_preset_by_name_and_with_overrides(registry):
    registry(
        PRESETS
        + """
      a:
        class: zoo.models.independent:Independent
        dataset: digits
        train: small
      b:
        class: zoo.models.independent:Independent
        dataset: digits
        train: {preset: small, lr: 2.0e-3, max_steps: 7}
      c:
        class: zoo.models.independent:Independent
        dataset: digits
        train: {max_steps: 3}
      d:
        class: zoo.models.independent:Independent
        dataset: digits
    """
    )
    a, b, c, d = (get_entry(n) for n in "abcd")
    assert a.train == {"batch_size": 16, "lr": 1e-3, "warmup_steps": 5}
    assert a.train_preset == "small"
    assert b.train == {"batch_size": 16, "lr": 2e-3, "warmup_steps": 5, "max_steps": 7}
    assert c.train == {"max_steps": 3} and c.train_preset is None
    assert d.train == {} and d.train_preset is None
    b.train["lr"] = 1.0  # an entry's settings are its own copy, never the preset's
    assert get_entry("a").train["lr"] == 1e-3


def test_unknown_preset_names_the_entry_and_the_closest_presets(registry):
    registry(
        PRESETS
        + """
      a:
        class: zoo.models.independent:Independent
        dataset: digits
        train: {preset: smal, max_steps: 3}
    """
    )
    with pytest.raises(
        ZooInputError, match=r"entry 'a': unknown train preset 'smal'; did you mean small"
    ) as info:
        entries()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "presets, train, message",
    [
        ("{small: [1, 2]}", "small", "train preset 'small' must be a mapping"),
        ("{small: {preset: other}}", "small", "without 'preset'"),
        ("[small]", "small", "'train_presets' must map"),
        ("{}", "[1, 2]", "train must be a preset name or a mapping"),
    ],
)
def test_malformed_presets_and_train_settings_are_one_clear_error(
    registry, presets, train, message
):
    registry(
        f"""
    train_presets: {presets}
    models:
      a:
        class: zoo.models.independent:Independent
        dataset: digits
        train: {train}
    """
    )
    with pytest.raises(ZooInputError, match=message):
        entries()


def test_a_family_line_that_agrees_with_the_class_is_accepted(registry):
    registry(
        """
    models:
      a:
        class: zoo.models.vae:VAE
        family: vae
        dataset: digits
    """
    )
    assert get_entry("a").family == "vae"


def test_a_family_line_that_disagrees_with_the_class_is_refused_naming_the_entry(registry):
    registry(
        """
    models:
      fine:
        class: zoo.models.vae:VAE
        dataset: digits
      wrong:
        class: zoo.models.vae:VAE
        family: vqvae
        dataset: digits
    """
    )
    with pytest.raises(
        ZooInputError,
        match=r"entry 'wrong' says family 'vqvae' but its class .*VAE is family 'vae'",
    ) as info:
        entries()
    assert "\n" not in str(info.value) and "drop the 'family:' line" in str(info.value)


def test_unknown_entry_fields_are_refused_and_tiny_points_to_the_tests(registry):
    registry(
        """
    models:
      a:
        class: zoo.models.independent:Independent
        dataset: digits
        tiny: {pseudo_count: 1.0}
    """
    )
    with pytest.raises(ZooInputError, match=r"entry 'a' has no field 'tiny'.*beside the tests"):
        entries()


def test_unknown_top_level_section_is_refused(registry):
    registry(
        """
    modles:
      a: {class: zoo.models.independent:Independent, dataset: digits}
    """
    )
    with pytest.raises(ZooInputError, match="sections models and train_presets, got.*modles"):
        entries()


# The keyword hyper-parameters and defaults of the classes whose constructors take option
# groups (zoo.core.validation.keyword_group), as their flat signatures had them at d040f0b.
PIXEL_COMMON = {"head": "default", "mixtures": 5, "embed": 0, "conditional": False}
FLAT_DEFAULTS = {
    "zoo.models.vae:VAE": {
        "encoder": "mlp", "latent_dim": 50, "hidden": (200, 200), "activation": "tanh",
        "stages": 4, "channels": 64, "res_channels": 32, "res_blocks": 2, "latent_channels": 16,
        "head": "auto", "mixtures": 1, "embed": 16, "objective": "elbo", "train_k": 1,
        "beta": 1.0, "kl_warmup": 0, "free_bits": 0.0, "iwae_batch": 1024, "metrics_k": 50,
        "decoder_head": None, "decoder_context": 0, "context_channels": 256,
    },
    "zoo.models.vqvae:VQVAE": {
        "num_codes": 512, "code_dim": 64, "hidden": 128, "res_channels": 32, "res_blocks": 2,
        "downsample": 2, "beta": 0.25, "ema": False, "decay": 0.99, "dead_code_threshold": 1.0,
        "dead_code_steps": 0, "kmeans_init": 0,
        "head": "auto", "prior": "uniform", "prior_hparams": None, "phase_fractions": (0.7, 0.3),
        "likelihood": None,
    },
    "zoo.models.wavenet_ae:WaveNetAutoencoder": {
        "bottleneck": "vq", "features": "mfcc", "latent_rate": 50.0, "downsample": 2,
        "n_mels": 40, "n_mfcc": 13, "encoder_channels": 64, "encoder_blocks": 2,
        "latent_dim": 16, "num_codes": 64, "beta": 0.25, "ema": True, "decay": 0.99,
        "dead_code_threshold": 1.0, "dead_code_steps": 0, "kmeans_init": 0, "ae_bits": 4,
        "free_bits": 0.0, "jitter": 0.12, "cond_channels": 64, "speaker_conditioning": True,
        "emission": "dense", "emission_fraction": 0.25, "global_dim": 16, "layers": 8,
        "stacks": 2, "kernel_size": 2, "residual_channels": 32,
        "gate_channels": 64, "skip_channels": 64, "head": "categorical", "output": None,
    },
    "zoo.models.wavenet:WaveNet": {
        "layers": 10, "stacks": 2, "kernel_size": 2, "residual_channels": 64,
        "gate_channels": 128, "skip_channels": 64, "head": "categorical", "mixtures": 10,
        "local_channels": 0, "global_labels": (), "global_dim": 16, "dropout": 0.0,
        "output": None,
    },
    "zoo.models.pixelcnn:PixelCNN": {
        "channels": 16, "blocks": 15, "kernel": 7, "head_channels": None, **PIXEL_COMMON,
    },
    "zoo.models.pixelcnn:GatedPixelCNN": {
        "channels": 128, "layers": 10, "kernel": 7, "layer_kernel": 3, "head_channels": None,
        "architecture": "zoo", **PIXEL_COMMON,
    },
    "zoo.models.pixelrnn:RowLSTM": {
        "row_kernel": 3, "channels": 16, "layers": 7, "kernel": 7, "head_channels": None,
        **PIXEL_COMMON,
    },
    "zoo.models.pixelrnn:DiagonalBiLSTM": {
        "channels": 16, "layers": 7, "kernel": 7, "head_channels": None, **PIXEL_COMMON,
    },
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(FLAT_DEFAULTS))
def test_option_groups_keep_every_keyword_its_type_and_its_default(path):
    from zoo.core.contract import model_class
    from zoo.engine.registry import hparam_defaults, hparam_types

    cls = model_class(path)
    assert hparam_defaults(cls) == FLAT_DEFAULTS[path]
    types = hparam_types(cls)
    assert set(types) == set(FLAT_DEFAULTS[path])
    assert all(t is not inspect.Parameter.empty for t in types.values()), types


def test_keyword_group_passes_given_fields_and_defaults_as_one_instance():
    import dataclasses

    from zoo.core.validation import keyword_group

    @dataclasses.dataclass(frozen=True)
    class Group:
        a: int = 1
        b: str = "x"

    @keyword_group("group", Group(b="y"))
    def f(n: int, *, group: Group, c: float = 0.5) -> tuple:
        return n, group, c

    assert f(1) == (1, Group(1, "y"), 0.5)
    assert f(2, a=3, c=1.0) == (2, Group(3, "y"), 1.0)
    params = inspect.signature(f).parameters
    assert list(params) == ["n", "a", "b", "c"] and params["b"].default == "y"
    with pytest.raises(TypeError, match="unexpected keyword argument 'd'"):
        f(1, d=2)
    with pytest.raises(TypeError, match="group must be keyword-only"):
        keyword_group("group", Group())(lambda group: group)
