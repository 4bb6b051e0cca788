"""What FVSBN, NADE and MADE share: an example read as one vector of ``D`` values.

``x: [B, *spec.shape]`` is flattened to ``[B, D]`` (images in raster order, channels of a pixel
first: ``x.reshape(B, -1)``, i.e. colour-major), each value's input is its level scaled to
``[-1, 1]`` (:func:`zoo.nn.discretized.levels_to_unit`), and a network maps the inputs to head
parameters ``[B, P, D]`` whose column ``d`` depends only on the inputs before ``d`` in the
model's ordering. The head (:mod:`zoo.nn.heads`: Bernoulli for two levels, categorical
otherwise, or a discretised logistic where a K-way softmax per dimension would be too many
weights, e.g. 8-bit images) turns them into the exact log-likelihood ``sum_d log p(x_d | x_<d)``.

Sampling draws the dimensions one at a time in the ordering, one full forward pass per value.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.errors import ZooInputError
from zoo.nn.discretized import levels_to_unit
from zoo.nn.heads import make_head


class FlatAutoregressive(LikelihoodModel):
    """Base class: subclasses implement ``params(u, mask_index) -> [B, P, D]`` from the inputs
    ``u: [B, D]`` and ``order(mask_index) -> [D]`` (the dimensions in generation order)."""

    estimate = "exact"
    # the layers take any fixed-length vector, but text and audio chunks (hundreds to thousands
    # of values over a large alphabet) are beyond these models' one-layer conditionals; their
    # board is the image ladder
    modalities = ("image",)

    def __init__(self, spec: DataSpec, *, head: str = "auto") -> None:
        super().__init__(spec)
        self.D, self.K = spec.D, spec.levels
        self.head = make_head(
            head, DataSpec("text", (self.D,), self.K), owner=type(self).__name__,
            allowed=("bernoulli", "categorical", "logistic"),
        )  # fmt: skip
        self.P = self.head.num_params

    # ---------------------------------------------------------------- subclass hooks
    def params(self, u: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        raise NotImplementedError

    def order(self, mask_index: int = 0) -> torch.Tensor:
        return torch.arange(self.D)

    # ---------------------------------------------------------------- likelihood
    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [B, *shape]`` levels -> ``[B, D]`` inputs in ``[-1, 1]``."""
        return levels_to_unit(x.reshape(x.shape[0], -1), self.K)

    def joint(self, x: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """``log p(x)`` under one mask/ordering, ``[B]`` nats."""
        flat = x.reshape(x.shape[0], 1, -1)
        return self.head.log_prob(self.params(self.inputs(x), mask_index), flat).flatten(1).sum(1)

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        return self.joint(x)

    # ---------------------------------------------------------------- sampling
    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        if kw:
            raise ZooInputError(
                f"unknown sampling options {sorted(kw)}; this model takes temperature="
            )
        was_training = self.training
        self.eval()
        try:
            masks = self.sample_masks(n, generator)
            x = torch.zeros(n, self.D, dtype=torch.long, device=self.device)
            for m in masks.unique().tolist():
                rows = (masks == m).nonzero().flatten()
                x[rows] = self._draw(len(rows), m, generator, temperature)
            return x.reshape(n, *self.spec.shape)
        finally:
            self.train(was_training)

    def sample_masks(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Which mask each of ``n`` samples is drawn under (``[n]``; MADE's ensemble draws it
        uniformly: a sample of the mixture)."""
        return torch.zeros(n, dtype=torch.long)

    def _draw(
        self, n: int, mask_index: int, generator: torch.Generator | None, temperature: float
    ) -> torch.Tensor:
        x = torch.zeros(n, self.D, dtype=torch.long, device=self.device)
        for d in self.order(mask_index).tolist():
            p = self.params(levels_to_unit(x, self.K), mask_index)[:, :, d : d + 1]
            x[:, d] = self.head.sample(p, generator, temperature).reshape(n).to(x.device)
        return x
