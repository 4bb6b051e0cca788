"""Count-based n-gram models: add-k, interpolated Kneser-Ney and modified Kneser-Ney (KenLM).

An order-N model predicts each value from the previous N-1 values of the same *sentence*. Every
example is flattened in raster order (images ``[C, H, W]`` -> C*H*W values, text and audio
``[T]``) and starts in the begin-of-sentence context ``<s>``, an internal symbol (id
``spec.levels``) that is never predicted. For text with an end-of-sentence token
(``spec.eos``, KenLM's ``</s>``) a sentence ends at eos: eos is predicted like any other token
and the context then resets to ``<s>``. The next-value distribution is over the
``spec.levels`` values, so ``log_prob`` of a ``[B, T]`` chunk is an exact, normalised
distribution over length-T sequences.

Smoothing (Chen & Goodman 1998; Heafield et al. 2013 for KenLM's ``lmplz``):

* ``"mkn"``  modified Kneser-Ney, interpolated, exactly as ``lmplz``: adjusted counts (the raw
  count for the highest order and for n-grams starting with ``<s>``, else the number of
  distinct left extensions), three discounts per order from counts of counts
  (``Y = n1 / (n1 + 2 n2)``, ``D_k = k - (k + 1) Y n_{k+1} / n_k``), interpolation down to
  the uniform distribution over the vocabulary at the unigram level. Where counts of counts
  cannot give discounts in ``(0, k]`` (tiny or artificial data) the ``discount_fallback``
  (KenLM's ``--discount_fallback`` defaults 0.5, 1, 1.5) is used and logged.
* ``"kn"``   interpolated Kneser-Ney with one discount per order, ``D = Y``.
* ``"addk"`` add-k (Laplace at k=1) on the longest context:
  ``p(w | h) = (c(h w) + k) / (c(h .) + k V)``, where h is the previous N-1 values of the
  sentence (fewer near its start, ``<s>`` included). An unseen context gives 1/V.

The unknown-token rule: the model's vocabulary is ``spec.levels``; zoo validates that every id
is in range, so an unseen *symbol* can only arise when text is mapped to ids. Text loaders map
a test token that never occurs in training to ``spec.unk`` (``<unk>``), whose probability is
the smoothing's share for a never-seen word (its count is 0 unless the training text has
``<unk>`` itself); with no unk policy an unseen token is an error (``zoo.data.text``,
``unk="error"``). KenLM's perplexity "excluding OOVs" skips those positions.

Storage is a trie of sorted integer keys, one table per order: the n-gram (c, w) whose
context c is entry ``i`` of the order n-1 table has key ``i * (V + 1) + w``. Counting is
numpy passes over such keys (sort, unique), with no Python loop over n-grams. Back-off
scoring (``token_log_probs``, ``log_prob``) goes through open-addressing hash tables built
from the trie on first use (``zoo.models.ngram_tables.Hashed``: one row holds a key, its
log10 p and back-off, as KenLM's probing tables do), looking up at each order only the
positions whose context was found; next-word distributions and sampling search the sorted
keys. Probabilities and back-off weights are kept as log10 (as ARPA files and KenLM keep
them), so an ARPA file written by ``to_arpa`` loads back with identical values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.core.contract import Cond, LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.data import word_ids
from zoo.data.word_ids import WordIds
from zoo.errors import ZooInputError
from zoo.models.arpa import read_arpa, write_arpa
from zoo.models.ngram_tables import Tables

log = logging.getLogger(__name__)

SMOOTHINGS = ("mkn", "kn", "addk")
LN10 = math.log(10.0)
KENLM_FALLBACK = (0.5, 1.0, 1.5)
BOS_LOGP = -99.0  # log10 p(<s>) as ARPA files write it: never predicted, never used


# ---------------------------------------------------------------------- sequences
def pad_rows(rows: np.ndarray, bos: int, eos: int | None) -> tuple[np.ndarray, ...]:
    """Rows of values -> one padded symbol sequence with ``<s>`` at every sentence start.

    rows: [B, L] int64. A sentence starts at each row start and (when ``eos`` is given) after
    every eos. Returns (S [L'], avail [L'], pos [B*L]): S the padded sequence, avail the number
    of earlier symbols in each position's sentence, pos where each input value landed in S.
    """
    B, L = rows.shape
    flat = rows.reshape(-1).astype(np.int64)
    start = np.zeros(B * L, bool)
    start[::L] = True
    if eos is not None and B * L > 1:
        start[1:] |= flat[:-1] == eos
    first = np.nonzero(start)[0]  # input index of each sentence's first value
    k = len(first)
    pos = np.arange(B * L) + np.repeat(np.arange(1, k + 1), np.diff(np.append(first, B * L)))
    S = np.full(B * L + k, bos, np.int64)
    S[pos] = flat
    at = first + np.arange(k)  # where each sentence's <s> landed
    avail = np.arange(len(S)) - np.repeat(at, np.diff(np.append(at, len(S))))
    return S, avail, pos


def _unique(
    keys: np.ndarray, inverse: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """(sorted unique keys, inverse (None unless asked), counts, one position of each) of a
    1-D int64 array >= 0.

    Where key and position fit in 63 bits together, the position is packed under the key and
    one plain sort orders both (numpy's vectorised sort: several times faster than argsort).
    """
    bits = max(len(keys) - 1, 1).bit_length()
    if len(keys) and int(keys.max()) < 1 << (63 - bits):
        packed = np.sort((keys << bits) | np.arange(len(keys)))
        sk, order = packed >> bits, packed & ((1 << bits) - 1)
    else:
        order = np.argsort(keys)
        sk = keys[order]
    first = np.empty(len(sk), bool)
    first[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=first[1:])
    starts = np.nonzero(first)[0]
    inv = None
    if inverse:
        inv = np.empty(len(keys), np.int64)
        inv[order] = np.cumsum(first) - 1
    counts = np.diff(np.append(starts, len(sk)))
    return sk[starts], inv, counts, order[starts]


# ---------------------------------------------------------------------- the model
class NGram(LikelihoodModel):
    """An order-N n-gram model with add-k, interpolated KN or modified KN smoothing.

    Args:
        spec: the data's DataSpec (any modality; text uses ``spec.eos`` as ``</s>``).
        order: N >= 1, the number of values in an n-gram (context N-1).
        smoothing: "mkn" (modified Kneser-Ney, KenLM ``lmplz``), "kn" (interpolated
            Kneser-Ney, one discount per order) or "addk".
        k: the pseudo-count of add-k (1 = Laplace).
        discount_fallback: (D1, D2, D3+) used for an order whose counts of counts cannot give
            discounts in (0, k] (KenLM's ``--discount_fallback``).

    ``fit(batches)`` counts; ``log_prob`` is exact. See the module docstring for ``<s>``,
    ``</s>`` and the ``<unk>`` rule.
    """

    family = "ngram"
    estimate = "exact"
    modalities = ("image", "text", "audio")
    count_based = True

    def __init__(
        self,
        spec: DataSpec,
        order: int = 5,
        smoothing: str = "mkn",
        k: float = 1.0,
        discount_fallback: tuple[float, float, float] = KENLM_FALLBACK,
    ) -> None:
        super().__init__(spec)
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"order must be an int >= 1 (1 = unigram), got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
        if not (isinstance(k, (int, float)) and k > 0 and math.isfinite(k)):
            raise ValueError(f"k (add-k pseudo-count) must be a finite number > 0, got {k!r}")
        fb = tuple(float(d) for d in discount_fallback)
        if len(fb) != 3 or not all(0 < d <= j for j, d in enumerate(fb, 1)):
            raise ValueError(
                f"discount_fallback must be 3 discounts with 0 < D_k <= k, got {discount_fallback}"
            )
        W = spec.levels + 1
        if order > 1 and W**2 >= 2**62:
            raise ValueError(f"vocabulary of {spec.levels} symbols is too large for int64 keys")
        self.order, self.smoothing, self.k, self.discount_fallback = order, smoothing, k, fb
        self.hparams = {"order": order, "smoothing": smoothing, "k": k}
        self.tables: Tables | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, batches: Any) -> NGram:
        """Count n-grams in the training data (replacing any earlier fit); returns self.

        ``batches``: an iterable of ``(x, labels)`` (or bare ``x``) batches of
        ``[B, *spec.shape]`` ints, or a 1-D token stream (text). For text with ``spec.eos``
        the batches are consecutive chunks of one stream (``zoo.data.text``): they are joined
        in order, so sentences that cross a chunk boundary are counted whole. Otherwise each
        example is one sentence.
        """
        if isinstance(batches, (torch.Tensor, np.ndarray)) and batches.ndim == 1:
            return self.fit_stream(batches)
        xs = []
        for item in batches if not isinstance(batches, torch.Tensor) else [batches]:
            x = item[0] if isinstance(item, (tuple, list)) else item
            self.spec.validate(x, what="fit batch")
            xs.append(x.detach().to("cpu", torch.int64).reshape(x.shape[0], -1).numpy())
        if not xs or not sum(len(x) for x in xs):
            raise ValueError("cannot fit an n-gram model to an empty corpus (no examples)")
        rows = np.concatenate(xs)
        if self.spec.modality == "text" and self.spec.eos is not None:
            return self.fit_stream(rows.reshape(-1))
        self.tables = self._count_and_estimate(*pad_rows(rows, self.spec.levels, None)[:2])
        return self

    def fit_stream(self, tokens: np.ndarray | torch.Tensor) -> NGram:
        """Fit to one token stream (1-D ids; sentences end at ``spec.eos``); returns self."""
        t = self._stream_array(tokens)
        S, avail, _ = pad_rows(t[None], self.spec.levels, self.spec.eos)
        self.tables = self._count_and_estimate(S, avail)
        return self

    def _stream_array(self, tokens: np.ndarray | torch.Tensor) -> np.ndarray:
        t = tokens.detach().cpu().numpy() if isinstance(tokens, torch.Tensor) else tokens
        t = np.asarray(t)
        if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"a token stream must be a 1-D integer array, got {t.dtype} {t.shape}")
        if not len(t):
            raise ValueError("cannot use an empty token stream (empty corpus)")
        if t.min() < 0 or t.max() >= self.spec.levels:
            raise ValueError(
                f"token ids must lie in [0, {self.spec.levels}), got min {t.min()}, max {t.max()}"
            )
        return t.astype(np.int64)

    def _count_and_estimate(self, S: np.ndarray, avail: np.ndarray) -> Tables:
        N, V = self.order, self.spec.levels
        W, bos = V + 1, V
        notbos = S != bos
        if not notbos.any():
            raise ValueError("cannot fit an n-gram model to an empty corpus (no tokens)")
        # Counting: the n-gram ending at position j has key (index of the (n-1)-gram ending at
        # j-1) * W + S[j]; np.unique over the keys numbers the n-grams of each order.
        ids = [None, S]
        keys: list[np.ndarray] = [np.empty(0, np.int64), np.empty(0, np.int64)]
        counts = [None, np.bincount(S[notbos], minlength=W).astype(np.float64)]
        first = [None, None]  # first word is <s> (n-grams that get raw counts)
        suffix = [None, None]  # index of each n-gram's suffix (drop first word) in table n-1
        for n in range(2, N + 1):
            valid = notbos & (avail >= n - 1)
            valid[0] = False
            pos = np.nonzero(valid)[0]
            q = ids[n - 1][pos - 1] * W + S[pos]
            uniq, inv, cnt, rep = _unique(q, inverse=n < N)
            idn = None
            if n < N:  # the top order's ids are no one's context
                idn = np.full(len(S), -1, np.int64)
                idn[pos] = inv
            ids.append(idn)
            keys.append(uniq)
            counts.append(cnt.astype(np.float64))
            at = pos[rep]
            # starts with <s>: its first word is <s> (n = 2), or its context starts with <s>
            first.append(uniq // W == bos if n == 2 else first[n - 1][uniq // W])
            suffix.append(ids[n - 1][at] if n > 2 else S[at])
            if n > 2:
                ids[n - 1] = None  # memory: only the previous order's positions are needed
        if self.smoothing == "addk":
            return self._addk(keys, counts)
        # Adjusted counts: raw at the top order and for n-grams starting with <s>, else the
        # number of distinct one-word left extensions (continuation counts).
        adj = list(counts)
        for n in range(1, N):
            cont = np.bincount(suffix[n + 1], minlength=len(counts[n])).astype(np.float64)
            adj[n] = cont if n == 1 else np.where(first[n], counts[n], cont)
        if N > 1:
            adj[1][bos] = 0.0
        return self._interpolate(keys, adj, suffix)

    # ------------------------------------------------------------------ estimators
    def _discounts(self, a: np.ndarray, n: int) -> np.ndarray:
        """[D0=0, D1, D2, D3+] for one order from its adjusted counts (Chen & Goodman eq. 26)."""
        nk = [np.float64(np.count_nonzero(a == k)) for k in range(1, 5)]
        fb = np.array([0.0, *self.discount_fallback])
        with np.errstate(divide="ignore", invalid="ignore"):
            y = nk[0] / (nk[0] + 2 * nk[1])
            if self.smoothing == "kn":
                d = np.array([0.0, y, y, y])
            else:
                d = np.array([0.0] + [j - (j + 1) * y * nk[j] / nk[j - 1] for j in (1, 2, 3)])
        ok = np.all(np.isfinite(d[1:])) and all(0 < d[j] <= j for j in (1, 2, 3))
        if self.smoothing == "kn":
            ok = bool(np.isfinite(y)) and 0 < y <= 1
        if not ok:
            log.info(
                "order %d: counts of counts %s give no valid discounts; using %s",
                n,
                [int(v) for v in nk],
                fb,
            )
            return fb if self.smoothing == "mkn" else np.array([0.0, *[fb[1]] * 3])
        return d

    def _interpolate(
        self, keys: list[np.ndarray], adj: list[np.ndarray], suffix: list[np.ndarray]
    ) -> Tables:
        """Interpolated (modified) Kneser-Ney from adjusted counts, as KenLM's lmplz.

        p(w | c) = (a(c w) - D(a)) / sum_w' a(c w') + gamma(c) p(w | c'), c' = c without its
        first word, gamma(c) = sum_w D(a(c w)) / sum_w a(c w); at the unigram level the lower
        distribution is uniform over the V values. gamma(c) is c's back-off weight.
        """
        N, V = self.order, self.spec.levels
        W = V + 1
        logp: list[np.ndarray] = [np.empty(0)] * (N + 1)
        bo: list[np.ndarray] = [np.empty(0)] * (N + 1)
        discounts = np.zeros((N, 3))
        prob: list[np.ndarray] = [np.empty(0)] * (N + 1)
        for n in range(1, N + 1):
            a = adj[n]
            d = self._discounts(a[a > 0], n)
            discounts[n - 1] = d[1:]
            da = d[np.minimum(a, 3).astype(np.int64)]
            if n == 1:
                total = a.sum()
                p = (a - da) / total + da.sum() / total / V
                p[V] = 0.0  # <s> is never predicted
            else:
                ctx = keys[n] // W
                denom = np.bincount(ctx, weights=a, minlength=len(prob[n - 1]))
                gnum = np.bincount(ctx, weights=da, minlength=len(prob[n - 1]))
                has = denom > 0
                gamma = np.ones_like(denom)
                gamma[has] = gnum[has] / denom[has]
                p = (a - da) / denom[ctx] + gamma[ctx] * prob[n - 1][suffix[n]]
                bo[n - 1] = np.log10(gamma)
            prob[n] = p
            with np.errstate(divide="ignore"):
                logp[n] = np.log10(p)
            if n == 1:
                logp[1][V] = BOS_LOGP
        if N == 1:
            bo[1] = np.empty(0)
        bo[N] = np.zeros(0)
        return Tables(N, V, "backoff", keys, logp, bo, discounts)

    def _addk(self, keys: list[np.ndarray], counts: list[np.ndarray]) -> Tables:
        N, V, k = self.order, self.spec.levels, self.k
        W = V + 1
        c1 = counts[1].copy()
        c1[V] = 0.0
        p1 = (c1 + k) / (c1[:V].sum() + k * V)
        p1[V] = 10.0**BOS_LOGP
        logp = [np.empty(0), np.log10(p1)]
        bo = [np.empty(0)]
        for n in range(2, N + 1):
            ctx = keys[n] // W
            tot = np.bincount(ctx, weights=counts[n], minlength=len(logp[n - 1]))
            logp.append(np.log10((counts[n] + k) / (tot[ctx] + k * V)))
            bo.append(np.log10(k / (tot + k * V)))
        bo.append(np.zeros(0))
        return Tables(N, V, "addk", keys, logp, bo)

    # ------------------------------------------------------------------ scoring
    def _require_fit(self) -> Tables:
        if self.tables is None:
            raise RuntimeError("this n-gram model is not fitted: call fit() or from_arpa() first")
        return self.tables

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        # x: [B, *spec.shape] int64 in [0, V) -> [B] nats
        t = self._require_fit()
        rows = x.detach().to("cpu", torch.int64).reshape(x.shape[0], -1).numpy()
        eos = self.spec.eos if self.spec.modality == "text" else None
        S, avail, pos = pad_rows(rows, self.spec.levels, eos)
        lp = t.score(S, avail)[pos].reshape(rows.shape).sum(1) * LN10
        return torch.as_tensor(lp, dtype=torch.get_default_dtype(), device=x.device)

    def token_log_probs(
        self, tokens: np.ndarray | torch.Tensor, *, jit: bool | None = None
    ) -> np.ndarray:
        """ln p of every token of a 1-D stream ([L] float64 nats), the stream starting at <s>.

        Sentences end at ``spec.eos`` (text). Back-off models are scored by the compiled loop
        of ``zoo.models.ngram_jit`` when numba is installed (``jit``: None = when available,
        False = the numpy passes, chunked so memory stays bounded; bit-for-bit the same).
        """
        t = self._require_fit()
        toks = self._stream_array(tokens)
        if t.use_jit(jit):
            eos = self.spec.eos if self.spec.eos is not None else -1
            return t.score_stream(toks, eos, LN10)
        S, avail, pos = pad_rows(toks[None], self.spec.levels, self.spec.eos)
        out = np.empty(len(S))
        step, ctx = 1 << 20, self.order - 1
        for a in range(0, len(S), step):
            lo = max(a - ctx, 0)
            part = t.score(S[lo : a + step], avail[lo : a + step], jit=False)
            out[a : a + step] = part[a - lo :]
        return out[pos] * LN10

    def line_log_probs(self, lines: Sequence[str], *, jit: bool | None = None) -> np.ndarray:
        """ln p of every word of each line and of the ``</s>`` that ends it, from words: [total
        words + len(lines)] float64 nats (KenLM's ``Model.score(line, bos=True, eos=True)``,
        per token). Words are whitespace-separated; a word outside the spec's vocabulary is
        ``spec.unk`` (an error without one). ``jit``: as ``token_log_probs``; the word -> id
        encoding (``zoo.data.word_ids``) is compiled too when numba is installed."""
        spec = self.spec
        if spec.modality != "text" or spec.vocab is None or spec.eos is None:
            raise ZooInputError(
                "line_log_probs needs a text spec with a vocabulary and an eos token; "
                "use token_log_probs on ids"
            )
        enc = getattr(self, "_word_ids", None)
        want = word_ids.available() if jit is None else jit
        if enc is None or enc.jit != want:
            unk = spec.unk if spec.unk is not None else -1
            enc = WordIds(spec.vocab, unk=unk, eos=spec.eos, jit=want)
            self._word_ids = enc
        ids = enc.encode_lines(lines)
        if len(ids) and ids.min() < 0:
            raise ZooInputError(
                "a word is not in the vocabulary and the spec has no unk token; map unseen "
                "words to a vocabulary word first"
            )
        return self.token_log_probs(ids, jit=jit)

    def stream_log_prob(self, tokens: np.ndarray | torch.Tensor) -> tuple[float, int]:
        """(total ln p, a log-probability in nats, <= 0; number of predicted tokens) of a 1-D
        stream, as KenLM's ``query`` scores a file: every token including ``</s>``, ``<s>``
        never predicted. Perplexity = exp(-total / n)."""
        lp = self.token_log_probs(tokens)
        return float(lp.sum()), len(lp)

    def next_token_log_probs(self, context: list[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """ln p(w | <s> context) for every w in [0, V) ([V] float64; sums to 1 in prob).

        ``context``: the values since the start of the sentence (may be empty)."""
        t = self._require_fit()
        c = np.asarray(context, dtype=np.int64).reshape(-1)
        if len(c) and (c.min() < 0 or c.max() >= self.spec.levels):
            raise ValueError(f"context ids must lie in [0, {self.spec.levels})")
        S = np.concatenate([[self.spec.levels], c])
        avail = np.arange(len(S))
        return torch.from_numpy(t.next_logp(S, avail, np.array([len(S) - 1]))[0] * LN10)

    # ------------------------------------------------------------------ sampling
    def _sample(
        self,
        n: int,
        *,
        cond: Cond,
        generator: torch.Generator | None,
        temperature: float = 1.0,
        **kw: Any,
    ) -> torch.Tensor:
        t = self._require_fit()
        if kw:
            raise ValueError(f"unknown sampling options {sorted(kw)}; NGram takes temperature")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        V, D, N = self.spec.levels, self.spec.D, self.order
        eos = self.spec.eos if self.spec.modality == "text" else None
        ctx = max(N - 1, 1)
        # A rolling window of the last N-1 symbols of each sample's sentence.
        win = np.full((n, ctx), V, np.int64)
        since = np.zeros(n, np.int64)  # symbols after <s> in the current sentence
        out = np.empty((n, D), np.int64)
        for i in range(D):
            S = win.reshape(-1)
            av = np.clip(since[:, None] - np.arange(ctx - 1, -1, -1)[None, :], 0, None)
            avail = av.reshape(-1)
            lp = t.next_logp(S, avail, np.arange(n) * ctx + ctx - 1) * (LN10 / temperature)
            probs = torch.softmax(torch.from_numpy(lp), dim=1)
            w = torch.multinomial(probs, 1, generator=generator)[:, 0].numpy()
            out[:, i] = w
            win = np.concatenate([win[:, 1:], w[:, None]], 1)
            since += 1
            if eos is not None:
                reset = w == eos
                win[reset] = V
                since[reset] = 0
        return torch.from_numpy(out).reshape(n, *self.spec.shape)

    # ------------------------------------------------------------------ ARPA interop
    @classmethod
    def from_arpa(
        cls, path: str | Path, spec: DataSpec | None = None, *, seq_len: int = 128
    ) -> NGram:
        """Load an ARPA back-off model (KenLM, SRILM or ``to_arpa``); see ``zoo.models.arpa``."""
        spec, tables = read_arpa(path, spec, seq_len=seq_len)
        model = cls(spec, order=tables.order, smoothing="mkn")
        model.tables = tables
        model.smoothing = "arpa"
        model.hparams = {"order": tables.order, "arpa": str(path)}
        return model

    def to_arpa(self, path: str | Path) -> None:
        """Write the model as an ARPA file (``.gz`` compresses) that KenLM's ``query`` reads."""
        t = self._require_fit()
        if t.kind != "backoff":
            raise ZooInputError(
                f"smoothing={self.smoothing!r} is not a back-off model and has no exact ARPA "
                "form; write a 'kn' or 'mkn' model"
            )
        write_arpa(t, self.spec, path)

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict[str, Any]:
        t = self.tables
        if t is None:
            return {"fitted": False}
        state: dict[str, Any] = {"fitted": True, "order": t.order, "V": t.V, "kind": t.kind}
        for n in range(1, t.order + 1):
            state[f"logp{n}"] = torch.from_numpy(t.logp[n].copy())
            if n > 1:
                state[f"keys{n}"] = torch.from_numpy(t.keys[n].copy())
            if n < t.order:
                state[f"bo{n}"] = torch.from_numpy(t.bo[n].copy())
        if t.discounts is not None:
            state["discounts"] = torch.from_numpy(t.discounts.copy())
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if not state.get("fitted"):
            self.tables = None
            return
        N, V = int(state["order"]), int(state["V"])
        if V != self.spec.levels:
            raise ValueError(f"state has a vocabulary of {V}, the spec {self.spec.levels}")
        empty = np.empty(0, np.int64)
        t = Tables(N, V, str(state["kind"]))
        t.keys = [empty, empty] + [state[f"keys{n}"].numpy() for n in range(2, N + 1)]
        t.logp = [np.empty(0)] + [state[f"logp{n}"].numpy() for n in range(1, N + 1)]
        t.bo = [np.empty(0)] + [state[f"bo{n}"].numpy() for n in range(1, N)] + [np.zeros(0)]
        if "discounts" in state:
            t.discounts = state["discounts"].numpy()
        self.order = N
        self.tables = t

    def num_parameters(self) -> int:
        """Stored n-gram probabilities plus back-off weights (what an ARPA file lists)."""
        t = self.tables
        if t is None:
            return 0
        return sum(t.sizes()) + sum(len(t.bo[n]) for n in range(1, t.order))

    @property
    def discounts(self) -> np.ndarray | None:
        """[order, 3] (D1, D2, D3+) per order of a KN/MKN fit, else None."""
        return None if self.tables is None else self.tables.discounts

    def extra_repr(self) -> str:
        sizes = self.tables.sizes() if self.tables is not None else "unfitted"
        return f"order={self.order}, smoothing={self.smoothing!r}, n-grams={sizes}"
