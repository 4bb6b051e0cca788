"""Argument checks at the edge, shared by every family (``ValueError`` that names the value)."""

from __future__ import annotations

from typing import Any


def check_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``, else a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def check_ints(owner: str, minimum: int = 1, **values: Any) -> None:
    """:func:`check_int` for each ``name=value``, all with the same ``minimum``."""
    for name, value in values.items():
        check_int(owner, name, value, minimum)
