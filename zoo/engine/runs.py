"""Runs end to end: train a registry entry into a run folder, evaluate it, draw samples from
it. The CLI and the benchmark suites call these; they record evaluations on the leaderboard
(``eval_run(..., record=...)``): the engine does not know the results store."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zoo.core import paths
from zoo.core.contract import LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.data import dataset_options, load_dataset
from zoo.data.base import Dataset
from zoo.engine.checkpoint import (
    FORMAT_VERSION,
    atomic_write_bytes,
    atomic_write_json,
    build_from_config,
    code_version,
    full_hparams,
    load_checkpoint,
    load_model,
    read_config,
)
from zoo.engine.device import machine_summary, resolve_device
from zoo.engine.evaluator import evaluate
from zoo.engine.registry import entries, get_entry
from zoo.engine.trainer import StepCallback, TrainConfig, Trainer
from zoo.errors import ZooInputError


class RunExistsError(FileExistsError, ZooInputError):
    """The run folder already holds a run: resume it or pick another folder."""


PYTHON_API = "Python API"  # how a row made without the CLI names its command


def python_api(function: str) -> str:
    """The ``command`` recorded for work started from Python: ``Python API: FUNCTION``."""
    return f"{PYTHON_API}: {function}"


def runs_root() -> Path:
    """Where new run folders go: ``$ZOO_RUNS``, else ``$ZOO_HOME/runs`` (``~/.cache/zoo/runs``;
    see :mod:`zoo.core.paths`)."""
    return paths.runs_root()


def check_batch_fits(model: LikelihoodModel, config: TrainConfig, ds: Dataset) -> None:
    """A gradient model's batch must fit in the training split: a larger one would repeat
    examples within one step, so it is refused (before any run folder is made). Count-based
    models ignore the batch size."""
    n = len(ds["train"])
    if not model.count_based and config.batch_size > n:
        raise ZooInputError(
            f"batch_size {config.batch_size} is larger than the training split of "
            f"{ds.name} ({n} examples): "
            f"give --batch-size {n} or less (batch_size={n} or less from Python)"
        )


def new_run_dir(name: str, base: Path | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (base or runs_root()) / f"{name}-{stamp}-{secrets.token_hex(2)}"


def _dataset_for(config: dict[str, Any]) -> Dataset:
    return load_dataset(config["dataset"], **config.get("data_options", {}))


def initial_model(cfg: dict[str, Any], seed: int) -> LikelihoodModel:
    """The run's untrained model, its initial weights drawn from the training seed alone.

    Whatever the process drew before (other runs of a suite, data loading) does not change
    them, and the caller's random state is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_from_config(cfg)


def train_run(
    name: str,
    *,
    dataset: str | None = None,
    data_options: dict[str, Any] | None = None,
    run_dir: str | os.PathLike | None = None,
    hparams: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    command: str | None = None,
) -> Path:
    """Train registry entry ``name`` (on its default data set unless ``dataset``).

    Every setting is checked (budget, device, hyper-parameters, data set) before the run
    folder is made, so a bad start leaves nothing behind. ``command``: what started the run
    (the CLI passes its command line; default: :data:`PYTHON_API` naming this function),
    kept in ``config.json`` and in every leaderboard row of the run.
    """
    entry = get_entry(name)
    settings = {**entry.train, **{k: v for k, v in (train or {}).items() if v is not None}}
    config = TrainConfig.from_dict(settings)
    resolve_device(config.device)
    ds_name = dataset or entry.dataset
    options = dict(entry.data) if ds_name == entry.dataset else {}
    options.update(data_options or {})
    options = dataset_options(ds_name, **options)
    ds = load_dataset(ds_name, **options)
    resolved = full_hparams(entry.cls_path, {**entry.hparams, **(hparams or {})})
    if run_dir is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ZooInputError("under torchrun, pass --run-dir so that every process uses one folder")
    run = Path(run_dir) if run_dir is not None else new_run_dir(name)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if main_process and (run / "config.json").exists():
        raise RunExistsError(f"{run} already holds a run; use `zoo train --resume {run}`")
    cfg = {
        "format_version": FORMAT_VERSION,
        "entry": name,
        "class": entry.cls_path,
        "family": entry.family,
        "dataset": ds_name,
        "data_options": options,
        "hparams": resolved,
        "train": {k: v for k, v in vars(config).items()},
        "eval": dict(entry.eval),
        "spec": ds.spec.to_dict(),
        "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "torch": torch.__version__,
        "command": command or python_api("zoo.engine.runs.train_run"),
    }
    cfg = json.loads(json.dumps(cfg, default=str))  # the model is built from what is stored
    model = initial_model(cfg, config.seed)
    check_batch_fits(model, config, ds)
    if main_process:
        run.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run / "config.json", cfg)
    _fit_and_record(Trainer(model, ds, config, run, callback=callback), run, main_process)
    return run


def _fit_and_record(trainer: Trainer, run: Path, main: bool, **fit: Any) -> None:
    """Train, then add to config.json (the file as it is) whether the objective ran compiled
    (``compiled``, ``compile_reason``: train.compile="auto" decides per model and machine)."""
    trainer.fit(**fit)
    if main:
        stored = json.loads((run / "config.json").read_text())
        stored["compiled"], stored["compile_reason"] = trainer.compiled, trainer.compile_reason
        atomic_write_json(run / "config.json", stored)


def resume_run(
    run_dir: str | os.PathLike,
    *,
    train: dict[str, Any] | None = None,
    callback: StepCallback | None = None,
    command: str | None = None,
) -> Path:
    """Continue a run from its last good checkpoint (optionally with a larger budget); a run
    killed before its first checkpoint starts again from step 0. ``command`` (what resumed
    it, as for :func:`train_run`) is appended to ``config.json``'s ``resumed_by``."""
    run = Path(run_dir)
    cfg = read_config(run)
    given = {k: v for k, v in (train or {}).items() if v is not None}
    try:
        config = TrainConfig.from_dict({**cfg["train"], **given})
    except ZooInputError as e:
        raise ZooInputError(f"{run / 'config.json'}: field 'train': {e}") from None
    resolve_device(config.device)
    model = initial_model(cfg, config.seed)
    state = load_checkpoint(run, resolve_device(config.device), missing_ok=True)
    done = state["step"] if state is not None else 0
    if given.get("max_steps") is not None and not model.count_based and given["max_steps"] <= done:
        raise ZooInputError(
            f"{run} has already trained {done} steps; --max-steps {given['max_steps']} would "
            f"add none (give more than {done})"
        )
    dataset = _dataset_for(cfg)
    check_batch_fits(model, config, dataset)
    if given:
        cfg["train"] = vars(config)
        atomic_write_json(run / "config.json", cfg)
    main = int(os.environ.get("RANK", "0")) == 0
    if main:  # the file as it is, with provenance added
        stored = json.loads((run / "config.json").read_text())
        stored["resumed_by"] = [
            *stored.get("resumed_by", []),
            command or python_api("zoo.engine.runs.resume_run"),
        ]
        atomic_write_json(run / "config.json", stored)
    trainer = Trainer(model, dataset, config, run, callback=callback)
    _fit_and_record(trainer, run, main, resume=True, state=state)
    return run


def eval_run(
    run_dir: str | os.PathLike,
    *,
    split: str = "test",
    k: int | None = None,
    suite: str | None = None,
    max_examples: int | None = None,
    device: str = "auto",
    record: Callable[[dict[str, Any]], int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run into one leaderboard row, written to the run's ``eval_*.json``; returns
    the row. ``record(row)``, when given, stores it and returns its id, which the row then
    carries (``lambda row: Leaderboard(db).add(row)``, as ``zoo eval`` and the suites do).
    ``progress(done, total)``: examples scored so far, after each batch (a progress bar).

    ``k``: importance samples (default: the entry's declared ``eval: {k: N}``, else 1). Latent
    draws are seeded with the run's training seed, so the row is reproducible.

    Provenance: the row's ``extra`` holds ``command`` (what made this evaluation: the CLI's
    command line, else :data:`PYTHON_API` naming this function) and ``train_command`` (what
    trained the run, from its ``config.json``; absent for runs made before it was recorded).
    """
    run = Path(run_dir)
    cfg = read_config(run)
    entry = entries().get(cfg["entry"])  # None: renamed or removed since the run was trained
    declared_k = entry.eval_k if entry is not None else int(cfg.get("eval", {}).get("k", 1))
    k = declared_k if k is None else k
    dev = resolve_device(device)
    state = load_checkpoint(run, dev)
    model = load_model(run, map_location=dev, state=state)
    if k != 1 and model.estimate not in ("elbo", "iwae"):
        raise ZooInputError(
            f"--iwae-k {k}: {cfg['entry']} is {model.estimate!r}, not a latent-variable bound; "
            "importance samples apply to ELBO models only (leave k at 1)"
        )
    ds = _dataset_for(cfg)
    seed = int(cfg.get("train", {}).get("seed", 0))
    result = evaluate(
        model, ds, split, k=k, max_examples=max_examples, device=dev, seed=seed, progress=progress
    )
    paper = (entry.paper if entry is not None else None) or {}
    paper_applies = (
        paper
        and paper.get("dataset", entry.dataset) == cfg["dataset"]
        and paper.get("split", "test") == split
    )
    extra = dict(result.pop("extra", {}))
    for key in ("stream_perplexity", "stream_tokens", "eval_seconds"):
        if key in result:
            extra[key] = result.pop(key)
    extra["declared"] = k == declared_k  # the estimate the entry is ranked by
    extra["eval_seed"] = seed
    extra["machine"] = machine_summary(dev)
    extra["command"] = command or python_api("zoo.engine.runs.eval_run")
    if cfg.get("command"):
        extra["train_command"] = cfg["command"]
    if cfg.get("resumed_by"):
        extra["resumed_by"] = cfg["resumed_by"]
    if model.num_codes is not None:  # what the views need to judge codebook collapse
        extra["num_codes"] = model.num_codes
    row = {
        "model": cfg["entry"],
        "family": model.family,
        **result,
        "parameters": model.num_parameters(),
        "train_seconds": state.get("train_seconds"),
        "train_steps": state.get("step"),
        "device": str(dev.type),
        "code_version": cfg.get("code_version"),
        "run_dir": str(run.resolve()),
        "suite": suite,
        "paper_value": paper.get("value") if paper_applies else None,
        "paper_unit": paper.get("unit") if paper_applies else None,
        "paper_cite": paper.get("cite") if paper_applies else None,
        "paper_estimate": paper.get("estimate", model.estimate) if paper_applies else None,
        "extra": extra,
    }
    if record is not None:
        row["id"] = record(dict(row))
    atomic_write_json(eval_path(run, row["split"], k), row)  # test[:512] apart from test
    return row


def eval_path(run_dir: str | os.PathLike, split: str = "test", k: int = 1) -> Path:
    """Where ``eval_run`` writes an evaluation: ``eval_test.json``, ``eval_test_k5000.json``,
    ``eval_test_first512.json`` (for ``test[:512]``)."""
    name = split.replace("[:", "_first").rstrip("]")
    return Path(run_dir) / f"eval_{name}{'' if k == 1 else f'_k{k}'}.json"


def write_samples(x: torch.Tensor, spec: DataSpec, out: Path) -> list[Path]:
    """Samples -> files a person can look at or listen to: PNG grid, WAV files or text."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if spec.modality == "image":
        import torchvision.utils as vutils

        grid = vutils.make_grid(
            x.float() / (spec.levels - 1), nrow=int(len(x) ** 0.5) or 1, padding=1, pad_value=0.5
        )
        path = out / "samples.png"
        vutils.save_image(grid, path)
        written.append(path)
    elif spec.modality == "audio":
        import soundfile as sf
        import torchaudio.functional as AF

        wave = AF.mu_law_decoding(x.long(), spec.levels).cpu().numpy()
        for i, w in enumerate(wave):
            path = out / f"sample_{i:03d}.wav"
            sf.write(str(path), w, spec.sample_rate, subtype="PCM_16")
            written.append(path)
    else:
        vocab = spec.vocab or tuple(str(i) for i in range(spec.levels))
        sep = "" if all(len(t) == 1 for t in vocab[2:]) else " "
        texts = []
        for row in x.tolist():
            toks = [("\n" if spec.eos is not None and t == spec.eos else vocab[t]) for t in row]
            texts.append(sep.join(toks).replace(" \n ", "\n"))
        path = out / "samples.txt"
        atomic_write_bytes(path, ("\n\n=====\n\n".join(texts) + "\n").encode())
        written.append(path)
    torch.save(x.cpu(), out / "samples.pt")
    return written


def sample_run(
    run_dir: str | os.PathLike,
    n: int,
    *,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    device: str = "auto",
    cond: dict[str, torch.Tensor] | None = None,
) -> list[Path]:
    run = Path(run_dir)
    dev = resolve_device(device)
    model = load_model(run, map_location=dev)
    g = torch.Generator(device=dev).manual_seed(seed)
    if cond is None:
        cond = model.default_cond(n)  # a conditional model: every class / speaker in turn
    x = model.sample(n, cond=cond, generator=g)
    model.spec.validate(x, what="samples")
    return write_samples(x, model.spec, Path(out) if out else run / "samples")
