"""Run folders and checkpoints, written atomically (temporary name, fsync, rename).

A run folder holds:
    config.json      the resolved configuration (entry, data set, hparams, train settings, spec)
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

from zoo.core.spec import DataSpec

CHECKPOINT = "checkpoints/last.pt"


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
        from zoo import __version__

        return __version__


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{run_dir} is not a zoo run folder (no config.json); pass the folder that "
            f"`zoo train` printed"
        )
    return json.loads(path.read_text())


def build_from_config(config: dict[str, Any]):
    """The model a run's config describes, untrained."""
    from zoo.core.registry import get_entry

    entry = get_entry(config["entry"])
    spec = DataSpec.from_dict(config["spec"])
    model = entry.model_class()(spec, **config["hparams"])
    model.hparams = dict(config["hparams"])
    model.registry_name = config["entry"]
    return model


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet ({CHECKPOINT}); train it first")
    return torch.load(path, map_location=map_location, weights_only=False)


def load_model(run_dir: Path, map_location: str | torch.device = "cpu"):
    """Rebuild a run's model and load its last good checkpoint (eval mode)."""
    model = build_from_config(read_config(run_dir))
    state = load_checkpoint(run_dir, map_location)
    model.load_state_dict(state["model"])
    model.to(map_location)
    model.eval()
    return model
