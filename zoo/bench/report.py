"""The report folder of a suite: tables, the board chart, per-family sections, curves,
samples, index.html.

report/
  index.html            the page: the board chart and matrix, the leaderboard, one section per
                        family (its rows, training curves, samples), curves per data set
  leaderboard.md|csv|json, matrix.md
  board.png             best test bits/dim per family and data set (hatched: a bound)
  curves_<dataset>.png  valid bits/dim against training steps, one line per entry
  family_<family>.png   training (line) and validation (dots) bits/dim against steps
  samples/<entry>.png   sample grids, upscaled with nearest-neighbour to >= 256 px a side;
  samples/<entry>_<i>.wav and <entry>_spec.png  audio samples (inline players) and a
                        spectrogram; text samples are shown inline in <pre> blocks, in
                        their family's section and, per text data set, the n-grams'
                        beside the neural models' (section "Text samples")
"""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path
from typing import Any

from zoo.engine.checkpoint import atomic_write_bytes
from zoo.leaderboard import Leaderboard, views

MIN_SAMPLE_PX = 256  # sample grids are upscaled (nearest-neighbour) to at least this a side
AUDIO_PLAYERS = 4  # audio samples with an inline player per entry
TEXT_CHARS = 1500  # characters of text samples shown per entry

CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 background:#f6f8fa;margin:0}
main{max-width:1200px;margin:0 auto;padding:1.5em 2em 4em;background:#fff;min-height:100vh}
h1{font-size:1.8em;margin:.2em 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;
 margin-top:2em}h3{margin:.6em 0 .3em;font-size:1.05em}
nav{font-size:.9em;margin:.5em 0 1em}nav a{margin-right:.8em}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
.note{color:#57606a;font-size:.92em}
.scroll{overflow-x:auto;max-width:100%;margin:.5em 0}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f6f8fa}tr:nth-child(even) td{background:#fbfcfd}
tr.bound td{font-style:italic}tr.flagged td{background:#ffebe9}
img{max-width:100%;height:auto}
img.chart{display:block;margin:.5em 0}
img.samples{width:256px;min-width:256px;image-rendering:pixelated;
 image-rendering:crisp-edges;border:1px solid #d0d7de}
.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.card{flex:0 1 360px;min-width:0;max-width:100%;border:1px solid #d0d7de;border-radius:6px;
 padding:.6em .8em;background:#fff}
.card audio{width:100%;margin:.2em 0}
pre.text{white-space:pre-wrap;overflow-wrap:anywhere;font:13px/1.45 ui-monospace,Menlo,
 Consolas,monospace;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;
 padding:.6em .8em;max-height:24em;overflow-y:auto;margin:0}
.family{margin-top:1.5em}
"""


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def board_chart(rows: list[dict[str, Any]], png: Path) -> Path | None:
    """The board as a chart: one panel per data set, one bar per family (its best test
    bits/dim, unconditional rows, as in :func:`zoo.leaderboard.views.matrix`); hatched, paler
    bars are bounds (the true bits/dim is at most the bar), solid ones exact. None when the
    rows hold no test figure."""
    from matplotlib.patches import Patch

    families, labels, best = views.matrix_best(rows)
    if not best:
        return None
    plt = _plt()
    palette = plt.get_cmap("tab20")
    colours = {f: palette((2 * i) % 20 + (i // 10) % 2) for i, f in enumerate(families)}
    cols = min(len(labels), 4)
    nrows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(
        nrows,
        cols,
        figsize=(1.6 + 2.9 * cols, nrows * (1.0 + 0.26 * len(families)) + 1.0),
        squeeze=False,
        sharey=True,
    )
    for ax, label in zip(axes.flat, labels):
        values = [best[(f, label)]["bits_per_dim"] for f in families if (f, label) in best]
        for i, f in enumerate(families):
            r = best.get((f, label))
            if r is None:
                continue
            v = r["bits_per_dim"]
            bound = views.is_bound(r["estimate"])
            ax.barh(
                i,
                v,
                color=colours[f],
                alpha=0.45 if bound else 0.95,
                hatch="///" if bound else None,
                edgecolor="#333",
                linewidth=0.5,
            )
            mark = (" ≥" if bound else "") + (" !" if r["flags"] else "")
            ax.text(v, i, f" {v:.3f}{mark}", va="center", fontsize=7)
        ax.set_yticks(range(len(families)), families, fontsize=8)
        ax.set_ylim(len(families) - 0.5, -0.5)
        ax.set_xlim(0, max(values) * 1.45)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    fig.legend(
        handles=[
            Patch(facecolor="#888", edgecolor="#333", label="exact"),
            Patch(facecolor="#ccc", edgecolor="#333", hatch="///", label="bound (≥ true bits/dim)"),
            Patch(facecolor="none", edgecolor="none", label="! flagged (see the table)"),
        ],
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.suptitle("Best test bits/dim per family and data set (lower is better)", fontsize=10)
    fig.tight_layout(rect=(0, 0.5 / fig.get_figheight(), 1, 1 - 0.35 / fig.get_figheight()))
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def _metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def family_curves(rows: list[dict[str, Any]], png: Path) -> Path | None:
    """Training bits/dim (the logged loss per step, a line) and validation bits/dim (dots)
    against training steps for each run of ``rows`` (one family); None when no run logged
    any. The training loss of a bound model is its bound."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r["run_dir"] in seen:
            continue
        seen.add(r["run_dir"])
        points = _metrics(r["run_dir"])
        colour = plt.get_cmap("tab10")(i % 10)
        train = [(p["step"], p["bits_per_dim"]) for p in points if p.get("kind") == "step"]
        valid = [(p["step"], p["valid_bits_per_dim"]) for p in points if "valid_bits_per_dim" in p]
        label = f"{r['model']} ({r['dataset']})"
        if train:
            ax.plot(*zip(*train), "-", color=colour, lw=1.2, label=f"{label} train")
        if valid:
            ax.plot(*zip(*valid), "o", color=colour, ms=4, label=f"{label} valid")
    if not ax.lines:
        plt.close(fig)
        return None
    ax.set_xlabel("training step")
    ax.set_ylabel("bits/dim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def upscale(src: Path, dst: Path, min_px: int = MIN_SAMPLE_PX) -> Path:
    """Copy the image ``src`` to ``dst``, enlarged by a whole factor with nearest-neighbour
    so that each side is at least ``min_px`` pixels (pixels stay sharp squares)."""
    from PIL import Image

    with Image.open(src) as im:
        factor = max(1, math.ceil(min_px / max(min(im.size), 1)))
        im.resize((im.width * factor, im.height * factor), Image.NEAREST).save(dst)
    return dst


def _sample_html(name: str, sdir: Path, out: Path) -> str:
    """The samples of one entry as HTML (files copied under ``out/samples``); "" if none."""
    if (sdir / "samples.png").exists():
        upscale(sdir / "samples.png", out / "samples" / f"{name}.png")
        return f'<img class="samples" src="samples/{name}.png" alt="{name} samples">'
    wavs = sorted(sdir.glob("sample_*.wav"))
    if wavs:
        _spectrogram(wavs[0], out / "samples" / f"{name}_spec.png")
        players = []
        for i, wav in enumerate(wavs[:AUDIO_PLAYERS]):
            shutil.copyfile(wav, out / "samples" / f"{name}_{i}.wav")
            players.append(f'<audio controls preload="none" src="samples/{name}_{i}.wav"></audio>')
        return f'<img src="samples/{name}_spec.png" alt="{name} spectrogram">' + "".join(players)
    if (sdir / "samples.txt").exists():
        text = (sdir / "samples.txt").read_text()
        if len(text) > TEXT_CHARS:
            text = text[:TEXT_CHARS] + " …"
        return f'<pre class="text">{html.escape(text)}</pre>'
    return ""


NGRAM_FAMILIES = ("ngram",)  # conditionals estimated by counting
NEURAL_TEXT_FAMILIES = ("transformer", "lstm", "wavenet")  # estimated by neural nets


def _text_samples_html(rows: list[dict[str, Any]], samples: dict[str, str]) -> str:
    """Per text data set, the n-grams' samples beside the neural models' (Transformer, LSTM,
    WaveNet over characters), then any other family's: one card per entry with its bits/dim,
    the samples in a readable ``<pre>`` block; "" when no text entry drew samples."""
    order = {f: i for i, f in enumerate(NGRAM_FAMILIES + NEURAL_TEXT_FAMILIES)}
    by_set: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:  # best first per data set: rows are sorted by bits/dim
        if '<pre class="text">' in samples.get(r["model"], ""):
            by_set.setdefault(r["dataset"], {}).setdefault(r["model"], r)
    out = ""
    for dataset, entries in sorted(by_set.items()):
        ranked = sorted(entries.values(), key=lambda r: order.get(r["family"], len(order)))
        cards = ""
        for r in ranked:
            kind = "other"
            if r["family"] in NGRAM_FAMILIES:
                kind = "n-gram (counting)"
            elif r["family"] in NEURAL_TEXT_FAMILIES:
                kind = "neural"
            cards += (
                f'<div class="card text-sample" data-family="{html.escape(r["family"])}">'
                f"<h3>{html.escape(r['model'])}</h3>"
                f'<p class="note">{html.escape(kind)}, {html.escape(r["family"])}: '
                f"{r['bits_per_dim']:.4f} bits/dim ({html.escape(r['estimate'])})</p>"
                f"{samples[r['model']]}</div>"
            )
        out += (
            f'<h3 id="text-{html.escape(dataset)}">{html.escape(dataset)}</h3>'
            f'<div class="grid">{cards}</div>'
        )
    if not out:
        return ""
    return (
        '<h2 id="text-samples">Text samples: n-grams beside neural models</h2>'
        '<p class="note">Samples drawn from each text entry, per data set: the n-grams\' '
        "(conditionals estimated by counting) first, then the neural models' (Transformer, "
        "LSTM, WaveNet over characters). Lower bits/dim is better.</p>" + out
    )


def _table(headers: list[str], body: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    trs = "".join(
        f'<tr class="{classes[i] if classes else ""}">'
        + "".join(f"<td>{html.escape(c)}</td>" for c in r)
        + "</tr>"
        for i, r in enumerate(body)
    )
    return f'<div class="scroll"><table><tr>{head}</tr>{trs}</table></div>'


def _row_class(r: dict[str, Any]) -> str:
    return "flagged" if r.get("flags") else ("exact" if r["estimate"] == "exact" else "bound")


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
        if not ax.lines:  # no run of this data set logged a validation
            plt.close(fig)
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel("valid bits/dim (dashed: bound)")
        ax.set_title(f"{dataset}: valid bits/dim against training steps")
        ax.grid(alpha=0.3)
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
        return f'<div class="scroll"><table><tr>{head}</tr>{rows}</table></div>'

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
    """Write the report of ``suite`` (its leaderboard rows in ``db``) into ``out``; returns
    the path of ``index.html``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    rows = Leaderboard(db).rows(suite=suite)
    atomic_write_bytes(out / "leaderboard.md", views.to_markdown(rows).encode())
    atomic_write_bytes(out / "leaderboard.csv", views.to_csv(rows).encode())
    atomic_write_bytes(out / "leaderboard.json", views.to_json(rows).encode())
    atomic_write_bytes(out / "matrix.md", views.matrix_markdown(rows).encode())
    curves = _curves(runs_dir, rows, out)
    board = board_chart(rows, out / "board.png")
    samples: dict[str, str] = {}  # entry -> html snippet
    for r in rows:
        if r["model"] not in samples:
            samples[r["model"]] = _sample_html(r["model"], Path(r["run_dir"]) / "samples", out)
    matrix_html = ""
    for conditional in (False, True):
        families, datasets, cells = views.matrix(rows, conditional=conditional)
        if conditional and not families:
            continue
        if conditional:
            matrix_html += "<h3>Conditional models, -log p(x | label) (not ranked above)</h3>"
        body = [[f, *(cells.get((f, d), "—") for d in datasets)] for f in families]
        matrix_html += _table(["family", *datasets], body)
    table_html = ""
    headers = [*views.HEADERS, views.WALL_HEADER]
    for title, section in views.split_sections(rows):
        table_html += f"<h3>{html.escape(title)}</h3>" + _table(
            headers, views.table_rows(section, wall=True), [_row_class(r) for r in section]
        )
    by_family: dict[str, list[dict[str, Any]]] = {}
    for r in views.annotate(rows):
        by_family.setdefault(r["family"], []).append(r)
    family_html = ""
    for family, rs in sorted(by_family.items()):
        png = family_curves(rs, out / f"family_{family}.png")
        body = [
            [r["model"], r["dataset"], r["split"], r["estimate"], f"{r['bits_per_dim']:.4f}"]
            for r in rs
        ]
        cards = "".join(
            f'<div class="card"><h3>{html.escape(name)}</h3>{samples[name]}</div>'
            for name in dict.fromkeys(r["model"] for r in rs)
            if samples.get(name)
        )
        family_html += (
            f'<section class="family" id="family-{html.escape(family)}">'
            f"<h2>{html.escape(family)}</h2>"
            + _table(
                ["entry", "data set", "split", "estimate", "bits/dim"],
                body,
                [_row_class(r) for r in rs],
            )  # fmt: skip
            + (
                f'<h3>Training curves</h3><img class="chart" src="{png.name}" '
                f'alt="{html.escape(family)} training curves">'
                if png
                else ""
            )
            + (f'<h3>Samples</h3><div class="grid">{cards}</div>' if cards else "")
            + "</section>"
        )
    text_html = _text_samples_html(rows, samples)
    text_nav = '<a href="#text-samples">text samples</a>' if text_html else ""
    probes_html = _probes_html(out)
    sources_html = "".join(f"<li>{html.escape(line)}</li>" for line in views.sources(rows))

    def listed(kind: str) -> str:
        items = [(n, s["reason"]) for n, s in (status or {}).items() if s["status"] == kind]
        return "".join(
            f"<li><b>{html.escape(n)}</b>: {html.escape(reason)}</li>" for n, reason in items
        )

    skipped_html, failed_html = listed("skipped"), listed("failed")
    nav = "".join(
        f'<a href="#family-{html.escape(f)}">{html.escape(f)}</a>' for f in sorted(by_family)
    )
    board_html = (
        f'<img class="chart" src="{board.name}" alt="best bits/dim per family and data set">'
        if board
        else ""
    )
    curves_html = "".join(
        f'<div class="card"><img src="{p.name}" alt="{p.stem}"></div>' for p in curves
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>zoo bench {suite}</title><style>{CSS}</style></head><body><main>
<h1>zoo bench {suite}</h1>
<p class="note">{html.escape(views.header_line(rows, suite))}</p>
<nav><a href="#board">board</a><a href="#leaderboard">leaderboard</a>{nav}
{text_nav}<a href="#curves">curves</a></nav>
<p>Bits per dimension on each data set's test split (lower is better). <i>Italic</i> rows
and hatched bars are bounds (ELBO, IWAE-k, VQ): upper bounds on the true bits/dim. Exact rows
are exact. <span style="background:#ffebe9">Shaded</span> rows are flagged: no better than the
data set's independent baseline, or a collapsed codebook / posterior (the flag column says
which).</p>
<h2 id="board">Family x data set</h2>{board_html}{matrix_html}
<p class="note">{html.escape(views.MATRIX_NOTE)}</p>
<h2 id="leaderboard">Leaderboard</h2>{table_html}
<p>Measured on:</p><ul>{sources_html}</ul>
<p>Also as <a href="leaderboard.md">markdown</a>, <a href="leaderboard.csv">CSV</a>,
<a href="leaderboard.json">JSON</a>, <a href="matrix.md">matrix (markdown)</a>.</p>
{"<h2>Failed</h2><ul>" + failed_html + "</ul>" if failed_html else ""}
{"<h2>Skipped (data missing)</h2><ul>" + skipped_html + "</ul>" if skipped_html else ""}
{family_html}
{text_html}
<h2 id="curves">Valid bits/dim against training steps</h2>
<div class="grid">{curves_html}</div>
{probes_html}
</main></body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode())
    return out / "index.html"


def image_references(index_html: Path) -> list[Path]:
    """The files the page's <img> tags point to (relative to the page)."""
    import re

    page = index_html.read_text()
    return [index_html.parent / src for src in re.findall(r'<img[^>]*src="([^"]+)"', page)]


_CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const r = {scrollWidth: document.documentElement.scrollWidth,
             images: [...document.images].map(i => [i.getAttribute("src"), i.naturalWidth])};
  const pre = document.createElement("pre");
  pre.id = "zoo-check";
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str:
    import shutil as sh

    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if sh.which(b)), None
    )
    if browser is None:
        raise FileNotFoundError(
            "no Chromium found for the report screenshot: install Debian's `chromium` "
            "(apt-get install chromium) or put chromium on PATH"
        )
    return browser


def browser_check(index_html: Path, *, width: int = 1280) -> dict[str, Any]:
    """Load the page in headless Chromium at ``width`` CSS pixels and measure it:
    ``{"scrollWidth": int, "images": [[src, naturalWidth], ...]}`` (naturalWidth 0: the
    image did not load). A copy of the page with a measuring script is loaded, then removed."""
    import re
    import subprocess

    probe = index_html.with_name(".zoo-check.html")
    probe.write_text(index_html.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    try:
        done = subprocess.run(
            [
                _browser(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={width},900",
                "--virtual-time-budget=5000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="zoo-check">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise RuntimeError(f"the page did not finish loading in Chromium: {done.stderr[-500:]}")
    return json.loads(html.unescape(found.group(1)))


def screenshot(index_html: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render the report in headless Chromium and save a screenshot (apt-get install chromium)."""
    import subprocess

    browser = _browser()
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
