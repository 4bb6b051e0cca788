"""WaveNet (van den Oord et al. 2016) with fast generation (Paine et al. 2016).

An autoregressive model of a 1-D sequence of discrete levels (mu-law audio, or characters):

    p(x) = prod_t p(x_t | x_<t, local, cond)

The input at position t is an embedding of the previous sample ``x[t-1]`` (zeros at t = 0), so
output t depends only on ``x[<t]``. A stack of causal dilated convolutions (dilations
1, 2, ..., 2**(layers-1), repeated ``stacks`` times) with gated units

    z = tanh(W_f * h + V_f g + U_f c) * sigmoid(W_g * h + V_g g + U_g c)

(``g``: speaker embedding, global; ``c``: local features at the sample rate) feeds residual
and skip 1x1 convolutions; the summed skips go through ReLU -> 1x1 -> ReLU -> 1x1 to the output
head (``head=``, :mod:`zoo.nn.heads`): a ``levels``-way categorical, or a discretised mixture
of logistics.
Output t sees ``receptive_field = (k - 1) * sum(dilations) + 1`` previous samples.

Sampling. ``fast=False`` (the naive path) runs the whole stack over the last
``receptive_field`` inputs for every new sample. ``fast=True`` keeps, per layer, the inputs the
future still needs in a ring buffer (Paine et al.'s activation queues) and computes one time step
per sample with the layers' weights stacked into matrices on preallocated buffers: the past
taps of all layers in one gather + batched matmul, then per layer one matmul for the present
tap, one sigmoid, one multiply and one matmul for the residual, and the skips of all layers in
one matmul at the end. Both paths draw their randomness from the same pre-drawn noise blocks
(:class:`_Noise`) and pick a level with the same rule (the head's ``sample_perturbed``), so
they give the same samples for the same generator seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints, check_sequence
from zoo.nn.causal import CausalConv1d, receptive_field, wavenet_dilations
from zoo.nn.heads import Categorical, Head, make_head, renamed_head_keyword

HEADS = ("categorical", "logistic_mixture")  # the heads with a Gumbel draw (sample_perturbed)
NOISE_BLOCK = 256  # steps of noise drawn at once; both sampling paths draw the same blocks
FAST_CPU_BACKEND = "numpy"  # "numpy" or "torch": the fast loop on the CPU (both are tested)
SINGLE_THREAD_MAX_BATCH = 16  # fast CPU sampling of up to this many sequences uses 1 thread


class ResidualLayer(nn.Module):
    """One gated layer: ``h -> (h + res(z), skip(z))``; the last layer has no residual."""

    def __init__(
        self,
        residual: int,
        gate: int,
        skip: int,
        kernel_size: int,
        dilation: int,
        local_channels: int,
        global_channels: int,
        last: bool,
    ) -> None:
        super().__init__()
        self.conv = CausalConv1d(residual, gate, kernel_size, dilation=dilation)
        self.local = nn.Conv1d(local_channels, gate, 1, bias=False) if local_channels else None
        self.glob = nn.Linear(global_channels, gate, bias=False) if global_channels else None
        self.res = None if last else nn.Conv1d(gate // 2, residual, 1)
        self.skip = nn.Conv1d(gate // 2, skip, 1)

    def forward(
        self,
        h: torch.Tensor,  # [B, R, T]
        local: torch.Tensor | None,  # [B, C_local, T]
        g: torch.Tensor | None,  # [B, C_global]
        dropout: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.conv(h)
        if self.local is not None:
            a = a + self.local(local)
        if self.glob is not None:
            a = a + self.glob(g).unsqueeze(-1)
        filt, gate = a.chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        if dropout:
            z = F.dropout(z, dropout, training=True)
        skip = self.skip(z)
        return (h if self.res is None else h + self.res(z)), skip


class WaveNet(LikelihoodModel):
    """WaveNet over ``[B, T]`` sequences of ``spec.levels`` discrete values.

    Args:
        spec: an audio or text DataSpec, shape ``(T,)``.
        layers: layers per dilation cycle (dilations 1 .. 2**(layers-1)).
        stacks: number of dilation cycles.
        kernel_size: taps of each dilated convolution (>= 2).
        residual_channels, gate_channels, skip_channels: widths; ``gate_channels`` is split in
            half between the tanh filter and the sigmoid gate, so it must be even.
        head: "categorical" (``levels``-way softmax) or "logistic_mixture" (a discretised
            mixture of ``mixtures`` logistics); ``output``: its deprecated name.
        local_channels: channels of the local conditioning ``[B, C, T]`` (0: none).
        global_labels: names of ``spec.labels`` to condition on through embedding tables.
        global_dim: embedding size per global label.
        dropout: dropout on the gated activations during training.
    """

    family = "wavenet"
    estimate = "exact"
    modalities = ("audio", "text")

    def __init__(
        self,
        spec: DataSpec,
        *,
        layers: int = 10,
        stacks: int = 2,
        kernel_size: int = 2,
        residual_channels: int = 64,
        gate_channels: int = 128,
        skip_channels: int = 64,
        head: str = "categorical",
        mixtures: int = 10,
        local_channels: int = 0,
        global_labels: tuple[str, ...] | list[str] = (),
        global_dim: int = 16,
        dropout: float = 0.0,
        output: str | None = None,
    ) -> None:
        super().__init__(spec)
        head = renamed_head_keyword("WaveNet", "output", output, head, "categorical")
        check_ints(
            "WaveNet", layers=layers, stacks=stacks, mixtures=mixtures, global_dim=global_dim
        )
        check_ints("WaveNet", residual_channels=residual_channels, skip_channels=skip_channels)
        check_ints("WaveNet", 2, kernel_size=kernel_size, gate_channels=gate_channels)
        check_ints("WaveNet", 0, local_channels=local_channels)
        if gate_channels % 2:
            raise ValueError(
                f"WaveNet gate_channels is split into tanh and sigmoid halves, so it must be "
                f"even; got {gate_channels}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"WaveNet dropout must lie in [0, 1), got {dropout}")
        if isinstance(global_labels, str):
            global_labels = (global_labels,)
        global_labels = tuple(global_labels)
        unknown = [g for g in global_labels if g not in spec.labels]
        if unknown:
            raise ValueError(
                f"WaveNet global_labels {unknown} are not labels of {spec!r}; "
                f"it has {sorted(spec.labels)}"
            )
        self.levels = spec.levels
        self.kernel_size = kernel_size
        self.dilations = wavenet_dilations(layers, stacks)
        self.residual_channels = residual_channels
        self.gate_channels = gate_channels
        self.skip_channels = skip_channels
        self.head: Head = make_head(head, spec, mixtures=mixtures, allowed=HEADS, owner="WaveNet")
        self.mixtures = mixtures
        self.local_channels = local_channels
        self.global_labels = global_labels
        self.dropout = dropout

        self.embed = nn.Embedding(spec.levels, residual_channels)
        self.global_embed = nn.ModuleDict(
            {g: nn.Embedding(spec.labels[g], global_dim) for g in global_labels}
        )
        n_layers = len(self.dilations)
        self.layers = nn.ModuleList(
            ResidualLayer(
                residual_channels,
                gate_channels,
                skip_channels,
                kernel_size,
                d,
                local_channels,
                global_dim * len(global_labels),
                last=i == n_layers - 1,
            )
            for i, d in enumerate(self.dilations)
        )
        self.head_hidden = nn.Conv1d(skip_channels, skip_channels, 1)
        self.head_out = nn.Conv1d(skip_channels, self.head_channels, 1)

    # ------------------------------------------------------------------ shape facts
    @property
    def cond_labels(self) -> tuple[str, ...]:
        return self.global_labels

    @property
    def receptive_field(self) -> int:
        """Previous samples output t depends on: ``(k - 1) * sum(dilations) + 1``."""
        return receptive_field(self.kernel_size, self.dilations)

    @property
    def head_channels(self) -> int:
        """Parameters per step: ``levels`` logits, or (logits, means, log-scales) x mixtures."""
        return self.head.num_params

    # ------------------------------------------------------------------ validation
    def _check_x(self, x: torch.Tensor) -> None:
        check_sequence(x, self.levels)

    def _check_cond(self, batch: int, length: int, local: torch.Tensor | None, cond: Cond) -> None:
        if self.local_channels:
            want = [batch, self.local_channels, length]
            if not isinstance(local, torch.Tensor) or list(local.shape) != want:
                got = list(local.shape) if isinstance(local, torch.Tensor) else local
                raise ValueError(
                    f"local conditioning must be a float tensor {want} "
                    f"([B, local_channels, T] at the sample rate), got {got}; upsample the "
                    f"latents to the sample rate first"
                )
            if not local.is_floating_point():
                raise ValueError(f"local conditioning must be floating point, got {local.dtype}")
        elif local is not None:
            raise ValueError(
                "this WaveNet was built with local_channels=0 and takes no local conditioning"
            )
        self.spec.validate_cond(cond, batch)
        missing = [g for g in self.global_labels if cond is None or g not in cond]
        if missing:
            raise ValueError(
                f"this WaveNet is conditioned on {list(self.global_labels)}; pass "
                f"cond={{name: [B] int64}} with {missing}"
            )

    def _global(self, cond: Cond) -> torch.Tensor | None:
        """Concatenated global embeddings ``[B, global_dim * len(global_labels)]``."""
        if not self.global_labels:
            return None
        return torch.cat([self.global_embed[g](cond[g].long()) for g in self.global_labels], 1)

    # ------------------------------------------------------------------ the network
    def _stack(
        self,
        e: torch.Tensor,  # [B, R, T] embedded, already shifted inputs
        local: torch.Tensor | None,  # [B, C_local, T]
        g: torch.Tensor | None,  # [B, C_global]
        dropout: float,
    ) -> torch.Tensor:  # [B, head_channels, T]
        h, skips = e, 0
        for layer in self.layers:
            h, s = layer(h, local, g, dropout)
            skips = skips + s
        return self.head_out(F.relu(self.head_hidden(F.relu(skips))))

    def _embed_shifted(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` levels -> ``[B, R, T]``: position t holds the embedding of x[t-1]."""
        e = self.embed(x).transpose(1, 2)  # [B, R, T]
        return F.pad(e[:, :, :-1], (1, 0))

    def logits_given(
        self, x: torch.Tensor, local: torch.Tensor | None = None, cond: Cond = None
    ) -> torch.Tensor:
        """Head parameters for every step, ``[B, head_channels, T]``; step t sees x[<t].

        Categorical: ``[B, levels, T]`` logits. Logistic mixture: ``[B, 3M, T]`` holding
        mixture logits, means (on [-1, 1]) and log-scales, M channels each.
        """
        self._check_x(x)
        self._check_cond(x.shape[0], x.shape[1], local, cond)
        drop = self.dropout if self.training else 0.0
        return self._stack(self._embed_shifted(x.long()), local, self._global(cond), drop)

    def log_prob_given(
        self, x: torch.Tensor, local: torch.Tensor | None = None, cond: Cond = None
    ) -> torch.Tensor:
        """``log p(x | local, cond)``, ``[B]`` nats, exact. ``x``: ``[B, T]`` levels."""
        params = self.logits_given(x, local, cond)
        return self.head.log_prob(params, x.long().unsqueeze(1)).flatten(1).sum(1)

    # ------------------------------------------------------------------ contract hooks
    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        return self.log_prob_given(x, None, cond)

    def _sample(
        self, n: int, *, cond: Cond, generator: torch.Generator | None, **kw: Any
    ) -> torch.Tensor:
        return self.sample_given(n, cond=cond, generator=generator, **kw)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_given(
        self,
        n: int,
        T: int | None = None,
        local: torch.Tensor | None = None,
        cond: Cond = None,
        generator: torch.Generator | None = None,
        fast: bool = True,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Draw ``[n, T]`` int64 levels (``T`` defaults to the spec's length).

        ``fast=True`` uses per-layer activation queues (one step per sample); ``fast=False``
        reruns the stack over the last ``receptive_field`` inputs for every sample. Both give
        the same samples for the same generator state. ``temperature`` scales the noise:
        0 picks the most likely level (categorical) or the mode component's mean (mixture).
        """
        T = self.spec.length if T is None else T
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n (number of samples) must be an int >= 1, got {n!r}")
        if not isinstance(T, int) or isinstance(T, bool) or T < 1:
            raise ValueError(f"T (samples to draw) must be an int >= 1, got {T!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self._check_cond(n, T, local, cond)
        noise = _Noise(
            n,
            self._noise_width,
            generator,
            self._dtype,
            self.device,
            temperature,
            mixture=not isinstance(self.head, Categorical),
        )
        if fast:
            out = _FastSampler(self, n, cond).run(T, local, noise)  # [T, n], inference mode
            return out.T.clone()  # a normal tensor that autograd may use
        return self._sample_naive(n, T, local, cond, noise)

    @property
    def _noise_width(self) -> int:
        return self.head.perturb_width

    @property
    def _dtype(self) -> torch.dtype:
        return self.embed.weight.dtype

    def _window_params(
        self,
        x: torch.Tensor,  # [n, T_total] samples so far (only [:, :t] is read)
        t: int,
        local: torch.Tensor | None,
        g: torch.Tensor | None,
    ) -> torch.Tensor:  # [n, P]
        """Head parameters for step t from a full forward over the receptive field."""
        start = max(0, t - self.receptive_field + 1)  # first output position in the window
        if start == 0:
            e = self._embed_shifted(F.pad(x[:, :t], (0, 1)))  # inputs x[0 .. t-1], zero first
        else:
            e = self.embed(x[:, start - 1 : t]).transpose(1, 2)
        loc = None if local is None else local[:, :, start : t + 1]
        return self._stack(e, loc, g, 0.0)[:, :, -1]

    def _sample_naive(
        self, n: int, T: int, local: torch.Tensor | None, cond: Cond, noise: _Noise
    ) -> torch.Tensor:
        x = torch.zeros(n, T, dtype=torch.long, device=self.device)
        g = self._global(cond)
        for t in range(T):
            x[:, t] = _draw(self, self._window_params(x, t, local, g), noise.step(t))
        return x


def _draw(model: WaveNet, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """One level per row from head parameters ``[n, P]`` and noise ``[n, W]`` -> ``[n]``.

    ``noise`` holds Gumbel noise already scaled by the temperature (categorical: one per level;
    mixture: one per component, then a temperature-scaled standard logistic variate); the
    rule is the head's (:meth:`zoo.nn.heads.Head.sample_perturbed`).
    """
    return model.head.sample_perturbed(params, noise)


class _Noise:
    """Pre-drawn sampling noise, ``NOISE_BLOCK`` steps at a time, identical for both paths.

    Each block is one ``torch.rand([n, NOISE_BLOCK, width])`` call on the generator, turned into
    temperature-scaled Gumbel noise (categorical / mixture choice) and, for the mixture's last
    column, a temperature-scaled standard logistic variate (inverse CDF as in
    ``zoo.nn.discretized.sample_discretized_logistic``).
    """

    def __init__(
        self,
        n: int,
        width: int,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device,
        temperature: float,
        mixture: bool,
    ) -> None:
        self.n, self.width, self.generator, self.mixture = n, width, generator, mixture
        self.dtype, self.device, self.temperature = dtype, device, temperature
        self.block_index = -1
        self.block: torch.Tensor | None = None  # [n, NOISE_BLOCK, width]

    def _draw_block(self, b: int) -> None:
        u = torch.rand(
            (self.n, NOISE_BLOCK, self.width),
            generator=self.generator,
            device=self.device,
            dtype=self.dtype,
        )
        g = -torch.log((-torch.log(u.clamp(1e-20, 1.0))).clamp_min(1e-20))  # Gumbel
        if self.mixture:
            v = u[..., -1].clamp(1e-5, 1.0 - 1e-5)
            g[..., -1] = torch.log(v) - torch.log1p(-v)
        self.block, self.block_index = g * self.temperature, b

    def step(self, t: int) -> torch.Tensor:
        """Noise for step t, ``[n, width]`` (blocks must be requested in order)."""
        b = t // NOISE_BLOCK
        if b != self.block_index:
            self._draw_block(b)
        return self.block[:, t % NOISE_BLOCK]

    def block_for(self, t: int) -> torch.Tensor:
        """The whole block holding step t, ``[n, NOISE_BLOCK, width]``."""
        self.step(t)
        return self.block


class _FastSampler:
    """Generation one step per sample with per-layer input queues (Paine et al. 2016).

    Buffers (column vectors, batch last, so every per-layer slice is contiguous):
        taps [L, k, R, n]   per layer, the k inputs its dilated kernel reads this step:
                            taps[l, j] = input of layer l at step t - (k-1-j) d_l; the last
                            (j = k-1) is the present, written by layer l-1 (taps[0, k-1]: the
                            embedding of the previous sample)
        ring [S, L, R, n]   the present input of every layer at the last S steps, S a power
                            of two > (k-1) max(d); the past taps are one gather from it
        act  [L, G+1, n]    per layer [sigmoid(2a) sigmoid(b) | sigmoid(b) | 1]
    The filter half of each gate is pre-scaled by 2 so that one sigmoid serves both halves:
    tanh(a) sigmoid(b) = 2 sigmoid(2a) sigmoid(b) - sigmoid(b), which the residual and skip
    matrices absorb as [2W | -W | bias] acting on ``act``. A step is then: one gather of all
    past taps, per layer one matmul (all k taps), one sigmoid, one multiply and one matmul
    (residual), one matmul for the skips of all layers, the two head matmuls, and the draw.
    """

    def __init__(self, model: WaveNet, n: int, cond: Cond) -> None:
        self.model, self.n = model, n
        dev, dt = model.device, model._dtype
        L, R, G = len(model.layers), model.residual_channels, model.gate_channels
        k, H = model.kernel_size, model.gate_channels // 2
        scale = torch.ones(G, device=dev, dtype=dt)
        scale[:H] = 2.0  # filter half pre-scaled: tanh(a) = 2 sigmoid(2a) - 1

        # ---- gate pre-activation: all k taps of layer l in one [G, k R] matrix
        w = torch.stack([layer.conv.weight for layer in model.layers])  # [L, G, R, k]
        w = w * scale[None, :, None, None]
        self.w_gate = list(w.permute(0, 1, 3, 2).reshape(L, G, k * R).unbind(0))  # [G, k R]
        base = torch.stack([layer.conv.bias for layer in model.layers])[:, :, None]  # [L, G, 1]
        g = model._global(cond)
        if g is not None:  # speaker embedding: a constant per sequence, folded into the bias
            base = base + torch.stack([layer.glob(g).T for layer in model.layers])
        self.base = (base * scale[None, :, None]).expand(L, G, n).contiguous()  # [L, G, n]
        self.w_local = None
        if model.local_channels:
            wl = torch.stack([layer.local.weight[:, :, 0] for layer in model.layers])
            self.w_local = wl * scale[None, :, None]  # [L, G, C_local]

        # ---- residual / skip matrices acting on act: [2W | -W | bias]
        def fold(conv: nn.Conv1d) -> torch.Tensor:
            W = conv.weight[:, :, 0]  # [out, H]
            return torch.cat([2 * W, -W, conv.bias[:, None]], 1)  # [out, G+1]

        self.w_res = [fold(layer.res) for layer in model.layers[:-1]]  # [R, G+1]
        self.w_skip = torch.cat([fold(layer.skip) for layer in model.layers], 1)  # [Sk, L(G+1)]
        self.w_h1, self.b_h1 = model.head_hidden.weight[:, :, 0], model.head_hidden.bias[:, None]
        self.w_h2, self.b_h2 = model.head_out.weight[:, :, 0], model.head_out.bias[:, None]
        self.embed_t = model.embed.weight.T.contiguous()  # [R, K]

        # ---- the gather: ring row of (layer l, tap j) at step t, periodic in t mod S
        max_lag = (k - 1) * max(model.dilations)
        S = 1
        while S <= max_lag:
            S *= 2
        lag = torch.tensor(
            [[(k - 1 - j) * d for j in range(k)] for d in model.dilations], device=dev
        )  # [L, k]
        layer_ix = torch.arange(L, device=dev)[:, None]
        steps = torch.arange(S, device=dev)[:, None, None]
        rows = ((steps - lag) % S) * L + layer_ix  # [S, L, k] rows of ring as [S L, R n]
        rows[:, :, k - 1] = 0  # the present tap is written during the step: any row will do
        self.gather_rows = list(rows.reshape(S, L * k).unbind(0))
        self.L, self.R, self.G, self.k, self.S = L, R, G, k, S

    def run(self, T: int, local: torch.Tensor | None, noise: _Noise) -> torch.Tensor:
        """Draw ``T`` steps; returns ``[T, n]`` int64 (an inference-mode tensor).

        On the CPU with a small batch, the loop runs on one intra-op thread: its matrices are
        too small to split, and waking a second thread ~90 times a step costs more than it
        saves (the previous thread count is restored afterwards).
        """
        threads = torch.get_num_threads()
        cpu = self.base.device.type == "cpu"
        single = cpu and self.n <= SINGLE_THREAD_MAX_BATCH
        if single:
            torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                if cpu and FAST_CPU_BACKEND == "numpy":
                    return self._run_numpy(T, local, noise)
                return self._run(T, local, noise)
        finally:
            if single:
                torch.set_num_threads(threads)

    def _run_numpy(
        self,
        T: int,
        local: torch.Tensor | None,
        noise: _Noise | None,
        pick: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> torch.Tensor:
        """The same step on NumPy arrays: its calls cost ~1 us where torch's cost ~3-5 us.

        ``pick`` (lossless coding, ``zoo.coding``) replaces the draw: it gets the head
        parameters ``[P, n]`` of each step and returns the ``[n]`` levels; no noise is drawn.

        One tanh serves both halves here: sigmoid(b) = (1 + tanh(b / 2)) / 2, so the gate half
        is pre-scaled by 1/2, ``act = [tanh(a) | tanh(a) tanh(b/2) | 1]`` and the residual and
        skip matrices become ``[W/2 | W/2 | bias]``.
        """
        m, n = self.model, self.n
        L, R, G, k, S = self.L, self.R, self.G, self.k, self.S
        H = G // 2
        dt = self.base.dtype

        def arr(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy())

        # undo the torch path's x2 on the filter half, apply x1/2 on the gate half
        rescale = torch.ones(G, dtype=dt)
        rescale[:H], rescale[H:] = 0.5, 0.5
        w_gate = [arr(w * rescale[:, None]) for w in self.w_gate]  # [G, k R]
        base = arr(self.base * rescale[None, :, None])  # [L, G, n]

        def fold(conv: nn.Conv1d) -> np.ndarray:
            W = conv.weight[:, :, 0]
            return arr(torch.cat([W / 2, W / 2, conv.bias[:, None]], 1))  # [out, G+1]

        w_res = [fold(layer.res) for layer in m.layers[:-1]]
        w_skip = np.concatenate([fold(layer.skip) for layer in m.layers], 1)
        w_h1, b_h1, w_h2, b_h2 = (arr(t) for t in (self.w_h1, self.b_h1, self.w_h2, self.b_h2))
        embed_t = arr(self.embed_t)  # [R, K]
        rows = [arr(r) for r in self.gather_rows]
        w_local = None if self.w_local is None else self.w_local * rescale[None, :, None]

        npdt = embed_t.dtype
        taps = np.zeros((L, k, R, n), npdt)
        taps_flat = taps.reshape(L * k, R * n)
        present = taps[:, k - 1]
        ring = np.zeros((S, L, R, n), npdt)
        ring_flat = ring.reshape(S * L, R * n)
        act = np.ones((L, G + 1, n), npdt)
        act_flat = act.reshape(L * (G + 1), n)
        skip = np.empty((m.skip_channels, n), npdt)
        hid = np.empty((m.skip_channels, n), npdt)
        params = np.empty((m.head_channels, n), npdt)
        out = np.empty((T, n), np.int64)
        x_in = taps[0, k - 1]
        per_layer = [
            (
                i,
                w_gate[i],
                taps[i].reshape(k * R, n),
                act[i, :G],
                act[i, :H],
                act[i, H:G],
                act[i],
                taps[i, k - 1],
                w_res[i] if i < L - 1 else None,
                taps[i + 1, k - 1] if i < L - 1 else None,
            )
            for i in range(L)
        ]
        categorical = isinstance(m.head, Categorical)
        dot, add, tanh, mul, take, maximum = (
            np.dot,
            np.add,
            np.tanh,
            np.multiply,
            np.take,
            np.maximum,
        )
        step_base = base
        noise_block = None
        for t in range(T):
            r = t % NOISE_BLOCK
            if r == 0:
                if noise is not None:
                    noise_block = arr(noise.block_for(t).permute(1, 2, 0))  # [b, W, n]
                if w_local is not None:
                    loc = local[:, :, t : t + NOISE_BLOCK].to(dt)
                    lc = torch.einsum("lgc,nct->tlgn", w_local, loc)
                    block_base = arr(lc) + base  # [b, L, G, n]
            if w_local is not None:
                step_base = block_base[r]
            take(ring_flat, rows[t % S], axis=0, out=taps_flat, mode="clip")
            if t:
                take(embed_t, out[t - 1], axis=1, out=x_in, mode="clip")
            for i, w, x, a, f, g, a_all, h, wr, h_out in per_layer:
                dot(w, x, out=a)
                add(a, step_base[i], out=a)
                tanh(a, out=a)
                mul(g, f, out=g)  # [tanh(a) | tanh(a) tanh(b/2)]
                if wr is not None:
                    dot(wr, a_all, out=h_out)
                    add(h_out, h, out=h_out)
            ring[t % S] = present
            dot(w_skip, act_flat, out=skip)
            maximum(skip, 0, out=skip)
            dot(w_h1, skip, out=hid)
            add(hid, b_h1, out=hid)
            maximum(hid, 0, out=hid)
            dot(w_h2, hid, out=params)
            add(params, b_h2, out=params)
            if pick is not None:
                out[t] = pick(params)
            elif categorical:
                add(params, noise_block[r], out=params)
                np.argmax(params, axis=0, out=out[t])
            else:
                p, z = torch.from_numpy(params.T.copy()), torch.from_numpy(noise_block[r].T.copy())
                out[t] = _draw(m, p, z).numpy()
        return torch.from_numpy(out)

    def _run(self, T: int, local: torch.Tensor | None, noise: _Noise) -> torch.Tensor:
        m, n = self.model, self.n
        L, R, G, k, S = self.L, self.R, self.G, self.k, self.S
        dev, dt = self.base.device, self.base.dtype
        H = G // 2
        taps = torch.zeros(L, k, R, n, device=dev, dtype=dt)
        taps_flat = taps.view(L * k, R * n)
        present = taps[:, k - 1]  # [L, R, n], strided
        ring = torch.zeros(S, L, R, n, device=dev, dtype=dt)
        ring_flat = ring.view(S * L, R * n)
        ring_slots = list(ring.unbind(0))  # S x [L, R, n]
        act = torch.ones(L, G + 1, n, device=dev, dtype=dt)
        act_flat = act.view(L * (G + 1), n)
        skip = torch.empty(m.skip_channels, n, device=dev, dtype=dt)
        hid = torch.empty(m.skip_channels, n, device=dev, dtype=dt)
        params = torch.empty(m.head_channels, n, device=dev, dtype=dt)
        out = torch.empty(T, n, dtype=torch.long, device=dev)
        out_rows = list(out.unbind(0))
        x_in = taps[0, k - 1]  # [R, n]: embedding of the previous sample

        # per-layer views bound once: (bias, gate weight, taps, gate slice, filter half,
        # sigmoid half, act, residual weight, residual out)
        per_layer = []
        for i in range(L):
            a = act[i]
            per_layer.append(
                (
                    self.base[i],
                    self.w_gate[i],
                    taps[i].view(k * R, n),
                    a[:G],
                    a[:H],
                    a[H:G],
                    a,
                    taps[i, k - 1],
                    self.w_res[i] if i < L - 1 else None,
                    taps[i + 1, k - 1] if i < L - 1 else None,
                )
            )
        categorical = isinstance(m.head, Categorical)
        w_skip, w_h1, b_h1, w_h2, b_h2 = self.w_skip, self.w_h1, self.b_h1, self.w_h2, self.b_h2
        embed_t, gather_rows = self.embed_t, self.gather_rows
        noise_rows: list[torch.Tensor] = []
        index_select, addmm, mm = torch.index_select, torch.addmm, torch.mm
        sigmoid, mul, argmax, add = torch.sigmoid, torch.mul, torch.argmax, torch.add
        for t in range(T):
            r = t % NOISE_BLOCK
            if r == 0:
                noise_rows = list(noise.block_for(t).permute(1, 2, 0).contiguous().unbind(0))
                if self.w_local is not None:  # local conditioning of the block, all layers
                    loc = local[:, :, t : t + NOISE_BLOCK].to(dt)  # [n, C, b]
                    lc = torch.einsum("lgc,nct->tlgn", self.w_local, loc) + self.base
                    block_base = [list(b.unbind(0)) for b in lc.unbind(0)]  # [b][L] x [G, n]
            # past taps of every layer: one gather (overwrites the present rows too, so it
            # comes before the embedding of the previous sample is written)
            index_select(ring_flat, 0, gather_rows[t % S], out=taps_flat)
            if t:
                index_select(embed_t, 1, out_rows[t - 1], out=x_in)
            for i, (b, w, x, a, f, s, a_all, h, w_res, h_out) in enumerate(per_layer):
                if self.w_local is not None:
                    b = block_base[r][i]
                addmm(b, w, x, out=a)  # gate pre-activations [G, n], all taps at once
                sigmoid(a, out=a)
                mul(f, s, out=f)
                if w_res is not None:
                    addmm(h, w_res, a_all, out=h_out)  # h + residual(z) + bias
            ring_slots[t % S].copy_(present)
            mm(w_skip, act_flat, out=skip)  # sum of the skips of all layers (+ biases)
            skip.relu_()
            addmm(b_h1, w_h1, skip, out=hid).relu_()
            addmm(b_h2, w_h2, hid, out=params)
            if categorical:
                add(params, noise_rows[r], out=params)
                argmax(params, 0, out=out_rows[t])
            else:
                out_rows[t].copy_(_draw(m, params.T, noise_rows[r].T))
        return out
