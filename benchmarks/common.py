"""What the benchmarks share: timing a training step, writing a results file."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch


def train_images_per_second(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    params: Iterable[torch.nn.Parameter],
    x: torch.Tensor,
    *,
    steps: int,
    warmup: int,
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
    lr: float = 1e-3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Images per second of full training steps (forward, loss, backward, optimizer step) on
    the batch ``x``: ``warmup`` untimed steps, then the mean of ``steps`` timed ones.
    ``clock``: wall time by default; ``time.process_time`` (CPU seconds of this process) for
    single-threaded runs on a shared machine."""
    opt = optimizer(list(params), lr=lr)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = clock()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return x.shape[0] * steps / (clock() - t0)


def write_results(name: str, fields: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/NAME.json``: when, where and with what it ran, then ``fields``."""
    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    record = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def carried_rows(name: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The ``peers`` rows of the committed ``benchmarks/results/NAME.json`` that ``keep``
    selects, each marked ``carried_from`` with that file's date: for a run that skips part of
    a benchmark (say, a slow peer), so its lines stay in the table with their own date."""
    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())
    out = []
    for row in record.get("peers", []):
        if keep(row):
            out.append({**row, "carried_from": row.get("carried_from", record.get("date"))})
    return out


# ------------------------------------------------------------------ peers, side by side
QUOTED = "quoted (2026-11-25, ../shared/REFERENCE_FIGURES.md)"


def alternate(runs: dict[str, Callable[[], float]], rounds: int = 3) -> dict[str, list[float]]:
    """Call each measurement in turn, ``rounds`` times round-robin (the order reversed every
    other round, so neither side always runs first); every figure of each, in call order."""
    if rounds < 3:
        raise ValueError(f"rounds must be >= 3 for a median of alternating runs, got {rounds}")
    got: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            got[name].append(runs[name]())
    return got


def peer_row(
    what: str,
    peer: str,
    ours: float | list[float],
    theirs: float | list[float],
    unit: str,
    *,
    higher_is_better: bool,
    source: str = "measured-here",
    params: tuple[int, int] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One line of the peer table: medians of ``ours`` and ``theirs`` (lists of alternating
    rounds, or single figures), the speed-up of ours (> 1: ours is better), printed as
    ``what: ours X / peer Y / ratio Z``, and returned as a dict for ``write_results``."""
    med = {
        k: statistics.median(v) if isinstance(v, list) else v
        for k, v in (("ours", ours), ("peer", theirs))
    }
    ratio = med["ours"] / med["peer"] if higher_is_better else med["peer"] / med["ours"]
    p = f"; parameters ours {params[0]:,}, peer {params[1]:,}" if params else ""
    print(
        f"{what}: ours {med['ours']:.4g} {unit} / {peer} {med['peer']:.4g} {unit} / "
        f"ratio {ratio:.2f}x ({source}{p}){' ' + note if note else ''}"
    )
    return {
        "what": what,
        "peer": peer,
        "ours": med["ours"],
        "theirs": med["peer"],
        "ours_rounds": ours if isinstance(ours, list) else None,
        "peer_rounds": theirs if isinstance(theirs, list) else None,
        "unit": unit,
        "higher_is_better": higher_is_better,
        "ratio": ratio,
        "source": source,
        "params": {"ours": params[0], "peer": params[1]} if params else None,
        "note": note,
    }


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def quoted_row(
    what: str,
    peer: str,
    run_ours: Callable[[], float],
    quoted: float,
    unit: str,
    *,
    higher_is_better: bool,
    why: str,
) -> dict[str, Any]:
    """The fallback when a peer cannot run here: say why (one line), time ours (3 runs) and put
    the peer's quoted figure beside it, labelled as quoted."""
    print(why)
    ours = [run_ours() for _ in range(3)]
    return peer_row(
        what, peer, ours, quoted, unit, higher_is_better=higher_is_better, source=QUOTED, note=why
    )


def cannot_import(peer: str, e: Exception) -> str:
    """One line saying why a peer cannot run here (missing, or broken with this torch)."""
    return f"{peer} does not import ({type(e).__name__}: {e}); `make peers` installs the peers"
