"""``compress`` / ``decompress``: inputs -> one archive -> the same levels, bit for bit.

An archive codes a list of *inputs* (a text file, PNGs, ``.npy`` arrays, WAVs, or a data set
split), each as *units* the steppers code in order through one range coder:

- ``batch``: ``n`` examples of the spec's shape (or 1-D sequences of ``length``), with their
  conditioning labels first (coded uniformly: ``log2(classes)`` bits each, counted in the
  size) when the model is conditional;
- ``lanes``: token streams of given lengths (n-grams on text: a stream cut into lanes at
  sentence ends, coded in lock-step).

A text file's tokens outside the model's vocabulary are escapes (:mod:`zoo.coding.escapes`):
``<unk>`` among the tokens, then the escaped texts, coded after the item's units.

A VAE's archive is one bits-back ANS stack instead (:mod:`zoo.coding.bitsback`).

The decoder rebuilds the same units from the header and runs the same steppers on the same
batches, so it sees the probabilities the encoder used, bit for bit.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.coding import container, inputs
from zoo.coding.bitsback import BitsBack
from zoo.coding.coder import Choose, Decoder, Encoder, coding_probs
from zoo.coding.conditionals import codable, code_batch, code_lanes
from zoo.coding.escapes import code_escapes
from zoo.core.contract import LikelihoodModel
from zoo.core.spec import DataSpec
from zoo.data import load_dataset
from zoo.engine.checkpoint import atomic_write_bytes, load_model, read_config
from zoo.errors import ZooInputError
from zoo.models.ngram import NGram
from zoo.models.vae import VAE

DEFAULT_BATCH = 512  # examples coded in lock-step (the decoder uses the same)
DEFAULT_LANES = 64  # token streams an n-gram codes in lock-step


@dataclass
class Item:
    """One input as levels: ``x`` ``[N, *shape]`` examples or ``stream`` tokens."""

    kind: str  # "split" | "text" | "npy" | "png" | "wav"
    name: str
    x: torch.Tensor | None = None
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    stream: np.ndarray | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    escapes: list[str] = field(default_factory=list)  # text of each <unk> (text files)


def load_run(run: str | os.PathLike) -> tuple[LikelihoodModel, dict[str, Any], str]:
    """(model on the CPU in eval mode, its config, its checksum)."""
    config = read_config(Path(run))
    model = load_model(Path(run), "cpu")
    return model, config, container.model_checksum(model, config)


# ---------------------------------------------------------------------- reading inputs
def read_inputs(
    paths: list[str], model: LikelihoodModel, config: dict[str, Any], split: str | None
) -> list[Item]:
    spec = model.spec
    items: list[Item] = []
    if split:
        items.append(_split_item(model, config, split))
    pngs: list[tuple[str, torch.Tensor, str]] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise FileNotFoundError(f"input not found: {p}")
        ext = p.suffix.lower()
        if ext == ".png":
            x, mode = inputs.read_png(p, spec)
            pngs.append((p.name, x, mode))
        elif ext == ".npy":
            x, facts = inputs.read_npy(p, spec)
            items.append(Item("npy", p.name, x=x, facts=facts))
        elif ext in (".wav", ".flac"):
            q, facts = inputs.read_wav(p, spec)
            items.append(Item("wav", p.stem + ".wav", x=q[None], facts=facts))
        elif spec.modality == "text":
            level, spaced = inputs.text_level(config)
            stream, facts, escapes = inputs.read_text(p, spec, level, spaced)
            items.append(Item("text", p.name, stream=stream, facts=facts, escapes=escapes))
        else:
            raise ZooInputError(
                f"{p}: unknown input type {ext or '(no extension)'}; this {spec.modality} model "
                "takes "
                + {"image": ".png or .npy", "audio": ".wav or .npy", "text": "text"}[spec.modality]
                + " files"
            )
    if pngs:
        items.append(
            Item(
                "png",
                pngs[0][0],
                x=torch.stack([x for _, x, _ in pngs]),
                facts={"names": [n for n, _, _ in pngs], "modes": [m for _, _, m in pngs]},
            )
        )
    if model.cond_labels and any(not it.labels for it in items):
        raise ZooInputError(
            f"this model is conditional on {', '.join(model.cond_labels)}: files carry no "
            "labels; compress a data set split (--split) instead"
        )
    if not items:
        raise ZooInputError("nothing to compress: give input files or --split")
    return items


def _split_item(model: LikelihoodModel, config: dict[str, Any], split: str) -> Item:

    m = re.fullmatch(r"(train|valid|test)(?:\[:(\d+)\])?", split)
    if m is None:
        raise ZooInputError(
            f"split must be train, valid or test, or a prefix like test[:512]; got {split!r}"
        )
    split, first = m.group(1), None if m.group(2) is None else int(m.group(2))
    ds = load_dataset(config["dataset"], **(config.get("data_options") or {}))
    streams = ds.meta.get("streams")
    name = f"{config['dataset']}-{split}" + (f"-first{first}" if first is not None else "")
    if isinstance(model, NGram) and streams is not None and model.spec.modality == "text":
        if first is not None:
            raise ZooInputError("an n-gram codes a text split as its whole token stream: no [:N]")
        return Item("split", name, stream=streams[split].numpy().astype(np.int64),
                    facts={"form": "stream"})  # fmt: skip
    s = ds[split] if first is None else ds[split].subset(slice(0, first))
    labels = {k: s.labels[k].long() for k in model.cond_labels}
    return Item("split", name, x=s.x.long(), labels=labels, facts={"form": "examples"})


# ---------------------------------------------------------------------- units
def _lanes(stream: np.ndarray, eos: int | None, lanes: int) -> list[int]:
    """Cut a stream into about ``lanes`` pieces at sentence ends (after an eos)."""
    L = len(stream)
    if eos is None or lanes <= 1:
        return [L]
    ends = np.nonzero(stream == eos)[0] + 1
    if len(ends) == 0:  # no sentence end (an empty file): one lane
        return [L]
    cuts = sorted({int(ends[min(np.searchsorted(ends, L * k / lanes), len(ends) - 1)])
                   for k in range(1, lanes)} - {0, L})  # fmt: skip
    bounds = [0, *cuts, L]
    return [b - a for a, b in zip(bounds, bounds[1:])]


def plan_units(item: Item, model: LikelihoodModel, batch: int, lanes: int) -> list[dict]:
    """The units an item is coded as (what the header records)."""
    spec = model.spec
    if item.stream is not None:
        if isinstance(model, NGram):
            return [{"type": "lanes", "lengths": _lanes(item.stream, spec.eos, lanes)}]
        T = spec.shape[0]
        n, tail = divmod(len(item.stream), T)
        units = [{"type": "batch", "n": min(batch, n - i), "length": None}
                 for i in range(0, n, batch)]  # fmt: skip
        return units + ([{"type": "batch", "n": 1, "length": tail}] if tail else [])
    assert item.x is not None
    N = item.x.shape[0]
    length = item.x.shape[1] if item.kind == "wav" else None
    return [{"type": "batch", "n": min(batch, N - i), "length": length}
            for i in range(0, N, batch)]  # fmt: skip


def _sequences(item: Item, model: LikelihoodModel) -> list:
    """The item's data cut as :func:`plan_units` plans it (x batches, or lanes)."""
    if item.stream is not None and not isinstance(model, NGram):
        T = model.spec.shape[0]
        n = len(item.stream) // T
        return [torch.from_numpy(item.stream[: n * T].reshape(n, T)),
                torch.from_numpy(item.stream[n * T :][None])]  # fmt: skip
    return []


def _code_labels(model: LikelihoodModel, n: int, choose: Choose, labels: dict | None) -> dict:
    out = {}
    for name in model.cond_labels:
        K = model.spec.labels[name]
        known = None if labels is None else labels[name].numpy()
        out[name] = torch.from_numpy(choose(coding_probs(np.zeros((n, K))), known))
    return out


def _run_units(
    model: LikelihoodModel, units: list[dict], choose: Choose, item: Item | None
) -> tuple[list[torch.Tensor], list[dict], list[np.ndarray]]:
    """Code (item given) or decode an item's units -> (x batches, label batches, lanes)."""
    xs, labs, lanes = [], [], []
    flat_x, flat_l, start = None, None, 0
    if item is not None:
        if item.x is not None:
            flat_x, flat_l = item.x, item.labels
        elif not isinstance(model, NGram):
            chunks = _sequences(item, model)
            flat_x = chunks[0]
    for u in units:
        if u["type"] == "lanes":
            known = None
            if item is not None:
                b = np.cumsum([0, *u["lengths"]])
                known = [item.stream[a:c] for a, c in zip(b, b[1:])]
            lanes.extend(code_lanes(model, u["lengths"], choose, known))  # type: ignore[arg-type]
            continue
        n, length = u["n"], u["length"]
        x = lab = None
        if item is not None:
            if length is not None and item.stream is not None:  # the text tail
                x = torch.from_numpy(item.stream[len(item.stream) - length :][None])
            else:
                x = flat_x[start : start + n]
                lab = {k: v[start : start + n] for k, v in (flat_l or {}).items()}
                start += n
        cond = _code_labels(model, n, choose, lab) or None
        xs.append(code_batch(model, n, choose, x=x, cond=cond, length=length))
        labs.append(cond or {})
    return xs, labs, lanes


# ---------------------------------------------------------------------- compress
def compress(
    run: str | os.PathLike,
    paths: list[str],
    out: str | os.PathLike,
    *,
    split: str | None = None,
    batch: int = DEFAULT_BATCH,
    lanes: int = DEFAULT_LANES,
    loaded: tuple[LikelihoodModel, dict, str] | None = None,
) -> dict[str, Any]:
    """Compress inputs with a run's model into the archive ``out``; returns a summary."""
    model, config, checksum = loaded or load_run(run)
    if not isinstance(model, VAE):
        codable(model)
    if batch < 1 or lanes < 1:
        raise ZooInputError(f"batch and lanes must be >= 1, got {batch}, {lanes}")
    items = read_inputs(paths, model, config, split)
    records, symbols = [], 0
    escapes = _EscapeTally()
    t0 = time.perf_counter()
    if isinstance(model, VAE):
        payload, coding = _bits_back(model, items, batch)
        model_bits = coding["net_bits"]
        for item in items:
            assert item.x is not None
            units = [{"type": "batch", "n": len(item.x), "length": None}]
            symbols += _count(units, model.spec)
            records.append({"kind": item.kind, "name": item.name, "units": units,
                            "facts": item.facts})  # fmt: skip
    else:
        enc = Encoder()
        for item in items:
            units = plan_units(item, model, batch, lanes)
            if item.escapes:
                watch = _Watch(enc, model.spec.unk)
                _run_units(model, units, watch, item)
                before = enc.model_bits
                code_escapes(enc, len(item.escapes), item.escapes)
                escapes.add(item.escapes, watch.bits, enc.model_bits - before)
            else:
                _run_units(model, units, enc, item)
            symbols += _count(units, model.spec)
            records.append({"kind": item.kind, "name": item.name, "units": units,
                            "facts": item.facts, "labels": bool(item.labels)})  # fmt: skip
        payload = enc.finish()
        model_bits, coding = enc.model_bits, {"coder": "range", "model_bits": enc.model_bits}
    seconds = time.perf_counter() - t0
    spec = model.spec
    header = {
        "model": {"entry": config.get("entry"), "family": model.family, "checksum": checksum,
                  "run": str(Path(run).resolve())},
        "spec": {"name": spec.name, "modality": spec.modality, "shape": list(spec.shape),
                 "levels": spec.levels, "sample_rate": spec.sample_rate},
        "inputs": records,
        "counts": {"symbols": symbols, **({"escapes": escapes.count} if escapes.count else {})},
        "coding": coding,
    }  # fmt: skip
    size = container.write(out, header, payload)
    return {
        "archive": str(out),
        "bytes": size,
        "payload_bytes": len(payload),
        "header_bytes": size - len(payload),
        "symbols": symbols,
        "model_bits": model_bits,
        "coding": coding,
        "bits_per_symbol": 8 * size / max(symbols, 1),
        "encode_seconds": seconds,
        "lossy_audio": any(it.kind == "wav" for it in items),
        "escapes": escapes.summary(),
    }


class _Watch:
    """A chooser in front of the encoder that sums ``-log2 p`` of one symbol (``<unk>``)."""

    def __init__(self, enc: Encoder, symbol: int | None) -> None:
        self.enc, self.symbol, self.bits = enc, symbol, 0.0

    def __call__(self, probs: np.ndarray, known: np.ndarray | None) -> np.ndarray:
        assert known is not None
        rows = np.nonzero(known == self.symbol)[0]
        self.bits -= float(np.log2(probs[rows, self.symbol]).sum())
        return self.enc(probs, known)


@dataclass
class _EscapeTally:
    """What the escapes of every text input cost (model bits, included in the total)."""

    count: int = 0
    distinct: int = 0
    unk_bits: float = 0.0  # -log2 p(<unk> | context) under the model, at every escape
    text_bits: float = 0.0  # the escaped texts under the adaptive escape models

    def add(self, texts: list[str], unk_bits: float, text_bits: float) -> None:
        self.count += len(texts)
        self.distinct += len(set(texts))
        self.unk_bits += unk_bits
        self.text_bits += text_bits

    def summary(self) -> dict[str, Any]:
        return {"count": self.count, "distinct": self.distinct, "unk_bits": self.unk_bits,
                "text_bits": self.text_bits, "bits": self.unk_bits + self.text_bits}  # fmt: skip


def _bits_back(model: VAE, items: list[Item], batch: int) -> tuple[bytes, dict]:
    if any(it.x is None or it.kind == "wav" for it in items):
        raise ZooInputError("a VAE codes examples of its data shape (a split, PNGs, .npy arrays)")
    x = torch.cat([it.x for it in items if it.x is not None])
    return BitsBack(model).encode(x, max_batch=batch)


def _count(units: list[dict], spec: DataSpec) -> int:
    total = 0
    for u in units:
        if u["type"] == "lanes":
            total += sum(u["lengths"])
        else:
            total += u["n"] * (u["length"] if u["length"] is not None else spec.D)
    return total


# ---------------------------------------------------------------------- decompress
def decompress(
    archive: str | os.PathLike,
    out: str | os.PathLike,
    *,
    run: str | os.PathLike | None = None,
    loaded: tuple[LikelihoodModel, dict, str] | None = None,
) -> dict[str, Any]:
    """Decompress ``archive`` to ``out`` (a file, or a folder when it holds several)."""
    header, payload = container.read(archive)
    m = header["model"]
    model, config, checksum = loaded or load_run(run or m["run"])
    if checksum != m["checksum"]:
        raise ZooInputError(
            f"{archive} was made with model {m['entry']} (checksum {m['checksum'][:12]}); "
            f"the run given has checksum {checksum[:12]}: decompress with the run that made it"
        )
    t0 = time.perf_counter()
    files: list[tuple[str, bytes]] = []
    coding = header.get("coding", {})
    if coding.get("coder") == "bits-back-ans":
        if not isinstance(model, VAE):
            raise ZooInputError(
                f"{archive} was coded with bits-back: it needs the VAE that made it"
            )
        x = BitsBack(model, coding["latent_bits"]).decode(payload, coding["batches"])
        start = 0
        for rec in header["inputs"]:
            n = rec["units"][0]["n"]
            files.extend(_rebuild(rec, model.spec, [x[start : start + n]], [{}], []))
            start += n
    else:
        dec = Decoder(payload)
        for rec in header["inputs"]:
            xs, labs, lanes = _run_units(model, rec["units"], dec, None)
            texts = None
            if rec["kind"] == "text" and model.spec.unk is not None:
                parts = lanes or [x.reshape(-1).numpy() for x in xs]
                tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
                n = int((tokens == model.spec.unk).sum())
                if n != rec["facts"].get("escapes", 0):
                    raise ZooInputError(
                        f"{archive} is damaged: {n} escapes decoded, the header says "
                        f"{rec['facts'].get('escapes', 0)}"
                    )
                texts = code_escapes(dec, n)
            files.extend(_rebuild(rec, model.spec, xs, labs, lanes, texts))
    seconds = time.perf_counter() - t0
    dest = Path(out)
    if len(files) == 1:
        atomic_write_bytes(dest, files[0][1])
        written = [str(dest)]
    else:
        written = _write_folder(dest, files)
    return {"written": written, "decode_seconds": seconds, "symbols": header["counts"]["symbols"]}


def _rebuild(
    rec: dict, spec: DataSpec, xs: list, labs: list, lanes: list, texts: list[str] | None = None
) -> list[tuple]:
    import io

    kind, facts = rec["kind"], rec["facts"]
    if lanes:
        stream = np.concatenate(lanes)
    elif kind == "text" or facts.get("form") == "stream":
        stream = np.concatenate([x.reshape(-1).numpy() for x in xs])
    else:
        stream = None
    if kind == "text":
        return [(rec["name"], inputs.write_text(stream, spec, facts, texts))]
    if kind == "split":
        buf = io.BytesIO()
        if stream is not None:
            np.savez(buf, stream=stream)
        else:
            arrays = {"x": torch.cat(xs).numpy()}
            for k in labs[0] if labs else {}:
                arrays[k] = torch.cat([lab[k] for lab in labs]).numpy()
            np.savez(buf, **arrays)
        return [(rec["name"] + ".npz", buf.getvalue())]
    x = torch.cat(xs)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, x.numpy().astype(np.dtype(facts["dtype"])).reshape(facts["shape"]))
        return [(rec["name"], buf.getvalue())]
    if kind == "png":
        return [(n, inputs.png_bytes(x[i], mode))
                for i, (n, mode) in enumerate(zip(facts["names"], facts["modes"]))]  # fmt: skip
    if kind == "wav":
        return [(rec["name"], inputs.wav_bytes(x[0], spec))]
    raise ZooInputError(f"archive input of unknown kind {kind!r}")


def _write_folder(dest: Path, files: list[tuple[str, bytes]]) -> list[str]:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(
            f"{dest} exists; the archive holds {len(files)} files: give a new folder"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        for name, data in files:
            (tmp / name).write_bytes(data)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [str(dest / name) for name, _ in files]
