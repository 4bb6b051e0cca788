"""Run folders and checkpoints, written atomically (temporary name, fsync, rename).

A run folder holds:
    config.json      the resolved configuration (format_version, entry, class, data set,
                     hparams, train settings, spec)
    checkpoints/last.pt   the last good state (model, optimiser, step, phase, elapsed time)
    metrics.jsonl    one JSON object per logged step / validation
    samples/         PNG grids, WAV files or text written by `zoo sample`
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo import __version__
from zoo.core.contract import LikelihoodModel, model_class
from zoo.core.registry import UnknownModelError, get_entry
from zoo.core.spec import DataSpec

CHECKPOINT = "checkpoints/last.pt"

# The run folder format, written into config.json as "format_version" (absent: version 1).
#   1: the config names the registry entry only; each family names its output distribution
#      with its own keyword (decoder_head=, likelihood=, output=) and its own "auto" rule.
#   2: the config also names the class ("module:Class"), so a renamed registry entry does not
#      orphan the run; every family names its output distribution head=, and "auto" means
#      the one rule of zoo.nn.heads.resolve_head (version 1's "auto" is resolved when migrated).
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


class RunFormatError(ValueError):
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


def atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
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
    """A run folder's config.json, migrated to today's format (the file is left as it is)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{run_dir} is not a zoo run folder (no config.json); pass the folder that "
            f"`zoo train` printed"
        )
    return migrate_config(json.loads(path.read_text()), run_dir)


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


def build_from_config(config: dict[str, Any]):
    """The model a run's config describes, untrained (``config`` in any readable format)."""
    config = migrate_config(config)
    spec = DataSpec.from_dict(config["spec"])
    try:
        cls = model_class(config["class"])
    except ValueError as e:
        raise RunFormatError(f"cannot rebuild the run's model: {e}") from None
    model = cls(spec, **config["hparams"])
    model.hparams = dict(config["hparams"])
    model.registry_name = config["entry"]
    return model


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet ({CHECKPOINT}); train it first")
    return torch.load(path, map_location=map_location, weights_only=False)


def load_model(run_dir: Path, map_location: str | torch.device = "cpu") -> LikelihoodModel:
    """Rebuild a run's model and load its last good checkpoint (eval mode)."""
    model = build_from_config(read_config(run_dir))
    state = load_checkpoint(run_dir, map_location)
    model.load_state_dict(state["model"])
    model.to(map_location)
    model.eval()
    return model


def load(
    run_dir: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> LikelihoodModel:
    """``zoo.load``: rebuild a trained model from a run folder (its last good checkpoint)."""
    return load_model(Path(run_dir), map_location=map_location)
