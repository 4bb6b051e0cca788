"""Output heads of the autoregressive image models: network maps -> a distribution per pixel.

A head turns the ``[B, P, H, W]`` maps a network computes into log-probabilities of the
integer image and draws pixels from them. Three heads, all for any number of levels K:

- ``bernoulli``: one logit per sub-pixel (K == 2 only), ``P = C``.
- ``categorical``: a K-way softmax per sub-pixel, ``P = C * K``, laid out ``(c k)``.
- ``logistic_mixture``: PixelCNN++'s mixture of M discretised logistics per pixel, with the
  mean of colour c shifted by learned multiples of the colours before it (Salimans et al.
  2017, eq. 3), ``P = M * (1 + 2 C + C (C - 1) / 2)``.

``grouped`` heads predict each sub-pixel from its own group of maps, so the network orders
the colours R -> G -> B with channel-grouped masks (``data_channels = C``). The mixture head
models a whole pixel at once (the colour coupling uses the true earlier colours), so its
network must hide the whole current pixel (``data_channels = 1``).

Sampling takes pre-drawn uniform noise, one number per drawn value, ``[n, noise_channels]``
per pixel: naive and cached generation that share the noise draw the same images.
"""

from __future__ import annotations

import torch

from zoo.nn.discretized import (
    bernoulli_log_prob,
    categorical_from_uniform,
    categorical_log_prob,
    discretized_logistic_mixture_log_prob,
    levels_to_unit,
    logistic_from_uniform,
)

HEADS = ("bernoulli", "categorical", "logistic_mixture")


class PixelHead:
    """Base: ``channels`` colours with ``levels`` values each."""

    name = ""
    grouped = True  # one group of maps per colour, masks order colours R -> G -> B

    def __init__(self, channels: int, levels: int) -> None:
        self.channels = channels
        self.levels = levels

    @property
    def maps(self) -> int:
        """P: the maps per position the network must output."""
        raise NotImplementedError

    @property
    def noise_channels(self) -> int:
        """Uniform numbers consumed per pixel when sampling."""
        return self.channels

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``params: [B, P, H, W]``, ``x: [B, C, H, W]`` -> ``[B, C or 1, H, W]`` nats."""
        raise NotImplementedError

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        """Grouped heads: draw colour ``c`` of one pixel; ``params: [n, P]``, ``u: [n, C]``."""
        raise NotImplementedError

    def sample_pixel(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Whole-pixel heads: draw ``[n, C]`` levels; ``u: [n, noise_channels]``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={self.channels}, levels={self.levels})"


class BernoulliHead(PixelHead):
    name = "bernoulli"

    def __init__(self, channels: int, levels: int) -> None:
        if levels != 2:
            raise ValueError(
                f"head='bernoulli' models binary data (levels=2), got levels={levels}; "
                "use head='categorical' or 'logistic_mixture'"
            )
        super().__init__(channels, levels)

    @property
    def maps(self) -> int:
        return self.channels

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(params, x)

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        return (u[:, c] < torch.sigmoid(params[:, c].float())).long()


class CategoricalHead(PixelHead):
    name = "categorical"

    @property
    def maps(self) -> int:
        return self.channels * self.levels

    def logits(self, params: torch.Tensor) -> torch.Tensor:
        """``[B, C*K, ...]`` -> ``[B, C, K, ...]``."""
        return params.unflatten(1, (self.channels, self.levels))

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return categorical_log_prob(self.logits(params), x, dim=2)

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        return categorical_from_uniform(self.logits(params)[:, c], u[:, c])


class LogisticMixtureHead(PixelHead):
    """PixelCNN++'s discretised logistic mixture with channel-coupled means."""

    name = "logistic_mixture"
    grouped = False

    def __init__(self, channels: int, levels: int, mixtures: int = 5) -> None:
        super().__init__(channels, levels)
        if mixtures < 1:
            raise ValueError(f"mixtures must be >= 1, got {mixtures}")
        self.mixtures = mixtures
        # (later colour, earlier colour) pairs, in the order of their coefficient maps
        self.pairs = [(c, e) for c in range(channels) for e in range(c)]

    @property
    def maps(self) -> int:
        return self.mixtures * (1 + 2 * self.channels + len(self.pairs))

    @property
    def noise_channels(self) -> int:
        return self.channels + 1  # one to pick the component, one per colour

    def split(self, params: torch.Tensor):
        """``[B, P, *S]`` -> logits ``[B, M, *S]``; means, log-scales ``[B, M, C, *S]``;
        coefficients ``[B, M, pairs, *S]`` in (-1, 1)."""
        m, c, p = self.mixtures, self.channels, len(self.pairs)
        logits, means, log_scales, coeffs = params.split([m, m * c, m * c, m * p], dim=1)
        means = means.unflatten(1, (m, c))
        log_scales = log_scales.unflatten(1, (m, c))
        coeffs = torch.tanh(coeffs.unflatten(1, (m, p)))
        return logits, means, log_scales, coeffs

    def coupled_means(
        self, means: torch.Tensor, coeffs: torch.Tensor, x_unit: torch.Tensor
    ) -> torch.Tensor:
        """Shift the mean of each colour by coefficients x earlier colours (on [-1, 1]).

        ``means: [B, M, C, *S]``, ``x_unit: [B, C, *S]``.
        """
        shifts = [torch.zeros_like(means[:, :, 0]) for _ in range(self.channels)]
        for i, (c, e) in enumerate(self.pairs):
            shifts[c] = shifts[c] + coeffs[:, :, i] * x_unit[:, e].unsqueeze(1)
        return means + torch.stack(shifts, dim=2)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits, means, log_scales, coeffs = self.split(params)
        means = self.coupled_means(means, coeffs, levels_to_unit(x, self.levels))
        lp = discretized_logistic_mixture_log_prob(x, logits, means, log_scales, self.levels)
        return lp.unsqueeze(1)  # [B, 1, H, W]: one joint value per pixel

    def sample_pixel(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        logits, means, log_scales, coeffs = self.split(params)  # [n, M], [n, M, C], ...
        k = categorical_from_uniform(logits, u[:, 0])  # [n] component
        pick = k[:, None, None]
        mean = means.gather(1, pick.expand(-1, 1, means.shape[2])).squeeze(1)  # [n, C]
        log_scale = log_scales.gather(1, pick.expand(-1, 1, means.shape[2])).squeeze(1)
        coeff = coeffs.gather(1, pick.expand(-1, 1, coeffs.shape[2])).squeeze(1)
        out = torch.zeros(params.shape[0], self.channels, dtype=torch.long, device=params.device)
        for c in range(self.channels):  # colours in order, coupling on the drawn levels
            mu = mean[:, c]
            for i, (ci, e) in enumerate(self.pairs):
                if ci == c:
                    mu = mu + coeff[:, i] * levels_to_unit(out[:, e], self.levels)
            out[:, c] = logistic_from_uniform(mu, log_scale[:, c], u[:, c + 1], self.levels)
        return out


def make_head(name: str, channels: int, levels: int, *, mixtures: int = 5) -> PixelHead:
    """Build a head by name; ``"auto"``: Bernoulli for binary data, else categorical."""
    if name == "auto":
        name = "bernoulli" if levels == 2 else "categorical"
    if name == "bernoulli":
        return BernoulliHead(channels, levels)
    if name == "categorical":
        return CategoricalHead(channels, levels)
    if name == "logistic_mixture":
        return LogisticMixtureHead(channels, levels, mixtures)
    raise ValueError(f"head must be one of {HEADS} or 'auto', got {name!r}")
