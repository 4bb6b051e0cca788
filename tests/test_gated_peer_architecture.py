"""GatedPixelCNN(architecture="pytorch_generative"): pytorch-generative's network exactly.

Equal parameter count and equal outputs against the benchmark's layer-for-layer mirror of the
peer (same weights copied in), exact likelihood that sums to 1, causality by gradients,
cached sampling == naive, clear errors.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from benchmarks.pixelcnn_throughput import PEER_PARAMS, PeerGatedPixelCNN
from zoo import DataSpec
from zoo.errors import ZooInputError
from zoo.models.pixelcnn import GatedPixelCNN

PEER = "pytorch_generative"
BMNIST = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")


def small(spec: DataSpec, seed: int = 0, jitter: float = 0.3, **kw) -> GatedPixelCNN:
    torch.manual_seed(seed)
    kw = {"channels": 6, "layers": 3, "head_channels": 12, "architecture": PEER, **kw}
    model = GatedPixelCNN(spec, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * jitter)
    return model.eval()


def test_published_configuration_has_the_peers_parameter_count():
    ours = zoo.create_model("pixelcnn_gated_bmnist_paper", BMNIST, layers=11, architecture=PEER)
    assert ours.num_parameters() == PEER_PARAMS["gated"] == 3_364_161
    default = zoo.create_model("pixelcnn_gated_bmnist_paper", BMNIST)
    assert default.num_parameters() == 3_199_809  # the zoo architecture is another network


def test_same_weights_give_the_mirrors_outputs():
    """Copy our weights into the mirror of the peer: the head's logits agree everywhere."""
    spec = DataSpec("image", (1, 7, 6), levels=2)
    ours = small(spec, channels=8, layers=3, head_channels=8)
    mirror = PeerGatedPixelCNN(c=8, layers=2, head=8)
    layer_names = ("v_row", "v_col", "v_1x1", "link", "h_row", "h_res", "h_skip")
    with torch.no_grad():
        for theirs, mine in zip([mirror.input, *mirror.layers], ours.layers):
            for name in layer_names:
                getattr(theirs, name).weight.copy_(getattr(mine, name).weight)
                getattr(theirs, name).bias.copy_(getattr(mine, name).bias)
        for theirs, mine in ((mirror.head[1], ours.hidden), (mirror.head[3], ours.output)):
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)
        x = torch.randint(0, 2, (3, 1, 7, 6))
        h = ours.inputs(x)
        v, hh, skips = mirror.input(h, h)
        for layer in mirror.layers:
            v, hh, s = layer(v, hh)
            skips = skips + s
        torch.testing.assert_close(ours.net(h, None), mirror.head(skips), rtol=1e-5, atol=1e-5)
    assert ours.num_parameters() == sum(p.numel() for p in mirror.parameters())


@pytest.mark.parametrize(
    "shape,K,head",
    [((1, 2, 3), 2, "auto"), ((1, 2, 2), 3, "auto"), ((3, 1, 2), 2, "logistic_mixture")],
)
def test_log_prob_sums_to_one_over_every_tiny_image(shape, K, head):
    model = small(DataSpec("image", shape, levels=K), head=head, kernel=5)
    x = torch.tensor(list(itertools.product(range(K), repeat=shape[0] * shape[1] * shape[2])))
    with torch.no_grad():
        total = model.log_prob(x.view(-1, *shape)).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_prediction_has_zero_gradient_wrt_current_and_later_pixels(data):
    """Zero gradient from the current and later pixels; nonzero from the pixel above and the
    one to the left. (Not from every earlier pixel: the peer's vertical stack reads the row
    above through a 1 x k convolution of a vertical output that, on its own row, only mixes
    the same column, so the upper right beyond k//2 columns is reached only from higher
    rows; the "zoo" architecture has no such gap, test_pixel_causality.)"""
    H, W = data.draw(st.integers(1, 5), label="H"), data.draw(st.integers(1, 5), label="W")
    r, j = data.draw(st.integers(0, H - 1), label="r"), data.draw(st.integers(0, W - 1), label="j")
    model = small(DataSpec("image", (1, H, W), levels=4), seed=1, kernel=3)
    h = model.inputs(torch.randint(0, 4, (2, 1, H, W))).detach().requires_grad_(True)
    model.net(h, None)[:, :, r, j].sum().backward()
    grad = h.grad.abs().sum((0, 1))  # [H, W]
    rows, cols = torch.arange(H)[:, None], torch.arange(W)[None, :]
    earlier = (rows < r) | ((rows == r) & (cols < j))
    assert torch.all(grad[~earlier] == 0)
    if r:
        assert grad[r - 1, j] > 0
    if j:
        assert grad[r, j - 1] > 0


@pytest.mark.parametrize(
    "shape,K,kw",
    [
        ((1, 5, 4), 3, {}),
        ((1, 6, 7), 2, {"kernel": 5, "layer_kernel": 5}),
        ((3, 3, 2), 5, {"head": "logistic_mixture"}),
        ((1, 4, 5), 9, {"embed": 3, "kernel": 3}),
    ],
)
def test_cached_sampling_draws_the_same_images_as_naive(shape, K, kw):
    model = small(DataSpec("image", shape, levels=K), **kw)
    naive = model.sample(3, generator=torch.Generator().manual_seed(7), fast=False)
    cached = model.sample(3, generator=torch.Generator().manual_seed(7), fast=True)
    assert torch.equal(naive, cached) and len(torch.unique(naive)) > 1


def test_class_conditional_cached_sampling_matches_naive():
    model = small(DataSpec("image", (1, 4, 4), levels=3, labels={"class": 4}), conditional=True)
    y = {"class": torch.tensor([0, 1, 2, 3])}
    a = model.sample(4, cond=y, generator=torch.Generator().manual_seed(1), fast=False)
    b = model.sample(4, cond=y, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    x = torch.randint(0, 3, (4, 1, 4, 4))
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(
        model.log_prob(x, cond={"class": zeros}), model.log_prob(x, cond={"class": ones})
    )


def test_bad_architecture_and_colour_groups_raise_clear_errors():
    with pytest.raises(ZooInputError, match="architecture must be one of"):
        GatedPixelCNN(BMNIST, architecture="paper")
    rgb = DataSpec("image", (3, 4, 4), levels=4)
    with pytest.raises(ZooInputError, match="one colour group"):
        GatedPixelCNN(rgb, channels=6, head="categorical", architecture=PEER)
    with pytest.raises(ZooInputError, match="odd kernel"):
        GatedPixelCNN(BMNIST, layer_kernel=4, architecture=PEER)
