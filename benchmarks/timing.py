"""The one way the throughput benchmarks time a training step."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch


def train_images_per_second(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    params: Iterable[torch.nn.Parameter],
    x: torch.Tensor,
    *,
    steps: int,
    warmup: int,
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
    lr: float = 1e-3,
) -> float:
    """Images per second of full training steps (forward, loss, backward, optimizer step) on
    the batch ``x``: ``warmup`` untimed steps, then the mean of ``steps`` timed ones."""
    opt = optimizer(list(params), lr=lr)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return x.shape[0] * steps / (time.perf_counter() - t0)
