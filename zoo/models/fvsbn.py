"""FVSBN: the fully visible sigmoid belief network (Frey 1998; Neal 1992).

The simplest exact autoregressive model: a logistic (or softmax) regression of each dimension
on all the previous ones, ``p(x_d | x_<d) = head(b_d + sum_{j<d} W_dj u_j)``, with ``u`` the
inputs of :mod:`zoo.models.flat_ar` and ``W`` strictly lower triangular (``P`` rows per
dimension for heads with ``P`` parameters). ``D (D - 1) / 2`` weights per head parameter: the
baseline of the binarized-MNIST ladder (97.45 nats, Larochelle & Murray 2011).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.spec import DataSpec
from zoo.models.flat_ar import FlatAutoregressive


class FVSBN(FlatAutoregressive):
    family = "fvsbn"

    def __init__(self, spec: DataSpec, *, head: str = "auto") -> None:
        super().__init__(spec, head=head)
        self.weight = nn.Parameter(torch.zeros(self.P * self.D, self.D))
        self.bias = nn.Parameter(torch.zeros(self.P * self.D))
        # row (p, d) sees the inputs j < d
        tril = torch.tril(torch.ones(self.D, self.D), diagonal=-1)
        self.register_buffer("mask", tril.repeat(self.P, 1), persistent=False)

    def params(self, u: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """``u: [B, D]`` -> ``[B, P, D]``."""
        return F.linear(u, self.weight * self.mask, self.bias).view(-1, self.P, self.D)
