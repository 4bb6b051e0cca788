"""The WaveNet autoencoder of Chorowski et al. 2019 ("Unsupervised speech representation
learning using WaveNet autoencoders", IEEE/ACM TASLP 27(12)).

An encoder reads the whole recording and emits latent vectors ``z`` at a low rate (24-50 Hz);
a WaveNet decoder predicts every sample from the past samples, the latents upsampled to the
sample rate and the speaker's identity. Because the decoder already has the past and the
speaker, the encoder is pushed to transmit in ``z`` only what they do not give: the content.

    x [B, T] levels -> mu-law decode -> features (MFCC + deltas | log-mel | learned framing)
      -> conv stack at the frame rate -> strided conv to the latent rate ........ "encoder"
      -> 1x1 projection into the bottleneck .................................... "projection"
      -> bottleneck: ae | vae | vq ............................................. "bottleneck"
      -> time jitter (training only) -> conditioning conv, kernel 3 .......... "conditioning"
      -> upsampled by repetition to the sample rate -> WaveNet(local=..., cond={"speaker"})

(the quoted names are the four probe points, :meth:`WaveNetAutoencoder.representations`).

What ``log_prob`` returns, per bottleneck (every figure is a lower bound on ``log p(x)`` under a
generative model that first draws latents from a stated prior, then ``x`` from the decoder):

- ``"vq"``: ``log p(x | z_q(x)) - L log K`` (estimate ``"bound"``). The codes are uniform
  a priori and the encoder is deterministic, so the ELBO is the decoder's log-likelihood minus
  the cost of sending L codes of log2 K bits each (the VQ-VAE convention).
- ``"vae"``: the ELBO ``E_q log p(x | z) - KL(q(z | x) || N(0, I))`` (estimate ``"elbo"``; one
  sample of z, the KL in closed form; ``k > 1`` gives the IWAE-k bound).
- ``"ae"`` (dimensionality reduction): a deterministic bottleneck has no likelihood of its
  own (``log p(x | z(x))`` is no bound on ``log p(x)``: z was computed from x). So the
  projection is bounded by tanh and rounded to ``ae_bits`` bits per dimension (straight-through
  in training), and ``log_prob`` charges the cost of sending those numbers with a uniform code:
  ``log p(x | z_q(x)) - L D ae_bits ln 2`` (estimate ``"bound"``). The decoder's conditional
  figure is reported apart, as ``decoder_bits_per_dim`` in :meth:`extra_metrics` and by
  :meth:`conditional_log_prob` for every bottleneck.

The latent rate is ``sample_rate / hop``; ``hop = downsample * frame_hop`` with ``frame_hop =
round(sample_rate / (latent_rate * downsample))``, so the actual rate (``self.latent_rate``) can
differ a little from the one asked for when the division is not exact. A sequence of T samples
has ``L = ceil(T / hop)`` latents (the encoder pads the waveform with silence to ``L * hop``).

Sampling draws the latents from the bound's prior (uniform codes for VQ, N(0, I) for VAE,
uniform grid values for AE), or takes them from ``latents=`` (e.g. :meth:`encode` of a real
recording: a reconstruction, or a voice conversion with another speaker in ``cond``).

Sparse emission (``emission="nms"``, the paper's non-max suppression, sec. V-D): a 1x1
convolution of the encoder output gives an emission score ``s [B, L]``; of the L latents of
an utterance exactly ``k = max(1, floor(emission_fraction * L + 1/2))`` are emitted and the others
are set to zero (:func:`nms_mask`: the k highest-scoring local maxima of ``s``; only where an
utterance has fewer than k local maxima are the remaining places filled with its
highest-scoring other frames). Trained end to end with a straight-through gate: the forward
pass multiplies z by the hard 0/1 mask m, the backward pass differentiates ``z *
sigmoid(s)`` (so every frame's score gets a gradient, emitted or not). The bound then pays for
*where* the emissions are as well as what they are: ``log C(L, k)`` nats for the positions
(a uniform code over the k-subsets of L frames) plus k emissions' worth of the bottleneck's
rate (VQ: ``k log K``; AE: ``k D ae_bits ln 2``; VAE: the KL of the emitted frames only). VQ
:meth:`encode` gives code -1 at the frames that emit nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.metrics import LN2, vq_bitrate
from zoo.core.spec import DataSpec
from zoo.core.validation import check_choice, check_ints, check_sequence, keyword_group
from zoo.models.wavenet import DilatedStack, WaveNet
from zoo.nn.gaussian import (
    RunningLogMeanExp,
    diag_gaussian_log_prob,
    gaussian_kl,
    reparameterize,
    standard_normal_log_prob,
)
from zoo.nn.heads import renamed_head_keyword
from zoo.nn.quantizer import VectorQuantizer

BOTTLENECKS = ("ae", "vae", "vq")
FEATURES = ("mfcc", "mel", "waveform")
PROBE_POINTS = ("encoder", "projection", "bottleneck", "conditioning")
EMISSIONS = ("dense", "nms")


def emission_count(L: int, fraction: float) -> int:
    """Latents emitted out of ``L`` under non-max suppression: ``fraction * L`` rounded half
    up, at least 1 (exactly a quarter when 4 divides L)."""
    return max(1, min(L, math.floor(fraction * L + 0.5)))


def local_maxima(score: torch.Tensor) -> torch.Tensor:
    """``score: [B, L]`` -> bool ``[B, L]``: ``s[l] > s[l-1]`` and ``s[l] >= s[l+1]`` (a
    missing neighbour at either end always passes; a plateau counts once, at its left end)."""
    left = F.pad(score[:, :-1], (1, 0), value=-math.inf)
    right = F.pad(score[:, 1:], (0, 1), value=-math.inf)
    return (score > left) & (score >= right)


def nms_mask(score: torch.Tensor, k: int) -> torch.Tensor:
    """Exactly ``k`` emitted frames per row of ``score: [B, L]``, as a float 0/1 ``[B, L]``.

    Frames are ranked first by being a local maximum (:func:`local_maxima`), then by score
    (ties: the earlier frame first), and the first k are emitted: the k highest local maxima
    when a row has at least k of them, else all its local maxima and its highest other frames.
    """
    B, L = score.shape
    if not 1 <= k <= L:
        raise ValueError(f"k must lie in [1, L] = [1, {L}], got {k}")
    by_score = torch.sort(score, dim=1, descending=True, stable=True).indices
    is_max = local_maxima(score).gather(1, by_score)
    order = torch.sort(is_max.to(torch.int8), dim=1, descending=True, stable=True).indices
    chosen = by_score.gather(1, order[:, :k])
    return torch.zeros_like(score).scatter_(1, chosen, 1.0)


def log_binomial(n: int, k: int) -> float:
    """``ln C(n, k)`` in nats (the cost of k emission positions among n frames)."""
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def jitter_indices(
    batch: int,
    length: int,
    p: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Time-jitter source indices ``[batch, length]`` (Chorowski et al. 2019, sec. III-C).

    Latent ``l`` is replaced by its left neighbour with probability ``p / 2``, by its right
    neighbour with probability ``p / 2``, and kept otherwise; at the ends the missing neighbour
    is the latent itself. No latent moves by more than one step; the length is unchanged.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"jitter probability must lie in [0, 1], got {p}")
    u = torch.rand(batch, length, generator=generator, device=device)
    step = (u < p / 2).long() * -1 + (u > 1.0 - p / 2).long()  # -1, 0, +1
    return (torch.arange(length, device=device) + step).clamp(0, length - 1)


def time_jitter(
    z: torch.Tensor, p: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``z: [B, D, L]`` with each latent replaced by a neighbour as in :func:`jitter_indices`."""
    B, D, L = z.shape
    idx = jitter_indices(B, L, p, generator=generator, device=z.device)
    return z.gather(2, idx[:, None, :].expand(B, D, L))


class _ResBlock(nn.Module):
    """``h + conv1x1(relu(conv3(relu(h))))`` at a fixed time resolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.mix(F.relu(self.conv(F.relu(h))))


class WaveNetAutoencoder(LikelihoodModel):
    """Encoder -> bottleneck (ae | vae | vq) -> WaveNet decoder with speaker conditioning.

    Args:
        spec: an audio DataSpec (shape ``(T,)``, mu-law ``levels``, ``sample_rate``).
        bottleneck: "ae" (tanh projection rounded to ``ae_bits``), "vae" (Gaussian, KL to
            N(0, I)) or "vq" (``num_codes`` prototypes, :class:`zoo.nn.quantizer.VectorQuantizer`).
        features: encoder input computed inside the model from the mu-law-decoded waveform:
            "mfcc" (``n_mfcc`` coefficients + deltas + delta-deltas), "mel" (log
            ``n_mels``-band filterbank) or "waveform" (a learned strided framing).
        latent_rate: latents per second asked for (24-50 Hz in the paper); see the module doc.
        downsample: the strided convolution's factor from the frame rate to the latent rate.
        encoder_channels, encoder_blocks: width and number of residual blocks before (and one
            after) the strided convolution.
        latent_dim: D, channels of z (the VQ code dimension).
        num_codes, beta, ema: the VQ codebook (K), commitment weight, EMA codebook updates.
        decay, dead_code_threshold, dead_code_steps, kmeans_init: the quantiser's remedies
            for codebook collapse (:class:`zoo.nn.quantizer.VectorQuantizer`, docs/collapse.md).
        ae_bits: precision of the AE bottleneck, bits per latent dimension.
        free_bits: VAE only, training only: KL below this many nats per latent channel and
            example is not penalised (Kingma et al. 2016); ``log_prob`` always charges all of it.
        jitter: probability that a latent is replaced by a neighbour in training (0.12 in the
            paper).
        cond_channels: output channels of the conditioning convolution (kernel 3) that mixes
            neighbouring latents before upsampling.
        emission: "dense" (every latent is sent) or "nms" (non-max suppression: only
            ``emission_fraction`` of the latents, the local maxima of a learned emission score,
            are sent, the rest are zero; see the module doc).
        emission_fraction: the fraction of latents emitted under "nms" (a quarter in the paper,
            at 25 Hz).
        speaker_conditioning: condition the decoder on ``cond["speaker"]`` when the spec has a
            "speaker" label (a global embedding of ``global_dim``).
        layers, stacks, kernel_size, residual_channels, gate_channels, skip_channels, head:
            the WaveNet decoder (:class:`zoo.models.wavenet.WaveNet`); ``output``: the
            deprecated name of ``head``.
    """

    family = "wavenet_ae"
    estimate = "bound"  # per instance: "elbo" for the VAE bottleneck (see the module doc)
    modalities = ("audio",)

    @keyword_group("decoder", DilatedStack(layers=8, residual_channels=32, gate_channels=64))
    def __init__(
        self,
        spec: DataSpec,
        *,
        bottleneck: str = "vq",
        features: str = "mfcc",
        latent_rate: float = 50.0,
        downsample: int = 2,
        n_mels: int = 40,
        n_mfcc: int = 13,
        encoder_channels: int = 64,
        encoder_blocks: int = 2,
        latent_dim: int = 16,
        num_codes: int = 64,
        beta: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        dead_code_threshold: float = 1.0,
        dead_code_steps: int = 0,
        kmeans_init: int = 0,
        ae_bits: int = 4,
        free_bits: float = 0.0,
        jitter: float = 0.12,
        cond_channels: int = 64,
        speaker_conditioning: bool = True,
        emission: str = "dense",
        emission_fraction: float = 0.25,
        global_dim: int = 16,
        decoder: DilatedStack,
        head: str = "categorical",
        output: str | None = None,
    ) -> None:
        super().__init__(spec)
        head = renamed_head_keyword("WaveNetAutoencoder", "output", output, head, "categorical")
        owner = "WaveNetAutoencoder"
        check_choice(owner, "bottleneck", bottleneck, BOTTLENECKS)
        check_choice(owner, "features", features, FEATURES)
        check_choice(owner, "emission", emission, EMISSIONS)
        if not 0.0 < emission_fraction <= 1.0:
            raise ValueError(f"emission_fraction must lie in (0, 1], got {emission_fraction}")
        check_ints(owner, downsample=downsample, n_mels=n_mels, n_mfcc=n_mfcc, ae_bits=ae_bits)
        check_ints(owner, encoder_channels=encoder_channels, cond_channels=cond_channels)
        check_ints(owner, latent_dim=latent_dim)
        check_ints(owner, 0, encoder_blocks=encoder_blocks)
        if features == "mfcc" and n_mfcc > n_mels:
            raise ValueError(f"n_mfcc ({n_mfcc}) cannot exceed n_mels ({n_mels})")
        sr = int(spec.sample_rate)
        if not 0 < latent_rate <= sr / downsample:
            raise ValueError(
                f"latent_rate must lie in (0, sample_rate / downsample] = (0, {sr / downsample}]"
                f" Hz, got {latent_rate}"
            )
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter probability must lie in [0, 1], got {jitter}")
        if free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {free_bits}")
        self.estimate = "elbo" if bottleneck == "vae" else "bound"
        self.bottleneck, self.features = bottleneck, features
        self.frame_hop = max(1, round(sr / (latent_rate * downsample)))
        self.hop = self.frame_hop * downsample
        self.latent_rate = sr / self.hop  # the exact rate (latents per second)
        self.latent_dim, self.ae_bits, self.free_bits = latent_dim, ae_bits, float(free_bits)
        self.jitter = float(jitter)
        self.levels = spec.levels
        self.emission, self.emission_fraction = emission, float(emission_fraction)

        # ---- features at the frame rate: [B, T_pad] waveform -> [B, F, T_pad / frame_hop]
        win = max(2, round(0.025 * sr))
        n_fft = 1 << (win - 1).bit_length()
        mel = dict(
            n_fft=n_fft,
            win_length=win,
            hop_length=self.frame_hop,
            n_mels=n_mels,
            center=True,
            pad_mode="constant",
        )
        if features == "mfcc":
            self.frontend = torchaudio.transforms.MFCC(sr, n_mfcc=n_mfcc, melkwargs=mel)
            n_feat = 3 * n_mfcc
        elif features == "mel":
            self.frontend = torchaudio.transforms.MelSpectrogram(sr, **mel)
            n_feat = n_mels
        else:
            self.frontend = nn.Conv1d(1, encoder_channels, 2 * self.frame_hop, self.frame_hop)
            n_feat = encoder_channels
        self.feat_norm = nn.BatchNorm1d(n_feat)

        # ---- encoder: frame rate -> latent rate
        C = encoder_channels
        self.enc_in = nn.Conv1d(n_feat, C, 3, padding=1)
        self.enc_frames = nn.Sequential(*[_ResBlock(C) for _ in range(encoder_blocks)])
        self.enc_down = nn.Conv1d(C, C, 2 * downsample, stride=downsample)
        self.enc_latent = _ResBlock(C)
        self.downsample = downsample

        # ---- bottleneck
        D = latent_dim
        self.project = nn.Conv1d(C, 2 * D if bottleneck == "vae" else D, 1)
        self.quantizer = (
            VectorQuantizer(
                num_codes,
                D,
                beta=beta,
                ema=ema,
                decay=decay,
                dead_code_threshold=dead_code_threshold,
                dead_code_steps=dead_code_steps,
                kmeans_init=kmeans_init,
            )
            if bottleneck == "vq"
            else None
        )
        self.num_codes = num_codes if bottleneck == "vq" else None
        self.score = nn.Conv1d(C, 1, 1) if emission == "nms" else None

        # ---- conditioning: mixes neighbouring latents, then upsampled by repetition
        self.cond_conv = nn.Conv1d(D, cond_channels, 3, padding=1)
        speaker = speaker_conditioning and "speaker" in spec.labels
        self.decoder = WaveNet(
            spec,
            **asdict(decoder),
            head=head,
            global_dim=global_dim,
            local_channels=cond_channels,
            global_labels=("speaker",) if speaker else (),
        )

    # ------------------------------------------------------------------ shape facts
    @property
    def cond_labels(self) -> tuple[str, ...]:
        return self.decoder.cond_labels

    @property
    def receptive_field(self) -> int:
        """Past samples the decoder sees (the latents add the whole recording's content)."""
        return self.decoder.receptive_field

    def num_latents(self, T: int | None = None) -> int:
        """L = ceil(T / hop) latents for T samples (default: the spec's length)."""
        T = self.spec.length if T is None else T
        return -(-T // self.hop)

    @property
    def bitrate(self) -> float:
        """Bits per second the bottleneck sends with its uniform prior code (VAE: nan).

        VQ: ``latent_rate * log2 K``; AE: ``latent_rate * D * ae_bits``. The VAE's rate is its
        KL, which depends on the data: see :meth:`extra_metrics`. Under ``emission="nms"`` it
        is the rate of the k emissions plus ``log2 C(L, k)`` bits for their positions, for the
        spec's length (L latents).
        """
        if self.emission == "nms":
            if self.bottleneck == "vae":
                return math.nan
            L = self.num_latents()
            seconds = self.spec.length / self.spec.sample_rate
            return self._rate_nats(L) / LN2 / seconds
        if self.bottleneck == "vq":
            return vq_bitrate(self.latent_rate, self.num_codes)
        if self.bottleneck == "ae":
            return self.latent_rate * self.latent_dim * self.ae_bits
        return math.nan

    def num_emitted(self, L: int) -> int:
        """Latents sent out of L: all of them (dense) or :func:`emission_count` (nms)."""
        return L if self.emission == "dense" else emission_count(L, self.emission_fraction)

    def position_nats(self, L: int) -> float:
        """Nats to say where the emissions are among L latents: 0 (dense), ln C(L, k) (nms)."""
        return 0.0 if self.emission == "dense" else log_binomial(L, self.num_emitted(L))

    def check_sample_rate(self, sample_rate: int) -> None:
        """Raise ValueError unless audio at ``sample_rate`` is what this model was built for.

        The model never resamples silently: resampling changes the data the likelihood is
        about. Resample first (``zoo.data.speech.quantize_waveform(..., target_rate=...)``).
        """
        if int(sample_rate) != int(self.spec.sample_rate):
            raise ValueError(
                f"this model was built for {self.spec.sample_rate} Hz audio, got "
                f"{sample_rate} Hz; resample first, e.g. zoo.data.speech.quantize_waveform("
                f"wave, {sample_rate}, target_rate={self.spec.sample_rate}, "
                f"levels={self.levels})"
            )

    # ------------------------------------------------------------------ the encoder
    def _check_x(self, x: torch.Tensor, sample_rate: int | None) -> torch.Tensor:
        if sample_rate is not None:
            self.check_sample_rate(sample_rate)
        check_sequence(x, self.levels)
        return x.long()

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [B, T]`` levels -> ``[B, F, L * downsample]`` normalised features."""
        B, T = x.shape
        L = self.num_latents(T)
        wave = torchaudio.functional.mu_law_decoding(x, self.levels).clamp(-1.0, 1.0)
        wave = F.pad(wave, (0, L * self.hop - T))  # silence to a whole number of latents
        n_frames = L * self.downsample
        if self.features == "waveform":
            left = self.frame_hop // 2
            w = F.pad(wave, (left, self.frame_hop - left))[:, None]
            f = self.frontend(w)
        else:
            f = self.frontend(wave)
            if self.features == "mel":
                f = torch.log(f.clamp_min(1e-5))
            else:
                d1 = torchaudio.functional.compute_deltas(f)
                f = torch.cat([f, d1, torchaudio.functional.compute_deltas(d1)], 1)
        return self.feat_norm(f[:, :, :n_frames])

    def _encode_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` -> encoder output ``[B, C, L]`` (probe point "encoder")."""
        h = self.enc_frames(self.enc_in(self._features(x)))
        pad = self.downsample // 2
        h = self.enc_down(F.pad(F.relu(h), (pad, self.downsample - pad)))
        return self.enc_latent(h)

    def _emission_mask(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Encoder output ``[B, C, L]`` -> (hard mask ``[B, L]``, straight-through gate
        ``[B, L]``: the mask's value, ``sigmoid(score)``'s gradient), or None when dense."""
        if self.score is None:
            return None
        s = self.score(h)[:, 0]
        m = nms_mask(s.detach(), self.num_emitted(s.shape[1]))
        p = torch.sigmoid(s)
        return m, m + p - p.detach()

    def emission_scores(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """NMS only: ``{"score": [B, L], "mask": [B, L]}`` (1.0 where a latent is emitted)."""
        if self.score is None:
            raise ValueError('emission_scores needs a model built with emission="nms"')
        h = self._encode_hidden(self._check_x(x, None))
        s = self.score(h)[:, 0]
        return {"score": s, "mask": nms_mask(s, self.num_emitted(s.shape[1]))}

    def _bottleneck(
        self,
        proj: torch.Tensor,
        *,
        sample: bool,
        generator: torch.Generator | None = None,
        gate: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Projection ``[B, P, L]`` -> (z ``[B, D, L]``, parts). ``sample``: VAE draws z.
        ``gate``: the NMS (mask, straight-through gate); z is zero where the mask is."""
        z, parts = self._dense_bottleneck(proj, sample=sample, generator=generator)
        if gate is not None:
            mask, st = gate
            z = z * st[:, None, :]
            parts["mask"] = mask
            if "codes" in parts:
                parts["codes"] = parts["codes"].masked_fill(mask == 0, -1)
        return z, parts

    def _dense_bottleneck(
        self, proj: torch.Tensor, *, sample: bool, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.bottleneck == "vq":
            out = self.quantizer(proj)
            return out.z_q, {"vq_loss": out.loss, "codes": out.codes, "perplexity": out.perplexity}
        if self.bottleneck == "vae":
            mu, logvar = proj.chunk(2, dim=1)
            logvar = logvar.clamp(-12.0, 8.0)
            if not sample:
                return mu, {"mu": mu, "logvar": logvar}
            return reparameterize(mu, logvar, generator=generator), {"mu": mu, "logvar": logvar}
        n = (1 << self.ae_bits) - 1  # 2**bits grid points on [-1, 1]
        u = torch.tanh(proj)
        grid = torch.round((u + 1.0) * (n / 2.0)) * (2.0 / n) - 1.0
        return u + (grid - u).detach(), {}  # straight-through rounding

    def _condition(self, z: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents ``[B, D, L]`` -> (conditioning ``[B, C, L]``, upsampled ``[B, C, T]``)."""
        if self.training and self.jitter > 0:
            z = time_jitter(z, self.jitter)
        c = self.cond_conv(z)
        return c, c.repeat_interleave(self.hop, dim=2)[:, :, :T]

    def representations(
        self, x: torch.Tensor, cond: Cond = None, *, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """The four probe points, each ``[B, channels, L]`` at the latent rate, no jitter.

        "encoder": before the bottleneck. "projection": the VQ's z_e, the VAE's mean, the AE's
        pre-tanh projection. "bottleneck": what the decoder is sent: z_q, a sample
        ``z ~ q(z | x)`` (drawn with ``generator``), the rounded AE latent. "conditioning": the
        kernel-3 conditioning convolution's output, what the WaveNet receives (before
        upsampling by repetition, which adds nothing).
        """
        x = self._check_x(x, None)
        h = self._encode_hidden(x)
        proj = self.project(h)
        z, _ = self._bottleneck(proj, sample=True, generator=generator, gate=self._emission_mask(h))
        c = self.cond_conv(z)
        p = proj.chunk(2, dim=1)[0] if self.bottleneck == "vae" else proj
        return {"encoder": h, "projection": p, "bottleneck": z, "conditioning": c}

    def encode(self, x: torch.Tensor, *, sample_rate: int | None = None) -> torch.Tensor:
        """Latents of ``x: [B, T]``: VQ codes ``[B, L]`` int64, else z ``[B, D, L]`` (VAE: mean)."""
        x = self._check_x(x, sample_rate)
        h = self._encode_hidden(x)
        z, parts = self._bottleneck(self.project(h), sample=False, gate=self._emission_mask(h))
        return parts["codes"] if self.bottleneck == "vq" else z

    def _latents_to_z(self, latents: torch.Tensor) -> torch.Tensor:
        if self.bottleneck == "vq":
            latents = latents.long()
            z = self.quantizer.lookup(latents.clamp_min(0))
            return z * (latents >= 0)[:, None, :].to(z.dtype)  # code -1: nothing emitted
        if latents.dim() != 3 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"latents must be [B, {self.latent_dim}, L] floats, got {list(latents.shape)}"
            )
        return latents.float()

    # ------------------------------------------------------------------ likelihoods
    def _rate_nats(self, L: int) -> float:
        """Nats to send L latents with the uniform prior code (VQ / AE): the emitted ones'
        values plus, under NMS, their positions (:meth:`position_nats`)."""
        n = self.num_emitted(L)
        pos = self.position_nats(L)
        if self.bottleneck == "vq":
            return n * math.log(self.num_codes) + pos
        if self.bottleneck == "vae":
            return pos
        return n * self.latent_dim * self.ae_bits * LN2 + pos

    @staticmethod
    def _masked_kl(parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """VAE: KL per frame ``[B, D, L]``, zero at the frames NMS does not emit."""
        kl = gaussian_kl(parts["mu"], parts["logvar"])
        return kl * parts["mask"][:, None, :] if "mask" in parts else kl

    def _forward(self, x: torch.Tensor, cond: Cond, *, sample: bool) -> dict[str, Any]:
        T = x.shape[1]
        h = self._encode_hidden(x)
        z, parts = self._bottleneck(self.project(h), sample=sample, gate=self._emission_mask(h))
        _, local = self._condition(z, T)
        parts["recon"] = self.decoder.log_prob_given(x, local, cond)  # [B] nats
        parts["z"] = z
        return parts

    def conditional_log_prob(self, x: torch.Tensor, *, cond: Cond = None) -> torch.Tensor:
        """``log p(x | z(x), speaker)``, ``[B]`` nats: the decoder's figure, no bound on p(x).

        z is the bottleneck's output for x itself (the VAE's mean), so this is a
        reconstruction figure, not a likelihood of x: compare models with :meth:`log_prob`.
        """
        x = self._check_x(x, None)
        self.spec.validate_cond(cond, x.shape[0])
        return self._forward(x, cond, sample=False)["recon"]

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        if self.bottleneck != "vae":  # deterministic encoders: k samples would all agree
            parts = self._forward(x, cond, sample=False)
            return parts["recon"] - self._rate_nats(parts["z"].shape[2])
        pos = self.position_nats(self.num_latents(x.shape[1]))
        if k == 1:
            parts = self._forward(x, cond, sample=True)
            kl = self._masked_kl(parts).sum((1, 2))
            return parts["recon"] - kl - pos
        h = self._encode_hidden(x)
        gate = self._emission_mask(h)
        _, q = self._bottleneck(self.project(h), sample=False)
        running = RunningLogMeanExp()  # IWAE-k: log mean_i p(x, z_i) / q(z_i | x)
        for _ in range(k):
            z = reparameterize(q["mu"], q["logvar"])
            log_prior_over_q = standard_normal_log_prob(z) - diag_gaussian_log_prob(
                z, q["mu"], q["logvar"]
            )
            if gate is not None:  # only the emitted frames are drawn (and weighed)
                z = z * gate[0][:, None, :]
                log_prior_over_q = log_prior_over_q * gate[0][:, None, :]
            _, local = self._condition(z, x.shape[1])
            log_w = self.decoder.log_prob_given(x, local, cond) + log_prior_over_q.sum((1, 2))
            log_w = log_w - pos
            running.update(log_w.unsqueeze(0))
        return running.value()

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        parts = self._forward(x, cond, sample=True)
        recon = -parts["recon"].mean()
        L = parts["z"].shape[2]
        out = {"recon": recon.detach()}
        if self.bottleneck == "vq":
            vq = parts["vq_loss"] * (self.latent_dim * L)  # per-element mean -> per example
            out.update(vq=vq.detach(), perplexity=parts["perplexity"].detach())
            loss = recon + vq + self._rate_nats(L)
        elif self.bottleneck == "vae":
            kl_ch = self._masked_kl(parts).sum(2)  # [B, D]
            kl = kl_ch.sum(1).mean()
            kl_train = kl_ch.clamp_min(self.free_bits).sum(1).mean() if self.free_bits else kl
            out["kl"] = kl.detach()
            loss = recon + kl_train + self._rate_nats(L)
        else:
            loss = recon + self._rate_nats(L)
        return loss, out

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, *, cond: Cond = None) -> dict[str, float]:
        """Decoder bits/dim, bottleneck and waveform bitrates (bits/s), latent rate.

        ``decoder_bits_per_dim``: ``-log2 p(x | z(x)) / T`` (not a bound on p(x));
        ``bottleneck_bits_per_s``: VQ ``rate * log2 K``, AE ``rate * D * ae_bits``, VAE the
        mean KL in bits per second of audio; ``waveform_bits_per_s``: ``sample_rate *
        log2(levels)``, the raw stream's rate for comparison.
        """
        x = self._check_x(x, None)
        self.spec.validate_cond(cond, x.shape[0])
        T = x.shape[1]
        parts = self._forward(x, cond, sample=False)
        seconds = T / self.spec.sample_rate
        m = {
            "decoder_bits_per_dim": float(-parts["recon"].mean() / (T * LN2)),
            "latent_rate_hz": self.latent_rate,
            "waveform_bits_per_s": self.spec.sample_rate * math.log2(self.levels),
        }
        L = parts["z"].shape[2]
        if self.bottleneck == "vae":
            kl = self._masked_kl(parts).sum((1, 2)).mean()
            m["kl_nats"] = float(kl)
            m["bottleneck_bits_per_s"] = (float(kl) + self.position_nats(L)) / LN2 / seconds
            m["active_units"] = float((parts["mu"].var(dim=0).mean(-1) > 0.01).sum())
        else:
            m["bottleneck_bits_per_s"] = (
                self.bitrate if self.emission == "dense" else self._rate_nats(L) / LN2 / seconds
            )
        if self.emission == "nms":
            m["emission_fraction"] = float(parts["mask"].mean())
            m["position_bits_per_s"] = self.position_nats(L) / LN2 / seconds
        if self.bottleneck == "vq":
            m["code_perplexity"] = float(parts["perplexity"])
            codes = parts["codes"]
            m["codes_used"] = float(codes[codes >= 0].unique().numel())
        return m

    # ------------------------------------------------------------------ sampling
    def prior_latents(
        self, n: int, L: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Latents from the bound's prior: uniform codes ``[n, L]`` (VQ), N(0, I) ``[n, D, L]``
        (VAE), uniform grid values ``[n, D, L]`` (AE). NMS: k uniformly placed emissions per
        example, code -1 (VQ) or zero (AE / VAE) elsewhere."""
        dev = self.device
        if self.bottleneck == "vq":
            lat = torch.randint(self.num_codes, (n, L), generator=generator, device=dev)
        elif self.bottleneck == "vae":
            lat = torch.randn(n, self.latent_dim, L, generator=generator, device=dev)
        else:
            m = (1 << self.ae_bits) - 1
            g = torch.randint(m + 1, (n, self.latent_dim, L), generator=generator, device=dev)
            lat = g * (2.0 / m) - 1.0
        if self.emission == "dense":
            return lat
        u = torch.rand(n, L, generator=generator, device=dev)
        keep = torch.zeros_like(u, dtype=torch.bool)
        keep.scatter_(1, u.topk(self.num_emitted(L), dim=1).indices, True)  # a uniform k-subset
        if self.bottleneck == "vq":
            return lat.masked_fill(~keep, -1)
        return lat * keep[:, None, :]

    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        latents: torch.Tensor | None = None,
        fast: bool = True,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        T = self.spec.length
        L = self.num_latents(T)
        if latents is None:
            latents = self.prior_latents(n, L, generator=generator)
        if latents.shape[0] != n or latents.shape[-1] != L:
            raise ValueError(
                f"latents must hold {n} examples of {L} latents (last dimension), got "
                f"{list(latents.shape)}"
            )
        z = self._latents_to_z(latents.to(self.device))
        was = self.training
        self.eval()  # no jitter when generating
        try:
            _, local = self._condition(z, T)
        finally:
            self.train(was)
        return self.decoder.sample_given(
            n, T, local=local, cond=cond, generator=generator, fast=fast, temperature=temperature
        )

    @torch.no_grad()
    def reconstruct(
        self,
        x: torch.Tensor,
        *,
        cond: Cond = None,
        generator: torch.Generator | None = None,
        fast: bool = True,
    ) -> torch.Tensor:
        """Resynthesise ``x: [B, T]`` from its own latents (and ``cond``'s speaker)."""
        lat = self.encode(x)
        return self.sample(x.shape[0], cond=cond, generator=generator, latents=lat, fast=fast)
