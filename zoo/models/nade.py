"""NADE: the neural autoregressive distribution estimator (Larochelle & Murray 2011).

One hidden layer whose weights are shared across the conditionals:

    a_d = c + sum_{j<d} W[:, j] u_j,    h_d = sigmoid(a_d),    p(x_d | x_<d) = head(V_d h_d + b_d)

so the ``D`` hidden vectors cost ``O(D H)`` together: ``a_{d+1} = a_d + W[:, d] u_d``, a running
sum. :meth:`NADE.params` computes it in blocks of dimensions with a hand-written backward
(:func:`zoo.nn.nade.nade_params`: nothing of size ``B D H`` is stored, several times faster on a
CPU); :meth:`NADE.params_running_sum` is the same sum as one exclusive cumulative sum over all
``d`` under autograd, and :meth:`NADE.params_naive` recomputes each ``a_d`` from scratch: the
references the tests compare it with. Outputs: Bernoulli for binary data (the paper's),
categorical or discretised logistic otherwise (``P`` parameters per dimension, ``V: [P, H, D]``).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints
from zoo.models.flat_ar import FlatAutoregressive
from zoo.nn.nade import nade_params


class NADE(FlatAutoregressive):
    family = "nade"

    def __init__(self, spec: DataSpec, *, hidden: int = 500, head: str = "auto") -> None:
        super().__init__(spec, head=head)
        check_ints("NADE", hidden=hidden)
        self.hidden = hidden
        self.W = nn.Parameter(torch.randn(hidden, self.D) * (1.0 / self.D**0.5))
        self.c = nn.Parameter(torch.zeros(hidden))
        self.V = nn.Parameter(torch.randn(self.P, hidden, self.D) * (1.0 / hidden**0.5))
        self.b = nn.Parameter(torch.zeros(self.P, self.D))

    def params(self, u: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """``u: [B, D]`` -> ``[B, P, D]``: the running sum in blocks, ``O(B D H)``."""
        return nade_params(u, self.W, self.c, self.V, self.b)

    def params_running_sum(self, u: torch.Tensor) -> torch.Tensor:
        """The same parameters as one cumulative sum over all ``d`` under autograd (keeps
        ``[B, H, D]`` tensors for the backward)."""
        contrib = u[:, None, :] * self.W[None]  # [B, H, D]: W[:, j] u_j
        a = self.c[None, :, None] + torch.cumsum(contrib, 2) - contrib  # sum over j < d
        h = torch.sigmoid(a)
        return torch.einsum("bhd,phd->bpd", h, self.V) + self.b

    def params_naive(self, u: torch.Tensor) -> torch.Tensor:
        """The same parameters, each ``a_d`` computed from scratch (``O(B D^2 H)``)."""
        cols = []
        for d in range(self.D):
            a = self.c + u[:, :d] @ self.W[:, :d].T  # [B, H]
            cols.append(torch.sigmoid(a) @ self.V[:, :, d].T + self.b[:, d])  # [B, P]
        return torch.stack(cols, 2)
