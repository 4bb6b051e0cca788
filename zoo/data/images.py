"""Image data sets as integer pixels: ``x: [N, C, H, W]`` uint8 in ``[0, levels)``.

- ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, 17 levels 0..16), the
  embedded default; split 70/15/15 with a fixed seed.
- ``mnist``: MNIST in torchvision's raw IDX format under ``<root>/mnist/raw`` (the four
  official files, 60k train + 10k test): train 50,000 / valid 10,000 (the last 10k of the
  official train set, as the binarized-MNIST literature holds out) / test 10,000.
- ``binarized_mnist``: the same 50k/10k/10k, each pixel drawn from Bernoulli(intensity / 255)
  with seed 0 (the stochastic binarisation of Salakhutdinov & Murray 2008, fixed so every model
  sees the same test bits); ``dynamic=True`` redraws the training bits every batch (Burda et
  al. 2015). Larochelle's fixed binarisation (.amat) is not used.
- ``cifar10``: torchvision's CIFAR-10 from ``<root>/cifar10`` (``download=True`` to fetch);
  the last 5,000 training images are the valid split.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from zoo.core.spec import DataSpec
from zoo.data.base import Dataset, DatasetNotFound, Split, data_root, split_indices


def _split(x: torch.Tensor, y: torch.Tensor, seed: int, fractions=(0.7, 0.15, 0.15)):
    idx = split_indices(len(x), fractions, seed)
    return {name: Split(x[i], {"class": y[i]}) for name, i in zip(("train", "valid", "test"), idx)}


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits: the embedded image default (no download, no files)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.from_numpy(d.images.astype(np.uint8)).unsqueeze(1)  # [N, 1, 8, 8] in 0..16
    y = torch.from_numpy(d.target.astype(np.int64))
    spec = DataSpec("image", (1, 8, 8), levels=17, labels={"class": 10}, name="digits")
    return Dataset(
        "digits",
        spec,
        _split(x, y, seed),
        source=f"scikit-learn load_digits (1,797 images), split 70/15/15 seed {seed}",
    )


# ---------------------------------------------------------------------- MNIST
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the format MNIST ships in."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtype:
        raise ValueError(f"{path}: unknown IDX element type 0x{data[2]:02x}")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=dtype[data[2]], offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated IDX file ({body.size} of {np.prod(dims)} values)")
    return body.reshape(tuple(dims))


def _find_idx(raw: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (raw / name).exists():
            return raw / name
    return None


MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_VALID = 10_000  # the last 10k training images: the binarized-MNIST literature's valid set


def _mnist_arrays(root: Path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], str]:
    """The official 60k/10k MNIST files -> train 50k / valid 10k (last of train) / test 10k."""
    raw = root / "mnist" / "raw"
    paths = [_find_idx(raw, stem) for stem in MNIST_FILES]
    missing = [stem for stem, p in zip(MNIST_FILES, paths) if p is None]
    if missing:
        raise DatasetNotFound(
            f"MNIST not found: {', '.join(m + '(.gz)' for m in missing)} missing in {raw}. "
            f"Put torchvision's four raw MNIST files there (e.g. torchvision.datasets.MNIST("
            f"'{root / 'mnist'}', download=True) when online), or set ZOO_DATA to a folder "
            f"that holds mnist/raw/."
        )
    images = [torch.from_numpy(read_idx(p).copy()).unsqueeze(1) for p in paths[0::2]]
    labels = [torch.from_numpy(read_idx(p).astype(np.int64)) for p in paths[1::2]]
    (x, tx), (y, ty) = images, labels
    if len(x) != 60_000 or len(tx) != 10_000:
        raise ValueError(
            f"{raw}: expected the official 60,000 train and 10,000 test images, got "
            f"{len(x)} and {len(tx)}; check the files against SOURCES.md's md5 sums"
        )
    arrays = {
        "train": (x[:-MNIST_VALID], y[:-MNIST_VALID]),
        "valid": (x[-MNIST_VALID:], y[-MNIST_VALID:]),
        "test": (tx, ty),
    }
    return arrays, (
        f"MNIST official 60k/10k ({raw}): train 50,000 / valid 10,000 (last of train) / test 10,000"
    )


def load_mnist(root: str | None = None) -> Dataset:
    """MNIST with 256 grey levels."""
    arrays, source = _mnist_arrays(data_root(root))
    spec = DataSpec("image", (1, 28, 28), levels=256, labels={"class": 10}, name="mnist")
    splits = {k: Split(x, {"class": y}) for k, (x, y) in arrays.items()}
    return Dataset("mnist", spec, splits, source=source)


def binarize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw of Bernoulli(intensity / 255) per pixel: ``x`` uint8 grey -> uint8 {0, 1}."""
    return (torch.rand(x.shape, generator=generator) < x.float() / 255.0).to(torch.uint8)


def _dynamic_binarizer(grey: torch.Tensor):
    """Fresh bits for every training batch, a pure function of (index, seed)."""

    def resample(idx: torch.Tensor, seed: int) -> torch.Tensor:
        return binarize(grey[idx], torch.Generator().manual_seed(seed))

    return resample


def load_binarized_mnist(root: str | None = None, seed: int = 0, dynamic: bool = False) -> Dataset:
    """Binarized MNIST from the official 60k/10k files (50k/10k/10k), stochastically binarised.

    Every split is binarised once, ``Bernoulli(intensity / 255)`` with ``seed`` (splits drawn
    in the order train, valid, test), so every model is scored on the same test bits.
    ``dynamic=True`` draws fresh bits for each training batch instead (the IWAE paper's
    practice; the trainer asks ``Split.resample``); valid and test stay fixed. Larochelle's
    fixed binarisation (the .amat files of Larochelle & Murray 2011) is not used.
    """
    arrays, source = _mnist_arrays(data_root(root))
    spec = DataSpec("image", (1, 28, 28), levels=2, labels={"class": 10}, name="binarized_mnist")
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for name in ("train", "valid", "test"):  # fixed order: the same bits on every machine
        x, y = arrays[name]
        splits[name] = Split(binarize(x, g), {"class": y})
    how = "training batches binarised afresh each step (dynamic)" if dynamic else "once"
    if dynamic:
        splits["train"].resample = _dynamic_binarizer(arrays["train"][0])
    return Dataset(
        "binarized_mnist",
        spec,
        splits,
        source=(
            f"{source}; binarised by Bernoulli(x/255) sampling with seed {seed}, "
            f"{how}; Larochelle's fixed binarisation is not used"
        ),
    )


def load_cifar10(root: str | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 (32x32x3, 256 levels) through torchvision from ``<root>/cifar10``."""
    import torchvision

    folder = data_root(root) / "cifar10"
    try:
        train = torchvision.datasets.CIFAR10(str(folder), train=True, download=download)
        test = torchvision.datasets.CIFAR10(str(folder), train=False, download=download)
    except RuntimeError as e:
        raise DatasetNotFound(
            f"CIFAR-10 not found in {folder} ({e}). Run zoo.load_dataset('cifar10', "
            f"download=True) when online, or set ZOO_DATA to a folder holding "
            f"cifar10/cifar-10-batches-py."
        ) from e

    def tensors(ds) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.tensor(ds.targets, dtype=torch.int64)

    x, y = tensors(train)
    tx, ty = tensors(test)
    spec = DataSpec("image", (3, 32, 32), levels=256, labels={"class": 10}, name="cifar10")
    splits = {
        "train": Split(x[:-5000], {"class": y[:-5000]}),
        "valid": Split(x[-5000:], {"class": y[-5000:]}),
        "test": Split(tx, {"class": ty}),
    }
    return Dataset("cifar10", spec, splits, source=f"torchvision CIFAR-10 in {folder}")


def load_npz(path: str, levels: int, seed: int = 0) -> Dataset:
    """Images from an .npz holding ``x`` ([N, C, H, W] or [N, H, W] ints) and optional ``y``."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"no such file: {p}")
    with np.load(p) as f:
        x = torch.from_numpy(f["x"].astype(np.int64))
        y = torch.from_numpy(f["y"].astype(np.int64)) if "y" in f else None
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.min() < 0 or x.max() >= levels:
        raise ValueError(
            f"{p}: x must be [N, C, H, W] integers in [0, {levels}); got shape "
            f"{list(x.shape)}, range [{int(x.min())}, {int(x.max())}]"
        )
    labels = {"class": int(y.max()) + 1} if y is not None else {}
    spec = DataSpec("image", tuple(x.shape[1:]), levels=levels, labels=labels, name=p.stem)
    idx = split_indices(len(x), (0.8, 0.1, 0.1), seed)
    splits = {
        n: Split(x[i], {"class": y[i]} if y is not None else {})
        for n, i in zip(("train", "valid", "test"), idx)
    }
    return Dataset(p.stem, spec, splits, source=f"{p}, split 80/10/10 seed {seed}")
