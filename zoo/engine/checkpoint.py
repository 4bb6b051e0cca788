"""Run folders and checkpoints, written atomically (temporary name, fsync, rename).

A run folder holds:
    config.json      the resolved configuration (format_version, entry, class, family, data
                     set, spec) in full: hparams with the constructor's defaults filled in,
                     data_options with the loader's, every train setting, the declared eval
    checkpoints/last.pt   the last state (model, optimiser, step, phase, elapsed time, and
                     the length metrics.jsonl had when it was written)
    checkpoints/prev.pt   the state before it: used, with a warning, when last.pt is unreadable
    metrics.jsonl    one JSON object per logged step / validation
    samples/         PNG grids, WAV files or text written by `zoo sample`
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from zoo.core.contract import LikelihoodModel, model_class
from zoo.core.spec import DataSpec
from zoo.engine.registry import (
    UnknownModelError,
    check_hparams,
    get_entry,
    hparam_defaults,
    resolve_nested,
)
from zoo.errors import ZooInputError

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoints/last.pt"
PREVIOUS = "checkpoints/prev.pt"
CONFIG_FIELDS = {"entry": str, "dataset": str, "spec": dict, "hparams": dict, "train": dict}

# The run folder format, written into config.json as "format_version" (absent: version 1).
#   1: the config names the registry entry only; each family names its output distribution
#      with its own keyword (decoder_head=, likelihood=, output=) and its own "auto" rule.
#   2: the config also names the class ("module:Class"), so a renamed registry entry does not
#      orphan the run; every family names its output distribution head=, and "auto" means
#      the one rule of zoo.nn.heads.resolve_head (version 1's "auto" is resolved when migrated).
#      Folders written since also record everything the run was built with (hparams and
#      data_options with their defaults filled in, "eval": the declared evaluation), so that a
#      later change of a default or of the registry entry does not change or orphan the run;
#      a version-2 folder without them loads as before (the missing values are today's
#      defaults and entry).
FORMAT_VERSION = 2

# Version 1 -> 2: the old keyword of each class's output distribution and its "auto" rule
# (levels, modality) -> head; classes absent here already used head= with today's rule.
_V1_HEADS: dict[str, tuple[str, Any]] = {
    "zoo.models.vae:VAE": (
        "decoder_head",
        lambda k, modality: (
            "bernoulli"
            if k == 2
            else "categorical"
            if modality == "text" or k <= 64
            else "logistic"
        ),
    ),
    "zoo.models.vqvae:VQVAE": (
        "likelihood",
        lambda k, modality: (
            "bernoulli"
            if k == 2
            else "logistic"
            if modality == "image" and k > 64
            else "categorical"
        ),
    ),
    "zoo.models.wavenet:WaveNet": ("output", lambda k, modality: "categorical"),
    "zoo.models.wavenet_ae:WaveNetAutoencoder": ("output", lambda k, modality: "categorical"),
}


class RunFormatError(ZooInputError):
    """A run folder this version of zoo cannot read or migrate."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def atomic_torch_save(obj: Any, path: Path, *, keep: Path | None = None) -> None:
    """``torch.save`` to a temporary name, fsync, rename; ``keep``: the file it replaces is
    first renamed there (the previous checkpoint stays beside the last) unless it is no
    torch.save archive (empty, truncated), which would push out a good previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if keep is not None and zipfile.is_zipfile(path):  # a truncated one is not kept
            os.replace(path, keep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_jsonl(path: Path, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj, default=float) + "\n")


def code_version() -> str:
    """The git commit of the checkout (with '+dirty' when it has changes), else the version."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():  # an installed package: no checkout around it
        from zoo import __version__

        return __version__
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return __version__


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json, checked and migrated to today's format (the file is left
    as it is): errors name the file and the missing or invalid field."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ZooInputError(
            f"{run_dir} is not a zoo run folder (no config.json); pass the folder that "
            f"`zoo train` printed"
        )
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooInputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ZooInputError(f"{path}: must hold a JSON object, got {type(cfg).__name__}")
    for name, kind in CONFIG_FIELDS.items():
        if name not in cfg:
            raise ZooInputError(f"{path}: field {name!r} is missing")
        if not isinstance(cfg[name], kind):
            raise ZooInputError(
                f"{path}: field {name!r} must be a {kind.__name__}, got {cfg[name]!r:.80}"
            )
    try:
        DataSpec.from_dict(cfg["spec"])
    except ZooInputError as e:
        raise ZooInputError(f"{path}: {e}") from None
    except (KeyError, TypeError) as e:
        raise ZooInputError(f"{path}: field 'spec' is invalid ({type(e).__name__}: {e})") from None
    cfg = migrate_config(cfg, path)
    try:
        model_class(cfg["class"])
    except (ValueError, TypeError) as e:
        raise ZooInputError(f"{path}: field 'class' is invalid ({e})") from None
    return cfg


def migrate_config(config: dict[str, Any], run_dir: Path | str = "") -> dict[str, Any]:
    """A run's config in today's format (:data:`FORMAT_VERSION`); the folder is not rewritten.

    Raises :class:`RunFormatError` (one line: what is wrong, what to do) for a folder that
    cannot be migrated.
    """
    where = f"{run_dir}: " if run_dir else ""
    version = config.get("format_version", 1)
    if not isinstance(version, int) or version < 1:
        raise RunFormatError(
            f"{where}config.json has format_version {version!r}; expected an int >= 1"
        )
    if version > FORMAT_VERSION:
        raise RunFormatError(
            f"{where}run folder format {version} is newer than this zoo reads "
            f"({FORMAT_VERSION}); upgrade zoo to load it"
        )
    config = dict(config)
    if version == 1:
        config = _v1_to_v2(config, where)
    return config


def _v1_to_v2(config: dict[str, Any], where: str) -> dict[str, Any]:
    if "class" not in config:
        try:
            config["class"] = get_entry(config["entry"]).cls_path
        except (KeyError, UnknownModelError):
            raise RunFormatError(
                f"{where}cannot migrate this format-1 run folder: its registry entry "
                f"{config.get('entry')!r} no longer exists and config.json does not name the "
                'model\'s class; add "class": "module:Class" to its config.json'
            ) from None
    old = _V1_HEADS.get(config["class"])
    if old is not None:
        keyword, auto_rule = old
        hparams = dict(config["hparams"])
        head = hparams.pop(keyword, None) or hparams.get("head") or "auto"
        if head == "auto":
            spec = config["spec"]
            head = auto_rule(int(spec["levels"]), spec["modality"])
        hparams["head"] = head
        config["hparams"] = hparams
    config["format_version"] = 2
    return config


def full_hparams(cls_path: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``hparams`` with every constructor default of the class filled in, as a run folder
    records them (a deprecated head keyword given is recorded as ``head``; left out, it is not
    recorded)."""
    hparams = dict(hparams)
    old = _V1_HEADS.get(cls_path, (None,))[0]
    if old is not None and hparams.get(old) is not None and "head" not in hparams:
        hparams["head"] = hparams.pop(old)
    defaults = hparam_defaults(model_class(cls_path))
    defaults.pop(old, None)
    return {**defaults, **hparams}


def build_from_config(config: dict[str, Any]):
    """The model a run's config describes, untrained (``config`` in any readable format)."""
    config = migrate_config(config)
    spec = DataSpec.from_dict(config["spec"])
    try:
        cls = model_class(config["class"])
    except ValueError as e:
        raise RunFormatError(f"cannot rebuild the run's model: {e}") from None
    check_hparams(cls, config["hparams"], config["entry"])
    try:
        model = cls(spec, **resolve_nested(cls, config["hparams"]))
    except ZooInputError:
        raise
    except ValueError as e:  # the model's own checks of its hyper-parameters' values
        raise ZooInputError(f"{config['entry']}: {e}") from e
    model.hparams = dict(config["hparams"])
    model.registry_name = config["entry"]
    return model


def _read_state(path: Path, map_location: str | torch.device) -> tuple[dict | None, str]:
    """(state, "") or (None, why it is unreadable) for one checkpoint file."""
    if path.stat().st_size == 0:
        return None, "empty file"
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated or foreign bytes: zipfile, pickle, torch, EOF errors
        return None, " ".join(f"{type(e).__name__}: {e}".split())[:160]
    if not isinstance(state, dict) or not {"model", "step"} <= set(state):
        return None, "not a zoo checkpoint"
    return state, ""


def load_checkpoint(
    run_dir: Path, map_location: str | torch.device = "cpu", *, missing_ok: bool = False
) -> dict[str, Any] | None:
    """The last good checkpoint: last.pt, else (with a warning) prev.pt. No checkpoint at
    all: None with ``missing_ok``, else an error; none readable: an error naming the file."""
    run_dir = Path(run_dir)
    files = [run_dir / name for name in (CHECKPOINT, PREVIOUS) if (run_dir / name).exists()]
    if not files:
        if missing_ok:
            return None
        raise ZooInputError(f"{run_dir} has no checkpoint yet ({CHECKPOINT}); train it first")
    problems = []
    for path in files:
        state, why = _read_state(path, map_location)
        if state is not None:
            if problems:
                log.warning("%s; using %s (step %d) instead", problems[0], path, state["step"])
            return state
        problems.append(f"checkpoint {path} is unreadable ({why})")
    raise ZooInputError(
        "; ".join(problems) + f"; no good checkpoint is left: train {run_dir} again"
    )


def load_model(
    run_dir: Path, map_location: str | torch.device = "cpu", *, state: dict | None = None
) -> LikelihoodModel:
    """Rebuild a run's model and load its last good checkpoint, or ``state`` (eval mode):
    the EMA weights where the run kept them (train.ema), else the trained weights."""
    model = build_from_config(read_config(run_dir))
    if state is None:
        state = load_checkpoint(run_dir, map_location)
    try:
        model.load_state_dict(state.get("ema") or state["model"])
    except RuntimeError as e:
        raise ZooInputError(
            f"the checkpoint in {run_dir} does not fit the model its config.json describes "
            f"({' '.join(str(e).split())[:160]})"
        ) from None
    model.to(map_location)
    model.eval()
    return model


def load(
    run_dir: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> LikelihoodModel:
    """``zoo.load``: rebuild a trained model from a run folder (its last good checkpoint)."""
    return load_model(Path(run_dir), map_location=map_location)
