"""The likelihood contract every family in the zoo implements.

A model is a probability distribution over batches of discrete examples described by a
:class:`~zoo.core.spec.DataSpec`. It answers ``log_prob(x)``: the natural log of the
probability of each example, ``[B]`` nats, either exactly (``estimate == "exact"``) or as a
lower bound it declares (``"elbo"``, ``"iwae"``, ``"bound"``). Bits per dimension is then one
formula for every family (:func:`zoo.core.metrics.bits_per_dim`).

Subclasses implement the underscored hooks (``_log_prob``, ``_loss``, ``_sample``); the public
methods validate arguments at the edge, in the habit of ``torch.distributions``.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import torch
from torch import nn

from zoo.core.spec import DataSpec
from zoo.errors import ZooInputError

ESTIMATES = ("exact", "elbo", "iwae", "bound")

Cond = dict[str, torch.Tensor] | None


class LikelihoodModel(nn.Module):
    """Base class: a distribution over examples of ``spec``.

    Class attributes:
        family: the family's name ("ngram", "pixelcnn", "vae", ...).
        estimate: what ``log_prob`` returns: "exact", "elbo" (a variational lower bound; with
            ``k > 1`` the IWAE-k bound) or "bound" (another declared lower bound, e.g. the
            VQ-VAE's).
        modalities: the data modalities the family accepts.
        count_based: True for models fitted by counting (``fit``) rather than by gradient.
    """

    family: ClassVar[str] = ""
    estimate: ClassVar[str] = "exact"
    modalities: ClassVar[tuple[str, ...]] = ("image", "text", "audio")
    count_based: ClassVar[bool] = False
    # Multi-stage training (e.g. VQ-VAE, then its prior): the trainer runs the phases in order,
    # calling set_phase(name) first and optimising the parameters that then require grad;
    # phase_fractions splits the step/time budget between them.
    phases: ClassVar[tuple[str, ...]] = ("main",)
    phase_fractions: ClassVar[tuple[float, ...]] = (1.0,)
    # Hyper-parameters that name a model built inside this one -> (the hyper-parameter holding
    # that model's own hyper-parameters, the value that means "no such model"). The class
    # takes a "module:Class" path; a registry entry name is resolved into one by the registry
    # (zoo.engine.registry.resolve_nested) before the class is built, so that models never
    # import the registry. The VQ-VAE: {"prior": ("prior_hparams", "uniform")}.
    nested_models: ClassVar[dict[str, tuple[str, str]]] = {}
    # The codebook size of a discrete-latent model (VQ bottlenecks), which the leaderboard
    # judges codebook use against; None for the others.
    num_codes: int | None = None
    # True where a committed benchmark shows torch.compile of the objective faster on CPU
    # (docs/speed.md): train.compile="auto" then compiles it (zoo.engine.compiling), for runs
    # of at least compile_payback_steps steps (shorter ones lose more to compiling than they
    # gain).
    compile_pays: ClassVar[bool] = False
    compile_payback_steps: ClassVar[int] = 0

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        if not isinstance(spec, DataSpec):
            raise ZooInputError(f"spec must be a zoo.DataSpec, got {type(spec).__name__}")
        if spec.modality not in self.modalities:
            raise ZooInputError(
                f"{type(self).__name__} models {', '.join(self.modalities)} data; "
                f"got a {spec.modality} spec {spec!r}"
            )
        if self.estimate not in ESTIMATES:
            raise TypeError(f"{type(self).__name__}.estimate must be one of {ESTIMATES}")
        self.spec = spec
        self.hparams: dict[str, Any] = {}  # the constructor's keywords (set by the registry)
        self.registry_name: str | None = None  # the registry entry it was built from, if any

    # ------------------------------------------------------------------ public API
    def log_prob(self, x: torch.Tensor, *, cond: Cond = None, k: int = 1) -> torch.Tensor:
        """Log-probability of each example, ``[B]`` nats (exact or a declared lower bound).

        Args:
            x: ``[B, *spec.shape]`` integers in ``[0, spec.levels)``.
            cond: optional labels, ``{name: [B] int}`` with names from ``spec.labels``.
            k: importance samples for latent-variable models (IWAE-k); 1 is the ELBO.
                Exact models ignore it: their value is already exact.
        """
        self.spec.validate(x)
        self.spec.validate_cond(cond, x.shape[0])
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ZooInputError(f"k (importance samples) must be an int >= 1, got {k!r}")
        return self._log_prob(x.long(), cond=cond, k=k)

    def loss(self, x: torch.Tensor, *, cond: Cond = None) -> tuple[torch.Tensor, dict]:
        """Training objective (scalar, nats per example, to minimise) and its named parts."""
        self.spec.validate(x)
        self.spec.validate_cond(cond, x.shape[0])
        return self._loss(x.long(), cond=cond)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        cond: Cond = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Draw ``n`` examples, ``[n, *spec.shape]`` int64 in ``[0, spec.levels)``."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ZooInputError(f"n (number of samples) must be an int >= 1, got {n!r}")
        self.spec.validate_cond(cond, n)
        out = self._sample(n, cond=cond, generator=generator, **kwargs)
        return out

    def fit(self, batches: Any) -> LikelihoodModel:
        """Fit a count-based model to an iterable of batches (gradient models: not used)."""
        raise TypeError(
            f"{type(self).__name__} is trained by gradient (zoo.engine.trainer), not fit()"
        )

    def set_phase(self, phase: str) -> None:
        """Prepare for a training phase (freeze what it does not train). Default: nothing."""
        if phase not in self.phases:
            raise ValueError(f"unknown phase {phase!r}; {type(self).__name__} has {self.phases}")

    def set_step(self, step: int) -> None:
        """The trainer's global step, given before every optimisation step (schedules such as
        a KL warm-up read it). Default: nothing."""

    def train_batch_indices(
        self, n: int, batch_size: int, step: int, seed: int
    ) -> torch.Tensor | None:
        """The examples of training step ``step``'s global batch, ``[batch_size]`` indices in
        ``[0, n)``, for a model that orders its own data (an LSTM carrying its state across
        the consecutive chunks of a text stream: truncated BPTT); a pure function of its
        arguments. None (the default): the trainer's seeded epoch-wise permutations."""
        return None

    def stream_log_prob(self, tokens: Any) -> tuple[float, int] | None:
        """``(ln p(stream), tokens scored)`` for a whole token stream (the evaluator's stream
        perplexity), or None for models that score only fixed-size examples (the default)."""
        return None

    def next_log_probs(self, x: torch.Tensor, d: int, *, cond: Cond = None) -> torch.Tensor | None:
        """Lossless coding (``zoo compress``) of a family with no built-in coding stepper:
        log-probabilities of dimension ``d`` of ``x.reshape(B, -1)`` (raster order) given the
        dimensions before it, ``[B, spec.levels]``. ``x``: ``[B, *spec.shape]`` int64 holding
        the values chosen so far and zeros from ``d`` on; the result must not depend on them.
        None (the default): the model offers no coding."""
        return None

    # ------------------------------------------------------------------ hooks
    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        raise NotImplementedError

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        """Default objective: mean negative log-likelihood (exact models)."""
        nll = -self._log_prob(x, cond=cond, k=1).mean()
        return nll, {"nll": nll.detach()}

    def _sample(self, n: int, *, cond: Cond, generator: torch.Generator | None, **kw: Any):
        raise NotImplementedError(f"{type(self).__name__} cannot sample")

    # ------------------------------------------------------------------ helpers
    @property
    def cond_labels(self) -> tuple[str, ...]:
        """Names of the labels ``log_prob`` and ``sample`` need in ``cond`` (class,
        speaker...); empty for an unconditional model."""
        return ()

    def default_cond(self, n: int) -> Cond:
        """Labels for ``n`` samples of a conditional model when the caller gives none: each
        label cycles through its values (``0, 1, ..., K-1, 0, ...``), so a grid of samples
        shows every class or speaker in turn. None for unconditional models."""
        if not self.cond_labels:
            return None
        return {
            name: torch.arange(n, device=self.device) % self.spec.labels[name]
            for name in self.cond_labels
        }

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def num_parameters(self) -> int:
        """Trainable parameters (count-based models report their stored n-grams instead)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_metrics(self, x: torch.Tensor, *, cond: Cond = None) -> dict[str, float]:
        """Family-specific diagnostics for ``zoo eval`` (KL, active units, codebook use...).

        Called by the evaluator on one large batch of the evaluated split (up to 1,000
        examples); returns plain floats (batch means or batch-level statistics such as the
        number of active units). The default has none.
        """
        return {}


def model_class(cls_path: str) -> type[LikelihoodModel]:
    """The class a ``"module:Class"`` path names (registry entries and run folders use them)."""
    module, _, attr = cls_path.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(
            f"no model class {cls_path!r} ({e}); give it as 'package.module:Class'"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, LikelihoodModel)):
        raise TypeError(f"{cls_path} is no LikelihoodModel")
    return cls
