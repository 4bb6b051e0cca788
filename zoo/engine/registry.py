"""The zoo's catalogue: ``registry.yaml`` -> list_models / create_model (timm-style).

Run folders are read by ``zoo.load`` (:mod:`zoo.engine.checkpoint`).

An entry names its class by import path (``module:Class``; the class declares its family),
its default data set, hyper-parameters, training settings and, where a paper reported one, the
paper's figure:

    pixelcnn_small_bmnist:
      class: zoo.models.pixelcnn:PixelCNN
      dataset: binarized_mnist
      hparams: {channels: 16, blocks: 15}
      train: {preset: pixel_mnist, max_steps: 1700}
      paper: {value: 81.30, unit: nats, split: test, cite: "van den Oord et al. 2016"}

``train`` is a mapping of trainer settings, or names one of the file's ``train_presets``
(``train: NAME``, or ``train: {preset: NAME, ...}`` whose other settings override the
preset's). A ``family:`` line is accepted where it agrees with the class.

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


def builtin_registry_path() -> Path:
    """The built-in catalogue, ``zoo/registry.yaml`` (package data; a checkout's root
    ``registry.yaml`` is a link to it)."""
    return Path(__file__).resolve().parents[1] / "registry.yaml"


def registry_path() -> Path:
    """The base catalogue: ``$ZOO_REGISTRY_ONLY`` (a file that replaces the built-in one), else
    the built-in catalogue."""
    only = os.environ.get("ZOO_REGISTRY_ONLY")
    return Path(only) if only else builtin_registry_path()


def registry_paths() -> list[Path]:
    """Every registry file read, in order: the base catalogue (:func:`registry_path`), then each
    file of ``$ZOO_REGISTRY`` (several separated by ``os.pathsep``), whose entries are ADDED
    (a name already defined is refused)."""
    extra = [Path(p) for p in os.environ.get("ZOO_REGISTRY", "").split(os.pathsep) if p]
    return [registry_path(), *extra]


@dataclass(frozen=True)
class Entry:
    name: str
    cls_path: str
    dataset: str
    hparams: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # resolved: the preset's + overrides
    data: dict[str, Any] = field(default_factory=dict)  # loader options (seq_len, ...)
    paper: dict[str, Any] | None = None
    description: str = ""
    suites: tuple[str, ...] = ()
    eval: dict[str, Any] = field(default_factory=dict)  # the declared evaluation: {k: 5000}
    train_preset: str | None = None  # the train_presets name ``train`` started from

    @property
    def family(self) -> str:
        """The family its class declares (``LikelihoodModel.family``)."""
        return self.model_class().family

    @property
    def eval_k(self) -> int:
        """Importance samples of the entry's declared evaluation (1: its own estimate)."""
        return int(self.eval.get("k", 1))

    def model_class(self) -> type[LikelihoodModel]:
        try:
            return model_class(self.cls_path)
        except (ValueError, TypeError) as e:
            raise type(e)(f"registry entry {self.name}: {e}") from None


# "family" is optional: the class declares it (a line that disagrees is refused)
ENTRY_FIELDS = (
    "class",
    "dataset",
    "hparams",
    "train",
    "data",
    "paper",
    "description",
    "suites",
    "eval",
    "family",
)
SECTIONS = ("models", "train_presets")


def _train_presets(path: Path, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    presets = raw.get("train_presets") or {}
    if not isinstance(presets, dict):
        raise ZooInputError(f"{path}: 'train_presets' must map preset names to trainer settings")
    for name, settings in presets.items():
        if not isinstance(settings, dict) or "preset" in settings:
            raise ZooInputError(
                f"{path}: train preset {name!r} must be a mapping of trainer settings "
                f"(batch_size, lr, ...) without 'preset', got {settings!r}"
            )
    return presets


def _train(
    path: Path, name: str, train: Any, presets: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], str | None]:
    """An entry's ``train`` -> (its settings, the preset they start from)."""
    if isinstance(train, str):
        train = {"preset": train}
    if not isinstance(train, dict | None):
        raise ZooInputError(
            f"{path}: entry {name!r}: train must be a preset name or a mapping of trainer "
            f"settings, got {train!r}"
        )
    settings = dict(train or {})
    preset = settings.pop("preset", None)
    if preset is None:
        return settings, None
    if preset not in presets:
        close = difflib.get_close_matches(str(preset), list(presets), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "no preset is close"
        raise ZooInputError(
            f"{path}: entry {name!r}: unknown train preset {preset!r}; {hint} "
            f"(presets: {', '.join(sorted(presets)) or 'none'}; add it under 'train_presets')"
        )
    return {**presets[preset], **settings}, preset


def _check_family(path: Path, name: str, body: dict[str, Any]) -> None:
    """A ``family:`` line (the class says it) must agree with the class."""
    if "family" not in body:
        return
    try:
        cls = model_class(body["class"])
    except (ValueError, TypeError) as e:
        raise ZooInputError(f"{path}: entry {name!r}: {e}") from None
    if body["family"] != cls.family:
        raise ZooInputError(
            f"{path}: entry {name!r} says family {body['family']!r} but its class "
            f"{body['class']} is family {cls.family!r}; drop the 'family:' line (the class "
            "declares its family)"
        )


def _parse(
    path: Path, base_presets: dict[str, dict[str, Any]] | None = None
) -> tuple[dict[str, Entry], dict[str, dict[str, Any]]]:
    """One registry file -> (its entries, the train presets visible to later files)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ZooInputError(
            f"registry file not found: {path} (check ZOO_REGISTRY / ZOO_REGISTRY_ONLY)"
        ) from None
    except yaml.YAMLError as e:
        raise ZooInputError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    raw = raw or {}
    if not isinstance(raw, dict) or set(raw) - set(SECTIONS):
        raise ZooInputError(
            f"{path}: a registry holds the sections {' and '.join(SECTIONS)}, got "
            f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}"
        )
    models = raw.get("models")
    if not isinstance(models or {}, dict):
        raise ZooInputError(f"{path}: 'models' must map entry names to their settings")
    presets = {**(base_presets or {}), **_train_presets(path, raw)}
    entries: dict[str, Entry] = {}
    for name, body in (models or {}).items():
        if not isinstance(body, dict) or "class" not in body or "dataset" not in body:
            raise ZooInputError(f"{path}: entry {name!r} needs at least 'class' and 'dataset'")
        unknown = sorted(set(body) - set(ENTRY_FIELDS))
        if unknown:
            raise ZooInputError(
                f"{path}: entry {name!r} has no field {', '.join(map(repr, unknown))}; valid: "
                f"{', '.join(ENTRY_FIELDS)}"
                + (" (tiny-spec overrides live beside the tests)" if "tiny" in unknown else "")
            )
        _check_family(path, name, body)
        train, preset = _train(path, name, body.get("train"), presets)
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
            dataset=body["dataset"],
            hparams=dict(body.get("hparams") or {}),
            train=train,
            data=dict(body.get("data") or {}),
            paper=paper,
            description=body.get("description", ""),
            suites=tuple(body.get("suites") or ()),
            eval=evaluation,
            train_preset=preset,
        )
    return entries, presets


# Entries added from Python by register(), in the order they were added.
_REGISTERED: dict[str, Entry] = {}
ENTRY_POINT_GROUP = "zoo.models"


def _add(merged: dict[str, Entry], new: dict[str, Entry], where: str) -> None:
    clash = sorted(set(merged) & set(new))
    if clash:
        raise ZooInputError(
            f"{where}: model name(s) {', '.join(clash)} already in the catalogue; pick another "
            "name (or set ZOO_REGISTRY_ONLY to replace the built-in catalogue)"
        )
    merged.update(new)


@lru_cache(maxsize=1)
def _entry_point_files() -> tuple[str, ...]:
    """Registry files that installed packages declare under the ``zoo.models`` entry-point
    group: each entry point loads to a registry path (str / Path) or a callable returning one
    (or calling :func:`register` itself and returning None)."""
    from importlib.metadata import entry_points

    files: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                obj = obj()
        except Exception as e:  # a broken plug-in names itself, the zoo still starts
            raise ZooInputError(f"entry point {ep.name!r} ({ep.value}) failed: {e}") from None
        if obj is not None:
            files.append(str(obj))
    return tuple(files)


@lru_cache(maxsize=4)
def _entries_cached(key: tuple[tuple[str, float], ...]) -> dict[str, Entry]:
    merged: dict[str, Entry] = {}
    presets: dict[str, dict[str, Any]] = {}
    for i, (path, _mtime) in enumerate(key):
        new, file_presets = _parse(Path(path), presets)
        if i == 0:
            presets = file_presets
        _add(merged, new, path)
    return merged


def entries() -> dict[str, Entry]:
    """Every catalogue entry: the base file, ``$ZOO_REGISTRY``'s extra files, the registry
    files of installed plug-ins (entry points), then the entries :func:`register` added."""
    paths = [*registry_paths(), *(Path(p) for p in _entry_point_files())]
    key = tuple((str(p), p.stat().st_mtime if p.exists() else 0.0) for p in paths)
    merged = dict(_entries_cached(key))
    for name, entry in _REGISTERED.items():
        _add(merged, {name: entry}, f"zoo.register({name!r})")
    return merged


def register(
    name: str,
    cls: type[LikelihoodModel] | str,
    *,
    dataset: str,
    hparams: dict[str, Any] | None = None,
    train: dict[str, Any] | str | None = None,
    suites: tuple[str, ...] | list[str] = (),
    data: dict[str, Any] | None = None,
    paper: dict[str, Any] | None = None,
    description: str = "",
    eval: dict[str, Any] | None = None,
) -> Entry:
    """Add a model to the catalogue from Python, as a registry file would:

    >>> zoo.register("my_model", MyModel, dataset="digits", hparams={"hidden": 64},
    ...              train={"max_steps": 200, "batch_size": 64, "lr": 1e-3}, suites=["quick"])

    ``cls`` is a :class:`LikelihoodModel` subclass or its ``"module:Class"`` path; ``train``
    a mapping of trainer settings or a preset name of the built-in catalogue. A name already in
    the catalogue is a :class:`ZooInputError`. Returns the entry.
    """
    if isinstance(cls, type):
        if not issubclass(cls, LikelihoodModel):
            raise ZooInputError(f"zoo.register({name!r}): {cls.__name__} is no LikelihoodModel")
        cls_path = f"{cls.__module__}:{cls.__qualname__}"
    else:
        cls_path = str(cls)
    body: dict[str, Any] = {"class": cls_path, "dataset": dataset}
    for key, value in (
        ("hparams", hparams),
        ("train", train),
        ("data", data),
        ("paper", paper),
        ("eval", eval),
    ):
        if value is not None:
            body[key] = value
    if description:
        body["description"] = description
    if suites:
        body["suites"] = list(suites)
    if name in entries():
        raise ZooInputError(
            f"zoo.register({name!r}): that name is already in the catalogue; pick another name"
        )
    base = registry_path()
    presets = _parse(base)[1] if base.exists() else {}
    doc = yaml.safe_dump({"models": {name: body}})
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"zoo-register-{os.getpid()}-{name}.yaml"
    tmp.write_text(doc)
    try:
        new, _ = _parse(tmp, presets)
    finally:
        tmp.unlink(missing_ok=True)
    entry = new[name]
    _REGISTERED[name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove an entry :func:`register` added (tests, notebooks)."""
    _REGISTERED.pop(name, None)


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


def _constructors(cls: type[LikelihoodModel]):
    """The ``__init__`` functions that receive ``cls``'s keyword hyper-parameters: its own, then
    its bases' as long as each passes ``**kwargs`` on."""
    for klass in cls.__mro__:
        if klass is LikelihoodModel or not issubclass(klass, LikelihoodModel):
            return
        init = vars(klass).get("__init__")
        if init is None:
            continue
        yield init
        if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            return


def hparam_types(cls: type[LikelihoodModel]) -> dict[str, Any]:
    """The keyword hyper-parameters ``cls`` accepts -> their annotated types, following
    ``**kwargs`` up to the base classes that receive them."""
    found: dict[str, Any] = {}
    for init in _constructors(cls):
        for name, tp in keyword_types(init).items():
            if name not in ("self", "spec"):
                found.setdefault(name, tp)
    return found


def hparam_defaults(cls: type[LikelihoodModel]) -> dict[str, Any]:
    """The keyword hyper-parameters of ``cls`` that have a default -> the default (the one of
    the class nearest ``cls`` where several constructors declare it)."""
    found: dict[str, Any] = {}
    for init in _constructors(cls):
        for name, p in inspect.signature(init).parameters.items():
            if name not in ("self", "spec") and p.default is not p.empty:
                found.setdefault(name, p.default)
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
