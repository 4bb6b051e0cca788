"""Argument checks at the edge, shared by every family (``ValueError`` that names the value)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
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


def keyword_group(param: str, group: Any, *, fixed: Iterable[str] = ()) -> Callable:
    """Decorator: a function's keyword-only parameter ``param``, which takes an instance of a
    dataclass (an option group several functions share), becomes that dataclass's fields, each a
    keyword argument of its own whose default is ``group``'s value; the function still receives
    one instance. ``fixed``: fields the function sets itself (no argument). The signature and
    the annotations say the fields, so ``inspect.signature`` and the option checks see them.
    """
    hints = typing.get_type_hints(type(group))
    names = [f.name for f in dataclasses.fields(group) if f.name not in set(fixed)]

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        if sig.parameters[param].kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{fn.__qualname__}: {param} must be keyword-only")
        params: list[inspect.Parameter] = []
        for p in sig.parameters.values():
            if p.name != param:
                params.append(p)
                continue
            params += [
                inspect.Parameter(n, p.KEYWORD_ONLY, default=getattr(group, n), annotation=hints[n])
                for n in names
            ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names if n in kwargs}
            return fn(*args, **kwargs, **{param: dataclasses.replace(group, **given)})

        wrapper.__signature__ = sig.replace(parameters=params)
        annotations = {p.name: p.annotation for p in params if p.annotation is not p.empty}
        wrapper.__annotations__ = {**annotations, "return": sig.return_annotation}
        return wrapper

    return wrap
