"""Entropy coding of model conditionals with ``constriction`` (range coding, ANS).

Everything that turns a model's numbers into coder input goes through :func:`coding_probs`,
called identically by the encoder and the decoder: a model's log-probabilities (or logits)
of the next value, ``[n, K]``, become a float64 table proportional to their softmax. The rows
are not normalised here: constriction's categorical family divides each row by its own sum
as it quantises the row to its fixed-point precision (24 bits for the default range and ANS
coders), with its deterministic *leaky* rule: every value keeps at least the smallest
representable probability, so any symbol in ``[0, K)`` can be coded. Identical float64 tables
give identical integer tables, so the decoder inverts the encoder exactly as long as it
computes the same tables, which the steppers of :mod:`zoo.coding.conditionals` guarantee by
running the same code on the same batches on both sides. (Archive format 1 normalised the rows
before the coder, a second rounding of the same numbers; see :mod:`zoo.coding.container`.)

A *chooser* is the one place where the two sides differ: the stepper hands it the next
conditionals and (when encoding) the true values; the encoder's chooser codes them and returns
them, the decoder's decodes and returns what it read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import constriction
import numpy as np
import torch

from zoo.errors import ZooInputError

# (probs [n, K] float64, true values [n] or None) -> values [n] int64; a chooser uses probs
# before it returns and keeps no reference: a stepper may write the next step's table into it
Choose = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]

_FAMILY = constriction.stream.model.Categorical(perfect=False)


# exp(600) times any realistic alphabet size is finite, and a row whose largest score is at
# least -600 sums to at least exp(-600) ~ 3e-261, far above where constriction's scale overflows
_EXP_SAFE = 600.0
_F64 = np.dtype(np.float64)  # builtin dtypes are singletons: `is` is the cheap test


def coding_probs(scores: torch.Tensor | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Log-probabilities or logits ``[n, K]`` -> the float64 table the coder quantises.

    The single place where model outputs become coder input, on both sides of the channel
    (archive format 3): ``exp(score)`` in float64 when every row's largest score lies in
    ``[-600, 600]``, else ``exp(score - row max)``; C-ordered, every row a positive multiple of
    the row's softmax with a finite, normal sum, unnormalised (the coder normalises). The
    choice depends on the scores alone, so both sides make it alike. ``out``, a C-ordered
    float64 array of the scores' shape, receives the table (for a loop that codes one step
    at a time, like the WaveNet's, where this runs once per sample and every call counts:
    hence also the single row's maximum through ``argmax``, under half the cost of a
    reduction over 256 values; both give the same value, NaN included).
    """
    s = scores if isinstance(scores, np.ndarray) else _as_array(scores)
    shape = s.shape
    if shape[0] == 1 and s.size:
        lo = hi = s.item(s.argmax())
    elif s.size:
        m = s.max(axis=1)
        lo, hi = m.min(), m.max()
    else:
        lo = hi = 0.0
    if out is None:
        out = np.empty(shape, _F64)
    elif out.shape != shape or out.dtype is not _F64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-ordered float64 array of shape {shape}")
    if -_EXP_SAFE <= lo and hi <= _EXP_SAFE:
        np.copyto(out, s)
    else:  # NaN lands here too, and the coder refuses the table
        np.subtract(s, s.max(axis=1, keepdims=True), out=out, dtype=_F64)
    return np.exp(out, out=out)


def _as_array(scores: torch.Tensor | object) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        return scores.detach().cpu().numpy()
    return np.asarray(scores)


def normalised(probs: np.ndarray) -> np.ndarray:
    """A :func:`coding_probs` table as probabilities (rows summing to one up to rounding)."""
    return probs / probs.sum(axis=1, keepdims=True)


class Encoder:
    """A range encoder fed by steppers; also sums ``-log2`` of the coded probabilities."""

    def __init__(self) -> None:
        self.coder = constriction.stream.queue.RangeEncoder()
        self.model_bits = 0.0  # -log2 of the coding probabilities of the coded values

    def __call__(self, probs: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        if known is None:
            raise RuntimeError("the encoder needs the values it codes")
        sym = np.ascontiguousarray(known, dtype=np.int32)
        self.coder.encode(sym, _FAMILY, probs)
        self.model_bits -= float(np.log2(normalised(probs)[np.arange(len(sym)), sym]).sum())
        return sym.astype(np.int64)

    def finish(self) -> bytes:
        return self.coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    """A range decoder over the words an :class:`Encoder` wrote."""

    def __init__(self, payload: bytes) -> None:
        if len(payload) % 4:
            raise ZooInputError("the compressed payload is not a whole number of 32-bit words")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self.coder = constriction.stream.queue.RangeDecoder(words)
        # probs -> the next values as the coder returns them (int32), for a loop that casts
        # them as it stores them (the WaveNet's: the cast alone took 0.3 of the 5 us a sample
        # that its coding cost in isolation); a partial, so that no Python frame runs per call
        self.decode_int32: Callable[[np.ndarray], np.ndarray] = functools.partial(
            self.coder.decode, _FAMILY
        )

    def __call__(self, probs: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        return self.coder.decode(_FAMILY, probs).astype(np.int64)


class Recorder:
    """A chooser that codes nothing: records ``ln p`` of the true values (for tests)."""

    def __init__(self) -> None:
        self.log_probs: list[np.ndarray] = []

    def __call__(self, probs: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        assert known is not None
        self.log_probs.append(np.log(normalised(probs)[np.arange(len(known)), known]))
        return np.asarray(known, dtype=np.int64)
