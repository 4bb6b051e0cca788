"""NADE's conditionals in blocks of dimensions, with a hand-written backward (Larochelle &
Murray 2011).

NADE's head parameters are ``out[b, p, d] = sum_h V[p, h, d] sigmoid(a[b, d, h]) + bias[p, d]``
with ``a[b, d] = c + sum_{j<d} W[:, j] u[b, j]``, a running sum over ``d``. Written as tensor
operations over all ``d`` at once, autograd keeps several ``[B, D, H]`` tensors (25 million
floats each at B = 64, D = 784, H = 500) and the step is memory-bound. :func:`nade_params`
walks the dimensions in blocks of ``block``: the running sum is carried from block to block,
each block's ``[B, block, H]`` slab is small enough to stay in cache, and nothing of size
``B D H`` is stored; the backward recomputes each block's hidden units from the carries saved
at the block boundaries (``[B, D / block, H]``) and accumulates the reverse running sum of the
pre-activation gradients, which gives ``dW`` and ``du``. Within a block both running sums are
matrix products with a triangular mask of ones (``torch.cumsum`` and ``flip`` along the middle
dimension took 60% of a step on a CPU).

Shifted form used throughout: ``us = [1, u_0 .. u_{D-2}]`` and ``Ws = [c, W_0 .. W_{D-2}]``
(``[D, H]``), so that ``a[:, d] = sum_{j <= d} us[:, j] Ws[j]`` (inclusive).
"""

from __future__ import annotations

from typing import Any

import torch


def _block_sums(us: torch.Tensor, Ws: torch.Tensor) -> torch.Tensor:
    """``[B, T, H]`` running sums ``a[:, t] = sum_{j <= t} us[:, j] Ws[j]`` of one block
    (``us: [B, T]``, ``Ws: [T, H]``) as one matrix product with a lower-triangular mask:
    ``torch.cumsum`` along the middle dimension is several times slower on a CPU."""
    T = us.shape[1]
    dtype = torch.promote_types(us.dtype, Ws.dtype)
    lower = torch.ones(T, T, dtype=dtype, device=us.device).tril()  # [t, j]: j <= t
    return torch.matmul(us[:, None, :] * lower, Ws.to(dtype))


class _NADEBlocks(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, us: torch.Tensor, Ws: torch.Tensor, Vt: torch.Tensor, block: int
    ) -> torch.Tensor:
        B, D = us.shape
        H = Ws.shape[1]
        P = Vt.shape[0]
        out = us.new_empty(B, P, D)
        carry = us.new_zeros(B, H)
        starts = list(range(0, D, block))
        carries = us.new_empty(B, len(starts), H)  # a just before each block
        for i, s in enumerate(starts):
            e = min(s + block, D)
            carries[:, i] = carry
            a = _block_sums(us[:, s:e], Ws[s:e]).add_(carry[:, None])
            carry = a[:, -1].clone()
            h = a.sigmoid_()
            out[:, :, s:e] = torch.einsum("bth,pth->bpt", h, Vt[:, s:e])
        ctx.save_for_backward(us, Ws, Vt, carries)
        ctx.block = block
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple:  # type: ignore[override]
        us, Ws, Vt, carries = ctx.saved_tensors
        block = ctx.block
        B, D = us.shape
        H = Ws.shape[1]
        g = g.contiguous()
        d_us = us.new_empty(B, D) if ctx.needs_input_grad[0] else None
        d_Ws = torch.empty_like(Ws)
        d_Vt = torch.empty_like(Vt)
        r_carry = us.new_zeros(B, H)  # sum of dL/da over the dimensions after this block
        starts = list(range(0, D, block))
        for i in reversed(range(len(starts))):
            s = starts[i]
            e = min(s + block, D)
            a = _block_sums(us[:, s:e], Ws[s:e]).add_(carries[:, i, None])
            h = a.sigmoid_()  # [B, T, H]
            gb = g[:, :, s:e]  # [B, P, T]
            d_Vt[:, s:e] = torch.einsum("bpt,bth->pth", gb, h)
            ga = torch.einsum("bpt,pth->bth", gb, Vt[:, s:e])
            ga.mul_(h).mul_(1 - h)  # dL/da
            # r[:, t] = sum of ga over t' >= t in this block, plus the later blocks'
            upper = torch.ones(e - s, e - s, dtype=ga.dtype, device=ga.device).triu()
            r = torch.matmul(upper, ga).add_(r_carry[:, None])
            r_carry = r[:, 0].clone()
            d_Ws[s:e] = torch.einsum("bt,bth->th", us[:, s:e], r)
            if d_us is not None:
                d_us[:, s:e] = torch.einsum("th,bth->bt", Ws[s:e], r)
        return d_us, d_Ws, d_Vt, None


def nade_params(
    u: torch.Tensor,
    W: torch.Tensor,
    c: torch.Tensor,
    V: torch.Tensor,
    b: torch.Tensor,
    *,
    block: int | None = None,
) -> torch.Tensor:
    """NADE's head parameters ``[B, P, D]`` from inputs ``u: [B, D]``, input weights
    ``W: [H, D]``, hidden bias ``c: [H]``, output weights ``V: [P, H, D]`` and output bias
    ``b: [P, D]``; dimension ``d`` sees ``u[:, :d]`` only. Differentiable in every argument.
    ``block``: dimensions per block; None: 8 up to a batch of 256, 4 above (the faster of
    the two on one CPU thread at H = 500, timed at batches of 64 and 512)."""
    B, D = u.shape
    if block is None:
        block = 8 if B <= 256 else 4
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    us = torch.cat([u.new_ones(B, 1), u[:, : D - 1]], 1).contiguous()
    Ws = torch.cat([c[:, None], W[:, : D - 1]], 1).t().contiguous()  # [D, H]
    Vt = V.permute(0, 2, 1).contiguous()  # [P, D, H]
    return _NADEBlocks.apply(us, Ws, Vt, block) + b
