"""A compiled back-off scoring loop over the hashed n-gram tables (optional: needs ``numba``).

:meth:`zoo.models.ngram_tables.Tables.score` scores back-off models order by order with numpy
passes over every position; this module does the same arithmetic in one compiled pass over the
tokens, as KenLM's ``query`` does: the state is the row of each stored n-gram ending at the
previous token (one int64 per order, -1 where none) and its back-off weight, and each token
costs one probe per order whose context is stored. The probes of one token depend only on the
previous token's state, so the CPU overlaps their cache misses.

The values are bit for bit those of the numpy path: log10 p(w | h) = log10 p of the longest
stored n-gram ending in w (orders are probed independently, so a model whose n-grams' suffixes
are not all stored scores as the numpy path does), plus the back-off weights of the stored
contexts at least as long as its context, summed from the longest down, from 0.0.

``numba`` is an optional extra (``pip install zoo[fast]``); without it :func:`available`
is False and scoring stays on the numpy path. Compilation is cached on disk (``cache=True``):
the first call in a fresh environment compiles (about a second), later processes load it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

try:  # pragma: no cover - exercised where numba is installed
    import numba

    _HAVE_NUMBA = True
except Exception:  # missing, or a build that does not import with this numpy
    numba = None
    _HAVE_NUMBA = False

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # as zoo.models.ngram_tables.Hashed


def _make_prefetch():
    """``_prefetch(a, i)``: a hint to load row i of the array a into the cache (LLVM's
    ``llvm.prefetch``); a no-op where the intrinsic cannot be built."""
    try:
        from llvmlite import ir
        from numba import types
        from numba.core import cgutils
        from numba.extending import intrinsic

        @intrinsic
        def prefetch(typingctx, arr, idx):
            if not isinstance(arr, types.Array):
                return None

            def codegen(context, builder, signature, args):
                aryty = signature.args[0]
                ary = context.make_array(aryty)(context, builder, args[0])
                zero = context.get_constant(types.intp, 0)
                at = [args[1]] + [zero] * (aryty.ndim - 1)
                ptr = cgutils.get_item_pointer(context, builder, aryty, ary, at)
                i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
                fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
                fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
                builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
                return context.get_dummy_value()

            return types.void(arr, types.intp), codegen

        return prefetch
    except Exception:  # pragma: no cover - an llvmlite without the pieces
        log.debug("llvm.prefetch unavailable; the n-gram loop runs without prefetching")
        return numba.njit(lambda a, i: None)


_prefetch = _make_prefetch() if _HAVE_NUMBA else None


def available() -> bool:
    """True when the compiled scoring loop can run (``numba`` imports)."""
    return _HAVE_NUMBA


def _huge_pages_empty(shape: tuple[int, int]) -> np.ndarray:
    """An int64 array in memory the kernel is asked to back with 2 MiB pages (Linux THP in
    ``madvise`` mode): random probes into tables of 100 MB then miss the TLB far less."""
    nbytes = shape[0] * shape[1] * 8
    try:
        import mmap

        buf = mmap.mmap(-1, nbytes + (2 << 20), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(mmap.MADV_HUGEPAGE)
    except (ImportError, AttributeError, OSError, ValueError):
        return np.empty(shape, np.int64)
    raw = np.frombuffer(buf, np.uint8)
    skip = (-raw.ctypes.data) % (2 << 20)  # start on a 2 MiB boundary
    return raw[skip : skip + nbytes].view(np.int64).reshape(shape)


@dataclass
class Flat:
    """The hashed tables of orders 2..N laid end to end, as the compiled loop reads them.

    rec: [sum of rows, 4] int64, one 32-byte row per slot (so no row straddles two cache
    lines): the hash, the log10 p and back-off bits (see ``Hashed``) and 1 where the n-gram
    is the context of some n-gram one order up (so the next order's probe can be skipped
    without another memory access); rec_off[n]: first row of order n (n = 2..N); M[n]: the
    order's home-row scale; ext1: [W] bool, the same flag for the unigrams (contexts of order
    2); logp1, bo1: [W] float64, the unigrams (a unigram's row is its id); closed: whether the
    suffix of every n-gram that a scored position can match (no ``<s>`` after its first word)
    is stored (``Tables.suffix_closed``).
    """

    rec: np.ndarray
    rec_off: np.ndarray
    M: np.ndarray
    ext1: np.ndarray
    logp1: np.ndarray
    bo1: np.ndarray
    closed: bool


def flatten(tables) -> Flat:
    """Flat tables of a back-off ``Tables`` (built from its hashed tables)."""
    N = tables.order
    hashed = tables.hashed()
    rec_off = np.zeros(N + 2, np.int64)
    M = np.zeros(N + 1, np.uint64)
    for n in range(2, N + 1):
        rec_off[n + 1] = rec_off[n] + len(hashed[n].rec)
        M[n] = hashed[n].M
    rec = _huge_pages_empty((int(rec_off[N + 1]) if N > 1 else 0, 4))
    for n in range(2, N + 1):
        part = rec[rec_off[n] : rec_off[n + 1]]
        part[:, :3] = hashed[n].rec
        part[:, 3] = hashed[n + 1].extends if n < N else 0
    ext1 = hashed[2].extends if N > 1 else np.zeros(tables.W, np.bool_)
    bo1 = tables.bo[1] if N > 1 else np.zeros(tables.W)
    return Flat(
        rec,
        rec_off,
        M,
        np.ascontiguousarray(ext1, dtype=np.bool_),
        np.ascontiguousarray(tables.logp[1], dtype=np.float64),
        np.ascontiguousarray(bo1, dtype=np.float64),
        tables.suffix_closed(),
    )


_BLOCK = 2048  # tokens per block: 3 arrays of [N + 1, _BLOCK + 1] stay in L2
_AHEAD = 16  # prefetch distance, in probes


def _score_loop(S, bos, eos, N, W, rec, recf, rec_off, M, ext1, logp1, bo1, closed, scale, out):  # noqa: N803, E501
    """out[j] = scale * log10 p(S[j] | its sentence so far); 0 at ``<s>`` (= bos). A sentence
    starts at the first token, at every ``<s>`` and after every ``eos`` (-1: none).

    Block by block (``_BLOCK`` tokens, whose working arrays stay in cache), order by order:
    row[n, i] is the row of the stored order-n n-gram ending at token i of the block (-1:
    none), found from row[n - 1, i - 1] (column 0 holds the previous block's last token); the
    probes of one order are independent of each other, so their cache misses overlap, where a
    token-by-token loop waits for each token's misses in turn. ``closed``: every stored
    n-gram's suffix is stored (true of fitted and lmplz models), so where order n - 1 missed at
    a token, order n cannot match there and is not probed (KenLM's early stop)."""
    L = S.shape[0]
    B = _BLOCK
    row = np.full((N + 1, B + 1), -1, np.int64)
    xt = np.zeros((N + 1, B + 1), np.bool_)  # the n-gram's extends flag
    lp = np.zeros((N + 1, B + 1), np.float64)
    bo = np.zeros((N + 1, B + 1), np.float64)
    qv = np.zeros(B + 1, np.bool_)
    qu = np.zeros(B + 1, np.uint64)
    qh = np.zeros(B + 1, np.int64)
    golden = np.uint64(0x9E3779B97F4A7C15)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    s32 = np.uint64(32)
    prev = np.int64(bos)  # the symbol before the block (<s> before the stream)
    for b0 in range(0, L, B):
        nb = min(B, L - b0)
        if b0 > 0:  # carry the block's last column to column 0
            for n in range(1, N + 1):
                row[n, 0] = row[n, B]
                bo[n, 0] = bo[n, B]
                xt[n, 0] = xt[n, B]
        else:
            row[1, 0] = bos
            bo[1, 0] = bo1[bos]
            xt[1, 0] = ext1[bos]
        for i in range(1, nb + 1):
            w = S[b0 + i - 1]
            row[1, i] = w
            lp[1, i] = logp1[w]
            bo[1, i] = bo1[w]
            xt[1, i] = ext1[w]
        for n in range(2, N + 1):
            base, m = rec_off[n], M[n]
            # Pass 1, without a branch on loaded data: each token's query key and home row
            # (a token that cannot match gets qv False).
            p = prev
            for i in range(1, nb + 1):
                w = S[b0 + i - 1]
                c = row[n - 1, i - 1]
                x = xt[n - 1, i - 1]
                if p == eos:  # a new sentence: the context is <s>
                    c = np.int64(bos) if n == 2 else np.int64(-1)
                    x = ext1[bos] if n == 2 else False
                p = w
                ok = (w != bos) & (c >= 0) & x
                cc = c if ok else np.int64(0)
                if closed:
                    ok = ok & (row[n - 1, i] >= 0)
                u = np.uint64(cc * W + w) * golden
                qv[i] = ok
                qu[i] = u
                qh[i] = base + np.int64(((u >> s32) * m) >> s32) if ok else base
            # Pass 2: linear probing from the home rows, the rows D tokens ahead prefetched.
            for i in range(1, nb + 1):
                if i + _AHEAD <= nb:
                    _prefetch(rec, qh[i + _AHEAD])
                row[n, i] = -1
                xt[n, i] = False
                if not qv[i]:
                    continue
                u = qu[i]
                h = qh[i]
                k = np.uint64(rec[h, 0])
                while k < u:
                    h += 1
                    k = np.uint64(rec[h, 0])
                if k == u and k != empty:
                    row[n, i] = h - base
                    lp[n, i] = recf[h, 1]
                    bo[n, i] = recf[h, 2]
                    xt[n, i] = rec[h, 3] != 0
        p = prev
        for i in range(1, nb + 1):
            w = S[b0 + i - 1]
            if w == bos:
                out[b0 + i - 1] = 0.0
                p = w
                continue
            best = 1
            for n in range(N, 1, -1):
                if row[n, i] >= 0:
                    best = n
                    break
            acc = 0.0
            if p == eos:  # the context is <s> alone
                if best == 1 and N > 1:
                    acc += bo1[bos]
            else:
                for k in range(N - 1, best - 1, -1):
                    if row[k, i - 1] >= 0:
                        acc += bo[k, i - 1]
            out[b0 + i - 1] = (lp[best, i] + acc) * scale
            p = w
        prev = p
    return out


_compiled = None


def _kernel():
    global _compiled
    if _compiled is None:
        _compiled = numba.njit(cache=True, nogil=True)(_score_loop)
    return _compiled


def score(
    flat: Flat, S: np.ndarray, *, N: int, W: int, bos: int, eos: int, scale: float = 1.0
) -> np.ndarray:
    """``scale`` * log10 p of every symbol of S ([L] int64 ids in [0, W); ``<s>`` = bos scores
    0) given its sentence so far; sentences also end after ``eos`` (-1: only at ``<s>``).
    Returns [L] float64 (``scale = ln 10``: nats)."""
    if not _HAVE_NUMBA:
        raise RuntimeError("numba is not installed: the compiled n-gram loop is unavailable")
    S = np.ascontiguousarray(S, dtype=np.int64)
    out = np.empty(len(S), np.float64)
    recf = flat.rec.view(np.float64)
    tabs = (flat.rec, recf, flat.rec_off, flat.M, flat.ext1, flat.logp1, flat.bo1)
    return _kernel()(S, bos, eos, N, W, *tabs, flat.closed, scale, out)
