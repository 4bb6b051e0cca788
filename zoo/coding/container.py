"""The archive format of ``zoo compress``: a small header, then the coder's words.

Layout (little-endian)::

    b"ZOOC"            magic: a zoo archive
    u8                 format version (FORMAT_VERSION)
    u32                header length in bytes
    header             UTF-8 JSON: model (entry, family, checksum, run folder), spec, the
                       coded units (counts, lengths), how to rebuild the inputs, payload
                       length and CRC-32
    payload            the entropy coder's 32-bit words

Reading checks each of these and fails with one line (a ``ValueError``) saying what is wrong:
not a zoo archive, another format, a truncated or damaged file.

Formats: 3 (since 2026-12-06) hands the coder ``exp(score)`` unshifted where every row's
largest score lies in [-600, 600] (see :func:`zoo.coding.coder.coding_probs`); 2 (2026-12-02)
always subtracted the row max, 1 (2026-11-25) also normalised the rows. Each change can round a
table to other integers, so an older archive is refused with the last commit that reads it.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.engine.checkpoint import atomic_write_bytes
from zoo.errors import ZooInputError

MAGIC = b"ZOOC"
FORMAT_VERSION = 3
# the last commit that wrote and read each older format
LAST_READER = {1: "cfa2397", 2: "5ce7285"}
_PREFIX = struct.Struct("<4sBI")


def model_checksum(model: torch.nn.Module, config: dict[str, Any]) -> str:
    """sha256 of the model's identity: entry, hyper-parameters, spec and every stored value
    (parameters, buffers, extra state such as n-gram tables), in a fixed order."""
    h = hashlib.sha256()
    ident = {k: config.get(k) for k in ("entry", "hparams", "spec")}
    h.update(json.dumps(ident, sort_keys=True, default=str).encode())

    def feed(name: str, v: Any) -> None:
        h.update(name.encode())
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().contiguous().numpy()
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype.str}{v.shape}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, dict):
            for k in sorted(v, key=str):
                feed(f"{name}.{k}", v[k])
        elif isinstance(v, (list, tuple)):
            for i, e in enumerate(v):
                feed(f"{name}[{i}]", e)
        else:
            h.update(repr(v).encode())

    for name, v in sorted(model.state_dict().items()):
        feed(name, v)
    return h.hexdigest()


def pack(header: dict[str, Any], payload: bytes) -> bytes:
    """Header + payload -> archive bytes (payload length and CRC-32 added to the header)."""
    header = {**header, "payload_bytes": len(payload), "payload_crc32": zlib.crc32(payload)}
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)) + head + payload


def write(path: str | Path, header: dict[str, Any], payload: bytes) -> int:
    """Write an archive (to a temporary name, then renamed); returns its size in bytes."""
    data = pack(header, payload)
    atomic_write_bytes(Path(path), data)
    return len(data)


def unpack(data: bytes, where: str = "archive") -> tuple[dict[str, Any], bytes]:
    """Archive bytes -> (header, payload); ValueError with one line if anything is off."""
    if len(data) < _PREFIX.size or data[:4] != MAGIC:
        raise ZooInputError(
            f"{where} is not a zoo archive (no ZOOC header); make one with zoo compress"
        )
    _, version, n = _PREFIX.unpack_from(data)
    if version in LAST_READER:
        raise ZooInputError(
            f"{where} has archive format {version}, which this zoo no longer reads: decompress "
            f"it with zoo at commit {LAST_READER[version]}, then compress it again"
        )
    if version != FORMAT_VERSION:
        raise ZooInputError(
            f"{where} has archive format {version}; this zoo reads format {FORMAT_VERSION}: "
            "upgrade zoo to read it"
        )
    body = data[_PREFIX.size :]
    if len(body) < n:
        raise ZooInputError(f"{where} is truncated (its header is cut short)")
    try:
        header = json.loads(body[:n])
    except ValueError:
        raise ZooInputError(f"{where} has a damaged header (not valid JSON)") from None
    payload = body[n:]
    expected = header.get("payload_bytes")
    if len(payload) != expected:
        what = "truncated" if len(payload) < (expected or 0) else "longer than its header says"
        raise ZooInputError(
            f"{where} is {what}: payload of {len(payload)} bytes, header says {expected}"
        )
    if zlib.crc32(payload) != header.get("payload_crc32"):
        raise ZooInputError(f"{where} is damaged: its payload fails the CRC-32 check")
    return header, payload


def read(path: str | Path) -> tuple[dict[str, Any], bytes]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"archive not found: {p}")
    return unpack(p.read_bytes(), str(p))
