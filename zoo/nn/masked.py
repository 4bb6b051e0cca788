"""Masked 2-D convolutions for autoregressive image models (van den Oord et al. 2016).

Pixels are generated in raster order; within a pixel, colour channels in the order
R -> G -> B. Feature maps are split into ``data_channels`` contiguous groups, group ``g``
belonging to colour ``g``. At the kernel centre, an output in group ``j`` may see input group
``i`` when ``i < j`` (mask "A", the first layer: a sub-pixel never sees itself) or ``i <= j``
(mask "B", later layers). Positions right of the centre in its row, and all rows below, are
always masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channel_groups(n: int, data_channels: int) -> torch.Tensor:
    """The colour group of each of ``n`` feature maps: contiguous blocks of n / C maps."""
    if data_channels > 1 and n % data_channels:
        raise ValueError(f"feature maps ({n}) must split evenly into {data_channels} colour groups")
    return torch.arange(n) * data_channels // n


def raster_mask(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    mask_type: str,
    data_channels: int = 1,
) -> torch.Tensor:
    """The ``[out, in, k, k]`` 0/1 mask of a PixelCNN convolution."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size % 2 == 0:
        raise ValueError(f"masked convolutions need an odd kernel size, got {kernel_size}")
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(out_channels, in_channels, k, k)
    mask[:, :, :c, :] = 1  # rows above
    mask[:, :, c, :c] = 1  # left in the same row
    g_out = channel_groups(out_channels, data_channels)[:, None]
    g_in = channel_groups(in_channels, data_channels)[None, :]
    centre = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    mask[:, :, c, c] = centre.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose kernel is multiplied by a raster-order mask.

    ``forward`` skips the rows of the kernel that the mask zeroes: a k x k kernel (c = k // 2)
    is convolved as its top c + 1 rows only (the rows above and the current row), so each
    output row r reads input rows r - c .. r. That is (c + 1) / k of the multiply-adds (2/3 at
    k = 3, 4/7 at k = 7), the same function of the same parameters, and only those c + 1 rows
    are multiplied by the mask. (Splitting further, into a c x k convolution over the rows
    above plus a 1 x (c + 1) one along the current row, reaches about half the multiply-adds
    but ran about 2x slower on this CPU: two oneDNN calls, two pads and a sum.)
    ``forward_masked`` is the plain form, the whole kernel times the mask, kept for the tests
    that pin the two together and for the benchmark. A 1x1 kernel whose mask is all ones (mask
    B on one colour channel) is a plain convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        mask_type: str = "B",
        data_channels: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias
        )
        self.mask_type = mask_type
        self.register_buffer(
            "mask",
            raster_mask(in_channels, out_channels, kernel_size, mask_type, data_channels),
            persistent=False,
        )

        self._plain = kernel_size == 1 and bool(self.mask.all())

    def forward_masked(self, x: torch.Tensor) -> torch.Tensor:
        """The plain form: the whole k x k kernel times its mask (the slow path)."""
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in, H, W] -> [B, out, H, W]``, without the kernel rows below the centre."""
        if self._plain:
            return F.conv2d(x, self.weight, self.bias)
        c = self.kernel_size[0] // 2
        if c == 0:
            return F.conv2d(x, self.weight * self.mask, self.bias)
        top = self.weight[:, :, : c + 1] * self.mask[:, :, : c + 1]
        # padding (c, c) pads c rows above and below; the last c output rows, which would read
        # the rows below, are cropped (c / H of the work, cheaper here than a padded copy)
        return F.conv2d(x, top, self.bias, padding=(c, c))[..., : x.shape[-2], :]


# ---------------------------------------------------------------------- one pixel at a time
def masked_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The effective kernel of a (masked) convolution."""
    mask = getattr(conv, "mask", None)
    return conv.weight if mask is None else conv.weight * mask


def pointwise_matrix(conv: nn.Conv2d) -> torch.Tensor:
    """A 1x1 (masked) convolution as an ``[in, out]`` matrix, for ``torch.addmm(bias, x, m)``."""
    return masked_weight(conv)[:, :, 0, 0].t().contiguous()


class PixelCache:
    """A k x k masked convolution evaluated at one pixel at a time, for cached sampling.

    The layer's inputs are kept in a channels-last cache ``[n, H + p, W + 2p, in]`` (p = k//2:
    zero padding above, left and right), so the part of the window in one row is a view, not
    a copy: the output at (r, j) is one product per row above plus one for the current row's
    left part and centre (the mask zeroes what must not be seen). ``bias`` may be per example
    (``[n, out]``, e.g. a class bias).
    """

    def __init__(
        self, conv: nn.Conv2d, n: int, H: int, W: int, bias: torch.Tensor | None = None
    ) -> None:
        w = masked_weight(conv)  # [out, in, k, k]
        self.k, self.p = conv.kernel_size[0], conv.kernel_size[0] // 2
        rows = [w[:, :, a].permute(2, 1, 0).flatten(0, 1).contiguous() for a in range(self.p + 1)]
        self.above = rows[: self.p]  # [k * in, out] per row above
        self.current = rows[self.p][: (self.p + 1) * w.shape[1]]  # left part and centre
        self.bias = conv.bias if bias is None else bias
        if self.bias is None:
            self.bias = torch.zeros(w.shape[0], device=w.device, dtype=w.dtype)
        self.inputs = torch.zeros(n, H + self.p, W + 2 * self.p, w.shape[1], device=w.device)

    def write(self, r: int, j: int, values: torch.Tensor) -> None:
        """Store the layer's input ``[n, in]`` at pixel (r, j)."""
        self.inputs[:, r + self.p, j + self.p] = values

    def __call__(self, r: int, j: int) -> torch.Tensor:
        """The convolution's output ``[n, out]`` at pixel (r, j)."""
        buf, p = self.inputs, self.p
        out = torch.addmm(self.bias, buf[:, r + p, j : j + p + 1].flatten(1), self.current)
        for a, m in enumerate(self.above):
            out = out.addmm_(buf[:, r + a, j : j + self.k].flatten(1), m)
        return out
