"""What the benchmarks share: timing a training step, writing a results file."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


def write_results(name: str, fields: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/NAME.json``: when, where and with what it ran, then ``fields``."""
    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    record = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
