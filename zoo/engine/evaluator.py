"""Evaluation: one split, one model -> bits/dim and the figures its modality adds.

Every figure says what it is: ``estimate`` is "exact" for exact models, "elbo" or
"iwae-<k>" for latent-variable bounds, "bound" for other declared bounds; ``split`` names the
subset when only part of a split was scored (``test[:512]``); ``cond`` says what the model
was conditioned on ("none", "class", "speaker"): -log p(x) and -log p(x | class) are
different quantities.

Evaluation is a function of the weights and ``seed``: bounds that draw latents (ELBO, IWAE,
jitter) draw them from the global generator re-seeded with ``seed`` inside a forked RNG state,
so two evaluations of one run give the same number and the caller's RNG is left untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from zoo.core.contract import LikelihoodModel
from zoo.core.metrics import LN2, bits_per_second, perplexity
from zoo.core.spec import DataSpec
from zoo.data.base import Dataset
from zoo.errors import ZooInputError

EXTRA_BATCH = 1000  # examples given to model.extra_metrics
CPU_BATCH_ELEMENTS = 2**15  # data elements per CPU evaluation batch (see eval_batch_size)
GPU_BATCH = 256


def eval_batch_size(spec: DataSpec, device: torch.device | str) -> int:
    """Examples per evaluation batch: ``GPU_BATCH`` on an accelerator; on a CPU, the largest
    power of two whose batch holds at most ``CPU_BATCH_ELEMENTS`` data elements, within 8-256.

    A wide convolutional network's activations for 256 images do not fit in a CPU's caches:
    per image, the Gated PixelCNN scores binarized MNIST 1.4x faster in batches of 32 than of
    256 (2x in batches of 8), PixelCNN++ 2.1x, and a WaveNet scores FSDD crops 2.8x faster in
    batches of 8 than of 64 (``benchmarks/eval_batch.py``), while recurrent models and small
    ones want batches large enough to amortise their per-step overhead. The rule reads the
    data's shape and the device only, never a timing, so an evaluation's figures stay a
    function of the weights and the seed (a VQ bound can still move with the batch where float
    rounding flips a nearest code).
    """
    if torch.device(device).type != "cpu":
        return GPU_BATCH
    fit = max(CPU_BATCH_ELEMENTS // max(spec.D, 1), 1)
    return min(max(1 << (fit.bit_length() - 1), 8), 256)


def cond_label(model: LikelihoodModel) -> str:
    """What ``model``'s likelihood is conditioned on: "none" or the label names ("class")."""
    return ",".join(model.cond_labels) or "none"


def subset_label(split: str, n: int, total: int) -> str:
    """``test`` for the whole split, ``test[:512]`` for its first 512 examples."""
    return split if n >= total else f"{split}[:{n}]"


def estimate_label(model: LikelihoodModel, k: int) -> str:
    if model.estimate == "exact":
        return "exact"
    if model.estimate in ("elbo", "iwae") and k > 1:
        return f"iwae-{k}"
    return model.estimate


@torch.no_grad()
def evaluate(
    model: LikelihoodModel,
    dataset: Dataset,
    split: str = "test",
    *,
    k: int = 1,
    batch_size: int | None = None,
    max_examples: int | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Bits/dim of ``model`` on ``dataset[split]`` plus modality figures and diagnostics;
    the same ``seed`` gives the same figures. ``batch_size``: examples per forward pass
    (default: ``eval_batch_size`` for the data and device; with ``k`` > 1 importance samples,
    at most 4096 // k, so memory stays bounded). ``progress(done, total)`` is called after
    each batch with the examples scored so far (the CLI's progress bar); it sees, never
    changes, the figures."""
    if k < 1:
        raise ZooInputError(f"k (importance samples) must be >= 1, got {k}")
    if max_examples is not None and max_examples < 1:
        raise ZooInputError(
            f"max_examples must be >= 1 (or left out for the whole split), got {max_examples}"
        )
    device = torch.device(device) if device is not None else model.device
    devices = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return _evaluate(model, dataset, split, k, batch_size, max_examples, device, progress)


def _evaluate(
    model: LikelihoodModel,
    dataset: Dataset,
    split: str,
    k: int,
    batch_size: int | None,
    max_examples: int | None,
    device: torch.device,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    data = dataset[split]
    total_examples = len(data)
    if max_examples is not None:
        data = data.subset(slice(0, max_examples))
    model.eval()
    spec = model.spec
    if batch_size is None:
        batch_size = eval_batch_size(spec, device)
    if batch_size < 1:
        raise ZooInputError(
            f"batch_size must be >= 1 (or None: chosen for the device), got {batch_size}"
        )
    if k > 1:  # IWAE-k costs k decoder passes per example: keep memory bounded
        batch_size = max(1, min(batch_size, 4096 // k))
    t0 = time.perf_counter()
    total, n = 0.0, 0
    for x, labels in data.batches(batch_size):
        cond = {name: v.to(device) for name, v in labels.items() if name in spec.labels} or None
        lp = model.log_prob(x.to(device), cond=cond, k=k)
        if not torch.isfinite(lp).all():
            raise FloatingPointError(
                f"{type(model).__name__}.log_prob returned non-finite values on {dataset.name}/"
                f"{split}; the model is broken or diverged"
            )
        total += float(lp.double().sum())
        n += len(x)
        if progress is not None:
            progress(n, len(data))
    seconds = time.perf_counter() - t0
    nats = -total / n
    bpd = nats / (spec.D * LN2)
    result: dict[str, Any] = {
        "dataset": dataset.name,
        "split": subset_label(split, n, total_examples),
        "cond": cond_label(model),
        "estimate": estimate_label(model, k),
        "n_examples": n,
        "nats_per_example": nats,
        "bits_per_dim": bpd,
        "eval_seconds": seconds,
        "source": dataset.source,
    }
    if spec.modality == "text":
        result["perplexity"] = perplexity(bpd)  # per token (chunked)
        if spec.vocab is not None and all(len(t) == 1 for t in spec.vocab[2:]):
            result["bits_per_char"] = bpd  # character-level: a token is a character
    if spec.modality == "audio" and spec.sample_rate:
        result["bits_per_second"] = bits_per_second(bpd, spec.sample_rate)
    stream = dataset.meta.get("streams", {}).get(split)
    scored = None if stream is None else model.stream_log_prob(stream)
    if scored is not None:
        total_log_prob, count = scored  # ln p of the whole stream
        result["stream_perplexity"] = math.exp(-total_log_prob / count)
        result["stream_tokens"] = count
    first = data.subset(slice(0, EXTRA_BATCH))
    cond = {k_: v.long().to(device) for k_, v in first.labels.items() if k_ in spec.labels}
    extra = model.extra_metrics(first.x.long().to(device), cond=cond or None)
    if extra:
        result["extra"] = {k_: float(v) for k_, v in extra.items()}
    return result
