"""ARPA back-off files: read KenLM/SRILM models into back-off tables, write ours.

This module knows the file format and :class:`~zoo.models.ngram_tables.Tables` only;
:class:`~zoo.models.ngram.NGram` (``from_arpa``, ``to_arpa``) wraps them into a model.

The format (Jurafsky & Martin; KenLM's ``lm/read_arpa.cc``)::

    \\data\\
    ngram 1=52
    ngram 2=731

    \\1-grams:
    -2.4956486	<unk>	0
    0	<s>	-2.0341113
    ...
    \\2-grams:
    -1.6372705	c </s>
    \\end\\

Each line is ``log10 p``, the n-gram's words and, below the top order, an optional log10
back-off weight (0 when absent). Back-off semantics (KenLM ``query``): the probability of ``w``
after history ``h`` is that of the longest stored n-gram ending in ``w`` that is a suffix of
``h w``, times the back-off weights of the stored contexts of ``h`` longer than its context.

Symbols: ``<s>`` is the begin-of-sentence context, ``</s>`` maps to ``spec.eos`` and
``<unk>`` to ``spec.unk``; other words are the spec's vocabulary (text) or decimal level ids
(images, audio). Files ending in ``.gz`` are (de)compressed. Log-probabilities are written
with Python's shortest round-trip repr, so a written file loads back bit for bit.
"""

from __future__ import annotations

import gc
import gzip
import io
import logging
import re
from pathlib import Path

import numpy as np

from zoo.core.spec import DataSpec
from zoo.errors import ZooInputError
from zoo.models.ngram_tables import Tables, index_of

log = logging.getLogger(__name__)

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_NGRAM_COUNT = re.compile(r"^ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"^\\(\d+)-grams:$")


def _open_text(path: Path, mode: str):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="\n")


class _Lines:
    """Numbered, stripped lines of a file; errors name the file and the line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            f = _open_text(path, "r")
        except FileNotFoundError:
            raise ZooInputError(f"ARPA file not found: {path}") from None
        self._f, self.lineno = f, 0

    def error(self, what: str) -> ZooInputError:
        return ZooInputError(f"{self.path}:{self.lineno}: {what}")

    def next(self) -> str | None:
        try:
            line = self._f.readline()
        except (UnicodeDecodeError, EOFError, OSError) as e:
            raise self.error(f"cannot read the ARPA file ({e})") from None
        if not line:
            return None
        self.lineno += 1
        return line.strip()

    def close(self) -> None:
        self._f.close()


Section = tuple[list[str], np.ndarray, np.ndarray, np.ndarray]


def _parse(path: Path) -> tuple[list[int], list[Section]]:
    """-> (declared counts per order, per order (words flat, log10 p, log10 back-off, line
    numbers)). A fast bulk pass reads well-formed files; anything unusual is re-read line by
    line, which accepts what is valid and names the file and line of what is not."""
    # Millions of small lists: pause the cyclic garbage collector, whose full passes would
    # otherwise rescan them all again and again (10x slower on a 2M-line file).
    enabled = gc.isenabled()
    gc.disable()
    try:
        fast = _parse_fast(path)
        return fast if fast is not None else _parse_strict(path)
    finally:
        if enabled:
            gc.enable()


def _parse_fast(path: Path) -> tuple[list[int], list[Section]] | None:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                text = f.read().decode("utf-8")
        else:
            text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ZooInputError(f"ARPA file not found: {path}") from None
    except (UnicodeDecodeError, EOFError, OSError):
        return None
    lines = text.split("\n")
    try:
        i = lines.index("\\data\\")
    except ValueError:
        return None
    counts: list[int] = []
    i += 1
    while i < len(lines) and (m := _NGRAM_COUNT.match(lines[i].strip())):
        if int(m.group(1)) != len(counts) + 1:
            return None
        counts.append(int(m.group(2)))
        i += 1
    order, sections = len(counts), []
    for n in range(1, order + 1):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines) or lines[i].strip() != f"\\{n}-grams:":
            return None
        start, stop = i + 1, i + 1 + counts[n - 1]
        body = lines[start:stop]
        parts = [line.split() for line in body]
        if len(body) != counts[n - 1] or not set(map(len, parts)) <= {n + 1, n + 2 - (n == order)}:
            return None
        try:
            m = len(parts)
            probs = np.fromiter(map(float, [p[0] for p in parts]), np.float64, count=m)
            bos = np.fromiter(
                (float(p[n + 1]) if len(p) == n + 2 else 0.0 for p in parts), np.float64, count=m
            )
        except ValueError:
            return None
        words = [w for p in parts for w in p[1 : n + 1]]
        sections.append((words, probs, bos, np.arange(start + 1, stop + 1)))
        i = stop
    while i < len(lines) and not lines[i].strip():
        i += 1
    if not order or i >= len(lines) or lines[i].strip() != "\\end\\":
        return None
    return counts, sections


def _parse_strict(path: Path) -> tuple[list[int], list[Section]]:
    src = _Lines(path)
    try:
        line = src.next()
        while line is not None and line != "\\data\\":
            line = src.next()
        if line is None:
            raise src.error("no \\data\\ header: not an ARPA file")
        counts: list[int] = []
        while (line := src.next()) is not None and line:
            m = _NGRAM_COUNT.match(line)
            if not m or int(m.group(1)) != len(counts) + 1:
                raise src.error(f"expected 'ngram {len(counts) + 1}=<count>', got {line!r}")
            counts.append(int(m.group(2)))
        if not counts:
            raise src.error("the \\data\\ section declares no n-gram counts")
        order = len(counts)
        sections = []
        for n in range(1, order + 1):
            while line is not None and not line:
                line = src.next()
            if line != f"\\{n}-grams:":
                raise src.error(f"expected the '\\{n}-grams:' section, got {line!r}")
            words, probs, bos, linenos = [], [], [], []
            while (line := src.next()) is not None and line and not line.startswith("\\"):
                f = line.split()
                if len(f) not in (n + 1, n + 2) or (n == order and len(f) != n + 1):
                    raise src.error(
                        f"a {n}-gram line needs log10 p, {n} words"
                        f"{' and an optional back-off' if n < order else ''}; got {line!r}"
                    )
                try:
                    probs.append(float(f[0]))
                    bos.append(float(f[n + 1]) if len(f) == n + 2 else 0.0)
                except ValueError:
                    raise src.error(f"not a number in {line!r}") from None
                words.extend(f[1 : n + 1])
                linenos.append(src.lineno)
            if len(linenos) != counts[n - 1]:
                raise src.error(
                    f"the \\data\\ header declares {counts[n - 1]} {n}-grams, the section has "
                    f"{len(linenos)}" + (" (truncated file?)" if line is None else "")
                )
            sections.append((words, np.array(probs), np.array(bos), np.array(linenos)))
        while line is not None and not line:
            line = src.next()
        if line != "\\end\\":
            got = "end of file (truncated?)" if line is None else repr(line)
            raise src.error(f"expected '\\end\\', got {got}")
        return counts, sections
    finally:
        src.close()


def _check_values(path: Path, n: int, section: Section) -> None:
    """Every log10 p finite and <= 0 (p in (0, 1]), every back-off finite; ``<s>``, which is
    never predicted, may have any probability. Errors name the file and the line."""
    words, probs, bos, linenos = section
    bad_p = ~np.isfinite(probs) | (probs > 0)
    if n == 1:
        bad_p &= np.array([w != BOS for w in words], dtype=bool)
    for bad, what in ((bad_p, "log10 p"), (~np.isfinite(bos), "back-off")):
        if bad.any():
            i = int(np.argmax(bad))
            value = (probs if what == "log10 p" else bos)[i]
            why = "p > 1" if value > 0 and np.isfinite(value) else "not a finite number"
            if what == "log10 p" and value == -np.inf:
                why = "p = 0"
            raise ZooInputError(
                f"{path}:{linenos[i]}: the {n}-gram {' '.join(words[i * n : (i + 1) * n])!r} "
                f"has {what} {value} ({why}); a probability must be in (0, 1] and a back-off "
                f"weight finite"
            )


def _symbol_table(spec: DataSpec) -> dict[str, int]:
    """ARPA word -> id for ``spec``: vocab names (text) or decimal ids; <s> is V."""
    V = spec.levels
    names = list(spec.vocab) if spec.vocab is not None else [str(i) for i in range(V)]
    if spec.eos is not None:
        names[spec.eos] = EOS
    if spec.unk is not None:
        names[spec.unk] = UNK
    table = {w: i for i, w in enumerate(names)}
    table[BOS] = V
    return table


def read_arpa(path: str | Path, spec: DataSpec | None, *, seq_len: int) -> tuple[DataSpec, Tables]:
    """The spec and back-off tables of an ARPA file (see the module docstring for the symbol
    mapping).

    With ``spec=None`` a text spec of length ``seq_len`` is made from the file's unigrams:
    ``</s>`` (id 0) and ``<unk>`` (id 1) first when present, as ``zoo.data.text`` orders them,
    then the others in file order (``<s>`` excluded). Values of ``spec`` missing from the file
    get the ``<unk>`` unigram's probability, as KenLM does (a warning: the model then no longer
    sums to 1); without ``<unk>`` that is an error.
    """
    path = Path(path)
    counts, sections = _parse(path)
    for n, section in enumerate(sections, 1):
        _check_values(path, n, section)
    order = len(counts)
    uni = sections[0]
    if spec is None:
        words = [w for w in uni[0] if w != BOS]
        vocab = [w for w in (EOS, UNK) if w in words] + [w for w in words if w not in (EOS, UNK)]
        if len(vocab) < 2:
            raise ZooInputError(f"{path}: fewer than 2 unigrams besides <s>; nothing to model")
        spec = DataSpec(
            "text",
            (seq_len,),
            levels=len(vocab),
            vocab=tuple(vocab),
            eos=vocab.index(EOS) if EOS in vocab else None,
            unk=vocab.index(UNK) if UNK in vocab else None,
            name=path.name,
        )
    table = _symbol_table(spec)
    V, W = spec.levels, spec.levels + 1

    def ids_of(words: list[str], linenos: np.ndarray, n: int) -> np.ndarray:
        try:
            ids = np.fromiter(map(table.__getitem__, words), np.int64, count=len(words))
        except KeyError:
            k = next(k for k, w in enumerate(words) if w not in table)
            raise ZooInputError(
                f"{path}:{linenos[k // n]}: word {words[k]!r} is not in the vocabulary of {spec!r}"
            ) from None
        return ids.reshape(-1, n)

    def gram(words: list[str], i: int, n: int) -> str:
        return " ".join(words[i * n : (i + 1) * n])

    t = Tables(order, V, "backoff")
    empty = np.empty(0, np.int64)
    t.keys, t.logp, t.bo = [empty, empty], [np.empty(0)], [np.empty(0)]
    for n, (words, probs, bos, linenos) in enumerate(sections, 1):
        ids = ids_of(words, linenos, n)
        p, b = probs, bos
        if n == 1:
            logp, bo = np.full(W, np.nan), np.zeros(W)
            if len(np.unique(ids[:, 0])) != len(ids):
                raise ZooInputError(f"{path}: a unigram is listed twice")
            logp[ids[:, 0]], bo[ids[:, 0]] = p, b
            missing = np.isnan(logp[:V])
            if missing.any():
                if UNK not in table or np.isnan(logp[table[UNK]]):
                    raise ZooInputError(
                        f"{path}: {int(missing.sum())} values of the spec have no unigram "
                        f"(first: id {int(np.argmax(missing))}) and the file has no <unk>"
                    )
                log.warning(
                    "%s: %d spec values not in the file get <unk>'s probability "
                    "(the model no longer sums to 1)",
                    path,
                    int(missing.sum()),
                )
                logp[:V][missing] = logp[table[UNK]]
            if np.isnan(logp[V]):
                logp[V] = -99.0
            t.logp.append(logp)
            t.bo.append(bo)
            continue
        prefix = index_of(t.keys, ids[:, :-1], W)
        if (prefix < 0).any():
            i = int(np.argmax(prefix < 0))
            raise ZooInputError(
                f"{path}:{linenos[i]}: the {n}-gram {gram(words, i, n)!r} has no stored "
                f"prefix; zoo needs every n-gram's prefix listed"
            )
        keys = prefix * W + ids[:, -1]
        srt = np.argsort(keys, kind="stable")
        keys = keys[srt]
        dup = np.nonzero(keys[1:] == keys[:-1])[0]
        if len(dup):
            i = int(srt[dup[0] + 1])
            raise ZooInputError(f"{path}:{linenos[i]}: the {n}-gram {gram(words, i, n)!r} repeats")
        t.keys.append(keys)
        t.logp.append(p[srt])
        t.bo.append(b[srt] if n < order else np.zeros(0))
    t.bo = t.bo[:order] + [np.zeros(0)]
    return spec, t


def arpa_names(spec: DataSpec) -> list[str]:
    """The ARPA word for each of the V values and ``<s>`` (index V); checks they are valid."""
    table = _symbol_table(spec)
    names = [""] * (spec.levels + 1)
    for w, i in table.items():
        names[i] = w
    for i, w in enumerate(names):
        if not w or any(c.isspace() for c in w):
            raise ZooInputError(
                f"token {i} ({w!r}) is empty or contains whitespace, which ARPA cannot hold; "
                f"use a vocabulary without whitespace (e.g. PTB's '_' for space)"
            )
    if len(set(names)) != len(names):
        raise ZooInputError("the vocabulary has repeated names (or uses <s>, </s>, <unk> twice)")
    return names


def write_arpa(t: Tables, spec: DataSpec, path: str | Path) -> None:
    """Write back-off tables (KN/MKN or read from ARPA) over ``spec``'s values as an ARPA file."""
    names = np.array(arpa_names(spec), dtype=object)
    path = Path(path)
    N = t.order
    with _open_text(path, "w") as f:
        f.write("\\data\\\n")
        for n, size in enumerate(t.sizes(), 1):
            f.write(f"ngram {n}={size}\n")
        for n in range(1, N + 1):
            f.write(f"\n\\{n}-grams:\n")
            words = t.words(n)
            gram = names[words[:, 0]]
            for j in range(1, n):
                gram = gram + " " + names[words[:, j]]
            logp = t.logp[n].copy()
            if n == 1:
                logp[t.bos] = -99.0
            lp = logp.tolist()
            if n < N:
                f.writelines(f"{p!r}\t{g}\t{b!r}\n" for p, g, b in zip(lp, gram, t.bo[n].tolist()))
            else:
                f.writelines(f"{p!r}\t{g}\n" for p, g in zip(lp, gram))
        f.write("\n\\end\\\n")
