"""Where a training step's time goes, ours beside the peer, on the side-by-side benchmarks'
exact configurations: torch.profiler's self CPU time per operator, summed into categories.

Cases (the same builds as the throughput benchmarks): ``vae_conv`` and ``vae_mlp``
(``benchmarks.vae_throughput``, pythae's VAE around copies of our networks), ``vqvae``
(``benchmarks.vqvae_throughput``, pythae's VQVAE), ``lstm`` (``benchmarks.lstm_peers``'s
models and update on a random batch of PTB-sized ids; needs ``--peer-root``, else skipped).
One thread; ``--steps`` profiled steps per side after two untimed ones.

Written to ``benchmarks/results/step_profile.json``: per case and side, ``ms_per_step`` (self
CPU time under the profiler, which adds its own overhead: compare shares, not speeds),
``share`` (fraction of the step per category: ``conv`` convolutions forward and backward,
``matmul`` mm/addmm/bmm, ``rnn`` oneDNN LSTM layers, ``softmax_loss`` log-softmax, NLL,
log-sigmoid, BCE, MSE and their backwards, ``elementwise_alloc`` fill/copy/zeros/add/ReLU and
other elementwise work, ``other``), and ``top`` (the ten largest operators, ms per step).

    python -m benchmarks.step_profile [--peer-root DIR] [--only vae_conv lstm] [--steps 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from benchmarks import pythae_peer
from benchmarks.common import write_results
from zoo.core.spec import DataSpec

CATEGORIES = {
    "conv": ("convolution", "conv2d", "conv_transpose"),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"),
    "rnn": ("rnn",),
    "softmax_loss": ("softmax", "nll_loss", "log_sigmoid", "cross_entropy", "mse_loss"),
    "elementwise_alloc": (
        "fill_",
        "copy_",
        "zero",
        "add",
        "mul",
        "threshold",
        "clamp",
        "relu",
        "tanh",
        "sub",
        "div",
        "sqrt",
        "lerp",
        "exp",
        "log",
        "where",
        "neg",
        "bernoulli",
        "sum",
        "norm",
    ),
}


def category(name: str) -> str:
    low = name.lower()
    for cat, keys in CATEGORIES.items():
        if any(k in low for k in keys):
            return cat
    return "other"


def profile_step(step: Callable[[], None], steps: int) -> dict:
    step()
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if not e.key.startswith("Optimizer.")]
    total = sum(e.self_cpu_time_total for e in events)
    share: dict[str, float] = {}
    for e in events:
        c = category(e.key)
        share[c] = share.get(c, 0.0) + e.self_cpu_time_total / total
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:10]
    return {
        "ms_per_step": total / steps / 1000,
        "share": {k: round(v, 4) for k, v in sorted(share.items(), key=lambda kv: -kv[1])},
        "top": {e.key: round(e.self_cpu_time_total / steps / 1000, 3) for e in top},
    }


def adam_step(loss_fn, params, x, lr: float) -> Callable[[], None]:
    opt = torch.optim.Adam(list(params), lr=lr)

    def step() -> None:
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def vae_case(name: str, steps: int) -> dict:
    from benchmarks.vae_throughput import CASES
    from zoo.models.vae import VAE

    hp, side, batch = CASES[name]
    torch.manual_seed(0)
    ours = VAE(DataSpec("image", (1, side, side), levels=2, name="r"), **hp).train()
    x = torch.randint(0, 2, (batch, 1, side, side), generator=torch.Generator().manual_seed(0))
    peer = pythae_peer.vae(ours, (1, side, side)).train()
    return {
        "ours": profile_step(
            adam_step(lambda x: ours.loss(x)[0], ours.parameters(), x, 1e-3), steps
        ),
        "peer": profile_step(
            adam_step(pythae_peer.loss_fn(peer), peer.parameters(), x.float(), 1e-3), steps
        ),
    }


def vqvae_case(steps: int) -> dict:
    from benchmarks.vqvae_throughput import CONFIG
    from zoo.models.vqvae import VQVAE

    torch.manual_seed(0)
    spec = DataSpec("image", (3, 32, 32), levels=256, name="r")
    ours = VQVAE(spec, head="logistic", **CONFIG).train()
    x = torch.randint(0, 256, (128, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    peer = pythae_peer.vqvae(ours, (3, 32, 32)).train()
    return {
        "ours": profile_step(
            adam_step(lambda x: ours.loss(x)[0], ours.parameters(), x, 2e-4), steps
        ),
        "peer": profile_step(
            adam_step(pythae_peer.loss_fn(peer), peer.parameters(), x.float() / 127.5 - 1, 2e-4),
            steps,
        ),
    }


def lstm_case(root: Path, steps: int) -> dict:
    from benchmarks.lstm_peers import CONFIG, sgd_step
    from zoo.models.lstm import LSTMLM

    spec = importlib.util.spec_from_file_location(
        "wlm_model", root / "word_language_model" / "model.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c, K = CONFIG, 10000
    torch.manual_seed(0)
    ours = LSTMLM(
        DataSpec("text", (c["bptt"],), levels=K, name="ptb-sized"),
        embed=c["emsize"],
        hidden=c["nhid"],
        layers=c["nlayers"],
        dropout=c["dropout"],
    ).train()
    peer = mod.RNNModel("LSTM", K, c["emsize"], c["nhid"], c["nlayers"], c["dropout"]).train()
    x = torch.randint(0, K, (c["batch"], c["bptt"]), generator=torch.Generator().manual_seed(0))
    op, pp = list(ours.parameters()), list(peer.parameters())
    hidden = [peer.init_hidden(c["batch"])]

    def ours_step() -> None:
        loss, _ = ours.loss(x)
        sgd_step(op, loss / x.shape[1])

    def peer_step() -> None:
        h = tuple(t.detach() for t in hidden[0])
        out, hidden[0] = peer(x.t().contiguous(), h)
        sgd_step(pp, F.nll_loss(out, x.t().reshape(-1)))

    return {"ours": profile_step(ours_step, steps), "peer": profile_step(peer_step, steps)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-root", type=Path, default=os.environ.get("ZOO_PEERS"))
    ap.add_argument("--steps", type=int, default=3, help="profiled steps (x10 for vae_mlp, lstm)")
    ap.add_argument(
        "--only",
        nargs="+",
        default=["vae_conv", "vae_mlp", "vqvae", "lstm"],
        choices=["vae_conv", "vae_mlp", "vqvae", "lstm"],
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    why = pythae_peer.import_error()
    load = [os.getloadavg()[0]]
    cases: dict[str, dict] = {}
    for name in args.only:
        if name.startswith("vae") or name == "vqvae":
            if why:
                print(why)
                continue
            cases[name] = (
                vqvae_case(args.steps)
                if name == "vqvae"
                else vae_case(name[4:], args.steps * (10 if name == "vae_mlp" else 1))
            )
        elif args.peer_root is not None:
            cases[name] = lstm_case(Path(args.peer_root), args.steps * 3)
        else:
            print("lstm: no --peer-root, skipped")
    for name, sides in cases.items():
        for side, r in sides.items():
            print(f"{name} {side}: {r['ms_per_step']:.1f} ms/step, shares {r['share']}")
    load.append(os.getloadavg()[0])
    argv_used = sys.argv[1:] if argv is None else argv
    write_results(
        "step_profile",
        {
            "command": "python -m benchmarks.step_profile " + " ".join(argv_used),
            "load_average": load,
            "cpus": os.cpu_count(),
            "cases": cases,
        },
    )
    return cases


if __name__ == "__main__":
    main()
