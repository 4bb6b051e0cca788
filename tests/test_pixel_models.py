"""PixelCNN, Gated PixelCNN, PixelCNN++, Row LSTM, Diagonal BiLSTM: the model-level contract.

Exact likelihoods that sum to 1 over every tiny image, samples in range whose cached and naive
paths agree, class conditioning, clear errors, and a sane initial loss.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from tiny_builds import tiny_overrides

import zoo
from zoo import DataSpec
from zoo.errors import ZooInputError
from zoo.models.pixelcnn import GatedPixelCNN, PixelCNN
from zoo.models.pixelcnn_pp import PixelCNNPlusPlus
from zoo.models.pixelrnn import DiagonalBiLSTM, RowLSTM

SMALL = {
    "pixelcnn": (PixelCNN, dict(channels=6, blocks=2, head_channels=12)),
    "gated": (GatedPixelCNN, dict(channels=6, layers=3, head_channels=12)),
    "pixelcnn_pp": (PixelCNNPlusPlus, dict(filters=8, resnets=1, stages=3, dropout=0.0)),
    "rowlstm": (RowLSTM, dict(channels=6, layers=2, head_channels=12)),
    "diagbilstm": (DiagonalBiLSTM, dict(channels=6, layers=2, head_channels=12)),
}
KINDS = sorted(SMALL)


def _build(kind: str, spec: DataSpec, *, seed: int = 0, jitter: float = 0.3, **kw):
    """A small model with perturbed weights (so distributions are far from uniform)."""
    cls, base = SMALL[kind]
    torch.manual_seed(seed)
    model = cls(spec, **{**base, **kw})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * jitter)
    return model.eval()


def _all_images(C: int, H: int, W: int, K: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(K), repeat=C * H * W))).view(-1, C, H, W)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "shape,K,head",
    [
        ((1, 2, 3), 2, "auto"),
        ((1, 2, 2), 3, "auto"),
        ((1, 1, 3), 4, "logistic_mixture"),
        ((3, 1, 2), 2, "categorical"),
        ((3, 1, 2), 2, "logistic_mixture"),
    ],
)
def test_log_prob_sums_to_one_over_every_tiny_image(kind, shape, K, head):
    if kind == "pixelcnn_pp" and shape[0] > 1 and head != "logistic_mixture":
        with pytest.raises(ValueError, match="mixture"):  # it colours pixels with it alone
            _build(kind, DataSpec("image", shape, levels=K), head=head)
        return
    model = _build(kind, DataSpec("image", shape, levels=K), head=head)
    with torch.no_grad():
        total = model.log_prob(_all_images(*shape, K)).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "shape,K,head",
    [((1, 5, 4), 3, "auto"), ((3, 3, 4), 4, "categorical"), ((3, 3, 2), 5, "logistic_mixture")],
)
def test_cached_sampling_draws_the_same_images_as_naive(kind, shape, K, head):
    if kind == "pixelcnn_pp" and head == "categorical":
        head = "logistic_mixture"
    model = _build(kind, DataSpec("image", shape, levels=K), head=head)
    naive = model.sample(3, generator=torch.Generator().manual_seed(7), fast=False)
    cached = model.sample(3, generator=torch.Generator().manual_seed(7), fast=True)
    assert naive.shape == (3, *shape) and naive.dtype == torch.long
    assert 0 <= int(naive.min()) and int(naive.max()) < K
    assert torch.equal(naive, cached)
    assert len(torch.unique(naive)) > 1  # not a degenerate constant image


@pytest.mark.parametrize(
    "kind,kw",
    [
        ("gated", dict(kernel=3, layer_kernel=5, embed=4)),
        ("pixelcnn", dict(kernel=5, embed=3)),
        ("rowlstm", dict(embed=2, row_kernel=5)),
        ("diagbilstm", dict(embed=2, kernel=3)),
    ],
)
def test_cached_sampling_matches_naive_with_embeddings_and_other_kernels(kind, kw):
    model = _build(kind, DataSpec("image", (1, 4, 5), levels=9), **kw)
    naive = model.sample(2, generator=torch.Generator().manual_seed(3), fast=False)
    cached = model.sample(2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(naive, cached)


@pytest.mark.parametrize("kind", KINDS)
def test_class_conditional_models_sample_per_class_and_depend_on_the_class(kind):
    spec = DataSpec("image", (1, 4, 4), levels=3, labels={"class": 4})
    model = _build(kind, spec, conditional=True)
    x = torch.randint(0, 3, (4, 1, 4, 4))
    lp0 = model.log_prob(x, cond={"class": torch.zeros(4, dtype=torch.long)})
    lp1 = model.log_prob(x, cond={"class": torch.ones(4, dtype=torch.long)})
    assert not torch.allclose(lp0, lp1)
    y = torch.tensor([0, 1, 2, 3])
    a = model.sample(4, cond={"class": y}, generator=torch.Generator().manual_seed(1), fast=False)
    b = model.sample(4, cond={"class": y}, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="class-conditional"):
        model.log_prob(x)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_inputs_raise_clear_errors(kind):
    spec = DataSpec("image", (1, 4, 4), levels=3)
    model = _build(kind, spec)
    with pytest.raises(ValueError, match="shape"):
        model.log_prob(torch.zeros(2, 3, 4, 4, dtype=torch.long))  # wrong channel count
    with pytest.raises(ValueError, match="values must lie"):
        model.log_prob(torch.full((2, 1, 4, 4), 3))  # a level the model does not have
    with pytest.raises(ValueError, match="levels=2"):
        SMALL[kind][0](spec, head="bernoulli")
    with pytest.raises(ValueError, match="'class' label"):
        SMALL[kind][0](spec, conditional=True)


def test_architecture_limits_raise_at_construction():
    rgb = DataSpec("image", (3, 4, 4), levels=4)
    with pytest.raises(ValueError, match="multiple of the 3 colour"):
        PixelCNN(rgb, channels=16)
    with pytest.raises(ValueError, match="mixture"):
        PixelCNNPlusPlus(rgb, head="categorical")
    with pytest.raises(ZooInputError, match="gated layers need an odd kernel size, got 4"):
        GatedPixelCNN(DataSpec("image", (1, 4, 4), levels=2), layer_kernel=4)
    with pytest.raises(ValueError, match="unknown sampling options"):
        PixelCNN(DataSpec("image", (1, 2, 2), levels=2), channels=2, blocks=1).sample(1, cache=1)


@pytest.mark.parametrize("shape", [(1, 2, 3), (1, 7, 7), (1, 5, 9), (3, 3, 5)])
def test_pixelcnn_pp_takes_any_image_size(shape):
    """Sizes that are no multiple of 4 are padded after the image, exactly."""
    model = _build("pixelcnn_pp", DataSpec("image", shape, levels=3))
    x = torch.randint(0, 3, (2, *shape))
    assert model.log_prob(x).shape == (2,)
    if shape == (1, 2, 3):
        with torch.no_grad():
            total = model.log_prob(_all_images(*shape, 3)).double().exp().sum()
        assert float(total) == pytest.approx(1.0, abs=1e-4)


def test_prior_entry_serves_vqvae_codes_of_any_k_and_small_grids():
    """The VQ-VAE's prior: K = 512 codes on a 7x7 grid, loss, gradients and sampling."""
    model = zoo.create_model("pixelcnn_prior", DataSpec("image", (1, 7, 7), levels=512))
    codes = torch.randint(0, 512, (3, 1, 7, 7))
    loss, parts = model.loss(codes)
    assert loss.item() == pytest.approx(49 * math.log(512), rel=0.05)  # untrained: near uniform
    loss.backward()
    assert model.embedding.weight.grad.abs().sum() > 0
    s = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2, 1, 7, 7) and int(s.max()) < 512


def test_untrained_small_pixelcnn_starts_near_784_ln2_on_binarized_mnist():
    """The loss of the untrained model is about uniform, 784 ln 2 = 543.4 nats, not ~3e5 (the
    peer's double residual makes it start orders of magnitude above)."""
    spec = DataSpec("image", (1, 28, 28), levels=2)
    try:
        x = zoo.load_dataset("binarized_mnist")["test"].x[:64].long()
    except FileNotFoundError:
        x = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) < 0.13).long()
    torch.manual_seed(0)
    model = zoo.create_model("pixelcnn_small_bmnist", spec)
    with torch.no_grad():
        loss, _ = model.loss(x)
    assert 0.8 * 784 * math.log(2) < loss.item() < 1.25 * 784 * math.log(2)


@pytest.mark.parametrize("name", sorted(zoo.list_models("pixel*")))
def test_registry_entries_build_and_normalise_on_a_tiny_spec(name):
    entry = zoo.get_entry(name)
    spec = DataSpec("image", (1, 2, 3), levels=2)
    model = zoo.create_model(name, spec, **tiny_overrides(name)).eval()
    assert model.family == entry.family and model.estimate == "exact"
    with torch.no_grad():
        total = model.log_prob(_all_images(1, 2, 3, 2)).double().exp().sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)
