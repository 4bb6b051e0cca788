"""The reference point of every leaderboard: each value independent of all others.

``p(x) = prod_d softmax(theta_d)[x_d]``: one categorical per position (per sub-pixel for
images, per time step for sequences), optionally one table per class. Its bits/dim is what a
model gains nothing from structure would score; an untrained one scores exactly log2 K.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.nn.discretized import categorical_log_prob, sample_categorical


class Independent(LikelihoodModel):
    family = "independent"
    estimate = "exact"

    def __init__(self, spec: DataSpec, *, shared: bool = False, conditional: bool = False) -> None:
        """``shared``: one distribution for all positions (a unigram); ``conditional``: one
        table per value of the spec's first label (e.g. per class)."""
        super().__init__(spec)
        if conditional and not spec.labels:
            raise ValueError(f"conditional=True needs a labelled spec; {spec!r} has no labels")
        self.label = next(iter(spec.labels)) if conditional else None
        tables = spec.labels[self.label] if conditional else 1
        positions = 1 if shared else spec.D
        self.logits = nn.Parameter(torch.zeros(tables, positions, spec.levels))

    def _table(self, cond: Cond, batch: int) -> torch.Tensor:  # [B, P, K]
        if self.label is None:
            return self.logits.expand(batch, -1, -1)
        if cond is None or self.label not in cond:
            raise ValueError(f"this model is conditional: pass cond={{'{self.label}': [B] ids}}")
        return self.logits[cond[self.label]]

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)  # x: [B, *shape] -> [B, D]
        logits = self._table(cond, x.shape[0]).expand(-1, flat.shape[1], -1)
        return categorical_log_prob(logits, flat, dim=-1).sum(-1)

    def _sample(self, n: int, *, cond: Cond, generator=None, temperature: float = 1.0):
        logits = self._table(cond, n).expand(-1, self.spec.D, -1)
        x = sample_categorical(logits, dim=-1, generator=generator, temperature=temperature)
        return x.reshape(n, *self.spec.shape)
