"""The tables of a fitted (or imported) n-gram model, shared by :mod:`zoo.models.ngram` (which
counts and scores) and :mod:`zoo.models.arpa` (which reads and writes ARPA files)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

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
    _hashed: list[Hashed | None] | None = field(default=None, repr=False, compare=False)
    _flat: Any = field(default=None, repr=False, compare=False)  # ngram_jit.Flat, on first use

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

    def score(self, S: np.ndarray, avail: np.ndarray, *, jit: bool | None = None) -> np.ndarray:
        """log10 p of every position of S given its sentence history ([L]; <s> positions: 0).

        Back-off models go through the compiled loop of ``zoo.models.ngram_jit`` when numba is
        installed (``jit=None``: when available; False: the numpy passes; the same values)."""
        if self.kind == "backoff":
            if self.use_jit(jit):
                return self.score_stream(S, -1)
            return self._score_backoff(S.astype(np.int64))
        ids, prev_ids = self._ids_and_contexts(S, avail)
        N = self.order
        out = np.full(len(S), np.nan)
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
        out[S == self.bos] = 0.0
        return out

    def _score_backoff(self, S: np.ndarray) -> np.ndarray:
        """Back-off scoring through the hashed tables (see ``Hashed``).

        log p(j) = logp(longest stored n-gram ending at j) + the back-off weights of the stored
        contexts ending at j - 1 that are at least as long as its context, added from the
        longest down (the order in which the floating-point sum is taken, as KenLM's query).
        Only positions whose context was found are looked up at the next order; an n-gram
        found at j - 1 lies within j's sentence unless j is ``<s>``, and no hashed n-gram
        ends with ``<s>``, so no sentence bookkeeping is needed.
        """
        L, N, W = len(S), self.order, self.W
        hashed = self.hashed()
        pos: list[np.ndarray] = [np.empty(0, np.int64), np.arange(L)]
        lp: list[np.ndarray] = [np.empty(0), self.logp[1][S]]
        bo: list[np.ndarray] = [np.empty(0), self.bo[1][S] if N > 1 else np.empty(0)]
        slot = S  # order 1: the slot of a unigram is its id
        for n in range(1, N):
            p, s = pos[n], slot
            if len(p) and p[-1] == L - 1:
                p, s = p[:-1], s[:-1]
            ext = hashed[n + 1].extends[s]  # only contexts of some order-(n+1) n-gram
            p, s = p[ext], s[ext]
            nxt = p + 1
            found, slot, lpn, bon = hashed[n + 1].find(s * W + S[nxt])
            pos.append(nxt[found])
            lp.append(lpn)
            bo.append(bon)
        acc = np.zeros(L)
        val: list[np.ndarray] = [np.empty(0)] * (N + 1)
        for m in range(N, 0, -1):
            if m < N:  # the back-off of each stored order-m context ending at j - 1
                p, b = pos[m], bo[m]
                if len(p) and p[-1] == L - 1:
                    p, b = p[:-1], b[:-1]
                acc[p + 1] += b
            val[m] = lp[m] + (acc if m == 1 else acc[pos[m]])
        out = val[1]
        for m in range(2, N + 1):
            out[pos[m]] = val[m]
        out[S == self.bos] = 0.0
        return out

    def use_jit(self, jit: bool | None) -> bool:
        """Whether back-off scoring takes the compiled loop (``jit``: None = when available)."""
        from zoo.models import ngram_jit

        if jit and not ngram_jit.available():
            raise RuntimeError("jit=True needs numba (pip install 'zoo[fast]')")
        return self.kind == "backoff" and (ngram_jit.available() if jit is None else jit)

    def score_stream(self, S: np.ndarray, eos: int, scale: float = 1.0) -> np.ndarray:
        """``scale`` * log10 p of every symbol of S ([L] ids, ``<s>`` = V allowed and scored
        0) by the compiled loop; a sentence starts at S[0], at each ``<s>`` and after each
        ``eos`` (-1: none). Back-off models only; needs numba."""
        from zoo.models import ngram_jit

        if self._flat is None:
            self._flat = ngram_jit.flatten(self)
        return ngram_jit.score(
            self._flat, S, N=self.order, W=self.W, bos=self.bos, eos=eos, scale=scale
        )

    def suffix_closed(self) -> bool:
        """Whether every stored n-gram without ``<s>`` after its first word has its suffix
        (the n-gram without its first word) stored too: then a token whose order-n n-gram is
        absent has no longer one either, and the compiled loop stops probing there (true of
        fitted and ``lmplz`` models; an ARPA file need not be)."""
        for n in range(3, self.order + 1):
            suf = self.words(n)[:, 1:]
            suf = suf[~(suf == self.bos).any(1)]
            if len(suf) and (index_of(self.keys, suf, self.W) < 0).any():
                return False
        return True

    def hashed(self) -> list[Hashed | None]:
        """The open-addressing tables of orders 2..N (index n), built on first use."""
        if self._hashed is None:
            self._hashed = build_hashed(self)
        return self._hashed

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


# ---------------------------------------------------------------------- hashed tables
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: multiplicative hashing
_EMPTY = np.uint64(2**64 - 1)


class Hashed:
    """One order's n-grams in an ordered open-addressing hash table (linear probing).

    A key is stored as its hash ``u = key * 2^64/phi mod 2^64``, a bijection of 64-bit
    integers, so equal hashes are equal keys. Row r of ``rec`` ([M + tail, 3] int64) holds u
    and, as float64 bits, the n-gram's log10 p and back-off weight, so one random memory
    access finds all three. A key's home row is u's top 32 bits scaled to M = twice the number
    of keys; keys are placed in increasing u, each at the first free row from its home, so
    the occupied rows hold increasing u and a search can stop at the first row whose u is at
    least the query's (an empty row holds 2^64 - 1).

    The key of an order-n n-gram is ``slot of its context in the order n-1 table * W + last
    word`` (the slot of a unigram is its id): the row where an n-gram is found is the context
    id of the next order.
    """

    def __init__(self, keys: np.ndarray, logp: np.ndarray, bo: np.ndarray) -> None:
        n = len(keys)
        self.M = np.uint64(max(2 * n, 1))
        u = keys.view(np.uint64) * _GOLDEN
        if (u == _EMPTY).any():
            raise ValueError("an n-gram key hashes to the empty marker; the table cannot hold it")
        order = np.argsort(u)
        ar = np.arange(n)
        slots = np.empty(n, np.int64)
        # Linear probing in order of u: row of the i-th key = max(home_i, row_{i-1} + 1).
        slots[order] = ar + np.maximum.accumulate(self.home(u[order]) - ar) if n else ar
        size = max(int(self.M), int(slots.max()) + 1 if n else 0) + 1
        rec = np.full((size, 3), -1, np.int64)
        rec[slots, 0] = u.view(np.int64)
        rec[slots, 1] = logp.view(np.int64)
        rec[slots, 2] = bo.view(np.int64)
        self.rec, self.slots = rec, slots
        self.extends = np.zeros(0, bool)  # [rows of the order n-1 table]: is it a context here

    def home(self, u: np.ndarray) -> np.ndarray:
        return (((u >> np.uint64(32)) * self.M) >> np.uint64(32)).view(np.int64)

    def find(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(found mask, then for the found keys: rows, log10 p, back-off) of keys q >= 0."""
        uq = q.view(np.uint64) * _GOLDEN
        h = self.home(uq)
        r = np.take(self.rec, h, axis=0)
        k = r[:, 0].view(np.uint64)
        hit = k == uq
        lp, bo = r[:, 1].view(np.float64), r[:, 2].view(np.float64)
        todo = np.nonzero(k < uq)[0]
        if len(todo):  # rows holding a smaller u: the key, if stored, is further on
            lp, bo = lp.copy(), bo.copy()
        while len(todo):
            ht = h[todo] + 1
            h[todo] = ht
            rt = np.take(self.rec, ht, axis=0)
            kt = rt[:, 0].view(np.uint64)
            ut = uq[todo]
            now = kt == ut
            at = todo[now]
            hit[at] = True
            lp[at] = rt[now, 1].view(np.float64)
            bo[at] = rt[now, 2].view(np.float64)
            todo = todo[kt < ut]
        return hit, h[hit], lp[hit], bo[hit]


def build_hashed(t: Tables) -> list[Hashed | None]:
    """Hash tables of orders 2..N for back-off scoring. An n-gram ending with ``<s>``, or whose
    context is not hashed, can never be the n-gram of a scored position: it is left out."""
    out: list[Hashed | None] = [None, None]
    W = t.W
    slot_of = np.arange(W, dtype=np.int64)  # order 1: a unigram's slot is its id
    for n in range(2, t.order + 1):
        ctx, w = np.divmod(t.keys[n], W)
        cs = slot_of[ctx]
        keep = (w != t.bos) & (cs >= 0)
        if keep.any() and (int(cs[keep].max()) + 1) * W >= 2**63:
            raise ValueError(f"the order-{n} table is too large for int64 hashed keys")
        keys = cs[keep] * W + w[keep]
        bo = t.bo[n][keep] if n < t.order else np.zeros(int(keep.sum()))
        h = Hashed(keys, t.logp[n][keep], bo)
        h.extends = np.zeros(len(slot_of) if n == 2 else len(out[n - 1].rec), bool)
        h.extends[cs[keep]] = True
        slot_of = np.full(len(w), -1, np.int64)
        slot_of[keep] = h.slots
        out.append(h)
    return out


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
