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
``receptive_field`` inputs for every new sample. ``fast=True`` computes one time step per
sample (Paine et al. 2016): every stage owns its step, ``init_state(n)`` (a small dataclass
cache) and ``step(x_t, state)``: the input stage (:meth:`WaveNet.input_step`, the embedding of
the previous sample), each :meth:`ResidualLayer.step` (one matmul over all k taps of its
dilated kernel, one transcendental, one multiply, one matmul for the residual) and the output
stage (:meth:`WaveNet.output_step`: the skips of all layers in one matmul, the two head 1x1s).
The layers' input queues live in one ring (:class:`_Queues`) so that one gather fills every
layer's past taps. The steps have two backends behind the same interface: numpy (the CPU
default: its calls cost ~1 us where torch's cost ~3-5 us) and torch (any device). Both paths
draw their randomness from the same pre-drawn noise blocks (:class:`_Noise`) and pick a level
with the same rule (the head's ``sample_perturbed``), so they give the same samples for the
same generator seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints, check_sequence, keyword_group
from zoo.nn.causal import CausalConv1d, receptive_field, wavenet_dilations
from zoo.nn.heads import Categorical, Head, make_head, renamed_head_keyword

HEADS = ("categorical", "logistic_mixture")  # the heads with a Gumbel draw (sample_perturbed)
NOISE_BLOCK = 256  # steps of noise drawn at once; both sampling paths draw the same blocks
FAST_CPU_BACKEND = "numpy"  # "numpy" or "torch": the fast loop on the CPU (both are tested)
SINGLE_THREAD_MAX_BATCH = 16  # fast CPU sampling of up to this many sequences uses 1 thread
Array = np.ndarray | torch.Tensor  # a step's buffers: numpy or torch, per backend
Pick = Callable[[np.ndarray], np.ndarray]  # lossless coding: head parameters [P, n] -> [n]
_np_dot, _np_add, _np_mul, _np_tanh, _np_max = np.dot, np.add, np.multiply, np.tanh, np.maximum


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

    # ------------------------------------------------------------------ one step at a time
    def init_state(
        self,
        n: int,
        *,
        backend: str = "torch",
        g: torch.Tensor | None = None,
        taps: Array | None = None,
        act: Array | None = None,
        out: Array | None = None,
    ) -> LayerState:
        """This layer's cache for generating ``n`` sequences one step at a time.

        ``backend``: "torch" (tensors on the layer's device) or "numpy" (CPU arrays, whose
        calls cost ~1 us where torch's cost ~3-5 us). ``g``: the global conditioning
        ``[n, C_global]`` (a constant per sequence, folded into the bias). ``taps`` ``[k, R,
        n]``, ``act`` ``[G+1, n]`` and ``out`` ``[R, n]`` may be views into buffers shared
        with the other layers (:class:`_Queues` fills all layers' past taps with one gather,
        the output stage reads all layers' ``act`` with one product, and ``out`` is the next
        layer's present tap); by default the layer allocates its own. ``step`` writes only the
        present tap: the past taps (inputs at t - j d) are the queue's to keep, with one
        gather for all layers where per-layer queues would cost one call per layer a step.

        The arithmetic is laid out per backend so that one transcendental serves both gate
        halves. torch: the filter half is pre-scaled by 2, ``act = [sigmoid(2a) sigmoid(b) |
        sigmoid(b) | 1]`` (tanh(a) = 2 sigmoid(2a) - 1) and the residual and skip matrices
        are ``[2W | -W | bias]``. numpy: the gate half is pre-scaled by 1/2, ``act = [tanh(a)
        | tanh(a) tanh(b/2) | 1]`` (sigmoid(b) = (1 + tanh(b/2)) / 2) and the matrices are
        ``[W/2 | W/2 | bias]``.
        """
        if backend not in ("torch", "numpy"):
            raise ValueError(f"backend must be 'torch' or 'numpy', got {backend!r}")
        w = self.conv.weight  # [G, R, k]
        G, R, k = w.shape
        H = G // 2
        dev, dt = w.device, w.dtype
        numpy = backend == "numpy"
        scale = torch.ones(G, device=dev, dtype=dt)
        if numpy:
            scale[H:] = 0.5
        else:
            scale[:H] = 2.0
        base = self.conv.bias[:, None]
        if self.glob is not None:
            base = base + self.glob(g).T  # [G, n]
        base = (base * scale[:, None]).expand(G, n).contiguous()
        w_gate = (w * scale[:, None, None]).permute(0, 2, 1).reshape(G, k * R)  # [G, k R]
        w_local = None
        if self.local is not None:
            w_local = self.local.weight[:, :, 0] * scale[:, None]  # [G, C_local], torch

        def fold(conv: nn.Conv1d) -> torch.Tensor:  # [out, G+1] acting on act
            W = conv.weight[:, :, 0]
            parts = [W / 2, W / 2] if numpy else [2 * W, -W]
            return torch.cat([*parts, conv.bias[:, None]], 1)

        w_res = None if self.res is None else fold(self.res)
        w_skip = fold(self.skip)

        if numpy:
            zeros, ones = np.zeros, np.ones
            npdt = torch.empty(0, dtype=dt).numpy().dtype
            base, w_gate, w_skip = _arr(base), _arr(w_gate), _arr(w_skip)
            w_res = None if w_res is None else _arr(w_res)
            taps = zeros((k, R, n), npdt) if taps is None else taps
            act = ones((G + 1, n), npdt) if act is None else act
            if out is None and w_res is not None:
                out = zeros((R, n), npdt)
            window = taps.reshape(k * R, n)
        else:
            w_gate = w_gate.contiguous()
            taps = torch.zeros(k, R, n, device=dev, dtype=dt) if taps is None else taps
            act = torch.ones(G + 1, n, device=dev, dtype=dt) if act is None else act
            if out is None and w_res is not None:
                out = torch.zeros(R, n, device=dev, dtype=dt)
            window = taps.view(k * R, n)
        if w_res is None:
            out = None
        return LayerState(
            numpy, w_gate, base, w_local, w_res, w_skip, window, taps[k - 1], act, act[:G],
            act[:H], act[H:G], out,
        )  # fmt: skip

    def step(self, x_t: Array, state: LayerState, base: Array | None = None) -> Array | None:
        """One time step: ``x_t`` ``[R, n]`` is this layer's input now (its past inputs are in
        ``state``); fills ``state.act`` (read by the skip sum) and returns the next layer's
        input ``[R, n]`` (None for the last layer). ``base``: the gate bias of this step when
        it varies (local conditioning), else ``state.base``."""
        run = self.step_numpy if state.numpy else self.step_torch
        return run(x_t, state, state.base if base is None else base)

    # The step on each backend (the fast loop binds one of them once; same interface).
    @staticmethod
    def step_numpy(x_t: np.ndarray, s: LayerState, base: np.ndarray) -> np.ndarray | None:
        present, gate, out = s.present, s.gate, s.out
        if x_t is not present:
            present[...] = x_t
        _np_dot(s.w_gate, s.window, out=gate)  # all k taps at once
        _np_add(gate, base, out=gate)
        _np_tanh(gate, out=gate)
        _np_mul(s.second, s.first, out=s.second)  # [tanh(a) | tanh(a) tanh(b/2)]
        if out is not None:
            _np_dot(s.w_res, s.act, out=out)
            _np_add(out, present, out=out)  # x_t + residual(z) + bias
        return out

    @staticmethod
    def step_torch(x_t: torch.Tensor, s: LayerState, base: torch.Tensor) -> torch.Tensor | None:
        present, gate, out = s.present, s.gate, s.out
        if x_t is not present:
            present.copy_(x_t)
        torch.addmm(base, s.w_gate, s.window, out=gate)  # all k taps at once
        torch.sigmoid(gate, out=gate)
        torch.mul(s.first, s.second, out=s.first)  # [sigmoid(2a) sigmoid(b) | sigmoid(b)]
        if out is not None:
            torch.addmm(present, s.w_res, s.act, out=out)  # x_t + residual(z) + bias
        return out


@dataclass(frozen=True)
class DilatedStack:
    """The dilated stack, one option group of :class:`WaveNet` and of the WaveNet
    autoencoder's decoder: ``stacks`` cycles of ``layers`` layers (dilations 1 ..
    2**(layers-1)) whose convolutions have ``kernel_size`` taps (>= 2), and its widths;
    ``gate_channels`` is split in half between the tanh filter and the sigmoid gate, so it
    must be even."""

    layers: int = 10
    stacks: int = 2
    kernel_size: int = 2
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64

    def check(self, owner: str) -> None:
        check_ints(owner, layers=self.layers, stacks=self.stacks)
        check_ints(owner, residual_channels=self.residual_channels)
        check_ints(owner, skip_channels=self.skip_channels)
        check_ints(owner, 2, kernel_size=self.kernel_size, gate_channels=self.gate_channels)
        if self.gate_channels % 2:
            raise ValueError(
                f"{owner} gate_channels is split into tanh and sigmoid halves, so it must be "
                f"even; got {self.gate_channels}"
            )


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

    @keyword_group("stack", DilatedStack())
    def __init__(
        self,
        spec: DataSpec,
        *,
        stack: DilatedStack,
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
        stack.check("WaveNet")
        check_ints("WaveNet", mixtures=mixtures, global_dim=global_dim)
        check_ints("WaveNet", 0, local_channels=local_channels)
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
        self.kernel_size = kernel_size = stack.kernel_size
        self.dilations = wavenet_dilations(stack.layers, stack.stacks)
        self.residual_channels = residual_channels = stack.residual_channels
        self.gate_channels = gate_channels = stack.gate_channels
        self.skip_channels = skip_channels = stack.skip_channels
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

    # ------------------------------------------------------------------ stages, one step
    def input_state(self, n: int, backend: str = "torch", out: Array | None = None) -> InputState:
        """The input stage's cache; ``out`` ``[R, n]``: where the embedding goes (the first
        layer's present tap; by default a buffer of its own, zeros: the input at t = 0)."""
        numpy = backend == "numpy"
        table = self.embed.weight.T.contiguous()  # [R, levels]
        if out is None:
            out = torch.zeros(self.residual_channels, n, device=self.device, dtype=self._dtype)
            out = _arr(out) if numpy else out
        return InputState(numpy, _arr(table) if numpy else table, out)

    def input_step(self, x_prev: Array, state: InputState) -> Array:
        """The embedding of the previous samples ``x_prev`` ``[n]`` -> ``[R, n]``."""
        if state.numpy:
            np.take(state.table, x_prev, axis=1, out=state.out, mode="clip")
        else:
            torch.index_select(state.table, 1, x_prev, out=state.out)
        return state.out

    def output_state(
        self, n: int, backend: str, layers: list[LayerState], acts: Array
    ) -> OutputState:
        """The output stage's cache over the layers' states; ``acts`` ``[L (G+1), n]``: their
        ``act`` buffers, stacked (one product sums the skips of all layers)."""
        numpy = backend == "numpy"
        cat = np.concatenate if numpy else torch.cat
        w = [
            self.head_hidden.weight[:, :, 0],
            self.head_hidden.bias[:, None],
            self.head_out.weight[:, :, 0],
            self.head_out.bias[:, None],
        ]
        Sk, P = self.skip_channels, self.head_channels
        if numpy:
            w = [_arr(t) for t in w]
            npdt = w[0].dtype
            bufs = [np.empty((Sk, n), npdt), np.empty((Sk, n), npdt), np.empty((P, n), npdt)]
        else:
            dev, dt = self.device, self._dtype
            bufs = [torch.empty(c, n, device=dev, dtype=dt) for c in (Sk, Sk, P)]
        return OutputState(numpy, cat([s.w_skip for s in layers], 1), acts, *w, *bufs)

    def output_step(self, state: OutputState) -> Array:
        """Head parameters ``[P, n]`` of this step from the layers' activations."""
        s = state
        if s.numpy:
            _np_dot(s.w_skip, s.acts, out=s.skip)  # the skips of all layers (+ biases)
            _np_max(s.skip, 0, out=s.skip)
            _np_dot(s.w_h1, s.skip, out=s.hid)
            _np_add(s.hid, s.b_h1, out=s.hid)
            _np_max(s.hid, 0, out=s.hid)
            _np_dot(s.w_h2, s.hid, out=s.params)
            _np_add(s.params, s.b_h2, out=s.params)
        else:
            torch.mm(s.w_skip, s.acts, out=s.skip)
            s.skip.relu_()
            torch.addmm(s.b_h1, s.w_h1, s.skip, out=s.hid).relu_()
            torch.addmm(s.b_h2, s.w_h2, s.hid, out=s.params)
        return s.params

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


@dataclass(slots=True)
class LayerState:
    """One residual layer's cache for step-by-step generation (:meth:`ResidualLayer.step`).

    Column vectors, batch last. Weights are laid out for the backend (see
    :meth:`ResidualLayer.init_state`); the buffers may be views into the stack's shared ones.
    """

    numpy: bool  # the backend: numpy arrays (True) or torch tensors
    w_gate: Array  # [G, k R] the gate pre-activation's weights over all k taps
    base: Array  # [G, n] its bias (+ the speaker term)
    w_local: torch.Tensor | None  # [G, C_local] local conditioning (added per step to base)
    w_res: Array | None  # [R, G+1] residual 1x1 acting on act (None: the last layer)
    w_skip: Array  # [Sk, G+1] skip 1x1 acting on act
    window: Array  # [k R, n] the inputs the dilated kernel reads this step, oldest first
    present: Array  # [R, n] the last of them: the layer's input now
    act: Array  # [G+1, n] the gated activation in the backend's layout, then a row of ones
    gate: Array  # act[:G]
    first: Array  # act[:G/2]
    second: Array  # act[G/2:G]
    out: Array | None  # [R, n] the next layer's input (its present tap)


@dataclass(slots=True)
class InputState:
    """The input stage's cache: the embedding table as columns, and where the embedding of
    the previous sample goes (the first layer's present tap)."""

    numpy: bool
    table: Array  # [R, levels]
    out: Array  # [R, n]


@dataclass(slots=True)
class OutputState:
    """The output stage's cache: the skips of all layers in one product over their stacked
    activations, then ReLU -> 1x1 -> ReLU -> 1x1 to the head's parameters."""

    numpy: bool
    w_skip: Array  # [Sk, L (G+1)]
    acts: Array  # [L (G+1), n] every layer's act, stacked (the layers' buffers)
    w_h1: Array  # [Sk, Sk]
    b_h1: Array  # [Sk, 1]
    w_h2: Array  # [P, Sk]
    b_h2: Array  # [P, 1]
    skip: Array  # [Sk, n]
    hid: Array  # [Sk, n]
    params: Array  # [P, n]


@dataclass(slots=True)
class _Queues:
    """The layers' input queues (Paine et al. 2016), kept in one ring so that one gather
    fills the past taps of every layer.

    taps [L, k, R, n]: per layer, the k inputs its dilated kernel reads this step: taps[l, j]
    = input of layer l at step t - (k-1-j) d_l; the last (j = k-1) is the present, written
    during the step by the stage below. ring [S, L, R, n]: the present input of every layer
    at the last S steps, S a power of two > (k-1) max(d).
    """

    numpy: bool
    taps: Array
    ring: Array
    rows: list  # per t mod S: the ring rows of (layer, tap), [L k]
    taps_flat: Array  # [L k, R n]
    ring_flat: Array  # [S L, R n]
    ring_slots: list  # S x [L, R, n]
    present: Array  # taps[:, k-1], [L, R, n]

    @classmethod
    def build(cls, model: WaveNet, n: int, numpy: bool) -> _Queues:
        L, R, k = len(model.layers), model.residual_channels, model.kernel_size
        dev, dt = model.device, model._dtype
        max_lag = (k - 1) * max(model.dilations)
        S = 1
        while S <= max_lag:
            S *= 2
        lag = torch.tensor([[(k - 1 - j) * d for j in range(k)] for d in model.dilations])
        steps = torch.arange(S)[:, None, None]
        rows = ((steps - lag) % S) * L + torch.arange(L)[:, None]  # [S, L, k]
        rows[:, :, k - 1] = 0  # the present tap is written during the step: any row will do
        rows = rows.reshape(S, L * k)
        if numpy:
            npdt = torch.empty(0, dtype=dt).numpy().dtype
            taps, ring = np.zeros((L, k, R, n), npdt), np.zeros((S, L, R, n), npdt)
            rows = list(rows.numpy())  # views of one array (no per-row conversion)
        else:
            taps = torch.zeros(L, k, R, n, device=dev, dtype=dt)
            ring = torch.zeros(S, L, R, n, device=dev, dtype=dt)
            rows = list(rows.to(dev).unbind(0))
        return cls(
            numpy, taps, ring, rows, taps.reshape(L * k, R * n), ring.reshape(S * L, R * n),
            list(ring), taps[:, k - 1],
        )  # fmt: skip

    def gather(self, t: int) -> None:
        """Fill every layer's past taps for step t (the present rows too, with junk: the
        stages below overwrite them during the step)."""
        rows = self.rows[t % len(self.rows)]
        if self.numpy:
            np.take(self.ring_flat, rows, axis=0, out=self.taps_flat, mode="clip")
        else:
            torch.index_select(self.ring_flat, 0, rows, out=self.taps_flat)

    def push(self, t: int) -> None:
        """Remember every layer's present input of step t."""
        slot = self.ring_slots[t % len(self.ring_slots)]
        if self.numpy:
            slot[...] = self.present
        else:
            slot.copy_(self.present)


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """numpy's BLAS (OpenBLAS) on one thread for the duration: its matrix-vector products per
    step are too small to split, and a second BLAS thread spinning beside the loop made a
    step 1.3x slower alone and 4-10x slower at batch 8 on a loaded 2-core machine
    (``benchmarks/wavenet_generation.py``). Needs ``threadpoolctl`` (installed with
    scikit-learn); without it, a no-op (set ``OMP_NUM_THREADS=1`` instead)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _arr(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


class _FastSampler:
    """Generation one step per sample (Paine et al. 2016): a loop over the stages' steps.

    Each step: one gather of every layer's past taps (:class:`_Queues`), the input stage
    (embedding of the previous sample), each layer's :meth:`ResidualLayer.step`, the output
    stage (skips of all layers in one product, the head's two 1x1s), the draw. ``backend``:
    "numpy" (CPU only; its calls cost ~1 us where torch's cost ~3-5 us) or "torch".
    """

    def __init__(self, model: WaveNet, n: int, cond: Cond, backend: str | None = None) -> None:
        if backend is None:
            cpu = model.device.type == "cpu"
            backend = FAST_CPU_BACKEND if cpu else "torch"
        self.model, self.n, self.backend = model, n, backend
        numpy = backend == "numpy"
        self.queues = _Queues.build(model, n, numpy)
        q, L = self.queues, len(model.layers)
        G = model.gate_channels
        if numpy:  # every layer's act, stacked: the output stage reads them in one product
            npdt = torch.empty(0, dtype=model._dtype).numpy().dtype
            acts = np.ones((L, G + 1, n), npdt)
        else:
            acts = torch.ones(L, G + 1, n, device=model.device, dtype=model._dtype)
        g = model._global(cond)
        # built top down, so that each layer's out is the very object that is the next
        # layer's present tap (step then skips the copy: ``x_t is state.present``)
        self.layers: list[LayerState] = []
        up = None
        for i in reversed(range(L)):
            state = model.layers[i].init_state(
                n, backend=backend, g=g, taps=q.taps[i], act=acts[i], out=up
            )
            self.layers.insert(0, state)
            up = state.present
        self.input = model.input_state(n, backend, out=up)
        self.output = model.output_state(n, backend, self.layers, acts.reshape(L * (G + 1), n))

    def run(
        self, T: int, local: torch.Tensor | None, noise: _Noise | None, pick: Pick | None = None
    ) -> torch.Tensor:
        """Draw ``T`` steps; returns ``[T, n]`` int64 (an inference-mode tensor).

        ``pick`` (lossless coding, ``zoo.coding``; numpy backend) replaces the draw: it gets
        the head parameters ``[P, n]`` of each step and returns the ``[n]`` levels; no noise
        is drawn. On the CPU with a small batch, the loop runs on one intra-op thread: its
        matrices are too small to split, and waking a second thread ~90 times a step costs
        more than it saves (the previous thread count is restored afterwards).
        """
        threads = torch.get_num_threads()
        single = self.model.device.type == "cpu" and self.n <= SINGLE_THREAD_MAX_BATCH
        blas = contextlib.nullcontext()
        if single:
            torch.set_num_threads(1)
            if self.backend == "numpy":
                blas = _one_blas_thread()
        try:
            with torch.inference_mode(), blas:
                return self._loop(T, local, noise, pick)
        finally:
            if single:
                torch.set_num_threads(threads)

    def _run_numpy(
        self, T: int, local: torch.Tensor | None, noise: _Noise | None, pick: Pick | None = None
    ) -> torch.Tensor:
        """The loop on the numpy backend (what ``zoo.coding`` calls), on the caller's threads."""
        if self.backend != "numpy":
            raise ValueError("_run_numpy needs a sampler built with backend='numpy'")
        with torch.inference_mode():
            return self._loop(T, local, noise, pick)

    def _loop(
        self, T: int, local: torch.Tensor | None, noise: _Noise | None, pick: Pick | None
    ) -> torch.Tensor:
        m, n, numpy = self.model, self.n, self.backend == "numpy"
        q, inp, outs = self.queues, self.input, self.output
        step = ResidualLayer.step_numpy if numpy else ResidualLayer.step_torch
        states = self.layers
        bases: list = [s.base for s in states]
        w_local = None
        if m.local_channels:
            w_local = torch.stack([s.w_local for s in self.layers])  # [L, G, C]
            base_all = (np.stack if numpy else torch.stack)([s.base for s in self.layers])
        if numpy:
            out = rows = np.empty((T, n), np.int64)
        else:
            out = torch.empty(T, n, dtype=torch.long, device=m.device)
            rows = list(out.unbind(0))  # views bound once: indexing a tensor costs ~1 us
        categorical = isinstance(m.head, Categorical)
        dt = m._dtype
        input_step, output_step = m.input_step, m.output_step
        block_base = noise_block = None
        for t in range(T):
            r = t % NOISE_BLOCK
            if r == 0:
                if noise is not None:
                    block = noise.block_for(t).permute(1, 2, 0)  # [b, W, n]
                    noise_block = _arr(block) if numpy else list(block.contiguous().unbind(0))
                if w_local is not None:  # local conditioning of the block, all layers
                    loc = local[:, :, t : t + NOISE_BLOCK].to(dt)  # [n, C, b]
                    lc = torch.einsum("lgc,nct->tlgn", w_local, loc)
                    if numpy:
                        block_base = _arr(lc) + base_all  # [b, L, G, n]
                    else:
                        block_base = [list(b.unbind(0)) for b in (lc + base_all).unbind(0)]
            if block_base is not None:
                bases = block_base[r]  # [L, G, n]
            q.gather(t)  # before the present taps are written
            if t:
                input_step(rows[t - 1], inp)
            h = inp.out
            for s, b in zip(states, bases):
                h = step(h, s, b)
            q.push(t)
            params = output_step(outs)  # [P, n]
            if pick is not None:
                rows[t] = pick(params)
            elif categorical:
                if numpy:
                    np.add(params, noise_block[r], out=params)
                    np.argmax(params, axis=0, out=rows[t])
                else:
                    torch.add(params, noise_block[r], out=params)
                    torch.argmax(params, 0, out=rows[t])
            elif numpy:
                p, z = torch.from_numpy(params.T.copy()), torch.from_numpy(noise_block[r].T.copy())
                rows[t] = _draw(m, p, z).numpy()
            else:
                rows[t].copy_(_draw(m, params.T, noise_block[r].T))
        return torch.from_numpy(out) if numpy else out
