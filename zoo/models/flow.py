"""A RealNVP-style multiscale normalising flow on dequantised images (Dinh et al. 2017;
Glow's actnorm and 1x1 convolutions, Kingma & Dhariwal 2018; Flow++'s variational
dequantisation, Ho et al. 2019).

**The density.** The flow is a density on the continuous cube ``[0, K)^D`` (K = levels):
``t = x + u`` with ``x: [B, C, H, W]`` int64 in ``[0, K)`` and ``u`` in ``(0, 1)^D``. It is
modelled on ``[0, K)`` directly, with no rescaling to the unit cube:
``z0 = log t - log(K - t)`` (a logit of ``t / K``, whose log-Jacobian
``log K - log t - log(K - t)`` per value is counted), then the coupling layers to a standard
logistic base (NICE's; on a Gaussian the untrained flow would not be uniform). An untrained
flow (couplings start as the identity, 1x1 convolutions as a permutation) is therefore
exactly the uniform density ``K^-D``, and an untrained variational dequantiser (logistic
noise through a sigmoid) exactly ``U(0, 1)``. ``p(t)`` integrates to 1 over ``[0, K)^D``
exactly, and the ``- log K`` per dimension that a model on ``[0, 1)`` pays for rescaling to
the unit cube is already inside the log-Jacobian (the bits/dim include it).

**The bound.** ``P(x) = int_{[0,1)^D} p(x + u) du`` is a distribution over the discrete
images (the cubes tile ``[0, K)^D``: ``sum_x P(x) = 1``). ``log_prob`` returns a lower bound
on ``log P(x)`` (``estimate = "elbo"``: dequantisation is a latent variable ``u``):

- ``dequantization="uniform"``: ``E_u[log p(x + u)]``, ``u ~ U(0, 1)^D`` (Jensen);
- ``dequantization="variational"`` (Flow++): ``E_q[log p(x + u) - log q(u | x)]`` with
  ``q(u | x)`` a small conditional flow (a diagonal Gaussian of ``x``, conditional couplings,
  a sigmoid into ``(0, 1)``); uniform is the special case ``q = 1``.

With ``k > 1`` the importance-weighted bound over k draws,
``logsumexp_i(log p(x + u_i) - log q(u_i | x)) - log k`` (tighter in expectation as k grows,
still <= log P(x)). The draws come from torch's global generator, so the evaluator's
seeding (``torch.manual_seed(seed)`` in a forked RNG) makes the figures reproducible, as it
does for the VAE's latents. Uniform draws are the midpoints of a 2**-23 grid (exact in
float32, never 0 or 1, so the logit stays finite; the grid's midpoint rule moves
``E_u log p`` by far less than float32 resolution).

**Architecture** (RealNVP's multiscale): at each scale ``steps`` checkerboard coupling steps,
a squeeze (2x2 -> 4 channels), ``steps`` channel coupling steps, then half the channels are
factored out to the logistic prior; the last scale has ``steps`` checkerboard steps only. Each
step is actnorm (data-dependent initialisation), optionally an invertible 1x1 convolution
(``invconv``), and an affine coupling. Scales stop early where H or W is odd (no squeeze
there), so any image shape works; ``scales=1`` is a single-scale flow.

**Sampling.** ``z`` standard logistic through the inverse flow gives ``z0``, then
``t = K sigmoid(z0)`` lies in ``(0, K)`` by construction and the sample is ``floor(t)``.
The one clamp (to K - 1) catches float32 rounding of ``sigmoid`` to exactly 1.0; it moves
no probability mass of the density.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_choice, check_ints
from zoo.nn.coupling import (
    FlowSequence,
    channel_mask,
    checkerboard_mask,
    flow_step,
    squeeze,
    unsqueeze,
)


def _logistic_log_prob(z: torch.Tensor) -> torch.Tensor:
    """``[B, ...] -> [B]``: sum of standard-logistic log-densities
    ``log sigmoid(z) + log sigmoid(-z)``."""
    return (nn.functional.logsigmoid(z) + nn.functional.logsigmoid(-z)).flatten(1).sum(1)


GRID_BITS = 23  # uniform draws on the midpoints of a 2**-23 grid: exact in float32


def _uniform_open(
    shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u, 1 - u)``, both exact, with ``u`` uniform on the midpoints ``(r + 1/2) 2**-23``
    of a 2**-23 grid in the open ``(0, 1)`` (never 0 or 1, so logits stay finite; a float32
    ``torch.rand() + eps`` can round to 1.0). Dtype and device of ``like``."""
    r = torch.randint(0, 2**GRID_BITS, shape, device=like.device, generator=generator)
    r = r.to(like.dtype)
    scale = 2.0**-GRID_BITS
    return (r + 0.5) * scale, (2**GRID_BITS - 0.5 - r) * scale


def _logistic_sample(
    shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Standard-logistic draws ``log u - log(1 - u)``, ``u`` from :func:`_uniform_open`."""
    u, one_minus_u = _uniform_open(shape, like, generator)
    return torch.log(u) - torch.log(one_minus_u)


class _Scale(nn.Module):
    """One scale: checkerboard steps, then (unless last) squeeze, channel steps and a split."""

    def __init__(
        self,
        c: int,
        h: int,
        w: int,
        steps: int,
        hidden: int,
        blocks: int,
        invconv: bool,
        last: bool,
        cond_channels: int = 0,
    ) -> None:
        super().__init__()
        self.last = last
        layers: list[nn.Module] = []
        for i in range(steps):
            mask = checkerboard_mask(c, h, w, i % 2)
            layers += flow_step(
                mask, hidden, invconv=invconv, cond_channels=cond_channels, blocks=blocks
            )
        self.checker = FlowSequence(layers)
        self.channel: FlowSequence | None = None
        self.out_channels = c  # channels passed on to the next scale
        self.factored = 0  # channels factored out here
        if not last:
            c4 = 4 * c
            layers = []
            for i in range(steps):
                layers += flow_step(
                    channel_mask(c4, h // 2, w // 2, i % 2),
                    hidden,
                    invconv=invconv,
                    blocks=blocks,
                )
            self.channel = FlowSequence(layers)
            self.factored = c4 // 2
            self.out_channels = c4 - self.factored

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``x -> (passed on, factored out or None, logdet [B])``."""
        x, logdet = self.checker(x, cond)
        if self.last:
            return x, None, logdet
        x, ld = self.channel(squeeze(x))
        return x[:, self.factored :], x[:, : self.factored], logdet + ld

    def inverse(self, x: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        if not self.last:
            x = unsqueeze(self.channel.inverse(torch.cat([out, x], dim=1)))
        return self.checker.inverse(x)


class RealNVPFlow(nn.Module):
    """The multiscale flow ``z0: [B, C, H, W] -> (latents, logdet [B])`` and its inverse."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        scales: int,
        steps: int,
        hidden: int,
        blocks: int,
        invconv: bool,
    ) -> None:
        super().__init__()
        c, h, w = shape
        mods: list[_Scale] = []
        self.latent_shapes: list[tuple[int, int, int]] = []
        for s in range(scales):
            last = s == scales - 1 or h % 2 or w % 2
            mods.append(_Scale(c, h, w, steps, hidden, blocks, invconv, bool(last)))
            if last:
                self.latent_shapes.append((c, h, w))
                break
            h, w = h // 2, w // 2
            self.latent_shapes.append((mods[-1].factored, h, w))
            c = mods[-1].out_channels
        self.scales = nn.ModuleList(mods)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        outs: list[torch.Tensor] = []
        for scale in self.scales:
            x, out, ld = scale(x)
            logdet = logdet + ld
            outs.append(x if out is None else out)
        return outs, logdet

    def inverse(self, outs: list[torch.Tensor]) -> torch.Tensor:
        x = outs[-1]
        for scale, out in zip(reversed(self.scales), reversed(outs), strict=True):
            x = scale.inverse(x, None if scale.last else out)
        return x


class VariationalDequantizer(nn.Module):
    """Flow++'s ``q(u | x)``: ``eps`` standard logistic, conditional checkerboard couplings on
    features of ``x``, then ``u = sigmoid(h)``. Returns ``u``, ``1 - u`` (computed as
    ``sigmoid(-h)``, exact near 1) and ``log q(u | x)``: ``[B]``."""

    def __init__(self, shape: tuple[int, int, int], levels: int, steps: int, hidden: int):
        super().__init__()
        c, h, w = shape
        self.levels = levels
        self.features = nn.Sequential(
            nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1)
        )
        layers: list[nn.Module] = []
        for i in range(steps):
            layers += flow_step(
                checkerboard_mask(c, h, w, i % 2), hidden, invconv=False, cond_channels=hidden
            )
        self.flow = FlowSequence(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = self.features[0].weight
        feats = self.features(x.to(w.dtype) / (self.levels - 1) - 0.5)
        eps = _logistic_sample(tuple(x.shape), w)
        hq, logdet = self.flow(eps, feats)
        log_sig = nn.functional.logsigmoid(hq) + nn.functional.logsigmoid(-hq)
        log_q = _logistic_log_prob(eps) - logdet - log_sig.flatten(1).sum(1)
        return torch.sigmoid(hq), torch.sigmoid(-hq), log_q


class Flow(LikelihoodModel):
    """RealNVP/Glow-style flow on dequantised images; see the module docstring for the bound.

    Hyper-parameters: ``scales`` (at most; fewer where H or W turns odd), ``steps`` (coupling
    steps per half scale), ``hidden`` (channels of each coupling network), ``blocks`` (1x1
    hidden layers in it), ``invconv`` (Glow's 1x1 convolutions), ``dequantization``
    (``uniform`` | ``variational``), ``dq_steps`` and ``dq_hidden`` (the dequantiser's size).
    """

    family = "flow"
    estimate = "elbo"
    modalities = ("image",)

    def __init__(
        self,
        spec: DataSpec,
        *,
        scales: int = 2,
        steps: int = 4,
        hidden: int = 64,
        blocks: int = 1,
        invconv: bool = False,
        dequantization: str = "uniform",
        dq_steps: int = 2,
        dq_hidden: int = 32,
    ) -> None:
        super().__init__(spec)
        owner = type(self).__name__
        check_ints(
            owner, scales=scales, steps=steps, hidden=hidden, dq_steps=dq_steps, dq_hidden=dq_hidden
        )
        check_ints(owner, 0, blocks=blocks)
        check_choice(owner, "dequantization", dequantization, ("uniform", "variational"))
        shape = tuple(spec.shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise ValueError(f"{owner} models [C, H, W] images; got shape {spec.shape}")
        self.shape3: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.flow = RealNVPFlow(
            self.shape3,
            scales=scales,
            steps=steps,
            hidden=hidden,
            blocks=blocks,
            invconv=invconv,
        )
        self.dequantizer = (
            VariationalDequantizer(self.shape3, spec.levels, dq_steps, dq_hidden)
            if dequantization == "variational"
            else None
        )

    # ------------------------------------------------------------------ density
    def density_log_prob(
        self, t: torch.Tensor, one_minus: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log p(t)``, ``[B]`` nats, of ``t: [B, C, H, W]`` float in ``(0, K)``: the
        continuous density on ``[0, K)^D``. ``one_minus``: ``K - t`` if the caller has it more
        exactly than the subtraction."""
        K = float(self.spec.levels)
        kt = K - t if one_minus is None else one_minus
        log_t, log_kt = torch.log(t), torch.log(kt)
        z0 = log_t - log_kt
        logdet = (math.log(K) - log_t - log_kt).flatten(1).sum(1)
        outs, ld = self.flow(z0)
        prior = sum(_logistic_log_prob(o) for o in outs)
        return prior + logdet + ld

    def _dequantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x: [B, C, H, W]`` int -> ``(t = x + u, K - t, log q(u | x) [B])``."""
        xf = x.to(self._dtype)
        top = (self.spec.levels - 1) - xf
        if self.dequantizer is None:
            u, one_minus_u = _uniform_open(tuple(x.shape), xf)
            return xf + u, top + one_minus_u, xf.new_zeros(x.shape[0])
        u, one_minus_u, log_q = self.dequantizer(x)
        return xf + u, top + one_minus_u, log_q

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.shape3)
        b = x.shape[0]
        xs = x.repeat(k, 1, 1, 1) if k > 1 else x  # [k * B, C, H, W]
        t, kt, log_q = self._dequantize(xs)
        lw = self.density_log_prob(t, kt) - log_q  # [k * B]
        if k == 1:
            return lw
        return torch.logsumexp(lw.reshape(k, b), 0) - math.log(k)

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        nll = -self._log_prob(x, cond=cond, k=1).mean()
        return nll, {"nll": nll.detach()}

    # ------------------------------------------------------------------ sampling
    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        like = next(self.parameters())
        outs = [
            temperature * _logistic_sample((n, *s), like, generator)
            for s in self.flow.latent_shapes
        ]
        z0 = self.flow.inverse(outs)
        t = self.spec.levels * torch.sigmoid(z0)  # in (0, K) by construction
        x = t.floor().long().clamp_(0, self.spec.levels - 1)  # clamp: float rounding only
        return x.reshape(n, *self.spec.shape)
