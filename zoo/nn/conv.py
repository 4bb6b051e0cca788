"""Convolutional building blocks shared by the image and audio autoencoders (VAE, VQ-VAE).

``dims`` picks the geometry: 2 for images ``[B, C, H, W]``, 1 for audio ``[B, C, T]``.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_nd(dims: int) -> type[nn.Module]:
    """``nn.Conv2d`` for images, ``nn.Conv1d`` for audio."""
    return nn.Conv2d if dims == 2 else nn.Conv1d


def conv_transpose_nd(dims: int) -> type[nn.Module]:
    """``nn.ConvTranspose2d`` for images, ``nn.ConvTranspose1d`` for audio."""
    return nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose1d


class ResidualBlock(nn.Module):
    """``x + conv1x1(relu(conv3x3(relu(x))))`` (the VQ-VAE paper's residual block)."""

    def __init__(self, dims: int, channels: int, hidden: int) -> None:
        super().__init__()
        conv = conv_nd(dims)
        self.net = nn.Sequential(
            nn.ReLU(),
            conv(channels, hidden, 3, padding=1),
            nn.ReLU(),
            conv(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def residual_stack(dims: int, channels: int, hidden: int, blocks: int) -> nn.Sequential:
    """``blocks`` residual blocks followed by a ReLU."""
    return nn.Sequential(*(ResidualBlock(dims, channels, hidden) for _ in range(blocks)), nn.ReLU())
