"""The WaveNet-autoencoder experiment, shown: bits/dim, latent bitrate and probes per bottleneck.

Reads what ``python -m benchmarks.wavenet_ae_fsdd --untrained`` writes
(``benchmarks/results/wavenet_ae_fsdd.json``) and renders it as markdown tables and a figure:
for each bottleneck (AE, VAE, VQ), its bound in bits/dim and the bitrate of its latent code,
then the probes (speaker and digit accuracy, mel R^2) at each probe point, trained beside
untrained and beside chance (the majority class of the probe's training split). It also says
whether the probe's test speakers were seen in training: on FSDD they are (its test split is
takes 0-4 of every speaker), so the speaker probe measures speaker identity, not
generalisation to new voices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.engine.checkpoint import atomic_write_bytes

POINTS = ("encoder", "projection", "bottleneck", "conditioning")
PROBES = (  # (target, metric, column title)
    ("speaker", "accuracy", "speaker acc."),
    ("digit", "accuracy", "digit acc."),
    ("speaker", "frame_accuracy", "speaker acc. per frame"),
    ("mel", "r2", "mel R²"),
)


def default_results_path() -> Path:
    """``benchmarks/results/wavenet_ae_fsdd.json`` of this checkout."""
    return Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "wavenet_ae_fsdd.json"


def load_results(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path) if path is not None else default_results_path()
    if not p.exists():
        raise FileNotFoundError(
            f"no probe results at {p}: run `python -m benchmarks.wavenet_ae_fsdd --untrained` "
            f"to produce them"
        )
    results = json.loads(p.read_text())
    if not isinstance(results.get("runs"), dict) or not results["runs"]:
        raise ValueError(f"{p}: expected {{'runs': {{bottleneck: {{...}}}}}}, got no runs")
    return results


def speakers_seen_in(dataset: Any) -> str:
    """Whether the test split's speakers also occur in the training split."""
    train = set(dataset["train"].labels["speaker"].tolist())
    test = set(dataset["test"].labels["speaker"].tolist())
    if test <= train:
        return f"yes: all {len(test)} test speakers also speak in the probe's training split"
    return f"no: {len(test - train)} of {len(test)} test speakers are unseen in training"


def speakers_seen(results: dict[str, Any]) -> str:
    """As recorded by the benchmark, else worked out from the data set (slow: loads it)."""
    if "speakers_seen_in_training" in results:
        return results["speakers_seen_in_training"]
    from zoo.data import DatasetNotFound, load_dataset

    try:
        return speakers_seen_in(load_dataset(results.get("dataset", "fsdd")))
    except DatasetNotFound:
        return "unknown (data set not on this machine)"


def _value(rows: list[dict[str, Any]], point: str, target: str, metric: str) -> dict | None:
    return next(
        (r for r in rows if (r["point"], r["target"], r["metric"]) == (point, target, metric)),
        None,
    )


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """One line per bottleneck: bound, decoder bits/dim, bitrate, codebook / active units."""
    out = []
    for b, run in results["runs"].items():
        ev = run.get("eval", {})
        usage = ""
        if "code_perplexity" in ev:
            usage = f"code perplexity {ev['code_perplexity']:.1f}"
        elif "active_units" in ev:
            usage = f"{ev['active_units']:.1f} active units"
        steps = run.get("train", {}).get("steps")
        out.append(
            [
                b,
                f"{ev['bits_per_dim']:.3f} ({run.get('estimate', '')})" if ev else "",
                f"{ev['decoder_bits_per_dim']:.3f}" if "decoder_bits_per_dim" in ev else "",
                f"{ev['bottleneck_bits_per_s']:,.0f}" if "bottleneck_bits_per_s" in ev else "",
                f"{ev['waveform_bits_per_s']:,.0f}" if "waveform_bits_per_s" in ev else "",
                usage,
                "" if steps is None else str(steps),
            ]
        )
    return out


def probe_rows(results: dict[str, Any]) -> list[list[str]]:
    """One line per (bottleneck, trained/untrained, point), then chance."""
    out = []
    baselines: dict[tuple[str, str], float] = {}
    for b, run in results["runs"].items():
        for kind, key in (("trained", "probes"), ("untrained", "untrained_probes")):
            rows = run.get(key)
            if not rows:
                continue
            for point in POINTS:
                cells = []
                for target, metric, _ in PROBES:
                    r = _value(rows, point, target, metric)
                    cells.append("" if r is None else f"{r['value']:.3f}")
                    if r is not None:
                        baselines[(target, metric)] = r["baseline"]
                out.append([b, kind, point, *cells])
    chance = [f"{baselines[(t, m)]:.3f}" if (t, m) in baselines else "" for t, m, _ in PROBES]
    out.append(["chance", "majority class", "", *chance])
    return out


SUMMARY_HEADERS = [
    "bottleneck",
    "bits/dim (estimate)",
    "decoder bits/dim given z",
    "latent bit/s",
    "waveform bit/s",
    "code usage",
    "steps",
]
PROBE_HEADERS = ["bottleneck", "model", "probe point", *(t for _, _, t in PROBES)]


def _md(headers: list[str], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(r) + " |" for r in body),
    ]


def probes_markdown(results: dict[str, Any], *, seen: str | None = None) -> str:
    """Both tables as markdown, with what they were measured on."""
    seen = speakers_seen(results) if seen is None else seen
    first = next(iter(results["runs"].values()))
    n = next((r for r in first.get("probes", []) if r["metric"] == "accuracy"), {})
    head = (
        f"WaveNet autoencoders on {results.get('dataset', '?')}, "
        f"{results.get('minutes_per_bottleneck', '?')} min of training per bottleneck "
        f"({results.get('threads', '?')} threads); probes: logistic regression (speaker, "
        f"digit) and ridge regression (log-mel) on frozen representations, fitted on "
        f"{n.get('n_train', '?')} training chunks, scored on {n.get('n_test', '?')} test chunks. "
        f"Probe test speakers seen in training: {seen}."
    )
    lines = [head, "", *_md(SUMMARY_HEADERS, summary_rows(results)), ""]
    lines += [*_md(PROBE_HEADERS, probe_rows(results)), ""]
    lines.append(
        "Chance: the majority class of the probe's training split, scored on its test split "
        "(mel R² 0 = predicting the training mean)."
    )
    return "\n".join(lines) + "\n"


def probes_figure(results: dict[str, Any], png: str | Path) -> Path:
    """One panel per probe: value at each probe point, a line per bottleneck (dashed:
    untrained), chance dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROBES), figsize=(4.0 * len(PROBES), 3.4), sharex=True)
    colours = dict(zip(results["runs"], ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for ax, (target, metric, title) in zip(axes, PROBES):
        baseline = None
        for b, run in results["runs"].items():
            for key, style in (("probes", "-"), ("untrained_probes", "--")):
                rows = [_value(run.get(key) or [], p, target, metric) for p in POINTS]
                if not any(rows):
                    continue
                ys = [r["value"] if r else float("nan") for r in rows]
                label = b + ("" if key == "probes" else " untrained")
                ax.plot(POINTS, ys, style, marker="o", color=colours.get(b), label=label)
                baseline = next(r["baseline"] for r in rows if r)
        if baseline is not None:
            ax.axhline(baseline, color="grey", linestyle=":", label="chance")
        ax.set_title(title)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"WaveNet autoencoder probes on {results.get('dataset', '?')}")
    fig.tight_layout()
    path = Path(png)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_probes(out: Path, results_path: str | Path | None = None) -> tuple[Path, Path] | None:
    """``probes.md`` and ``probes.png`` in ``out``; None when there are no results to show."""
    try:
        results = load_results(results_path)
    except FileNotFoundError:
        return None
    md = out / "probes.md"
    atomic_write_bytes(md, probes_markdown(results).encode())
    return md, probes_figure(results, out / "probes.png")
