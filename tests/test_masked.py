"""Masked convolutions: raster order, colour order R -> G -> B, mask A hides the present."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=30)
@given(
    kernel=st.sampled_from([1, 3, 5, 7]),
    mask_type=st.sampled_from(["A", "B"]),
    colours=st.sampled_from([1, 3]),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_fast_forward_equals_the_masked_kernel_with_equal_gradients(
    kernel, mask_type, colours, height, width, seed
):
    """The forward that skips the kernel rows below the centre is the masked convolution:
    the same outputs and the same gradients for the input, the kernel and the bias."""
    torch.manual_seed(seed)
    conv = MaskedConv2d(6, 12, kernel, mask_type, data_channels=colours).double()
    x = torch.randn(2, 6, height, width, dtype=torch.double, requires_grad=True)
    fast, slow = conv(x), conv.forward_masked(x)
    assert fast.shape == slow.shape == (2, 12, height, width)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    wanted = [x, conv.weight, conv.bias]
    g_fast = torch.autograd.grad((fast * fast.detach().sin()).sum(), wanted)
    g_slow = torch.autograd.grad((slow * slow.detach().sin()).sum(), wanted)
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    # and the kernel entries the mask zeroes get no gradient
    assert (g_fast[1] * (1 - conv.mask)).abs().max() == 0
