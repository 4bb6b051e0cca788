"""Our LSTM LM beside PyTorch's ``word_language_model`` example on PTB words, in one process.

    python -m benchmarks.lstm_peers --peer-root DIR [--rounds 6 --block 50]

``DIR`` holds an unmodified ``word_language_model/model.py`` of pytorch/examples (its
``RNNModel``; never copied into this repository), e.g. extracted from a fetched mirror:
``git --git-dir=/work/.mirror/pytorch+examples/repo show HEAD:word_language_model/model.py``.

Both models take the example's defaults: LSTM, emsize 200, nhid 200, 2 layers, dropout 0.2,
untied, bptt 35, batch 20, its optimiser (plain SGD at lr 20 on the mean per-token loss, the
gradient norm clipped at 0.25) and its hidden-state carrying (``repackage_hidden``). Both see
the same batches in the same order: ours (``LSTMLM.train_batch_indices``: 20 contiguous lanes
of the training stream, 35 tokens per step). The peer is fed the same targets with their
previous tokens as inputs; on the first step, where ours reads its start token, the peer (whose
vocabulary has none) reads ``</s>``. Training alternates (``benchmarks.common.alternate``):
each call trains one side ``--block`` more steps and returns its tokens per second, so after
every round both have taken the same number of steps. Reported: the training throughput ratio
(median over rounds), the mean training loss over the last block, and the perplexity of the
first ``--valid-tokens`` tokens of the validation stream, state carried, each token after the
first scored given the ones before (the same quantity for both). The machine is shared: the
load average is recorded (``loadavg`` at the end; ``load_average``: the 1-minute figure at the
start and the end); absolute speeds are noisy, the ratio survives the load. Each block is timed
in CPU seconds of this process (``--clock cpu``, the default, one thread: the wall clock also
counts the time other processes hold the core). ``peers`` (the key the side-by-side table
reads) holds the throughput row, its note giving the losses and perplexities at that speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import alternate, n_params, peer_row, write_results
from zoo.data import load_dataset
from zoo.models.lstm import LSTMLM

CONFIG = {"emsize": 200, "nhid": 200, "nlayers": 2, "dropout": 0.2, "bptt": 35, "batch": 20}
LR, CLIP = 20.0, 0.25  # the example's defaults


def load_peer(root: Path):
    path = root / "word_language_model" / "model.py"
    if not path.exists():
        raise SystemExit(f"no {path}: give --peer-root the folder above word_language_model/")
    spec = importlib.util.spec_from_file_location("wlm_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sgd_step(params: list[torch.nn.Parameter], loss: torch.Tensor) -> None:
    """The example's update: backward, clip the global norm at 0.25, p -= lr * grad."""
    for p in params:
        p.grad = None
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, CLIP)
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-LR)


class Side:
    """One model trained block by block on the shared batch order."""

    def __init__(self, name, model, step_fn, chunks, batch, clock=time.process_time):
        self.name, self.model, self.step_fn, self.clock = name, model, step_fn, clock
        self.chunks, self.batch, self.step = chunks, batch, 0
        self.losses: list[float] = []
        self.lanes = ours_lanes(len(chunks), batch)

    def train_block(self, steps: int) -> float:
        self.model.train()
        t0 = self.clock()
        for _ in range(steps):
            idx = self.lanes(self.step)
            self.losses.append(self.step_fn(self.chunks[idx], self.step))
            self.step += 1
        return steps * self.batch * self.chunks.shape[1] / (self.clock() - t0)


def ours_lanes(n: int, batch: int):
    M = n // batch
    return lambda step: torch.arange(batch) * M + step % M


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-root", type=Path, default=os.environ.get("ZOO_PEERS"))
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--block", type=int, default=50)
    ap.add_argument("--valid-tokens", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load = [os.getloadavg()[0]]
    if args.peer_root is None:
        raise SystemExit("give --peer-root (or ZOO_PEERS)")
    torch.set_num_threads(1)
    peer_mod = load_peer(Path(args.peer_root))
    c = CONFIG
    ds = load_dataset("ptb_word", seq_len=c["bptt"])
    chunks = ds["train"].x.long()
    K = ds.spec.levels

    torch.manual_seed(args.seed)
    ours = LSTMLM(
        ds.spec, embed=c["emsize"], hidden=c["nhid"], layers=c["nlayers"], dropout=c["dropout"]
    )
    torch.manual_seed(args.seed)
    peer = peer_mod.RNNModel("LSTM", K, c["emsize"], c["nhid"], c["nlayers"], c["dropout"])
    ours_params = list(ours.parameters())
    peer_params = list(peer.parameters())

    def ours_step(x: torch.Tensor, step: int) -> float:
        ours.train_batch_indices(len(chunks), c["batch"], step, args.seed)  # carry or reset
        loss, _ = ours.loss(x)
        loss = loss / x.shape[1]  # nats per token, the example's loss
        sgd_step(ours_params, loss)
        return loss.item()

    peer_state = {"hidden": None}

    def peer_step(x: torch.Tensor, step: int) -> float:
        if step % (len(chunks) // c["batch"]) == 0:
            prev = torch.zeros(x.shape[0], 1, dtype=torch.long)  # </s>: the peer has no start
            peer_state["hidden"] = peer.init_hidden(x.shape[0])
        else:
            prev = peer_state["prev"]
        inp = torch.cat([prev, x[:, :-1]], 1).t().contiguous()  # [L, B], the example's layout
        hidden = tuple(h.detach() for h in peer_state["hidden"])  # repackage_hidden
        out, hidden = peer(inp, hidden)
        loss = F.nll_loss(out, x.t().reshape(-1))
        sgd_step(peer_params, loss)
        peer_state["hidden"], peer_state["prev"] = hidden, x[:, -1:]
        return loss.item()

    sides = {
        "ours": Side("ours", ours, ours_step, chunks, c["batch"], clock),
        "peer": Side("peer", peer, peer_step, chunks, c["batch"], clock),
    }
    speeds = alternate(
        {name: (lambda s=s: s.train_block(args.block)) for name, s in sides.items()},
        rounds=args.rounds,
    )

    valid = ds.meta["streams"]["valid"][: args.valid_tokens].long()

    @torch.no_grad()
    def valid_ppl_ours() -> float:
        ours.eval()
        lp, _ = ours._token_log_probs(valid[None, 1:], None, valid[:1])
        return math.exp(-float(lp.double().mean()))

    @torch.no_grad()
    def valid_ppl_peer() -> float:
        peer.eval()
        out, _ = peer(valid[:-1, None], peer.init_hidden(1))
        return math.exp(float(F.nll_loss(out, valid[1:]).double()))

    steps = sides["ours"].step
    last = {k: sum(s.losses[-args.block :]) / args.block for k, s in sides.items()}
    vp = {"ours": valid_ppl_ours(), "peer": valid_ppl_peer()}
    params = (n_params(ours), n_params(peer))
    rows = [
        peer_row(
            "training throughput, PTB words (tokens/s)",
            "pytorch/examples word_language_model",
            speeds["ours"],
            speeds["peer"],
            "tokens/s",
            higher_is_better=True,
            params=params,
        ),
        peer_row(
            f"training loss, mean of steps {steps - args.block + 1}-{steps} (nats/token)",
            "pytorch/examples word_language_model",
            last["ours"],
            last["peer"],
            "nats",
            higher_is_better=False,
            note="same batches in the same order",
        ),
        peer_row(
            f"validation perplexity after {steps} steps (first {args.valid_tokens} tokens)",
            "pytorch/examples word_language_model",
            vp["ours"],
            vp["peer"],
            "ppl",
            higher_is_better=False,
        ),
    ]
    speed_row = {
        **rows[0],
        "note": (
            f"at equal loss: steps {steps - args.block + 1}-{steps} {last['ours']:.3f} / "
            f"{last['peer']:.3f} nats per token, validation perplexity {vp['ours']:.1f} / "
            f"{vp['peer']:.1f} (ours / peer), same batches in the same order"
        ),
    }
    path = write_results(
        "lstm_peers",
        {
            "command": "python -m benchmarks.lstm_peers " + " ".join(sys.argv[1:]),
            "config": {**CONFIG, "lr": LR, "clip": CLIP, "optimizer": "sgd (the example's)"},
            "steps": steps,
            "rounds": args.rounds,
            "block": args.block,
            "clock": "CPU seconds of this process" if args.clock == "cpu" else "wall",
            "loadavg": os.getloadavg(),
            "load_average": [*load, os.getloadavg()[0]],
            "cpus": os.cpu_count(),
            "train_loss_curves": {k: s.losses for k, s in sides.items()},
            "rows": rows,
            "peers": [speed_row],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
