"""The zoo's catalogue: ``registry.yaml`` -> list_models / create_model (timm-style).

Run folders are read by ``zoo.load`` (:mod:`zoo.engine.checkpoint`).

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
import inspect
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from zoo.core.contract import LikelihoodModel, model_class
from zoo.core.spec import DataSpec
from zoo.data import load_dataset
from zoo.errors import UnknownNameError, ZooInputError, check_options, keyword_types

PAPER_UNITS = ("nats", "bits/dim", "perplexity", "bits/char")


class UnknownModelError(UnknownNameError):
    """A registry name that does not exist; the message suggests the closest ones."""


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
        try:
            return model_class(self.cls_path)
        except (ValueError, TypeError) as e:
            raise type(e)(f"registry entry {self.name}: {e}") from None


def _parse(path: Path) -> dict[str, Entry]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ZooInputError(f"registry file not found: {path} (set ZOO_REGISTRY)") from None
    except yaml.YAMLError as e:
        raise ZooInputError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    models = (raw or {}).get("models") if isinstance(raw, dict) else None
    if not isinstance(models or {}, dict):
        raise ZooInputError(f"{path}: 'models' must map entry names to their settings")
    entries: dict[str, Entry] = {}
    for name, body in (models or {}).items():
        if not isinstance(body, dict) or "class" not in body or "dataset" not in body:
            raise ZooInputError(f"{path}: entry {name!r} needs at least 'class' and 'dataset'")
        paper = body.get("paper")
        if paper is not None and paper.get("unit") not in PAPER_UNITS:
            raise ZooInputError(f"{path}: entry {name!r}: paper.unit must be one of {PAPER_UNITS}")
        evaluation = dict(body.get("eval") or {})
        if set(evaluation) - {"k"} or not (
            isinstance(evaluation.get("k", 1), int) and evaluation.get("k", 1) >= 1
        ):
            raise ZooInputError(
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
    """Registry names matching a shell-style pattern (``list_models("pixel*")``); a bare word
    without ``*?[`` matches as a substring (``list_models("digits")``)."""
    if not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"
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
        spec = load_dataset(entry.dataset, **entry.data).spec
    return build_model(entry, spec, {**entry.hparams, **overrides})


def hparam_types(cls: type[LikelihoodModel]) -> dict[str, Any]:
    """The keyword hyper-parameters ``cls`` accepts -> their annotated types, following
    ``**kwargs`` up to the base classes that receive them."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass is LikelihoodModel or not issubclass(klass, LikelihoodModel):
            break
        init = vars(klass).get("__init__")
        if init is None:
            continue
        for name, tp in keyword_types(init).items():
            if name not in ("self", "spec"):
                found.setdefault(name, tp)
        if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            break
    return found


def check_hparams(cls: type[LikelihoodModel], hparams: dict[str, Any], where: str) -> None:
    """Unknown names and values of the wrong type -> ZooInputError listing the valid ones."""
    check_options(hparam_types(cls), hparams, f"{where}: {cls.__name__}", "hyper-parameter")


def resolve_nested(cls: type[LikelihoodModel], hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` with each nested model that ``cls.nested_models`` declares and that names
    a registry entry (the VQ-VAE's ``prior="pixelcnn_prior"``) replaced by the entry's class
    path, the entry's hyper-parameters under the given overrides, checked like any entry's.
    Class paths and the "none" value pass through; ``hparams`` itself is left as it is."""
    resolved = dict(hparams)
    for name, (sub_hparams, none) in cls.nested_models.items():
        value = hparams.get(name)
        if not isinstance(value, str) or value == none or ":" in value:
            continue
        entry = get_entry(value)  # UnknownModelError names the closest entries
        merged = {**entry.hparams, **(hparams.get(sub_hparams) or {})}
        check_hparams(entry.model_class(), merged, entry.name)
        resolved[name] = entry.cls_path
        resolved[sub_hparams] = resolve_nested(entry.model_class(), merged)
    return resolved


def build_model(entry: Entry, spec: DataSpec, hparams: dict[str, Any]) -> LikelihoodModel:
    """``entry``'s model on ``spec`` with ``hparams``, checked against its constructor."""
    cls = entry.model_class()
    check_hparams(cls, hparams, entry.name)
    try:
        model = cls(spec, **resolve_nested(cls, hparams))
    except ZooInputError:
        raise
    except ValueError as e:  # the model's own checks of its hyper-parameters' values
        raise ZooInputError(f"{entry.name}: {e}") from e
    model.hparams = dict(hparams)
    model.registry_name = entry.name
    return model
