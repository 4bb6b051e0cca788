"""Masked linear layers and MADE's masks (Germain et al. 2015).

A MADE mask comes from *degrees*: each input unit gets its position in an ordering of the ``D``
dimensions (``1 .. D``), each hidden unit a degree ``m`` in ``[min of the layer below, D - 1]``,
and a unit connects to one below it when its degree is ``>=`` that unit's (hidden layers) or
``>`` it (the output layer). Output ``d`` then depends only on the inputs that come before
``d`` in the ordering: an autoregressive model for any ordering and any hidden degrees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``y = x (W * mask)^T + b`` with the mask given at call time (``[out, in]`` bool/float),
    so that one layer serves every mask of a MADE ensemble."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        w = self.weight if mask is None else self.weight * mask
        return F.linear(x, w, self.bias)


def made_degrees(
    D: int, hidden: tuple[int, ...], generator: torch.Generator, *, order: str
) -> list[torch.Tensor]:
    """Degrees of one MADE mask: ``[input degrees [D], hidden degrees [h] per layer]``.

    ``order``: "natural" (input d has degree d + 1) or "random" (a seeded permutation).
    Hidden degrees are drawn uniformly in ``[min(previous degrees), D - 1]`` (Germain et al.
    2015, section 4); with ``D == 1`` every hidden unit has degree 0 (the output sees no
    input)."""
    if order == "natural":
        deg = torch.arange(1, D + 1)
    elif order == "random":
        deg = torch.randperm(D, generator=generator) + 1
    else:
        raise ValueError(f"order must be 'natural' or 'random', got {order!r}")
    out = [deg]
    low = 1
    for h in hidden:
        if D == 1:
            m = torch.zeros(h, dtype=torch.long)
        else:
            m = torch.randint(low, D, (h,), generator=generator)
            low = int(m.min())
        out.append(m)
    return out


def made_masks(degrees: list[torch.Tensor], params_per_dim: int) -> list[torch.Tensor]:
    """Float masks ``[out, in]`` of every layer from :func:`made_degrees`; the output layer has
    ``params_per_dim * D`` units laid out ``(p d)``: unit ``p * D + d`` belongs to dimension
    ``d`` and sees the hidden units of degree ``< deg_in[d]``."""
    masks = [
        (degrees[i + 1][:, None] >= degrees[i][None, :]).float() for i in range(len(degrees) - 1)
    ]
    out_deg = degrees[0].repeat(params_per_dim)  # [(p d)]
    masks.append((out_deg[:, None] > degrees[-1][None, :]).float())
    return masks
