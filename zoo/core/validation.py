"""Argument checks at the edge, shared by every family (``ValueError`` that names the value)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def check_choice(owner: str, name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming it and the choices."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {choices}, got {value!r}")
    return value


def check_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def check_sequence(x: Any, levels: int) -> None:
    """``x`` must be an integer tensor ``[B, T]`` (any T) of levels in ``[0, levels)``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.is_floating_point():
        raise ValueError(
            f"x must be an integer tensor [B, T] of levels in [0, {levels}), got "
            f"{getattr(x, 'dtype', type(x).__name__)} {list(getattr(x, 'shape', []))}"
        )
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise ValueError(
            f"x values must lie in [0, {levels}), got min {int(x.min())}, max {int(x.max())}"
        )


def check_ints(owner: str, minimum: int = 1, **values: Any) -> None:
    """:func:`check_int` for each ``name=value``, all with the same ``minimum``."""
    for name, value in values.items():
        check_int(owner, name, value, minimum)
