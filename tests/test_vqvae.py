"""Properties of the VQ-VAE (zoo.models.vqvae): the bound, its priors, phases and errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_builds import tiny_overrides

import zoo
from zoo.core.contract import LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.engine.registry import UnknownModelError, registry_path, resolve_nested
from zoo.models.vqvae import VQVAE, LSTMPrior

SMALL = {"num_codes": 8, "code_dim": 4, "hidden": 8, "res_channels": 4, "res_blocks": 1}
IMAGE = DataSpec("image", (1, 2, 3), levels=2)
AUDIO = DataSpec("audio", (5,), levels=3, sample_rate=8000)


class PositionwisePrior(LikelihoodModel):
    """A tiny exact prior for the tests: an independent categorical per position."""

    family = "test"
    modalities = ("image", "text")

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.logits = torch.nn.Parameter(torch.zeros(spec.D, spec.levels))

    def _log_prob(self, x, *, cond, k):
        lp = torch.log_softmax(self.logits, -1)
        return lp.gather(1, x.reshape(len(x), -1).t()).sum(0)


def vqvae(spec: DataSpec, **hparams) -> VQVAE:
    """A VQVAE whose prior may be a registry name, resolved as zoo.create_model resolves it."""
    return VQVAE(spec, **resolve_nested(VQVAE, hparams))


def all_inputs(spec: DataSpec) -> torch.Tensor:
    values = itertools.product(range(spec.levels), repeat=spec.D)
    return torch.tensor(list(values)).reshape(-1, *spec.shape)


def train_steps(model: VQVAE, x: torch.Tensor, steps: int, lr: float = 1e-2) -> list[float]:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss, _ = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@settings(deadline=None, max_examples=15)
@given(
    spec=st.sampled_from(
        [IMAGE, AUDIO, DataSpec("image", (3, 5, 4), levels=256), DataSpec("image", (1, 8, 8), 17)]
    ),
    downsample=st.integers(0, 3),
    seed=st.integers(0, 1000),
)
@torch.no_grad()
def test_uniform_bound_equals_reconstruction_nll_plus_L_log_K(spec, downsample, seed):
    torch.manual_seed(seed)
    model = VQVAE(spec, downsample=downsample, **SMALL).eval()
    x = torch.randint(0, spec.levels, (4, *spec.shape))
    codes = model.encode(x)
    params = model.decode(codes)
    recon = model._recon_log_prob(x, params)
    L = math.prod(codes.shape[1:])
    assert L == model.num_latents
    expected = recon - L * math.log(8)
    assert torch.allclose(model.log_prob(x), expected, rtol=0, atol=1e-4)
    m = model.extra_metrics(x)
    denom = spec.D * math.log(2)
    assert m["bits_per_dim_uniform"] == pytest.approx(float(-expected.mean()) / denom, rel=1e-5)
    assert m["recon_bits_per_dim"] == pytest.approx(float(-recon.mean()) / denom, rel=1e-5)


@pytest.mark.parametrize("spec", [IMAGE, AUDIO], ids=["image", "audio"])
@pytest.mark.parametrize("prior", ["uniform", "vqvae_lstm_prior"])
def test_exp_log_prob_sums_to_at_most_one_over_a_tiny_space(spec, prior):
    torch.manual_seed(0)
    hp = {"prior_hparams": {"hidden": 8, "embed": 4}} if prior != "uniform" else {}
    model = vqvae(spec, prior=prior, downsample=1, **SMALL, **hp)
    x = all_inputs(spec)
    train_steps(model, x, 20)  # make the decoder peaked, not uniform
    model.eval()
    with torch.no_grad():
        total = float(model.log_prob(x).double().exp().sum())
    assert 0.0 < total <= 1.0 + 1e-6


def test_lstm_prior_is_exactly_normalised_and_samples_in_range():
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 2, 2), levels=3)
    prior = LSTMPrior(spec, embed=4, hidden=8)
    with torch.no_grad():
        total = float(prior.log_prob(all_inputs(spec)).double().exp().sum())
    assert total == pytest.approx(1.0, abs=1e-6)
    s = prior.sample(5, generator=torch.Generator().manual_seed(1))
    assert s.shape == (5, 1, 2, 2) and 0 <= int(s.min()) and int(s.max()) < 3


def test_learned_prior_bound_is_never_worse_than_uniform_after_training_the_prior():
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 4, 4), levels=2)
    model = vqvae(
        spec,
        prior="vqvae_lstm_prior",
        prior_hparams={"hidden": 16, "embed": 8},
        downsample=1,
        **SMALL,
    )
    # toy data: 3 prototype images and their noisy copies
    protos = torch.randint(0, 2, (3, 1, 4, 4))
    x = protos[torch.randint(0, 3, (64,))]
    x = torch.where(torch.rand(x.shape) < 0.05, 1 - x, x)
    assert model.phases == ("autoencoder", "prior")
    model.set_phase("autoencoder")
    train_steps(model, x, 60)
    model.set_phase("prior")
    train_steps(model, x, 150, lr=2e-2)
    model.eval()
    m = model.extra_metrics(x)
    assert m["bits_per_dim_prior"] <= m["bits_per_dim_uniform"]
    assert m["prior_bits_per_code"] < math.log2(8)
    with torch.no_grad():  # log_prob is the learned-prior bound
        bpd = -float(model.log_prob(x).double().mean()) / (spec.D * math.log(2))
    assert bpd == pytest.approx(m["bits_per_dim_prior"], rel=1e-5)


def test_prior_phase_freezes_the_autoencoder_and_trains_the_prior():
    torch.manual_seed(0)
    model = vqvae(AUDIO, prior="vqvae_lstm_prior", prior_hparams={"hidden": 8}, ema=True, **SMALL)
    x = torch.randint(0, 3, (16, 5))
    model.set_phase("prior")
    model.train()  # the trainer calls train() after set_phase: the autoencoder stays in eval
    assert not model.encoder.training and not model.quantizer.training and model.prior.training
    ae = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("prior.")}
    pr = {k: v.clone() for k, v in model.prior.state_dict().items()}
    train_steps(model, x, 3)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in ae.items())  # EMA codebook included
    assert any(not torch.equal(v, model.prior.state_dict()[k]) for k, v in pr.items())
    model.set_phase("autoencoder")
    assert model.encoder.training and not any(p.requires_grad for p in model.prior.parameters())


def test_uniform_prior_has_one_phase():
    model = VQVAE(IMAGE, **SMALL)
    assert model.phases == ("autoencoder",) and model.phase_fractions == (1.0,)


def test_log_prob_does_not_touch_the_codebook():
    model = VQVAE(AUDIO, ema=True, **SMALL).train()
    before = {k: v.clone() for k, v in model.quantizer.state_dict().items()}
    model.log_prob(torch.randint(0, 3, (8, 5)))
    assert all(torch.equal(v, model.quantizer.state_dict()[k]) for k, v in before.items())


def test_encode_decode_and_sample_shapes():
    torch.manual_seed(0)
    spec = DataSpec("image", (3, 7, 5), levels=256)
    model = VQVAE(spec, downsample=2, head="logistic", **SMALL).eval()
    x = torch.randint(0, 256, (2, *spec.shape))
    codes = model.encode(x)
    assert codes.shape == (2, 2, 2) and codes.dtype == torch.int64
    assert model.decode(codes).shape == (2, 2, 3, 7, 5)  # logistic: mean, log-scale
    g = torch.Generator().manual_seed(3)
    s1 = model.sample(4, generator=g)
    s2 = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert s1.shape == (4, *spec.shape) and torch.equal(s1, s2)
    assert 0 <= int(s1.min()) and int(s1.max()) < 256
    audio = vqvae(AUDIO, prior="vqvae_lstm_prior", downsample=1, **SMALL).eval()
    assert audio.encode(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 3)
    assert audio.decode(torch.zeros(3, 3, dtype=torch.long)).shape == (3, 3, 5)  # categorical
    assert audio.sample(2).shape == (2, 5)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    spec = DataSpec("image", (1, 8, 8), levels=17)
    model = VQVAE(spec, downsample=1, **SMALL)
    x = torch.randint(0, 17, (4, 1, 1, 1)).expand(4, 1, 8, 8).clone()
    losses = train_steps(model, x, 40)
    assert losses[-1] < 0.7 * losses[0]


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="num_codes"):
        VQVAE(IMAGE, num_codes=1)
    with pytest.raises(ValueError, match="levels must be >= 2"):
        DataSpec("image", (1, 2, 2), levels=1)
    with pytest.raises(ValueError, match="bernoulli.*levels=2"):
        VQVAE(AUDIO, head="bernoulli")
    with pytest.raises(ValueError, match="VQVAE: head must be one of"):
        VQVAE(AUDIO, head="logistic_mixture")  # the decoder draws each value on its own
    with pytest.raises(ValueError, match="models image, audio"):
        VQVAE(DataSpec("text", (4,), levels=3))
    with pytest.raises(ValueError, match="exact"):
        vqvae(IMAGE, prior="vqvae_digits")  # a bound is no prior
    with pytest.raises(UnknownModelError, match="unknown model"):
        vqvae(IMAGE, prior="no_such_prior")
    with pytest.raises(ValueError, match="phase_fractions"):
        vqvae(IMAGE, prior="vqvae_lstm_prior", phase_fractions=(0.5, 0.2))
    model = VQVAE(IMAGE, **SMALL)
    with pytest.raises(ValueError, match="unknown phase"):
        model.set_phase("prior")
    with pytest.raises(ValueError, match="codes must have shape"):
        model.decode(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="dimension 4 .*code_dim is 5"):
        model.quantizer.__class__(8, 5)(torch.randn(1, 4, 3))
    bigger = VQVAE(IMAGE, **{**SMALL, "num_codes": 16})
    with pytest.raises(ValueError, match="16 codes x 4 dims"):
        model.load_state_dict(bigger.state_dict())


def test_registry_entries_build_on_tiny_specs():
    names = zoo.list_models("vqvae_*", family="vqvae")
    assert {"vqvae_cifar10", "vqvae_bmnist", "vqvae_digits", "vqvae_fsdd"} <= set(names)
    for name in names:
        spec = (
            IMAGE
            if zoo.get_entry(name).dataset in ("cifar10", "binarized_mnist", "digits")
            else AUDIO
        )
        model = zoo.create_model(name, spec, **tiny_overrides(name)).eval()
        x = all_inputs(spec)[:8]
        assert model.log_prob(x).shape == (8,)
    assert zoo.get_entry("vqvae_cifar10").paper["value"] == 4.67


def test_a_prior_from_the_registry_models_the_code_grid(tmp_path, monkeypatch):
    # any exact registry entry can be the prior: images give it a (1, h, w) grid of codes,
    # audio a sequence of token ids (text, where the prior's family models text)
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        registry_path().read_text()
        + "\n  test_prior:\n    class: test_vqvae:PositionwisePrior\n    dataset: digits\n"
    )
    monkeypatch.setenv("ZOO_REGISTRY_ONLY", str(registry))
    image = vqvae(DataSpec("image", (1, 6, 5), levels=2), prior="test_prior", **SMALL)
    assert isinstance(image.prior, PositionwisePrior)
    assert image.prior.spec.shape == (1, 2, 2) and image.prior.spec.levels == 8
    audio = vqvae(AUDIO, prior="test_prior", downsample=1, **SMALL)
    assert audio.prior.spec.modality == "text" and audio.prior.spec.shape == (3,)
    x = torch.randint(0, 3, (4, 5))
    with torch.no_grad():  # a uniform positionwise prior gives exactly the uniform bound
        m = audio.eval().extra_metrics(x)
    assert m["bits_per_dim_prior"] == pytest.approx(m["bits_per_dim_uniform"], rel=1e-6)


def test_the_prior_is_built_from_its_class_and_registry_names_are_resolved_by_the_registry():
    # VQVAE builds its prior from a class path; the registry turns an entry name into that path
    # and the entry's hyper-parameters under prior_hparams (models never import the registry)
    torch.manual_seed(0)
    direct = VQVAE(
        AUDIO, prior="zoo.models.vqvae:LSTMPrior", prior_hparams={"embed": 4, "hidden": 8}, **SMALL
    )
    assert isinstance(direct.prior, LSTMPrior) and direct.prior.lstm.hidden_size == 8
    with pytest.raises(ValueError, match="resolved by zoo.create_model"):
        VQVAE(AUDIO, prior="vqvae_lstm_prior", **SMALL)
    entry = zoo.get_entry("vqvae_lstm_prior")
    given = {"prior": "vqvae_lstm_prior", "prior_hparams": {"hidden": 8}}
    resolved = resolve_nested(VQVAE, given)
    assert resolved["prior"] == entry.cls_path == "zoo.models.vqvae:LSTMPrior"
    assert resolved["prior_hparams"] == {**entry.hparams, "hidden": 8}
    assert given == {"prior": "vqvae_lstm_prior", "prior_hparams": {"hidden": 8}}  # untouched
    assert resolve_nested(VQVAE, {"prior": "uniform"}) == {"prior": "uniform"}
    model = zoo.create_model("vqvae_fsdd", AUDIO, **{**SMALL, **given})
    assert isinstance(model.prior, LSTMPrior) and model.prior.lstm.hidden_size == 8
    assert model.hparams["prior"] == "vqvae_lstm_prior"  # what config.json records


def test_a_run_whose_prior_is_a_registry_name_loads_back(tmp_path):
    from zoo.engine.checkpoint import load_checkpoint
    from zoo.engine.runs import train_run

    train = {"max_steps": 2, "device": "cpu", "warmup_steps": 0, "eval_examples": 8}
    prior = {"prior": "vqvae_lstm_prior", "prior_hparams": {"embed": 4, "hidden": 8}}
    run = train_run("vqvae_digits", run_dir=tmp_path / "r", train=train, hparams={**SMALL, **prior})
    model = zoo.load(run)
    assert isinstance(model.prior, LSTMPrior) and model.prior.lstm.hidden_size == 8
    saved = load_checkpoint(run)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
