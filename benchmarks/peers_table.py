"""The README's peer table, generated from ``benchmarks/results/*.json``.

Every results file with a ``peers`` list contributes one line per entry (written by
``benchmarks.common.peer_row``); each line says where its peer figure comes from: measured
here, in the same process, alternating with ours (with the run's date, and the machine's load
average where the run recorded it), or quoted (with the date and file it is quoted from).

    python -m benchmarks.peers_table [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def rows(results: Path = RESULTS) -> list[str]:
    """Markdown table lines (header first) for every peer entry under ``results``."""
    out = [
        "| what (`python -m benchmarks.NAME`) | zoo | peer | ratio (> 1: zoo better) | source |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(results.glob("*.json")):
        record = json.loads(path.read_text())
        for p in record.get("peers", []):
            if "ratio" not in p:
                continue
            src = p["source"]
            if src == "measured-here":
                n = record.get("threads", "?")
                load = record.get("load_average")
                busy = (
                    f"; load average {max(load):.0f} on {record.get('cpus', '?')} cores"
                    if load
                    else ""
                )
                threads = f"{n} thread{'' if n == 1 else 's'}"
                src = f"measured here ({record['date'][:10]}, {threads}{busy})"
            params = p.get("params")
            if params:
                same = "equal" if params["ours"] == params["peer"] else "UNEQUAL"
                src += f"; parameters {params['ours']:,} / {params['peer']:,} ({same})"
            unit, name = p["unit"], record.get("benchmark", path.stem)
            out.append(
                f"| {p['what']} (`{name}`) | {_fmt(p['ours'])} {unit} | "
                f"{p['peer']}: {_fmt(p['theirs'])} {unit} | {p['ratio']:.2f}x | {src} |"
            )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    print("\n".join(rows(args.results)))


if __name__ == "__main__":
    main()
