"""Variational autoencoders: a Gaussian latent, the ELBO and the IWAE bound.

The model (Kingma & Welling 2014): ``z ~ N(0, I)``, ``x | z ~ p(x|z)`` factorised over the
data's values and discretised to its ``K`` levels (:mod:`zoo.nn.discretized`), and an encoder
``q(z|x) = N(mu(x), diag exp(logvar(x)))``. ``log p(x) = log E_p(z)[p(x|z)]`` has no closed form,
so ``log_prob`` returns a lower bound (``estimate = "elbo"``):

    k = 1:  ELBO(x)   = E_q[log p(x|z)] - KL(q(z|x) || p(z))        (KL in closed form)
    k > 1:  IWAE-k(x) = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],  z_i ~ q(z|x) i.i.d.

Both are unbiased one-draw estimates of bounds with ``ELBO <= E[IWAE-k] <= E[IWAE-(k+1)] <=
log p(x)`` (Burda, Grosse, Salakhutdinov 2015, Theorem 1); ``log p(x) - ELBO = KL(q(z|x) ||
p(z|x))``. IWAE-k is computed ``iwae_batch`` decoder evaluations at a time with a running
logsumexp, so k = 5000 runs in bounded memory.

Architectures (``encoder=``):

- ``"mlp"``: any shape. Burda et al.'s one-stochastic-layer network: ``hidden=(200, 200)``
  ``tanh`` layers, ``latent_dim=50``, the decoder mirrored. Latent: ``[B, latent_dim]``.
- ``"conv"``: images (2-D) and sequences (1-D, e.g. audio chunks ``[B, T]``). ``stages``
  stride-2 stages, each ``conv4x4/2 -> residual stack -> conv3x3`` in the encoder and
  ``conv3x3 -> residual stack -> convT4x4/2`` in the decoder (pytorch-generative's VAE with
  ``strides=[2, 2, 2, 2]``: ``channels=64``, ``res_channels=32``, ``res_blocks=2``,
  ``latent_channels=16``). Inputs are zero-padded to a multiple of ``2^stages`` and outputs
  cropped back, so any size works (28x28 MNIST is seen as 32x32, as the peer resizes it).
  Latent: ``[B, latent_channels, *size / 2^stages]``.

Decoder heads (``head=``, :mod:`zoo.nn.heads`): ``"bernoulli"`` (K = 2), ``"categorical"`` (K
logits per value), ``"logistic"`` (discretised logistic; ``mixtures > 1``: a mixture shared
across the channels of a position, PixelCNN++'s likelihood without the channel coupling),
``"logistic_mixture"`` (PixelCNN++'s, coupled). ``"auto"``: Bernoulli for K = 2, categorical
otherwise (the rule of every family). ``decoder_head=`` is the deprecated name of ``head=``.

Training (``_loss``): ``objective="elbo"`` minimises ``-E_q[log p(x|z)] + beta_t * KL`` with
``beta_t = beta * min(1, step / kl_warmup)`` (KL warm-up; the trainer calls :meth:`VAE.set_step`)
and free bits (Kingma et al. 2016): the KL of each latent group (a latent dimension for the MLP,
a latent channel for the conv net), averaged over the batch, is floored at ``free_bits`` nats.
``objective="iwae"`` minimises ``-IWAE-train_k`` (Burda et al.), with no KL shaping.

A short-context decoder (``decoder_context=c > 0``, categorical or Bernoulli heads):
characters independent given ``z`` cannot model spelling, so such a text VAE is no better
than a unigram model, and a free autoregressive decoder (Bowman et al. 2016's LSTM) ignores
the latent. In between, as Yang et al. 2017's dilated-CNN decoders for text and PixelVAE
(Gulrajani et al. 2017) for images, each value also sees the ``c`` values before it in the
data's flattened order (a sequence's time; an image's channels, then rows, then columns):

    p(x|z) = prod_t softmax(a_t(z) + W relu(U a_t(z) + V [e(x_{t-c}), ..., e(x_{t-1})]))[x_t]

with ``a_t(z)`` the decoder's logits at ``t`` (what :meth:`VAE.decode` returns; one logit and
a sigmoid for the Bernoulli head), ``e`` a value embedding (a learned start token before the
first value), ``V`` a width-``c`` causal convolution. Every factor is a distribution over
``x_t`` given ``z`` and earlier values only, so ``p(x|z)`` sums to 1 and the ELBO and IWAE-k
stay bounds; the latent carries what ``c`` values of context cannot (in text: the words
further back, the speaker, the register). Sampling is then sequential.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_choice, check_int, check_ints, keyword_group
from zoo.nn.conv import conv_nd, conv_transpose_nd, residual_stack
from zoo.nn.discretized import levels_to_unit
from zoo.nn.gaussian import (
    RunningLogMeanExp,
    diag_gaussian_log_prob,
    gaussian_kl,
    log_mean_exp,
    reparameterize,
    standard_normal_log_prob,
)
from zoo.nn.heads import Bernoulli, Categorical, full_precision, make_head, renamed_head_keyword

LN2 = math.log(2.0)
ENCODERS = ("mlp", "conv")
OBJECTIVES = ("elbo", "iwae")
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
ACTIVE_UNIT_THRESHOLD = 1e-2  # Burda et al. 2015, Section 5.2: Cov_x(E_q[z_u]) > 1e-2
LOGVAR_RANGE = (-20.0, 10.0)  # keeps exp(logvar) finite; a bound on the encoder's output


# ---------------------------------------------------------------------- conv stacks
def _conv_encoder(
    dims: int, in_ch: int, out_ch: int, stages: int, channels: int, res_ch: int, blocks: int
) -> nn.Sequential:
    """``stages`` x (conv4x4 stride 2 -> ReLU -> residual stack -> conv3x3); halves each size."""
    conv, layers = conv_nd(dims), []
    for i in range(stages):
        last = i == stages - 1
        layers += [
            conv(in_ch if i == 0 else channels, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            residual_stack(dims, channels, res_ch, blocks),
            conv(channels, out_ch if last else channels, 3, padding=1),
        ]
    return nn.Sequential(*layers)


def _conv_decoder(
    dims: int, in_ch: int, out_ch: int, stages: int, channels: int, res_ch: int, blocks: int
) -> nn.Sequential:
    """``stages`` x (conv3x3 -> residual stack -> convT4x4 stride 2); doubles each size."""
    conv, conv_t = conv_nd(dims), conv_transpose_nd(dims)
    layers: list[nn.Module] = []
    for i in range(stages):
        last = i == stages - 1
        layers += [
            conv(in_ch if i == 0 else channels, channels, 3, padding=1),
            residual_stack(dims, channels, res_ch, blocks),
            conv_t(channels, out_ch if last else channels, 4, stride=2, padding=1),
        ]
    return nn.Sequential(*layers)


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers through ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------- option groups
@dataclass(frozen=True)
class ConvNet:
    """The conv encoder and decoder: ``stages`` stride-2 stages of ``channels`` hidden
    channels, each with a residual stack of ``res_blocks`` blocks (``res_channels`` hidden),
    and ``latent_channels`` latents per position."""

    stages: int = 4
    channels: int = 64
    res_channels: int = 32
    res_blocks: int = 2
    latent_channels: int = 16

    def check(self) -> None:
        check_ints("VAE", stages=self.stages, channels=self.channels)
        check_ints("VAE", res_channels=self.res_channels)
        check_ints("VAE", 0, res_blocks=self.res_blocks)


@dataclass(frozen=True)
class Objective:
    """What the VAE trains on: the ELBO, its KL term weighted by ``beta``, warmed up linearly
    over ``kl_warmup`` steps and floored at ``free_bits`` nats per latent group; or the IWAE
    bound of ``train_k`` importance samples, which has no KL term to shape."""

    objective: str = "elbo"
    train_k: int = 1
    beta: float = 1.0
    kl_warmup: int = 0
    free_bits: float = 0.0

    def check(self) -> None:
        check_choice("VAE", "objective", self.objective, OBJECTIVES)
        check_ints("VAE", train_k=self.train_k)
        check_ints("VAE", 0, kl_warmup=self.kl_warmup)
        beta, kl_warmup, free_bits = self.beta, self.kl_warmup, self.free_bits
        if not beta >= 0 or not free_bits >= 0:
            raise ValueError(f"VAE: beta and free_bits must be >= 0, got {beta}, {free_bits}")
        if self.objective == "iwae" and (beta != 1.0 or kl_warmup or free_bits):
            raise ValueError(
                "VAE: beta, kl_warmup and free_bits shape the ELBO's KL term; the IWAE "
                f"objective has none (got beta={beta}, kl_warmup={kl_warmup}, "
                f"free_bits={free_bits}). Use objective='elbo' or drop them."
            )


# ---------------------------------------------------------------------- the model
class VAE(LikelihoodModel):
    """Gaussian-latent VAE over images, audio chunks or token sequences (see module doc).

    Hyper-parameters:
        encoder: "mlp" (any shape) or "conv" (2-D for images, 1-D for sequences).
        latent_dim, hidden, activation: the MLP's latent size, hidden sizes, nonlinearity.
        stages, channels, res_channels, res_blocks, latent_channels: the conv net's stride-2
            stages, hidden channels, residual-block hidden channels, blocks per stack and
            latent channels per position.
        head, mixtures: the output distribution (see module doc); ``decoder_head``: its
            deprecated name.
        embed: width of the token embedding that feeds the encoder for text (other
            modalities feed pixel/sample values scaled to [-1, 1]).
        objective, train_k: "elbo" or "iwae" (with ``train_k`` importance samples).
        beta, kl_warmup, free_bits: KL weight, its linear warm-up in steps, and the floor in
            nats on each latent group's batch-mean KL (objective "elbo" only).
        iwae_batch: decoder evaluations per pass when computing IWAE-k (bounds memory).
        metrics_k: importance samples of the IWAE figure in :meth:`extra_metrics` (0: none).
        decoder_context, context_channels: the values before each value (flattened order)
            that its distribution also sees (0: independent given z; see module doc), and the
            width of the layer that mixes them with the latent's logits.
    """

    family = "vae"
    estimate = "elbo"
    modalities = ("image", "audio", "text")

    @keyword_group("conv", ConvNet())
    @keyword_group("training", Objective())
    def __init__(
        self,
        spec: DataSpec,
        *,
        encoder: str = "mlp",
        latent_dim: int = 50,
        hidden: Sequence[int] = (200, 200),
        activation: str = "tanh",
        conv: ConvNet,
        head: str = "auto",
        mixtures: int = 1,
        embed: int = 16,
        training: Objective,
        iwae_batch: int = 1024,
        metrics_k: int = 50,
        decoder_head: str | None = None,
        decoder_context: int = 0,
        context_channels: int = 256,
    ) -> None:
        super().__init__(spec)
        head = renamed_head_keyword("VAE", "decoder_head", decoder_head, head, "auto")
        check_choice("VAE", "encoder", encoder, ENCODERS)
        check_choice("VAE", "activation", activation, ACTIVATIONS)
        hidden = tuple(hidden)
        for h in hidden:
            check_int("VAE", "each hidden size", h)
        conv.check()
        check_ints("VAE", mixtures=mixtures, embed=embed, iwae_batch=iwae_batch)
        check_ints("VAE", 0, metrics_k=metrics_k, decoder_context=decoder_context)
        check_ints("VAE", context_channels=context_channels)
        which = "latent_dim" if encoder == "mlp" else "latent_channels"
        latent = latent_dim if encoder == "mlp" else conv.latent_channels
        check_int(
            "VAE",
            f"the latent size ({which}; a VAE without latents is an independent model)",
            latent,
        )
        training.check()
        k = spec.levels
        self.objective, self.train_k = training.objective, training.train_k
        self.beta, self.kl_warmup = float(training.beta), training.kl_warmup
        self.free_bits = float(training.free_bits)
        self.iwae_batch, self.metrics_k = iwae_batch, metrics_k
        self._step = 0

        # x as [B, C, *S]: images keep their channels; sequences have one channel.
        self.data_channels = spec.channels
        self.positions = spec.shape[1:] if spec.modality == "image" else spec.shape
        # level-major categorical logits: the layout VAE checkpoints were saved with
        self.head = make_head(head, spec, mixtures=mixtures, layout="kc", owner="VAE")
        p_out = self.head.num_params
        self.embedding = nn.Embedding(k, embed) if spec.modality == "text" else None
        in_ch = embed if self.embedding is not None else self.data_channels

        self.encoder_kind = encoder
        if encoder == "mlp":
            n_in, n_pos = in_ch * math.prod(self.positions), math.prod(self.positions)
            self.encoder = _mlp([n_in, *hidden, 2 * latent_dim], activation)
            self.decoder = _mlp([latent_dim, *reversed(hidden), p_out * n_pos], activation)
            self.latent_shape: tuple[int, ...] = (latent_dim,)
            self._pad: list[int] = []
        else:
            dims, factor = len(self.positions), 2**conv.stages
            padded = [math.ceil(s / factor) * factor for s in self.positions]
            # F.pad order: last dim first, (left, right) per dim
            self._pad = []
            for s, ps in zip(reversed(self.positions), reversed(padded)):
                self._pad += [(ps - s) // 2, ps - s - (ps - s) // 2]
            blocks = (conv.stages, conv.channels, conv.res_channels, conv.res_blocks)
            self.encoder = _conv_encoder(dims, in_ch, 2 * conv.latent_channels, *blocks)
            self.decoder = _conv_decoder(dims, conv.latent_channels, p_out, *blocks)
            self.latent_shape = (conv.latent_channels, *(ps // factor for ps in padded))

        self.decoder_context = decoder_context
        if decoder_context:
            if not isinstance(self.head, (Categorical, Bernoulli)):
                raise ValueError(
                    f"VAE: decoder_context={decoder_context} conditions each value's logits on "
                    f"the values before it; it needs the categorical or Bernoulli head, got "
                    f"{self.head.name!r}. Use head='categorical' or decoder_context=0."
                )
            # logits per value: K (level-major categorical), or 1 (Bernoulli)
            self._value_params = k if isinstance(self.head, Categorical) else 1
            # index k is the start token: what the values before the first one read
            self.context_embedding = nn.Embedding(k + 1, embed)
            self.context_conv = nn.Conv1d(embed, context_channels, decoder_context)
            self.context_mix = nn.Conv1d(self._value_params, context_channels, 1, bias=False)
            self.context_out = nn.Conv1d(context_channels, self._value_params, 1)

    # ------------------------------------------------------------------ warm-up
    def set_step(self, step: int) -> None:
        """The trainer's global step, which drives the KL warm-up (``beta_t``)."""
        self._step = int(step)

    def kl_weight(self) -> float:
        """``beta_t = beta * min(1, step / kl_warmup)`` (``beta`` without warm-up)."""
        if self.kl_warmup == 0:
            return self.beta
        return self.beta * min(1.0, self._step / self.kl_warmup)

    # ------------------------------------------------------------------ encode / decode
    def _as_channels(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, *spec.shape] int64 -> xs: [B, C, *S]
        return x if self.spec.modality == "image" else x.unsqueeze(1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, *spec.shape] int64 -> [B, C_in, *S] float
        if self.embedding is not None:
            return rearrange(self.embedding(x), "b t e -> b e t")
        dtype = next(self.parameters()).dtype
        return levels_to_unit(self._as_channels(x), self.spec.levels).to(dtype)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._features(x)
        if self.encoder_kind == "mlp":
            out = self.encoder(h.flatten(1))
        else:
            out = self.encoder(F.pad(h, self._pad))
        mu, logvar = full_precision(out).chunk(2, dim=1)  # KL and log q in float32 under AMP
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        # z: [N, *latent_shape] -> params: [N, P, *S]
        n = z.shape[0]
        if self.encoder_kind == "mlp":
            return self.decoder(z).reshape(n, -1, *self.positions)
        out = self.decoder(z)
        if len(self.positions) == 2:
            (_, _, top, _), (h, w) = self._pad, self.positions
            left = self._pad[0]
            return out[:, :, top : top + h, left : left + w]
        return out[:, :, self._pad[0] : self._pad[0] + self.positions[0]]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)``: ``x: [B, *spec.shape]`` int -> ``(mu, logvar)``, each
        ``[B, *latent_shape]``."""
        self.spec.validate(x)
        return self._encode(x.long())

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``p(x|z)``'s parameters: ``z: [N, *latent_shape]`` -> ``[N, P, *positions]``."""
        if tuple(z.shape[1:]) != self.latent_shape:
            want = ", ".join(map(str, self.latent_shape))
            raise ValueError(f"z must have shape [N, {want}], got {list(z.shape)}")
        return self._decode(z)

    def _with_context(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The parameters of ``p(x_t | z, x_{t-c..t-1})``: the decoder's ``params [N, P, *S]``
        and ``x [N, *shape]`` -> ``[N, P, *S]``; ``params`` themselves without a context."""
        if not self.decoder_context:
            return params
        c, n = self.decoder_context, params.shape[0]
        # [N, V, D] logits per value, in the order of x's values (the kc layout is level-major)
        flat = params.reshape(n, self._value_params, -1)
        values = x.reshape(n, -1)
        start = values.new_full((n, c), self.spec.levels)
        before = torch.cat([start, values[:, :-1]], dim=1)  # [N, D + c - 1]: x_{t-c..t-1} at t
        ctx = self.context_conv(rearrange(self.context_embedding(before), "n t e -> n e t"))
        h = F.relu(ctx + self.context_mix(flat))
        return (flat + self.context_out(h)).reshape(params.shape)

    def recon_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)``, ``[N]`` nats: decoder parameters ``[N, P, *S]``, ``x: [N, *shape]``."""
        params = self._with_context(params, x)
        return self.head.log_prob(params, self._as_channels(x)).flatten(1).sum(1)

    # ------------------------------------------------------------------ bounds
    def _log_weights(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        n: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``log p(x, z_i) - log q(z_i|x)`` for ``n`` draws ``z_i ~ q(z|x)``: ``[n, B]`` nats."""
        b = x.shape[0]
        z = reparameterize(mu, logvar, n, generator)  # [n, B, *latent]
        log_q = diag_gaussian_log_prob(z, mu, logvar).flatten(2).sum(2)
        log_prior = standard_normal_log_prob(z).flatten(2).sum(2)
        params = self._decode(z.flatten(0, 1))  # [n * B, P, *S], draw-major
        params = self._with_context(params, x.repeat(n, *([1] * (x.dim() - 1))))
        params = params.unflatten(0, (n, b))  # [n, B, P, *S]
        log_lik = self.head.log_prob_each(params, self._as_channels(x))  # [n, B]
        return log_lik + log_prior - log_q

    def iwae_bound(
        self, x: torch.Tensor, k: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One draw of the IWAE-k bound, ``[B]`` nats, ``iwae_batch`` decoder passes at a time.

        ``x`` is assumed valid (``log_prob(x, k=k)`` validates and calls this).
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k (importance samples) must be an int >= 1, got {k!r}")
        mu, logvar = self._encode(x)
        per_chunk = max(1, self.iwae_batch // max(1, x.shape[0]))
        running = RunningLogMeanExp()
        for start in range(0, k, per_chunk):
            n = min(per_chunk, k - start)
            running.update(self._log_weights(x, mu, logvar, n, generator))
        return running.value()

    def elbo_parts(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """One-sample ELBO and its parts for valid ``x``: ``log_lik [B]`` (= log p(x|z)),
        ``kl [B, *latent_shape]`` (closed form), ``elbo [B]``, ``mu``, ``logvar``."""
        mu, logvar = self._encode(x)
        z = reparameterize(mu, logvar, generator=generator)
        log_lik = self.recon_log_prob(self._decode(z), x)
        kl = gaussian_kl(mu, logvar)
        return {
            "log_lik": log_lik,
            "kl": kl,
            "elbo": log_lik - kl.flatten(1).sum(1),
            "mu": mu,
            "logvar": logvar,
        }

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        # x: [B, *spec.shape] int64 in [0, K) -> [B] nats (ELBO for k = 1, IWAE-k otherwise)
        if k == 1:
            return self.elbo_parts(x)["elbo"]
        return self.iwae_bound(x, k)

    # ------------------------------------------------------------------ training
    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        if self.objective == "iwae":
            mu, logvar = self._encode(x)
            bound = log_mean_exp(self._log_weights(x, mu, logvar, self.train_k), dim=0)
            loss = -bound.mean()
            return loss, {"nll_bound": loss.detach()}
        parts = self.elbo_parts(x)
        kl = parts["kl"]
        groups = kl.flatten(2).sum(2) if kl.dim() > 2 else kl  # [B, G]: channels or dims
        group_kl = groups.mean(0)
        kl_term = group_kl.clamp(min=self.free_bits).sum() if self.free_bits else group_kl.sum()
        beta = self.kl_weight()
        recon = -parts["log_lik"].mean()
        loss = recon + beta * kl_term
        if self.training:
            self._step += 1  # the trainer's set_step overrides this count when it drives us
        return loss, {
            "nll_bound": -parts["elbo"].mean().detach(),
            "recon": recon.detach(),
            "kl": group_kl.sum().detach(),
            "beta": torch.tensor(beta),
        }

    # ------------------------------------------------------------------ sampling
    def _sample(
        self, n: int, *, cond: Cond, generator: torch.Generator | None, **kw: Any
    ) -> torch.Tensor:
        if kw:
            raise ValueError(f"VAE.sample takes no options, got {sorted(kw)}")
        dtype = next(self.parameters()).dtype
        z = torch.randn(
            (n, *self.latent_shape), generator=generator, device=self.device, dtype=dtype
        )
        params = self._decode(z)  # [n, P, *S]
        if self.decoder_context:  # one value at a time: each reads the ones before it
            x = torch.zeros((n, *self.spec.shape), dtype=torch.long, device=self.device)
            flat = x.view(n, -1)
            for t in range(flat.shape[1]):  # the head draws every value; value t is kept
                drawn = self.head.sample(self._with_context(params, x), generator)
                flat[:, t] = drawn.reshape(n, -1)[:, t]
            return x
        xs = self.head.sample(params, generator)  # [n, C, *S]
        return xs.reshape(n, *self.spec.shape)

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, *, cond: Cond = None) -> dict[str, float]:
        """ELBO, its reconstruction and KL terms (nats and bits), active units, IWAE-k.

        ``active_units``: latent units whose posterior mean varies across the batch,
        ``Var_x(E_q[z_u]) > 1e-2`` (Burda et al. 2015); few of ``latent_units`` means posterior
        collapse. ``iwae{k}_nats``: one IWAE-``metrics_k`` draw, on the first 64 examples (a
        diagnostic of the ELBO's gap; the ranked estimate is ``zoo eval --iwae-k``).
        """
        self.spec.validate(x)
        x = x.long()
        parts = self.elbo_parts(x)
        kl = parts["kl"].flatten(1).sum(1)
        d = self.spec.D
        mu = parts["mu"].flatten(1)
        var_mu = mu.var(0) if mu.shape[0] > 1 else torch.zeros_like(mu[0])
        out = {
            "elbo_nats": float(parts["elbo"].mean()),
            "elbo_bits_per_dim": float(-parts["elbo"].mean() / (d * LN2)),
            "recon_nats": float(-parts["log_lik"].mean()),
            "kl_nats": float(kl.mean()),
            "kl_bits": float(kl.mean() / LN2),
            "active_units": float((var_mu > ACTIVE_UNIT_THRESHOLD).sum()),
            "latent_units": float(mu.shape[1]),
        }
        if self.metrics_k:
            sub = x[:64]
            iwae = self.iwae_bound(sub, self.metrics_k)
            out[f"iwae{self.metrics_k}_nats"] = float(iwae.mean())
            out[f"iwae{self.metrics_k}_bits_per_dim"] = float(-iwae.mean() / (d * LN2))
        return out
