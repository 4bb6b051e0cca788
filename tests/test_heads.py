"""The output distributions of every family: normalised, hand-checked, sampled faithfully."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from zoo.core.spec import DataSpec
from zoo.nn.heads import (
    HEADS,
    Bernoulli,
    Categorical,
    DiscretizedLogisticMixture,
    make_head,
    resolve_head,
)


def head_for(name: str, C: int, K: int, **kw):
    return make_head(name, DataSpec("image", (C, 1, 1), levels=K), **kw)


def _all_pixels(C: int, K: int) -> torch.Tensor:
    """Every pixel value of C colours with K levels, ``[K^C, C, 1, 1]``."""
    return torch.tensor(list(itertools.product(range(K), repeat=C))).view(-1, C, 1, 1)


def _joint_log_prob(head, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log P(pixel) for ``x: [N, C, 1, 1]`` under one parameter vector ``params: [P]``."""
    p = params.view(1, -1, 1, 1).expand(x.shape[0], -1, 1, 1)
    return head.log_prob(p, x).flatten(1).sum(1)


@pytest.mark.parametrize(
    "name,layout,mixtures",
    [(n, "ck", 3) for n in HEADS] + [("categorical", "kc", 3), ("logistic", "ck", 1)],
)
@given(
    C=st.sampled_from([1, 2, 3]),
    K=st.sampled_from([2, 3, 5, 17]),
    seed=st.integers(0, 2**16),
    scale=st.floats(0.1, 5.0),
)
def test_head_sums_to_one_over_every_pixel_value(name, layout, mixtures, C, K, seed, scale):
    if name == "bernoulli" and K != 2:
        return
    if K**C > 5000:
        return
    head = head_for(name, C, K, mixtures=mixtures, layout=layout)
    params = torch.randn(head.num_params, generator=torch.Generator().manual_seed(seed)) * scale
    total = _joint_log_prob(head, params.double(), _all_pixels(C, K)).exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", HEADS)
@given(
    n=st.integers(1, 4),
    b=st.integers(1, 3),
    C=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
    scale=st.floats(0.1, 30.0),
)
def test_log_prob_each_is_x_repeated_through_log_prob(name, n, b, C, seed, scale):
    """The broadcast scorer of n parameter sets per example (IWAE's decoder passes) gives the
    per-example sum of log_prob over x repeated n times, the way it was first computed."""
    K = 2 if name == "bernoulli" else 5
    head = make_head(name, DataSpec("image", (C, 3, 2), levels=K), mixtures=2, layout="kc")
    g = torch.Generator().manual_seed(seed)
    params = torch.randn(n, b, head.num_params, 3, 2, generator=g) * scale
    x = torch.randint(0, K, (b, C, 3, 2), generator=g)
    repeated = x.unsqueeze(0).expand(n, *x.shape).flatten(0, 1)
    want = head.log_prob(params.flatten(0, 1), repeated).flatten(1).sum(1).reshape(n, b)
    got = head.log_prob_each(params, x)
    assert got.shape == (n, b)
    assert torch.allclose(got, want, rtol=1e-6, atol=1e-5)


def test_bernoulli_log_prob_each_matches_hand_values():
    logits = torch.tensor([0.3, -2.0, 40.0]).view(1, 1, 1, 1, 3)  # n=1, B=1, P=1, 1x3
    x = torch.tensor([1, 0, 0]).view(1, 1, 1, 3)
    want = math.log(1 / (1 + math.exp(-0.3))) + math.log(1 / (1 + math.exp(-2.0))) - 40.0
    got = Bernoulli(1, 2).log_prob_each(logits, x)
    assert float(got) == pytest.approx(want, rel=1e-6)


def test_bernoulli_head_matches_hand_value():
    head = Bernoulli(1, 2)
    lp = head.log_prob(
        torch.tensor([0.3]).view(1, 1, 1, 1), torch.ones(1, 1, 1, 1, dtype=torch.long)
    )
    assert float(lp) == pytest.approx(math.log(1 / (1 + math.exp(-0.3))), rel=1e-6)


def test_categorical_head_matches_hand_value():
    head = Categorical(2, 3)
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, math.log(2.0)]])  # colour 0, colour 1
    x = torch.tensor([2, 1]).view(1, 2, 1, 1)
    lp = head.log_prob(logits.view(1, 6, 1, 1), x).flatten()
    e = math.exp
    assert float(lp[0]) == pytest.approx(math.log(e(3) / (e(1) + e(2) + e(3))), rel=1e-6)
    assert float(lp[1]) == pytest.approx(math.log(1 / 4), rel=1e-6)


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_logistic_mixture_matches_hand_value_with_coupled_means():
    """Two colours, K = 3, one component: P(x0 = 1) * P(x1 = 2 | x0 = 1) by hand."""
    K, head = 3, DiscretizedLogisticMixture(2, 3, mixtures=1, coupled=True)
    # layout: logit | means (c0, c1) | log-scales (c0, c1) | coefficient (1 <- 0)
    mu0, mu1, ls0, ls1, raw = 0.2, -0.1, math.log(0.5), math.log(0.8), 0.4
    params = torch.tensor([0.0, mu0, mu1, ls0, ls1, raw], dtype=torch.float64)
    x = torch.tensor([1, 2]).view(1, 2, 1, 1)
    lp = float(_joint_log_prob(head, params, x))
    half = 1 / (K - 1)
    x0 = 2 * 1 / (K - 1) - 1  # level 1 -> 0.0
    p0 = _sigmoid((x0 + half - mu0) / 0.5) - _sigmoid((x0 - half - mu0) / 0.5)
    mu1c = mu1 + math.tanh(raw) * x0
    x1 = 1.0  # level 2 (top): the bin reaches +inf
    p1 = 1 - _sigmoid((x1 - half - mu1c) / 0.8)
    assert lp == pytest.approx(math.log(p0 * p1), rel=1e-6)


@pytest.mark.parametrize(
    "name,C,K",
    [
        ("bernoulli", 1, 2),
        ("categorical", 2, 3),
        ("logistic", 2, 3),
        ("logistic_mixture", 2, 3),
        ("logistic_mixture", 3, 2),
    ],
)
@pytest.mark.parametrize("draw", ["uniforms", "generator"])
def test_head_samples_follow_its_own_log_prob(name, C, K, draw):
    """Draws (from pre-drawn uniforms, or from a generator) have the frequencies
    exp(log_prob) says (n = 40,000)."""
    torch.manual_seed(0)
    head = head_for(name, C, K, mixtures=2, layout="kc" if draw == "generator" else "ck")
    params = torch.randn(head.num_params)
    n = 40_000
    u = torch.rand(n, head.noise_channels)
    p = params.expand(n, -1)
    if draw == "generator":
        g = torch.Generator().manual_seed(1)
        x = head.sample(p.reshape(n, -1, 1, 1), g).reshape(n, C)
    elif head.grouped:
        x = torch.zeros(n, C, dtype=torch.long)
        for c in range(C):  # a grouped head's colours are independent given its params
            x[:, c] = head.sample_channel(p, u, c)
    else:
        x = head.sample_pixel(p, u)
    values = _all_pixels(C, K)
    expected = _joint_log_prob(head, params.double(), values).exp()
    codes = (x * (K ** torch.arange(C - 1, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=K**C).double() / n
    assert torch.allclose(freq, expected, atol=0.012), (freq, expected)


def test_bernoulli_head_rejects_more_than_two_levels():
    with pytest.raises(ValueError, match="levels=2"):
        head_for("bernoulli", 1, 3)
    with pytest.raises(ValueError, match="head must be one of"):
        head_for("softmax", 1, 3)


@pytest.mark.parametrize(
    "levels,want", [(2, "bernoulli"), (3, "categorical"), (256, "categorical")]
)
def test_auto_is_one_rule_for_every_family(levels, want):
    assert resolve_head("auto", levels) == want


def test_categorical_layouts_hold_the_same_distribution_in_another_order():
    C, K = 3, 4
    ck = torch.randn(2, C, K, 2)  # [B, C, K, S]
    x = torch.randint(K, (2, C, 2))
    a = Categorical(C, K, "ck").log_prob(ck.flatten(1, 2), x)
    b = Categorical(C, K, "kc").log_prob(ck.transpose(1, 2).flatten(1, 2), x)
    torch.testing.assert_close(a, b)


def test_one_component_logistic_carries_no_weight_and_matches_the_single_logistic():
    head = DiscretizedLogisticMixture(2, 5, mixtures=1)
    assert head.num_params == 4
    weighted = DiscretizedLogisticMixture(2, 5, mixtures=1, coupled=True)  # zero coupling below
    assert weighted.num_params == 1 + 4 + 1
    params = torch.randn(3, 4, 2)
    x = torch.randint(5, (3, 2, 2))
    with_weight = torch.cat([torch.zeros(3, 1, 2), params, torch.zeros(3, 1, 2)], 1)
    torch.testing.assert_close(
        head.log_prob(params, x).sum(1), weighted.log_prob(with_weight, x).sum(1)
    )


def _old_head_keyword_builds():
    from zoo.models.vae import VAE
    from zoo.models.vqvae import VQVAE
    from zoo.models.wavenet import WaveNet
    from zoo.models.wavenet_ae import WaveNetAutoencoder

    image = DataSpec("image", (1, 4, 4), levels=2)
    audio = DataSpec("audio", (32,), levels=16, sample_rate=800)
    small = dict(layers=2, residual_channels=4, gate_channels=4, skip_channels=4)
    return {
        "VAE": lambda: VAE(image, decoder_head="bernoulli", hidden=(4,), latent_dim=2),
        "VQVAE": lambda: VQVAE(image, likelihood="bernoulli", num_codes=4, code_dim=2, hidden=4),
        "WaveNet": lambda: WaveNet(audio, output="categorical", **small),
        "WaveNetAutoencoder": lambda: WaveNetAutoencoder(
            audio, output="categorical", features="waveform", encoder_channels=4, **small
        ),
    }


@pytest.mark.parametrize("family", ["VAE", "VQVAE", "WaveNet", "WaveNetAutoencoder"])
def test_a_deprecated_head_keyword_warns_at_the_callers_line_not_inside_zoo(family):
    build = _old_head_keyword_builds()[family]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build()
    [w] = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert f"{family}: " in str(w.message) and "is deprecated, use head=" in str(w.message)
    assert w.filename == __file__, w.filename
