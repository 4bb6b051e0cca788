"""Escapes: text tokens outside a model's vocabulary, coded losslessly and counted.

A text model cannot code a character (or word) it has no symbol for. When its vocabulary has
``<unk>``, :func:`zoo.coding.inputs.read_text` writes ``<unk>`` in the token stream at each
such place (so the model codes the escape itself, at its own ``-log2 p(<unk> | context)``)
and keeps the token's text; :func:`code_escapes` then codes those texts, in order, after the
item's tokens in the same range coder:

- which text: a PPM-style adaptive choice among "new" and every text escaped before, with
  counts (a repeated character costs a few bits; "new" has the count of distinct texts so
  far, at least 1: Moffat's method C; the first escape is new without a choice);
- a new text: its UTF-8 bytes then an end mark, each under an adaptive byte model (257
  counts starting at 1, the coded one incremented).

Both tables are functions of what was coded before, so the decoder rebuilds them as it goes;
they go through :func:`zoo.coding.coder.coding_probs` like every other table. The decoder
knows how many texts to read: one per ``<unk>`` in the tokens it decoded.
"""

from __future__ import annotations

import numpy as np

from zoo.coding.coder import Choose, coding_probs
from zoo.errors import ZooInputError

END = 256  # the byte model's end-of-text symbol


def _pick(choose: Choose, counts: np.ndarray, known: int | None) -> int:
    if len(counts) == 1:  # one choice (the first escape is new): nothing to code
        return 0
    probs = coding_probs(np.log(counts.astype(np.float64))[None])
    return int(choose(probs, None if known is None else np.array([known], np.int64))[0])


def code_escapes(choose: Choose, count: int, texts: list[str] | None = None) -> list[str]:
    """Code (``texts`` given) or decode ``count`` escaped texts; returns them."""
    if texts is not None and len(texts) != count:
        raise ValueError(f"{count} escapes announced, {len(texts)} given")
    seen: list[str] = []
    uses: list[int] = []
    byte_counts = np.ones(257, np.int64)
    out: list[str] = []
    for i in range(count):
        known = None
        if texts is not None:
            known = seen.index(texts[i]) + 1 if texts[i] in seen else 0
        which = _pick(choose, np.array([max(1, len(seen)), *uses]), known)
        if which:
            uses[which - 1] += 1
            out.append(seen[which - 1])
            continue
        data = None if texts is None else texts[i].encode("utf-8")
        raw = bytearray()
        while True:
            kb = None if data is None else (data[len(raw)] if len(raw) < len(data) else END)
            b = _pick(choose, byte_counts, kb)
            byte_counts[b] += 1
            if b == END:
                break
            raw.append(b)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ZooInputError("the archive is damaged: an escaped text is not UTF-8") from None
        seen.append(text)
        uses.append(1)
        out.append(text)
    return out
