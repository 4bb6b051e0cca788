"""Causal dilated 1-D convolutions (WaveNet, van den Oord et al. 2016).

A causal convolution of kernel ``k`` and dilation ``d`` pads ``(k - 1) * d`` zeros on the left
only, so output ``t`` reads inputs ``t, t - d, ..., t - (k - 1) d``: never the future. Tap ``j``
of the kernel (``weight[..., j]``) reads input ``t - (k - 1 - j) d``; the last tap is the
present. A stack of such layers sees ``(k - 1) * sum(dilations) + 1`` inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def wavenet_dilations(layers: int, stacks: int) -> list[int]:
    """``1, 2, 4, ..., 2**(layers - 1)`` repeated ``stacks`` times."""
    return [2**i for i in range(layers)] * stacks


def receptive_field(kernel_size: int, dilations: list[int] | tuple[int, ...]) -> int:
    """Number of inputs one output of a causal stack depends on: ``(k-1) * sum(d) + 1``."""
    return (kernel_size - 1) * sum(dilations) + 1


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` padded on the left only: ``[B, C_in, T] -> [B, C_out, T]``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C_in, T]
        return super().forward(F.pad(x, (self.left_pad, 0)))
