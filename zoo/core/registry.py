"""The zoo's catalogue: ``registry.yaml`` -> list_models / create_model / load (timm-style).

An entry names its class by import path (``module:Class``), its family, its default data set,
hyper-parameters, training settings and, where a paper reported one, the paper's figure:

    pixelcnn_small_bmnist:
      class: zoo.models.pixelcnn:PixelCNN
      dataset: binarized_mnist
      hparams: {channels: 16, blocks: 15}
      train: {batch_size: 32, lr: 1.0e-3}
      paper: {value: 81.30, unit: nats, split: test, cite: "van den Oord et al. 2016"}

A latent-variable entry may declare the estimate it is scored by, ``eval: {k: 5000}`` (IWAE-k);
``paper.estimate`` names the paper's (``exact``, ``elbo``, ``iwae-5000``, ``bound``; default:
the model's own), so the leaderboard puts like beside like.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from zoo.core.contract import LikelihoodModel
from zoo.core.spec import DataSpec

PAPER_UNITS = ("nats", "bits/dim", "perplexity", "bits/char")


class UnknownModelError(KeyError, ValueError):
    """A registry name that does not exist; the message suggests the closest ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def registry_path() -> Path:
    """``$ZOO_REGISTRY`` or the ``registry.yaml`` at the project root."""
    env = os.environ.get("ZOO_REGISTRY")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "registry.yaml"


@dataclass(frozen=True)
class Entry:
    name: str
    cls_path: str
    family: str
    dataset: str
    hparams: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # loader options (seq_len, ...)
    paper: dict[str, Any] | None = None
    description: str = ""
    tiny: dict[str, Any] = field(default_factory=dict)  # overrides for tiny-spec tests
    suites: tuple[str, ...] = ()
    eval: dict[str, Any] = field(default_factory=dict)  # the declared evaluation: {k: 5000}

    @property
    def eval_k(self) -> int:
        """Importance samples of the entry's declared evaluation (1: its own estimate)."""
        return int(self.eval.get("k", 1))

    def model_class(self) -> type[LikelihoodModel]:
        module, _, attr = self.cls_path.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, LikelihoodModel)):
            raise TypeError(f"registry entry {self.name}: {self.cls_path} is no LikelihoodModel")
        return cls


def _parse(path: Path) -> dict[str, Entry]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise FileNotFoundError(f"registry file not found: {path} (set ZOO_REGISTRY)") from e
    models = (raw or {}).get("models") or {}
    entries: dict[str, Entry] = {}
    for name, body in models.items():
        if not isinstance(body, dict) or "class" not in body or "dataset" not in body:
            raise ValueError(f"{path}: entry {name!r} needs at least 'class' and 'dataset'")
        paper = body.get("paper")
        if paper is not None and paper.get("unit") not in PAPER_UNITS:
            raise ValueError(f"{path}: entry {name!r}: paper.unit must be one of {PAPER_UNITS}")
        evaluation = dict(body.get("eval") or {})
        if set(evaluation) - {"k"} or not (
            isinstance(evaluation.get("k", 1), int) and evaluation.get("k", 1) >= 1
        ):
            raise ValueError(
                f"{path}: entry {name!r}: eval must be {{k: N}} with N >= 1 importance samples, "
                f"got {evaluation}"
            )
        entries[name] = Entry(
            name=name,
            cls_path=body["class"],
            family=body.get("family", ""),
            dataset=body["dataset"],
            hparams=dict(body.get("hparams") or {}),
            train=dict(body.get("train") or {}),
            data=dict(body.get("data") or {}),
            paper=paper,
            description=body.get("description", ""),
            tiny=dict(body.get("tiny") or {}),
            suites=tuple(body.get("suites") or ()),
            eval=evaluation,
        )
    return entries


@lru_cache(maxsize=4)
def _entries_cached(path: str, mtime: float) -> dict[str, Entry]:
    return _parse(Path(path))


def entries() -> dict[str, Entry]:
    path = registry_path()
    mtime = path.stat().st_mtime if path.exists() else 0.0
    return _entries_cached(str(path), mtime)


def get_entry(name: str) -> Entry:
    all_entries = entries()
    if name not in all_entries:
        close = difflib.get_close_matches(name, list(all_entries), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `zoo list`"
        raise UnknownModelError(f"unknown model {name!r}{hint}")
    return all_entries[name]


def list_models(pattern: str = "*", *, family: str | None = None) -> list[str]:
    """Registry names matching a shell-style pattern (``list_models("pixel*")``)."""
    return sorted(
        n
        for n, e in entries().items()
        if fnmatch.fnmatch(n, pattern) and (family is None or e.family == family)
    )


def create_model(name: str, spec: DataSpec | None = None, **overrides: Any) -> LikelihoodModel:
    """Build a registry entry's model on ``spec`` (default: its data set's spec).

    ``overrides`` replace the entry's hyper-parameters.
    """
    entry = get_entry(name)
    if spec is None:
        from zoo.data import load_dataset

        spec = load_dataset(entry.dataset, **entry.data).spec
    hparams = {**entry.hparams, **overrides}
    model = entry.model_class()(spec, **hparams)
    model.hparams = dict(hparams)
    model.registry_name = name
    return model


def load(run_dir: str | os.PathLike, *, map_location: str = "cpu") -> LikelihoodModel:
    """Rebuild a trained model from a run folder (its last good checkpoint)."""
    from zoo.core.checkpoint import load_model

    return load_model(Path(run_dir), map_location=map_location)
