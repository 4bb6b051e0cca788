"""Our NADE and MADE beside pytorch-generative's (EugenHotaj/pytorch-generative), in one process.

    mkdir -p PEERS/pg && git --git-dir=/work/.mirror/EugenHotaj+pytorch-generative/repo \\
        archive HEAD pytorch_generative | tar -x -C PEERS/pg
    python -m benchmarks.ar_peers --peer-root PEERS/pg [--rounds 5 --nade-block 20 --made-block 100]

(``archive HEAD`` of the whole mirror stops at a notebook whose blob is not in the mirror;
the ``pytorch_generative`` folder alone extracts.) The peer is its **unmodified**
``pytorch_generative/models/autoregressive/nade.py`` and ``made.py``, imported from
``--peer-root`` (put on ``sys.path``; never copied into this repository). Its package
``__init__`` imports its trainer, which imports ``torch.utils.tensorboard``; where that does
not import (no ``tensorboard`` package here), a stub module ``torch.utils.tensorboard`` is put
in ``sys.modules`` first (the only stub; nothing of the peer's NADE or MADE uses it). Without
the peer the benchmark says how to get it and exits cleanly.

Both sides at the peer's ``reproduce()`` configuration (:data:`PEER_CONFIG`): NADE 784 -> 500
hidden units, batch 512; MADE one hidden layer of 8000, one mask, batch 64; both trained with
``optim.Adam(model.parameters())`` (lr 1e-3, no schedule, no clipping: the peer trainer's
defaults). Ours are the registry's ``nade_bmnist`` / ``made_bmnist`` classes
(:class:`zoo.models.nade.NADE`, :class:`zoo.models.made.MADE`) built with those sizes
(:func:`ours_hparams`): MADE without the direct connections and with a random input ordering
(the peer's one mask orders the pixels by ``RandomState(0).permutation(784)``; ours draws its
own permutation). What still differs is listed in ``differences``: NADE's hidden units are
sigmoid in ours (the paper's) and ReLU in the peer; initialisations differ; the peer's own
data is MNIST binarised afresh every batch, here both read the zoo's binarized MNIST
(``binarized_mnist``, 50,000 training images, fixed binarisation), the same batches in the
same order (:func:`batch_indices`: a seeded permutation per epoch).

Training alternates (``benchmarks.common.alternate``): each call trains one side ``--*-block``
more steps and returns its training images per second, timed in CPU seconds of this process
(``--clock cpu``, one thread; the wall clock would also count other processes' time on a
shared machine), so after every round all sides have taken the same steps. Reported per
model: the throughput ratio ours / peer (median over rounds) and the test nats (mean negative
log-likelihood per image) on the first ``--test-images`` images of the test split after the
same number of steps.

The peer's NADE ``forward`` returns *probabilities* (a sigmoid per pixel), but its
``reproduce()`` loss is ``binary_cross_entropy_with_logits`` of them: it trains the Bernoulli
``sigmoid(p)``, each pixel's probability of a 1 squeezed into (0.5, 0.73), at least log 2 nats
for every 0 pixel. The side ``peer`` trains with that loss (the exact configuration; its
test nats under the same loss, what its trainer reports, and under its own probabilities are
both given), and a third side ``peer_nll`` trains the same unmodified module on the
negative log-likelihood of its probabilities (``binary_cross_entropy``: the loss changed
here, outside the peer's file), the comparison of models that the bug hides.

MADE ensembles (``ensemble_note``, ``ensemble_check``): the peer's ``forward`` draws the next
mask of its rotation on every call, in training and evaluation alike (``self._mask_seed +=
1``) and masks its weights in place (``self.weight.data *= self.mask``, zeroing for good
what every mask so far zeroed); it has no ensemble evaluation, so with ``n_masks > 1`` its
trainer's test loss is the mean of single-mask NLLs over batches, each batch under whichever
mask comes next (on weights the earlier masks have thinned); never the mixture
``logsumexp_k log p_k(x) - log K``. ``ensemble_check`` shows it on a 6-bit space (all 64
inputs, untrained): the peer's successive calls give different joints, calling mask 1 again
does not give mask 1's joint back, the first layer's nonzero weights shrink call by call;
the mean single-mask NLL against the mixture's (lower, by Jensen), the mixture summing to 1,
and ours' ``log_prob`` equal to the mixture of its joints (tests/test_ar_classics.py pins
ours). The machine is shared: the load average is recorded (``loadavg`` at the end;
``load_average``: the 1-minute figure at the start and the end); absolute speeds are noisy,
the ratios come from alternating rounds.

The committed results come from the defaults (5 rounds: 100 NADE steps of 512, 500 MADE
steps of 64, the first 2,000 test images), about 5 CPU minutes in a slot of the shared
machine.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import math
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import alternate, cannot_import, n_params, peer_row, write_results
from zoo.core.spec import DataSpec
from zoo.data import load_dataset
from zoo.models.made import MADE
from zoo.models.nade import NADE

PEER = "pytorch-generative"
PEER_FILES = {
    "nade": "pytorch_generative/models/autoregressive/nade.py",
    "made": "pytorch_generative/models/autoregressive/made.py",
}
# the peer's reproduce() defaults (nade.py, made.py at HEAD d1f0a5c, 2023-09-11)
PEER_CONFIG: dict[str, dict[str, Any]] = {
    "nade": {"kwargs": {"input_dim": 784, "hidden_dim": 500}, "batch": 512, "lr": 1e-3},
    "made": {
        "kwargs": {"input_dim": 784, "hidden_dims": [8000], "n_masks": 1},
        "batch": 64,
        "lr": 1e-3,
    },
}
HOW_TO = (
    "get the peer with: mkdir -p DIR && git --git-dir=/work/.mirror/EugenHotaj+pytorch-generative"
    "/repo archive HEAD pytorch_generative | tar -x -C DIR; then --peer-root DIR"
)


def ours_hparams(model: str) -> dict[str, Any]:
    """Our model's hyperparameters at the peer's configuration ``PEER_CONFIG[model]``."""
    if model not in PEER_CONFIG:
        raise ValueError(f"unknown model {model!r}: choose from {sorted(PEER_CONFIG)}")
    kw = PEER_CONFIG[model]["kwargs"]
    if model == "nade":
        return {"hidden": kw["hidden_dim"]}
    if model == "made":
        # the peer's masks order the inputs by a random permutation; no direct connections
        return {
            "hidden": list(kw["hidden_dims"]),
            "num_masks": kw["n_masks"],
            "order": "random",
            "direct": False,
        }
    raise AssertionError(model)  # PEER_CONFIG has a model without a mapping


def parse_models(text: str) -> list[str]:
    """``"nade,made"`` -> ``["nade", "made"]``; an unknown name is an argparse error."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in PEER_CONFIG]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"--models takes a comma-separated subset of {sorted(PEER_CONFIG)}, got {text!r}"
        )
    return names


def batch_indices(n: int, batch: int, steps: int, seed: int) -> torch.Tensor:
    """``[steps, batch]`` example indices: consecutive batches of a seeded permutation of
    ``range(n)``, a fresh permutation per epoch (the last incomplete batch of an epoch
    dropped), the same for every side."""
    g = torch.Generator().manual_seed(seed)
    per_epoch = n // batch
    rows: list[torch.Tensor] = []
    while len(rows) < steps:
        perm = torch.randperm(n, generator=g)[: per_epoch * batch]
        rows.extend(perm.view(per_epoch, batch))
    return torch.stack(rows[:steps])


def load_peer(root: Path) -> tuple[dict[str, types.ModuleType], dict[str, str]]:
    """The peer's nade and made modules imported from ``root``, and each file's sha256."""
    missing = [f for f in PEER_FILES.values() if not (root / f).exists()]
    if missing:
        raise FileNotFoundError(f"{root} has no {', '.join(missing)}")
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:  # the peer's trainer imports it; its NADE and MADE do not use it
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object  # type: ignore[attr-defined]
        sys.modules["torch.utils.tensorboard"] = stub
    sys.path.insert(0, str(root))
    mods = {
        k: importlib.import_module(f.removesuffix(".py").replace("/", "."))
        for k, f in PEER_FILES.items()
    }
    shas = {k: hashlib.sha256((root / f).read_bytes()).hexdigest() for k, f in PEER_FILES.items()}
    return mods, shas


class Side:
    """One model trained block by block on the shared batches."""

    def __init__(
        self,
        step_fn: Callable[[torch.Tensor], float],
        data: torch.Tensor,
        idx: torch.Tensor,
        clock: Callable[[], float],
    ) -> None:
        self.step_fn, self.data, self.idx, self.clock = step_fn, data, idx, clock
        self.step, self.losses = 0, []

    def train_block(self, steps: int) -> float:
        t0 = self.clock()
        for _ in range(steps):
            self.losses.append(self.step_fn(self.data[self.idx[self.step]]))
            self.step += 1
        return steps * self.idx.shape[1] / (self.clock() - t0)


def adam_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def bce_logits(x: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
    """The peer's reproduce() loss: per-image nats ``[B]`` of Bernoulli(sigmoid(preds))."""
    B = x.shape[0]
    return F.binary_cross_entropy_with_logits(
        preds.view(B, -1), x.view(B, -1), reduction="none"
    ).sum(1)


def bce_probs(x: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Per-image nats ``[B]`` of Bernoulli(probs)."""
    B = x.shape[0]
    return F.binary_cross_entropy(probs.view(B, -1), x.view(B, -1), reduction="none").sum(1)


@torch.no_grad()
def test_nats(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """Mean of the per-image nats ``fn(chunk) -> [b]`` over ``x`` in chunks of 500."""
    return float(torch.cat([fn(c) for c in x.split(500)]).double().mean())


def run_model(
    model: str, mod: types.ModuleType, ds: Any, args: argparse.Namespace, clock
) -> dict[str, Any]:
    cfg = PEER_CONFIG[model]
    block = args.nade_block if model == "nade" else args.made_block
    steps = block * args.rounds
    train = ds["train"].x
    idx = batch_indices(train.shape[0], cfg["batch"], steps, args.seed)
    ours_cls = NADE if model == "nade" else MADE
    peer_cls = mod.NADE if model == "nade" else mod.MADE
    torch.manual_seed(args.seed)
    ours = ours_cls(ds.spec, **ours_hparams(model))
    sides_models = {"ours": ours}
    torch.manual_seed(args.seed)
    sides_models["peer"] = peer_cls(**cfg["kwargs"])
    if model == "nade":
        torch.manual_seed(args.seed)
        sides_models["peer_nll"] = peer_cls(**cfg["kwargs"])
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg["lr"]) for k, m in sides_models.items()}

    def ours_step(x: torch.Tensor) -> float:
        loss, _ = ours.loss(x)
        return adam_step(opts["ours"], loss)

    def peer_step(name: str, nll: bool) -> Callable[[torch.Tensor], float]:
        m = sides_models[name]

        def step(x: torch.Tensor) -> float:
            xf = x.float()
            per = (bce_probs if nll else bce_logits)(xf, m(xf))
            return adam_step(opts[name], per.mean())

        return step

    steppers = {"ours": ours_step, "peer": peer_step("peer", False)}
    if model == "nade":
        steppers["peer_nll"] = peer_step("peer_nll", True)
    for m in sides_models.values():
        m.train()
    sides = {k: Side(fn, train, idx, clock) for k, fn in steppers.items()}
    speeds = alternate(
        {k: (lambda s=s: s.train_block(block)) for k, s in sides.items()}, rounds=args.rounds
    )
    for m in sides_models.values():
        m.eval()
    test = ds["test"].x[: args.test_images]
    nats = {"ours": test_nats(lambda c: -ours.log_prob(c.long()), test)}
    peer = sides_models["peer"]
    nats["peer"] = test_nats(lambda c: bce_logits(c.float(), peer(c.float())), test)
    if model == "nade":
        nats["peer_own_probabilities"] = test_nats(
            lambda c: bce_probs(c.float(), peer(c.float())), test
        )
        pn = sides_models["peer_nll"]
        nats["peer_nll"] = test_nats(lambda c: bce_probs(c.float(), pn(c.float())), test)
    what = f"{model.upper()} training throughput, binarized MNIST (images/s)"
    peer_name = f"{PEER} {model.upper()}"
    params = (n_params(ours), n_params(peer))
    tail = min(block, 20)
    last = {k: statistics.fmean(s.losses[-tail:]) for k, s in sides.items()}
    speed_row = peer_row(
        what, peer_name, speeds["ours"], speeds["peer"], "images/s",
        higher_is_better=True, params=params,
        note=(
            f"batch {cfg['batch']}; after {steps} steps each, test nats (first "
            f"{args.test_images} test images) ours {nats['ours']:.2f} / peer {nats['peer']:.2f}"
            + (
                f" (its reproduce() loss; {nats['peer_own_probabilities']:.2f} under its own "
                f"probabilities; {nats['peer_nll']:.2f} when trained on their NLL)"
                if model == "nade" else ""
            )
        ),
    )  # fmt: skip
    nats_row = peer_row(
        f"{model.upper()} test nats after {steps} steps (first {args.test_images} test images)",
        peer_name, nats["ours"], nats["peer"], "nats", higher_is_better=False,
        note="same batches in the same order; lower is better",
    )  # fmt: skip
    rows = [speed_row, nats_row]
    if model == "nade":
        rows.append(
            peer_row(
                f"NADE test nats after {steps} steps, peer trained on the NLL of its "
                "probabilities (loss changed outside its file)",
                peer_name,
                nats["ours"],
                nats["peer_nll"],
                "nats",
                higher_is_better=False,
            )  # fmt: skip
        )
        rows.append(
            peer_row(
                "NADE training throughput, peer trained on the NLL of its probabilities",
                peer_name,
                speeds["ours"],
                speeds["peer_nll"],
                "images/s",
                higher_is_better=True,
                params=params,
            )  # fmt: skip
        )
    return {
        "config": {
            "peer_kwargs": cfg["kwargs"], "ours_hparams": ours_hparams(model),
            "batch": cfg["batch"], "lr": cfg["lr"], "optimizer": "Adam (torch defaults)",
        },
        "steps": steps, "block": block,
        "images_per_second_rounds": speeds,
        "test_nats": nats,
        "train_loss_last": {"steps": tail, **last},
        "train_loss_curves": {k: s.losses for k, s in sides.items()},
        "params": {"ours": params[0], "peer": params[1]},
        "rows": rows,
    }  # fmt: skip


@torch.no_grad()
def ensemble_check(mod: types.ModuleType, K: int = 4, D: int = 6) -> dict[str, Any]:
    """The peer's MADE with ``K`` masks against the mixture, on all ``2^D`` binary inputs."""
    torch.manual_seed(0)
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=D)))  # [2^D, D]
    peer = mod.MADE(input_dim=D, hidden_dims=[32], n_masks=K).eval()
    first = peer._net[0]
    nonzero = [float((first.weight != 0).float().mean())]
    joints = []
    for _ in range(K):
        joints.append(-bce_logits(x, peer(x)))
        nonzero.append(float((first.weight != 0).float().mean()))
    joints = torch.stack(joints).double()  # [K, 2^D]
    again = -bce_logits(x, peer(x)).double()  # call K + 1: the rotation is back at mask 0
    mixture = torch.logsumexp(joints, 0) - math.log(K)
    ours = MADE(DataSpec("image", (1, 1, D), 2), hidden=[32], num_masks=K, order="random")
    ours.eval()
    xi = x.long().view(-1, 1, 1, D)
    o_joints = torch.stack([ours.joint(xi, m) for m in range(K)]).double()
    o_mix = torch.logsumexp(o_joints, 0) - math.log(K)
    return {
        "space": f"all {2**D} binary vectors of {D} dimensions, untrained models, {K} masks",
        "peer_successive_calls_max_abs_diff_nats": float((joints[1] - joints[0]).abs().max()),
        "peer_call_k_plus_1_equals_call_1": bool(torch.allclose(again, joints[0])),
        "peer_call_k_plus_1_minus_call_1_max_abs_nats": float((again - joints[0]).abs().max()),
        "peer_first_layer_nonzero_fraction_before_and_after_each_call": nonzero,
        "peer_each_mask_total_probability": joints.exp().sum(1).tolist(),
        "peer_mean_single_mask_nll_uniform_data": float(-joints.mean()),
        "mixture_of_peer_masks_nll_uniform_data": float(-mixture.mean()),
        "mixture_of_peer_masks_total_probability": float(mixture.exp().sum()),
        "ours_log_prob_minus_mixture_max_abs": float(
            (ours.log_prob(xi).double() - o_mix).abs().max()
        ),
        "ours_total_probability": float(ours.log_prob(xi).double().exp().sum()),
    }


ENSEMBLE_NOTE = (
    "pytorch-generative's MADE has no ensemble evaluation: forward() draws the next mask of its "
    "rotation on every call (self._mask_seed += 1), in training and evaluation alike, so with "
    "n_masks > 1 its trainer's test loss is the mean over batches of single-mask NLLs, each "
    "batch under whichever mask comes next; it neither averages per-dimension conditionals nor "
    "forms the mixture logsumexp_k log p_k(x) - log K. Worse, its MaskedLinear masks the "
    "weights in place (self.weight.data *= self.mask), so each call under a new mask zeroes "
    "for good the weights the earlier masks zeroed: after calls under masks 1..K the weights "
    "are W * (m_1 & ... & m_K), and calling mask 1 again does not give mask 1's model back "
    "(ensemble_check: peer_call_k_plus_1_*, the first layer's nonzero fraction call by call); "
    "in training, each mask switch zeroes the weights the new mask keeps but the old one "
    "dropped down to what one Adam step regrows. Ours scores the mixture (MADE._log_prob; "
    "tests/test_ar_classics.py::test_made_ensemble_is_the_mixture_of_the_joints_never_averaged_"
    "conditionals; ensemble_check below). Its reproduce() trains one mask, where the two agree."
)
NADE_LOSS_NOTE = (
    "pytorch-generative's NADE forward() returns probabilities (torch.sigmoid per pixel) but its "
    "reproduce() loss is F.binary_cross_entropy_with_logits of them, i.e. it trains the "
    "Bernoulli sigmoid(p) with P(x_d = 1) in (0.5, 0.73): >= log 2 nats for every 0 pixel. "
    "'peer' trains with that loss (its exact configuration); 'peer_nll' trains the same module "
    "on binary_cross_entropy of its probabilities."
)
DIFFERENCES = [
    "NADE hidden units: sigmoid in ours (Larochelle & Murray), ReLU in the peer",
    "MADE ordering: both a random permutation of the 784 pixels, but not the same one",
    "initialisations differ (ours: zoo defaults; the peer: kaiming_normal_ / nn.Linear's)",
    "data: both the zoo's binarized_mnist (fixed binarisation), not the peer's dynamic one",
]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer-root", type=Path, default=os.environ.get("ZOO_PEERS"))
    ap.add_argument("--models", type=parse_models, default=["nade", "made"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nade-block", type=int, default=20)
    ap.add_argument("--made-block", type=int, default=100)
    ap.add_argument("--test-images", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args(argv)
    if args.rounds < 3 or min(args.nade_block, args.made_block, args.test_images) < 1:
        ap.error("--rounds must be >= 3 and the blocks and --test-images >= 1")
    if args.peer_root is None:
        print(f"give --peer-root (or ZOO_PEERS); {HOW_TO}")
        return
    try:
        mods, shas = load_peer(Path(args.peer_root))
    except (ImportError, FileNotFoundError) as e:
        print(f"{cannot_import(PEER, e)}; {HOW_TO}")
        return
    torch.set_num_threads(1)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load = [os.getloadavg()[0]]
    ds = load_dataset("binarized_mnist")
    results = {m: run_model(m, mods[m], ds, args, clock) for m in args.models}
    check = ensemble_check(mods["made"])
    speed_rows = [results[m]["rows"][0] for m in args.models]
    path = write_results(
        "ar_peers",
        {
            "command": "python -m benchmarks.ar_peers " + " ".join(sys.argv[1:] or argv or []),
            "peer": PEER,
            "peer_files_sha256": shas,
            "data": "zoo binarized_mnist: train 50,000 (batches of a seeded permutation per "
            f"epoch, seed {args.seed}); test nats on the first {args.test_images} test images",
            "rounds": args.rounds,
            "clock": "CPU seconds of this process" if args.clock == "cpu" else "wall",
            "loadavg": os.getloadavg(),
            "load_average": [*load, os.getloadavg()[0]],
            "cpus": os.cpu_count(),
            "differences": DIFFERENCES,
            "nade_loss_note": NADE_LOSS_NOTE,
            "ensemble_note": ENSEMBLE_NOTE,
            "ensemble_check": check,
            "models": results,
            "peers": speed_rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
