"""Whether the trainer compiles a model's objective (``torch.compile``), and the fallback.

``train.compile`` is ``True``, ``False`` or ``"auto"`` (the default). ``"auto"`` compiles
where a committed benchmark shows it pays (the model class declares ``compile_pays = True``;
see ``docs/speed.md``) and where it can work: on CPU with a C++ compiler on the path, or on
CUDA. The environment variable ``ZOO_COMPILE`` overrides the setting: ``0`` never compiles,
``1`` compiles whatever the model declares (``auto`` or unset: the setting decides).

A compiled objective that fails (no C++ compiler, a dynamo or inductor error, an unsupported
device) falls back to the eager objective for the rest of the run, with one logged warning;
the step that failed is computed again eagerly, so a failure never costs a step or a crash.
The compiled and the eager objective compute the same function; their floating-point sums
may differ in the last bits (fused kernels add in another order), so a run records whether
it was compiled (``Trainer.compiled``, the run's ``config.json`` ``compiled`` and a
``{"kind": "compile"}`` line in ``metrics.jsonl``).
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Literal

import torch
from torch import nn

from zoo.core.contract import LikelihoodModel
from zoo.errors import ZooInputError

log = logging.getLogger(__name__)

CompileSetting = bool | Literal["auto"]
ENV = "ZOO_COMPILE"
_ENV_VALUES = {"0": False, "false": False, "1": True, "true": True, "auto": "auto", "": "auto"}


def env_setting() -> CompileSetting:
    """``ZOO_COMPILE`` as a setting (unset: ``"auto"``, i.e. the config decides)."""
    raw = os.environ.get(ENV, "").strip().lower()
    if raw not in _ENV_VALUES:
        raise ZooInputError(f"{ENV} must be 0, 1 or auto, got {os.environ[ENV]!r}")
    return _ENV_VALUES[raw]


def can_compile(device: torch.device) -> tuple[bool, str]:
    """Whether ``torch.compile`` can be expected to work on ``device`` here, and why not."""
    if not torch._dynamo.is_dynamo_supported():
        return False, "torch.compile is not supported on this Python"
    if device.type == "cpu":
        cxx = os.environ.get("CXX")
        if not any(shutil.which(c) for c in ([cxx] if cxx else []) + ["g++", "c++", "clang++"]):
            return False, "no C++ compiler on the path (inductor needs one on CPU)"
        return True, "cpu with a C++ compiler"
    if device.type == "cuda":
        return True, "cuda"
    return False, f"torch.compile is not used on {device.type}"


def decide(
    setting: CompileSetting,
    model: LikelihoodModel,
    device: torch.device,
    steps: int | None = None,
) -> tuple[bool, str]:
    """Whether to compile ``model``'s objective on ``device`` for the config's ``setting``
    (``ZOO_COMPILE`` overriding it) in a run of ``steps`` steps (None: long enough), and the
    reason in words."""
    env = env_setting()
    if env != "auto":
        setting, source = env, f"{ENV}={os.environ[ENV]}"
    else:
        source = f"train.compile={setting!r}"
    if setting is False:
        return False, f"{source}: eager"
    if setting == "auto" and not model.compile_pays:
        return False, f"{source}: {type(model).__name__} does not declare compile_pays: eager"
    payback = type(model).compile_payback_steps
    if setting == "auto" and steps is not None and steps < payback:
        return False, f"{source}: {steps} steps do not repay compiling ({payback}): eager"
    ok, why = can_compile(device)
    if not ok:
        return False, f"{source}: {why}: eager"
    return True, f"{source}: compiled ({why})"


class CompiledObjective(nn.Module):
    """``model.loss`` with its body (``_loss``) compiled: arguments are validated eagerly (the
    data-dependent checks would break the graph), then the compiled ``_loss`` runs; on any
    error from it, the eager ``_loss`` runs instead, now and for the rest of the run (one
    warning). ``compiled`` says which path the last call took.

    ``forward(x, cond)``: ``x [B, *spec.shape]`` int64 in ``[0, levels)`` -> (loss, parts).
    """

    def __init__(self, model: LikelihoodModel, **options: Any) -> None:
        super().__init__()
        self.model = model
        self.compiled = True
        self.failure: str | None = None
        try:
            self._fn = torch.compile(model._loss, **options)
        except Exception as e:  # torch.compile itself refused
            self._fall_back(e)

    def _fall_back(self, e: Exception) -> None:
        self.compiled = False
        first = str(e).splitlines()[0] if str(e) else ""
        self.failure = f"{type(e).__name__}: {first}"[:300]
        log.warning(
            "torch.compile of %s's objective failed (%s); training continues eagerly",
            type(self.model).__name__,
            self.failure,
        )

    def forward(self, x: torch.Tensor, cond: dict | None):
        self.model.spec.validate(x)
        self.model.spec.validate_cond(cond, x.shape[0])
        x = x.long()
        if self.compiled:
            try:
                return self._fn(x, cond=cond)
            except Exception as e:  # compilation failed: eager from now on
                self._fall_back(e)
        return self.model._loss(x, cond=cond)
