"""Invertible layers of the normalising flows (RealNVP, Dinh et al. 2017; Glow, Kingma &
Dhariwal 2018).

Every layer maps ``x: [B, C, H, W]`` to ``(z, logdet)`` with ``logdet: [B]`` the log of the
absolute Jacobian determinant ``log |det dz/dx|`` per example, and has ``inverse(z) -> x``.
Layers that take a conditioning tensor (the variational dequantiser of Flow++) accept
``cond: [B, Cc, H, W]`` in both directions.
"""

from __future__ import annotations

import torch
from torch import nn


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W] -> [B, 4C, H/2, W/2]``: each 2x2 block of a channel into 4 channels
    (volume preserving: log-det 0). H and W must be even."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squeeze`: ``[B, 4C, H, W] -> [B, C, 2H, 2W]``."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, h * 2, w * 2)


def checkerboard_mask(c: int, h: int, w: int, parity: int) -> torch.Tensor:
    """``[1, C, H, W]`` float mask, 1 where ``(i + j) % 2 == parity`` (the conditioning half)."""
    ij = torch.arange(h)[:, None] + torch.arange(w)[None, :]
    return ((ij % 2) == parity).float().expand(c, h, w).unsqueeze(0).clone()


def channel_mask(c: int, h: int, w: int, parity: int) -> torch.Tensor:
    """``[1, C, H, W]`` mask, 1 on the first ``C // 2`` channels (parity 0) or the others."""
    first = (torch.arange(c) < c // 2).float()
    m = first if parity == 0 else 1.0 - first
    return m[None, :, None, None].expand(1, c, h, w).clone()


class ActNorm(nn.Module):
    """Per-channel affine ``z = (x + bias) * exp(log_scale)`` (Glow), initialised from the
    first training batch so that ``z`` has zero mean and unit variance per channel.

    The initialisation happens on the first ``forward`` in training mode; before it the layer
    is the identity (an untrained model is still a valid density). log-det ``H W sum(log_scale)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        n = x.shape[0] * x.shape[2] * x.shape[3]
        std = x.std(dim=(0, 2, 3), keepdim=True) if n > 1 else None
        self.bias.copy_(-mean)
        if std is not None:
            self.log_scale.copy_(-torch.log(std.clamp_min(1e-3)))
        self.initialized.fill_(True)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self._init(x)
        z = (x + self.bias) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return z, logdet.expand(x.shape[0])

    def inverse(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return z * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(nn.Module):
    """Glow's invertible 1x1 convolution ``z = W x`` over channels; log-det
    ``H W log |det W|``. W starts as the channel reversal (RealNVP's fixed permutation;
    Glow starts from a random rotation), which keeps a factorised base density intact."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(channels).flip(0))

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.einsum("oc,bchw->bohw", self.weight, x)
        logdet = torch.linalg.slogdet(self.weight)[1] * x.shape[2] * x.shape[3]
        return z, logdet.expand(x.shape[0])

    def inverse(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return torch.einsum("oc,bchw->bohw", torch.linalg.inv(self.weight), z)


class AffineCoupling(nn.Module):
    """RealNVP's affine coupling: with a fixed binary ``mask`` (1: the conditioning half),

        z = m * x + (1 - m) * (x * exp(s) + t),    (s, t) = NN(m * x [, cond]),

    ``s = scale * tanh(raw)`` (bounded, as in RealNVP/Glow), log-det ``sum((1 - m) * s)``.
    The network sees the masked input and the mask itself (so it knows which half it is
    given), plus ``cond`` channels if ``cond_channels > 0``; its last convolution starts at
    zero, so the layer starts as the identity.
    """

    def __init__(
        self, mask: torch.Tensor, hidden: int, *, cond_channels: int = 0, blocks: int = 1
    ) -> None:
        super().__init__()
        c = mask.shape[1]
        self.register_buffer("mask", mask)
        layers: list[nn.Module] = [nn.Conv2d(2 * c + cond_channels, hidden, 3, padding=1)]
        for _ in range(blocks):
            layers += [nn.ReLU(), nn.Conv2d(hidden, hidden, 1)]
        layers += [nn.ReLU(), nn.Conv2d(hidden, 2 * c, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(1, c, 1, 1))

    def _st(self, xa: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        m = self.mask.expand(xa.shape[0], -1, -1, -1)
        h = torch.cat([xa, m] + ([cond] if cond is not None else []), dim=1)
        raw_s, t = self.net(h).chunk(2, dim=1)
        s = self.scale * torch.tanh(raw_s) * (1 - self.mask)
        return s, t * (1 - self.mask)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._st(x * self.mask, cond)
        z = x * torch.exp(s) + t  # s = t = 0 on the conditioning half
        return z, s.flatten(1).sum(1)

    def inverse(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        s, t = self._st(z * self.mask, cond)
        return (z - t) * torch.exp(-s)


class FlowSequence(nn.Module):
    """Layers applied in order; log-dets add up."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x, cond)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z, cond)
        return z


def flow_step(
    mask: torch.Tensor, hidden: int, *, invconv: bool, cond_channels: int = 0, blocks: int = 1
) -> list[nn.Module]:
    """One step: actnorm, (Glow's 1x1 convolution), affine coupling."""
    c = mask.shape[1]
    step: list[nn.Module] = [ActNorm(c)]
    if invconv:
        step.append(InvConv1x1(c))
    step.append(AffineCoupling(mask, hidden, cond_channels=cond_channels, blocks=blocks))
    return step
