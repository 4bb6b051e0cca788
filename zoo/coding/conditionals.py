"""Steppers: every exact family's conditionals, one dimension at a time, in its own order.

``code_batch(model, n, choose, x=...)`` walks a batch of ``n`` examples through the model's
factorisation ``p(x) = prod_d p(x_d | x_<d)``: at each step it computes the next dimension's
distribution for all ``n`` examples, ``[n, K]``, hands it to ``choose`` (an encoder codes the
true values ``x``, a decoder decodes them) and writes the chosen values into its own copy of
the batch, from which the next step is computed. Encoder and decoder therefore run exactly the
same operations on exactly the same inputs (the values chosen so far, zeros elsewhere), in the
same batch composition, so the decoder sees bit-identical probabilities.

Orders and machinery (each family's existing cached sampler):

- independent: positions in raster order (the table needs no state).
- n-gram: values in order, the context reset at ``<s>`` (each example) and after ``</s>``
  (text); ``code_lanes`` codes variable-length token streams (a text file cut at sentence
  ends, which loses nothing: the context resets there anyway).
- PixelCNN / Gated PixelCNN / PixelRNNs / PixelCNN++: pixels in raster order through the
  model's incremental ``_stepper``; grouped heads (Bernoulli, categorical) colour by colour;
  the logistic mixture colour by colour as the mixture's exact conditionals (component
  weights updated by the colours already coded).
- WaveNet: the fast generation loop (activation queues), with the draw replaced by ``choose``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from zoo.coding.coder import Choose, Decoder, coding_probs
from zoo.core.contract import Cond, LikelihoodModel
from zoo.errors import ZooInputError
from zoo.models.independent import Independent
from zoo.models.ngram import LN10, NGram
from zoo.models.pixel_model import AutoregressiveImageModel
from zoo.models.vqvae import VQVAE, LSTMPrior
from zoo.models.wavenet import WaveNet, _FastSampler
from zoo.nn.discretized import discretized_logistic_log_prob, levels_to_unit
from zoo.nn.heads import Categorical


class NotCodable(ValueError):
    """The model cannot be used for lossless coding (not an exact family, not fitted...)."""


@contextmanager
def single_thread() -> Iterator[None]:
    """Coding runs on one intra-op thread: the same reduction order on any machine, and the
    steppers' products are too small to share anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


EXACT = (Independent, NGram, AutoregressiveImageModel, WaveNet, LSTMPrior)


def codable(model: LikelihoodModel) -> None:
    """Raise :class:`NotCodable` unless ``code_batch`` can code with ``model``."""
    if isinstance(model, VQVAE):
        if model.prior is not None:
            codable(model.prior)
        return
    if not isinstance(model, EXACT) and not _offers_next_log_probs(model):
        raise NotCodable(
            f"{type(model).__name__} ({model.family}, estimate {model.estimate}) has no "
            "coding stepper; exact families: independent, ngram, pixelcnn, pixelrnn, wavenet; "
            "bounds: vqvae (z under its prior, then x given z); any exact model that "
            "implements LikelihoodModel.next_log_probs"
        )
    if isinstance(model, NGram) and model.tables is None:
        raise NotCodable("the n-gram model is not fitted: fit it before coding")
    if isinstance(model, WaveNet) and model.local_channels:
        raise NotCodable("a WaveNet with local conditioning codes only with its local features")


def code_batch(
    model: LikelihoodModel,
    n: int,
    choose: Choose,
    *,
    x: torch.Tensor | None = None,
    cond: Cond = None,
    length: int | None = None,
) -> torch.Tensor:
    """Code (``x`` given) or decode ``n`` examples; returns them, ``[n, *shape]`` int64.

    ``length``: for 1-D data, a sequence length other than the spec's (a text tail, a WAV of
    any length); n-grams and WaveNets take any length, the independent model up to the spec's
    (its first ``length`` positions) or any with ``shared=True``.
    """
    codable(model)
    shape = tuple(model.spec.shape) if length is None else (int(length),)
    if length is not None and len(model.spec.shape) != 1:
        raise ZooInputError("length applies to 1-D (text, audio) data only")
    if x is not None:
        if tuple(x.shape) != (n, *shape):
            raise ZooInputError(f"x must have shape {[n, *shape]}, got {list(x.shape)}")
        x = x.detach().to("cpu", torch.int64)
    model.eval()
    with single_thread():
        if isinstance(model, Independent):
            return _independent(model, n, shape, choose, x, cond)
        if isinstance(model, NGram):
            flat = None if x is None else [r for r in x.reshape(n, -1).numpy()]
            eos = model.spec.eos if model.spec.modality == "text" else None
            D = int(np.prod(shape))
            out = _ngram(model, [D] * n, choose, flat, eos)
            return torch.from_numpy(np.stack(out)).reshape(n, *shape)
        if isinstance(model, AutoregressiveImageModel):
            return _image(model, n, choose, x, cond)
        if isinstance(model, LSTMPrior):
            return _lstm_prior(model, n, shape, choose, x)
        if isinstance(model, VQVAE):
            return _vqvae(model, n, choose, x)
        if not isinstance(model, EXACT):
            return _next_log_probs(model, n, shape, choose, x, cond)
        return _wavenet(model, n, shape[0], choose, x, cond)


def code_lanes(
    model: NGram, lengths: list[int], choose: Choose, lanes: list[np.ndarray] | None = None
) -> list[np.ndarray]:
    """Code (``lanes`` given) or decode token streams of the given lengths with an n-gram,
    all in lock-step; each starts at ``<s>`` and resets after ``</s>`` (text)."""
    codable(model)
    if not isinstance(model, NGram):
        raise NotCodable("token streams of any length are coded with n-gram models")
    eos = model.spec.eos if model.spec.modality == "text" else None
    with single_thread():
        return _ngram(model, lengths, choose, lanes, eos)


# ---------------------------------------------------------------------- families
def _offers_next_log_probs(model: LikelihoodModel) -> bool:
    return (
        model.estimate == "exact"
        and type(model).next_log_probs is not LikelihoodModel.next_log_probs
    )


def _next_log_probs(m: LikelihoodModel, n, shape, choose, x, cond) -> torch.Tensor:
    """Any exact model through its ``next_log_probs`` hook, one dimension at a time."""
    D = int(np.prod(shape))
    out = torch.zeros(n, *shape, dtype=torch.long)
    flat_out = out.view(n, D)
    flat = None if x is None else x.reshape(n, D).numpy()
    for d in range(D):
        lp = m.next_log_probs(out, d, cond=cond)
        if lp is None or tuple(lp.shape) != (n, m.spec.levels):
            raise NotCodable(f"next_log_probs must return [{n}, {m.spec.levels}] log-probs")
        flat_out[:, d] = torch.from_numpy(
            np.asarray(choose(coding_probs(lp.float()), None if flat is None else flat[:, d]))
        )
    return out


def _independent(m: Independent, n, shape, choose, x, cond) -> torch.Tensor:
    D = int(np.prod(shape))
    table = m._table(cond, n)  # [n, P, K]
    if table.shape[1] != 1 and D > table.shape[1]:
        raise ZooInputError(f"this independent model has {table.shape[1]} positions, not {D}")
    lp = F.log_softmax(table.float(), dim=-1)
    out = np.zeros((n, D), np.int64)
    flat = None if x is None else x.reshape(n, D).numpy()
    for d in range(D):
        probs = coding_probs(lp[:, d if lp.shape[1] > 1 else 0])
        out[:, d] = choose(probs, None if flat is None else flat[:, d])
    return torch.from_numpy(out).reshape(n, *shape)


def _ngram(m: NGram, lengths: list[int], choose, lanes, eos) -> list[np.ndarray]:
    """Lock-step lanes; each step scores the active lanes' contexts in one ``next_logp``."""
    t = m.tables
    N, bos = m.order, m.spec.levels
    B, T = len(lengths), max(lengths, default=0)
    lengths_a = np.asarray(lengths)
    out = [np.zeros(L, np.int64) for L in lengths]
    ctx = np.full((B, max(N - 1, 0)), -1, np.int64)  # last N-1 values of the sentence, -1: none
    for step in range(T):
        active = np.nonzero(lengths_a > step)[0]
        M = np.concatenate([np.full((len(active), 1), bos), ctx[active]], 1)  # [A, N]
        valid = M >= 0
        S = M[valid]
        avail = (np.cumsum(valid, 1) - 1)[valid]
        ends = np.cumsum(valid.sum(1)) - 1
        probs = coding_probs(t.next_logp(S, avail, ends) * LN10)
        known = None if lanes is None else np.array([lanes[b][step] for b in active])
        sym = choose(probs, known)
        for i, b in enumerate(active):
            out[b][step] = sym[i]
        if N > 1:
            ctx[active] = np.concatenate([ctx[active, 1:], sym[:, None]], 1)
            if eos is not None:
                ctx[active[sym == eos]] = -1
    return out


def _image(m: AutoregressiveImageModel, n, choose, x, cond) -> torch.Tensor:
    y = m.labels(cond, n)
    step = m._stepper(n, y)
    if step is None:

        def step(xx: torch.Tensor, r: int, j: int) -> torch.Tensor:
            return m.net(m.inputs(xx), y)[:, :, r, j]

    C, H, W, K = m.C, m.H, m.W, m.K
    out = torch.zeros(n, C, H, W, dtype=torch.long, device=m.device)
    levels = torch.arange(K, device=m.device)
    for r in range(H):
        for j in range(W):
            if m.head.grouped:
                for c in range(C):
                    lp = _grouped_log_probs(m, step(out, r, j), c, levels)
                    known = None if x is None else x[:, c, r, j].numpy()
                    out[:, c, r, j] = torch.from_numpy(choose(coding_probs(lp), known))
            else:
                _mixture_pixel(m, step(out, r, j), out, r, j, choose, x, levels)
    return out.cpu()


def _grouped_log_probs(m, params: torch.Tensor, c: int, levels: torch.Tensor) -> torch.Tensor:
    """ln p(colour c = k) for every level k, ``[n, K]``, through the head's own log_prob."""
    n, K = params.shape[0], len(levels)
    p = params.repeat_interleave(K, dim=0)[:, :, None, None]  # [n K, P, 1, 1]
    cand = levels.repeat(n)[:, None, None, None].expand(-1, m.C, 1, 1)  # [n K, C, 1, 1]
    return m.head.log_prob(p, cand)[:, c, 0, 0].reshape(n, K)


def _mixture_pixel(m, params, out, r, j, choose, x, levels) -> None:
    """A logistic-mixture pixel colour by colour: p(x_c | x_<c) = sum_k w_k p_k(x_c | x_<c)
    with w_k the posterior of component k given the colours already coded."""
    head = m.head
    logits, means, log_scales, coeffs = head.split(params)  # [n, M], [n, M, C], ...
    w = F.log_softmax(logits, dim=1)  # [n, M]
    for c in range(m.C):
        mu = means[:, :, c]
        for i, (ci, e) in enumerate(head.pairs):
            if ci == c:
                mu = mu + coeffs[:, :, i] * levels_to_unit(out[:, e, r, j], m.K)[:, None]
        per = discretized_logistic_log_prob(
            levels[None, None, :], mu[:, :, None], log_scales[:, :, c, None], m.K
        )  # [n, M, K]
        lp = torch.logsumexp(w[:, :, None] + per, dim=1)
        known = None if x is None else x[:, c, r, j].numpy()
        v = torch.from_numpy(choose(coding_probs(lp), known))
        out[:, c, r, j] = v
        w = w + per.gather(2, v[:, None, None].expand(-1, per.shape[1], 1)).squeeze(2)


def _wavenet(m: WaveNet, n, T, choose, x, cond) -> torch.Tensor:
    """The fast sampling loop with the draw replaced by the coder. This runs once per sample
    and is measured against the sampler's draw (its noise block's share, an add and an
    argmax; ``benchmarks.compression``'s ``wavenet_overhead``), so a categorical head's
    tables are written into one buffer and a decode takes the coder's int32 values straight
    into the loop's int64 rows."""
    flat = None if x is None else x.numpy()
    steps = iter(range(T))  # the step of each pick (the loop calls it once per step, in order)

    if isinstance(m.head, Categorical):
        table = np.empty((n, m.head.num_params), np.float64)  # every table, written in place
        if isinstance(choose, Decoder):
            decode = choose.decode_int32

            def pick(params: np.ndarray) -> np.ndarray:  # logits [K, n] -> values [n]
                return decode(coding_probs(params.T, out=table))

        else:

            def pick(params: np.ndarray) -> np.ndarray:
                t = next(steps)
                return choose(
                    coding_probs(params.T, out=table), None if flat is None else flat[:, t]
                )

    else:

        def pick(params: np.ndarray) -> np.ndarray:  # mixture parameters [P, n] -> values [n]
            t = next(steps)
            lp = m.head.level_log_probs(torch.from_numpy(params.T.copy()))[:, 0]
            return choose(coding_probs(lp), None if flat is None else flat[:, t])

    out = _FastSampler(m, n, cond)._run_numpy(T, None, None, pick=pick)
    return out.T.clone()


def _lstm_prior(m: LSTMPrior, n, shape, choose, x) -> torch.Tensor:
    D = int(np.prod(shape))
    flat = None if x is None else x.reshape(n, D).numpy()
    out = np.zeros((n, D), np.int64)
    tok = torch.full((n, 1), m.spec.levels, dtype=torch.long)
    state = None
    for d in range(D):
        h, state = m.lstm(m.embed(tok), state)
        sym = choose(coding_probs(m.head(h[:, 0])), None if flat is None else flat[:, d])
        out[:, d] = sym
        tok = torch.from_numpy(sym)[:, None]
    return torch.from_numpy(out).reshape(n, *shape)


def _vqvae(m: VQVAE, n, choose, x) -> torch.Tensor:
    """The codes z*(x) under the prior (uniform, or the learned prior's stepper), then every
    value of x given z: the file costs -log p(z*) - log p(x | z*), the declared bound."""
    codes = None if x is None else m.encode(x)  # [n, *grid]
    if m.prior is None:
        known = None if codes is None else codes.reshape(-1).numpy()
        flat = choose(coding_probs(np.zeros((n * m.num_latents, m.num_codes))), known)
        codes = torch.from_numpy(flat).reshape(n, *m.grid)
    else:
        shape = m.prior.spec.shape
        known = None if codes is None else codes.reshape(n, *shape)
        codes = code_batch(m.prior, n, choose, x=known).reshape(n, *m.grid)
    params = m.decode(codes)  # [n, P, *shape]
    K, D = m.spec.levels, m.spec.D
    head_params = m._head_params(params)  # [n, P C, *S]
    flat_x = None if x is None else x.reshape(n, D).numpy()
    out = np.zeros((n, D), np.int64)
    rows = max(1, (1 << 20) // (D * K))  # examples per call: bounded memory
    for a in range(0, n, rows):
        lp = m.head.level_log_probs(head_params[a : a + rows])  # [r, C, *S, K]
        known = None if flat_x is None else flat_x[a : a + rows].reshape(-1)
        out[a : a + rows] = choose(coding_probs(lp.reshape(-1, K)), known).reshape(-1, D)
    return torch.from_numpy(out).reshape(n, *m.spec.shape)
