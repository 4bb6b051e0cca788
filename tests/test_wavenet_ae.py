"""WaveNet autoencoder: jitter, bitrate, latent rate, causality, bounds, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core.metrics import vq_bitrate
from zoo.core.spec import DataSpec
from zoo.models.wavenet_ae import WaveNetAutoencoder, jitter_indices, time_jitter

SMALL = dict(
    encoder_channels=8,
    encoder_blocks=1,
    latent_dim=4,
    num_codes=8,
    cond_channels=8,
    layers=3,
    stacks=1,
    residual_channels=8,
    gate_channels=8,
    skip_channels=8,
    global_dim=4,
)


def _spec(T=640, levels=16, sr=8000, speakers=3):
    labels = {"speaker": speakers, "digit": 10} if speakers else {}
    return DataSpec("audio", (T,), levels, sample_rate=sr, labels=labels)


@settings(deadline=None, max_examples=40)
@given(
    B=st.integers(1, 4),
    L=st.integers(1, 60),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_jitter_moves_a_latent_at_most_one_step_and_keeps_the_length(B, L, p, seed):
    g = torch.Generator().manual_seed(seed)
    idx = jitter_indices(B, L, p, generator=g)
    assert idx.shape == (B, L)
    assert (idx - torch.arange(L)).abs().max() <= 1
    assert idx.min() >= 0 and idx.max() < L
    z = torch.randn(B, 3, L)
    zj = time_jitter(z, p, generator=torch.Generator().manual_seed(seed))
    assert zj.shape == z.shape
    for b in range(B):  # every output latent is one of its own neighbours (or itself)
        for t in range(L):
            src = [s for s in (t - 1, t, t + 1) if 0 <= s < L]
            assert any(torch.equal(zj[b, :, t], z[b, :, s]) for s in src)


def test_jitter_rate_matches_the_probability():
    idx = jitter_indices(200, 100, 0.12, generator=torch.Generator().manual_seed(0))
    moved = (idx[:, 1:-1] != torch.arange(1, 99)).float().mean()  # interior latents
    assert abs(float(moved) - 0.12) < 0.01
    assert torch.equal(jitter_indices(3, 7, 0.0), torch.arange(7).expand(3, 7))


@pytest.mark.parametrize(
    "sr,rate,K", [(8000, 50.0, 64), (16000, 25.0, 512), (8000, 40.0, 2), (22050, 50.0, 320)]
)
def test_vq_bitrate_is_latent_rate_times_log2_k_exactly(sr, rate, K):
    m = WaveNetAutoencoder(
        _spec(sr=sr), bottleneck="vq", latent_rate=rate, **{**SMALL, "num_codes": K}
    )
    assert m.latent_rate == sr / m.hop
    assert m.bitrate == vq_bitrate(m.latent_rate, K) == m.latent_rate * math.log2(K)
    x = torch.randint(16, (2, 640))
    metrics = m.extra_metrics(x, cond={"speaker": torch.tensor([0, 1])})
    assert metrics["bottleneck_bits_per_s"] == m.latent_rate * math.log2(K)
    assert metrics["waveform_bits_per_s"] == sr * math.log2(16)
    if sr % (2 * int(rate)) == 0:  # exact when sample_rate / (rate * downsample) is whole
        assert m.latent_rate == rate
    else:  # the nearest rate the hop allows: 22,050 / 441 is odd, so hop 440 -> 50.11 Hz
        assert abs(m.latent_rate - rate) / rate < 0.01


@pytest.mark.parametrize("features", ["mfcc", "mel", "waveform"])
@pytest.mark.parametrize("sr,rate,downsample", [(8000, 50.0, 2), (16000, 25.0, 4), (8000, 32.0, 1)])
def test_encoder_downsampling_gives_the_configured_latent_rate(features, sr, rate, downsample):
    T = 1000
    m = WaveNetAutoencoder(
        _spec(T=T, sr=sr), features=features, latent_rate=rate, downsample=downsample, **SMALL
    ).eval()
    assert m.hop == sr / rate  # these rates divide the sample rate exactly
    x = torch.randint(16, (2, T))
    codes = m.encode(x)
    assert codes.shape == (2, math.ceil(T / m.hop)) == (2, m.num_latents())
    reps = m.representations(x)
    assert set(reps) == {"encoder", "projection", "bottleneck", "conditioning"}
    assert all(r.shape[0] == 2 and r.shape[2] == m.num_latents() for r in reps.values())


def test_encoder_latents_depend_only_on_their_stretch_of_audio():
    # the encoder is not causal, but its receptive field is local: changing the last 160
    # samples leaves the first latents unchanged
    m = WaveNetAutoencoder(_spec(T=1600), bottleneck="ae", features="mel", **SMALL).eval()
    x = torch.randint(16, (1, 1600))
    y = x.clone()
    y[:, -160:] = torch.randint(16, (1, 160))
    a, b = m.encode(x), m.encode(y)
    assert torch.equal(a[..., :3], b[..., :3])


@settings(deadline=None, max_examples=20)
@given(t=st.integers(0, 95), seed=st.integers(0, 1000))
def test_decoder_is_causal_given_the_latents(t, seed):
    torch.manual_seed(0)
    m = WaveNetAutoencoder(_spec(T=96, speakers=0), bottleneck="vq", **SMALL).eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(16, (1, 96), generator=g)
    z = m.quantizer.lookup(torch.randint(8, (1, m.num_latents(96)), generator=g))
    _, local = m._condition(z, 96)
    y = x.clone()
    y[:, t:] = torch.randint(16, (1, 96 - t), generator=g)
    a = m.decoder.logits_given(x, local)
    b = m.decoder.logits_given(y, local)
    # output at step s predicts x[s] from x[<s]: steps <= t never see the change at t or later
    assert torch.allclose(a[..., : t + 1], b[..., : t + 1], atol=1e-6)


@pytest.mark.parametrize("bottleneck", ["ae", "vq", "vae"])
def test_log_prob_is_a_bound_on_a_tiny_space(bottleneck):
    torch.manual_seed(0)
    spec = DataSpec("audio", (4,), levels=3, sample_rate=8000)
    m = WaveNetAutoencoder(spec, bottleneck=bottleneck, **SMALL).eval()
    assert m.estimate == ("elbo" if bottleneck == "vae" else "bound")
    X = torch.tensor(list(itertools.product(range(3), repeat=4)))
    with torch.no_grad():
        lp = m.log_prob(X)
    assert lp.shape == (81,) and torch.isfinite(lp).all()
    assert float(lp.exp().sum()) <= 1.0 + 1e-6
    if bottleneck != "vae":  # the deterministic bound: decoder minus the cost of the latents
        cost = m.num_latents() * (math.log(8) if bottleneck == "vq" else 4 * 4 * math.log(2))
        assert torch.allclose(lp, m.conditional_log_prob(X) - cost, atol=1e-4)


def test_vae_iwae_bound_is_finite_and_tightens_on_average():
    torch.manual_seed(0)
    m = WaveNetAutoencoder(_spec(T=160, speakers=0), bottleneck="vae", **SMALL).eval()
    x = torch.randint(16, (4, 160))
    elbo = torch.stack([m.log_prob(x) for _ in range(8)]).mean()
    iwae = m.log_prob(x, k=8).mean()
    assert torch.isfinite(iwae) and iwae >= elbo - 0.5


def test_audio_at_another_sample_rate_is_a_clear_error():
    m = WaveNetAutoencoder(_spec(), **SMALL)
    with pytest.raises(ValueError, match="built for 8000 Hz.*16000 Hz.*resample"):
        m.encode(torch.randint(16, (1, 640)), sample_rate=16000)
    m.check_sample_rate(8000)  # the right rate passes


def test_speaker_outside_the_table_or_missing_is_a_clear_error():
    m = WaveNetAutoencoder(_spec(speakers=3), **SMALL)
    x = torch.randint(16, (2, 640))
    with pytest.raises(ValueError, match=r"speaker.*\[0, 3\)"):
        m.log_prob(x, cond={"speaker": torch.tensor([0, 3])})
    with pytest.raises(ValueError, match="speaker"):
        m.log_prob(x)  # conditioned on the speaker, none given
    assert m.log_prob(x, cond={"speaker": torch.tensor([0, 2])}).shape == (2,)


def test_bad_hyperparameters_say_what_is_expected():
    with pytest.raises(ValueError, match="bottleneck"):
        WaveNetAutoencoder(_spec(), bottleneck="gumbel")
    with pytest.raises(ValueError, match="latent_rate"):
        WaveNetAutoencoder(_spec(), latent_rate=5000.0)
    with pytest.raises(ValueError, match="jitter"):
        WaveNetAutoencoder(_spec(), jitter=1.5)


@pytest.mark.parametrize("bottleneck", ["ae", "vq", "vae"])
def test_samples_from_prior_and_from_latents_are_in_range(bottleneck):
    m = WaveNetAutoencoder(_spec(T=200), bottleneck=bottleneck, **SMALL).eval()
    cond = {"speaker": torch.tensor([0, 2])}
    g = torch.Generator().manual_seed(0)
    s = m.sample(2, cond=cond, generator=g)
    assert s.shape == (2, 200) and s.dtype == torch.int64 and 0 <= s.min() and s.max() < 16
    x = torch.randint(16, (2, 200))
    r1 = m.reconstruct(x, cond=cond, generator=torch.Generator().manual_seed(1))
    r2 = m.reconstruct(x, cond=cond, generator=torch.Generator().manual_seed(1), fast=False)
    assert torch.equal(r1, r2)  # fast and naive decoding agree given the same latents


def test_one_training_step_moves_every_part():
    torch.manual_seed(0)
    m = WaveNetAutoencoder(_spec(T=320), bottleneck="vq", ema=False, **SMALL)
    x = torch.randint(16, (4, 320))
    loss, parts = m.loss(x, cond={"speaker": torch.tensor([0, 1, 2, 0])})
    loss.backward()
    assert {"recon", "vq", "perplexity"} <= set(parts)
    for name in ("enc_in.weight", "project.weight", "quantizer.codebook", "cond_conv.weight"):
        assert m.get_parameter(name).grad.abs().sum() > 0, name


# ---------------------------------------------------------------- non-max suppression (issue 26)
from zoo.models.wavenet_ae import emission_count, local_maxima, log_binomial, nms_mask  # noqa: E402


@settings(deadline=None, max_examples=60)
@given(
    B=st.integers(1, 4), L=st.integers(1, 50), frac=st.floats(0.05, 1.0), seed=st.integers(0, 99)
)
def test_nms_mask_emits_exactly_k_and_prefers_local_maxima(B, L, frac, seed):
    score = torch.randn(B, L, generator=torch.Generator().manual_seed(seed))
    k = emission_count(L, frac)
    m = nms_mask(score, k)
    assert torch.equal(m.sum(1), torch.full((B,), float(k)))
    is_max = local_maxima(score)
    for b in range(B):
        n_max = int(is_max[b].sum())
        chosen = m[b] > 0
        if n_max >= k:  # all emissions are local maxima, the k highest of them
            assert bool(is_max[b][chosen].all())
            top = score[b][is_max[b]].sort(descending=True).values[:k]
            assert torch.allclose(score[b][chosen].sort(descending=True).values, top)
        else:  # every local maximum is emitted
            assert bool(chosen[is_max[b]].all())


def test_local_maxima_on_a_hand_example():
    s = torch.tensor([[3.0, 1.0, 2.0, 2.0, 0.0, 5.0]])
    assert local_maxima(s).tolist() == [[True, False, True, False, False, True]]
    assert nms_mask(s, 2).tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]


def _nms_model(bottleneck="vq", T=640, **kw):
    torch.manual_seed(0)
    return WaveNetAutoencoder(
        _spec(T=T), bottleneck=bottleneck, emission="nms", latent_rate=25.0, **SMALL, **kw
    )


@pytest.mark.parametrize("bottleneck", ["ae", "vae", "vq"])
def test_nms_latents_are_exactly_a_quarter_nonzero(bottleneck):
    model = _nms_model(bottleneck, T=2560).eval()  # 8 kHz, 25 Hz: L = 8
    x = torch.randint(16, (3, 2560))
    L = model.num_latents()
    assert L == 8 and model.num_emitted(L) == 2
    reps = model.representations(x)
    z = reps["bottleneck"]
    nonzero = (z.abs().sum(1) > 0).float()
    em = model.emission_scores(x)
    assert torch.equal(nonzero, em["mask"]) or bool((nonzero <= em["mask"]).all())
    assert torch.equal(em["mask"].sum(1), torch.full((3,), 2.0))
    if bottleneck == "vq":
        codes = model.encode(x)
        assert torch.equal((codes >= 0).float(), em["mask"])
        z_back = model._latents_to_z(codes)
        assert torch.allclose(z_back, z)


def test_nms_gradient_reaches_the_score_at_every_frame():
    model = _nms_model("vq").train()
    x = torch.randint(16, (2, 640))
    loss, _ = model.loss(x, cond={"speaker": torch.tensor([0, 1]), "digit": torch.tensor([1, 2])})
    loss.backward()
    g = model.score.weight.grad
    assert g is not None and float(g.abs().sum()) > 0


@pytest.mark.parametrize("bottleneck", ["ae", "vq", "vae"])
def test_nms_bound_and_bitrate_count_the_positions(bottleneck):
    T = 2560
    model = _nms_model(bottleneck, T=T).eval()
    dense = WaveNetAutoencoder(_spec(T=T), bottleneck=bottleneck, latent_rate=25.0, **SMALL).eval()
    L, k = model.num_latents(), model.num_emitted(model.num_latents())
    pos = log_binomial(L, k)
    assert pos == pytest.approx(math.log(math.comb(L, k)))
    assert model.position_nats(L) == pytest.approx(pos) and dense.position_nats(L) == 0.0
    seconds = T / 8000
    if bottleneck == "vq":
        assert model.bitrate == pytest.approx((k * math.log2(8) + pos / math.log(2)) / seconds)
        assert model.bitrate < dense.bitrate
    if bottleneck == "ae":
        assert model._rate_nats(L) == pytest.approx(k * 4 * 4 * math.log(2) + pos)
    x = torch.randint(16, (2, T))
    cond = {"speaker": torch.tensor([0, 2]), "digit": torch.tensor([3, 4])}
    m = model.extra_metrics(x, cond=cond)
    assert m["emission_fraction"] == pytest.approx(k / L)
    assert m["position_bits_per_s"] == pytest.approx(pos / math.log(2) / seconds)
    if bottleneck != "vae":  # the bound is the decoder's figure minus all the bits sent
        with torch.no_grad():
            lp = model.log_prob(x, cond=cond)
            rec = model.conditional_log_prob(x, cond=cond)
        assert torch.allclose(lp, rec - model._rate_nats(L), atol=1e-4)
    else:
        with torch.no_grad():
            assert bool(torch.isfinite(model.log_prob(x, cond=cond, k=3)).all())


def test_nms_prior_latents_place_k_emissions():
    model = _nms_model("vq", T=2560)
    lat = model.prior_latents(5, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal((lat >= 0).sum(1), torch.full((5,), 2))
    y = model.sample(2, cond={"speaker": torch.tensor([0, 1]), "digit": torch.tensor([0, 0])})
    assert y.shape == (2, 2560)


def test_nms_bad_options_raise():
    with pytest.raises(ValueError, match="emission"):
        WaveNetAutoencoder(_spec(), emission="sparse", **SMALL)
    with pytest.raises(ValueError, match="emission_fraction"):
        WaveNetAutoencoder(_spec(), emission="nms", emission_fraction=0.0, **SMALL)


# ---------------------------------------------------------------- codebook remedies (issue 31)
def test_vq_remedies_reach_the_quantizer_and_take_effect_in_training():
    torch.manual_seed(0)
    opts = dict(decay=0.9, dead_code_threshold=0.0, dead_code_steps=3, kmeans_init=2)
    m = WaveNetAutoencoder(_spec(T=320), bottleneck="vq", ema=True, beta=0.5, **opts, **SMALL)
    q = m.quantizer
    assert (q.decay, q.dead_code_steps, q.kmeans_init, q.beta) == (0.9, 3, 2, 0.5)
    assert q.dead_code_threshold == 0.0 and not bool(q.initialised)
    before = q.codebook.clone()
    x = torch.randint(16, (4, 320))
    with torch.no_grad():  # evaluation never initialises or moves the codebook
        m.log_prob(x, cond={"speaker": torch.tensor([0, 1, 2, 0])})
    assert torch.equal(q.codebook, before) and not bool(q.initialised)
    m.train()
    m.loss(x, cond={"speaker": torch.tensor([0, 1, 2, 0])})
    assert bool(q.initialised)  # k-means ran on the first training batch
    # the k-means codebook lies inside the encoder outputs' range, unlike the uniform init
    assert not torch.allclose(q.codebook, before)
    assert WaveNetAutoencoder(_spec(T=320), bottleneck="vq", **SMALL).quantizer.kmeans_init == 0
