"""The variational bounds, pinned down on toy latent-variable models where log p(x) is exact.

Two toys, with random parameters and data drawn by hypothesis:

- a discrete latent with S <= 4 states summed out: log p(x), the ELBO, KL(q || p(z|x)) and even
  the exact expectation of the IWAE-k estimator (over the multinomial counts of k draws) are
  finite sums;
- a 1-D or 2-D Gaussian latent with a Bernoulli decoder, integrated on a dense grid.

Properties: ELBO <= log p(x), with equality at q = p(z|x); log p(x) - ELBO = KL(q || p(z|x));
E[IWAE-k] = ELBO at k = 1, non-decreasing in k, <= log p(x), and its gap closes at least as
fast as Var_q(w) / (2 k w_min^2) (a bound proved in the docstring of that test). Plus the
Gaussian helpers (closed-form KL vs Monte Carlo) and the nats <-> bits conversions.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.core import metrics
from zoo.nn.gaussian import (
    RunningLogMeanExp,
    diag_gaussian_log_prob,
    gaussian_kl,
    gaussian_kl_between,
    log_mean_exp,
    reparameterize,
    standard_normal_log_prob,
)

DT = torch.float64

reals = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------------- discrete latent toy
@st.composite
def discrete_model(draw):
    """(log p(z) [S], log p(x|z) [S] for the observed x, log q(z|x) [S])."""
    s = draw(st.integers(2, 4))
    d, v = draw(st.integers(1, 4)), draw(st.integers(2, 3))
    prior = torch.tensor(draw(st.lists(reals, min_size=s, max_size=s)), dtype=DT)
    table = torch.tensor(draw(st.lists(reals, min_size=s * d * v, max_size=s * d * v)), dtype=DT)
    x = torch.tensor(draw(st.lists(st.integers(0, v - 1), min_size=d, max_size=d)))
    q = torch.tensor(draw(st.lists(reals, min_size=s, max_size=s)), dtype=DT)
    # p(x|z) = prod_d softmax(table[z, d])[x_d]
    log_lik = table.reshape(s, d, v).log_softmax(-1)[:, torch.arange(d), x].sum(-1)
    return prior.log_softmax(0), log_lik, q.log_softmax(0)


def discrete_exact(log_prior, log_lik, log_q):
    log_joint = log_prior + log_lik
    log_px = torch.logsumexp(log_joint, 0)
    q = log_q.exp()
    elbo = (q * (log_joint - log_q)).sum()
    kl_post = (q * (log_q - (log_joint - log_px))).sum()
    return float(log_px), float(elbo), float(kl_post)


def compositions(k: int, s: int) -> torch.Tensor:
    """Every count vector n in N^s with sum k (stars and bars): ``[C(k+s-1, s-1), s]``."""
    rows = []
    for bars in itertools.combinations(range(k + s - 1), s - 1):
        edges = (-1, *bars, k + s - 1)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(s)])
    return torch.tensor(rows, dtype=DT)


def expected_iwae(log_prior, log_lik, log_q, k: int) -> float:
    """E[log (1/k) sum_i w(z_i)], z_i ~ q i.i.d., exactly: a sum over multinomial counts."""
    n = compositions(k, log_q.shape[0])
    log_w = log_prior + log_lik - log_q
    log_multinomial = math.lgamma(k + 1) - torch.lgamma(n + 1).sum(1) + (n * log_q).sum(1)
    value = torch.logsumexp(torch.log(n) + log_w, dim=1) - math.log(k)  # log(0) terms drop out
    return float((log_multinomial.exp() * value).sum())


@given(discrete_model())
def test_elbo_is_below_log_likelihood_by_exactly_the_posterior_kl(model):
    log_px, elbo, kl_post = discrete_exact(*model)
    assert elbo <= log_px + 1e-12
    assert kl_post >= -1e-12
    assert log_px - elbo == pytest.approx(kl_post, abs=1e-10)


@given(discrete_model())
def test_elbo_is_tight_when_q_is_the_true_posterior(model):
    log_prior, log_lik, _ = model
    posterior = (log_prior + log_lik).log_softmax(0)
    log_px, elbo, kl_post = discrete_exact(log_prior, log_lik, posterior)
    assert elbo == pytest.approx(log_px, abs=1e-10)
    assert kl_post == pytest.approx(0.0, abs=1e-10)
    # and IWAE-k is then exact for every k: all weights equal p(x)
    assert expected_iwae(log_prior, log_lik, posterior, 7) == pytest.approx(log_px, abs=1e-10)


@given(discrete_model())
def test_expected_iwae_is_elbo_at_one_then_non_decreasing_in_k_and_below_log_likelihood(model):
    log_px, elbo, _ = discrete_exact(*model)
    values = [expected_iwae(*model, k) for k in (1, 2, 3, 5, 8, 13, 21)]
    assert values[0] == pytest.approx(elbo, abs=1e-10)
    for a, b in itertools.pairwise(values):
        assert b >= a - 1e-10
    assert values[-1] <= log_px + 1e-10


@settings(max_examples=15)
@given(discrete_model())
def test_iwae_gap_closes_at_rate_one_over_k(model):
    """With w = p(x, z) / q(z|x) >= w_min > 0 and t = (1/k) sum_i w_i / p(x) >= m = w_min / p(x),
    log t >= (t - 1) - (t - 1)^2 / (2 m^2) for all t >= m (the difference is 0 at t = 1, its
    derivative (t - 1)(1/m^2 - 1/t) has the sign of t - 1). Taking expectations (E t = 1,
    Var t = Var_q(w) / (k p^2)): log p(x) - E[IWAE-k] <= Var_q(w) / (2 k w_min^2) -> 0."""
    log_prior, log_lik, log_q = model
    log_px, _, _ = discrete_exact(*model)
    w = (log_prior + log_lik - log_q).exp()
    q = log_q.exp()
    var_w = float((q * (w - (q * w).sum()).square()).sum())
    for k in (1, 4, 16, 64):
        gap = log_px - expected_iwae(*model, k)
        assert -1e-10 <= gap <= var_w / (2 * k * float(w.min()) ** 2) + 1e-10


# ---------------------------------------------------------------------- Gaussian latent toy
@st.composite
def gaussian_latent_model(draw, min_logvar: float = -2.0):
    """A 1-D or 2-D N(0, I) latent, x in {0,1}^D ~ Bernoulli(sigmoid(W z + b)), a Gaussian q."""
    dz, d = draw(st.integers(1, 2)), draw(st.integers(1, 5))
    small = st.floats(-2.5, 2.5, allow_nan=False)
    w = torch.tensor(draw(st.lists(small, min_size=d * dz, max_size=d * dz)), dtype=DT)
    b = torch.tensor(draw(st.lists(small, min_size=d, max_size=d)), dtype=DT)
    x = torch.tensor(draw(st.lists(st.integers(0, 1), min_size=d, max_size=d)), dtype=DT)
    mu = torch.tensor(draw(st.lists(st.floats(-1.5, 1.5), min_size=dz, max_size=dz)), dtype=DT)
    lv = torch.tensor(
        draw(st.lists(st.floats(min_logvar, 0.5), min_size=dz, max_size=dz)), dtype=DT
    )
    return w.reshape(d, dz), b, x, mu, lv


def grid(dz: int) -> tuple[torch.Tensor, float]:
    """Grid points [G, dz] on [-9, 9]^dz and the volume of one cell."""
    n = 1801 if dz == 1 else 361
    axis = torch.linspace(-9.0, 9.0, n, dtype=DT)
    step = float(axis[1] - axis[0])
    pts = torch.cartesian_prod(*([axis] * dz)).reshape(-1, dz)
    return pts, step**dz


def grid_quantities(w, b, x, mu, lv):
    z, cell = grid(w.shape[1])
    logits = z @ w.T + b  # [G, D]
    log_lik = (
        -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        )
    ).sum(1)
    log_joint = log_lik + standard_normal_log_prob(z).sum(1)
    log_px = torch.logsumexp(log_joint, 0) + math.log(cell)
    log_q = diag_gaussian_log_prob(z, mu, lv).sum(1)
    q = log_q.exp() * cell
    return z, cell, log_lik, log_joint, log_px, log_q, q


@settings(max_examples=20)
@given(gaussian_latent_model())
def test_gaussian_latent_elbo_gap_is_the_posterior_kl_on_a_grid(model):
    w, b, x, mu, lv = model
    z, cell, log_lik, log_joint, log_px, log_q, q = grid_quantities(*model)
    assert float(q.sum()) == pytest.approx(1.0, abs=1e-6)  # the grid holds q
    # the VAE's ELBO: expected log-likelihood under q, minus the closed-form KL to the prior
    elbo = (q * log_lik).sum() - gaussian_kl(mu, lv).sum()
    log_post = log_joint - log_px
    kl_post = (q * (log_q - log_post)).sum()
    assert float(elbo) <= float(log_px) + 1e-9
    assert float(log_px - elbo) == pytest.approx(float(kl_post), abs=1e-6)
    # q = the (grid) posterior makes the bound tight
    post = (log_post + math.log(cell)).exp()
    elbo_at_post = (post * (log_joint - log_post)).sum()
    assert float(elbo_at_post) == pytest.approx(float(log_px), abs=1e-9)


@pytest.mark.parametrize("min_logvar", [-2.0, 0.0])
@settings(max_examples=6)
@given(data=st.data())
def test_gaussian_latent_iwae_rises_from_elbo_towards_log_likelihood(min_logvar, data):
    """Monte Carlo means of the IWAE-k estimator (fixed seed, 2,000 replicates each) lie between
    the exact ELBO and log p(x) within 5 standard errors and rise with k. Where the weights
    p(x, z) / q(z|x) are bounded (q at least as wide as the prior: Burda et al.'s condition for
    IWAE-k -> log p(x)), k = 128 closes at least 80% of the gap or lands within 0.01 nats.
    (A q narrower than the prior gives unbounded weights, of infinite variance below var 1/2:
    the bound still rises, but slowly.)"""
    model = data.draw(gaussian_latent_model(min_logvar))
    w, b, x, mu, lv = model
    _, _, log_lik, _, log_px, _, q = grid_quantities(*model)
    elbo = float((q * log_lik).sum() - gaussian_kl(mu, lv).sum())
    log_px = float(log_px)
    gen = torch.Generator().manual_seed(0)
    reps, means = 2000, []
    for k in (1, 4, 16, 128):
        z = reparameterize(mu, lv, n=k * reps, generator=gen).reshape(k, reps, -1)
        log_w = (
            (
                -torch.nn.functional.binary_cross_entropy_with_logits(
                    z @ w.T + b, x.expand(k, reps, -1), reduction="none"
                )
            ).sum(-1)
            + standard_normal_log_prob(z).sum(-1)
            - diag_gaussian_log_prob(z, mu, lv).sum(-1)
        )
        est = log_mean_exp(log_w, dim=0)  # [reps]
        mean, se = float(est.mean()), float(est.std() / math.sqrt(reps))
        assert elbo - 5 * se - 1e-9 <= mean <= log_px + 5 * se + 1e-9
        means.append((mean, se))
    for (a, sa), (b_, sb) in itertools.pairwise(means):
        assert b_ >= a - 5 * math.hypot(sa, sb) - 1e-9
    final = means[-1][0]
    if min_logvar >= 0.0:
        assert log_px - final <= max(0.2 * (log_px - elbo), 0.01) + 5 * means[-1][1]


# ---------------------------------------------------------------------- Gaussian helpers
@given(st.floats(-5, 5), st.floats(-6, 4))
def test_analytic_kl_is_non_negative_and_zero_only_at_the_prior(mu, lv):
    kl = float(gaussian_kl(torch.tensor(mu, dtype=DT), torch.tensor(lv, dtype=DT)))
    assert kl >= 0.0
    zero = torch.zeros((), dtype=DT)
    assert float(gaussian_kl(zero, zero)) == 0.0


@settings(max_examples=15)
@given(st.floats(-3, 3), st.floats(-2, 1.5), st.floats(-2, 2), st.floats(-1.5, 1.5))
def test_analytic_kl_agrees_with_its_monte_carlo_estimate(mu_q, lv_q, mu_p, lv_p):
    t = lambda v: torch.tensor([v], dtype=DT)  # noqa: E731
    gen = torch.Generator().manual_seed(1)
    z = reparameterize(t(mu_q), t(lv_q), n=200_000, generator=gen)
    log_ratio = diag_gaussian_log_prob(z, t(mu_q), t(lv_q)) - diag_gaussian_log_prob(
        z, t(mu_p), t(lv_p)
    )
    mc, se = float(log_ratio.mean()), float(log_ratio.std() / math.sqrt(z.shape[0]))
    exact = float(gaussian_kl_between(t(mu_q), t(lv_q), t(mu_p), t(lv_p)))
    assert exact >= 0.0
    assert mc == pytest.approx(exact, abs=5 * se + 1e-6)
    # against N(0, 1) the general formula is the VAE's closed form
    assert float(gaussian_kl(t(mu_q), t(lv_q))) == pytest.approx(
        float(gaussian_kl_between(t(mu_q), t(lv_q), t(0.0), t(0.0))), abs=1e-12
    )


@given(st.floats(-3, 3), st.floats(-3, 2))
def test_gaussian_log_density_integrates_to_one_and_matches_torch(mu, lv):
    z, cell = grid(1)
    m, v = torch.tensor(mu, dtype=DT), torch.tensor(lv, dtype=DT)
    density = diag_gaussian_log_prob(z[:, 0] * 2.0, m, v).exp()  # grid on [-18, 18]
    assert float(density.sum() * cell * 2.0) == pytest.approx(1.0, abs=1e-6)
    ref = torch.distributions.Normal(m, (0.5 * v).exp()).log_prob(z[:5, 0])
    assert torch.allclose(diag_gaussian_log_prob(z[:5, 0], m, v), ref, atol=1e-10)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 1000))
def test_running_log_mean_exp_equals_log_mean_exp_of_all_chunks(sizes, seed):
    gen = torch.Generator().manual_seed(seed)
    chunks = [torch.randn(n, 3, generator=gen, dtype=DT) * 50.0 for n in sizes]
    running = RunningLogMeanExp()
    for c in chunks:
        running.update(c)
    assert torch.allclose(running.value(), log_mean_exp(torch.cat(chunks), 0), atol=1e-9)


def test_running_log_mean_exp_without_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        RunningLogMeanExp().value()


def test_reparameterize_rejects_a_sample_count_below_one():
    with pytest.raises(ValueError, match="n"):
        reparameterize(torch.zeros(2), torch.zeros(2), n=0)


# ---------------------------------------------------------------------- units
@given(
    st.lists(st.floats(-1e4, 0.0, allow_nan=False), min_size=1, max_size=20),
    st.integers(1, 4096),
)
def test_bits_per_dim_is_nats_per_example_over_d_ln2(log_probs, d):
    lp = torch.tensor(log_probs, dtype=DT)
    bpd = metrics.bits_per_dim(lp, d)
    assert bpd * d * math.log(2) == pytest.approx(-float(lp.mean()), rel=1e-12, abs=1e-9)
    assert metrics.bits_to_nats(metrics.nats_to_bits(float(lp.mean()))) == pytest.approx(
        float(lp.mean()), rel=1e-12, abs=1e-12
    )
    assert metrics.nats_to_bits(-float(lp.mean())) / d == pytest.approx(bpd, rel=1e-12, abs=1e-12)
