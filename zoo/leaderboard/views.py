"""Views of leaderboard rows: terminal table (rich), markdown, CSV, JSON, family x data matrix.

Each row shows whether its number is exact or a bound, what it was measured on, and the
paper's figure beside ours, converted to bits/dim where the units allow it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

FORMATS = ("table", "markdown", "csv", "json", "matrix")


def paper_bits_per_dim(row: dict[str, Any]) -> float | None:
    """The paper's figure in bits/dim (nats per example and perplexity convert exactly)."""
    value, unit = row.get("paper_value"), row.get("paper_unit")
    if value is None or unit is None:
        return None
    if unit in ("bits/dim", "bits/char"):
        return float(value)
    if unit == "perplexity":
        return math.log2(value)
    if unit == "nats":
        nats, bpd = row.get("nats_per_example"), row.get("bits_per_dim")
        if nats and bpd:
            return float(value) * bpd / nats  # D ln 2 = nats / bpd
    return None


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.{digits}g}" if abs(v) >= 1e4 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def _paper(row: dict[str, Any]) -> str:
    if row.get("paper_value") is None:
        return ""
    bpd = paper_bits_per_dim(row)
    native = f"{_fmt(row['paper_value'], 2)} {row['paper_unit']}"
    if bpd is not None and row["paper_unit"] != "bits/dim":
        return f"{bpd:.3f} ({native})"
    return native


def _secondary(row: dict[str, Any]) -> str:
    if row.get("perplexity") is not None:
        s = f"ppl {_fmt(row['perplexity'], 2)}"
        stream = (row.get("extra") or {}).get("stream_perplexity")
        if stream is not None:
            s += f" (stream {_fmt(stream, 2)})"
        return s
    if row.get("bits_per_second") is not None:
        return f"{_fmt(row['bits_per_second'] / 1000, 1)} kbit/s"
    if row.get("nats_per_example") is not None:
        return f"{_fmt(row['nats_per_example'], 2)} nats"
    return ""


HEADERS = [
    "data set",
    "split",
    "model",
    "family",
    "estimate",
    "bits/dim",
    "also",
    "paper",
    "params",
    "train s",
    "device",
]


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            r["dataset"],
            r["split"],
            r["model"],
            r["family"],
            r["estimate"],
            f"{r['bits_per_dim']:.4f}",
            _secondary(r),
            _paper(r),
            _fmt(r.get("parameters")),
            _fmt(r.get("train_seconds"), 3),
            r.get("device") or "",
        ]
        for r in rows
    ]


def sources(rows: list[dict[str, Any]]) -> list[str]:
    """One line per data set in ``rows``: what its numbers were measured on."""
    seen: dict[str, str] = {}
    for r in rows:
        seen.setdefault(r["dataset"], r.get("source") or "source not recorded")
    return [f"{name}: {src}" for name, src in sorted(seen.items())]


def to_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in table_rows(rows)]
    if rows:
        lines += ["", "Measured on:"] + [f"- {line}" for line in sources(rows)]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    keys = [k for k in rows[0] if k != "extra"] + ["paper_bits_per_dim", "extra"]
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow(
            {**r, "paper_bits_per_dim": paper_bits_per_dim(r), "extra": json.dumps(r["extra"])}
        )
    return buf.getvalue()


def to_json(rows: list[dict[str, Any]]) -> str:
    return (
        json.dumps(
            [{**r, "paper_bits_per_dim": paper_bits_per_dim(r)} for r in rows],
            indent=2,
            default=str,
        )
        + "\n"
    )


def matrix(rows: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Best (lowest) bits/dim per (family, data set); bounds marked with a trailing '≥'."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["family"], r["dataset"])
        if key not in best or r["bits_per_dim"] < best[key]["bits_per_dim"]:
            best[key] = r
    families = sorted({f for f, _ in best})
    datasets = sorted({d for _, d in best})
    cells = {
        key: f"{r['bits_per_dim']:.3f}" + ("" if r["estimate"] == "exact" else " ≥")
        for key, r in best.items()
    }
    return families, datasets, cells


def matrix_markdown(rows: list[dict[str, Any]]) -> str:
    families, datasets, cells = matrix(rows)
    lines = ["| family | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for f in families:
        lines.append(f"| {f} | " + " | ".join(cells.get((f, d), "—") for d in datasets) + " |")
    note = (
        "\nBits/dim (lower is better); ≥ marks an upper bound on the true bits/dim "
        "(ELBO, IWAE, VQ).\n"
    )
    return "\n".join(lines) + "\n" + note


def render_rich(rows: list[dict[str, Any]], title: str = "zoo leaderboard"):
    """A rich Table (only the CLI prints it)."""
    from rich.table import Table

    caption = "bits/dim: lower is better; estimate says exact or bound\nmeasured on: " + (
        "\n".join(sources(rows)) or "-"
    )
    t = Table(title=title, caption=caption, caption_justify="left")
    for h in HEADERS:
        t.add_column(h, justify="right" if h in ("bits/dim", "params", "train s") else "left")
    for r, cells in zip(rows, table_rows(rows)):
        style = None if r["estimate"] == "exact" else "italic"
        t.add_row(*cells, style=style)
    return t


def render_matrix_rich(rows: list[dict[str, Any]]):
    from rich.table import Table

    families, datasets, cells = matrix(rows)
    t = Table(
        title="best bits/dim per family and data set",
        caption="≥: a bound (upper bound on bits/dim)",
    )
    t.add_column("family")
    for d in datasets:
        t.add_column(d, justify="right")
    for f in families:
        t.add_row(f, *(cells.get((f, d), "—") for d in datasets))
    return t
