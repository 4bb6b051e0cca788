"""PixelRNN: Row LSTM and Diagonal BiLSTM (van den Oord, Kalchbrenner & Kavukcuoglu 2016).

Both start with a 7x7 mask-A convolution, stack LSTM layers with residual connections
(2h maps in the residual stream, h LSTM units), and end with two 1x1 mask-B layers and the
output head. Gate maps are laid out ``(g four m)``, one block per colour group, so the
colour masks of the input-to-state convolutions carry through the elementwise LSTM.

- Row LSTM: rows one at a time; input-to-state is a masked 1 x k convolution along the row,
  state-to-state a k-wide 1-D convolution of the previous row's hidden state. Triangular
  receptive field.
- Diagonal BiLSTM: the map is skewed (row i shifted right by i) so each column of the skewed
  map is a diagonal; the LSTM runs over those columns with a 2 x 1 state-to-state kernel
  (the pixel above and the pixel to the left). A second LSTM runs right-to-left on the
  mirrored map; its output is shifted down one row before being added, so the sum sees the
  whole context above and to the left.

Class conditioning (``conditional=True``) adds a learned per-class bias to every LSTM's gates.

Sampling: ``fast=True`` carries the LSTM states: every new pixel costs one LSTM step per layer
(the Diagonal BiLSTM's right-to-left pass runs once per finished row); ``fast=False`` reruns
the whole network per drawn value. Both draw the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from zoo.core.spec import DataSpec
from zoo.core.validation import check_int, keyword_group
from zoo.models.pixel_model import AutoregressiveImageModel, PixelWidths, Stepper
from zoo.nn.masked import MaskedConv2d, PixelCache, channel_groups, masked_weight, pointwise_matrix


def lstm_update(
    gates: torch.Tensor, c_prev: torch.Tensor, groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step from pre-activations ``[B, 4h, ...]`` laid out ``(g four m)``."""
    i, f, o, g = rearrange(gates, "b (g four m) ... -> four b (g m) ...", g=groups, four=4)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _row_mask(out_maps: int, in_maps: int, width: int, groups: int) -> torch.Tensor:
    """``[out, in, 1, width]`` mask B of a 1 x width convolution along the row."""
    mask = torch.zeros(out_maps, in_maps, 1, width)
    centre = width // 2
    mask[..., :centre] = 1
    g_out = channel_groups(out_maps, groups)[:, None]
    g_in = channel_groups(in_maps, groups)[None, :]
    mask[:, :, 0, centre] = (g_in <= g_out).float()
    return mask


class _PixelRNN(AutoregressiveImageModel):
    """Shared stem (7x7 mask A) and output stack of the two PixelRNNs."""

    family = "pixelrnn"

    @keyword_group("widths", PixelWidths(channels=16))
    def __init__(self, spec: DataSpec, *, widths: PixelWidths, layers: int = 7, **common) -> None:
        super().__init__(spec, **common)
        check_int(type(self).__name__, "layers", layers)
        head_channels = self.check_widths(widths)
        g = self.groups
        self.h = channels = widths.channels
        self.stem = MaskedConv2d(self.in_maps, 2 * channels, widths.kernel, "A", g)
        self.hidden = MaskedConv2d(2 * channels, head_channels, 1, "B", g)
        self.output = MaskedConv2d(head_channels, self.head.num_params, 1, "B", g)

    def head_out(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(F.relu(self.hidden(F.relu(z))))

    def net(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        z = self.stem(h)
        for layer in self.layers:
            z = layer(z, y)
        return self.head_out(z)

    def _stepper(self, n: int, y: torch.Tensor | None) -> Stepper:
        """One pixel at a time: each layer's ``row_step`` once per row (state-to-state; the
        Diagonal BiLSTM's right-to-left pass over the finished row), then its ``step``."""
        stem, head = self._cached_stem_and_head(n)
        states = [(layer, layer.init_state(n, self.H, self.W, y)) for layer in self.layers]
        row = [-1]

        def step(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
            if row[0] != r:
                row[0] = r
                for layer, state in states:
                    layer.row_step(r, state)
            z = stem(x, r, j)
            for layer, state in states:
                z = layer.step(z, r, j, state)
            return head(z)

        return step

    def _cached_stem_and_head(self, n: int):
        """Helpers for the steppers: stem at one pixel, head at one pixel."""
        stem_cache = PixelCache(self.stem, n, self.H, self.W)
        hid_w, out_w = pointwise_matrix(self.hidden), pointwise_matrix(self.output)

        def stem(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
            for q, c in self.last_and_current(r, j):
                stem_cache.write(q, c, self.pixel_inputs(x, q, c))
            return stem_cache(r, j)

        def head(z: torch.Tensor) -> torch.Tensor:
            hid = torch.addmm(self.hidden.bias, z.relu(), hid_w).relu_()
            return torch.addmm(self.output.bias, hid, out_w)

        return stem, head


# ---------------------------------------------------------------------- Row LSTM
class RowLSTMLayer(nn.Module):
    def __init__(self, h: int, groups: int, kernel: int = 3, n_classes: int = 0) -> None:
        super().__init__()
        self.class_bias = nn.Embedding(n_classes, 4 * h) if n_classes else None
        if kernel % 2 == 0:
            raise ValueError(f"Row LSTM needs an odd kernel, got {kernel}")
        self.h, self.groups, self.k = h, groups, kernel
        self.input_to_state = nn.Conv2d(2 * h, 4 * h, (1, kernel))
        self.register_buffer("mask", _row_mask(4 * h, 2 * h, kernel, groups), persistent=False)
        self.state_to_state = nn.Conv1d(h, 4 * h, kernel, padding=kernel // 2)
        self.out = MaskedConv2d(h, 2 * h, 1, "B", groups)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # z: [B, 2h, H, W] -> [B, 2h, H, W]
        B, _, H, W = z.shape
        pad = self.k // 2
        pre = F.conv2d(
            F.pad(z, (pad, pad, 0, 0)),
            self.input_to_state.weight * self.mask,
            self.input_to_state.bias,
        )
        if self.class_bias is not None and y is not None:
            pre = pre + self.class_bias(y)[:, :, None, None]
        h = z.new_zeros(B, self.h, W)
        c = z.new_zeros(B, self.h, W)
        rows = []
        for r in range(H):
            h, c = lstm_update(pre[:, :, r] + self.state_to_state(h), c, self.groups)
            rows.append(h)
        return z + self.out(torch.stack(rows, dim=2))

    # ------------------------------------------------------------------ one pixel at a time
    def init_state(self, n: int, H: int, W: int, y: torch.Tensor | None) -> RowLSTMState:
        """This layer's cache for cached sampling of ``n`` ``H x W`` images (a Row LSTM
        keeps one row: H is not needed)."""
        p, dev = self.k // 2, self.input_to_state.weight.device
        bias = self.input_to_state.bias + (
            self.class_bias(y) if self.class_bias is not None and y is not None else 0
        )
        return RowLSTMState(
            p=p,
            w_is=(self.input_to_state.weight * self.mask).flatten(1),
            w_out=masked_weight(self.out)[:, :, 0, 0],
            z_row=torch.zeros(n, 2 * self.h, W + 2 * p, device=dev),
            h=torch.zeros(n, self.h, W, device=dev),
            c=torch.zeros(n, self.h, W, device=dev),
            c_prev=torch.zeros(n, self.h, W, device=dev),
            bias=bias,
        )

    def row_step(self, r: int, state: RowLSTMState) -> None:
        """Before row r: the finished row becomes the previous one (state-to-state once)."""
        s = state
        h_prev = s.h if r else torch.zeros_like(s.h)
        s.ss = self.state_to_state(h_prev)
        s.c_prev = s.c.clone() if r else torch.zeros_like(s.c)

    def step(self, z: torch.Tensor, r: int, j: int, state: RowLSTMState) -> torch.Tensor:
        """The layer at pixel (r, j), r being the row of the last ``row_step``: ``z``
        ``[n, 2h]`` -> ``[n, 2h]``."""
        s, p = state, state.p
        s.z_row[:, :, j + p] = z
        pre = F.linear(s.z_row[:, :, j : j + 2 * p + 1].flatten(1), s.w_is)
        pre = pre + s.bias + s.ss[:, :, j]
        h, c = lstm_update(pre, s.c_prev[:, :, j], self.groups)
        s.h[:, :, j], s.c[:, :, j] = h, c
        return z + F.linear(h, s.w_out, self.out.bias)


@dataclass(slots=True)
class RowLSTMState:
    """A Row LSTM layer's cache for cached sampling."""

    p: int  # k // 2
    w_is: torch.Tensor  # [4h, 2h k] the masked input-to-state kernel
    w_out: torch.Tensor  # [2h, h] the masked output 1x1
    z_row: torch.Tensor  # [n, 2h, W + 2p] the layer's input on the current row, padded
    h: torch.Tensor  # [n, h, W] the hidden state of the row being drawn
    c: torch.Tensor  # [n, h, W] its cell state
    c_prev: torch.Tensor  # [n, h, W] the previous row's cell state
    bias: torch.Tensor  # [4h] or [n, 4h] input-to-state bias (+ class bias)
    ss: torch.Tensor | None = None  # [n, 4h, W] state-to-state of the previous row


class RowLSTM(_PixelRNN):
    """PixelRNN with Row LSTM layers (van den Oord et al. 2016, section 3.1).

    Hyper-parameters: channels (h, LSTM units), layers, kernel (first layer), row_kernel (k of
    the input-to-state and state-to-state convolutions), head_channels; see also
    AutoregressiveImageModel.
    """

    def __init__(self, spec: DataSpec, *, row_kernel: int = 3, **kw) -> None:
        layers = kw.pop("layers", 7)
        super().__init__(spec, layers=layers, **kw)
        self.layers = nn.ModuleList(
            RowLSTMLayer(self.h, self.groups, row_kernel, self.n_classes) for _ in range(layers)
        )


# ---------------------------------------------------------------------- Diagonal BiLSTM
def skew(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W] -> [B, C, H, H + W - 1]``: row i shifted right by i."""
    B, C, H, W = x.shape
    out = x.new_zeros(B, C, H, H + W - 1)
    for i in range(H):
        out[:, :, i, i : i + W] = x[:, :, i]
    return out


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    return torch.stack([x[:, :, i, i : i + width] for i in range(x.shape[2])], dim=2)


class DiagonalLSTM(nn.Module):
    """A Diagonal LSTM over precomputed input-to-state maps (left-to-right along diagonals)."""

    def __init__(self, h: int, groups: int) -> None:
        super().__init__()
        self.h, self.groups = h, groups
        # tap 0: the pixel above, tap 1: the pixel to the left (rows i-1, i of the skewed
        # previous column)
        self.state_to_state = nn.Conv1d(h, 4 * h, 2)

    def forward(self, pre: torch.Tensor) -> torch.Tensor:
        # pre: [B, 4h, H, W] -> hidden [B, h, H, W]
        B, _, H, W = pre.shape
        s = skew(pre)  # [B, 4h, H, H+W-1]
        cols = torch.arange(H + W - 1, device=pre.device)
        rows = torch.arange(H, device=pre.device)[:, None]
        valid = ((cols >= rows) & (cols < rows + W)).to(pre.dtype)  # [H, H+W-1]
        h = pre.new_zeros(B, self.h, H)
        c = pre.new_zeros(B, self.h, H)
        out = []
        for col in range(H + W - 1):
            gates = s[:, :, :, col] + self.state_to_state(F.pad(h, (1, 0)))
            h, c = lstm_update(gates, c, self.groups)
            # positions left of the image hold no pixel: keep their state at zero
            h, c = h * valid[:, col], c * valid[:, col]
            out.append(h)
        return unskew(torch.stack(out, dim=3), W)


class DiagonalBiLSTMLayer(nn.Module):
    def __init__(self, h: int, groups: int, n_classes: int = 0) -> None:
        super().__init__()
        self.class_bias = nn.Embedding(n_classes, 8 * h) if n_classes else None
        self.h, self.groups = h, groups
        self.fwd_in = MaskedConv2d(2 * h, 4 * h, 1, "B", groups)
        self.fwd = DiagonalLSTM(h, groups)
        self.bwd_in = nn.Conv2d(2 * h, 4 * h, 1)  # seen only one row later: no colour mask
        self.bwd = DiagonalLSTM(h, groups)
        self.out = MaskedConv2d(h, 2 * h, 1, "B", groups)

    def biases(self, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Class biases of the two directions' gates, ``[B, 4h]`` each."""
        if self.class_bias is None or y is None:
            return None
        return self.class_bias(y).chunk(2, dim=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # z: [B, 2h, H, W] -> [B, 2h, H, W]
        pre_f, pre_b = self.fwd_in(z), self.bwd_in(z)
        biases = self.biases(y)
        if biases is not None:
            pre_f = pre_f + biases[0][:, :, None, None]
            pre_b = pre_b + biases[1][:, :, None, None]
        fwd = self.fwd(pre_f)
        bwd = self.bwd(pre_b.flip(3)).flip(3)
        bwd = F.pad(bwd, (0, 0, 1, 0))[:, :, :-1]  # down one row: only rows above count
        return z + self.out(fwd + bwd)

    # ------------------------------------------------------------------ one pixel at a time
    def init_state(self, n: int, H: int, W: int, y: torch.Tensor | None) -> DiagonalBiLSTMState:
        """This layer's cache for cached sampling of ``n`` H x W images."""
        h, dev = self.h, self.fwd_in.weight.device

        def grid(maps: int) -> torch.Tensor:
            return torch.zeros(n, maps, H, W, device=dev)

        ws_f = self.fwd.state_to_state.weight  # [4h, h, 2]
        ws_b = self.bwd.state_to_state.weight
        biases = self.biases(y)
        return DiagonalBiLSTMState(
            w_fin=masked_weight(self.fwd_in)[:, :, 0, 0],
            w_bin=self.bwd_in.weight[:, :, 0, 0],
            f_up=ws_f[:, :, 0],
            f_left=ws_f[:, :, 1],
            b_up=ws_b[:, :, 0],
            b_right=ws_b[:, :, 1],
            w_out=masked_weight(self.out)[:, :, 0, 0],
            z=grid(2 * h),
            hf=grid(h),
            cf=grid(h),
            hb=grid(h),
            cb=grid(h),
            f_bias=self.fwd_in.bias
            + self.fwd.state_to_state.bias
            + (0 if biases is None else biases[0]),
            b_bias=self.bwd_in.bias
            + self.bwd.state_to_state.bias
            + (0 if biases is None else biases[1]),
        )

    def row_step(self, r: int, state: DiagonalBiLSTMState) -> None:
        """Before row r: the right-to-left LSTM over the finished row r - 1."""
        if not r:
            return
        s, q, W = state, r - 1, state.z.shape[3]
        pre_row = F.linear(s.z[:, :, q].transpose(1, 2), s.w_bin)  # [n, W, 4h]
        for j in range(W - 1, -1, -1):
            pre = pre_row[:, j] + s.b_bias
            if q:
                pre = pre + F.linear(s.hb[:, :, q - 1, j], s.b_up)
            c_prev = s.cb[:, :, q, j + 1] if j + 1 < W else torch.zeros_like(s.cb[:, :, q, j])
            if j + 1 < W:
                pre = pre + F.linear(s.hb[:, :, q, j + 1], s.b_right)
            s.hb[:, :, q, j], s.cb[:, :, q, j] = lstm_update(pre, c_prev, self.groups)

    def step(self, z: torch.Tensor, r: int, j: int, state: DiagonalBiLSTMState) -> torch.Tensor:
        """The left-to-right LSTM at pixel (r, j) (plus the right-to-left one of the row
        above): ``z`` ``[n, 2h]`` -> ``[n, 2h]``."""
        s = state
        s.z[:, :, r, j] = z
        pre = F.linear(z, s.w_fin) + s.f_bias
        if r:
            pre = pre + F.linear(s.hf[:, :, r - 1, j], s.f_up)
        if j:
            pre = pre + F.linear(s.hf[:, :, r, j - 1], s.f_left)
            c_prev = s.cf[:, :, r, j - 1]
        else:
            c_prev = torch.zeros_like(s.cf[:, :, r, j])
        h, c = lstm_update(pre, c_prev, self.groups)
        s.hf[:, :, r, j], s.cf[:, :, r, j] = h, c
        if r:
            h = h + s.hb[:, :, r - 1, j]
        return z + F.linear(h, s.w_out, self.out.bias)


@dataclass(slots=True)
class DiagonalBiLSTMState:
    """A Diagonal BiLSTM layer's cache for cached sampling (per-pixel grids, ``[n, ., H, W]``)."""

    w_fin: torch.Tensor  # [4h, 2h] left-to-right input-to-state (masked 1x1)
    w_bin: torch.Tensor  # [4h, 2h] right-to-left input-to-state
    f_up: torch.Tensor  # [4h, h] left-to-right state-to-state taps: above, left
    f_left: torch.Tensor
    b_up: torch.Tensor  # [4h, h] right-to-left taps: above, right
    b_right: torch.Tensor
    w_out: torch.Tensor  # [2h, h] the masked output 1x1
    z: torch.Tensor  # [n, 2h, H, W] the layer's inputs
    hf: torch.Tensor  # [n, h, H, W] left-to-right hidden and cell states
    cf: torch.Tensor
    hb: torch.Tensor  # [n, h, H, W] right-to-left hidden and cell states
    cb: torch.Tensor
    f_bias: torch.Tensor  # [4h] or [n, 4h] (+ class bias)
    b_bias: torch.Tensor


class DiagonalBiLSTM(_PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers (van den Oord et al. 2016, section 3.2).

    Hyper-parameters: channels (h, LSTM units per direction), layers, kernel (first layer),
    head_channels; see also AutoregressiveImageModel.
    """

    def __init__(self, spec: DataSpec, **kw) -> None:
        layers = kw.pop("layers", 7)
        super().__init__(spec, layers=layers, **kw)
        self.layers = nn.ModuleList(
            DiagonalBiLSTMLayer(self.h, self.groups, self.n_classes) for _ in range(layers)
        )
