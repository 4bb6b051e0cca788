"""The report folder of a suite: tables, the family x data matrix, plots, samples, index.html.

report/
  index.html            links everything below
  leaderboard.md|csv|json, matrix.md
  curves_<dataset>.png  valid bits/dim against training steps, one line per entry
  samples/<entry>.png   sample grids (images), spectrograms (audio); text inline
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

from zoo.engine.checkpoint import atomic_write_bytes
from zoo.leaderboard import Leaderboard, views


def _curves(runs_dir: Path, rows: list[dict[str, Any]], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    written = []
    for dataset, rs in sorted(by_dataset.items()):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for r in rs:
            metrics = Path(r["run_dir"]) / "metrics.jsonl"
            if not metrics.exists():
                continue
            points = [json.loads(line) for line in metrics.read_text().splitlines()]
            pts = [
                (p["step"], p["valid_bits_per_dim"]) for p in points if "valid_bits_per_dim" in p
            ]
            if not pts:
                continue
            xs, ys = zip(*pts)
            style = "-" if r["estimate"] == "exact" else "--"
            ax.plot(xs, ys, style, marker="o", ms=3, label=f"{r['model']} ({r['estimate']})")
        ax.set_xlabel("training step")
        ax.set_ylabel("valid bits/dim (dashed: bound)")
        ax.set_title(f"{dataset}: valid bits/dim against training steps")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        path = out / f"curves_{dataset}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _spectrogram(wav: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    audio, rate = sf.read(str(wav))
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.specgram(audio, Fs=rate, NFFT=256, noverlap=192, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Hz")
    ax.set_title(wav.parent.parent.name)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _probes_html(out: Path) -> str:
    """The WaveNet-autoencoder probes (tables + figure), when their results exist."""
    from zoo.bench import probes

    written = probes.write_probes(out)
    if written is None:
        return ""
    results = probes.load_results()

    def table(headers: list[str], body: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body
        )
        return f"<table><tr>{head}</tr>{rows}</table>"

    intro = probes.probes_markdown(results).split("\n", 1)[0]
    return (
        "<h2>WaveNet autoencoders: bitrate and probes</h2>"
        f'<p>{html.escape(intro)} (<a href="probes.md">markdown</a>)</p>'
        + table(probes.SUMMARY_HEADERS, probes.summary_rows(results))
        + "<br>"
        + table(probes.PROBE_HEADERS, probes.probe_rows(results))
        + f'<p><img src="{written[1].name}" alt="probe accuracies per probe point"></p>'
    )


def write_report(
    suite: str,
    runs_dir: Path,
    out: Path,
    *,
    db: str | None = None,
    status: dict[str, dict[str, Any]] | None = None,
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    rows = Leaderboard(db).rows(suite=suite)
    atomic_write_bytes(out / "leaderboard.md", views.to_markdown(rows).encode())
    atomic_write_bytes(out / "leaderboard.csv", views.to_csv(rows).encode())
    atomic_write_bytes(out / "leaderboard.json", views.to_json(rows).encode())
    atomic_write_bytes(out / "matrix.md", views.matrix_markdown(rows).encode())
    curves = _curves(runs_dir, rows, out)
    samples: list[tuple[str, str]] = []  # (entry, html snippet)
    for r in rows:
        sdir = Path(r["run_dir"]) / "samples"
        name = r["model"]
        if (sdir / "samples.png").exists():
            shutil.copyfile(sdir / "samples.png", out / "samples" / f"{name}.png")
            samples.append(
                (name, f'<img class="samples" src="samples/{name}.png" alt="{name} samples">')
            )
        elif (sdir / "sample_000.wav").exists():
            _spectrogram(sdir / "sample_000.wav", out / "samples" / f"{name}_spec.png")
            shutil.copyfile(sdir / "sample_000.wav", out / "samples" / f"{name}.wav")
            samples.append(
                (
                    name,
                    f'<img src="samples/{name}_spec.png" alt="{name} spectrogram">'
                    f'<br><audio controls src="samples/{name}.wav"></audio>',
                )
            )
        elif (sdir / "samples.txt").exists():
            text = (sdir / "samples.txt").read_text()[:600]
            samples.append((name, f"<pre>{html.escape(text)}</pre>"))
    matrix_html = ""
    for conditional in (False, True):
        families, datasets, cells = views.matrix(rows, conditional=conditional)
        if conditional and not families:
            continue
        if conditional:
            matrix_html += "<h3>Conditional models, -log p(x | label) (not ranked above)</h3>"
        matrix_html += "<table><tr><th>family</th>" + "".join(f"<th>{d}</th>" for d in datasets)
        for f in families:
            matrix_html += f"</tr><tr><td>{f}</td>" + "".join(
                f"<td>{cells.get((f, d), '—')}</td>" for d in datasets
            )
        matrix_html += "</tr></table>"
    table_html = ""
    for title, section in views.split_sections(rows):
        table_html += f"<h3>{html.escape(title)}</h3><table><tr>"
        headers = [*views.HEADERS, views.WALL_HEADER]
        table_html += "".join(f"<th>{h}</th>" for h in headers) + "</tr>"
        for r, cells_row in zip(section, views.table_rows(section, wall=True)):
            cls = "flagged" if r["flags"] else ("exact" if r["estimate"] == "exact" else "bound")
            table_html += (
                f'<tr class="{cls}">'
                + "".join(f"<td>{html.escape(c)}</td>" for c in cells_row)
                + "</tr>"
            )
        table_html += "</table>"
    probes_html = _probes_html(out)
    sources_html = "".join(f"<li>{html.escape(line)}</li>" for line in views.sources(rows))

    def listed(kind: str) -> str:
        items = [(n, s["reason"]) for n, s in (status or {}).items() if s["status"] == kind]
        return "".join(f"<li><b>{n}</b>: {html.escape(reason)}</li>" for n, reason in items)

    skipped_html, failed_html = listed("skipped"), listed("failed")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>zoo bench {suite}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
tr.bound td{{font-style:italic}}tr.flagged td{{background:#fdd}}img{{max-width:100%}}
img.samples{{width:280px;image-rendering:pixelated}}.grid{{display:flex;flex-wrap:wrap;gap:1em}}
.grid div{{width:300px}}</style></head><body>
<h1>zoo bench {suite}</h1>
<p>{html.escape(views.header_line(rows, suite))}</p>
<p>Bits per dimension on each data set's test split (lower is better). <i>Italic</i> rows are
bounds (ELBO, IWAE-k, VQ): upper bounds on the true bits/dim. Exact rows are exact.
<span style="background:#fdd">Shaded</span> rows are flagged: no better than the data set's
independent baseline, or a collapsed codebook / posterior (the flag column says which).</p>
<h2>Family x data set</h2>{matrix_html}<p>{html.escape(views.MATRIX_NOTE)}</p>
<h2>Leaderboard</h2>{table_html}
<p>Measured on:</p><ul>{sources_html}</ul>
<p>Also as <a href="leaderboard.md">markdown</a>, <a href="leaderboard.csv">CSV</a>,
<a href="leaderboard.json">JSON</a>, <a href="matrix.md">matrix (markdown)</a>.</p>
{"<h2>Failed</h2><ul>" + failed_html + "</ul>" if failed_html else ""}
{"<h2>Skipped (data missing)</h2><ul>" + skipped_html + "</ul>" if skipped_html else ""}
<h2>Valid bits/dim against training steps</h2>
<div class="grid">{"".join(f'<div><img src="{p.name}" alt="{p.stem}"></div>' for p in curves)}</div>
{probes_html}
<h2>Samples</h2>
<div class="grid">{"".join(f"<div><h3>{n}</h3>{s}</div>" for n, s in samples)}</div>
</body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode())
    return out / "index.html"


def image_references(index_html: Path) -> list[Path]:
    """The files the page's <img> tags point to (relative to the page)."""
    import re

    page = index_html.read_text()
    return [index_html.parent / src for src in re.findall(r'<img[^>]*src="([^"]+)"', page)]


def screenshot(index_html: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render the report in headless Chromium and save a screenshot (apt-get install chromium)."""
    import shutil as sh
    import subprocess

    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if sh.which(b)), None
    )
    if browser is None:
        raise FileNotFoundError(
            "no Chromium found for the report screenshot: install Debian's `chromium` "
            "(apt-get install chromium) or put chromium on PATH"
        )
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            "--virtual-time-budget=5000",
            f"--screenshot={png.resolve()}",
            index_html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png
