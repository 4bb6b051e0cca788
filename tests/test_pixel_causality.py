"""Causality of every autoregressive image model, by gradients of the network's output.

For a sub-pixel i = (r, j, c), the head parameters that predict it must have exactly zero
gradient with respect to every input at or after i in the generation order (raster order,
colours R -> G -> B; whole pixels for the mixture head). The Gated PixelCNN, PixelCNN++ and
the Diagonal BiLSTM have no blind spot: every earlier input must influence the prediction.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import DataSpec
from zoo.models.pixelcnn import GatedPixelCNN, PixelCNN
from zoo.models.pixelcnn_pp import PixelCNNPlusPlus
from zoo.models.pixelrnn import DiagonalBiLSTM, RowLSTM

SMALL = {
    "pixelcnn": (PixelCNN, dict(channels=12, blocks=2, head_channels=24)),
    "gated": (GatedPixelCNN, dict(channels=12, layers=3, head_channels=24)),
    "pixelcnn_pp": (PixelCNNPlusPlus, dict(filters=8, resnets=1, stages=3, dropout=0.0)),
    "rowlstm": (RowLSTM, dict(channels=6, layers=2, head_channels=24)),
    "diagbilstm": (DiagonalBiLSTM, dict(channels=6, layers=2, head_channels=24)),
}
FULL_CONTEXT = ("gated", "pixelcnn_pp", "diagbilstm")


def _gradient_map(model, x: torch.Tensor, r: int, j: int, c: int) -> torch.Tensor:
    """|d params(sub-pixel (r, j, c)) / d input| per input sub-pixel, ``[C, H, W]``."""
    h = model.inputs(x).detach().requires_grad_(True)
    params = model.net(h, None)[:, :, r, j]  # [B, P]
    if model.head.grouped:  # the maps of colour c only
        params = params.unflatten(1, (model.C, -1))[:, c]
    params.sum().backward()
    g = h.grad.abs().sum(0)  # [in_maps, H, W], in_maps grouped by colour
    return g.unflatten(0, (model.C, -1)).sum(1)


def _order_mask(C: int, H: int, W: int, r: int, j: int, c: int, grouped: bool):
    """True for input sub-pixels strictly before (r, j, c) in generation order."""
    rows = torch.arange(H)[:, None]
    cols = torch.arange(W)[None, :]
    before_pixel = (rows < r) | ((rows == r) & (cols < j))  # [H, W]
    mask = before_pixel.expand(C, H, W).clone()
    if grouped:
        mask[:c, r, j] = True  # earlier colours of the same pixel
    return mask


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("head", ["categorical", "logistic_mixture"])
@settings(max_examples=12)
@given(data=st.data())
def test_prediction_has_zero_gradient_wrt_current_and_later_inputs(kind, head, data):
    # PixelCNN++ sees whole pixels: colour images need the mixture head
    whole_pixels_only = kind == "pixelcnn_pp" and head != "logistic_mixture"
    C = 1 if whole_pixels_only else data.draw(st.sampled_from([1, 3]), label="C")
    H = data.draw(st.integers(1, 6), label="H")
    W = data.draw(st.integers(1, 6), label="W")
    r = data.draw(st.integers(0, H - 1), label="r")
    j = data.draw(st.integers(0, W - 1), label="j")
    c = data.draw(st.integers(0, C - 1), label="c")
    cls, kw = SMALL[kind]
    torch.manual_seed(0)
    model = cls(DataSpec("image", (C, H, W), levels=4), head=head, **kw)
    x = torch.randint(0, 4, (4, C, H, W))
    grad = _gradient_map(model, x, r, j, c)
    earlier = _order_mask(C, H, W, r, j, c, model.head.grouped)
    assert torch.all(grad[~earlier] == 0), f"{kind} sees the present or future"
    if earlier.any():
        assert grad[earlier].sum() > 0, f"{kind} ignores all of its context"


@pytest.mark.parametrize("kind", FULL_CONTEXT)
@settings(max_examples=8)
@given(data=st.data())
def test_no_blind_spot_every_earlier_input_influences(kind, data):
    C = data.draw(st.sampled_from([1, 3]), label="C")
    H = data.draw(st.integers(2, 5), label="H")
    W = data.draw(st.integers(2, 5), label="W")
    r = data.draw(st.integers(0, H - 1), label="r")
    j = data.draw(st.integers(0, W - 1), label="j")
    c = data.draw(st.integers(0, C - 1), label="c")
    cls, kw = SMALL[kind]
    torch.manual_seed(1)
    model = cls(
        DataSpec("image", (C, H, W), levels=4),
        head="categorical" if C == 1 else "logistic_mixture",
        **kw,
    )
    x = torch.randint(0, 4, (4, C, H, W))
    grad = _gradient_map(model, x, r, j, c)
    earlier = _order_mask(C, H, W, r, j, c, model.head.grouped)
    assert torch.all(grad[earlier] > 0), (
        f"{kind}: blind spot at {(~(grad > 0) & earlier).nonzero()}"
    )


def test_pixelcnn_has_the_papers_blind_spot():
    """The plain PixelCNN misses pixels up and to the right (what the gated one fixes)."""
    torch.manual_seed(0)
    model = PixelCNN(DataSpec("image", (1, 6, 6), levels=2), channels=4, blocks=1, kernel=3)
    grad = _gradient_map(model, torch.randint(0, 2, (2, 1, 6, 6)), 3, 1, 0)
    assert grad[0, 2, 5] == 0  # the row above, far right: invisible
    assert grad[0, 2, 2] > 0
