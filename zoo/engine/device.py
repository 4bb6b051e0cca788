"""Device choice and the distributed context (torchrun + DistributedDataParallel)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from zoo.errors import ZooInputError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks cuda > mps > cpu; anything else must be available or it is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ZooInputError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ZooInputError(f"device {device!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ZooInputError(
            f"device {device!r} asked for, but CUDA is not available here with that index "
            f"(this machine has {torch.cuda.device_count()} GPU(s))"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ZooInputError(f"device {device!r} asked for, but MPS is not available here")
    return dev


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun set up (WORLD_SIZE > 1): nccl on GPU, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def machine_summary(device: torch.device) -> str:
    """One line naming where a number was measured: CPU model and cores (or the GPU), torch
    version and threads."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    where = f"{os.cpu_count()}-core {cpu}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} ({where})"
    return f"{where}, torch {torch.__version__}, {torch.get_num_threads()} threads"
