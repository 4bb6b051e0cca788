"""The shared discretised likelihoods: normalised for any K, exact edge bins, faithful draws."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.nn.discretized import (
    categorical_from_uniform,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    levels_to_unit,
    logistic_from_uniform,
    unit_to_levels,
)


@given(
    K=st.sampled_from([2, 3, 17, 256]),
    mean=st.floats(-3, 3),
    log_scale=st.floats(-9, 3),
)
def test_discretized_logistic_sums_to_one_over_all_levels(K, mean, log_scale):
    x = torch.arange(K)
    lp = discretized_logistic_log_prob(
        x, torch.tensor(mean, dtype=torch.float64), torch.tensor(log_scale, dtype=torch.float64), K
    )
    assert torch.isfinite(lp).all()
    assert float(lp.exp().sum()) == pytest.approx(1.0, abs=1e-5)  # float32 levels


def test_discretized_logistic_matches_hand_value_and_edges():
    K, mean, s = 5, 0.1, 0.3
    half = 1 / (K - 1)

    def cdf(t: float) -> float:
        return 1 / (1 + math.exp(-(t - mean) / s))

    def lp(level: int) -> float:
        x = torch.tensor(level)
        m, ls = (
            torch.tensor(mean, dtype=torch.float64),
            torch.tensor(math.log(s), dtype=torch.float64),
        )
        return float(discretized_logistic_log_prob(x, m, ls, K))

    centre = 2 * 2 / (K - 1) - 1
    assert lp(2) == pytest.approx(math.log(cdf(centre + half) - cdf(centre - half)), rel=1e-6)
    assert lp(0) == pytest.approx(math.log(cdf(-1 + half)), rel=1e-6)  # bin reaches -inf
    assert lp(K - 1) == pytest.approx(math.log(1 - cdf(1 - half)), rel=1e-6)  # and +inf


def test_tiny_interior_probabilities_do_not_underflow_to_minus_inf():
    lp = discretized_logistic_log_prob(
        torch.tensor(128), torch.tensor(-1.0), torch.tensor(-7.0), 256
    )
    assert torch.isfinite(lp) and lp < -100


def test_mixture_of_one_component_equals_the_component():
    x = torch.randint(0, 7, (3, 2, 4))
    means = torch.randn(3, 1, 2, 4)
    ls = torch.randn(3, 1, 2, 4) * 0.3
    mix = discretized_logistic_mixture_log_prob(x, torch.zeros(3, 1, 4), means, ls, 7)
    single = discretized_logistic_log_prob(x, means[:, 0], ls[:, 0], 7).sum(1)
    assert torch.allclose(mix, single, atol=1e-5)


@given(K=st.sampled_from([2, 3, 17, 256]))
def test_levels_round_trip_through_the_unit_interval(K):
    x = torch.arange(K)
    assert torch.equal(unit_to_levels(levels_to_unit(x, K), K), x)


def test_categorical_from_uniform_inverts_the_cdf():
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    u = torch.tensor([0.0, 0.19, 0.21, 0.69, 0.71, 0.999999])
    got = categorical_from_uniform(logits.expand(6, 3), u)
    assert got.tolist() == [0, 0, 1, 1, 2, 2]


def test_logistic_from_uniform_lands_in_the_bin_of_its_quantile():
    K, mean, ls = 9, 0.05, math.log(0.2)
    u = torch.linspace(0.001, 0.999, 999)
    got = logistic_from_uniform(torch.full_like(u, mean), torch.full_like(u, ls), u, K)
    cdf = discretized_logistic_log_prob(torch.arange(K), torch.tensor(mean), torch.tensor(ls), K)
    edges = cdf.exp().cumsum(0)
    expected = (edges[None, :] < u[:, None]).sum(1).clamp(max=K - 1)
    assert (got != expected).sum() <= 2  # only float ties at the bin edges may differ


@settings(deadline=None)
@given(
    mean=st.floats(-3.0, 3.0),
    log_scale=st.floats(-10.0, 40.0),
    levels=st.sampled_from([2, 17, 256]),
)
def test_logistic_gradients_are_finite_for_any_scale(mean, log_scale, levels):
    """A very wide logistic makes a bin's width tiny in standard units; the gradient must stay
    finite there (NaN gradients once stopped a VAE on 8-bit MNIST at step 30)."""
    x = torch.arange(levels)
    m = torch.full((levels,), mean, requires_grad=True)
    s = torch.full((levels,), log_scale, requires_grad=True)
    discretized_logistic_log_prob(x, m, s, levels).sum().backward()
    assert torch.isfinite(m.grad).all() and torch.isfinite(s.grad).all()
