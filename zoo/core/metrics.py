"""One place for the units: nats -> bits/dim, perplexity, bits/char, bits per second.

All likelihoods in the zoo are natural logs of probabilities of discrete data, so one
conversion serves every family.
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def _mean(nll_nats: torch.Tensor | float) -> float:
    if isinstance(nll_nats, torch.Tensor):
        return float(nll_nats.detach().double().mean())
    return float(nll_nats)


def bits_per_dim(log_prob: torch.Tensor | float, D: int) -> float:  # noqa: N803
    """``-mean(log_prob) / (D ln 2)``: log_prob in nats per example, D values per example."""
    if D < 1:
        raise ValueError(f"D must be >= 1, got {D}")
    return -_mean(log_prob) / (D * LN2)


def nats_to_bits(nats: float) -> float:
    return nats / LN2


def bits_to_nats(bits: float) -> float:
    return bits * LN2


def perplexity(bits_per_token: float) -> float:
    """Perplexity of a token model from its bits per token: 2 ** bits (inf past float range)."""
    try:
        return 2.0**bits_per_token
    except OverflowError:
        return math.inf


def bits_per_token_from_perplexity(ppl: float) -> float:
    if ppl <= 0:
        raise ValueError(f"perplexity must be positive, got {ppl}")
    return math.log2(ppl)


def bits_per_char(total_nll_nats: float, n_chars: int) -> float:
    """Bits per character of a text whose total negative log-likelihood is given in nats."""
    if n_chars < 1:
        raise ValueError(f"n_chars must be >= 1, got {n_chars}")
    return total_nll_nats / (n_chars * LN2)


def bits_per_second(bits_per_value: float, values_per_second: float) -> float:
    """Bitrate of a stream: bits per value x values per second (audio: sample rate)."""
    return bits_per_value * values_per_second


def vq_bitrate(latents_per_second: float, codebook_size: int) -> float:
    """Bitrate of a VQ bottleneck sent with a uniform code: rate x log2 K bits per second."""
    if codebook_size < 2:
        raise ValueError(f"codebook_size must be >= 2, got {codebook_size}")
    return latents_per_second * math.log2(codebook_size)
