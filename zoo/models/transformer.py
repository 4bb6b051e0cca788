"""A decoder-only Transformer (GPT; Radford et al. 2018, ImageGPT: Chen et al. 2020).

One model for every modality: an example is read as one sequence of ``D`` tokens, each a value
in ``[0, levels)``, and

    p(x) = prod_t p(x_t | x_<t, cond)

Text ``[T]`` is the token sequence itself (characters or words; ``</s>`` is a token like any
other, predicted and counted, as the n-grams count it); mu-law audio ``[T]`` is its samples;
an image ``[C, H, W]`` is read in raster order with the channels of a pixel next to each other
(ImageGPT's order: ``x[:, 0, 0, 0], x[:, 1, 0, 0], ..., x[:, C-1, H-1, W-1]``), one token per
sub-pixel value. The input at position t is the embedding of ``x[t-1]``, and at t = 0 a start
token (id ``levels``, never predicted), so the first value is scored like every other and
``log_prob`` is an exact, normalised distribution over the ``levels ** D`` examples. The
data have no padding: text is one stream per split cut into whole chunks (``zoo.data.text``).

Architecture (nanoGPT's): token + position embeddings -> dropout -> ``layers`` pre-norm blocks
(:mod:`zoo.nn.attention`: causal self-attention through
``F.scaled_dot_product_attention`` and a GELU MLP, dropout on both residual branches and on
the attention weights) -> LayerNorm -> logits over the ``levels`` values. The output matrix is
the token embedding (tied, Press & Wolf 2017) unless ``tie_embeddings=False``.

Positions are *learned* absolute embeddings, one per index ``0 .. D-1``, rather than rotary:
every example of a data set has the same length ``D`` (text chunks, audio chunks and images
are fixed-size), so there is no extrapolation to longer sequences for rotary embeddings to
win, and on images a learned table lets each raster index learn its row, column and colour
(ImageGPT's choice), where rotary encodes only the 1-D distance. It is also the peer's
(nanoGPT's) choice, so the side-by-side benchmark compares like with like.

Conditioning (``cond_labels``: names of ``spec.labels``, e.g. ``["class"]`` or
``["speaker"]``): a learned embedding per label value, added to the input of every position.

Sampling. ``fast=True`` (default) decodes with a key/value cache written into the layers
(:meth:`zoo.nn.attention.Block.step`); ``fast=False`` recomputes the whole prefix for every new
token. Both draw the same Gumbel noise (``[NOISE_BLOCK, n, levels]`` uniforms from
``generator`` every ``NOISE_BLOCK`` positions) and take ``argmax(logits / temperature +
gumbel)``, so with the same generator they give the same samples.

Streams. ``stream_log_prob`` scores a whole token stream (the evaluator's stream perplexity)
in windows of ``D`` tokens that start with the start token, as training chunks do, sliding by
``stream_stride`` (default ``D // 2``): every token after the first window is predicted from
at least ``D - stream_stride`` previous tokens, and each token is scored exactly once.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints
from zoo.errors import ZooInputError
from zoo.nn.attention import Block, KVCache, dropout, init_gpt_weights

STREAM_BATCH = 64  # windows scored at once by stream_log_prob
NOISE_BLOCK = 256  # positions of Gumbel noise drawn at once; both sampling paths draw the same


class Transformer(LikelihoodModel):
    """Decoder-only Transformer over ``[B, *spec.shape]`` values in ``[0, spec.levels)``.

    Args:
        spec: any DataSpec (text, audio ``[T]``, images ``[C, H, W]``).
        layers: Transformer blocks.
        heads: attention heads (``dim`` must be divisible by it).
        dim: width of the residual stream (the embedding size).
        mlp_ratio: the MLP's hidden width is ``mlp_ratio * dim``.
        dropout: on the embeddings, the attention weights and both residual branches.
        bias: biases in the linear layers and LayerNorms (nanoGPT: True; GPT-2 style).
        tie_embeddings: output logits through the token embedding matrix.
        cond_labels: names of ``spec.labels`` to condition on (an added embedding each).
        stream_stride: tokens newly scored per window by ``stream_log_prob`` (``None``:
            ``D // 2``; ``D``: non-overlapping windows).
    """

    family = "transformer"
    estimate = "exact"
    modalities = ("image", "text", "audio")

    def __init__(
        self,
        spec: DataSpec,
        *,
        layers: int = 4,
        heads: int = 4,
        dim: int = 128,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        bias: bool = True,
        tie_embeddings: bool = True,
        cond_labels: tuple[str, ...] | list[str] = (),
        stream_stride: int | None = None,
    ) -> None:
        super().__init__(spec)
        check_ints("Transformer", layers=layers, heads=heads, dim=dim, mlp_ratio=mlp_ratio)
        if dim % heads:
            raise ZooInputError(
                f"Transformer dim ({dim}) must be divisible by heads ({heads}): each head "
                f"gets dim / heads channels"
            )
        if not 0.0 <= dropout < 1.0:
            raise ZooInputError(f"Transformer dropout must lie in [0, 1), got {dropout}")
        if isinstance(cond_labels, str):
            cond_labels = (cond_labels,)
        cond_labels = tuple(cond_labels)
        unknown = [c for c in cond_labels if c not in spec.labels]
        if unknown:
            raise ZooInputError(
                f"Transformer cond_labels {unknown} are not labels of {spec!r}; "
                f"it has {sorted(spec.labels)}"
            )
        self.length = spec.D
        if stream_stride is None:
            stream_stride = max(self.length // 2, 1)
        check_ints("Transformer", stream_stride=stream_stride)
        if stream_stride > self.length:
            raise ZooInputError(
                f"Transformer stream_stride ({stream_stride}) must be <= the window, "
                f"spec.D = {self.length}"
            )
        self.levels = spec.levels
        self.start = spec.levels  # the start token's id (an extra embedding row)
        self.layers_n, self.heads, self.dim = layers, heads, dim
        self.dropout = dropout
        self.stream_stride = stream_stride
        self._cond_labels = cond_labels

        self.tok = nn.Embedding(spec.levels + 1, dim)
        self.pos = nn.Embedding(self.length, dim)
        self.cond_embed = nn.ModuleDict({c: nn.Embedding(spec.labels[c], dim) for c in cond_labels})
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, dropout, bias) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim, bias=bias)
        self.out = None if tie_embeddings else nn.Linear(dim, spec.levels, bias=False)
        init_gpt_weights(self, layers)

    # ------------------------------------------------------------------ shape facts
    @property
    def cond_labels(self) -> tuple[str, ...]:
        return self._cond_labels

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, *spec.shape]`` -> ``[B, D]`` in reading order (images: ``[B, H, W, C]``
        raster order, the channels of a pixel adjacent)."""
        if self.spec.modality == "image":
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1)

    def from_tokens(self, t: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_tokens`: ``[B, D]`` -> ``[B, *spec.shape]``."""
        if self.spec.modality == "image":
            C, H, W = self.spec.shape
            return t.reshape(-1, H, W, C).permute(0, 3, 1, 2).contiguous()
        return t.reshape(-1, *self.spec.shape)

    def _check_cond(self, cond: Cond, batch: int) -> None:
        missing = [c for c in self._cond_labels if cond is None or c not in cond]
        if missing:
            raise ZooInputError(
                f"this Transformer is conditioned on {list(self._cond_labels)}; pass "
                f"cond={{name: [B] int64}} with {missing}"
            )

    def _cond_vector(self, cond: Cond) -> torch.Tensor | None:
        """Sum of the label embeddings, ``[B, 1, C]``, or None (unconditional)."""
        if not self._cond_labels:
            return None
        return sum(self.cond_embed[c](cond[c].long()) for c in self._cond_labels)[:, None]

    # ------------------------------------------------------------------ the network
    def inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` values -> ``[B, T]`` inputs: the start token, then ``tokens[:, :-1]``."""
        start = tokens.new_full((tokens.shape[0], 1), self.start)
        return torch.cat([start, tokens[:, :-1]], 1)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm(h)  # [B, T, C] -> [B, T, levels]
        if self.out is None:
            return F.linear(h, self.tok.weight[: self.levels])
        return self.out(h)

    def forward(self, inp: torch.Tensor, cond: Cond = None) -> torch.Tensor:
        """Inputs ``[B, T]`` (``T <= D``; ids in ``[0, levels]``, ``levels`` the start token)
        -> logits ``[B, T, levels]``: position t predicts the value after ``inp[:, t]``."""
        T = inp.shape[1]
        h = self.tok(inp) + self.pos.weight[:T]
        c = self._cond_vector(cond)
        if c is not None:
            h = h + c
        h = dropout(h, self.dropout, self)
        for block in self.blocks:
            h = block(h)
        return self._logits(h)

    def token_log_probs(
        self, x: torch.Tensor, cond: Cond = None, *, cached: bool = False
    ) -> torch.Tensor:
        """ln p(x_t | x_<t) of every value, ``[B, D]`` nats in reading order. ``cached``:
        through the key/value-cache steps, one position at a time (the sampler's path)."""
        tokens = self.to_tokens(x.long())
        inp = self.inputs(tokens)
        if cached:
            logits = torch.stack(self._cached_logits(inp, cond), 1)
        else:
            logits = self(inp, cond)
        return -F.cross_entropy(
            logits.reshape(-1, self.levels), tokens.reshape(-1), reduction="none"
        ).view(tokens.shape)

    def _cached_logits(self, inp: torch.Tensor, cond: Cond) -> list[torch.Tensor]:
        decoder = self.decoder(inp.shape[0], cond)
        return [decoder(inp[:, t]) for t in range(inp.shape[1])]

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        self._check_cond(cond, x.shape[0])
        return self.token_log_probs(x, cond).sum(1)

    # ------------------------------------------------------------------ one step at a time
    def decoder(self, n: int, cond: Cond = None):  # noqa: ANN201 - a closure
        """A step function for decoding ``n`` sequences with a key/value cache: called with
        the input ids of position 0, 1, 2, ... (``[n]``), it returns the logits ``[n,
        levels]`` of the value at that position."""
        like = self.pos.weight
        caches: list[KVCache] = [b.init_cache(n, self.length, like) for b in self.blocks]
        pos_c = self.pos.weight[None]  # [1 or n, D, C]: positions (+ the labels' embedding)
        c = self._cond_vector(cond)
        if c is not None:
            pos_c = pos_c + c
        out_w = self.tok.weight[: self.levels] if self.out is None else self.out.weight
        pos = 0

        def step(inp_t: torch.Tensor) -> torch.Tensor:
            nonlocal pos
            h = self.tok(inp_t)[:, None] + pos_c[:, pos : pos + 1]  # [n, 1, C]
            for block, cache in zip(self.blocks, caches, strict=True):
                h = block.step(h, cache, pos)
            pos += 1
            return F.linear(self.norm(h[:, 0]), out_w)  # [n, levels]

        return step

    # ------------------------------------------------------------------ sampling
    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        fast: bool = True,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        if kw:
            raise ZooInputError(f"Transformer.sample got unknown options {sorted(kw)}")
        if not temperature > 0:
            raise ZooInputError(f"temperature must be > 0, got {temperature}")
        if self._cond_labels and cond is None:
            cond = self.default_cond(n)
        self._check_cond(cond, n)
        was_training = self.training
        self.eval()
        dev = self.device
        tokens = torch.full((n, self.length), self.start, dtype=torch.long, device=dev)
        step = self.decoder(n, cond) if fast else None
        prev = tokens.new_full((n,), self.start)
        for t in range(self.length):
            if t % NOISE_BLOCK == 0:  # Gumbel noise for the next NOISE_BLOCK positions
                steps = min(NOISE_BLOCK, self.length - t)
                u = torch.rand(steps, n, self.levels, generator=generator, device=dev)
                gumbel = (-torch.log(-torch.log(u.clamp_min(1e-20)))).mul_(temperature)
            if fast:
                logits = step(prev)
            else:
                inp = self.inputs(tokens[:, : t + 1])  # the whole prefix, recomputed
                logits = self(inp, cond)[:, -1]
            # argmax(logits / temperature + g) == argmax(logits + temperature * g)
            prev = (logits + gumbel[t % NOISE_BLOCK]).argmax(-1)
            tokens[:, t] = prev
        self.train(was_training)
        return self.from_tokens(tokens)

    # ------------------------------------------------------------------ streams
    def stream_log_prob(self, tokens: Any) -> tuple[float, int] | None:
        """``(ln p(stream), tokens scored)`` of a 1-D token stream (text), every token
        predicted once (see the module doc), or None for images."""
        if self.spec.modality == "image" or self._cond_labels:
            return None
        t = torch.as_tensor(tokens).reshape(-1).long()
        L, T, s = len(t), self.length, self.stream_stride
        if L == 0:
            raise ZooInputError("cannot score an empty token stream")
        if int(t.min()) < 0 or int(t.max()) >= self.levels:
            raise ZooInputError(f"stream ids must lie in [0, {self.levels})")
        # windows (b, a): targets t[b : b + T], scoring those with index >= a
        windows = [(0, 0)]
        a = min(T, L)
        while a < L:
            e = min(a + s, L)
            windows.append((e - T, a))
            a = e
        was_training = self.training
        self.eval()
        total = 0.0
        dev = self.device
        with torch.no_grad():
            for i in range(0, len(windows), STREAM_BATCH):
                chunk = windows[i : i + STREAM_BATCH]
                width = min(T, L)
                rows = torch.stack([t[b : b + width] for b, _ in chunk]).to(dev)
                lp = self.token_log_probs(rows)  # [windows, width]
                for j, (b, a0) in enumerate(chunk):
                    total += float(lp[j, a0 - b :].double().sum())
        self.train(was_training)
        return total, L
