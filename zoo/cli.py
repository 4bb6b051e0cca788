"""The `zoo` command: list | info | train | check | eval | sample | leaderboard | bench |
probe | compress | decompress.

Exit codes: 0 success; 2 usage or input error (``zoo.errors.ZooInputError``: one line on
stderr saying what was wrong and what to do); 1 a run that failed on its own (a diverged
loss: one line) or a bug in zoo (any other exception: its traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.errors import ZooInputError

# Piped or captured output gets a wide table rather than rich's 80-column default.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160, log_path=False)
out = Console(width=None if sys.stdout.isatty() else 160)


class UsageError(ZooInputError):
    """A command line that cannot work as given."""


# ---------------------------------------------------------------------- progress
def progress_enabled(quiet: bool = False) -> bool:
    """Whether to draw progress bars: never with ``--quiet`` or ``ZOO_PROGRESS=0``, always
    with ``ZOO_PROGRESS=1``, else only when stderr is a terminal (not in logs or pipes). Bars
    only show what the trainer and evaluator report: they never change a figure."""
    env = os.environ.get("ZOO_PROGRESS", "").strip()
    if quiet or env == "0":
        return False
    return env == "1" or console.is_terminal


class Progress:
    """Rich progress bar fed by the trainer's events (loss, bits/dim, examples/s, ETA) and,
    through :meth:`scoring`, by the evaluator's batches (evaluation, IWAE-k scoring)."""

    def __init__(self, enabled: bool = True, quiet: bool = False, label: str = "") -> None:
        from rich.progress import (
            BarColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self.enabled, self.quiet, self.label = enabled, quiet, label
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.task = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == "start":
            self.bar.start()
        elif kind == "phase":
            what = f"{self.label} {event['phase']}" if self.label else event["phase"]
            self.task = self.bar.add_task(what, total=event.get("max_steps"), info="")
        elif kind == "step" and self.task is not None:
            info = (
                f"loss {event['loss']:.2f}  {event['bits_per_dim']:.3f} bits/dim  "
                f"{event['examples_per_s']:.0f} ex/s"
            )
            self.bar.update(self.task, completed=event["phase_step"], info=info)
        elif kind == "valid" and not self.quiet:  # a line in logs too, bar or no bar
            self.bar.console.log(
                f"step {event['step']}: valid {event['valid_bits_per_dim']:.4f} bits/dim"
            )
        elif kind == "end":
            self.bar.stop()

    def scoring(self, description: str) -> Any:
        """A ``progress(done, total)`` callback for ``evaluate``: examples scored so far."""
        task = None

        def update(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                self.bar.start()
                task = self.bar.add_task(description, total=total, info="")
            self.bar.update(task, completed=done)
            if done >= total:
                self.bar.stop()

        return update


# ---------------------------------------------------------------------- commands
def entry_conditioning(hparams: dict[str, Any]) -> list[str]:
    """The labels an entry's (full) hyper-parameters ask to condition on: ``conditional``
    (class), ``global_labels`` (WaveNet) or ``speaker_conditioning`` (WaveNet autoencoder).
    Read from the entry alone, without loading its data set: a label the data lacks is refused
    (or, for the speaker, dropped) when the model is built."""
    labels: list[str] = []
    if hparams.get("conditional"):
        labels.append("class")
    wavenet = hparams.get("global_labels") or ()
    labels += [wavenet] if isinstance(wavenet, str) else [str(g) for g in wavenet]
    if hparams.get("speaker_conditioning") and "speaker" not in labels:
        labels.append("speaker")
    return labels


# the modality of a data set, from the loader module that makes it
_MODALITY = {
    "zoo.data.images": "image",
    "zoo.data.text": "text",
    "zoo.data.speech": "audio",
    "zoo.data.words": "audio",
}


def list_rows(names: list[str]) -> list[dict[str, Any]]:
    """One row per registry entry: name, family, estimate, modality, data set, conditioning
    labels, suites and the paper's figure (``zoo list --format json``)."""
    from zoo.data import DATASETS
    from zoo.engine.checkpoint import full_hparams
    from zoo.engine.registry import get_entry

    rows = []
    for n in names:
        e = get_entry(n)
        cls = e.model_class()
        rows.append(
            {
                "name": n,
                "family": cls.family,
                # the estimate the entry is ranked by: IWAE-k where it declares k > 1
                "estimate": f"iwae-{e.eval_k}"
                if e.eval_k > 1 and cls.estimate in ("elbo", "iwae")
                else cls.estimate,
                "modality": _MODALITY.get(DATASETS.get(e.dataset, "").partition(":")[0])
                or "/".join(cls.modalities),
                "dataset": e.dataset,
                "conditional": entry_conditioning(full_hparams(e.cls_path, e.hparams)),
                "suites": list(e.suites),
                "paper": e.paper,
            }
        )
    return rows


def cmd_list(a: argparse.Namespace) -> int:
    from rich.table import Table

    from zoo.engine.registry import list_models

    names = list_models(a.pattern or "*")
    if not names:
        console.print(f"zoo: no model matches {a.pattern!r} (see `zoo list`)")
    if a.json or a.format == "names":
        print(json.dumps(names))
    elif a.format == "json":
        print(json.dumps(list_rows(names), indent=2))
    elif names:
        t = Table(title=f"zoo models ({len(names)})")
        for col in ("name", "family", "estimate", "modality", "data set", "conditional"):
            t.add_column(col)
        t.add_column("suites")
        t.add_column("paper")
        for r in list_rows(names):
            paper = f"{r['paper']['value']} {r['paper']['unit']}" if r["paper"] else ""
            t.add_row(
                r["name"],
                r["family"],
                r["estimate"],
                r["modality"],
                r["dataset"],
                ", ".join(r["conditional"]) or "-",
                ", ".join(r["suites"]) or "-",
                paper,
            )
        out.print(t)
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from zoo.engine.registry import get_entry

    e = get_entry(a.name)
    info = {
        "name": e.name,
        "class": e.cls_path,
        "family": e.family,
        "dataset": e.dataset,
        "data": e.data,
        "hparams": e.hparams,
        "train": e.train,
        "paper": e.paper,
        "suites": list(e.suites),
        "description": e.description,
    }
    cls = e.model_class()
    info["estimate"] = cls.estimate
    info["modalities"] = list(cls.modalities)
    print(json.dumps(info, indent=2))
    return 0


def _options(a: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The command line's options ``names`` as keyword arguments of the same names."""
    return {name: getattr(a, name) for name in names}


def _train_overrides(a: argparse.Namespace) -> dict[str, Any]:
    names = "max_steps max_minutes device seed batch_size lr checkpoint_every checkpoint_minutes"
    modes = {None: None, "true": True, "false": False, "auto": "auto"}
    return {**_options(a, *names.split()), "compile": modes[a.compile]}


def _parse_kv(items: list[str] | None, what: str) -> dict[str, Any]:
    import yaml

    result = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"{what} must be KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        result[k] = yaml.safe_load(v)
    return result


def cmd_train(a: argparse.Namespace) -> int:
    from zoo.engine.runs import resume_run, train_run

    progress = Progress(enabled=progress_enabled(a.quiet), quiet=a.quiet)
    if a.resume:
        run = resume_run(
            a.resume, train=_train_overrides(a), callback=progress, command=a.invocation
        )
    else:
        if not a.name:
            raise UsageError("train needs a model NAME (see `zoo list`) or --resume RUN")
        run = train_run(
            a.name,
            dataset=a.dataset,
            run_dir=a.run_dir,
            train=_train_overrides(a),
            hparams=_parse_kv(a.set, "--set"),
            data_options=_parse_kv(a.data, "--data"),
            callback=progress,
            command=a.invocation,
        )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports the run
        print(run)
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from rich.table import Table

    from zoo.engine.checks import check_entry

    results = check_entry(a.name, _parse_kv(a.set, "--set"))
    t = Table(title=f"zoo check {a.name}")
    for col in ("modality", "check", "result", "detail"):
        t.add_column(col)
    for r in results:
        style = {"pass": "green", "fail": "bold red"}.get(r.status)
        t.add_row(r.modality, r.check, r.status.upper(), r.detail, style=style)
    out.print(t)
    failed = [r for r in results if not r.ok]
    out.print(
        f"{a.name}: {len(failed)} of {len(results)} checks failed"
        if failed
        else f"{a.name}: all {len(results)} checks passed"
    )
    return 1 if failed else 0


def cmd_eval(a: argparse.Namespace) -> int:
    from zoo.engine.runs import eval_run
    from zoo.leaderboard import Leaderboard

    what = f"scoring {a.split} (IWAE-{a.iwae_k})" if (a.iwae_k or 1) > 1 else f"scoring {a.split}"
    row = eval_run(
        a.run,
        k=a.iwae_k,
        record=lambda row: Leaderboard(a.db).add(row),
        progress=Progress(enabled=progress_enabled(a.quiet)).scoring(what),
        command=a.invocation,
        **_options(a, "split", "max_examples", "device"),
    )
    if a.json:
        print(json.dumps(row, indent=2, default=str))
    else:
        line = (
            f"{row['model']} on {row['dataset']}/{row['split']}: {row['bits_per_dim']:.4f} "
            f"bits/dim ({row['estimate']}), {row['nats_per_example']:.2f} nats per example"
        )
        for key in ("perplexity", "bits_per_second"):
            if row.get(key) is not None:
                line += f", {key} {row[key]:.4g}"
        out.print(line)
        for k, v in (row.get("extra") or {}).items():
            out.print(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    import torch

    from zoo.engine.runs import sample_run

    labels = _parse_kv(a.cond, "--cond")
    bad = {k: v for k, v in labels.items() if not isinstance(v, int) or isinstance(v, bool)}
    if bad:
        raise UsageError(f"--cond takes LABEL=ID with an integer ID, got {bad}")
    cond = {k: torch.full((a.n,), v) for k, v in labels.items()}
    paths = sample_run(a.run, a.n, out=a.out, seed=a.seed, device=a.device, cond=cond or None)
    for p in paths[:5]:
        print(p)
    if len(paths) > 5:
        print(f"... and {len(paths) - 5} more in {paths[0].parent}")
    return 0


def cmd_leaderboard(a: argparse.Namespace) -> int:
    from zoo.leaderboard import Leaderboard, views

    if a.format == "probes":  # the WaveNet-autoencoder experiment (benchmarks/wavenet_ae_fsdd)
        from zoo.bench import probes

        results = probes.load_results(a.probes)
        print(probes.probes_markdown(results), end="")
        if a.figure:
            print(f"\n![WaveNet-autoencoder probes]({probes.probes_figure(results, a.figure)})")
        return 0
    rows = Leaderboard(a.db, create=False).rows(dataset=a.dataset, split=a.split, suite=a.suite)
    if a.format == "table":
        out.print(views.render_rich(rows))
    elif a.format == "matrix":
        out.print(views.render_matrix_rich(rows))
    elif a.format == "markdown":  # pasted verbatim into the README: it says where it is from
        header = views.header_line(rows, a.suite)
        print(f"{header}\n\n{views.matrix_markdown(rows)}\n{views.to_markdown(rows)}", end="")
    elif a.format == "csv":
        print(views.to_csv(rows), end="")
    else:
        print(views.to_json(rows), end="")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from zoo.bench import run_suite

    options = _options(a, "max_steps", "max_eval", "samples", "db", "runs", "report", "only")
    bars = progress_enabled(a.quiet)
    report = run_suite(
        a.suite,
        **options,
        device=a.device,
        log=lambda msg: console.log(msg),
        progress=lambda name: Progress(bars, quiet=True, label=name),
        scoring=lambda name: Progress(bars, quiet=True).scoring(f"{name} scoring"),
        command=a.invocation,
    )
    from zoo.leaderboard import Leaderboard, views

    rows = Leaderboard(a.db).rows(suite=a.suite)
    out.print(views.render_rich(rows, title=f"zoo bench {a.suite}"))
    out.print(views.render_matrix_rich(rows))
    from zoo.bench import load_status, suite_runs_dir

    entries = load_status(suite_runs_dir(a.suite, a.runs)).get("entries", {})
    failed = sorted(name for name, st in entries.items() if st["status"] == "failed")
    print(report)
    if failed:
        console.print(f"zoo: {len(failed)} entries failed ({', '.join(failed)}); see {report}")
        return 1
    return 0


def cmd_probe(a: argparse.Namespace) -> int:
    from zoo.probing import probe_run

    rows = probe_run(a.run, max_examples=a.max_examples)
    from rich.table import Table

    t = Table(title=f"probes of {a.run}")
    for col in ("point", "target", "metric", "value"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["point"], r["target"], r["metric"], f"{r['value']:.4f}")
    out.print(t)
    return 0


# ---------------------------------------------------------------------- parser
def cmd_compress(a: argparse.Namespace) -> int:
    from zoo.coding import compress

    r = compress(a.run, a.inputs, a.out, split=a.split, batch=a.batch, lanes=a.lanes)
    note = "  (audio: mono, resampled, mu-law quantised: that step is lossy)"
    what = "net bits-back rate" if r["coding"]["coder"] == "bits-back-ans" else "-log2 p"
    out.print(
        f"{r['archive']}: {r['bytes']} bytes for {r['symbols']} symbols "
        f"({r['bits_per_symbol']:.4f} bits/symbol; model {what} = {r['model_bits']:.0f} bits, "
        f"header {r['header_bytes']} bytes)" + (note if r["lossy_audio"] else "")
    )
    e = r["escapes"]
    if e["count"]:
        out.print(
            f"  {e['count']} tokens outside the vocabulary ({e['distinct']} distinct) coded as "
            f"escapes: {e['bits']:.0f} bits ({e['unk_bits']:.0f} for <unk> under the model, "
            f"{e['text_bits']:.0f} for their text), included above"
        )
    return 0


def cmd_decompress(a: argparse.Namespace) -> int:
    from zoo.coding import decompress

    if not Path(a.archive).is_file():
        raise ZooInputError(f"no archive at {a.archive}: give a file written by `zoo compress`")
    r = decompress(a.archive, a.out, run=a.run)
    out.print(f"{', '.join(r['written'])}: {r['symbols']} symbols decoded")
    return 0


def cmd_experiment(a: argparse.Namespace) -> int:
    from zoo.experiments import speech

    budget = speech.SMOKE if a.smoke else speech.FULL
    if a.steps is not None:
        budget = speech.smaller(budget, steps=a.steps)
    r = speech.run(a.out, smoke=a.smoke, device=a.device, seed=a.seed, dataset=a.dataset,
                   data_options=_parse_kv(a.data, "--data"), budget=budget)  # fmt: skip
    out.print(f"{a.out}/results.json: {len(r['probes'])} probe rows, {len(r['abx'])} ABX rows")
    return 0


FILES_HELP = """\
where zoo writes (zoo.core.paths; a specific variable wins over ZOO_HOME):
  ZOO_HOME         zoo's home (default: $XDG_CACHE_HOME/zoo, i.e. ~/.cache/zoo)
  ZOO_RUNS         run folders (default: $ZOO_HOME/runs; `zoo train --run-dir` for one run)
  ZOO_LEADERBOARD  the leaderboard (default: $ZOO_HOME/leaderboard.db; --db for one command)
  ZOO_CACHE        caches, e.g. synthesised speech (default: $ZOO_HOME)
  reports          `zoo bench` reports go to $ZOO_HOME/reports/SUITE (--report)
  ZOO_DATA         real data sets (default: a checkout's ../shared/datasets, else
                   $XDG_DATA_HOME/zoo/datasets, i.e. ~/.local/share/zoo/datasets)
  ZOO_REGISTRY     extra registry files added to the catalogue (several: os.pathsep)
  ZOO_PROGRESS     0: no progress bars; 1: bars even when stderr is not a terminal
"""


def _shared(*names: str, **options: Any) -> argparse.ArgumentParser:
    """A parent parser holding one argument that several commands take alike."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*names, **options)
    return parent


def build_parser() -> argparse.ArgumentParser:
    run = _shared("run", help="a run folder (the one `zoo train` printed)")
    db = _shared(
        "--db",
        help="leaderboard file (default: $ZOO_LEADERBOARD, else $ZOO_HOME/leaderboard.db; "
        "~/.cache/zoo/leaderboard.db)",
    )
    device = _shared("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p = argparse.ArgumentParser(
        prog="zoo",
        description="Likelihood-based generative models, compared in bits/dim.",
        epilog=FILES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    from zoo import __version__

    p.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list registry entries")
    s.add_argument("pattern", nargs="?", help="shell pattern, e.g. 'pixel*'")
    s.add_argument("--json", action="store_true", help="print the names as a JSON list")
    s.add_argument(
        "--format",
        default="table",
        choices=("table", "json", "names"),
        help="table (default); json: one object per entry (family, estimate, modality, data "
        "set, conditional, suites, paper); names: a JSON list of names (as --json)",
    )
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("info", help="show one registry entry")
    s.add_argument("name", help="a registry name (see `zoo list`)")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("train", help="train a registry entry; prints the run folder last")
    s.add_argument("name", nargs="?", help="a registry name (see `zoo list`); omit with --resume")
    s.add_argument("--dataset", help="data set name (default: the entry's)")
    s.add_argument(
        "--run-dir", help="run folder (default: $ZOO_RUNS/NAME-TIME-ID, ~/.cache/zoo/runs/...)"
    )
    s.add_argument("--resume", metavar="RUN", help="continue a run from its last checkpoint")
    s.add_argument("--max-steps", type=int, help="gradient steps (default: the entry's budget)")
    s.add_argument(
        "--max-minutes", type=float, help="also stop after N minutes of wall time (default: none)"
    )
    s.add_argument(
        "--batch-size",
        type=int,
        help="examples per step, at most the training split's size; count-based models (n-gram, a"
        " counted independent model) fit on all of it and ignore this (default: the entry's)",
    )
    s.add_argument("--lr", type=float, help="learning rate, > 0 (default: the entry's)")
    s.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N | mps")
    s.add_argument("--seed", type=int, help="random seed (default: the entry's, else 0)")
    s.add_argument("--checkpoint-every", type=int, metavar="K", help="checkpoint every K steps")
    s.add_argument(
        "--checkpoint-minutes", type=float, metavar="N", help="and every N minutes of wall time"
    )
    s.add_argument(
        "--compile",
        nargs="?",
        const="true",
        choices=["true", "false", "auto"],
        help="torch.compile the training objective: true (bare --compile), false, or auto "
        "(the default: where the family declares it pays; ZOO_COMPILE=0/1 overrides)",
    )
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyper-parameter")
    s.add_argument("--data", action="append", metavar="KEY=VALUE", help="data set option")
    s.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar (also: ZOO_PROGRESS=0; bars show only on a terminal unless "
        "ZOO_PROGRESS=1)",
    )
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser(
        "check", help="the zoo's own checks of an entry: contract, normalisation (exit 0 / 1)"
    )
    s.add_argument("name", help="a registry name (see `zoo list`)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyper-parameter")
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser(
        "eval", parents=[run, db, device], help="evaluate a run and add a leaderboard row"
    )
    s.add_argument(
        "--split", default="test", choices=("train", "valid", "test"), help="split to score"
    )
    s.add_argument(
        "--iwae-k",
        type=int,
        help="importance samples (latent models; default: the entry's declared eval k, else 1)",
    )
    s.add_argument("--max-examples", type=int, help="score only the first N examples")
    s.add_argument("--json", action="store_true", help="print the row as JSON")
    s.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar (also: ZOO_PROGRESS=0)"
    )
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser(
        "sample", parents=[run, device], help="draw samples from a run (PNG grid, WAV or text)"
    )
    s.add_argument("-n", type=int, default=16, help="how many samples (default: 16)")
    s.add_argument("--out", help="folder (default: RUN/samples)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--cond", action="append", metavar="LABEL=ID", help="e.g. class=3")
    s.set_defaults(fn=cmd_sample)

    s = sub.add_parser("leaderboard", parents=[db], help="show the results")
    s.add_argument("--dataset", help="only rows on this data set")
    s.add_argument("--split", help="only rows on this split")
    s.add_argument("--suite", help="only rows of this suite (quick | standard | paper)")
    s.add_argument(
        "--format",
        default="table",
        choices=("table", "markdown", "csv", "json", "matrix", "probes"),
        help="output format (default: table); probes: the WaveNet-autoencoder bitrate and "
        "probe tables (not from the database)",
    )
    s.add_argument("--probes", help="probe results JSON (default: benchmarks/results/...)")
    s.add_argument("--figure", help="with --format probes: also draw the figure to this PNG")
    s.set_defaults(fn=cmd_leaderboard)

    s = sub.add_parser(
        "bench", parents=[db, device], help="run a benchmark suite (quick | standard | paper)"
    )
    s.add_argument("suite", choices=("quick", "standard", "paper"), help="which suite to run")
    s.add_argument(
        "--max-steps", type=int, help="cap every entry's step budget (a smoke run; default: none)"
    )
    s.add_argument(
        "--max-eval", type=int, metavar="N", help="score the first N test examples (test[:N])"
    )
    s.add_argument("--samples", type=int, metavar="N", help="examples drawn per entry (0: none)")
    s.add_argument("--only", help="shell pattern: run only matching entries")
    s.add_argument(
        "--runs",
        help="folder for the suite's runs (default: $ZOO_RUNS/bench-SUITE, "
        "~/.cache/zoo/runs/bench-SUITE)",
    )
    s.add_argument(
        "--report", help="report folder (default: $ZOO_HOME/reports/SUITE, ~/.cache/zoo/...)"
    )
    s.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (also: ZOO_PROGRESS=0)"
    )
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser(
        "probe", parents=[run], help="probing classifiers on a WaveNet autoencoder run"
    )
    s.add_argument("--max-examples", type=int, help="use only the first N examples per split")
    s.set_defaults(fn=cmd_probe)

    s = sub.add_parser(
        "compress", parents=[run], help="losslessly compress files or a split with a run's model"
    )
    s.add_argument("inputs", nargs="*", help="text file, PNG / .npy images, WAV audio")
    s.add_argument("-o", "--out", required=True, help="archive to write")
    s.add_argument("--split", help="a split of the run's data: train, valid, test or test[:N]")
    s.add_argument("--batch", type=int, default=512, help="examples coded together")
    s.add_argument("--lanes", type=int, default=64, help="text streams coded together (n-gram)")
    s.set_defaults(fn=cmd_compress)

    s = sub.add_parser("experiment", help="run a whole experiment (speech: Chorowski et al.)")
    s.add_argument("name", choices=["speech"], help="the experiment to run")
    s.add_argument("--out", required=True, help="folder for results.json, report.md, figures")
    s.add_argument("--smoke", action="store_true", help="the tiny budget (minutes, for CI)")
    s.add_argument("--device", default="cpu", help="cpu | cuda")
    s.add_argument("--seed", type=int, default=0, help="seed of every model, probe and draw")
    s.add_argument("--steps", type=int, help="training steps per model (default: the budget's)")
    s.add_argument(
        "--dataset",
        help="spoken_words (default) | timit | aligned_folder | synthetic: any phone-aligned "
        "speech with speaker and gender labels",
    )
    s.add_argument("--data", action="append", metavar="KEY=VALUE",
                   help="data set option, e.g. root=/path/to/corpus")  # fmt: skip
    s.set_defaults(fn=cmd_experiment)

    s = sub.add_parser("decompress", help="rebuild the inputs of a zoo compress archive")
    s.add_argument("archive", help="a .zc file written by `zoo compress`")
    s.add_argument("-o", "--out", required=True, help="file (or folder for several files)")
    s.add_argument("--run", help="the run that made the archive (default: the one it names)")
    s.set_defaults(fn=cmd_decompress)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    a = parser.parse_args(argv)
    a.invocation = "zoo " + shlex.join(argv)  # the provenance of the runs and rows it makes
    logging.basicConfig(
        level=logging.INFO if a.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    from zoo.engine.trainer import TrainingDiverged

    try:
        return a.fn(a)
    except TrainingDiverged as e:
        print(f"zoo: training diverged: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except ZooInputError as e:  # anything else is a bug in zoo: its traceback, exit 1
        print(f"zoo: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
