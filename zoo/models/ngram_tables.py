"""The tables of a fitted (or imported) n-gram model, shared by :mod:`zoo.models.ngram` (which
counts and scores) and :mod:`zoo.models.arpa` (which reads and writes ARPA files)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


# ---------------------------------------------------------------------- the fitted tables
@dataclass
class Tables:
    """A fitted (or imported) n-gram model as one table per order.

    ``keys[n]`` (n >= 2): sorted int64 keys ``ctx * W + w`` of the order-n n-grams, ``ctx``
    being the index of their context in the order n-1 table. Order 1 is dense over the
    ``W = V + 1`` symbols (the V values and ``<s>``), so a unigram's index is its id.
    ``logp[n]``: log10 probability of each n-gram.
    ``bo[n]`` (n < N): for back-off models, the log10 back-off weight of each n-gram used as a
    context (0 where it is none); for add-k, the log10 probability of an unseen word after it.
    """

    order: int
    V: int
    kind: str  # "backoff" (KN, MKN, ARPA) or "addk"
    keys: list[np.ndarray] = field(default_factory=list)  # index n, [] for n = 0, 1
    logp: list[np.ndarray] = field(default_factory=list)
    bo: list[np.ndarray] = field(default_factory=list)
    discounts: np.ndarray | None = None  # [N, 3] for KN/MKN fits (D1, D2, D3+ per order)

    @property
    def W(self) -> int:  # noqa: N802 - symbols incl. <s>
        return self.V + 1

    @property
    def bos(self) -> int:
        return self.V

    def sizes(self) -> list[int]:
        return [len(self.logp[n]) for n in range(1, self.order + 1)]

    # --------------------------------------------------------------- lookup
    def ids(self, S: np.ndarray, avail: np.ndarray) -> list[np.ndarray]:
        """Index of the n-gram ending at each position of S, per order (-1: not stored).

        S: [L] padded symbols (``<s>`` = V); avail: [L] how many earlier symbols of the same
        sentence precede each position (0 at ``<s>``).
        """
        return self._ids_and_contexts(S, avail)[0]

    def _ids_and_contexts(
        self, S: np.ndarray, avail: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(ids, ctx): ids[n][j] as in ``ids``; ctx[n][j] = ids[n][j - 1], the index of the
        length-n context of position j (-1 at j = 0)."""
        S = S.astype(np.int64)
        ids, ctx = [np.empty(0, np.int64), S], [np.empty(0, np.int64)]
        notbos = S != self.bos
        for n in range(1, self.order + 1):
            prev = np.empty_like(S)
            prev[0] = -1
            prev[1:] = ids[n][:-1]
            ctx.append(prev)
            if n == self.order:
                break
            valid = notbos & (avail >= n) & (prev >= 0)
            idn = np.full(len(S), -1, np.int64)
            idn[valid] = find_keys(self.keys[n + 1], prev[valid] * self.W + S[valid])
            ids.append(idn)
        return ids, ctx

    def score(self, S: np.ndarray, avail: np.ndarray) -> np.ndarray:
        """log10 p of every position of S given its sentence history ([L]; <s> positions: 0)."""
        ids, prev_ids = self._ids_and_contexts(S, avail)
        N = self.order
        out = np.full(len(S), np.nan)
        if self.kind == "addk":
            target = np.minimum(avail + 1, N)
            for n in range(N, 0, -1):
                at = target == n
                hit = at & (ids[n] >= 0)
                out[hit] = self.logp[n][ids[n][hit]]
                if n > 1:
                    miss = at & (ids[n] < 0)
                    ctx = prev_ids[n - 1][miss]
                    out[miss] = np.where(
                        ctx >= 0, self.bo[n - 1][np.maximum(ctx, 0)], -math.log10(self.V)
                    )
        else:
            # log p = logp(longest stored n-gram) + back-offs of the longer stored contexts.
            acc = np.zeros(len(S))
            todo = np.ones(len(S), bool)
            for n in range(N, 0, -1):
                if n < N:  # (an n-gram ending at j - 1 is within j's sentence when stored)
                    ctx = prev_ids[n]
                    has = (ctx >= 0) & (avail >= n)
                    acc[has] += self.bo[n][ctx[has]]
                hit = todo & (ids[n] >= 0)
                out[hit] = self.logp[n][ids[n][hit]] + acc[hit]
                todo &= ~hit
        out[S == self.bos] = 0.0
        return out

    def next_logp(self, S: np.ndarray, avail: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """log10 p(w | history) for every w in [0, V), for histories ending at ``ends`` of S.

        Returns [len(ends), V]. The history of row r is the sentence ending at S[ends[r]].
        """
        ids = self.ids(S, avail)
        R, V, N = len(ends), self.V, self.order
        hist = avail[ends] + 1  # symbols available as context (incl. <s>)
        ctx_len = np.minimum(hist, N - 1)
        if self.kind == "addk":
            out = np.full((R, V), -math.log10(V))
            if N == 1:
                out[:] = self.logp[1][:V]
                return out
            for c in range(1, N):
                rows = np.nonzero(ctx_len == c)[0]
                cid = ids[c][ends[rows]]
                ok = cid >= 0
                out[rows[ok]] = self.bo[c][cid[ok], None]
                self._fill_children(out, rows[ok], cid[ok], c + 1)
            return out
        out = np.tile(self.logp[1][:V], (R, 1))
        for m in range(2, N + 1):
            rows = np.nonzero(ctx_len >= m - 1)[0]
            cid = ids[m - 1][ends[rows]]
            ok = cid >= 0
            rows, cid = rows[ok], cid[ok]
            out[rows] += self.bo[m - 1][cid, None]
            self._fill_children(out, rows, cid, m)
        return out

    def _fill_children(self, out: np.ndarray, rows: np.ndarray, cid: np.ndarray, n: int) -> None:
        """out[r, w] = logp of the order-n n-gram (cid[r], w) wherever it is stored."""
        keys = self.keys[n]
        lo = np.searchsorted(keys, cid * self.W)
        hi = np.searchsorted(keys, (cid + 1) * self.W)
        cnt = hi - lo
        if not cnt.sum():
            return
        r = np.repeat(rows, cnt)
        idx = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        w = keys[idx] % self.W
        out[r, w] = self.logp[n][idx]

    def words(self, n: int) -> np.ndarray:
        """The symbols of every order-n n-gram, [len(table n), n] int64."""
        if n == 1:
            return np.arange(self.W, dtype=np.int64)[:, None]
        ctx = self.keys[n] // self.W
        return np.concatenate([self.words(n - 1)[ctx], (self.keys[n] % self.W)[:, None]], 1)


def find_keys(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index of each query key in the sorted ``table``, -1 where absent.

    Long query arrays are sorted first: binary searches for ascending keys touch nearby
    memory, about 3x faster than random order on tables of a million n-grams."""
    if not len(table) or not len(q):
        return np.full(len(q), -1, np.int64)
    order = np.argsort(q) if len(q) > 4096 else None
    qs = q if order is None else q[order]
    pos = np.minimum(np.searchsorted(table, qs), len(table) - 1)
    hit = np.where(table[pos] == qs, pos, -1)
    if order is None:
        return hit
    found = np.empty(len(q), np.int64)
    found[order] = hit
    return found


# ---------------------------------------------------------------------- trie helpers
def index_of(keys: list[np.ndarray], words: np.ndarray, W: int) -> np.ndarray:
    """Index of each n-gram (rows of ``words``, [M, m]) in the order-m table; -1 if absent."""
    idx = words[:, 0].astype(np.int64)
    for j in range(1, words.shape[1]):
        table = keys[j + 1]
        q = np.where(idx >= 0, idx * W + words[:, j], -1)
        pos = np.minimum(np.searchsorted(table, q), max(len(table) - 1, 0))
        hit = (idx >= 0) & (table[pos] == q) if len(table) else np.zeros(len(q), bool)
        idx = np.where(hit, pos, -1)
    return idx
