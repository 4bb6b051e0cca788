"""What every autoregressive image model shares: inputs, head, likelihood and the sampling loop.

A subclass builds a network ``net(h, y) -> [B, P, H, W]`` from the input maps ``h`` (see
:meth:`AutoregressiveImageModel.inputs`) whose output at pixel (r, j) sees only earlier
pixels (and, for grouped heads, earlier colours of the same pixel). Everything else is here:

- ``log_prob``: the head's log-probability of every sub-pixel, summed (exact, nats).
- ``sample(n, fast=...)``: pixels in raster order, colours R -> G -> B. ``fast=False`` is the
  reference: one full forward pass per drawn value. ``fast=True`` uses the subclass's
  incremental ``_stepper`` (per-layer caches) when it has one. Both consume the same pre-drawn
  uniforms, one per drawn value, in the same order, so they draw the same images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints
from zoo.nn.discretized import levels_to_unit
from zoo.nn.heads import make_head

# (x, r, j) -> params [n, P] at pixel (r, j), given x filled before it in generation order
Stepper = Callable[[torch.Tensor, int, int], torch.Tensor]


@dataclass(frozen=True)
class PixelWidths:
    """An option group of PixelCNN, Gated PixelCNN and the PixelRNNs (each with its own
    defaults): ``channels``, the maps of the network (PixelCNN's and the PixelRNNs' residual
    stream has twice as many); ``kernel``, the size of the first (mask A) layer;
    ``head_channels``, the maps of the hidden 1x1 output layer (None: 32, rounded up to a
    multiple of the colours)."""

    channels: int = 16
    kernel: int = 7
    head_channels: int | None = None


class AutoregressiveImageModel(LikelihoodModel):
    """Base of PixelCNN, Gated PixelCNN, PixelCNN++ and the PixelRNNs.

    Hyper-parameters handled here:
        head: "auto" | "bernoulli" | "categorical" | "logistic" | "logistic_mixture"
            (:mod:`zoo.nn.heads`); "default" is the class's ``default_head``.
        mixtures: logistic components of the logistic heads.
        embed: 0 feeds each sub-pixel as one value on [-1, 1]; > 0 feeds a learned
            ``embed``-dim vector per level (better for unordered codes, e.g. a VQ-VAE prior).
        conditional: condition on ``cond["class"]`` (needs "class" in ``spec.labels``).
    """

    estimate = "exact"
    modalities = ("image",)
    default_head = "auto"
    # the cached stepper is many tiny products (one thread is fastest on CPU)
    cached_single_thread = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        head: str = "default",
        mixtures: int = 5,
        embed: int = 0,
        conditional: bool = False,
    ) -> None:
        super().__init__(spec)
        self.C, self.H, self.W = spec.shape
        self.K = spec.levels
        self.head = make_head(
            self.default_head if head == "default" else head,
            spec,
            mixtures=mixtures,
            owner=type(self).__name__,
        )
        # masks split feature maps into one group per colour for grouped heads
        self.groups = self.C if self.head.grouped else 1
        if embed < 0:
            raise ValueError(f"embed must be >= 0 (0: scalar input), got {embed}")
        self.embed = embed
        self.in_maps = self.C * max(embed, 1)
        if embed:
            # one table per colour: level v of colour c is row c * K + v
            self.embedding = nn.Embedding(self.C * self.K, embed)
            self.register_buffer(
                "_offsets", (torch.arange(self.C) * self.K).view(1, -1, 1, 1), persistent=False
            )
        self.conditional = bool(conditional)
        self.n_classes = 0
        if self.conditional:
            if "class" not in spec.labels:
                raise ValueError(
                    f"conditional=True needs a 'class' label in the spec; {spec!r} has "
                    f"{sorted(spec.labels) or 'none'}"
                )
            self.n_classes = spec.labels["class"]

    @staticmethod
    def check_divisible(name: str, value: int, groups: int) -> None:
        if value % groups:
            raise ValueError(
                f"{name}={value} must be a multiple of the {groups} colour channels "
                "(each colour gets its own group of feature maps)"
            )

    def check_widths(self, widths: PixelWidths, **depths: int) -> int:
        """Check a network's widths (``channels``, ``head_channels``: >= 1 and multiples of
        the colour groups) and ``depths`` (layer counts, >= 0); returns ``head_channels``,
        whose default is 32 rounded up to a multiple of the colour groups."""
        g, owner, channels = self.groups, type(self).__name__, widths.channels
        head_channels = widths.head_channels or -(-32 // g) * g
        check_ints(owner, channels=channels, head_channels=head_channels)
        check_ints(owner, 0, **depths)
        self.check_divisible("channels", channels, g)
        self.check_divisible("head_channels", head_channels, g)
        return head_channels

    # ------------------------------------------------------------------ network
    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [B, C, H, W]`` levels -> input maps ``[B, in_maps, H, W]``, grouped by colour."""
        if self.embed:
            e = self.embedding(x + self._offsets)  # [B, C, H, W, E]
            return rearrange(e, "b c h w e -> b (c e) h w")
        return levels_to_unit(x, self.K)

    def net(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Input maps ``[B, in_maps, H, W]`` (+ class ids ``[B]``) -> ``[B, P, H, W]``."""
        raise NotImplementedError

    @property
    def cond_labels(self) -> tuple[str, ...]:
        return ("class",) if self.conditional else ()

    def labels(self, cond: Cond, batch: int) -> torch.Tensor | None:
        """The class ids a conditional model needs (``[B]`` int64), else None."""
        if not self.conditional:
            return None
        if cond is None or "class" not in cond:
            raise ValueError(
                f"{type(self).__name__} is class-conditional: pass cond={{'class': [B] ints}}"
            )
        return cond["class"].long().to(self.device)

    def pixel_inputs(self, x: torch.Tensor, r: int, j: int) -> torch.Tensor:
        """The input maps of one pixel, ``[B, in_maps]`` (for cached sampling)."""
        return self.inputs(x[:, :, r : r + 1, j : j + 1])[:, :, 0, 0]

    def last_and_current(self, r: int, j: int) -> list[tuple[int, int]]:
        """Pixel (r, j) and the one before it in raster order (cached samplers rewrite both:
        the previous pixel was drawn after its last step, the current one gains colours)."""
        prev = (r, j - 1) if j else (r - 1, self.W - 1)
        return [prev, (r, j)] if prev[0] >= 0 else [(r, j)]

    def params(self, x: torch.Tensor, cond: Cond = None) -> torch.Tensor:
        """``x: [B, C, H, W]`` levels -> head parameters ``[B, P, H, W]``."""
        return self.net(self.inputs(x), self.labels(cond, x.shape[0]))

    # ------------------------------------------------------------------ likelihood
    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        # x: [B, C, H, W] int64 in [0, K) -> [B] nats
        return self.head.log_prob(self.params(x, cond), x).flatten(1).sum(1)

    # ------------------------------------------------------------------ sampling
    def _stepper(self, n: int, y: torch.Tensor | None) -> Stepper | None:
        """An incremental (cached) params-at-one-pixel function, or None for naive only."""
        return None

    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        fast: bool = True,
        **kw: Any,
    ) -> torch.Tensor:
        if kw:
            raise ValueError(f"unknown sampling options {sorted(kw)}; this model takes fast=")
        was_training = self.training
        self.eval()
        try:
            return self._generate(n, cond, generator, fast)
        finally:
            self.train(was_training)

    def _generate(
        self, n: int, cond: Cond, generator: torch.Generator | None, fast: bool
    ) -> torch.Tensor:
        device = self.device
        y = self.labels(cond, n)
        noise_device = generator.device if generator is not None else device
        u = torch.rand(
            n, self.head.noise_channels, self.H, self.W, generator=generator, device=noise_device
        ).to(device)
        x = torch.zeros(n, self.C, self.H, self.W, dtype=torch.long, device=device)
        step = self._stepper(n, y) if fast else None
        if step is not None and device.type == "cpu" and self.cached_single_thread:
            # the cached path is thousands of tiny products: one thread avoids sync overhead
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._loop(x, u, step)
            finally:
                torch.set_num_threads(threads)
        if step is None:

            def step(x: torch.Tensor, r: int, j: int) -> torch.Tensor:
                return self.net(self.inputs(x), y)[:, :, r, j]

        return self._loop(x, u, step)

    def _loop(self, x: torch.Tensor, u: torch.Tensor, step: Stepper) -> torch.Tensor:
        """Draw pixels in raster order, colours in order (grouped heads), into ``x``."""
        for r in range(self.H):
            for j in range(self.W):
                if self.head.grouped:
                    for c in range(self.C):
                        x[:, c, r, j] = self.head.sample_channel(step(x, r, j), u[:, :, r, j], c)
                else:
                    x[:, :, r, j] = self.head.sample_pixel(step(x, r, j), u[:, :, r, j])
        return x
