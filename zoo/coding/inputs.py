"""Inputs of ``zoo compress`` -> integer levels, and decoded levels -> files again.

- text: tokenised as the run's data set (characters, PTB's space-separated characters, or
  words), a ``</s>`` after every line. Only text that detokenises back to the same bytes is
  accepted (word models split on whitespace, so runs of spaces are refused, with the line).
  A token outside the vocabulary (or spelling ``</s>`` / ``<unk>`` itself) becomes an escape
  when the vocabulary has ``<unk>``: ``<unk>`` in the stream, its text kept for
  :mod:`zoo.coding.escapes`; without ``<unk>`` it is refused with its line and column.
- images: PNG (mode L or RGB) or ``.npy`` arrays of integer levels in ``[0, levels)``.
  Decompressing writes the same levels (a PNG with the same pixels, not the same bytes).
- audio: WAV (any rate, channels averaged to mono), resampled to the run's rate and mu-law
  quantised to its levels. That quantisation is the lossy step; everything after it is
  lossless, and decompressing writes the quantised audio as 16-bit PCM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.core.spec import DataSpec
from zoo.errors import ZooInputError


# ---------------------------------------------------------------------- text
def text_level(config: dict[str, Any]) -> tuple[str, bool]:
    """(level, spaced) of the run's data set: how its text was tokenised."""
    name = str(config.get("dataset", ""))
    options = config.get("data_options") or {}
    if name == "ptb_char":
        return "char", True
    if name.endswith("_word") or options.get("level") == "word":
        return "word", False
    return "char", False


def read_text(
    path: Path, spec: DataSpec, level: str, spaced: bool
) -> tuple[np.ndarray, dict, list[str]]:
    """A UTF-8 file -> (token id stream with ``</s>`` after each line, rebuild facts, the
    texts of the escaped tokens in order: one per ``<unk>`` in the stream)."""
    if spec.modality != "text" or spec.vocab is None:
        raise ZooInputError(
            f"{path}: text needs a text model; this run models {spec.modality} data"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ZooInputError(
            f"{path}: not valid UTF-8 at byte {e.start}; convert it first"
        ) from None
    trailing = text.endswith("\n")
    lines = text[:-1].split("\n") if trailing else text.split("\n")
    if text == "":
        lines = []
    index = {t: i for i, t in enumerate(spec.vocab)}
    out: list[int] = []
    escapes: list[str] = []
    for n, line in enumerate(lines, 1):
        if level == "word" or spaced:
            toks = line.split(" ") if line else []
            if any(t == "" for t in toks) or any(c in line for c in "\t\r\v\f"):
                raise ZooInputError(
                    f"{path}: line {n} has spacing a {level}-level model cannot reproduce "
                    "(tokens are separated by single spaces); normalise the spacing first"
                )
        else:
            toks = list(line)
        col = 1
        for tok in toks:
            i = index.get(tok)
            if i is None or i == spec.eos or i == spec.unk:
                if spec.unk is None:
                    shown = repr(tok) + (f" (U+{ord(tok):04X})" if len(tok) == 1 else "")
                    raise ZooInputError(
                        f"{path}: {'character' if level == 'char' else 'token'} {shown} at "
                        f"line {n}, column {col} is not in the model's vocabulary of "
                        f"{spec.levels} symbols and the vocabulary has no <unk> to escape it "
                        "with; remove or replace it"
                    )
                i = spec.unk
                escapes.append(tok)
            out.append(i)
            col += len(tok) + (1 if level == "word" or spaced else 0)
        out.append(spec.eos if spec.eos is not None else 0)
    facts = {"trailing_newline": trailing, "level": level, "spaced": spaced}
    if escapes:
        facts["escapes"] = len(escapes)
    return np.asarray(out, np.int64), facts, escapes


def write_text(
    tokens: np.ndarray, spec: DataSpec, facts: dict, escapes: list[str] | None = None
) -> bytes:
    """Inverse of :func:`read_text` (``escapes``: the text of each ``<unk>``, in order)."""
    vocab, eos = spec.vocab, spec.eos
    sep = " " if facts["level"] == "word" or facts["spaced"] else ""
    lines, cur = [], []
    pending = iter(escapes or [])
    for t in tokens.tolist():
        if t == eos:
            lines.append(sep.join(cur))
            cur = []
        elif t == spec.unk and escapes is not None:
            cur.append(next(pending))
        else:
            cur.append(vocab[t])
    text = "\n".join(lines) + ("\n" if facts["trailing_newline"] and lines else "")
    return text.encode("utf-8")


# ---------------------------------------------------------------------- images
def _check_levels(a: np.ndarray, spec: DataSpec, where: str) -> None:
    if not np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_:
        raise ZooInputError(
            f"{where}: holds {a.dtype} values; save integer levels in [0, {spec.levels})"
        )
    if a.size and (a.min() < 0 or a.max() >= spec.levels):
        raise ZooInputError(
            f"{where}: values run from {a.min()} to {a.max()}, but the model's data has "
            f"{spec.levels} levels [0, {spec.levels}); save the levels themselves"
        )


def read_npy(path: Path, spec: DataSpec) -> tuple[torch.Tensor, dict]:
    """``.npy`` of ``[*shape]`` or ``[N, *shape]`` levels -> ``[N, *shape]``."""
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ZooInputError(f"{path}: not a readable .npy array ({e})") from None
    shape = tuple(spec.shape)
    if a.shape == shape:
        x = a[None]
    elif a.shape[1:] == shape:
        x = a
    else:
        raise ZooInputError(
            f"{path}: array of shape {list(a.shape)}; the model codes examples of shape "
            f"{list(shape)} (or [N, {', '.join(map(str, shape))}])"
        )
    _check_levels(x, spec, str(path))
    return torch.from_numpy(x.astype(np.int64)), {"dtype": a.dtype.str, "shape": list(a.shape)}


def read_png(path: Path, spec: DataSpec) -> tuple[torch.Tensor, str]:
    """A PNG (L or RGB) of levels -> ``[C, H, W]``, and its mode."""
    from PIL import Image, UnidentifiedImageError

    if spec.modality != "image":
        raise ZooInputError(f"{path}: images need an image model; this run models {spec.modality}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise ZooInputError(f"{path}: not a readable image ({e})") from None
    mode = img.mode
    if mode not in ("L", "RGB", "1", "P", "I"):
        raise ZooInputError(f"{path}: PNG mode {mode}; use a grey (L) or RGB image of levels")
    a = np.asarray(img)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if a.shape != tuple(spec.shape):
        raise ZooInputError(
            f"{path}: image of shape [C, H, W] = {list(a.shape)}; "
            f"the model codes {list(spec.shape)}"
        )
    _check_levels(a.astype(np.int64), spec, str(path))
    return torch.from_numpy(a.astype(np.int64)), mode


def png_bytes(x: torch.Tensor, mode: str) -> bytes:
    import io

    from PIL import Image

    a = x.numpy()
    arr = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    if mode == "1":
        img = Image.fromarray(arr.astype(bool))
    elif mode == "I":
        img = Image.fromarray(arr.astype(np.int32), mode="I")
    else:
        img = Image.fromarray(arr.astype(np.uint8), mode="L" if a.shape[0] == 1 else "RGB")
        if mode == "P":
            img = img.convert("P")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# ---------------------------------------------------------------------- audio
def read_wav(path: Path, spec: DataSpec) -> tuple[torch.Tensor, dict]:
    """WAV -> mu-law levels ``[T]`` at the run's rate (the lossy step: mono, resampled,
    mu-law quantised)."""
    from zoo.data.speech import quantize_waveform, read_audio

    if spec.modality != "audio":
        raise ZooInputError(f"{path}: audio needs an audio model; this run models {spec.modality}")
    wave, rate = read_audio(path)
    q = quantize_waveform(
        wave, rate, target_rate=int(spec.sample_rate), levels=spec.levels, normalize=False
    )
    if q.numel() == 0:
        raise ZooInputError(f"{path}: holds no samples")
    return q.long(), {"source_rate": rate, "rate": spec.sample_rate}


def wav_bytes(q: torch.Tensor, spec: DataSpec) -> bytes:
    import io

    import soundfile as sf

    from zoo.data.speech import mu_law_decode

    buf = io.BytesIO()
    wave = mu_law_decode(q.reshape(-1), spec.levels).numpy()
    sf.write(buf, wave, int(spec.sample_rate), subtype="PCM_16", format="WAV")
    return buf.getvalue()
