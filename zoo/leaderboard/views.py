"""Views of leaderboard rows: terminal table (rich), markdown, CSV, JSON, family x data matrix.

Every view keeps like with like (DESIGN.md, "Fair comparisons"):
- unconditional rows (-log p(x)) are ranked; conditional rows (-log p(x | class), ...) appear
  in their own section, never ranked beside them;
- each row says whether its number is exact or a bound, and the split it was measured on
  (``test[:512]`` for a subset);
- the paper's figure is shown as a number only beside the same estimate; otherwise the cell
  names both estimates;
- a row that does not beat its data set's independent baseline (same split, unconditional),
  a collapsed VQ codebook or a collapsed VAE posterior is flagged with its diagnostic.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from typing import Any

FORMATS = ("table", "markdown", "csv", "json", "matrix", "probes")
# A codebook (VQ) or latent space (VAE) counts as collapsed below this fraction of its size:
# code-usage perplexity < 5% of K codes, or active units < 5% of the latent units.
COLLAPSE_FRACTION = 0.05
BOUND_ESTIMATES = ("elbo", "bound")  # and iwae-<k>


def is_bound(estimate: str) -> bool:
    return estimate in BOUND_ESTIMATES or estimate.startswith("iwae")


def is_conditional(row: dict[str, Any]) -> bool:
    return (row.get("cond") or "none") != "none"


def is_declared(row: dict[str, Any]) -> bool:
    """Whether the row holds its entry's declared estimate (the one it is ranked by)."""
    declared = (row.get("extra") or {}).get("declared")
    return bool(declared) if declared is not None else not row["estimate"].startswith("iwae")


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
    figure = (
        f"{bpd:.3f} ({native})" if bpd is not None and row["paper_unit"] != "bits/dim" else native
    )
    theirs = row.get("paper_estimate")
    if theirs and theirs != row["estimate"]:  # not the same quantity: say which each side is
        return f"ours {row['estimate']} vs paper {theirs}: {figure}"
    return figure


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


# ---------------------------------------------------------------------- sanity flags
def baselines(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(data set, split) -> bits/dim of the unconditional independent baseline."""
    out: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["family"] == "independent" and not is_conditional(r):
            key = (r["dataset"], r["split"])
            out[key] = min(out.get(key, math.inf), r["bits_per_dim"])
    return out


def flags(row: dict[str, Any], floor: dict[tuple[str, str], float]) -> list[str]:
    """What is wrong with a row, each with its diagnostic (empty: nothing)."""
    out = []
    base = floor.get((row["dataset"], row["split"]))
    if row["family"] != "independent" and base is not None and row["bits_per_dim"] >= base:
        out.append(f"no better than the independent baseline ({base:.4f} bits/dim)")
    extra = row.get("extra") or {}
    perplexity = extra.get("codebook_perplexity", extra.get("code_perplexity"))
    codes = extra.get("num_codes")
    if perplexity is not None and codes and perplexity < COLLAPSE_FRACTION * codes:
        used = extra.get("codes_used")
        out.append(
            f"codebook collapsed: code-usage perplexity {perplexity:.1f} of {int(codes)} codes"
            + (f" ({int(used)} used)" if used is not None else "")
        )
    active, units = extra.get("active_units"), extra.get("latent_units")
    if active is not None and (active == 0 or (units and active < COLLAPSE_FRACTION * units)):
        of = f" of {int(units)}" if units else ""
        out.append(f"posterior collapsed: {int(active)}{of} latent units active")
    return out


def annotate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with ``flags`` (list of diagnostics) filled in."""
    floor = baselines(rows)
    return [{**r, "flags": flags(r, floor)} for r in rows]


def split_sections(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(title, rows)]: the ranked unconditional rows, then the conditional ones (if any)."""
    rows = annotate(rows)
    uncond = [r for r in rows if not is_conditional(r)]
    cond = [r for r in rows if is_conditional(r)]
    sections = [("Unconditional models, -log p(x): ranked by bits/dim", uncond)]
    if cond:
        title = "Conditional models, -log p(x | label): a different quantity, not ranked above"
        sections.append((title, cond))
    return sections


HEADERS = [
    "data set",
    "split",
    "model",
    "family",
    "cond",
    "estimate",
    "bits/dim",
    "also",
    "paper",
    "params",
    "steps",
    "device",
    "flag",
]
# Wall time is reported (CSV, JSON, the HTML report, the header line) but kept out of the
# tables people compare, so that two runs of one command print identical tables.
WALL_HEADER = "train s"


def table_rows(rows: list[dict[str, Any]], *, wall: bool = False) -> list[list[str]]:
    """Table cells per row (HEADERS order; with ``wall``, the training wall time appended)."""
    floor = baselines(rows)
    return [
        [
            r["dataset"],
            r["split"],
            r["model"],
            r["family"],
            r.get("cond") or "none",
            r["estimate"],
            f"{r['bits_per_dim']:.4f}",
            _secondary(r),
            _paper(r),
            _fmt(r.get("parameters")),
            _fmt(r.get("train_steps")),
            r.get("device") or "",
            "; ".join(r["flags"] if "flags" in r else flags(r, floor)),
        ]
        + ([_fmt(r.get("train_seconds"), 3)] if wall else [])
        for r in rows
    ]


def sources(rows: list[dict[str, Any]]) -> list[str]:
    """One line per data set in ``rows``: what its numbers were measured on."""
    seen: dict[str, str] = {}
    for r in rows:
        seen.setdefault(r["dataset"], r.get("source") or "source not recorded")
    return [f"{name}: {src}" for name, src in sorted(seen.items())]


def header_line(rows: list[dict[str, Any]], suite: str | None = None) -> str:
    """Where the rows come from: suite, dates, machine and commit (from the rows themselves)."""
    if not rows:
        return "No rows."
    dates = sorted({r["created"][:10] for r in rows if r.get("created")})
    machines = sorted({(r.get("extra") or {}).get("machine") or "not recorded" for r in rows})
    commits = sorted({r.get("code_version") or "not recorded" for r in rows})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    name = f"`zoo bench {suite}`" if suite else "all suites"
    wall = sum(r.get("train_seconds") or 0.0 for r in rows)
    return (
        f"{name}, {len(rows)} rows, measured {when} on {'; '.join(machines)}; "
        f"commit {', '.join(commits)}; training wall time {wall / 60:.1f} min in all."
    )


NOT_RECORDED = "not recorded"


def command_of(row: dict[str, Any]) -> tuple[str, bool]:
    """The command that made ``row`` and whether it was recorded: the CLI's command line
    (``zoo bench standard --only ...``, ``zoo eval RUN``) or ``Python API: FUNCTION``. A row
    written before commands were recorded says only what is known: ``not recorded (a `zoo
    bench SUITE` row)`` from its suite field, else ``not recorded``."""
    command = (row.get("extra") or {}).get("command")
    if command:
        return str(command), True
    suite = row.get("suite")
    return (f"{NOT_RECORDED} (a `zoo bench {suite}` row)" if suite else NOT_RECORDED), False


def provenance(row: dict[str, Any]) -> dict[str, Any]:
    """Where ``row`` comes from: ``date``, ``machine``, ``commit``, ``command`` (with
    ``command_recorded``) and, where the run recorded it, ``train_command``."""
    extra = row.get("extra") or {}
    command, recorded = command_of(row)
    out = {
        "date": row.get("created"),
        "machine": extra.get("machine"),
        "commit": row.get("code_version"),
        "command": command,
        "command_recorded": recorded,
    }
    if extra.get("train_command") and extra["train_command"] != command:
        out["train_command"] = extra["train_command"]
    return out


def _md_table(headers: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]


def to_markdown(rows: list[dict[str, Any]], *, header: str | None = None) -> str:
    lines = [header, ""] if header else []
    sections = split_sections(rows)
    for title, section in sections:
        if len(sections) > 1:
            lines += [f"{title}:", ""]
        lines += _md_table(HEADERS, table_rows(section)) + [""]
    if rows:
        lines += ["Measured on:"] + [f"- {line}" for line in sources(rows)]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    rows = annotate(rows)
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("extra", "flags")))
    keys += ["paper_bits_per_dim", "flags", "extra"]
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                **r,
                "paper_bits_per_dim": paper_bits_per_dim(r),
                "flags": "; ".join(r["flags"]),
                "extra": json.dumps(r.get("extra") or {}),
            }
        )
    return buf.getvalue()


def to_json(rows: list[dict[str, Any]]) -> str:
    """``zoo leaderboard --format json``: every row with its ``flags``,
    ``paper_bits_per_dim``, ``command`` and ``provenance`` (see :func:`provenance`)."""
    return (
        json.dumps(
            [
                {
                    **r,
                    "paper_bits_per_dim": paper_bits_per_dim(r),
                    "command": command_of(r)[0],
                    "provenance": provenance(r),
                }
                for r in annotate(rows)
            ],
            indent=2,
            default=str,
        )
        + "\n"
    )


# ---------------------------------------------------------------------- matrix
def _matrix_split(rows: list[dict[str, Any]]) -> str:
    """The test split a data set's column uses: the full one if any row has it, else the
    most common named subset (``test[:512]``)."""
    splits = Counter(r["split"] for r in rows)
    return "test" if "test" in splits else splits.most_common(1)[0][0]


def matrix_best(
    rows: list[dict[str, Any]], *, conditional: bool = False
) -> tuple[list[str], list[str], dict[tuple[str, str], dict[str, Any]]]:
    """The rows behind :func:`matrix`: families, data-set labels and the best (annotated) row
    per (family, label) (the board chart of the report draws them)."""
    rows = [
        r
        for r in annotate(rows)
        if (r["split"] == "test" or r["split"].startswith("test["))
        and is_conditional(r) == conditional
        and is_declared(r)
    ]
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    best: dict[tuple[str, str], dict[str, Any]] = {}
    labels = []
    for dataset, rs in sorted(by_dataset.items()):
        split = _matrix_split(rs)
        label = dataset if split == "test" else f"{dataset} {split}"
        labels.append(label)
        for r in rs:
            key = (r["family"], label)
            if r["split"] == split and (
                key not in best or r["bits_per_dim"] < best[key]["bits_per_dim"]
            ):
                best[key] = r
    return sorted({f for f, _ in best}), labels, best


def matrix(
    rows: list[dict[str, Any]], *, conditional: bool = False
) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Best bits/dim per (family, data set) on the test split, one declared estimate per row
    (an entry's ``eval: {k: N}``, else its model's own), unconditional rows only (or, with
    ``conditional``, only the conditional ones). Cells name their estimate when it is a bound
    (``0.222 ≥ elbo``) and end in ⚠ when the row is flagged. Columns are data sets, with the
    subset in brackets when only a subset was scored: ``pydoc_char test[:512]``."""
    families, labels, best = matrix_best(rows, conditional=conditional)
    cells = {
        key: f"{r['bits_per_dim']:.3f}"
        + (f" ≥ {r['estimate']}" if is_bound(r["estimate"]) else "")
        + (" ⚠" if r["flags"] else "")
        for key, r in best.items()
    }
    return families, labels, cells


MATRIX_NOTE = (
    "Bits/dim on the test split (lower is better), the best row per cell, each row by its "
    "entry's declared estimate; `≥ estimate` marks an upper bound on the true bits/dim (ELBO, "
    "IWAE-k, VQ), ⚠ a flagged row (see the table)."
)


def matrix_markdown(rows: list[dict[str, Any]]) -> str:
    out = []
    for conditional in (False, True):
        families, datasets, cells = matrix(rows, conditional=conditional)
        if conditional and not families:
            continue
        if conditional:
            out += ["", "Conditional models, -log p(x | label) (not ranked with the above):", ""]
        body = [[f, *(cells.get((f, d), "—") for d in datasets)] for f in families]
        out += _md_table(["family", *datasets], body)
    return "\n".join(out) + "\n\n" + MATRIX_NOTE + "\n"


# ---------------------------------------------------------------------- rich (CLI only)
def render_rich(rows: list[dict[str, Any]], title: str = "zoo leaderboard"):
    """Rich tables, unconditional then conditional (only the CLI prints them)."""
    from rich.console import Group
    from rich.table import Table

    caption = "bits/dim: lower is better; estimate says exact or bound\nmeasured on: " + (
        "\n".join(sources(rows)) or "-"
    )
    tables = []
    sections = split_sections(rows)
    for i, (heading, section) in enumerate(sections):
        last = i == len(sections) - 1
        t = Table(
            title=f"{title}: {heading}", caption=caption if last else None, caption_justify="left"
        )
        for h in HEADERS:
            t.add_column(h, justify="right" if h in ("bits/dim", "params", "steps") else "left")
        for r, cells in zip(section, table_rows(section)):
            style = "red" if r["flags"] else (None if r["estimate"] == "exact" else "italic")
            t.add_row(*cells, style=style)
        tables.append(t)
    return Group(*tables)


def render_matrix_rich(rows: list[dict[str, Any]]):
    from rich.console import Group
    from rich.table import Table

    tables = []
    for conditional in (False, True):
        families, datasets, cells = matrix(rows, conditional=conditional)
        if conditional and not families:
            continue
        kind = "conditional, -log p(x | label)" if conditional else "unconditional"
        t = Table(title=f"best bits/dim per family and data set ({kind}, test split)")
        t.add_column("family")
        for d in datasets:
            t.add_column(d, justify="right")
        for f in families:
            t.add_row(f, *(cells.get((f, d), "—") for d in datasets))
        tables.append(t)
    tables[-1].caption = MATRIX_NOTE
    return Group(*tables)
