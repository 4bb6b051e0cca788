"""One training loop for every family: it knows the contract, never a family.

Gradient models are optimised on ``model.loss`` with AdamW, warm-up + cosine schedule,
gradient clipping, bf16 autocast on CUDA, a step and/or time budget, periodic validation in
bits/dim and atomic, resumable checkpoints (every ``checkpoint_every`` steps and every
``checkpoint_minutes`` of wall time; the clock decides when a checkpoint is written, never
what is trained). Count-based models (``model.count_based``) are
fitted once with ``model.fit``. Multi-phase models (VQ-VAE + prior) run their
``model.phases`` in order, each on its share of the budget.

Batches are a pure function of (seed, step) (a model may order them itself through
``train_batch_indices``: an LSTM's consecutive stream chunks): resuming reproduces the same
data order, and
under torchrun each rank takes its slice of the same global batch, so DDP with N processes
follows the 1-process run with the same global batch.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.core.contract import LikelihoodModel
from zoo.core.metrics import LN2
from zoo.data.base import Dataset, Split
from zoo.engine.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    append_jsonl,
    atomic_torch_save,
    load_checkpoint,
)
from zoo.engine.compiling import CompiledObjective, CompileSetting, decide
from zoo.engine.device import DistContext, init_distributed, resolve_device
from zoo.engine.evaluator import eval_batch_size
from zoo.errors import ZooInputError, type_name, value_fits

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_steps: int | None = 1000
    max_minutes: float | None = None
    warmup_steps: int = 50
    schedule: str = "cosine"  # cosine | constant
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int = 250
    eval_examples: int = 512
    checkpoint_every: int = 250
    checkpoint_minutes: float | None = 5.0  # also checkpoint after this much wall time
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast where the device has it (CUDA)
    # torch.compile the objective: True, False, or "auto" (where the model class declares
    # compile_pays and compilation can work here); ZOO_COMPILE=0/1 overrides (engine.compiling)
    compile: CompileSetting = "auto"
    # Polyak/EMA weights (Salimans et al. 2017): decay d of an average of the weights after
    # each optimizer step, used for validation, evaluation and sampling; None: off.
    ema: float | None = None

    def __post_init__(self) -> None:
        types = typing.get_type_hints(TrainConfig)
        for f in fields(self):
            value = getattr(self, f.name)
            if not value_fits(value, types[f.name]):
                raise ZooInputError(f"{f.name} must be {type_name(types[f.name])}, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ZooInputError(f"{f.name} must be a finite number, got {value!r}")
        if self.batch_size < 1:
            raise ZooInputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr <= 0:
            raise ZooInputError(f"lr must be > 0, got {self.lr}")
        if self.max_steps is None and self.max_minutes is None:
            raise ZooInputError("give max_steps or max_minutes (or both): a run needs a budget")
        if self.max_steps is not None and self.max_steps < 0:
            raise ZooInputError(f"max_steps must be >= 0, got {self.max_steps}")
        for name in ("max_minutes", "checkpoint_minutes"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ZooInputError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ZooInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise ZooInputError(f"ema must be a decay in [0, 1) (e.g. 0.9995), got {self.ema}")
        if self.schedule not in ("cosine", "constant"):
            raise ZooInputError(f"schedule must be cosine or constant, got {self.schedule!r}")
        self.betas = tuple(self.betas)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ZooInputError(f"unknown train settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The global batch of a step: epoch-wise permutations seeded by (seed, epoch)."""
    per_epoch = max(n // batch_size, 1)
    epoch, pos = divmod(step, per_epoch)
    perm = _epoch_permutation(n, batch_size, seed, epoch)
    return perm[pos * batch_size : (pos + 1) * batch_size].clone()


@functools.lru_cache(maxsize=2)
def _epoch_permutation(n: int, batch_size: int, seed: int, epoch: int) -> torch.Tensor:
    """One epoch's permutation, drawn once per epoch instead of once per step (a randperm of
    50,000 is ~0.2 ms, a visible part of a small model's step); a pure function of its
    arguments, so the batches are the same."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)
    if n < batch_size:  # tiny data sets: repeat the permutation to fill the batch
        perm = perm.repeat(math.ceil(batch_size / n))
    return perm


class _Objective(nn.Module):
    """Wraps ``model.loss`` as ``forward`` so DistributedDataParallel can sync gradients."""

    def __init__(self, model: LikelihoodModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, cond: dict | None):
        return self.model.loss(x, cond=cond)


StepCallback = Callable[[dict[str, Any]], None]


class Trainer:
    """Train ``model`` on ``dataset`` into ``run_dir``.

    ``callback(event)`` receives dicts with ``kind`` in {"start", "step", "valid", "phase",
    "end"}: the CLI draws its progress bar from them; the library never prints.
    """

    def __init__(
        self,
        model: LikelihoodModel,
        dataset: Dataset,
        config: TrainConfig,
        run_dir: Path,
        *,
        callback: StepCallback | None = None,
    ) -> None:
        if model.spec.shape != dataset.spec.shape or model.spec.levels != dataset.spec.levels:
            raise ValueError(
                f"model was built for {model.spec!r} but the data set is {dataset.spec!r}"
            )
        self.model = model
        self.dataset = dataset
        self.config = config
        self.run_dir = Path(run_dir)
        self.callback = callback or (lambda event: None)
        self.device = resolve_device(config.device)
        self.dist: DistContext = init_distributed(self.device)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.step = 0  # global step across phases
        self.phase_index = 0
        self.phase_step = 0
        self.phase_seconds = 0.0
        self.train_seconds = 0.0
        self.optimizer: torch.optim.Optimizer | None = None
        self.ema: dict[str, torch.Tensor] | None = None  # the EMA weights (config.ema)
        self.ema_updates = 0
        self.saved_at = time.monotonic()  # wall clock of the last checkpoint
        self.compiled = False  # whether the objective ran compiled (engine.compiling)
        self.compile_reason = "not trained by gradient"

    # ------------------------------------------------------------------ public
    def fit(self, *, resume: bool = False, state: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the training; returns a summary (steps, seconds, last validation).

        ``resume``: continue from the run's last good checkpoint (``state``, when the caller
        has read it already), or from step 0 when it has none yet. metrics.jsonl is cut back
        to what it held when that checkpoint was written, so a killed run's steps after it
        are not logged twice.
        """
        torch.manual_seed(self.config.seed)
        self.model.to(self.device)
        if resume and state is None:
            state = load_checkpoint(self.run_dir, self.device, missing_ok=True)
        if resume and self.dist.is_main:
            self._cut_metrics(state.get("metrics_bytes") if state is not None else 0)
        self.saved_at = time.monotonic()
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.step, self.phase_index = state["step"], state["phase_index"]
            self.phase_step, self.train_seconds = state["phase_step"], state["train_seconds"]
            self.phase_seconds = state["phase_seconds"]
            torch.set_rng_state(state["rng_cpu"])
            if state.get("ema") is not None:
                self.ema = {k: v.to(self.device) for k, v in state["ema"].items()}
                self.ema_updates = int(state.get("ema_updates", 0))
        self._emit({"kind": "start", "resume": state is not None, "step": self.step})
        if self.model.count_based:
            summary = self._fit_counts(already=state is not None)
        else:
            summary = self._fit_gradient(state)
        self._emit({"kind": "end", **summary})
        if self.dist.enabled:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
        return summary

    # ------------------------------------------------------------------ count-based
    def _fit_counts(self, already: bool) -> dict[str, Any]:
        if not already:
            t0 = time.perf_counter()
            train = self.dataset["train"]
            stream = self.dataset.meta.get("streams", {}).get("train")
            self.model.fit(stream if stream is not None else train.batches(4096))
            self.train_seconds = time.perf_counter() - t0
            self.step = 1
            self._save()
        valid = self._validate()
        append_jsonl(self.metrics_path, {"step": self.step, "phase": "fit", **valid})
        return {"steps": self.step, "train_seconds": self.train_seconds, **valid}

    # ------------------------------------------------------------------ gradient
    def _phase_budget(self, i: int) -> tuple[int | None, float | None]:
        frac = self.model.phase_fractions[i] if len(self.model.phases) > 1 else 1.0
        steps = self.config.max_steps
        minutes = self.config.max_minutes
        return (
            None if steps is None else max(int(round(steps * frac)), 1 if steps else 0),
            None if minutes is None else minutes * frac,
        )

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(
                f"{type(self.model).__name__} has no trainable parameters in phase "
                f"{self.model.phases[self.phase_index]!r}"
            )
        c = self.config
        fused = self.device.type == "cuda"
        return torch.optim.AdamW(
            params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay, fused=fused or None
        )

    def _lr(self, phase_step: int, phase_steps: int | None) -> float:
        c = self.config
        if phase_step < c.warmup_steps:
            return c.lr * (phase_step + 1) / c.warmup_steps
        if c.schedule == "constant" or not phase_steps:
            return c.lr
        progress = min((phase_step - c.warmup_steps) / max(phase_steps - c.warmup_steps, 1), 1.0)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine)

    def _fit_gradient(self, state: dict | None) -> dict[str, Any]:
        c = self.config
        train = self.dataset["train"]
        if c.batch_size % self.dist.world_size:
            raise ValueError(
                f"batch_size {c.batch_size} must divide evenly over {self.dist.world_size} "
                f"processes (it is the global batch)"
            )
        local = c.batch_size // self.dist.world_size
        use_amp = c.amp and self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        objective: nn.Module = _Objective(self.model)
        self.compiled, self.compile_reason = decide(
            c.compile, self.model, self.device, steps=c.max_steps
        )
        if self.compiled:
            objective = CompiledObjective(self.model)
        first_step = True
        valid: dict[str, Any] = {}
        if self.step == 0:
            valid = self._validate()  # the starting point of the learning curve
        phases = self.model.phases
        if self.phase_index == len(phases) and state is not None:
            # a finished run resumed with a larger budget re-opens its last phase
            steps, minutes = self._phase_budget(len(phases) - 1)
            more_steps = steps is None or self.phase_step < steps
            more_time = minutes is None or self.phase_seconds < minutes * 60
            if more_steps and more_time:
                self.phase_index = len(phases) - 1
        while self.phase_index < len(phases):
            phase = phases[self.phase_index]
            self.model.set_phase(phase)
            self.model.train()
            max_steps, max_minutes = self._phase_budget(self.phase_index)
            self.optimizer = self._make_optimizer()
            if state is not None and state.get("optimizer") is not None:
                self.optimizer.load_state_dict(state["optimizer"])
                state = None
            wrapped = objective
            if self.dist.enabled:
                wrapped = nn.parallel.DistributedDataParallel(
                    objective,
                    device_ids=[self.device.index] if self.device.type == "cuda" else None,
                )
            self._emit({"kind": "phase", "phase": phase, "max_steps": max_steps})
            t_window, n_window = time.perf_counter(), 0
            while True:
                if max_steps is not None and self.phase_step >= max_steps:
                    break
                if max_minutes is not None and self._agreed(self.phase_seconds >= max_minutes * 60):
                    break
                t_step = time.perf_counter()
                idx = self.model.train_batch_indices(len(train), c.batch_size, self.step, c.seed)
                if idx is None:
                    idx = batch_indices(len(train), c.batch_size, self.step, c.seed)
                idx = idx[self.dist.rank * local : (self.dist.rank + 1) * local]
                if train.resample is not None:  # dynamic binarisation: fresh bits per step
                    x = train.resample(idx, c.seed * 1_000_003 + self.step)
                else:
                    x = train.x[idx]
                x = x.long().to(self.device, non_blocking=True)
                cond = {k: v[idx].long().to(self.device) for k, v in train.labels.items()}
                lr = self._lr(self.phase_step, max_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.model.set_step(self.step)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_amp):
                    loss, parts = wrapped(x, cond or None)
                if not torch.isfinite(loss):
                    msg = (
                        f"loss became {float(loss.detach())} at step {self.step} (phase {phase}); "
                        f"training stopped. The last good checkpoint is kept in "
                        f"{self.run_dir / CHECKPOINT}. Lower the learning rate "
                        f"(now {lr:.3g}) or enable gradient clipping."
                    )
                    append_jsonl(self.metrics_path, {"step": self.step, "status": "diverged"})
                    raise TrainingDiverged(msg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = None
                if c.grad_clip:
                    grad_norm = float(
                        nn.utils.clip_grad_norm_(
                            [p for p in self.model.parameters() if p.requires_grad], c.grad_clip
                        )
                    )
                self.optimizer.step()
                if c.ema is not None:
                    self._update_ema(c.ema)
                self.step += 1
                self.phase_step += 1
                dt = time.perf_counter() - t_step
                self.train_seconds += dt
                self.phase_seconds += dt
                if first_step:  # the first step compiles (or fell back): say which
                    first_step, self.compiled = False, getattr(objective, "compiled", False)
                    self._record_compile(objective)
                n_window += c.batch_size
                if self.step % c.log_every == 0 or self.phase_step == max_steps:
                    now = time.perf_counter()
                    record = {
                        "kind": "step",
                        "step": self.step,
                        "phase": phase,
                        "phase_step": self.phase_step,
                        "phase_steps": max_steps,
                        "loss": loss.item(),
                        "bits_per_dim": loss.item() / (self.model.spec.D * LN2),
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "examples_per_s": n_window / max(now - t_window, 1e-9),
                        "train_seconds": self.train_seconds,
                        **{k: float(v.detach()) for k, v in parts.items()},
                    }
                    t_window, n_window = now, 0
                    if self.dist.is_main:
                        append_jsonl(self.metrics_path, record)
                    self._emit(record)
                if self.step % c.eval_every == 0:
                    valid = self._validate()
                if self.step % c.checkpoint_every == 0 or (
                    c.checkpoint_minutes is not None
                    and time.monotonic() - self.saved_at >= c.checkpoint_minutes * 60
                ):
                    self._save()
            self.phase_index += 1
            if self.phase_index < len(phases):  # the next phase optimises other parameters
                self.phase_step, self.phase_seconds = 0, 0.0
                self.optimizer = None
            self._save()
        self.compiled = getattr(objective, "compiled", False)  # False after a fallback
        valid = self._validate()
        self._save()
        return {"steps": self.step, "train_seconds": self.train_seconds, **valid}

    # ------------------------------------------------------------------ helpers
    def _record_compile(self, objective: nn.Module) -> None:
        """One metrics.jsonl line after a fit's first step: whether the objective runs
        compiled, why, and ``train_seconds`` (which include that step's compilation)."""
        failure = getattr(objective, "failure", None)
        record = {"kind": "compile", "step": self.step, "compiled": self.compiled}
        record |= {"reason": self.compile_reason + (f"; fell back: {failure}" if failure else "")}
        record["train_seconds"] = self.train_seconds
        if self.dist.is_main:
            append_jsonl(self.metrics_path, record)

    def _agreed(self, stop: bool) -> bool:
        """A stop decision every process shares (under torchrun: any rank's clock says stop),
        so no rank waits forever for another's gradients."""
        if not self.dist.enabled:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def _cut_metrics(self, size: int | None) -> None:
        """Truncate metrics.jsonl to ``size`` bytes (None: a checkpoint from before the
        offset was recorded; the log is left as it is)."""
        if size is None or not self.metrics_path.exists():
            return
        if self.metrics_path.stat().st_size > size:
            log.info("metrics.jsonl cut back to the checkpoint (%d bytes)", size)
            os.truncate(self.metrics_path, size)

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        """ema <- d * ema + (1 - d) * w for the trainable weights, d = min(decay, (1 + t) /
        (10 + t)) after t updates (early averages follow the weights); the rest is copied."""
        live = self.model.state_dict()
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in live.items()}
            self.ema_updates = 1  # the first average is the weights themselves
            return
        d = min(decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        trainable = {n for n, p in self.model.named_parameters() if p.requires_grad}
        for k, v in live.items():
            if k in trainable and v.is_floating_point():
                self.ema[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.ema[k].copy_(v)
        self.ema_updates += 1

    @torch.no_grad()
    def _validate(self) -> dict[str, Any]:
        if self.ema is None:
            return self._validate_live()
        live = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.ema)  # validate the weights evaluation will use
        try:
            return self._validate_live()
        finally:
            self.model.load_state_dict(live)

    @torch.no_grad()
    def _validate_live(self) -> dict[str, Any]:
        split: Split = self.dataset.splits.get("valid") or self.dataset["test"]
        n = min(len(split), self.config.eval_examples)
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        for x, labels in split.subset(slice(0, n)).batches(
            eval_batch_size(self.model.spec, self.device)
        ):
            lp = self.model.log_prob(
                x.to(self.device), cond={k: v.to(self.device) for k, v in labels.items()} or None
            )
            total += float(lp.double().sum())
            count += len(x)
        self.model.train(was_training)
        bpd = -total / (count * self.model.spec.D * LN2)
        record = {
            "kind": "valid",
            "step": self.step,
            "valid_bits_per_dim": bpd,
            "valid_n": count,
            "train_seconds": self.train_seconds,
        }
        if self.dist.is_main:
            append_jsonl(self.metrics_path, record)
        self._emit(record)
        return {"valid_bits_per_dim": bpd}

    def _save(self) -> None:
        if not self.dist.is_main:
            return
        atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict() if self.optimizer else None,
                "step": self.step,
                "phase_index": self.phase_index,
                "phase_step": self.phase_step,
                "train_seconds": self.train_seconds,
                "phase_seconds": self.phase_seconds,
                "rng_cpu": torch.get_rng_state(),
                "ema": self.ema,  # None without config.ema; load_model prefers it
                "ema_updates": self.ema_updates,
                "config": asdict(self.config),
                "metrics_bytes": (
                    self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
                ),
            },
            self.run_dir / CHECKPOINT,
            keep=self.run_dir / PREVIOUS,
        )
        self.saved_at = time.monotonic()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.dist.is_main:
            self.callback(event)
