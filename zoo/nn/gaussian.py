"""Diagonal Gaussians for latent-variable models, written once: KL, log-density, sampling.

Every function works elementwise on tensors that broadcast together; callers sum over the
latent dimensions they own. Variances are carried as log-variances (``logvar``), the usual
parameterisation of an encoder's output.

- :func:`gaussian_kl`: ``KL(N(mu, e^logvar) || N(0, 1))`` per element, in closed form
  (Kingma & Welling 2014, Appendix B): ``0.5 (mu^2 + e^logvar - 1 - logvar)``.
- :func:`gaussian_kl_between`: ``KL(N(mu_q, var_q) || N(mu_p, var_p))`` per element.
- :func:`diag_gaussian_log_prob` / :func:`standard_normal_log_prob`: log-densities.
- :func:`reparameterize`: ``z = mu + e^(logvar / 2) * eps``, ``eps ~ N(0, I)``, optionally with a
  leading dimension of ``n`` samples (the importance samples of IWAE).
- :func:`log_mean_exp` and :class:`RunningLogMeanExp`: ``log (1/k) sum_i exp(a_i)``, at once or
  over chunks of samples, so an IWAE bound with k = 5000 never holds all k weights.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-element ``KL(N(mu, exp(logvar)) || N(0, 1))`` in nats (>= 0, 0 iff mu=0, logvar=0)."""
    return 0.5 * (mu.square() + (torch.expm1(logvar) - logvar))  # expm1: no cancellation at 0


def gaussian_kl_between(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor,
    logvar_p: torch.Tensor,
) -> torch.Tensor:
    """Per-element ``KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p))`` in nats."""
    return 0.5 * (
        logvar_p
        - logvar_q
        + (torch.exp(logvar_q) + (mu_q - mu_p).square()) * torch.exp(-logvar_p)
        - 1.0
    )


def diag_gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-element ``log N(z; mu, exp(logvar))`` (nats)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() * torch.exp(-logvar))


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Per-element ``log N(z; 0, 1)`` (nats)."""
    return -0.5 * (LOG_2PI + z.square())


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``z ~ N(mu, exp(logvar))`` differentiably in ``mu`` and ``logvar``.

    Returns ``mu``'s shape, or ``[n, *mu.shape]`` when ``n`` is given (n samples per entry).
    """
    shape = mu.shape if n is None else (n, *mu.shape)
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n (samples) must be an int >= 1, got {n!r}")
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def log_mean_exp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``log (1/k) sum_i exp(a_i)`` along ``dim`` (k = its size), without overflow."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


class RunningLogMeanExp:
    """``log mean exp`` over samples that arrive in chunks (a streaming logsumexp).

    ``update(chunk)`` takes ``[c, *batch]`` values; ``value()`` is the log-mean-exp over every
    sample seen so far, ``[*batch]``, equal to :func:`log_mean_exp` of their concatenation.
    """

    def __init__(self) -> None:
        self._lse: torch.Tensor | None = None
        self.count = 0

    def update(self, chunk: torch.Tensor) -> None:
        lse = torch.logsumexp(chunk, dim=0)
        self._lse = lse if self._lse is None else torch.logaddexp(self._lse, lse)
        self.count += chunk.shape[0]

    def value(self) -> torch.Tensor:
        if self._lse is None:
            raise ValueError("RunningLogMeanExp: no samples were added")
        return self._lse - math.log(self.count)
