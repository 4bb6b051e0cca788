"""Masked convolutions: raster order, colour order R -> G -> B, mask A hides the present."""

from __future__ import annotations

import pytest
import torch

from zoo.nn.masked import MaskedConv2d, channel_groups, raster_mask


def test_mask_hides_rows_below_and_pixels_to_the_right():
    m = raster_mask(2, 2, 5, "B")
    assert m[:, :, 3:].sum() == 0 and m[:, :, 2, 3:].sum() == 0
    assert m[:, :, :2].all() and m[:, :, 2, :2].all()


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_centre_tap_orders_colours(mask_type):
    m = raster_mask(6, 9, 3, mask_type, data_channels=3)  # 9 out maps, 6 in maps: groups of 3/2
    g_out, g_in = channel_groups(9, 3), channel_groups(6, 3)
    for o in range(9):
        for i in range(6):
            visible = g_in[i] < g_out[o] if mask_type == "A" else g_in[i] <= g_out[o]
            assert bool(m[o, i, 1, 1]) == bool(visible)


def test_mask_a_output_ignores_its_own_pixel_and_later_ones():
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, 3, "A", data_channels=3)
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    conv(x)[0, 2:4, 1, 1].sum().backward()  # colour 1 (G) at (1, 1)
    g = x.grad[0].abs()
    assert g[1:, 1, 1].sum() == 0 and g[:, 1, 2:].sum() == 0 and g[:, 2:].sum() == 0
    assert g[0, 1, 1] > 0  # R of the same pixel is visible to G


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="odd kernel"):
        raster_mask(1, 1, 4, "B")
    with pytest.raises(ValueError, match="mask_type"):
        raster_mask(1, 1, 3, "C")
    with pytest.raises(ValueError, match="split evenly"):
        channel_groups(4, 3)
