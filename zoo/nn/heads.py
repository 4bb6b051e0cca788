"""Output distributions ("heads"): network maps -> a distribution over each discrete value.

Every family that ends in a per-value distribution over K levels takes one keyword,
``head=``, and builds its head with :func:`make_head`. A head turns parameters
``params: [B, P, *S]`` (``P = num_params`` maps at each of the positions ``S``) into
log-probabilities of integer data ``x: [B, C, *S]`` (``C`` channels: colours of a pixel, one
for a sequence) and draws from them:

- ``bernoulli``: one logit per value (K == 2 only), ``P = C``.
- ``categorical``: a K-way softmax per value, ``P = C K``. Laid out ``(c k)`` (channel-major:
  the autoregressive image models' grouped masks need each colour's maps together) or ``(k c)``
  (level-major: the VAE and VQ-VAE decoders, kept so their saved weights keep loading).
- ``logistic``: a discretised logistic per value (``mixtures = 1``: ``P = 2 C``, means then
  log-scales) or a mixture of ``M`` of them shared across the channels of a position
  (``P = M + 2 M C``: weights, means ``(m c)``, log-scales ``(m c)``). Channels are independent
  given the component.
- ``logistic_mixture``: PixelCNN++'s mixture (Salimans et al. 2017, eq. 3), the mean of
  colour c shifted by learned multiples of the colours before it, ``P = M (1 + 2 C + C (C-1)/2)``;
  it always carries its M weights, as openai/pixel-cnn's does.

``"auto"`` (:func:`resolve_head`) is one rule for every family: Bernoulli for two levels,
categorical otherwise.

Three ways to draw, all returning levels in ``[0, K)``:

- :meth:`Head.sample` ``(params, generator, temperature)``: the head draws its own noise
  (latent-variable decoders).
- :meth:`Head.sample_channel` / :meth:`Head.sample_pixel`: inverse-CDF draws from pre-drawn
  uniforms, one position at a time (the image models' naive and cached samplers share the
  uniforms, so they draw the same images).
- :meth:`Head.sample_perturbed`: arg-max of parameters plus pre-drawn Gumbel noise (WaveNet's
  naive and fast samplers share the noise blocks), for one channel.

The maths lives in :mod:`zoo.nn.discretized`; heads only lay parameters out. Heads hold no
weights (they are not modules), so they never change a checkpoint's keys.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import ClassVar

import torch
import torch.nn.functional as F

from zoo.core.spec import DataSpec
from zoo.nn.discretized import (
    MIN_LOG_SCALE,
    bernoulli_log_prob,
    categorical_from_uniform,
    categorical_log_prob,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    levels_to_unit,
    logistic_from_uniform,
    sample_categorical,
    sample_discretized_logistic,
    unit_to_levels,
)

HEADS = ("bernoulli", "categorical", "logistic", "logistic_mixture")


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """Likelihoods in float32 at least (mixed precision hands us bfloat16 parameters)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class Head:
    """Base: ``channels`` values per position, ``levels`` values each."""

    name: ClassVar[str] = ""
    grouped: ClassVar[bool] = True  # each channel drawn from its own maps (sample_channel)

    def __init__(self, channels: int, levels: int) -> None:
        if channels < 1 or levels < 2:
            raise ValueError(
                f"a head needs channels >= 1 and levels >= 2, got {channels}, {levels}"
            )
        self.channels = channels
        self.levels = levels

    @property
    def num_params(self) -> int:
        """P: the maps per position the network must output."""
        raise NotImplementedError

    @property
    def noise_channels(self) -> int:
        """Uniform numbers one position consumes in :meth:`sample_channel` / ``sample_pixel``."""
        return self.channels

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``params: [B, P, *S]``, ``x: [B, C, *S]`` -> ``[B, C, *S]`` nats (``[B, 1, *S]`` for
        heads that score a whole position at once); sum it for the log-likelihood."""
        raise NotImplementedError

    def log_prob_each(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``params: [n, B, P, *S]`` (``n`` parameter sets per example: the decoder outputs of
        n latent draws), ``x: [B, C, *S]`` -> ``[n, B]`` nats, the log-likelihood of each
        example under each of its parameter sets (x repeated n times through :meth:`log_prob`;
        heads with a cheaper broadcast override it)."""
        n, b = params.shape[:2]
        xs = x.unsqueeze(0).expand(n, *x.shape).flatten(0, 1)
        return self.log_prob(params.flatten(0, 1), xs).flatten(1).sum(1).reshape(n, b)

    independent_channels: ClassVar[bool] = True  # channels independent given the params

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """``params: [B, P, *S]`` -> ``[B, C, *S, K]``: ln p(value = k) for every level k of
        every value, for heads whose channels are independent given ``params`` (what an
        entropy coder needs: the whole distribution of each value, not one value's mass)."""
        raise NotImplementedError

    def sample(
        self,
        params: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``params: [B, P, *S]`` -> ``[B, C, *S]`` int64 levels, noise drawn from ``generator``."""
        raise NotImplementedError

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        """Grouped heads: draw channel ``c`` of one position; ``params: [n, P]``, ``u: [n, *]``."""
        raise NotImplementedError(f"{self.name} heads draw whole positions (sample_pixel)")

    def sample_pixel(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Draw the ``[n, C]`` levels of one position; ``u: [n, noise_channels]``."""
        out = torch.zeros(params.shape[0], self.channels, dtype=torch.long, device=params.device)
        for c in range(self.channels):
            out[:, c] = self.sample_channel(params, u, c)
        return out

    @property
    def perturb_width(self) -> int:
        """Noise values per step that :meth:`sample_perturbed` reads."""
        raise NotImplementedError(f"head {self.name!r} has no Gumbel draw; use sample()")

    def sample_perturbed(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One channel: ``params: [n, P]`` + pre-drawn noise ``[n, perturb_width]`` -> ``[n]``."""
        raise NotImplementedError(f"head {self.name!r} has no Gumbel draw; use sample()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels={self.channels}, levels={self.levels})"


class Bernoulli(Head):
    name = "bernoulli"

    def __init__(self, channels: int, levels: int) -> None:
        if levels != 2:
            raise ValueError(
                f"head='bernoulli' models binary data (levels=2), got levels={levels}; "
                "use head='categorical' or 'logistic'"
            )
        super().__init__(channels, levels)

    @property
    def num_params(self) -> int:
        return self.channels

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob(full_precision(params), x)

    def log_prob_each(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # ln P(x | logit l) = logsigmoid((2x - 1) l) for x in {0, 1}: one sign per value,
        # broadcast over the n parameter sets, so x is never copied n times (IWAE-5000's cost)
        params = full_precision(params)
        sign = (2 * x - 1).to(params.dtype)
        return F.logsigmoid(params * sign).flatten(2).sum(2)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        params = full_precision(params)
        return torch.stack([F.logsigmoid(-params), F.logsigmoid(params)], dim=-1)

    def sample(self, params, generator=None, temperature=1.0):
        params = full_precision(params)
        u = torch.rand(params.shape, generator=generator, device=params.device)
        return (u < torch.sigmoid(params / temperature)).long()

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        return (u[:, c] < torch.sigmoid(params[:, c].float())).long()


class Categorical(Head):
    """A K-way softmax per value; ``layout`` "ck" (channel-major) or "kc" (level-major)."""

    name = "categorical"

    def __init__(self, channels: int, levels: int, layout: str = "ck") -> None:
        super().__init__(channels, levels)
        if layout not in ("ck", "kc"):
            raise ValueError(f"categorical layout must be 'ck' or 'kc', got {layout!r}")
        self.layout = layout

    @property
    def num_params(self) -> int:
        return self.channels * self.levels

    def _native(self, params: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``[B, P, *S]`` -> logits ``[B, C, K, *S]`` ("ck") or ``[B, K, C, *S]`` ("kc"), and
        the dim of K."""
        if self.layout == "ck":
            return params.unflatten(1, (self.channels, self.levels)), 2
        return params.unflatten(1, (self.levels, self.channels)), 1

    def logits(self, params: torch.Tensor) -> torch.Tensor:
        """``[B, P, *S]`` -> ``[B, C, K, *S]`` whatever the layout."""
        logits, dim = self._native(params)
        return logits if dim == 2 else logits.transpose(1, 2)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits, dim = self._native(full_precision(params))
        return categorical_log_prob(logits, x, dim=dim)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits(full_precision(params)), dim=2).movedim(2, -1)

    def sample(self, params, generator=None, temperature=1.0):
        logits, dim = self._native(full_precision(params))
        return sample_categorical(logits, dim=dim, generator=generator, temperature=temperature)

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        return categorical_from_uniform(self.logits(params)[:, c], u[:, c])

    @property
    def perturb_width(self) -> int:
        return self.levels

    def sample_perturbed(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return (params + noise).argmax(dim=1)


class DiscretizedLogisticMixture(Head):
    """M discretised logistics per position over C channels, any K (see the module doc).

    ``coupled=False`` ("logistic"): channels independent given the component, and a single
    component carries no weight. ``coupled=True`` ("logistic_mixture"): PixelCNN++'s means
    shifted by ``tanh``-bounded multiples of the earlier channels.
    """

    grouped = False

    def __init__(self, channels: int, levels: int, mixtures: int = 1, coupled: bool = False):
        super().__init__(channels, levels)
        if not isinstance(mixtures, int) or mixtures < 1:
            raise ValueError(f"mixtures must be an int >= 1, got {mixtures!r}")
        self.mixtures, self.coupled = mixtures, coupled
        self.name = "logistic_mixture" if coupled else "logistic"
        # (later channel, earlier channel) pairs, in the order of their coefficient maps
        self.pairs = [(c, e) for c in range(channels) for e in range(c)] if coupled else []
        self.weighted = coupled or mixtures > 1
        # a mixture shared by several channels makes them dependent given the params
        self.independent_channels = channels == 1 or (not coupled and mixtures == 1)

    @property
    def num_params(self) -> int:
        m, c = self.mixtures, self.channels
        return m * (int(self.weighted) + 2 * c + len(self.pairs))

    @property
    def noise_channels(self) -> int:
        return self.channels + 1  # one to pick the component, one per channel

    def split(self, params: torch.Tensor):
        """``[B, P, *S]`` -> weights ``[B, M, *S]`` (None without them); means, log-scales
        ``[B, M, C, *S]``; coupling coefficients ``[B, M, pairs, *S]`` in (-1, 1)."""
        m, c, p = self.mixtures, self.channels, len(self.pairs)
        if not self.weighted:
            means, log_scales = params.split([c, c], dim=1)
            return None, means.unsqueeze(1), log_scales.unsqueeze(1), None
        logits, means, log_scales, coeffs = params.split([m, m * c, m * c, m * p], dim=1)
        means = means.unflatten(1, (m, c))
        log_scales = log_scales.unflatten(1, (m, c))
        coeffs = torch.tanh(coeffs.unflatten(1, (m, p))) if self.coupled else None
        return logits, means, log_scales, coeffs

    def coupled_means(
        self, means: torch.Tensor, coeffs: torch.Tensor, x_unit: torch.Tensor
    ) -> torch.Tensor:
        """Shift the mean of each channel by coefficients x earlier channels (on [-1, 1]).

        ``means: [B, M, C, *S]``, ``x_unit: [B, C, *S]``.
        """
        shifts = [torch.zeros_like(means[:, :, 0]) for _ in range(self.channels)]
        for i, (c, e) in enumerate(self.pairs):
            shifts[c] = shifts[c] + coeffs[:, :, i] * x_unit[:, e].unsqueeze(1)
        return means + torch.stack(shifts, dim=2)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits, means, log_scales, coeffs = self.split(full_precision(params))
        if logits is None:  # one component: every value on its own
            return discretized_logistic_log_prob(x, means[:, 0], log_scales[:, 0], self.levels)
        if self.coupled:
            means = self.coupled_means(means, coeffs, levels_to_unit(x, self.levels))
        lp = discretized_logistic_mixture_log_prob(x, logits, means, log_scales, self.levels)
        return lp.unsqueeze(1)  # [B, 1, *S]: one joint value per position

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        if not self.independent_channels:
            raise NotImplementedError(
                f"{self!r}: its channels are not independent given the parameters; "
                "take each channel's distribution given the earlier ones instead"
            )
        logits, means, log_scales, _ = self.split(full_precision(params))
        levels = torch.arange(self.levels, device=params.device)
        per = discretized_logistic_log_prob(
            levels, means[..., None], log_scales[..., None], self.levels
        )  # [B, M, C, *S, K]
        if logits is None:
            return per[:, 0]
        weights = F.log_softmax(logits, dim=1).unsqueeze(2)[..., None]  # [B, M, 1, *S, 1]
        return torch.logsumexp(weights + per, dim=1)

    def sample(self, params, generator=None, temperature=1.0):
        params = full_precision(params)
        logits, means, log_scales, coeffs = self.split(params)
        log_scales = log_scales + math.log(max(temperature, 1e-6))
        if logits is None:
            return sample_discretized_logistic(
                means[:, 0], log_scales[:, 0], self.levels, generator
            )
        if self.coupled:  # channel by channel on the drawn levels: the inverse-CDF path
            u = torch.rand(
                (params.shape[0], self.noise_channels, *params.shape[2:]),
                generator=generator,
                device=params.device,
            )
            flat_p, flat_u = params.movedim(1, -1), u.movedim(1, -1)
            x = self.sample_pixel(
                flat_p.reshape(-1, params.shape[1]), flat_u.reshape(-1, u.shape[1])
            )
            return x.reshape(*flat_p.shape[:-1], self.channels).movedim(-1, 1)
        pick = sample_categorical(logits, dim=1, generator=generator, temperature=temperature)
        idx = pick[:, None, None].expand(-1, 1, self.channels, *pick.shape[1:])
        mean, log_scale = means.gather(1, idx)[:, 0], log_scales.gather(1, idx)[:, 0]
        return sample_discretized_logistic(mean, log_scale, self.levels, generator)

    def sample_channel(self, params: torch.Tensor, u: torch.Tensor, c: int) -> torch.Tensor:
        return self.sample_pixel(params, u)[:, c]

    def sample_pixel(self, params: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        logits, means, log_scales, coeffs = self.split(params)  # [n, M], [n, M, C], ...
        if logits is None:
            mean, log_scale = means[:, 0], log_scales[:, 0]
        else:
            k = categorical_from_uniform(logits, u[:, 0])  # [n] component
            pick = k[:, None, None]
            mean = means.gather(1, pick.expand(-1, 1, means.shape[2])).squeeze(1)  # [n, C]
            log_scale = log_scales.gather(1, pick.expand(-1, 1, means.shape[2])).squeeze(1)
        if self.coupled:
            coeff = coeffs.gather(1, pick.expand(-1, 1, coeffs.shape[2])).squeeze(1)
        out = torch.zeros(params.shape[0], self.channels, dtype=torch.long, device=params.device)
        for c in range(self.channels):  # channels in order, coupling on the drawn levels
            mu = mean[:, c]
            for i, (ci, e) in enumerate(self.pairs):
                if ci == c:
                    mu = mu + coeff[:, i] * levels_to_unit(out[:, e], self.levels)
            out[:, c] = logistic_from_uniform(mu, log_scale[:, c], u[:, c + 1], self.levels)
        return out

    @property
    def perturb_width(self) -> int:
        return self.mixtures + 1

    def sample_perturbed(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``noise``: Gumbel noise per component, then a standard logistic variate (each
        already scaled by the temperature); one channel, weighted layout."""
        if self.channels != 1 or not self.weighted:
            raise ValueError("sample_perturbed draws one channel of a weighted mixture")
        M = self.mixtures
        logits, means, log_scales = params[:, : 3 * M].split(M, dim=1)
        comp = (logits + noise[:, :M]).argmax(dim=1, keepdim=True)
        mean = means.gather(1, comp).squeeze(1)
        scale = torch.exp(log_scales.gather(1, comp).squeeze(1).clamp(min=MIN_LOG_SCALE))
        return unit_to_levels(mean + scale * noise[:, M], self.levels)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(channels={self.channels}, levels={self.levels}, "
            f"mixtures={self.mixtures}, coupled={self.coupled})"
        )


def resolve_head(name: str, levels: int) -> str:
    """The one "auto" rule: Bernoulli for two levels, categorical otherwise."""
    if name == "auto":
        return "bernoulli" if levels == 2 else "categorical"
    if name not in HEADS:
        raise ValueError(f"head must be one of {HEADS} or 'auto', got {name!r}")
    return name


def make_head(
    name: str,
    spec: DataSpec,
    *,
    mixtures: int = 1,
    layout: str = "ck",
    allowed: tuple[str, ...] = HEADS,
    owner: str = "",
) -> Head:
    """The head ``name`` (or "auto") for data ``spec``: ``spec.channels`` values per position.

    ``mixtures``: components of the logistic heads. ``layout``: the categorical's parameter
    order. ``allowed``: the heads the calling family can use (``owner`` names it in errors).
    """
    if name != "auto" and name not in allowed:
        raise ValueError(f"{owner or 'this model'}: head must be one of {allowed}, got {name!r}")
    resolved = resolve_head(name, spec.levels)
    if resolved not in allowed:
        via = f" (what 'auto' picks for {spec.levels} levels)" if name == "auto" else ""
        raise ValueError(
            f"{owner or 'this model'}: head must be one of {allowed}, got {resolved!r}{via}"
        )
    c, k = spec.channels, spec.levels
    if resolved == "bernoulli":
        return Bernoulli(c, k)
    if resolved == "categorical":
        return Categorical(c, k, layout)
    return DiscretizedLogisticMixture(c, k, mixtures, coupled=resolved == "logistic_mixture")


def renamed_head_keyword(owner: str, old: str, old_value: str | None, head: str, default: str):
    """``head=`` under its new name, from a family's old keyword (``decoder_head=``,
    ``likelihood=``, ``output=``), which still works with a DeprecationWarning."""
    if old_value is None:
        return head
    if head != default and head != old_value:
        raise ValueError(f"{owner}: pass head= only (got head={head!r} and {old}={old_value!r})")
    message = f"{owner}: {old}= is deprecated, use head= (same values)"
    warnings.warn(message, DeprecationWarning, stacklevel=_first_level_outside_zoo())
    return old_value


def _first_level_outside_zoo() -> int:
    """``warnings.warn``'s ``stacklevel``, for the function that calls this one, that names
    the first caller outside the zoo package (the user's line, however many zoo frames lie
    between: option-group wrappers, base constructors, ``zoo.create_model``)."""
    root = os.path.dirname(os.path.dirname(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(root):
        frame, level = frame.f_back, level + 1
    return level
