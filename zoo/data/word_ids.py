"""Lines of words -> one id stream, without a Python call per word (compiled when ``numba`` is
installed).

:class:`WordIds` maps whitespace-separated words to vocabulary ids, a word outside the
vocabulary to ``unk``, and ends every line with ``eos`` (KenLM's ``Model.score(line,
bos=True, eos=True)`` reads a line the same way). The compiled path joins the lines into one
byte string and, in one pass over its bytes, splits the words, hashes each (FNV-1a, 64 bit)
and finds it in an open-addressing table of the vocabulary, comparing the bytes, so the
ids are exactly those of a dict lookup. Text that is not ASCII (where ``str.split`` knows more
whitespace than the bytes show) and environments without numba take the plain Python path,
``encode_lines_python``, which gives the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np

try:  # pragma: no cover - exercised where numba is installed
    import numba

    _HAVE_NUMBA = True
except Exception:
    numba = None
    _HAVE_NUMBA = False

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
# ASCII whitespace as str.split sees it: \t \n \v \f \r, the separators \x1c-\x1f, space.
_SPACE = np.zeros(256, np.bool_)
_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True


def available() -> bool:
    """True when the compiled encoder can run (``numba`` imports)."""
    return _HAVE_NUMBA


def _fnv(buf, a, b):
    h = np.uint64(_FNV_OFFSET)
    prime = np.uint64(_FNV_PRIME)
    for i in range(a, b):
        h = (h ^ np.uint64(buf[i])) * prime
    return h


def _build(blob, off, mask):
    """The table: slot -> word index (-1 empty), home slot = FNV hash & mask."""
    tab = np.full(mask + 1, -1, np.int64)
    for w in range(off.shape[0] - 1):
        s = np.int64(_fnv_j(blob, off[w], off[w + 1]) & np.uint64(mask))
        while tab[s] >= 0:
            s = (s + 1) & mask
        tab[s] = w
    return tab


def _encode(buf, space, tab, mask, blob, off, ids, unk, eos, out):
    """Words of ``buf`` (uint8) -> out[:n] ids, ``eos`` at every b'\\n'; returns n."""
    n = 0
    i = 0
    L = buf.shape[0]
    prime = np.uint64(_FNV_PRIME)
    while i < L:
        c = buf[i]
        if c == 10:
            out[n] = eos
            n += 1
            i += 1
            continue
        if space[c]:
            i += 1
            continue
        a = i
        h = np.uint64(_FNV_OFFSET)
        while i < L and not space[buf[i]]:
            h = (h ^ np.uint64(buf[i])) * prime
            i += 1
        s = np.int64(h & np.uint64(mask))
        got = unk
        while True:
            w = tab[s]
            if w < 0:
                break
            lo, hi = off[w], off[w + 1]
            if hi - lo == i - a:
                same = True
                for k in range(hi - lo):
                    if blob[lo + k] != buf[a + k]:
                        same = False
                        break
                if same:
                    got = ids[w]
                    break
            s = (s + 1) & mask
        out[n] = got
        n += 1
    return n


if _HAVE_NUMBA:
    _fnv_j = numba.njit(cache=True, nogil=True)(_fnv)
    _build_j = numba.njit(cache=True, nogil=True)(_build)
    _encode_j = numba.njit(cache=True, nogil=True)(_encode)


def encode_lines_python(
    lines: Sequence[str], index: dict[str, int], unk: int, eos: int
) -> np.ndarray:
    """The plain path: ``str.split`` and one dict lookup per word. [total words + lines] int64."""
    words = chain.from_iterable(chain(line.split(), (None,)) for line in lines)
    get = {**index, None: eos}.get
    n = sum(len(line.split()) for line in lines) + len(lines)
    return np.fromiter(map(get, words, repeat(unk)), np.int64, count=n)


class WordIds:
    """A vocabulary's word -> id map for whole lines.

    Args:
        vocab: the words, id = position (a word listed twice keeps its first id).
        unk: the id of a word not in ``vocab``.
        eos: the id appended after every line.
        jit: None = the compiled path when numba is installed, False = the Python path.
    """

    def __init__(
        self, vocab: Sequence[str], *, unk: int, eos: int, jit: bool | None = None
    ) -> None:
        if jit and not _HAVE_NUMBA:
            raise RuntimeError("jit=True needs numba (pip install 'zoo[fast]')")
        self.index: dict[str, int] = {}
        for i, w in enumerate(vocab):
            self.index.setdefault(w, i)
        self.unk, self.eos = int(unk), int(eos)
        self.jit = _HAVE_NUMBA if jit is None else bool(jit)
        self._table = None

    def _compiled_table(self):
        if self._table is None:
            words = [w for w in self.index if w.isascii() and w and not w.isspace()]
            enc = [w.encode("ascii") for w in words]
            blob = np.frombuffer(b"".join(enc) or b"\0", np.uint8)
            off = np.zeros(len(enc) + 1, np.int64)
            off[1:] = np.cumsum([len(e) for e in enc])
            mask = (1 << max(2 * len(enc), 4).bit_length()) - 1
            ids = np.array([self.index[w] for w in words], np.int64)
            self._table = (_build_j(blob, off, mask), mask, blob, off, ids)
        return self._table

    def encode_lines(self, lines: Sequence[str]) -> np.ndarray:
        """Each line's words, then ``eos``, as one stream: [total words + len(lines)] int64."""
        if not self.jit:
            return encode_lines_python(lines, self.index, self.unk, self.eos)
        text = "\n".join(lines) + "\n" if len(lines) else ""
        if not text.isascii() or text.count("\n") != len(lines):
            return encode_lines_python(lines, self.index, self.unk, self.eos)
        buf = np.frombuffer(text.encode("ascii"), np.uint8)
        tab, mask, blob, off, ids = self._compiled_table()
        out = np.empty(len(buf) + 1, np.int64)
        n = _encode_j(buf, _SPACE, tab, mask, blob, off, ids, self.unk, self.eos, out)
        return out[:n]
