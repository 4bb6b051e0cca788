"""Text data sets as token ids: one stream per split, cut into ``[N, T]`` chunks.

Every text is a sequence of sentences (one per line). A split's token stream is the
concatenation of its sentences, each followed by the end-of-sentence token ``</s>`` (id 0),
so ``</s>`` is predicted like any other token and counted in D, as KenLM counts it.
``dataset.meta["streams"][split]`` holds the whole stream (what n-grams score to match
KenLM's perplexity); ``dataset[split].x`` holds the stream cut into consecutive,
non-overlapping chunks of ``seq_len`` tokens, in order. The stream's last
``len(stream) % seq_len`` tokens do not fill a chunk: their count is recorded in
``meta["tail_dropped"]`` (chunk-based figures exclude them; stream figures do not).

Tokens: ``level="char"`` makes every character of a line a token (PTB's character files are
already space-separated characters, so they are split on whitespace, as KenLM does);
``level="word"`` splits lines on whitespace.

Vocabulary and the ``<unk>`` rule: the vocabulary is ``</s>``, ``<unk>`` and every token of the
*training* split, ordered by descending count then alphabetically. If the training text has
its own ``<unk>`` token (PTB), that token is the unknown-word class. A valid/test token that
never occurs in training is mapped to ``<unk>``, and the number of such tokens is recorded in
``meta["oov"]``; ``unk="error"`` makes an unseen token an error instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from zoo.core.spec import DataSpec
from zoo.data.base import Dataset, DatasetNotFound, Split, data_root

EOS, UNK = "</s>", "<unk>"


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file; a decoding error names the file, line and byte.

    Blank lines at the end of the file are dropped (PTB's character files end in a line
    holding one space, which KenLM does not count as a sentence); blank lines elsewhere are
    sentences of length 0 (one ``</s>``)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFound(f"text file not found: {p}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{p}: not valid UTF-8 at line {line} (byte {e.start}: {e.reason}); "
            f"convert the file to UTF-8 first (e.g. iconv -t utf-8)"
        ) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # blank lines at the very end are not sentences
        lines.pop()
    return lines


def tokenize(lines: Sequence[str], level: str, *, spaced: bool = False) -> list[list[str]]:
    """Lines -> token lists. ``spaced``: characters are already separated by spaces."""
    if level == "word" or spaced:
        return [line.split() for line in lines]
    if level == "char":
        return [list(line) for line in lines]
    raise ValueError(f"level must be 'char' or 'word', got {level!r}")


def build_vocab(sentences: Sequence[Sequence[str]]) -> list[str]:
    counts = Counter(tok for s in sentences for tok in s)
    counts.pop(EOS, None)
    counts.pop(UNK, None)
    ordered = sorted(counts, key=lambda t: (-counts[t], t))
    return [EOS, UNK, *ordered]


def encode(
    sentences: Sequence[Sequence[str]], vocab: Sequence[str], *, unk: str = "map", where: str = ""
) -> tuple[np.ndarray, int]:
    """Sentences -> one id stream with ``</s>`` after each; returns (stream, OOV count)."""
    index = {t: i for i, t in enumerate(vocab)}
    unk_id = index[UNK]
    out: list[int] = []
    oov = 0
    for n, s in enumerate(sentences, 1):
        for tok in s:
            i = index.get(tok)
            if i is None:
                if unk == "error":
                    raise ValueError(
                        f"{where}: token {tok!r} on line {n} is not in the training vocabulary; "
                        f"pass unk='map' to map unseen tokens to {UNK}"
                    )
                i, oov = unk_id, oov + 1
            out.append(i)
        out.append(0)
    return np.asarray(out, dtype=np.int64), oov


def make_text_dataset(
    name: str,
    splits: dict[str, Sequence[Sequence[str]]],
    *,
    seq_len: int = 128,
    unk: str = "map",
    source: str = "",
) -> Dataset:
    """Token lists per split -> Dataset of ``[N, seq_len]`` chunks (see the module doc)."""
    if unk not in ("map", "error"):
        raise ValueError(f"unk must be 'map' or 'error', got {unk!r}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if not any(len(s) for s in splits["train"]):
        raise ValueError(f"{name}: the training text is empty")
    vocab = build_vocab(splits["train"])
    streams, oov, tail, out = {}, {}, {}, {}
    for split, sentences in splits.items():
        stream, oov[split] = encode(sentences, vocab, unk=unk, where=f"{name}/{split}")
        streams[split] = torch.from_numpy(stream)
        n = len(stream) // seq_len
        tail[split] = len(stream) - n * seq_len
        if n == 0:
            raise ValueError(
                f"{name}/{split}: {len(stream)} tokens do not fill one chunk of seq_len "
                f"{seq_len}; use a smaller seq_len"
            )
        ids = torch.from_numpy(stream[: n * seq_len].reshape(n, seq_len))
        out[split] = Split(ids.to(torch.int32 if len(vocab) > 255 else torch.uint8))
    spec = DataSpec(
        "text", (seq_len,), levels=len(vocab), vocab=tuple(vocab), eos=0, unk=1, name=name
    )
    meta = {"streams": streams, "oov": oov, "tail_dropped": tail}
    return Dataset(name, spec, out, source=source, meta=meta)


def _contiguous_split(lines: list[str], fractions=(0.9, 0.05, 0.05)) -> dict[str, list[str]]:
    n = len(lines)
    a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
    return {"train": lines[:a], "valid": lines[a:b], "test": lines[b:]}


def _need(path: Path, what: str, how: str) -> Path:
    if not path.exists():
        raise DatasetNotFound(f"{what} not found: looked for {path}. {how}")
    return path


_PTB_HOW = (
    "Get Mikolov's PTB (ptb.train.txt, ptb.valid.txt, ptb.test.txt, ptb.char.*.txt) into "
    "<ZOO_DATA>/ptb/, or set ZOO_DATA to the folder holding ptb/."
)


def load_ptb_word(root: str | None = None, seq_len: int = 64) -> Dataset:
    """Penn Treebank, word level (Mikolov's 10k vocabulary; its ``<unk>`` is the unk class)."""
    folder = data_root(root) / "ptb"
    splits = {
        s: tokenize(read_lines(_need(folder / f"ptb.{s}.txt", "PTB", _PTB_HOW)), "word")
        for s in ("train", "valid", "test")
    }
    return make_text_dataset(
        "ptb_word", splits, seq_len=seq_len, source=f"Penn Treebank (Mikolov) in {folder}"
    )


def ptb_chars(line: str) -> list[str]:
    """A line of Mikolov's word-level PTB as its character-level files spell it: the
    characters of each word, ``_`` between words (``<unk>`` stays five characters). Rendering
    ``ptb.valid.txt`` this way gives ``ptb.char.valid.txt`` exactly (tested)."""
    out: list[str] = []
    for k, word in enumerate(line.split()):
        if k:
            out.append("_")
        out.extend(word)
    return out


def load_ptb_char(root: str | None = None, seq_len: int = 128) -> Dataset:
    """PTB character level, Mikolov's split: train = ``ptb.train.txt`` rendered as characters
    (:func:`ptb_chars`: 4,975,414 characters; no character-level train file is distributed
    with the valid/test ones, and they are this rendering of the word files), valid =
    ``ptb.char.valid.txt``, test = ``ptb.char.test.txt`` (characters separated by spaces,
    ``_`` marks a space)."""
    folder = data_root(root) / "ptb"
    train = read_lines(_need(folder / "ptb.train.txt", "PTB", _PTB_HOW))
    valid = read_lines(_need(folder / "ptb.char.valid.txt", "PTB characters", _PTB_HOW))
    test = read_lines(_need(folder / "ptb.char.test.txt", "PTB characters", _PTB_HOW))
    splits = {
        "train": [ptb_chars(line) for line in train],
        "valid": tokenize(valid, "char", spaced=True),
        "test": tokenize(test, "char", spaced=True),
    }
    return make_text_dataset(
        "ptb_char",
        splits,
        seq_len=seq_len,
        source=f"{folder}: train = ptb.train.txt as characters, valid/test = ptb.char.*.txt",
    )


def _shakespeare(level: str, root: str | None, seq_len: int) -> Dataset:
    path = _need(
        data_root(root) / "tinyshakespeare" / "input.txt",
        "Tiny Shakespeare",
        "Get karpathy/char-rnn's data/tinyshakespeare/input.txt into "
        "<ZOO_DATA>/tinyshakespeare/, or set ZOO_DATA.",
    )
    parts = _contiguous_split(read_lines(path))
    splits = {k: tokenize(v, level) for k, v in parts.items()}
    return make_text_dataset(
        f"shakespeare_{level}",
        splits,
        seq_len=seq_len,
        source=f"{path}, lines split 90/5/5 in order, {level} level, one line = one sentence",
    )


def load_shakespeare_char(root: str | None = None, seq_len: int = 128) -> Dataset:
    return _shakespeare("char", root, seq_len)


def load_shakespeare_word(root: str | None = None, seq_len: int = 64) -> Dataset:
    return _shakespeare("word", root, seq_len)


def pydoc_lines() -> list[str]:
    """The documentation text shipped inside CPython (``pydoc_data.topics``), in key order."""
    from pydoc_data.topics import topics

    lines: list[str] = []
    for key in sorted(topics):
        lines.extend(line for line in topics[key].splitlines() if line.strip())
    return lines


def _pydoc(level: str, seq_len: int) -> Dataset:
    parts = _contiguous_split(pydoc_lines())
    splits = {k: tokenize(v, level) for k, v in parts.items()}
    return make_text_dataset(
        f"pydoc_{level}",
        splits,
        seq_len=seq_len,
        source="CPython pydoc_data.topics (non-empty lines, topics in key order), split 90/5/5",
    )


def load_pydoc_char(seq_len: int = 128) -> Dataset:
    """The embedded text default: CPython's documentation topics, character level."""
    return _pydoc("char", seq_len)


def load_pydoc_word(seq_len: int = 64) -> Dataset:
    return _pydoc("word", seq_len)


def load_textfile(path: str, level: str = "char", seq_len: int = 128, unk: str = "map") -> Dataset:
    """Any UTF-8 text file, one sentence per line, split 90/5/5 by lines in order."""
    parts = _contiguous_split(read_lines(path))
    splits = {k: tokenize(v, level) for k, v in parts.items()}
    return make_text_dataset(
        Path(path).stem, splits, seq_len=seq_len, unk=unk, source=f"{path}, {level} level"
    )
