"""PixelCNN and Gated PixelCNN (van den Oord et al. 2016a, 2016b).

- :class:`PixelCNN`: a 7x7 mask-A convolution, residual blocks (1x1 -> masked 3x3 -> 1x1,
  ReLU, mask B), and a 1x1 output stack. Its receptive field has the blind spot of the paper.
- :class:`GatedPixelCNN`: a vertical stack (all rows above, shifted down one row before it
  reaches the current row) and a horizontal stack (the current row, left of the pixel), joined
  by gated tanh x sigmoid units: no blind spot. Optional class conditioning.

Both sample in two ways: ``fast=False`` runs the whole network once per drawn value;
``fast=True`` (default) keeps per-layer caches and computes every layer at the one new
pixel only (the vertical stack once per row), which draws the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.core.spec import DataSpec
from zoo.core.validation import check_int, keyword_group
from zoo.errors import ZooInputError
from zoo.models.pixel_model import AutoregressiveImageModel, PixelWidths, Stepper
from zoo.nn.masked import (
    MaskedConv2d,
    PixelCache,
    channel_groups,
    masked_weight,
    pointwise_matrix,
)


def gate(t: torch.Tensor, groups: int) -> torch.Tensor:
    """tanh(a) * sigmoid(b) with maps laid out ``(g two m)``: each colour group keeps its own
    halves, so the colour masks of the convolution that made ``t`` stay valid."""
    a, b = rearrange(t, "b (g two m) ... -> two b (g m) ...", g=groups, two=2)
    return torch.tanh(a) * torch.sigmoid(b)


# ---------------------------------------------------------------------- PixelCNN
class ResidualBlock(nn.Module):
    """ReLU, 1x1 (2h -> h), ReLU, masked 3x3 (h -> h), ReLU, 1x1 (h -> 2h), plus the input."""

    def __init__(self, h: int, groups: int, kernel: int = 3) -> None:
        super().__init__()
        self.inp = MaskedConv2d(2 * h, h, 1, "B", groups)
        self.conv = MaskedConv2d(h, h, kernel, "B", groups)
        self.out = MaskedConv2d(h, 2 * h, 1, "B", groups)

    def forward(self, z: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        a = self.conv(F.relu(self.inp(F.relu(z))))
        if bias is not None:
            a = a + bias[:, :, None, None]
        return z + self.out(F.relu(a))

    def init_state(
        self, n: int, H: int, W: int, bias: torch.Tensor | None = None
    ) -> ResidualBlockState:
        """The block's cache for cached sampling of ``n`` images; ``bias``: ``[n, h]``."""
        conv_bias = None if bias is None else self.conv.bias + bias
        return ResidualBlockState(
            pointwise_matrix(self.inp),
            self.inp.bias,
            PixelCache(self.conv, n, H, W, conv_bias),
            pointwise_matrix(self.out),
            self.out.bias,
        )

    def step(self, z: torch.Tensor, r: int, j: int, state: ResidualBlockState) -> torch.Tensor:
        """The block at pixel (r, j): ``z`` ``[n, 2h]`` -> ``[n, 2h]``."""
        s = state
        s.conv.write(r, j, torch.addmm(s.b_in, z.relu(), s.w_in).relu_())
        return torch.addmm(s.b_out, s.conv(r, j).relu_(), s.w_out).add_(z)


@dataclass(slots=True)
class ResidualBlockState:
    """A residual block's cache: its 1x1s as matrices, its masked k x k's input cache."""

    w_in: torch.Tensor  # [2h, h]
    b_in: torch.Tensor  # [h]
    conv: PixelCache  # the masked k x k convolution's inputs (and class bias)
    w_out: torch.Tensor  # [h, 2h]
    b_out: torch.Tensor  # [2h]


class PixelCNN(AutoregressiveImageModel):
    """PixelCNN with residual blocks (van den Oord et al. 2016a, Table 1 / Fig. 5).

    Hyper-parameters:
        channels: h; the residual stream has 2h maps.
        blocks: residual blocks after the first layer.
        kernel: size of the first (mask A) convolution.
        head_channels: maps of the hidden 1x1 output layer (default 32, rounded up to a
            multiple of the colours).
        (head, mixtures, embed, conditional: see AutoregressiveImageModel.)
    """

    family = "pixelcnn"
    compile_pays = True  # benchmarks/results/pixelcnn_throughput.json: checks.small.compile
    compile_payback_steps = 1500  # the same file: compiling repays its cost after ~1,446 steps

    @keyword_group("widths", PixelWidths(channels=16))
    def __init__(self, spec: DataSpec, *, widths: PixelWidths, blocks: int = 15, **common) -> None:
        super().__init__(spec, **common)
        head_channels = self.check_widths(widths, blocks=blocks)
        g, h = self.groups, widths.channels
        self.stem = MaskedConv2d(self.in_maps, 2 * h, widths.kernel, "A", g)
        self.blocks = nn.ModuleList(ResidualBlock(h, g) for _ in range(blocks))
        self.hidden = MaskedConv2d(2 * h, head_channels, 1, "B", g)
        self.output = MaskedConv2d(head_channels, self.head.num_params, 1, "B", g)
        self.class_bias = nn.Embedding(self.n_classes, blocks * h) if self.conditional else None

    def _biases(self, y: torch.Tensor | None) -> list[torch.Tensor | None]:
        if y is None or self.class_bias is None:
            return [None] * len(self.blocks)
        return list(self.class_bias(y).chunk(len(self.blocks), dim=1)) if self.blocks else []

    def net(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        # h: [B, in_maps, H, W] -> [B, P, H, W]
        z = self.stem(h)
        for block, bias in zip(self.blocks, self._biases(y)):
            z = block(z, bias)
        return self.output(F.relu(self.hidden(F.relu(z))))

    def _stepper(self, n: int, y: torch.Tensor | None) -> Stepper:
        """Per-layer caches: each new pixel costs a few small products per layer.

        Every layer's output at pixel p depends only on the layer below at pixels <= p, all
        final by the time p is drawn, so computing each layer at p alone is exact.
        """
        H, W = self.H, self.W
        stem = PixelCache(self.stem, n, H, W)
        blocks = [
            (block.step, block.init_state(n, H, W, bias))
            for block, bias in zip(self.blocks, self._biases(y))
        ]
        hid_w, out_w = pointwise_matrix(self.hidden), pointwise_matrix(self.output)

        def step(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
            # the previous pixel is final now; the current one may hold earlier colours
            for q, c in self.last_and_current(r, j):
                stem.write(q, c, self.pixel_inputs(x, q, c))
            z = stem(r, j)
            for block_step, state in blocks:
                z = block_step(z, r, j, state)
            hid = torch.addmm(self.hidden.bias, z.relu(), hid_w).relu_()
            return torch.addmm(self.output.bias, hid, out_w)

        return step


# ---------------------------------------------------------------------- Gated PixelCNN
def _horizontal_mask(out_maps: int, in_maps: int, width: int, mask_type: str, groups: int):
    """``[out, in, 1, width]`` mask of a horizontal-stack kernel whose last column is the
    current pixel: earlier columns are free, the current one is colour-masked (A or B)."""
    mask = torch.ones(out_maps, in_maps, 1, width)
    g_out = channel_groups(out_maps, groups)[:, None]
    g_in = channel_groups(in_maps, groups)[None, :]
    centre = (g_in < g_out) if mask_type == "A" else (g_in <= g_out)
    mask[:, :, 0, -1] = centre.float()
    return mask


class _GatedLayerBase(nn.Module):
    """The constructor :class:`GatedLayer` and :class:`SkipGatedLayer` share, with its check
    of the kernel. Each subclass implements the sampling steps :class:`GatedPixelCNN` calls
    (``init_state``, ``write``, ``row_step``, ``step``) for its own state."""

    def __init__(self, kernel: int, groups: int, first: bool) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ZooInputError(f"gated layers need an odd kernel size, got {kernel}")
        self.k, self.groups, self.first = kernel, groups, first


class GatedLayer(_GatedLayerBase):
    """One gated layer of both stacks (van den Oord et al. 2016b, Fig. 2).

    Vertical: a (k//2+1) x k convolution over rows <= r. Horizontal: a 1 x (k//2+1)
    convolution over columns <= j of row r (the current pixel colour-masked, mask A in the
    first layer), plus a 1x1 map of the vertical stack shifted down by one row.
    """

    def __init__(
        self, in_maps: int, maps: int, kernel: int, groups: int, first: bool, n_classes: int
    ) -> None:
        super().__init__(kernel, groups, first)
        half = kernel // 2
        self.vertical = nn.Conv2d(in_maps, 2 * maps, (half + 1, kernel))
        self.horizontal = nn.Conv2d(in_maps, 2 * maps, (1, half + 1))
        self.register_buffer(
            "h_mask",
            _horizontal_mask(2 * maps, in_maps, half + 1, "A" if first else "B", groups),
            persistent=False,
        )
        self.v_to_h = nn.Conv2d(2 * maps, 2 * maps, 1)
        self.h_out = MaskedConv2d(maps, maps, 1, "B", groups)
        self.class_bias = nn.Embedding(n_classes, 2 * maps) if n_classes else None

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.k // 2
        v_pre = self.vertical(F.pad(v, (half, half, half, 0)))  # rows r-half .. r
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # rows < r only
        h_pre = F.conv2d(F.pad(h, (half, 0, 0, 0)), self.horizontal.weight * self.h_mask)
        h_pre = h_pre + self.horizontal.bias[:, None, None] + self.v_to_h(v_down)
        if self.class_bias is not None and y is not None:
            bias = self.class_bias(y)[:, :, None, None]
            v_pre, h_pre = v_pre + bias, h_pre + bias
        h_new = self.h_out(gate(h_pre, self.groups))
        return gate(v_pre, self.groups), h_new if self.first else h + h_new

    # ------------------------------------------------------------------ one pixel at a time
    def init_state(self, n: int, H: int, W: int, y: torch.Tensor | None) -> GatedState:
        """This layer's cache for cached sampling of ``n`` H x W images (class ids ``y``)."""
        half, cin, dev = self.k // 2, self.vertical.in_channels, self.vertical.weight.device
        bias = self.class_bias(y) if self.class_bias is not None and y is not None else None
        return GatedState(
            half=half,
            v_in=torch.zeros(n, cin, H + half, W + 2 * half, device=dev),
            h_in=torch.zeros(n, cin, W + half, device=dev),
            h_w=(self.horizontal.weight * self.h_mask).flatten(1),
            h_b=self.horizontal.bias if bias is None else self.horizontal.bias + bias,
            v_bias=bias,
            out_w=masked_weight(self.h_out)[:, :, 0, 0],
        )

    @staticmethod
    def write(r: int, j: int, values: torch.Tensor, state: GatedState, vertical: bool) -> None:
        """Store this layer's input ``[n, in]`` at pixel (r, j) of the vertical stack, or at
        column j of the horizontal stack (the row being drawn)."""
        half = state.half
        if vertical:
            state.v_in[:, :, r + half, j + half] = values
        else:
            state.h_in[:, :, j + half] = values

    def row_step(self, r: int, state: GatedState, up: GatedState | None) -> None:
        """Before the first pixel of row r: the vertical stack at row r - 1 (final now) for
        the whole row, once: this layer's term for the horizontal stack, and the next layer's
        (``up``) vertical input."""
        if r == 0:  # nothing above: the shifted vertical stack is zero
            n, W = state.h_in.shape[0], state.h_in.shape[2] - state.half
            state.row_term = self.v_to_h.bias[None, :, None].expand(n, -1, W)
            return
        v_pre = self.vertical(state.v_in[:, :, r - 1 : r + state.half])  # [n, 2m, 1, W]
        state.row_term = self.v_to_h(v_pre)[:, :, 0]
        if up is not None:  # this layer's vertical output is the next one's input
            if state.v_bias is not None:
                v_pre = v_pre + state.v_bias[:, :, None, None]
            nh, W = up.half, v_pre.shape[3]
            up.v_in[:, :, r - 1 + nh, nh : nh + W] = gate(v_pre, self.groups)[:, :, 0]

    def step(self, h: torch.Tensor | None, j: int, state: GatedState) -> tuple[torch.Tensor, None]:
        """The horizontal stack at pixel (r, j) of the current row: ``h`` ``[n, in]`` (None:
        already written, the first layer) -> (``[n, m]``, no skip)."""
        half = state.half
        if h is not None:
            state.h_in[:, :, j + half] = h
        win = state.h_in[:, :, j : j + half + 1].flatten(1)
        pre = F.linear(win, state.h_w) + state.h_b + state.row_term[:, :, j]
        h_new = F.linear(gate(pre, self.groups), state.out_w, self.h_out.bias)
        return (h_new if h is None else h + h_new), None  # no residual into the first layer


@dataclass(slots=True)
class GatedState:
    """A gated layer's cache for cached sampling."""

    half: int  # k // 2: the padding of its kernels
    v_in: torch.Tensor  # [n, in, H + half, W + 2 half] the vertical input, padded
    h_in: torch.Tensor  # [n, in, W + half] the horizontal input on the current row, padded
    h_w: torch.Tensor  # [2m, in (half+1)] the masked horizontal kernel
    h_b: torch.Tensor  # [2m] or [n, 2m] its bias (+ class bias)
    v_bias: torch.Tensor | None  # [n, 2m] the class bias of the vertical stack
    out_w: torch.Tensor  # [m, m] the masked 1x1 of the horizontal output
    row_term: torch.Tensor | None = None  # [n, 2m, W] v_to_h of the shifted vertical stack


class SkipGatedLayer(_GatedLayerBase):
    """pytorch-generative's gated layer (``GatedPixelCNNLayer``): the Gated PixelCNN with
    skip connections, built exactly (``GatedPixelCNN(architecture="pytorch_generative")``).

    Vertical: a 1 x k convolution along the row, then a (k//2+1) x 1 one over the k//2+1
    rows strictly above, plus a vertical 1x1 of the layer's own input (which reaches only the
    rows below: the next layer's column convolution looks strictly up). Horizontal: a
    1 x (k//2+1) convolution over columns <= j (< j in the first layer: the whole current
    pixel is masked, so one colour group only), plus a 1x1 ``link`` of the pre-gate vertical
    stack at the same row (rows above only). The gated horizontal output feeds a residual 1x1
    (added to the input except in the first layer) and a skip 1x1; the head reads the sum of
    the skips of all layers.
    """

    def __init__(
        self, in_maps: int, maps: int, kernel: int, groups: int, first: bool, n_classes: int
    ) -> None:
        super().__init__(kernel, groups, first)
        if groups != 1:
            raise ZooInputError(f"SkipGatedLayer has one colour group, got {groups}")
        p = kernel // 2
        self.v_row = nn.Conv2d(in_maps, maps, (1, kernel))
        self.v_col = nn.Conv2d(maps, 2 * maps, (p + 1, 1))
        self.v_1x1 = nn.Conv2d(in_maps, 2 * maps, 1)
        self.link = nn.Conv2d(2 * maps, 2 * maps, 1)
        self.h_row = nn.Conv2d(in_maps, 2 * maps, (1, p + 1))
        self.h_res = nn.Conv2d(maps, maps, 1)
        self.h_skip = nn.Conv2d(maps, maps, 1)
        self.class_bias = nn.Embedding(n_classes, 2 * maps) if n_classes else None

    def forward(
        self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        H, W = v.shape[2:]
        p, first = self.k // 2, int(self.first)
        col = self.v_row(F.pad(v, (p, p, 0, 0)))
        col = self.v_col(F.pad(col, (0, 0, p + 1, 0)))[:, :, :H]  # rows r-p-1 .. r-1
        v_pre = col + self.v_1x1(v)
        h_pre = self.link(col) + self.h_row(F.pad(h, (p + first, 0)))[:, :, :, :W]
        if self.class_bias is not None and y is not None:
            bias = self.class_bias(y)[:, :, None, None]
            v_pre, h_pre = v_pre + bias, h_pre + bias
        g = gate(h_pre, 1)
        h_new = self.h_res(g)
        return gate(v_pre, 1), h_new if self.first else h + h_new, self.h_skip(g)

    # ------------------------------------------------------------------ one pixel at a time
    def init_state(self, n: int, H: int, W: int, y: torch.Tensor | None) -> SkipGatedState:
        """This layer's cache for cached sampling of ``n`` H x W images (class ids ``y``)."""
        p, pad, dev = self.k // 2, self.k // 2 + int(self.first), self.v_row.weight.device
        cin, maps = self.v_row.in_channels, self.v_row.out_channels
        bias = self.class_bias(y) if self.class_bias is not None and y is not None else None
        return SkipGatedState(
            half=p,
            pad=pad,
            v_in=torch.zeros(n, cin, H, W + 2 * p, device=dev),
            rows=torch.zeros(n, maps, H + p + 1, W, device=dev),
            h_in=torch.zeros(n, cin, W + pad, device=dev),
            h_w=self.h_row.weight.flatten(1),
            h_b=self.h_row.bias if bias is None else self.h_row.bias + bias,
            v_bias=bias,
            res_w=self.h_res.weight[:, :, 0, 0],
            skip_w=self.h_skip.weight[:, :, 0, 0],
        )

    @staticmethod
    def write(r: int, j: int, values: torch.Tensor, state: SkipGatedState, vertical: bool) -> None:
        """Store this layer's input ``[n, in]`` at pixel (r, j) of the vertical stack, or at
        column j of the horizontal stack (the row being drawn)."""
        if vertical:
            state.v_in[:, :, r, j + state.half] = values
        else:
            state.h_in[:, :, j + state.pad] = values

    def row_step(self, r: int, state: SkipGatedState, up: SkipGatedState | None) -> None:
        """Before the first pixel of row r (rows < r final): the 1 x k row convolution of row
        r - 1, the column convolution at row r (this layer's ``link`` term for the row), and
        the gated vertical output of row r - 1 (the next layer's input, ``up``)."""
        p, s = self.k // 2, state
        if r > 0:
            s.rows[:, :, r + p] = self.v_row(s.v_in[:, :, r - 1 : r])[:, :, 0]
        col = self.v_col(s.rows[:, :, r : r + p + 1])  # [n, 2m, 1, W]: rows r-p-1 .. r-1
        s.row_term = self.link(col)[:, :, 0]
        if r > 0 and up is not None:
            v_pre = s.col + self.v_1x1(s.v_in[:, :, r - 1 : r + 0, p : s.v_in.shape[3] - p])
            if s.v_bias is not None:
                v_pre = v_pre + s.v_bias[:, :, None, None]
            W = v_pre.shape[3]
            up.v_in[:, :, r - 1, up.half : up.half + W] = gate(v_pre, 1)[:, :, 0]
        s.col = col

    def step(
        self, h: torch.Tensor | None, j: int, state: SkipGatedState
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The horizontal stack at pixel (r, j) of the current row: ``h`` ``[n, in]`` (None:
        already written, the first layer) -> (``[n, m]``, this layer's skip ``[n, m]``)."""
        s = state
        if h is not None:
            s.h_in[:, :, j + s.pad] = h
        win = s.h_in[:, :, j : j + s.half + 1].flatten(1)
        pre = F.linear(win, s.h_w) + s.h_b + s.row_term[:, :, j]
        g = gate(pre, 1)
        h_new = F.linear(g, s.res_w, self.h_res.bias)
        skip = F.linear(g, s.skip_w, self.h_skip.bias)
        return (h_new if h is None else h + h_new), skip


@dataclass(slots=True)
class SkipGatedState:
    """A :class:`SkipGatedLayer`'s cache for cached sampling."""

    half: int  # k // 2
    pad: int  # left padding of the horizontal input: k//2 (+1 in the first layer)
    v_in: torch.Tensor  # [n, in, H, W + 2 half] the vertical input, padded left and right
    rows: torch.Tensor  # [n, m, H + half + 1, W] the row convolution's output, half+1 rows
    # of zeros on top
    h_in: torch.Tensor  # [n, in, W + pad] the horizontal input on the current row
    h_w: torch.Tensor  # [2m, in (half+1)] the horizontal kernel
    h_b: torch.Tensor  # [2m] or [n, 2m] its bias (+ class bias)
    v_bias: torch.Tensor | None  # [n, 2m] the class bias of the vertical stack
    res_w: torch.Tensor  # [m, m]
    skip_w: torch.Tensor  # [m, m]
    row_term: torch.Tensor | None = None  # [n, 2m, W] link of the column convolution, this row
    col: torch.Tensor | None = None  # [n, 2m, 1, W] the column convolution at this row


class GatedPixelCNN(AutoregressiveImageModel):
    """Gated PixelCNN (van den Oord et al. 2016b): vertical + horizontal stacks, no blind spot.

    Hyper-parameters:
        channels: maps of both stacks.
        layers: gated layers (the first has kernel ``kernel``, the rest ``layer_kernel``).
        kernel: first-layer kernel size (7); layer_kernel: later layers' (3; the paper: 5).
        head_channels: maps of the hidden 1x1 output layer (default 32, rounded up to a
            multiple of the colours).
        conditional: class-conditional gates (h = one-hot class through a learned bias).
        architecture: "zoo" (:class:`GatedLayer`: one (k//2+1) x k vertical convolution, the
            head reads the last horizontal stack) or "pytorch_generative" (pytorch-generative's
            network exactly, :class:`SkipGatedLayer`: 1 x k then (k//2+1) x 1 vertical
            convolutions, a vertical 1x1, skip connections into the head; one colour group,
            so colour images need a non-grouped head such as the logistic mixture). Its
            published configuration: ``layers=11`` (its input layer and 10 gated layers),
            ``channels=128``, ``head_channels=32``.
    """

    family = "pixelcnn"
    # no compile_pays: at the peer's architecture, convolutions are most of a step's time and
    # the compiled objective measured no faster (pixelcnn_throughput.json: checks.gated.compile)
    ARCHITECTURES = ("zoo", "pytorch_generative")

    @keyword_group("widths", PixelWidths(channels=128))
    def __init__(
        self,
        spec: DataSpec,
        *,
        widths: PixelWidths,
        layers: int = 10,
        layer_kernel: int = 3,
        architecture: str = "zoo",
        **common,
    ) -> None:
        super().__init__(spec, **common)
        if architecture not in self.ARCHITECTURES:
            raise ZooInputError(
                f"GatedPixelCNN architecture must be one of {self.ARCHITECTURES}, got "
                f"{architecture!r}"
            )
        if architecture == "pytorch_generative" and self.groups > 1:
            raise ZooInputError(
                f"GatedPixelCNN architecture='pytorch_generative' has one colour group, but "
                f"the {type(self.head).__name__} head "
                f"predicts {self.C} colours one by one; use head='logistic_mixture' or "
                f"architecture='zoo'"
            )
        self.architecture = architecture
        check_int("GatedPixelCNN", "layers", layers)
        head_channels = self.check_widths(widths)
        g, channels = self.groups, widths.channels
        layer_class = GatedLayer if architecture == "zoo" else SkipGatedLayer
        self.layers = nn.ModuleList(
            layer_class(
                self.in_maps if i == 0 else channels,
                channels,
                widths.kernel if i == 0 else layer_kernel,
                g,
                i == 0,
                self.n_classes,
            )
            for i in range(layers)
        )
        self.hidden = MaskedConv2d(channels, head_channels, 1, "B", g)
        self.output = MaskedConv2d(head_channels, self.head.num_params, 1, "B", g)

    def net(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        # h: [B, in_maps, H, W] -> [B, P, H, W]
        v, skips = h, None
        for layer in self.layers:
            if self.architecture == "zoo":
                v, h = layer(v, h, y)
            else:
                v, h, s = layer(v, h, y)
                skips = s if skips is None else skips + s
        top = h if skips is None else skips
        return self.output(F.relu(self.hidden(F.relu(top))))

    def _stepper(self, n: int, y: torch.Tensor | None) -> Stepper:
        """Vertical stacks once per row (rows above are final), horizontal per pixel."""
        H, W = self.H, self.W
        states = [layer.init_state(n, H, W, y) for layer in self.layers]
        ups = states[1:] + [None]
        first, first_state = self.layers[0], states[0]
        hid_w, out_w = (
            masked_weight(self.hidden)[:, :, 0, 0],
            masked_weight(self.output)[:, :, 0, 0],
        )
        row = [-1]

        def step(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
            pixels = self.last_and_current(r, j)
            for q, c in pixels:  # the vertical input: rows above are read at the new row
                first.write(q, c, self.pixel_inputs(x, q, c), first_state, vertical=True)
            if row[0] != r:
                row[0] = r
                for layer, state, up in zip(self.layers, states, ups):
                    layer.row_step(r, state, up)
            for q, c in pixels:
                if q == r:
                    first.write(q, c, self.pixel_inputs(x, q, c), first_state, vertical=False)
            h, skips = None, None
            for layer, state in zip(self.layers, states):
                h, s = layer.step(h, j, state)
                if s is not None:
                    skips = s if skips is None else skips + s
            top = h if skips is None else skips
            return F.linear(
                F.relu(F.linear(F.relu(top), hid_w, self.hidden.bias)), out_w, self.output.bias
            )

        return step
