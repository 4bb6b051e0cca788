"""The one error type for bad input, and the type check that input gets at the edge.

``ZooInputError`` says that what a person gave (a name, a flag, a file, a hyper-parameter,
a tensor of the wrong shape) is wrong, and what to do instead. The CLI prints its message
on one line and exits 2; any other exception is a bug in zoo and keeps its traceback
(exit 1). It subclasses ``ValueError`` so ``except ValueError`` keeps catching it.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any


class ZooInputError(ValueError):
    """Bad input: the message names what was wrong and what to do."""

    def __str__(self) -> str:  # subclasses that also derive from KeyError must not quote it
        return str(self.args[0]) if self.args else ""


class UnknownNameError(ZooInputError, KeyError):
    """A name that does not exist (model, data set split...); also a ``KeyError``."""


def type_name(tp: Any) -> str:
    if tp is inspect.Parameter.empty:
        return "any"
    return inspect.formatannotation(tp).replace("NoneType", "None")


def value_fits(value: Any, tp: Any) -> bool:
    """Does ``value`` (from YAML or JSON) fit the annotation ``tp``? Unknown types pass."""
    if tp is inspect.Parameter.empty or tp is Any or isinstance(tp, str):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if (origin or tp) in (tuple, list):  # JSON turns tuples into lists
        if not isinstance(value, (tuple, list)):
            return False
        item = args[0] if args and (len(args) == 1 or args[1:] == (...,)) else None
        if item is not None:
            return all(value_fits(v, item) for v in value)
        return not args or (len(args) == len(value) and all(map(value_fits, value, args)))
    if (origin or tp) is dict:
        return isinstance(value, dict)
    return True


def check_options(accepted: dict[str, Any], given: dict[str, Any], where: str, what: str) -> None:
    """``given`` keyword options against ``accepted`` (name -> annotation): an unknown name or
    a value of the wrong type is a ZooInputError that lists the valid names and types."""
    valid = ", ".join(f"{k}: {type_name(t)}" for k, t in accepted.items()) or "none"
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ZooInputError(
            f"{where} has no {what} {', '.join(map(repr, unknown))}; valid: {valid}"
        )
    for k, v in given.items():
        if not value_fits(v, accepted[k]):
            raise ZooInputError(
                f"{where}: {what} {k}={v!r} must be {type_name(accepted[k])}; valid: {valid}"
            )


def keyword_types(fn: Any) -> dict[str, Any]:
    """The keyword parameters of a function -> their annotations (``inspect.Parameter.empty``
    where there is none)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: names without types
        hints = {}
    return {
        name: hints.get(name, p.annotation)
        for name, p in inspect.signature(fn).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
