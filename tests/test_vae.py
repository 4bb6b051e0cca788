"""The VAE class itself: its bounds against a grid-integrated log p(x), memory-bounded IWAE,
training options (warm-up, beta, free bits, IWAE objective), diagnostics and clear errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.core.metrics import bits_per_dim
from zoo.engine.evaluator import evaluate
from zoo.models.vae import VAE
from zoo.nn.gaussian import (
    diag_gaussian_log_prob,
    gaussian_kl,
    reparameterize,
    standard_normal_log_prob,
)

TINY_IMAGE = zoo.DataSpec("image", (1, 2, 2), levels=2)
TINY_AUDIO = zoo.DataSpec("audio", (6,), levels=5, sample_rate=8000)


def all_inputs(spec: zoo.DataSpec) -> torch.Tensor:
    values = list(itertools.product(range(spec.levels), repeat=spec.D))
    return torch.tensor(values, dtype=torch.long).reshape(-1, *spec.shape)


def one_latent_vae(seed: int, scale: float, spec=TINY_IMAGE, head="auto") -> VAE:
    torch.manual_seed(seed)
    model = VAE(spec, encoder="mlp", latent_dim=1, hidden=[8], head=head).double()
    with torch.no_grad():  # a decoder that depends strongly on z: a non-trivial posterior
        for p in model.decoder.parameters():
            p.mul_(scale)
    return model.eval()


def grid_truth(model: VAE, x: torch.Tensor):
    """log p(x) and the exact ELBO of a 1-D-latent VAE, integrated on a dense z grid."""
    z = torch.linspace(-10.0, 10.0, 4001, dtype=torch.float64)[:, None]
    dz = float(z[1, 0] - z[0, 0])
    with torch.no_grad():
        params = model.decode(z)
        log_lik = torch.stack(
            [model.recon_log_prob(params, xi.expand(len(z), *xi.shape)) for xi in x]
        )  # [N, G]
        log_px = torch.logsumexp(log_lik + standard_normal_log_prob(z[:, 0]), 1) + math.log(dz)
        mu, logvar = model.encode(x)
        q = diag_gaussian_log_prob(z[:, 0], mu, logvar).exp() * dz  # [N, G]
        elbo = (q * log_lik).sum(1) - gaussian_kl(mu, logvar).sum(1)
        log_post = log_lik + standard_normal_log_prob(z[:, 0]) - log_px[:, None]
        kl_post = (q * (diag_gaussian_log_prob(z[:, 0], mu, logvar) - log_post)).sum(1)
    return log_px, elbo, kl_post


@settings(max_examples=6)
@given(st.integers(0, 10_000), st.floats(1.0, 4.0), st.sampled_from(["image", "audio"]))
def test_vae_with_one_latent_matches_grid_integrated_log_likelihood(seed, scale, modality):
    spec = TINY_IMAGE if modality == "image" else TINY_AUDIO.with_(shape=(2,))
    head = "auto" if modality == "image" else "logistic"
    model = one_latent_vae(seed, scale, spec, head)
    x = all_inputs(spec)
    log_px, elbo, kl_post = grid_truth(model, x)
    # the decoder is a normalised distribution over the whole space
    assert float(torch.logsumexp(log_px, 0).exp()) == pytest.approx(1.0, abs=1e-6)
    # ELBO <= log p(x), the gap is KL(q || p(z|x))
    assert (elbo <= log_px + 1e-9).all()
    assert torch.allclose(log_px - elbo, kl_post, atol=1e-5)
    # the model's one-draw ELBO is an unbiased estimate of the exact one
    reps = 1000
    with torch.no_grad():
        est = model.log_prob(x.repeat(reps, *([1] * (x.dim() - 1)))).reshape(reps, -1)
    se = est.std(0) / math.sqrt(reps)
    assert ((est.mean(0) - elbo).abs() <= 5 * se + 1e-6).all()


@settings(max_examples=4)
@given(st.integers(0, 10_000), st.floats(1.0, 3.0))
def test_vae_iwae_estimates_rise_with_k_between_elbo_and_log_likelihood(seed, scale):
    model = one_latent_vae(seed, scale)
    x = all_inputs(TINY_IMAGE)
    log_px, elbo, _ = grid_truth(model, x)
    torch.manual_seed(seed)
    previous = None
    for k, reps in ((1, 400), (10, 200), (100, 100), (1000, 50)):
        with torch.no_grad():
            est = model.log_prob(x.repeat(reps, 1, 1, 1), k=k).reshape(reps, -1)
        mean, se = est.mean(0), est.std(0) / math.sqrt(reps)
        assert (mean >= elbo - 5 * se - 1e-6).all()
        assert (mean <= log_px + 5 * se + 1e-6).all()
        if previous is not None:
            assert (mean >= previous[0] - 5 * torch.hypot(se, previous[1]) - 1e-6).all()
        previous = (mean, se)
    gap_1000, gap_1 = log_px - previous[0], log_px - elbo
    assert (gap_1000 <= torch.clamp(0.25 * gap_1, min=0.05) + 5 * previous[1]).all()


def test_iwae_5000_keeps_decoder_batches_within_iwae_batch():
    model = VAE(
        zoo.DataSpec("image", (1, 4, 4), levels=2), latent_dim=3, hidden=[16], iwae_batch=64
    ).eval()
    seen: list[int] = []
    model.decoder.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    x = torch.randint(0, 2, (8, 1, 4, 4))
    with torch.no_grad():
        lp = model.log_prob(x, k=5000)
    assert lp.shape == (8,) and torch.isfinite(lp).all()
    assert max(seen) <= 64 and sum(seen) == 8 * 5000


def test_iwae_draws_are_reproducible_with_a_generator():
    model = VAE(TINY_IMAGE, latent_dim=2, hidden=[8], iwae_batch=8).eval()
    x = all_inputs(TINY_IMAGE)
    a = model.iwae_bound(x, 37, generator=torch.Generator().manual_seed(3))
    b = model.iwae_bound(x, 37, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_iwae_bound_is_unchanged_by_the_broadcast_likelihood():
    """IWAE-k with the head's broadcast scorer (log_prob_each) equals, draw for draw, the
    bound computed with x copied once per importance sample (Burda's 784-200-200-50 net)."""
    from zoo.nn.heads import Head

    spec = zoo.DataSpec("image", (1, 28, 28), levels=2)
    torch.manual_seed(0)
    model = VAE(spec, latent_dim=50, hidden=[200, 200], iwae_batch=256).eval()
    x = (torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1)) < 0.2).long()
    with torch.no_grad():
        fast = model.iwae_bound(x, 500, generator=torch.Generator().manual_seed(2))
        model.head.log_prob_each = Head.log_prob_each.__get__(model.head)  # x repeated
        slow = model.iwae_bound(x, 500, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(fast, slow, rtol=1e-6, atol=0.0)


def test_iwae_evaluation_of_a_split_is_a_function_of_the_seed():
    ds = zoo.load_dataset("digits")
    model = VAE(ds.spec, latent_dim=4, hidden=[16]).eval()
    a, b = (evaluate(model, ds, "test", k=20, max_examples=40, seed=7) for _ in range(2))
    c = evaluate(model, ds, "test", k=20, max_examples=40, seed=8)
    assert a["estimate"] == "iwae-20" and a["split"] == "test[:40]"
    assert a["nats_per_example"] == b["nats_per_example"]
    assert c["nats_per_example"] != a["nats_per_example"]


# ---------------------------------------------------------------------- architectures
def test_conv_vae_matches_the_peer_architecture_parameter_count():
    """pytorch-generative's VAE (strides [2, 2, 2, 2], 64 hidden / 32 residual channels,
    16 latent channels, 1 channel out) has 974,241 parameters (REFERENCE_FIGURES.md)."""
    model = VAE(
        zoo.DataSpec("image", (1, 32, 32), levels=2),
        encoder="conv",
        stages=4,
        channels=64,
        res_channels=32,
        res_blocks=2,
        latent_channels=16,
    )
    assert model.num_parameters() == 974_241
    assert model.latent_shape == (16, 2, 2)


@pytest.mark.parametrize(
    "spec, hparams",
    [
        (zoo.DataSpec("image", (1, 5, 7), levels=2), {"encoder": "conv", "stages": 2}),
        (
            zoo.DataSpec("image", (3, 4, 4), levels=256),
            {"encoder": "conv", "stages": 1, "head": "logistic", "mixtures": 3},
        ),
        (zoo.DataSpec("image", (1, 3, 3), levels=17), {"head": "categorical"}),
        (zoo.DataSpec("image", (3, 2, 2), levels=256), {"head": "logistic"}),
        (
            zoo.DataSpec("audio", (37,), levels=256, sample_rate=8000),
            {"encoder": "conv", "stages": 3, "head": "logistic", "mixtures": 2},
        ),
        (zoo.DataSpec("text", (9,), levels=5), {"encoder": "conv", "stages": 2}),
        (zoo.DataSpec("text", (9,), levels=5), {"encoder": "mlp"}),
        (zoo.DataSpec("text", (9,), levels=5), {"decoder_context": 3, "context_channels": 8}),
    ],
)
def test_every_architecture_and_head_samples_in_range_and_scores_its_samples(spec, hparams):
    small = {
        "channels": 8,
        "res_channels": 4,
        "latent_channels": 2,
        "hidden": [16],
        "latent_dim": 4,
    }
    model = VAE(spec, **{**small, **hparams}).eval()
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *spec.shape) and x.dtype == torch.long
    assert int(x.min()) >= 0 and int(x.max()) < spec.levels
    same = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, same)
    with torch.no_grad():
        lp, lp_k = model.log_prob(x), model.log_prob(x, k=4)
    assert lp.shape == lp_k.shape == (5,)
    assert torch.isfinite(lp).all() and (lp <= 0).all()
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, *model.latent_shape)
    assert model.decode(mu).shape[0] == 5
    loss, parts = model.train().loss(x)
    loss.backward()
    assert torch.isfinite(loss) and {"nll_bound", "recon", "kl"} <= set(parts)


# ---------------------------------------------------------------------- short-context decoder
TINY_TEXT = zoo.DataSpec("text", (3,), levels=3)


def context_vae(seed: int, context: int, spec=TINY_TEXT, latent_dim: int = 2) -> VAE:
    torch.manual_seed(seed)
    model = VAE(
        spec, latent_dim=latent_dim, hidden=[8], decoder_context=context, context_channels=6
    ).double()
    with torch.no_grad():  # large decoder weights: logits that depend on z and the context
        for name, p in model.named_parameters():
            if not name.startswith("encoder"):
                p.mul_(3.0)
    return model.eval()


CONTEXT_SPECS = [  # text; a binary image (Bernoulli head); a 2-channel image, 3 levels
    TINY_TEXT,
    zoo.DataSpec("image", (1, 2, 2), levels=2),
    zoo.DataSpec("image", (2, 1, 2), levels=3),
]


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.sampled_from(CONTEXT_SPECS))
def test_short_context_decoder_is_a_distribution_over_every_input_given_z(seed, context, spec):
    model = context_vae(seed, context, spec)
    x = all_inputs(spec)
    z = torch.randn(4, *model.latent_shape, dtype=torch.float64)
    with torch.no_grad():
        params = model.decode(z)  # [4, K, T]
        total = torch.stack(
            [model.recon_log_prob(params, xi.expand(4, *xi.shape)).exp() for xi in x]
        ).sum(0)
    torch.testing.assert_close(total, torch.ones(4, dtype=torch.float64))


@settings(max_examples=12, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 4),
    st.integers(0, 7),
    st.sampled_from([("text", (8,), 5), ("image", (2, 2, 2), 2), ("image", (2, 2, 2), 3)]),
)
def test_short_context_logits_at_t_read_only_the_c_values_before_t(seed, context, t, shape):
    modality, dims, k = shape
    spec = zoo.DataSpec(modality, dims, levels=k)
    model = context_vae(seed, context, spec)
    x = torch.randint(0, k, (1, *dims), generator=torch.Generator().manual_seed(seed))
    params = model.decode(torch.randn(1, *model.latent_shape, dtype=torch.float64))

    def logits_at_t(x):  # the parameters of the t-th value in x's flattened order
        return model._with_context(params, x).reshape(1, model._value_params, -1)[:, :, t]

    with torch.no_grad():
        before = logits_at_t(x)
        for s in range(8):
            y = x.clone().view(1, -1)
            y[0, s] = (y[0, s] + 1) % k
            seen = t - context <= s < t
            assert torch.equal(before, logits_at_t(y.view_as(x))) != seen, (s, t, context)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000))
def test_short_context_bounds_sit_below_the_grid_integrated_log_likelihood(seed):
    model = context_vae(seed, 2, latent_dim=1)
    x = all_inputs(TINY_TEXT)
    log_px, elbo, kl_post = grid_truth(model, x)
    torch.testing.assert_close(torch.logsumexp(log_px, 0), torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(log_px - elbo, kl_post, atol=2e-3, rtol=1e-3)  # z grid's error
    assert (elbo <= log_px + 1e-6).all()


def test_short_context_importance_weights_pair_each_draw_with_its_own_sequence():
    model = context_vae(3, 2)
    x = all_inputs(TINY_TEXT)[::4]  # [7, 3], distinct sequences
    with torch.no_grad():
        mu, logvar = model.encode(x)
        w = model._log_weights(x, mu, logvar, 5, torch.Generator().manual_seed(0))  # [5, 7]
        z = reparameterize(mu, logvar, 5, torch.Generator().manual_seed(0))  # [5, 7, L]
        for i in range(5):
            want = (
                model.recon_log_prob(model.decode(z[i]), x)
                + standard_normal_log_prob(z[i]).sum(1)
                - diag_gaussian_log_prob(z[i], mu, logvar).sum(1)
            )
            torch.testing.assert_close(w[i], want)


@pytest.mark.parametrize(
    "spec", [zoo.DataSpec("text", (2,), levels=3), zoo.DataSpec("image", (1, 1, 3), levels=2)]
)
def test_short_context_samples_follow_the_model(spec):
    model = context_vae(1, 1, spec)
    n, k = 20_000, spec.levels
    x = model.sample(n, generator=torch.Generator().manual_seed(0)).reshape(n, -1)
    index = sum(x[:, i] * k ** (spec.D - 1 - i) for i in range(spec.D))
    freq = torch.bincount(index, minlength=k**spec.D).double() / n
    z = torch.randn(n, *model.latent_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        params = model.decode(z.double())
        p = torch.stack(
            [
                model.recon_log_prob(params, xi.expand(n, *xi.shape)).exp().mean()
                for xi in all_inputs(spec)
            ]
        )
    torch.testing.assert_close(freq, p, atol=0.015, rtol=0)


# ---------------------------------------------------------------------- training options
def test_kl_warmup_follows_set_step_and_scales_the_kl_term():
    model = VAE(TINY_IMAGE, latent_dim=2, hidden=[8], beta=2.0, kl_warmup=100)
    x = all_inputs(TINY_IMAGE)
    for step, expected in ((0, 0.0), (25, 0.5), (100, 2.0), (1000, 2.0)):
        model.set_step(step)
        assert model.kl_weight() == pytest.approx(expected)
        with torch.no_grad():
            loss, parts = model.eval().loss(x)
        assert float(loss) == pytest.approx(
            float(parts["recon"] + expected * parts["kl"]), rel=1e-5
        )
        assert float(parts["beta"]) == pytest.approx(expected)


def test_kl_warmup_counts_training_steps_without_a_trainer():
    model = VAE(TINY_IMAGE, latent_dim=2, hidden=[8], kl_warmup=4).train()
    x = all_inputs(TINY_IMAGE)
    weights = []
    for _ in range(6):
        weights.append(model.kl_weight())
        model.loss(x)
    assert weights == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_free_bits_floor_each_latent_groups_batch_mean_kl():
    x = all_inputs(TINY_IMAGE)
    for encoder, groups in (("mlp", 3), ("conv", 2)):
        model = VAE(
            TINY_IMAGE,
            encoder=encoder,
            latent_dim=3,
            hidden=[8],
            latent_channels=2,
            channels=4,
            res_channels=2,
            stages=1,
            free_bits=50.0,
        ).eval()
        torch.manual_seed(0)
        loss, parts = model.loss(x)
        # every group is far below 50 nats: the KL term is the floor, with no gradient
        assert float(loss.detach() - parts["recon"]) == pytest.approx(50.0 * groups, rel=1e-6)
        loss.backward()
        mu_grad = [p.grad for p in model.encoder.parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in mu_grad)  # via the recon term
    free = VAE(TINY_IMAGE, latent_dim=3, hidden=[8], free_bits=0.0).eval()
    torch.manual_seed(0)
    loss, parts = free.loss(x)
    assert float(loss.detach()) == pytest.approx(float(parts["recon"] + parts["kl"]), rel=1e-5)


def test_iwae_objective_with_one_sample_has_the_elbos_expectation():
    model = VAE(TINY_IMAGE, latent_dim=2, hidden=[8], objective="iwae", train_k=1).eval()
    x = all_inputs(TINY_IMAGE).repeat(500, 1, 1, 1)
    torch.manual_seed(0)
    with torch.no_grad():
        iwae1, _ = model.loss(x)
        elbo = -model.log_prob(x).mean()
    assert float(iwae1) == pytest.approx(float(elbo), abs=0.05)
    k5 = VAE(TINY_IMAGE, latent_dim=2, hidden=[8], objective="iwae", train_k=5)
    loss, parts = k5.loss(all_inputs(TINY_IMAGE))
    loss.backward()
    assert torch.isfinite(loss) and "nll_bound" in parts


def test_training_on_digits_improves_the_elbo():
    digits = zoo.load_dataset("digits")
    x = digits.splits["train"].x[:128].long()
    torch.manual_seed(0)
    model = VAE(digits.spec, latent_dim=8, hidden=[32], activation="relu")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(model.log_prob(x).mean())
    for step in range(40):
        model.set_step(step)
        loss, _ = model.loss(x[(step * 32) % 128 :][:32])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(model.log_prob(x).mean())
    assert after > before + 20.0


# ---------------------------------------------------------------------- diagnostics
def test_extra_metrics_are_consistent_in_nats_and_bits():
    model = VAE(TINY_AUDIO, latent_dim=3, hidden=[8], metrics_k=20).eval()
    x = torch.randint(0, 5, (64, 6))
    torch.manual_seed(0)
    m = model.extra_metrics(x)
    assert m["elbo_nats"] == pytest.approx(-(m["recon_nats"] + m["kl_nats"]), rel=1e-5)
    assert m["kl_bits"] == pytest.approx(m["kl_nats"] / math.log(2), rel=1e-6)
    assert m["elbo_bits_per_dim"] == pytest.approx(bits_per_dim(m["elbo_nats"], 6), rel=1e-6)
    assert m["iwae20_bits_per_dim"] == pytest.approx(bits_per_dim(m["iwae20_nats"], 6), rel=1e-6)
    assert 0 <= m["active_units"] <= m["latent_units"] == 3


def test_active_units_count_latents_whose_posterior_mean_varies():
    model = VAE(TINY_AUDIO, latent_dim=4, hidden=[8]).eval()
    x = torch.randint(0, 5, (128, 6))
    last = model.encoder[-1]
    with torch.no_grad():
        last.weight.zero_()  # a collapsed encoder: q(z|x) is the same for every x
    assert model.extra_metrics(x)["active_units"] == 0
    with torch.no_grad():
        last.weight[:2] = 5.0 * torch.randn(2, last.weight.shape[1])  # two means vary with x
    assert model.extra_metrics(x)["active_units"] == 2


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "hparams, message",
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"encoder": "conv", "latent_channels": 0}, "latent_channels"),
        ({"head": "bernoulli"}, "bernoulli.*levels=2.*17"),
        ({"head": "gaussian"}, "head must be one of"),
        ({"encoder": "rnn"}, "encoder"),
        ({"train_k": 0}, "train_k"),
        ({"objective": "iwae", "free_bits": 1.0}, "IWAE objective"),
        ({"beta": -1.0}, "beta"),
        ({"hidden": [0]}, "hidden"),
        ({"encoder": "conv", "stages": 0}, "stages"),
        ({"decoder_context": 2, "head": "logistic"}, "decoder_context=2 .*'logistic'"),
        ({"decoder_context": -1}, "decoder_context"),
    ],
)
def test_bad_hyper_parameters_are_rejected_with_the_expected_value(hparams, message):
    with pytest.raises(ValueError, match=message):
        VAE(zoo.DataSpec("image", (1, 4, 4), levels=17), **hparams)


def test_bad_k_data_and_latents_are_rejected():
    model = VAE(zoo.DataSpec("image", (1, 4, 4), levels=17), latent_dim=2, hidden=[8])
    x = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    for k in (0, -3, 2.5):
        with pytest.raises(ValueError, match="k"):
            model.log_prob(x, k=k)
        with pytest.raises(ValueError, match="k"):
            model.iwae_bound(x, k)
    outside = x.clone()
    outside[0, 0, 1, 1] = 17
    for fn in (model.log_prob, model.encode, model.loss, model.extra_metrics):
        with pytest.raises(ValueError, match=r"\[0, 17\)"):
            fn(outside)
    with pytest.raises(ValueError, match=r"z must have shape \[N, 2\]"):
        model.decode(torch.zeros(3, 5))


def test_old_decoder_head_keyword_still_builds_the_same_model_with_a_warning():
    spec = zoo.DataSpec("image", (1, 4, 4), levels=17)
    with pytest.warns(DeprecationWarning, match="decoder_head= is deprecated"):
        old = VAE(spec, decoder_head="logistic", mixtures=2)
    assert old.head.name == "logistic" and old.head.mixtures == 2
    with pytest.raises(ValueError, match="head= only"):
        VAE(spec, head="categorical", decoder_head="logistic")
