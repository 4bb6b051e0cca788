"""zoo: likelihood-based generative models compared in one unit, bits per dimension.

>>> import zoo
>>> spec = zoo.DataSpec("image", (1, 8, 8), levels=17)
>>> model = zoo.create_model("pixelcnn_small_digits", spec)
>>> model.log_prob(x)  # [B] nats, exact; model.estimate says so
"""

from zoo.core.contract import LikelihoodModel
from zoo.core.metrics import bits_per_dim
from zoo.core.registry import create_model, get_entry, list_models, load
from zoo.core.spec import DataSpec

__version__ = "0.1.0"


def load_dataset(name: str, **options):
    """Load a data set by name (see ``zoo.data.DATASETS``); lazily imported."""
    from zoo.data import load_dataset as _load

    return _load(name, **options)


__all__ = [
    "DataSpec",
    "LikelihoodModel",
    "bits_per_dim",
    "create_model",
    "get_entry",
    "list_models",
    "load",
    "load_dataset",
]
