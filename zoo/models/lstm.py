"""LSTM language models: the Zaremba, Sutskever & Vinyals (2014) recipe.

Embedding -> dropout -> ``layers`` stacked LSTMs (dropout between them) -> dropout -> linear
softmax over the ``spec.levels`` values, the output matrix optionally tied to the embedding
(Press & Wolf 2017; needs ``embed == hidden``). Weights start uniform in
``[-init_range, init_range]`` as in the paper (0.1 small, 0.05 medium, 0.04 large).

Every example is read as one sequence in raster order (text ``[T]``, images ``[C, H, W]``,
audio ``[T]``), the first value predicted from a start token (id ``spec.levels``, never
predicted) with a zero state, so ``log_prob`` is exact and normalised over length-D sequences:
``sum_t ln p(x_t | x_<t)``.

**Truncated BPTT over a stream.** A text split is one token stream cut into consecutive
chunks (``zoo.data.text``). With ``carry_state`` (text only), the model orders its own
training data through the contract's ``train_batch_indices`` hook: the ``n`` chunks are split
into ``batch_size`` contiguous lanes of ``M = n // batch_size`` chunks, and step ``s`` takes
chunk ``s mod M`` of every lane, so each row of a batch continues the same row of the
previous batch in the stream (the paper's layout, and PyTorch's ``batchify``). The final LSTM
state and last token of each batch, detached, start the next one; the state is reset at the
start of every pass over the lanes. Gradients flow back ``seq_len`` steps (the data's chunk
length is the BPTT length); the trainer clips their global norm (``train.grad_clip``). A
resumed run restarts the carried state from zero at its first step (a state is never saved).

**Stream evaluation.** ``stream_log_prob`` scores a whole split's token stream with the state
carried from its first token to its last (no reset at ``</s>``: the LSTM conditions across
sentence boundaries, as in the paper), the first token predicted from the start token. Every
token including ``</s>`` is scored once, so the count and the quantity, ln p(stream), are the
n-gram's (``zoo.models.ngram.NGram.stream_log_prob``, KenLM's ``query``): the evaluator's
``stream_perplexity`` of the two is comparable. Chunked ``log_prob`` (the board's bits/dim)
starts every chunk from the start token instead, as the n-grams start every chunk at ``<s>``.
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
from zoo.nn.discretized import categorical_log_prob, sample_categorical

State = tuple[torch.Tensor, torch.Tensor]


class LSTMLM(LikelihoodModel):
    """An LSTM language model over any discrete sequence (see the module doc).

    Hyper-parameters: ``embed`` (embedding size), ``hidden`` (LSTM width), ``layers``,
    ``dropout`` (on the embeddings, between the layers and on the outputs; the paper's 0 /
    0.5 / 0.65 for small / medium / large), ``tied`` (output matrix = embedding),
    ``init_range`` (uniform initialisation), ``carry_state`` (truncated BPTT with the state
    carried across the consecutive batches of a text stream), ``stream_chunk`` (tokens per
    forward pass of ``stream_log_prob``; the result does not depend on it).
    """

    family = "lstm"
    estimate = "exact"
    modalities = ("image", "text", "audio")

    def __init__(
        self,
        spec: DataSpec,
        embed: int = 200,
        hidden: int = 200,
        layers: int = 2,
        dropout: float = 0.0,
        tied: bool = False,
        init_range: float = 0.1,
        carry_state: bool = True,
        stream_chunk: int = 1024,
    ) -> None:
        super().__init__(spec)
        check_ints("LSTMLM", embed=embed, hidden=hidden, layers=layers, stream_chunk=stream_chunk)
        if not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
            raise ZooInputError(f"LSTMLM: dropout must be a number in [0, 1), got {dropout!r}")
        if not (isinstance(init_range, (int, float)) and init_range > 0):
            raise ZooInputError(f"LSTMLM: init_range must be a number > 0, got {init_range!r}")
        if tied and embed != hidden:
            raise ZooInputError(
                f"LSTMLM: tied weights need embed == hidden, got embed={embed}, hidden={hidden}; "
                f"set them equal or tied=False"
            )
        K = spec.levels
        self.tied = bool(tied)
        self.carry_state = bool(carry_state) and spec.modality == "text"
        self.stream_chunk = stream_chunk
        self.embedding = nn.Embedding(K + 1, embed)  # id K: the start token
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=float(dropout))
        self.drop = nn.Dropout(float(dropout))
        self.decoder = nn.Linear(hidden, K)
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)
        # Truncated BPTT: (h, c, last token) after the previous training batch, and whether
        # the current batch continues it (set by train_batch_indices).
        self._carry: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._continues = False

    # ------------------------------------------------------------------ the network
    def _out_weight(self) -> torch.Tensor:
        return self.embedding.weight[: self.spec.levels] if self.tied else self.decoder.weight

    def _run(self, inp: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """inp: [B, L] int64 in [0, K] (K = start) -> logits [B, L, K] and the final state
        (h, c), each [layers, B, hidden]."""
        h, state = self.lstm(self.drop(self.embedding(inp)), state)
        return F.linear(self.drop(h), self._out_weight(), self.decoder.bias), state

    def _token_log_probs(
        self, seq: torch.Tensor, state: State | None = None, prev: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """seq: [B, L] int64 -> (ln p of each token [B, L], final state). ``prev`` [B]: the
        token before seq (default: the start token, with ``state`` None: a zero state)."""
        if prev is None:
            prev = torch.full_like(seq[:, 0], self.spec.levels)
        inp = torch.cat([prev[:, None], seq[:, :-1]], dim=1)
        h, state = self.lstm(self.drop(self.embedding(inp)), state)
        # One [B L, hidden] x [hidden, K] product with the bias fused (addmm; what _run's
        # [B, L, hidden] linear computes, bit for bit), then the picked log-softmax
        # (categorical_log_prob: log_softmax written over the logits, a temporary, + gather;
        # one full-size buffer fewer in the forward and one in the backward).
        logits = F.linear(
            self.drop(h).reshape(-1, h.shape[-1]), self._out_weight(), self.decoder.bias
        )
        lp = categorical_log_prob(_full(logits), seq.reshape(-1), dim=-1, consume=True)
        return lp.view(seq.shape), state

    def token_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """ln p of every value of each example, ``[B, D]`` nats (raster order), each example
        from the start token: ``log_prob(x) == token_log_probs(x).sum(1)``."""
        self.spec.validate(x)
        return self._token_log_probs(x.long().reshape(x.shape[0], -1))[0]

    # ------------------------------------------------------------------ contract
    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        # x: [B, *spec.shape] int64 -> [B] nats; every example from the start token
        lp, _ = self._token_log_probs(x.reshape(x.shape[0], -1))
        return lp.sum(1)

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        seq = x.reshape(x.shape[0], -1)
        state, prev = None, None
        carry = self._carry
        if (
            self.training
            and self.carry_state
            and self._continues
            and carry is not None
            and carry[2].shape[0] == seq.shape[0]
            and carry[2].device == seq.device
        ):
            state, prev = (carry[0], carry[1]), carry[2]
        lp, (h, c) = self._token_log_probs(seq, state, prev)
        if self.training and self.carry_state:
            self._carry = (h.detach(), c.detach(), seq[:, -1].detach())
        nll = -lp.sum(1).mean()
        return nll, {"nll": nll.detach()}

    def train_batch_indices(
        self, n: int, batch_size: int, step: int, seed: int
    ) -> torch.Tensor | None:
        """Step ``step``'s global batch ``[batch_size]`` of chunk indices in ``[0, n)``: chunk
        ``step mod M`` of each of ``batch_size`` contiguous lanes of ``M = n // batch_size``
        chunks (row b of a batch continues row b of the previous batch in the stream). None
        (the trainer's shuffled batches) without ``carry_state`` or when a lane would hold
        fewer than 2 chunks. Records whether this batch continues the previous one."""
        M = n // batch_size
        if not self.carry_state or M < 2:
            self._continues = False
            return None
        pos = step % M
        self._continues = pos != 0
        return torch.arange(batch_size) * M + pos

    @torch.no_grad()
    def stream_log_prob(self, tokens: Any) -> tuple[float, int] | None:
        """(ln p(stream) in nats, tokens scored) of a 1-D token stream, the state carried
        from the first token (predicted from the start token) to the last; every token,
        ``</s>`` included, scored once (the n-gram's quantity). Text only (else None)."""
        if self.spec.modality != "text":
            return None
        t = torch.as_tensor(tokens).reshape(-1)
        if t.numel() == 0:
            raise ZooInputError("stream_log_prob: the token stream is empty")
        if t.is_floating_point() or int(t.min()) < 0 or int(t.max()) >= self.spec.levels:
            raise ZooInputError(
                f"stream_log_prob: tokens must be integer ids in [0, {self.spec.levels})"
            )
        return self.stream_log_prob_chunked(t, self.stream_chunk)

    @torch.no_grad()
    def stream_log_prob_chunked(self, tokens: torch.Tensor, chunk: int) -> tuple[float, int]:
        """``stream_log_prob`` computed ``chunk`` tokens per forward pass (any chunk length
        gives the same value up to float rounding, in eval mode)."""
        was = self.training
        self.eval()
        t = tokens.reshape(1, -1).long().to(self.device)
        total, state, prev = 0.0, None, None
        for a in range(0, t.shape[1], chunk):
            seq = t[:, a : a + chunk]
            lp, state = self._token_log_probs(seq, state, prev)
            prev = seq[:, -1]
            total += float(lp.double().sum())
        self.train(was)
        return total, t.shape[1]

    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        if kw:
            raise ZooInputError(f"unknown sampling options {sorted(kw)}; LSTMLM takes temperature")
        if not temperature > 0:
            raise ZooInputError(f"temperature must be > 0, got {temperature}")
        tok = torch.full((n, 1), self.spec.levels, dtype=torch.long, device=self.device)
        state: State | None = None
        out = []
        for _ in range(self.spec.D):
            logits, state = self._run(tok, state)
            tok = sample_categorical(
                _full(logits), dim=-1, generator=generator, temperature=temperature
            )
            out.append(tok)
        return torch.cat(out, dim=1).reshape(n, *self.spec.shape)

    def extra_repr(self) -> str:
        return f"tied={self.tied}, carry_state={self.carry_state}"


def _full(logits: torch.Tensor) -> torch.Tensor:
    """Logits in at least float32 (bf16 autocast outputs are promoted before the softmax)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))
