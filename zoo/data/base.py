"""The in-memory data set every loader returns: a DataSpec and integer tensors per split."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from zoo.core.spec import DataSpec
from zoo.errors import UnknownNameError, ZooInputError

SPLITS = ("train", "valid", "test")


class DatasetNotFound(FileNotFoundError, ZooInputError):
    """A data set's files are missing; the message says where we looked and how to get them."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where real data sets live: ``root``, else ``$ZOO_DATA``, else ``../shared/datasets``.

    The default is relative to the project checkout (the folder holding ``registry.yaml``),
    so tests and benchmarks find the shared data sets whatever the working directory.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("ZOO_DATA")
    if env:
        return Path(env).expanduser()
    project = Path(__file__).resolve().parents[2]
    if (project / "pyproject.toml").exists():  # a checkout: its sibling shared/ folder
        return (project / ".." / "shared" / "datasets").resolve()
    # an installed package: the user's data folder
    base = Path(os.environ.get("XDG_DATA_HOME", "~/.local/share")).expanduser()
    return base / "zoo" / "datasets"


@dataclass
class Split:
    """One split: ``x`` is ``[N, *spec.shape]`` integer levels, ``labels`` name -> ``[N]``.

    ``resample(idx, seed)``, where set, draws fresh examples for the rows ``idx`` (dynamic
    binarisation): the trainer uses it for training batches, a pure function of (idx, seed).
    ``phones``, where set (phone-aligned speech), is ``[N, T]`` int64: the phone index of every
    sample of ``x`` (the data set's ``meta["phone_names"]``), -1 where there is none.
    """

    x: torch.Tensor
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    resample: Callable[[torch.Tensor, int], torch.Tensor] | None = None
    phones: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: torch.Tensor | slice) -> Split:
        phones = self.phones[index] if self.phones is not None else None
        return Split(self.x[index], {k: v[index] for k, v in self.labels.items()}, phones=phones)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Yield ``(x, labels)`` batches; int64 tensors on the CPU."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for i in range(0, stop, batch_size):
            idx = order[i : i + batch_size]
            yield self.x[idx].long(), {k: v[idx].long() for k, v in self.labels.items()}


@dataclass
class Dataset:
    """A data set ready for every family: spec, splits and provenance."""

    name: str
    spec: DataSpec
    splits: dict[str, Split]
    source: str = ""  # where the data came from, shown on the leaderboard
    meta: dict = field(default_factory=dict)  # loader-specific facts (vocab stats, OOV policy)

    @property
    def phone_names(self) -> tuple[str, ...]:
        """The phone inventory of a phone-aligned data set (``Split.phones`` index it)."""
        return tuple(self.meta.get("phone_names", ()))

    def __getitem__(self, split: str) -> Split:
        if split not in self.splits:
            raise UnknownNameError(
                f"data set {self.name!r} has no split {split!r}; it has {sorted(self.splits)}"
            )
        return self.splits[split]

    def summary(self) -> str:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.splits.items())
        return f"{self.name}: {self.spec!r}; {sizes}; source: {self.source}"


def split_indices(n: int, fractions: tuple[float, float, float], seed: int) -> list[torch.Tensor]:
    """A deterministic shuffled split of ``range(n)`` into train/valid/test index tensors."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    return [order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]]


def has_data(*relative: str, root: str | os.PathLike | None = None) -> bool:
    """Whether every path exists under the data root (tests and benchmarks skip on False)."""
    base = data_root(root)
    return all((base / r).exists() for r in relative)
