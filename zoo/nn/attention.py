"""Pre-norm Transformer blocks with causal self-attention and a key/value cache.

A :class:`Block` maps ``h: [B, T, C] -> [B, T, C]``:

    h = h + drop(attn(norm1(h)))          # causal: position t attends to positions <= t
    h = h + drop(mlp(norm2(h)))           # Linear(C, 4C) -> GELU -> Linear(4C, C)

Attention goes through ``torch.nn.functional.scaled_dot_product_attention`` (``is_causal``
for a whole sequence), which picks the fused kernel of the device.

Incremental decoding. Every layer owns its step: :meth:`CausalSelfAttention.step` takes the
one new position ``x_t: [B, 1, C]``, writes its key and value into a :class:`KVCache`
(preallocated ``[B, H, T_max, C/H]``) at ``pos`` and attends over the ``pos + 1`` cached
positions, so generating T tokens costs O(T) per token instead of recomputing the prefix
(O(T^2) per token). :meth:`Block.step` chains the norms, the cached attention and the MLP.
The cached step and the full forward compute the same function (tested to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def dropout(x: torch.Tensor, p: float, module: nn.Module) -> torch.Tensor:
    """``F.dropout`` while ``module`` trains and ``p > 0``; else ``x`` itself (no mask drawn)."""
    return F.dropout(x, p, True) if p and module.training else x


@dataclass
class KVCache:
    """Keys and values of the positions decoded so far, ``[B, H, T_max, C/H]`` each."""

    k: torch.Tensor
    v: torch.Tensor

    @classmethod
    def empty(
        cls, batch: int, heads: int, length: int, head_dim: int, like: torch.Tensor
    ) -> KVCache:
        shape = (batch, heads, length, head_dim)
        return cls(like.new_zeros(shape), like.new_zeros(shape))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, ``[B, T, C] -> [B, T, C]`` (``C`` divisible by
    ``heads``); ``dropout`` on the attention weights and the output while training."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} must be divisible by heads {heads}")
        self.heads, self.dim, self.dropout = heads, dim, dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape  # -> three [B, H, T, C/H]
        q, k, v = self.qkv(x).split(self.dim, dim=2)
        return tuple(t.view(B, T, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        B, _, T, _ = y.shape  # [B, H, T, C/H] -> [B, T, C]
        return dropout(self.proj(y.transpose(1, 2).reshape(B, T, self.dim)), self.dropout, self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(x)
        p = self.dropout if self.training else 0.0
        return self._merge(F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True))

    def step(self, x_t: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
        """One new position ``x_t: [B, 1, C]`` at index ``pos`` -> ``[B, 1, C]``; writes its
        key and value into ``cache`` and attends over positions ``0 .. pos``."""
        B = x_t.shape[0]
        # one position: [B, 1, 3C] -> q, k, v as [B, H, 1, C/H] views, no transposes
        qkv = self.qkv(x_t).view(B, 3, self.heads, 1, self.head_dim)
        cache.k[:, :, pos : pos + 1] = qkv[:, 1]
        cache.v[:, :, pos : pos + 1] = qkv[:, 2]
        y = F.scaled_dot_product_attention(
            qkv[:, 0], cache.k[:, :, : pos + 1], cache.v[:, :, : pos + 1]
        )  # the one query sees every cached position: no mask needed
        return dropout(self.proj(y.reshape(B, 1, self.dim)), self.dropout, self)


class MLP(nn.Module):
    """``[.., C] -> [.., C]``: Linear(C, hidden) -> GELU -> Linear(hidden, C) -> dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, hidden, bias=bias)
        self.proj = nn.Linear(hidden, dim, bias=bias)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(self.proj(F.gelu(self.fc(x))), self.dropout, self)


class Block(nn.Module):
    """One pre-norm Transformer block, ``[B, T, C] -> [B, T, C]``."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: int = 4, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, bias=bias)
        self.attn = CausalSelfAttention(dim, heads, dropout, bias)
        self.norm2 = nn.LayerNorm(dim, bias=bias)
        self.mlp = MLP(dim, mlp_ratio * dim, dropout, bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm1(h))
        return h + self.mlp(self.norm2(h))

    def init_cache(self, batch: int, length: int, like: torch.Tensor) -> KVCache:
        """An empty cache for decoding ``batch`` sequences of up to ``length`` positions."""
        a = self.attn
        return KVCache.empty(batch, a.heads, length, a.head_dim, like)

    def step(self, h_t: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
        """The block at one new position: ``h_t: [B, 1, C]`` -> ``[B, 1, C]``."""
        h_t = h_t + self.attn.step(self.norm1(h_t), cache, pos)
        return h_t + self.mlp(self.norm2(h_t))


def init_gpt_weights(module: nn.Module, layers: int) -> None:
    """GPT-2's initialisation: N(0, 0.02) weights, zero biases, and the projections that add
    into the residual stream scaled by 1/sqrt(2 * layers)."""
    for name, p in module.named_parameters():
        if p.dim() >= 2:
            std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
            nn.init.normal_(p, 0.0, std)
        elif name.endswith("bias") and "norm" not in name:
            nn.init.zeros_(p)
