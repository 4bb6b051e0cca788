"""Data sets -> DataSpec + integer tensors, for every modality.

``load_dataset(name, **options)`` returns a :class:`~zoo.data.base.Dataset`. Loaders are
imported lazily so that using one modality never imports another's dependencies.

Embedded defaults (need nothing but installed packages): ``digits`` (scikit-learn's 8x8
digits, 17 levels), ``pydoc_char`` / ``pydoc_word`` (CPython's pydoc_data topics), and
``spoken_digits`` (a multi-voice spoken-digit set synthesised with eSpeak NG) and
``spoken_words`` (phone-aligned carrier phrases in 16 eSpeak voices of both genders).
Phone-aligned real speech: ``timit`` (TIMIT's layout) and ``aligned_folder`` (audio with
``.PHN`` or ``.TextGrid`` alignments). Real data sets read from ``data_root()``
(``$ZOO_DATA``, default ``../shared/datasets``).
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

from zoo.data.base import SPLITS, Dataset, DatasetNotFound, Split, data_root
from zoo.errors import ZooInputError, check_options, keyword_types

# name -> "module:function"; each function takes keyword options and returns a Dataset.
DATASETS: dict[str, str] = {
    # images
    "digits": "zoo.data.images:load_digits",
    "mnist": "zoo.data.images:load_mnist",
    "binarized_mnist": "zoo.data.images:load_binarized_mnist",
    "cifar10": "zoo.data.images:load_cifar10",
    "image_folder_npz": "zoo.data.images:load_npz",
    # text
    "pydoc_char": "zoo.data.text:load_pydoc_char",
    "pydoc_word": "zoo.data.text:load_pydoc_word",
    "ptb_word": "zoo.data.text:load_ptb_word",
    "ptb_char": "zoo.data.text:load_ptb_char",
    "shakespeare_char": "zoo.data.text:load_shakespeare_char",
    "shakespeare_word": "zoo.data.text:load_shakespeare_word",
    "textfile": "zoo.data.text:load_textfile",
    # speech
    "spoken_digits": "zoo.data.speech:load_spoken_digits",
    "spoken_words": "zoo.data.words:load_spoken_words",
    "fsdd": "zoo.data.speech:load_fsdd",
    "wavfolder": "zoo.data.speech:load_wavfolder",
    "librispeech": "zoo.data.speech:load_librispeech",
    "vctk": "zoo.data.speech:load_vctk",
    "timit": "zoo.data.aligned:load_timit",
    "aligned_folder": "zoo.data.aligned:load_aligned_folder",
}

EMBEDDED = ("digits", "pydoc_char", "spoken_digits", "spoken_words")

_CACHE: dict[str, Dataset] = {}


def list_datasets() -> list[str]:
    return sorted(DATASETS)


def _loader(name: str):
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, list(DATASETS), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ZooInputError(f"unknown data set {name!r}{hint}; known: {', '.join(DATASETS)}")
    module, _, fn = DATASETS[name].partition(":")
    return getattr(importlib.import_module(module), fn)


def dataset_options(name: str, **options: Any) -> dict[str, Any]:
    """``options`` checked against data set ``name``'s loader and completed with its defaults:
    every option ``load_dataset(name, **options)`` loads with (a run folder records them)."""
    loader = _loader(name)
    check_options(keyword_types(loader), options, f"data set {name!r}", "option")
    defaults = {
        k: p.default
        for k, p in inspect.signature(loader).parameters.items()
        if p.default is not p.empty
    }
    return {**defaults, **options}


def load_dataset(name: str, **options: Any) -> Dataset:
    """Load (and cache in this process) a data set by name; options go to its loader. Options
    left out and the same options given at their defaults load (and cache) the same data."""
    options = dataset_options(name, **options)
    key = name + json.dumps(options, sort_keys=True, default=str)
    if key not in _CACHE:
        try:
            _CACHE[key] = _loader(name)(**options)
        except ZooInputError:
            raise
        except ValueError as e:  # the loader's own checks of its options and files
            raise ZooInputError(f"data set {name!r}: {e}") from e
    return _CACHE[key]


__all__ = [
    "DATASETS",
    "EMBEDDED",
    "SPLITS",
    "Dataset",
    "DatasetNotFound",
    "Split",
    "data_root",
    "dataset_options",
    "list_datasets",
    "load_dataset",
]
