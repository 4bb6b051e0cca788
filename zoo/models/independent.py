"""The reference point of every leaderboard: each value independent of all others.

``p(x) = prod_d softmax(theta_d)[x_d]``: one categorical per position (per sub-pixel for
images, per time step for sequences), optionally one table per class. Its bits/dim is what a
model gains nothing from structure would score; an untrained one scores exactly log2 K.

With ``pseudo_count`` set, the model is the baseline of every leaderboard: fitted in closed
form (``fit``, no gradient), the maximum-likelihood tables smoothed by adding ``pseudo_count``
to every count, ``p_d(v) = (n_d(v) + a) / (n_d + K a)`` (a = 1/2: Krichevsky-Trofimov, a = 1:
Laplace). Without it, it is a toy trained by gradient (the trainer's tests use it so).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.nn.discretized import categorical_log_prob, sample_categorical


class Independent(LikelihoodModel):
    family = "independent"
    estimate = "exact"

    def __init__(
        self,
        spec: DataSpec,
        *,
        shared: bool = False,
        conditional: bool = False,
        pseudo_count: float | None = None,
    ) -> None:
        """``shared``: one distribution for all positions (a unigram); ``conditional``: one
        table per value of the spec's first label (e.g. per class); ``pseudo_count``: fit in
        closed form with this count added to every value (None: train by gradient)."""
        super().__init__(spec)
        if conditional and not spec.labels:
            raise ValueError(f"conditional=True needs a labelled spec; {spec!r} has no labels")
        if pseudo_count is not None and not pseudo_count > 0:
            raise ValueError(f"pseudo_count must be > 0 (1/2, 1...) or None, got {pseudo_count!r}")
        self.label = next(iter(spec.labels)) if conditional else None
        self.shared = shared
        self.pseudo_count = pseudo_count
        self.count_based = pseudo_count is not None  # the trainer then calls fit()
        tables = spec.labels[self.label] if conditional else 1
        positions = 1 if shared else spec.D
        self.logits = nn.Parameter(torch.zeros(tables, positions, spec.levels))

    @property
    def cond_labels(self) -> tuple[str, ...]:
        return () if self.label is None else (self.label,)

    @torch.no_grad()
    def fit(self, batches: Any) -> Independent:
        """Closed-form fit: count every value per position (and per class), add
        ``pseudo_count``, normalise. ``batches``: ``(x, labels)`` batches or a 1-D token stream
        (shared tables only). Replaces any earlier fit; returns self."""
        if self.pseudo_count is None:
            raise TypeError("this Independent is trained by gradient; give pseudo_count to fit()")
        K = self.spec.levels
        counts = torch.zeros(self.logits.shape, dtype=torch.float64)  # [tables, P, K]
        if isinstance(batches, torch.Tensor) and batches.dim() == 1:
            if not self.shared or self.label is not None:
                raise ValueError("a token stream fits only a shared, unconditional table")
            batches = [(batches.reshape(1, -1), {})]
        for x, labels in batches:
            flat = x.reshape(x.shape[0], -1).long().cpu()  # [B, D]
            table = labels[self.label].long().cpu() if self.label else torch.zeros(len(x)).long()
            position = torch.zeros_like(flat) if self.shared else torch.arange(flat.shape[1])
            index = (table[:, None] * counts.shape[1] + position) * K + flat
            counts.view(-1).index_add_(0, index.reshape(-1), torch.ones(index.numel()).double())
        if counts.sum() == 0:
            raise ValueError("cannot fit the independent model to an empty training set")
        self.logits.copy_((counts + self.pseudo_count).log().float())
        return self

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
