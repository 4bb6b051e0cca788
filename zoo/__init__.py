"""zoo: likelihood-based generative models compared in one unit, bits per dimension.

>>> import zoo
>>> spec = zoo.DataSpec("image", (1, 8, 8), levels=17)
>>> model = zoo.create_model("pixelcnn_digits", spec)
>>> model.log_prob(x)  # [B] nats, exact; model.estimate says so

Names are imported lazily, so ``zoo.leaderboard`` and the CLI's light commands start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "DataSpec": "zoo.core.spec",
    "ZooInputError": "zoo.errors",
    "LikelihoodModel": "zoo.core.contract",
    "bits_per_dim": "zoo.core.metrics",
    "create_model": "zoo.engine.registry",
    "get_entry": "zoo.engine.registry",
    "list_models": "zoo.engine.registry",
    "register": "zoo.engine.registry",
    "unregister": "zoo.engine.registry",
    "load": "zoo.engine.checkpoint",
    "load_dataset": "zoo.data",
    "list_datasets": "zoo.data",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
