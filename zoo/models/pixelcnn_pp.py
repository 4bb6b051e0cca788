"""PixelCNN++ (Salimans, Karpathy, Chen & Kingma 2017).

Two causal streams as in the Gated PixelCNN: ``u`` sees the rows above, ``ul`` the rows
above and the pixels to the left. Three resolution stages (down-sampling by strided shifted
convolutions, up-sampling by shifted transposed convolutions) with shortcut connections from
every up-pass block to its mirror in the down pass; gated ResNet blocks on concatenated ELUs,
dropout, and the discretised logistic mixture head with channel-coupled means.

Images of any size: the network pads the bottom and right of the image to a multiple of
``2 ** (stages - 1)`` with a constant and crops the output. Padding lies after every real
pixel of its row or below all of them, and is data-independent, so the model stays an exact
autoregressive distribution over the real pixels.

Differences from the paper, on purpose: no weight normalisation or data-dependent init (plain
convolutions train fine at our scale); the sampler couples colours on the drawn levels (the
paper's code used the continuous draw), so samples follow exactly the modelled distribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.spec import DataSpec
from zoo.models.pixel_model import AutoregressiveImageModel, Stepper


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """ELU of ``[x, -x]``: both signs survive the non-linearity (doubles the maps)."""
    return F.elu(torch.cat([x, -x], dim=1))


def down_shift(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 0))[..., :-1]


class DownShiftedConv(nn.Conv2d):
    """Output (r, j) sees rows r-kh+1..r, columns j-kw//2..j+kw//2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        return super().forward(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)))


class DownRightShiftedConv(nn.Conv2d):
    """Output (r, j) sees rows r-kh+1..r, columns j-kw+1..j."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        return super().forward(F.pad(x, (kw - 1, 0, kh - 1, 0)))


class DownShiftedDeconv(nn.ConvTranspose2d):
    """Stride-2 up-sampling whose output row r sees input rows <= r // 2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, (2, 3), stride=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y[:, :, : y.shape[2] - 1, 1 : y.shape[3] - 1]


class DownRightShiftedDeconv(nn.ConvTranspose2d):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, (2, 2), stride=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y[:, :, : y.shape[2] - 1, : y.shape[3] - 1]


class GatedResnet(nn.Module):
    """x + gate(conv(concat_elu(conv(concat_elu(x)) + nin(concat_elu(aux)))))."""

    def __init__(
        self, maps: int, conv: type[nn.Conv2d], kernel, aux: int, dropout: float, n_classes: int
    ) -> None:
        super().__init__()
        self.conv_in = conv(2 * maps, maps, kernel)
        self.nin_aux = nn.Conv2d(2 * aux * maps, maps, 1) if aux else None
        self.dropout = nn.Dropout(dropout)
        self.conv_out = conv(2 * maps, 2 * maps, kernel)
        self.class_bias = nn.Embedding(n_classes, 2 * maps) if n_classes else None

    def forward(
        self, x: torch.Tensor, aux: torch.Tensor | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        c = self.conv_in(concat_elu(x))
        if self.nin_aux is not None:
            c = c + self.nin_aux(concat_elu(aux))
        c = self.conv_out(self.dropout(concat_elu(c)))
        if self.class_bias is not None and y is not None:
            c = c + self.class_bias(y)[:, :, None, None]
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


class PixelCNNPlusPlus(AutoregressiveImageModel):
    """PixelCNN++ (Salimans et al. 2017).

    Hyper-parameters:
        filters: maps of both streams (paper: 160).
        resnets: gated ResNet blocks per stage (paper: 5).
        stages: resolutions (paper: 3, i.e. two 2x down-samplings).
        dropout: dropout rate inside the blocks (paper: 0.5).
        mixtures: logistic components (paper: 10).
        head: "logistic_mixture" (default); for one-channel data also "categorical" or
            "bernoulli" (the network sees whole pixels, so it cannot order colours).
    """

    family = "pixelcnn"
    default_head = "logistic_mixture"
    cached_single_thread = False  # its cached step is still a (cropped) full network

    def __init__(
        self,
        spec: DataSpec,
        *,
        filters: int = 160,
        resnets: int = 5,
        stages: int = 3,
        dropout: float = 0.5,
        mixtures: int = 10,
        **common,
    ) -> None:
        super().__init__(spec, mixtures=mixtures, **common)
        if self.head.grouped and self.C > 1:
            raise ValueError(
                f"PixelCNN++ predicts whole pixels; for {self.C}-channel images use "
                f"head='logistic_mixture', got head={self.head.name!r}"
            )
        if filters < 1 or resnets < 1 or stages < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError(
                "filters, resnets, stages must be >= 1 and 0 <= dropout < 1, got "
                f"{filters}, {resnets}, {stages}, {dropout}"
            )
        self.stages = stages
        nf, ncls, cin = filters, self.n_classes, self.in_maps + 1  # + a channel of ones

        def block(conv, kernel, aux):
            return GatedResnet(nf, conv, kernel, aux, dropout, ncls)

        u_block = (DownShiftedConv, (2, 3))
        ul_block = (DownRightShiftedConv, (2, 2))
        self.u_init = DownShiftedConv(cin, nf, (2, 3))
        self.ul_init_up = DownShiftedConv(cin, nf, (1, 3))
        self.ul_init_left = DownRightShiftedConv(cin, nf, (2, 1))
        self.up_u = nn.ModuleList(
            nn.ModuleList(block(*u_block, 0) for _ in range(resnets)) for _ in range(stages)
        )
        self.up_ul = nn.ModuleList(
            nn.ModuleList(block(*ul_block, 1) for _ in range(resnets)) for _ in range(stages)
        )
        n_down = [resnets] + [resnets + 1] * (stages - 1)
        self.down_u = nn.ModuleList(
            nn.ModuleList(block(*u_block, 1) for _ in range(n)) for n in n_down
        )
        self.down_ul = nn.ModuleList(
            nn.ModuleList(block(*ul_block, 2) for _ in range(n)) for n in n_down
        )
        self.downsize_u = nn.ModuleList(
            DownShiftedConv(nf, nf, (2, 3), stride=2) for _ in range(stages - 1)
        )
        self.downsize_ul = nn.ModuleList(
            DownRightShiftedConv(nf, nf, (2, 2), stride=2) for _ in range(stages - 1)
        )
        self.upsize_u = nn.ModuleList(DownShiftedDeconv(nf, nf) for _ in range(stages - 1))
        self.upsize_ul = nn.ModuleList(DownRightShiftedDeconv(nf, nf) for _ in range(stages - 1))
        self.output = nn.Conv2d(nf, self.head.num_params, 1)

    def net(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        # h: [B, in_maps, H, W] -> [B, P, H, W]; pad to a multiple of 2^(stages-1), then crop
        H, W = h.shape[2:]
        m = 2 ** (self.stages - 1)
        ones = torch.ones_like(h[:, :1])
        x = torch.cat([h, ones], dim=1)
        x = F.pad(x, (0, -W % m, 0, -H % m))  # constant zeros after the image: harmless

        u_list = [down_shift(self.u_init(x))]
        ul_list = [down_shift(self.ul_init_up(x)) + right_shift(self.ul_init_left(x))]
        for s in range(self.stages):
            for bu, bul in zip(self.up_u[s], self.up_ul[s]):
                u_list.append(bu(u_list[-1], y=y))
                ul_list.append(bul(ul_list[-1], u_list[-1], y=y))
            if s < self.stages - 1:
                u_list.append(self.downsize_u[s](u_list[-1]))
                ul_list.append(self.downsize_ul[s](ul_list[-1]))

        u, ul = u_list.pop(), ul_list.pop()
        for s in range(self.stages):
            for bu, bul in zip(self.down_u[s], self.down_ul[s]):
                u = bu(u, u_list.pop(), y=y)
                ul = bul(ul, torch.cat([u, ul_list.pop()], dim=1), y=y)
            if s < self.stages - 1:
                u, ul = self.upsize_u[s](u), self.upsize_ul[s](ul)
        return self.output(F.elu(ul))[:, :, :H, :W]

    def _stepper(self, n: int, y: torch.Tensor | None) -> Stepper:
        """Run the network on the rows up to the current one only: outputs at row r depend
        on no later row, so cropping them away is exact (about 2x fewer operations)."""

        def step(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
            return self.net(self.inputs(x[:, :, : r + 1]), y)[:, :, r, j]

        return step
