"""VQ-VAE: discrete latents and a likelihood bound (van den Oord et al. 2017).

An encoder maps the example to a grid of vectors (images: ``[h, w]``; audio: a sequence of
``L`` steps), each vector is rounded to the nearest of ``num_codes`` prototypes
(:class:`~zoo.nn.quantizer.VectorQuantizer`), and a decoder maps the prototypes back to a
distribution over the data's ``K`` levels, factorised over values (``head=``: Bernoulli for
K=2, a categorical or a discretised logistic otherwise; :mod:`zoo.nn.heads`).

The likelihood (``estimate = "bound"``). For any prior ``p(z)`` over code grids and the codes
``z*(x)`` the encoder picks, ``p(x) = sum_z p(x|z) p(z) >= p(x|z*) p(z*)``, so

    log p(x) >= log p(x | z*(x)) + log p(z*(x))

- ``prior="uniform"``: ``log p(z*) = -L log num_codes`` (the paper's bound, L latents);
- ``prior=<class or registry name>``: an exact autoregressive model over the code grid (a
  PixelCNN over the latent grid, an LSTM or WaveNet over code sequences), trained in a second
  phase on the codes of the frozen autoencoder; its exact NLL replaces ``L log num_codes``.

Both figures are in :meth:`VQVAE.extra_metrics`. Because each ``x`` is charged one ``z*(x)``,
summing ``exp(log_prob)`` over every possible ``x`` gives at most 1.

Two-stage training from one command: ``phases = ("autoencoder", "prior")`` (just
``("autoencoder",)`` with the uniform prior); the trainer calls ``set_phase`` before each.

This file also holds :class:`LSTMPrior`, a small exact autoregressive model over token
sequences (code grids are read in raster order), so the VQ-VAE has a learned prior that needs
no other family: registry entry ``vqvae_lstm_prior``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from einops import rearrange
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel, model_class
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints, keyword_group
from zoo.nn.conv import conv_nd, conv_transpose_nd, residual_stack
from zoo.nn.discretized import categorical_log_prob, levels_to_unit, sample_categorical
from zoo.nn.heads import make_head, renamed_head_keyword
from zoo.nn.quantizer import VectorQuantizer, code_perplexity

HEADS = ("bernoulli", "categorical", "logistic")  # one distribution per value


# ---------------------------------------------------------------------- encoder, decoder
class Encoder(nn.Sequential):
    """``[B, C, *S]`` on [-1, 1] -> ``[B, code_dim, *S / 2^downsample]``.

    ``downsample`` stride-2 convolutions (kernel 4), a 3x3 convolution, a residual stack,
    a 3x3 convolution and a 1x1 projection to the code dimension.
    """

    def __init__(
        self,
        dims: int,
        in_ch: int,
        hidden: int,
        res_ch: int,
        res_blocks: int,
        down: int,
        code_dim: int,
    ) -> None:
        conv = conv_nd(dims)
        layers: list[nn.Module] = []
        chans = [in_ch] + [max(hidden // 2, 1)] * (down - 1) + [hidden]
        for i in range(down):
            layers += [conv(chans[i], chans[i + 1], 4, stride=2, padding=1), nn.ReLU()]
        if down == 0:
            layers += [conv(in_ch, hidden, 3, padding=1), nn.ReLU()]
        layers += [
            residual_stack(dims, hidden, res_ch, res_blocks),
            conv(hidden, hidden, 3, padding=1),
            conv(hidden, code_dim, 1),
        ]
        super().__init__(*layers)


class Decoder(nn.Sequential):
    """``[B, code_dim, *s]`` -> ``[B, out_ch, *s * 2^downsample]`` (the encoder mirrored).

    A wide output (e.g. 256 categorical logits per audio sample) comes from a 1x1 convolution
    after the last upsampling rather than from the transposed convolution itself, which would
    cost ``2^dims`` times more at full resolution.
    """

    def __init__(
        self,
        dims: int,
        code_dim: int,
        hidden: int,
        res_ch: int,
        res_blocks: int,
        down: int,
        out_ch: int,
    ) -> None:
        conv, conv_t = conv_nd(dims), conv_transpose_nd(dims)
        layers: list[nn.Module] = [
            conv(code_dim, hidden, 3, padding=1),
            residual_stack(dims, hidden, res_ch, res_blocks),
        ]
        half = max(hidden // 2, 1)
        wide = out_ch > hidden
        for i in range(down):
            last = i == down - 1
            out = out_ch if last and not wide else half
            layers.append(conv_t(hidden if i == 0 else half, out, 4, stride=2, padding=1))
            if not last:
                layers.append(nn.ReLU())
        if down == 0:
            layers.append(conv(hidden, half if wide else out_ch, 3, padding=1))
        if wide:
            layers += [nn.ReLU(), conv(half, out_ch, 1)]
        super().__init__(*layers)


# ---------------------------------------------------------------------- a prior over codes
class LSTMPrior(LikelihoodModel):
    """An exact autoregressive model over token sequences: embedding -> LSTM -> softmax.

    Any spec is read as one sequence in raster order (images: C, H, W), so it serves as a
    prior over VQ-VAE code grids and code sequences. ``log_prob`` is exact:
    ``sum_t log p(x_t | x_<t)``, the first token conditioned on a learned start symbol.

    Hyper-parameters: ``embed`` (token embedding size), ``hidden`` (LSTM width), ``layers``.
    """

    family = "lstm"
    estimate = "exact"
    modalities = ("image", "text", "audio")

    def __init__(self, spec: DataSpec, embed: int = 64, hidden: int = 128, layers: int = 1):
        super().__init__(spec)
        check_ints("LSTMPrior", embed=embed, hidden=hidden, layers=layers)
        k = spec.levels
        self.embed = nn.Embedding(k + 1, embed)  # token k is the start symbol
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, k)

    def _logits(self, seq: torch.Tensor) -> torch.Tensor:
        # seq: [B, L] int64 -> logits [B, L, K] for p(seq_t | seq_<t)
        start = torch.full_like(seq[:, :1], self.spec.levels)
        h, _ = self.lstm(self.embed(torch.cat([start, seq[:, :-1]], dim=1)))
        return self.head(h)

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        seq = x.reshape(x.shape[0], -1)
        return categorical_log_prob(self._logits(seq), seq, dim=-1).sum(dim=1)

    def _sample(
        self, n: int, *, cond: Cond, generator: torch.Generator | None, temperature: float = 1.0
    ) -> torch.Tensor:
        tok = torch.full((n, 1), self.spec.levels, dtype=torch.long, device=self.device)
        state, out = None, []
        for _ in range(self.spec.D):
            h, state = self.lstm(self.embed(tok), state)
            tok = sample_categorical(
                self.head(h), dim=-1, generator=generator, temperature=temperature
            )
            out.append(tok)
        return torch.cat(out, dim=1).reshape(n, *self.spec.shape)


# ---------------------------------------------------------------------- the VQ-VAE
@dataclass(frozen=True)
class Trunk:
    """The convolutional trunk the encoder and the decoder share the shape of: ``hidden``
    channels, a residual stack of ``res_blocks`` blocks (``res_channels`` hidden) and
    ``downsample`` stride-2 stages."""

    hidden: int = 128
    res_channels: int = 32
    res_blocks: int = 2
    downsample: int = 2


@dataclass(frozen=True)
class Codebook:
    """The quantiser's options, :class:`zoo.nn.quantizer.VectorQuantizer`'s keywords of the
    same names: ``num_codes`` codes of ``code_dim`` dimensions, the commitment weight ``beta``,
    with ``ema`` moving-average codebook updates (``decay``), restarts of codes used less than
    ``dead_code_threshold`` times (running count) or idle for ``dead_code_steps`` steps, and
    ``kmeans_init`` Lloyd iterations of k-means on the first batch (docs/collapse.md)."""

    num_codes: int = 512
    code_dim: int = 64
    beta: float = 0.25
    ema: bool = False
    decay: float = 0.99
    dead_code_threshold: float = 1.0
    dead_code_steps: int = 0
    kmeans_init: int = 0

    def build(self) -> VectorQuantizer:
        return VectorQuantizer(**asdict(self))


class VQVAE(LikelihoodModel):
    """VQ-VAE for images ``[B, C, H, W]`` (2-D latent grid) and audio ``[B, T]`` (1-D codes).

    Args:
        spec: the data (image or audio, any number of levels K >= 2).
        num_codes: codebook size (paper: 512).
        code_dim: dimension of each code vector (paper: 64).
        hidden: channels of the convolutional trunk; res_channels / res_blocks: the residual
            stack (paper: 128, 32, 2).
        downsample: stride-2 stages; each latent covers ``2^downsample`` values per spatial
            axis. Inputs are padded up to a multiple of ``2^downsample`` and outputs cropped,
            so any shape works; the grid is ``ceil(size / 2^downsample)`` per axis.
        beta, ema, decay, dead_code_threshold, dead_code_steps, kmeans_init: the quantiser's
            (see VectorQuantizer and docs/collapse.md).
        head: the decoder's distribution per value: "bernoulli" (K=2), "categorical",
            "logistic" (discretised logistic) or "auto" (Bernoulli for K=2, categorical
            otherwise: the rule of every family). ``likelihood``: its deprecated name.
        prior: "uniform" or the class ("module:Class") of an exact autoregressive model to fit
            over the codes in the second phase, built with ``prior_hparams``; through the
            registry (``zoo.create_model``) also a registry name ("pixelcnn_prior",
            "wavenet_prior", "vqvae_lstm_prior"), whose hyper-parameters prior_hparams override.
        phase_fractions: the training budget split between "autoencoder" and "prior".

    The objective of phase "autoencoder" is ``-log p(x|z_q) + vq`` where ``vq`` is the
    quantiser's loss summed over the latent elements of one example (codebook + beta * commitment);
    phase "prior" trains the prior on the codes of the frozen encoder.
    """

    family = "vqvae"
    estimate = "bound"
    modalities = ("image", "audio")
    nested_models = {"prior": ("prior_hparams", "uniform")}

    @keyword_group("codebook", Codebook())
    @keyword_group("trunk", Trunk())
    def __init__(
        self,
        spec: DataSpec,
        *,
        trunk: Trunk,
        codebook: Codebook,
        head: str = "auto",
        prior: str = "uniform",
        prior_hparams: dict[str, Any] | None = None,
        phase_fractions: tuple[float, float] | list[float] = (0.7, 0.3),
        likelihood: str | None = None,
    ) -> None:
        super().__init__(spec)
        head = renamed_head_keyword("VQVAE", "likelihood", likelihood, head, "auto")
        self.phase = "autoencoder"
        num_codes, code_dim, downsample = codebook.num_codes, codebook.code_dim, trunk.downsample
        check_ints("VQVAE", 0, res_blocks=trunk.res_blocks, downsample=downsample)
        check_ints("VQVAE", 1, res_channels=trunk.res_channels, code_dim=code_dim)
        check_ints("VQVAE", 2, hidden=trunk.hidden, num_codes=num_codes)
        # level-major categorical logits: the layout VQ-VAE checkpoints were saved with
        self.head = make_head(head, spec, layout="kc", allowed=HEADS, owner="VQVAE")
        self.num_codes, self.code_dim, self.downsample = num_codes, code_dim, downsample

        # Images [B, C, H, W] and audio [B, T] (seen as [B, 1, T]) share one code path.
        self.dims = 2 if spec.modality == "image" else 1
        self.channels = spec.channels
        self.spatial = tuple(spec.shape[1:]) if self.dims == 2 else tuple(spec.shape)
        stride = 2**downsample
        self.grid = tuple(-(-s // stride) for s in self.spatial)  # ceil(s / 2^downsample)
        self.num_latents = math.prod(self.grid)
        n_params = self.head.num_params // self.channels
        self.params_per_value = n_params

        shape = (trunk.hidden, trunk.res_channels, trunk.res_blocks, downsample)
        self.encoder = Encoder(self.dims, self.channels, *shape, code_dim)
        self.quantizer = codebook.build()
        self.decoder = Decoder(self.dims, code_dim, *shape, n_params * self.channels)

        self.prior_name = prior
        self.prior = self._build_prior(prior, prior_hparams or {})
        fractions = tuple(float(f) for f in phase_fractions)
        if len(fractions) != 2 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(
                f"VQVAE: phase_fractions must be two positive numbers summing to 1 "
                f"(autoencoder, prior), got {phase_fractions!r}"
            )
        if self.prior is None:
            self.phases, self.phase_fractions = ("autoencoder",), (1.0,)
        else:
            self.phases, self.phase_fractions = ("autoencoder", "prior"), fractions

    # ------------------------------------------------------------------ construction
    def code_spec(self, modality: str | None = None) -> DataSpec:
        """The DataSpec of the code grid, the data a learned prior models.

        Images: ``("image", (1, h, w))``; audio: a sequence ``(L,)`` of modality ``modality``
        ("text" by default: codes are token ids; "audio" where the prior needs it).
        """
        if self.dims == 2:
            return DataSpec("image", (1, *self.grid), levels=self.num_codes, name="vq_codes")
        modality = modality or "text"
        rate = max(1, (self.spec.sample_rate or 1) // 2**self.downsample)
        return DataSpec(
            modality,
            self.grid,
            levels=self.num_codes,
            name="vq_codes",
            sample_rate=rate if modality == "audio" else None,
        )

    def _build_prior(self, prior: str, hparams: dict[str, Any]) -> LikelihoodModel | None:
        if prior == "uniform":
            return None  # prior_hparams, if any, belong to a learned prior: ignored
        if not isinstance(prior, str) or ":" not in prior:
            raise ValueError(
                f"VQVAE: prior must be 'uniform' or a model class 'module:Class', got {prior!r}; "
                "a registry name (such as 'vqvae_lstm_prior') is resolved by zoo.create_model"
            )
        cls = model_class(prior)
        if cls.estimate != "exact" or cls.count_based:
            raise ValueError(
                f"VQVAE: the prior {prior!r} must be an exact, gradient-trained model (its NLL "
                f"replaces L log K in the bound); it is {cls.estimate!r}"
                + (", count-based" if cls.count_based else "")
            )
        modality = None
        if self.dims == 1:
            modality = "text" if "text" in cls.modalities else "audio"
        return cls(self.code_spec(modality), **hparams)

    # ------------------------------------------------------------------ phases
    def set_phase(self, phase: str) -> None:
        """ "autoencoder": train encoder, codebook and decoder; "prior": train only the prior."""
        super().set_phase(phase)
        self.phase = phase
        for module in (self.encoder, self.quantizer, self.decoder):
            module.requires_grad_(phase == "autoencoder")
        if self.prior is not None:
            self.prior.requires_grad_(phase == "prior")
        self.train(self.training)

    def train(self, mode: bool = True) -> VQVAE:
        super().train(mode)
        if self.phase == "prior":  # the frozen autoencoder stays in eval mode (no EMA, no restarts)
            for module in (self.encoder, self.quantizer, self.decoder):
                module.eval()
        return self

    def num_parameters(self) -> int:
        """Every parameter of autoencoder and prior (and an EMA codebook), whatever the phase."""
        n = sum(p.numel() for p in self.parameters())
        return n + (self.quantizer.codebook.numel() if self.quantizer.ema else 0)

    # ------------------------------------------------------------------ encode / decode
    def _to_unit(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, *spec.shape] int -> [B, C, *padded spatial] float on [-1, 1]
        u = levels_to_unit(x, self.spec.levels).reshape(x.shape[0], self.channels, *self.spatial)
        pad: list[int] = []
        for s, g in zip(reversed(self.spatial), reversed(self.grid)):
            pad += [0, g * 2**self.downsample - s]
        return nn.functional.pad(u, pad) if any(pad) else u

    def _params(self, z_q: torch.Tensor) -> torch.Tensor:
        # z_q: [B, code_dim, *grid] -> decoder parameters [B, P, *spec.shape]
        h = self.decoder(z_q)
        h = h[(..., *(slice(0, s) for s in self.spatial))]  # crop the padding
        h = rearrange(h, "b (p c) ... -> b p c ...", p=self.params_per_value)
        return h.reshape(h.shape[0], self.params_per_value, *self.spec.shape)

    def _head_params(self, params: torch.Tensor) -> torch.Tensor:
        # [B, P, *spec.shape] -> the head's [B, P C, *S] (level-major, as the decoder made them)
        return params.reshape(params.shape[0], -1, *self.spatial)

    def _recon_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # log p(x | z): x [B, *spec.shape], params [B, P, *spec.shape] -> [B] nats
        xs = x.reshape(x.shape[0], self.channels, *self.spatial)
        return self.head.log_prob(self._head_params(params), xs).flatten(1).sum(1)

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, *spec.shape] -> codes [B, *grid]; no codebook updates
        z_e = self.encoder(self._to_unit(x))
        flat = z_e.movedim(1, -1).reshape(-1, self.code_dim)
        return self.quantizer.nearest(flat).reshape(x.shape[0], *self.grid)

    def _check_codes(self, codes: torch.Tensor) -> None:
        if not isinstance(codes, torch.Tensor) or codes.is_floating_point():
            raise ValueError("codes must be an integer tensor [B, *grid]")
        if tuple(codes.shape[1:]) != self.grid:
            raise ValueError(
                f"codes must have shape [B, {', '.join(map(str, self.grid))}] for this model, "
                f"got {list(codes.shape)}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids of ``x: [B, *spec.shape]`` -> ``[B, *grid]`` int64 in [0, num_codes)."""
        self.spec.validate(x)
        return self._codes(x.long())

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decoder parameters for ``codes: [B, *grid]`` -> ``[B, P, *spec.shape]``.

        P is 1 (Bernoulli logits), K (categorical logits) or 2 (logistic mean on [-1, 1] and
        log-scale), as ``self.head`` says.
        """
        self._check_codes(codes)
        return self._params(self.quantizer.lookup(codes))

    def _prior_log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        # codes: [B, *grid] -> [B] nats under the prior
        if self.prior is None:
            return codes.new_full(
                (codes.shape[0],), -self.num_latents * math.log(self.num_codes), dtype=torch.float32
            )
        return self.prior.log_prob(codes.reshape(codes.shape[0], *self.prior.spec.shape))

    # ------------------------------------------------------------------ contract hooks
    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        """``log p(x | z*(x)) + log p(z*(x))`` (k is ignored: the encoder is deterministic)."""
        codes = self._codes(x)
        recon = self._recon_log_prob(x, self._params(self.quantizer.lookup(codes)))
        return recon + self._prior_log_prob(codes)

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        if self.phase == "prior":
            with torch.no_grad():
                codes = self._codes(x)
            loss, parts = self.prior.loss(codes.reshape(x.shape[0], *self.prior.spec.shape))
            return loss, {"prior_" + k: v for k, v in parts.items()}
        q = self.quantizer(self.encoder(self._to_unit(x)))
        recon = -self._recon_log_prob(x, self._params(q.z_q)).mean()
        vq = q.loss * (self.code_dim * self.num_latents)  # per example, like the NLL
        use = self.quantizer.code_usage(q.codes)  # logged every log_every steps by the trainer
        return recon + vq, {
            "recon_nll": recon.detach(),
            "vq": vq.detach(),
            "perplexity": q.perplexity.detach(),
            "codes_used": use["codes_used"],
            "dead_codes": use["dead_codes"],
        }

    def _sample(
        self, n: int, *, cond: Cond, generator: torch.Generator | None, temperature: float = 1.0
    ) -> torch.Tensor:
        """Codes from the prior (uniform or learned), decoded, then values drawn per position."""
        device = self.device
        if self.prior is None:
            codes = torch.randint(
                self.num_codes, (n, *self.grid), generator=generator, device=device
            )
        else:
            codes = self.prior.sample(n, generator=generator).reshape(n, *self.grid)
        params = self._head_params(self.decode(codes))
        xs = self.head.sample(params, generator, temperature)  # [n, C, *S]
        return xs.reshape(n, *self.spec.shape)

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, *, cond: Cond = None) -> dict[str, float]:
        """Both bounds in bits/dim, reconstruction NLL, codebook use on the batch ``x``.

        - ``bits_per_dim_uniform``: ``(-log p(x|z) + L log K) / (D ln 2)``;
        - ``bits_per_dim_prior``: with the learned prior's NLL (only with a learned prior);
        - ``recon_bits_per_dim``: ``-log p(x|z) / (D ln 2)`` (not a bound on its own);
        - ``prior_bits_per_code``: the learned prior's NLL per latent, vs ``log2 K`` uniform;
        - ``codebook_perplexity``, ``codes_used``, ``codes_used_fraction``: over the batch's
          codes (the leaderboard flags perplexity below 5% of ``num_codes``).
        """
        self.spec.validate(x)
        x = x.long()
        codes = self._codes(x)
        recon = self._recon_log_prob(x, self._params(self.quantizer.lookup(codes)))
        denom = self.spec.D * math.log(2.0)
        uniform = self.num_latents * math.log(self.num_codes)
        out = {
            "recon_bits_per_dim": float(-recon.double().mean()) / denom,
            "bits_per_dim_uniform": (float(-recon.double().mean()) + uniform) / denom,
            "codebook_perplexity": float(code_perplexity(codes, self.num_codes)),
            "codes_used": float(torch.unique(codes).numel()),
            "codes_used_fraction": float(torch.unique(codes).numel()) / self.num_codes,
            "latents": float(self.num_latents),
        }
        if self.prior is not None:
            prior_nll = -self._prior_log_prob(codes).double().mean()
            out["bits_per_dim_prior"] = (float(-recon.double().mean()) + float(prior_nll)) / denom
            out["prior_bits_per_code"] = float(prior_nll) / (self.num_latents * math.log(2.0))
        return out
