"""The checks the zoo runs on every registry entry, offered to users as one call
(``zoo check NAME``, :func:`check_entry`).

Each entry is built on a tiny spec of every modality its class models (a 2x3 binary image,
length-4 sequences over 3 symbols), then:

- ``contract``: ``log_prob`` returns ``[B]`` finite nats (at most 0 for an exact model of
  discrete data), the same for an example alone as inside a batch (no leak between examples),
  twice the same in eval mode; ``loss`` is a finite scalar whose gradients are finite (gradient
  models); ``sample`` draws ``[n, *shape]`` integers in ``[0, levels)`` (or is not offered);
- ``normalisation``: on every possible input of the tiny spec, an exact model's probabilities
  sum to 1 and a bound's to at most 1. For an autoregressive model this is also the causality
  check that needs no access to its internals: a model that sees the value it predicts puts
  more than all the mass on the data and sums to more than 1.

The registry-wide tests (tests/test_registry_normalisation.py) call the same functions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch

from zoo.core.contract import LikelihoodModel
from zoo.core.spec import DataSpec

EXACT_TOLERANCE = 2e-4  # |sum_x p(x) - 1| for exact models (float32 networks)
BOUND_TOLERANCE = 2e-3  # sum_x of a bound's exp(log_prob) may exceed 1 by this much


def tiny_specs() -> dict[str, DataSpec]:
    """The tiny spec of each modality (small enough to enumerate every input)."""
    return {
        "image": DataSpec("image", (1, 2, 3), levels=2, labels={"class": 2}, name="tiny"),
        "text": DataSpec(
            "text", (4,), levels=3, vocab=("</s>", "<unk>", "a"), eos=0, unk=1, name="tiny"
        ),
        "audio": DataSpec("audio", (4,), levels=3, sample_rate=8000, labels={"speaker": 2}),
    }


class CheckFailed(AssertionError):
    """A check that did not hold; the message says what was measured."""


@dataclass
class CheckResult:
    entry: str
    modality: str
    check: str  # build | contract | normalisation
    status: str  # pass | fail | skip
    detail: str

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def all_inputs(spec: DataSpec) -> torch.Tensor:
    """Every input of ``spec``: ``[levels ** D, *spec.shape]`` int64."""
    values = list(itertools.product(range(spec.levels), repeat=spec.D))
    return torch.tensor(values, dtype=torch.long).reshape(-1, *spec.shape)


def zero_cond(spec: DataSpec, n: int) -> dict[str, torch.Tensor] | None:
    """Label 0 of every label the spec has, for ``n`` examples (None: no labels)."""
    return {label: torch.zeros(n, dtype=torch.long) for label in spec.labels} or None


def fit_if_count_based(model: LikelihoodModel, spec: DataSpec, seed: int = 0) -> None:
    """Fit a count-based model on 20 inputs drawn from the tiny space (else nothing)."""
    if model.count_based:
        x = all_inputs(spec)
        g = torch.Generator().manual_seed(seed)
        model.fit([(x[torch.randperm(len(x), generator=g)[:20]], {})])


def check_normalisation(model: LikelihoodModel, spec: DataSpec) -> str:
    """sum_x p(x) over every input of ``spec``: 1 for an exact model, <= 1 for a bound.
    Returns what was measured; raises :class:`CheckFailed` otherwise."""
    x = all_inputs(spec)
    model.eval()
    with torch.no_grad():
        lp = model.log_prob(x, cond=zero_cond(spec, len(x))).double()
    if lp.shape != (len(x),):
        raise CheckFailed(f"log_prob returned shape {tuple(lp.shape)}, expected ({len(x)},)")
    if not torch.isfinite(lp).all():
        raise CheckFailed(f"log_prob is not finite on {int((~torch.isfinite(lp)).sum())} inputs")
    total = float(torch.logsumexp(lp, 0).exp())
    what = f"sum over {len(x)} inputs = {total:.6f}"
    if model.estimate == "exact":
        if abs(total - 1.0) > EXACT_TOLERANCE:
            raise CheckFailed(f"an exact model must sum to 1: {what}")
        return what
    if total > 1.0 + BOUND_TOLERANCE:
        raise CheckFailed(f"a lower bound must sum to at most 1: {what}")
    return what + f" <= 1 ({model.estimate})"


def check_contract(model: LikelihoodModel, spec: DataSpec, seed: int = 0) -> str:
    """The contract the trainer and evaluator rely on; returns what held, raises
    :class:`CheckFailed` on the first thing that does not."""
    if not isinstance(model.family, str) or not model.family:
        raise CheckFailed(f"{type(model).__name__}.family must name the family (a string)")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, spec.levels, (4, *spec.shape), generator=g)
    cond = zero_cond(spec, len(x))
    model.eval()
    with torch.no_grad():
        torch.manual_seed(seed)
        lp = model.log_prob(x, cond=cond)
        if lp.shape != (len(x),) or not lp.dtype.is_floating_point:
            raise CheckFailed(f"log_prob must return [B] floats, got {tuple(lp.shape)} {lp.dtype}")
        if not torch.isfinite(lp).all():
            raise CheckFailed("log_prob is not finite on random inputs")
        if model.estimate == "exact" and (lp > 1e-5).any():
            raise CheckFailed(f"an exact log p(x) of discrete data is <= 0, got {lp.max():.4g}")
        torch.manual_seed(seed)
        again = model.log_prob(x, cond=cond)
        torch.manual_seed(seed)
        alone = model.log_prob(x[:1], cond=zero_cond(spec, 1))
    held = ["log_prob [B] finite"]
    if model.estimate == "exact":
        if not torch.allclose(lp, again, atol=1e-5):
            raise CheckFailed("an exact log_prob changed between two calls in eval mode")
        if not math.isclose(float(alone[0]), float(lp[0]), abs_tol=1e-4 * max(1, abs(lp[0]))):
            raise CheckFailed(
                f"log_prob of an example alone ({float(alone[0]):.6g}) differs from the same "
                f"example inside a batch ({float(lp[0]):.6g}): examples leak into each other"
            )
        held.append("batch-independent, deterministic")
    if type(model).next_log_probs is not LikelihoodModel.next_log_probs:
        held.append(_check_next_log_probs(model, x, cond, lp))
    if not model.count_based:
        model.train()
        torch.manual_seed(seed)
        loss, parts = model.loss(x, cond=cond)
        if loss.dim() != 0 or not torch.isfinite(loss):
            raise CheckFailed(f"loss must be a finite scalar, got {loss}")
        if not isinstance(parts, dict):
            raise CheckFailed(f"loss must return (scalar, dict), got a {type(parts).__name__}")
        model.zero_grad()
        loss.backward()
        bad = [
            n
            for n, p in model.named_parameters()
            if p.grad is not None and not p.grad.isfinite().all()
        ]
        if bad:
            raise CheckFailed(f"non-finite gradients in {', '.join(bad[:3])}")
        model.zero_grad()
        model.eval()
        held.append("loss finite with finite gradients")
    try:
        s = model.sample(2, cond=zero_cond(spec, 2), generator=torch.Generator().manual_seed(seed))
    except NotImplementedError:
        held.append("no sampler")
    else:
        if tuple(s.shape) != (2, *spec.shape) or s.dtype != torch.long:
            raise CheckFailed(f"sample(2) must be [2, {spec.shape}] int64, got {tuple(s.shape)}")
        if s.min() < 0 or s.max() >= spec.levels:
            raise CheckFailed(f"sample(2) left [0, {spec.levels}): {s.min()}..{s.max()}")
        held.append("samples in range")
    return "; ".join(held)


def _check_next_log_probs(
    model: LikelihoodModel, x: torch.Tensor, cond: Any, lp: torch.Tensor
) -> str:
    """The coding hook (fast path) against log_prob (slow path): sum_d log p(x_d | x_<d),
    each computed from the values before d and zeros after, equals log p(x)."""
    n, flat = len(x), x.reshape(len(x), -1)
    prefix = torch.zeros_like(x)
    total = torch.zeros(n, dtype=torch.float64)
    with torch.no_grad():
        for d in range(flat.shape[1]):
            step = model.next_log_probs(prefix, d, cond=cond)
            if step is None or tuple(step.shape) != (n, model.spec.levels):
                raise CheckFailed(f"next_log_probs must return [B, {model.spec.levels}]")
            total += step.double().gather(1, flat[:, d : d + 1]).squeeze(1)
            prefix.view(n, -1)[:, d] = flat[:, d]
    if not torch.allclose(total, lp.double(), atol=1e-4 * flat.shape[1]):
        gap = float((total - lp.double()).abs().max())
        raise CheckFailed(f"next_log_probs summed over d differ from log_prob by {gap:.3g} nats")
    return "next_log_probs sum to log_prob"


def check_entry(name: str, overrides: dict[str, Any] | None = None) -> list[CheckResult]:
    """Every check on registry entry ``name`` (built with ``overrides`` of its
    hyper-parameters), on the tiny spec of each modality its class models."""
    from zoo.engine.registry import check_hparams, create_model, get_entry

    cls = get_entry(name).model_class()
    check_hparams(cls, overrides or {}, name)  # a bad --set is bad input, not a failed check
    results = []
    for modality in cls.modalities:
        spec = tiny_specs()[modality]
        torch.manual_seed(0)
        try:
            model = create_model(name, spec, **(overrides or {}))
        except Exception as e:  # noqa: BLE001 - reported as a failing check
            results.append(CheckResult(name, modality, "build", "fail", f"{type(e).__name__}: {e}"))
            continue
        n = sum(p.numel() for p in model.parameters())
        results.append(CheckResult(name, modality, "build", "pass", f"{n:,} parameters"))
        fit_if_count_based(model, spec)
        for check, fn in (("contract", check_contract), ("normalisation", check_normalisation)):
            try:
                results.append(CheckResult(name, modality, check, "pass", fn(model, spec)))
            except CheckFailed as e:
                results.append(CheckResult(name, modality, check, "fail", str(e)))
            except Exception as e:  # noqa: BLE001 - a crash inside the model is a failure
                results.append(
                    CheckResult(name, modality, check, "fail", f"{type(e).__name__}: {e}")
                )
    return results
