"""DataSpec: what every consumer of a data set needs to know, and nothing else.

Every data set in the zoo is discrete: images are integer pixels with ``levels`` values,
text is token ids over a vocabulary of ``levels`` symbols, audio is mu-law samples with
``levels`` values. A model is a distribution over tensors of shape ``shape`` with values in
``[0, levels)``; ``D`` is the number of discrete values per example, the denominator of
bits per dimension.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from zoo.errors import ZooInputError

MODALITIES = ("image", "text", "audio")


@dataclass(frozen=True)
class DataSpec:
    """The shape of one example and the alphabet its values come from.

    Attributes:
        modality: "image" (shape [C, H, W]), "text" (shape [T], token ids) or "audio"
            (shape [T], quantised samples).
        shape: the shape of one example, without the batch dimension.
        levels: number of discrete values each entry takes (K pixel levels, vocabulary size,
            mu-law channels).
        sample_rate: samples per second, audio only.
        labels: conditioning labels available with the data, name -> number of classes
            (e.g. {"class": 10} or {"speaker": 6}).
        vocab: the symbols of a text vocabulary, ``vocab[i]`` is token id i (text only).
        eos: token id that ends a sentence in text ("</s>"), if the data has sentences.
        unk: token id that stands for unseen tokens ("<unk>"), if the vocabulary has one.
        name: the data set this spec describes (informational).
    """

    modality: str
    shape: tuple[int, ...]
    levels: int
    sample_rate: int | None = None
    labels: dict[str, int] = field(default_factory=dict)
    vocab: tuple[str, ...] | None = None
    eos: int | None = None
    unk: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "labels", dict(self.labels))
        if self.vocab is not None:
            object.__setattr__(self, "vocab", tuple(self.vocab))
        if self.modality not in MODALITIES:
            raise ZooInputError(
                f"DataSpec.modality must be one of {MODALITIES}, got {self.modality!r}"
            )
        if not self.shape or any(s < 1 for s in self.shape):
            raise ZooInputError(
                f"DataSpec.shape must be non-empty positive sizes, got {self.shape}"
            )
        if self.modality == "image" and len(self.shape) != 3:
            raise ZooInputError(f"image DataSpec.shape must be (C, H, W), got {self.shape}")
        if self.modality in ("text", "audio") and len(self.shape) != 1:
            raise ZooInputError(f"{self.modality} DataSpec.shape must be (T,), got {self.shape}")
        if int(self.levels) < 2:
            raise ZooInputError(f"DataSpec.levels must be >= 2, got {self.levels}")
        if self.modality == "audio" and self.sample_rate is None:
            raise ZooInputError("audio DataSpec needs sample_rate (samples per second)")
        if self.vocab is not None and len(self.vocab) != self.levels:
            raise ZooInputError(
                f"DataSpec.vocab has {len(self.vocab)} symbols but levels={self.levels}"
            )
        for name, tok in (("eos", self.eos), ("unk", self.unk)):
            if tok is not None and not 0 <= tok < self.levels:
                raise ZooInputError(f"DataSpec.{name}={tok} outside [0, {self.levels})")

    # ------------------------------------------------------------------ derived
    @property
    def D(self) -> int:  # noqa: N802 - the field's name in the literature
        """Number of discrete values per example (the bits/dim denominator)."""
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        return self.shape[0] if self.modality == "image" else 1

    @property
    def length(self) -> int:
        """Sequence length for text and audio; raster length C*H*W for images."""
        return self.D

    def with_(self, **changes: Any) -> DataSpec:
        """A copy with some fields changed (``spec.with_(shape=(1, 4, 4))``)."""
        d = asdict(self)
        d.update(changes)
        return DataSpec(**d)

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["vocab"] = list(self.vocab) if self.vocab is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        if d.get("vocab") is not None:
            d["vocab"] = tuple(d["vocab"])
        return cls(**d)

    def __repr__(self) -> str:  # vocab can be 10k symbols: keep repr short
        extra = f", sample_rate={self.sample_rate}" if self.sample_rate else ""
        labels = f", labels={self.labels}" if self.labels else ""
        return (
            f"DataSpec({self.name or self.modality!s}, shape={self.shape}, "
            f"levels={self.levels}{extra}{labels})"
        )

    # ------------------------------------------------------------------ validation
    def validate(self, x: torch.Tensor, *, what: str = "x") -> None:
        """Raise ValueError unless ``x`` is a batch of examples of this spec.

        Expected: an integer tensor of shape [B, *shape] with values in [0, levels).
        """
        if not isinstance(x, torch.Tensor):
            raise ZooInputError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise ZooInputError(
                f"{what} must hold integer levels (int64/int32/uint8) in [0, {self.levels}), "
                f"got dtype {x.dtype}; quantise the data first"
            )
        if tuple(x.shape[1:]) != self.shape or x.dim() != len(self.shape) + 1:
            raise ZooInputError(
                f"{what} must have shape [B, {', '.join(map(str, self.shape))}], "
                f"got {list(x.shape)}"
            )
        if x.numel():
            lo, hi = (int(v) for v in torch.aminmax(x))  # one pass over x, not two
            if lo < 0 or hi >= self.levels:
                raise ZooInputError(
                    f"{what} values must lie in [0, {self.levels}) for {self!r}, "
                    f"got min {lo}, max {hi}"
                )

    def validate_cond(self, cond: dict[str, torch.Tensor] | None, batch: int) -> None:
        """Raise ValueError unless ``cond`` holds known labels of the right size and range."""
        if cond is None:
            return
        if not isinstance(cond, dict):
            raise ZooInputError(f"cond must be a dict of label tensors, got {type(cond).__name__}")
        for name, y in cond.items():
            if name not in self.labels:
                raise ZooInputError(
                    f"unknown conditioning label {name!r}; this spec has {sorted(self.labels)}"
                )
            if not isinstance(y, torch.Tensor) or y.shape != (batch,) or y.is_floating_point():
                raise ZooInputError(
                    f"cond[{name!r}] must be an integer tensor of shape [{batch}], got "
                    f"{getattr(y, 'dtype', type(y).__name__)} {list(getattr(y, 'shape', []))}"
                )
            n = self.labels[name]
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n):
                raise ZooInputError(
                    f"cond[{name!r}] must lie in [0, {n}), got min {int(y.min())}, "
                    f"max {int(y.max())}"
                )
