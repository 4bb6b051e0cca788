"""Output distributions over K discrete levels, written once for every family.

Conventions: ``x`` holds integer levels in ``[0, K)``; continuous parameters live on the
interval [-1, 1], where level ``i`` sits at ``2 i / (K - 1) - 1`` and owns the bin of
half-width ``1 / (K - 1)`` around it. The lowest bin extends to -inf and the highest to +inf,
so the K probabilities sum to exactly 1 (Salimans et al. 2017, PixelCNN++).

Everything is computed in log space without fallbacks: for an interior bin
``log(sigmoid(a) - sigmoid(b)) = logsigmoid(a) + logsigmoid(-b) + log1mexp(a - b)``, which is
exact for any a > b, so tiny probabilities never underflow to log 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_LOG_SCALE = -7.0  # scales below e^-7 are clamped, as in PixelCNN++ (a parameter bound)


def levels_to_unit(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer levels [0, K) -> centres on [-1, 1]."""
    return x.float() * (2.0 / (levels - 1)) - 1.0


def unit_to_levels(u: torch.Tensor, levels: int) -> torch.Tensor:
    """Values on the real line -> the level whose bin holds them (ends take the tails)."""
    return torch.round((u + 1.0) * ((levels - 1) / 2.0)).clamp_(0, levels - 1).long()


def log1mexp(d: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(-d))`` for d > 0, stable for small and large d (Maechler 2012).

    Each branch sees only the inputs it is chosen for (the other gets ln 2): ``torch.where``
    back-propagates through both branches, and ``log1p(-exp(-d))`` has an infinite gradient at
    a tiny d (a very wide logistic), which would turn every gradient into NaN.
    """
    ln2 = math.log(2.0)
    small = d < ln2
    d_small = torch.where(small, d, torch.full_like(d, ln2))
    d_large = torch.where(small, torch.full_like(d, ln2), d)
    return torch.where(small, torch.log(-torch.expm1(-d_small)), torch.log1p(-torch.exp(-d_large)))


def discretized_logistic_log_prob(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int
) -> torch.Tensor:
    """Log-probability of integer levels under a logistic discretised to ``levels`` bins.

    ``x``, ``mean`` and ``log_scale`` broadcast together; the result has their broadcast shape.
    """
    log_scale = log_scale.clamp(min=MIN_LOG_SCALE)
    inv_s = torch.exp(-log_scale)
    half = 1.0 / (levels - 1)
    centre = levels_to_unit(x, levels) - mean
    a = (centre + half) * inv_s  # upper edge, standardised
    b = (centre - half) * inv_s  # lower edge
    lowest = F.logsigmoid(a)  # P(X <= upper edge): the bin of level 0
    highest = F.logsigmoid(-b)  # P(X > lower edge): the bin of level K-1
    interior = lowest + highest + log1mexp(a - b)  # each log-sigmoid computed once
    return torch.where(x == 0, lowest, torch.where(x == levels - 1, highest, interior))


def discretized_logistic_mixture_log_prob(
    x: torch.Tensor,
    logits: torch.Tensor,
    means: torch.Tensor,
    log_scales: torch.Tensor,
    levels: int,
) -> torch.Tensor:
    """Log-probability under a mixture of discretised logistics shared across channels.

    Args:
        x: ``[B, C, *S]`` integer levels.
        logits: ``[B, M, *S]`` unnormalised mixture weights, one set per position.
        means, log_scales: ``[B, M, C, *S]`` per component and channel (for PixelCNN++ the
            caller has already made the means of later channels depend on earlier ones).
    Returns:
        ``[B, *S]``: log P(all C values at each position).
    """
    per_value = discretized_logistic_log_prob(x.unsqueeze(1), means, log_scales, levels)
    per_component = per_value.sum(dim=2)  # [B, M, *S]: channels of one component multiply
    return torch.logsumexp(per_component + F.log_softmax(logits, dim=1), dim=1)


def sample_discretized_logistic(
    mean: torch.Tensor,
    log_scale: torch.Tensor,
    levels: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw levels by inverse-CDF sampling of the continuous logistic, then binning."""
    u = torch.rand(mean.shape, generator=generator, device=mean.device)
    u = u.clamp(1e-5, 1.0 - 1e-5)
    z = mean + torch.exp(log_scale.clamp(min=MIN_LOG_SCALE)) * (torch.log(u) - torch.log1p(-u))
    return unit_to_levels(z, levels)


def sample_categorical(
    logits: torch.Tensor,
    dim: int = -1,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Draw indices from ``softmax(logits / temperature)`` along ``dim`` (Gumbel-max)."""
    if temperature <= 0:
        return logits.argmax(dim=dim)
    u = torch.rand(logits.shape, generator=generator, device=logits.device)
    gumbel = -torch.log((-torch.log(u.clamp(1e-20, 1.0))).clamp_min(1e-20))
    return (logits / temperature + gumbel).argmax(dim=dim)


def categorical_log_prob(
    logits: torch.Tensor, x: torch.Tensor, dim: int = 1, *, consume: bool = False
) -> torch.Tensor:
    """``log softmax(logits)[x]`` along ``dim``; ``x`` has logits' shape without ``dim``.

    With gradients on, :class:`_PickedLogSoftmax` computes it: the same kernels as
    ``log_softmax(...).gather(...)`` in the same order (values and gradients bit for bit the
    same, ``tests/test_fused_losses.py``), with one full-size buffer fewer in the backward.
    ``consume=True`` (the caller's promise that ``logits`` is a temporary nobody reads again,
    e.g. a linear layer's output passed straight in): the log-softmax is written over
    ``logits`` in place, one full-size buffer fewer in the forward too."""
    idx = x.long().unsqueeze(dim)
    if torch.is_grad_enabled() and logits.requires_grad:
        return _PickedLogSoftmax.apply(logits, idx, dim, consume).squeeze(dim)
    return F.log_softmax(logits, dim=dim).gather(dim, idx).squeeze(dim)


class _PickedLogSoftmax(torch.autograd.Function):
    """``log_softmax(logits, dim).gather(dim, idx)`` whose backward writes the softmax
    gradient into the one buffer that holds the picked entries' gradient (autograd's own
    chain allocates a second, ``[*logits.shape]``, for ``log_softmax``'s backward): on a
    word-level softmax (``[700, 10000]`` per step) that buffer is 28 MB written per step."""

    @staticmethod
    def forward(
        ctx, logits: torch.Tensor, idx: torch.Tensor, dim: int, consume: bool
    ) -> torch.Tensor:
        if consume:  # the same kernel, its output over its input (each row read, then written)
            lp = torch._log_softmax(logits, dim, False, out=logits)
        else:
            lp = F.log_softmax(logits, dim=dim)
        ctx.save_for_backward(lp, idx)
        ctx.dim = dim
        return lp.gather(dim, idx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        lp, idx = ctx.saved_tensors
        # gather's backward (zeros, then scatter_add_), then log_softmax's, in place
        dense = torch.zeros_like(lp).scatter_add_(ctx.dim, idx, grad)
        torch._log_softmax_backward_data(dense, lp, ctx.dim, lp.dtype, out=dense)
        return dense, None, None, None


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Elementwise log P(x) for x in {0, 1} under Bernoulli(sigmoid(logits))."""
    return -F.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")


# ---------------------------------------------------------------------- inverse-CDF draws
# Samplers that take their uniform noise from the caller, one number per drawn value, so two
# code paths (e.g. naive and cached autoregressive generation) that consume the same pre-drawn
# noise in the same order produce the same samples.


def categorical_from_uniform(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw from ``softmax(logits)`` over the last dim; ``u`` has the other dims."""
    cdf = torch.softmax(logits.float(), dim=-1).cumsum(dim=-1)
    idx = (cdf < u.unsqueeze(-1)).sum(dim=-1)
    return idx.clamp_(max=logits.shape[-1] - 1)


def logistic_from_uniform(
    mean: torch.Tensor, log_scale: torch.Tensor, u: torch.Tensor, levels: int
) -> torch.Tensor:
    """Inverse-CDF draw from a logistic discretised to ``levels`` bins (edges take the tails)."""
    u = u.clamp(1e-5, 1.0 - 1e-5)
    z = mean + torch.exp(log_scale.clamp(min=MIN_LOG_SCALE)) * (torch.log(u) - torch.log1p(-u))
    return unit_to_levels(z, levels)
