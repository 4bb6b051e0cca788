"""Our Transformer beside nanoGPT's (karpathy/nanoGPT ``model.py``, run unmodified), in one process.

    git -C /work/.mirror/karpathy+nanoGPT/repo show HEAD:model.py > PEERS/nanoGPT/model.py
    python -m benchmarks.transformer_peers --peer-root PEERS/nanoGPT --steps 200

Both at nanoGPT's CPU configuration (README, "I only have a macbook"): 4 layers, 4 heads, 128
wide, block 64, batch 12, dropout 0, biases, tied embeddings, on Tiny Shakespeare characters
(our loader's training stream: newline is ``</s>``, 66 symbols, for both).

* Training: the same batches in the same order for both (offsets ``i`` drawn from one seeded
  generator; nanoGPT trains on ``(s[i:i+64], s[i+1:i+65])``, ours on the chunk ``s[i+1:i+65]``
  with its start token in ``s[i]``'s place: the same 64 targets, ours with one token less of
  context). The same optimiser for both, nanoGPT's: AdamW (lr 1e-3, betas 0.9/0.99, weight
  decay 0.1 on matrices, none on biases/norms), gradient norm clipped at 1, a constant
  learning rate. ``--steps`` steps each, in ``--rounds`` alternating chunks
  (``benchmarks.common.alternate``): steps/s per chunk, the training loss (nats/char) averaged
  over the last ``--tail`` steps, and the loss on the same 8 held-out batches after training.
* Generation: 500 new tokens for one sequence, untrained weights, block 512 for both (500
  tokens do not fit nanoGPT's block of 64 without cropping): nanoGPT's ``generate`` (it
  recomputes the whole prefix per token) against our ``sample(fast=True)`` (KV cache) and
  ``sample(fast=False)`` (prefix recomputed), alternating.

The machine is shared: absolute times move with its load (recorded as ``load_average``);
the ratios come from alternating rounds in one process.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import alternate, n_params, peer_row, write_results
from zoo.core.spec import DataSpec
from zoo.data import load_dataset
from zoo.models.transformer import Transformer

CONFIG = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0.0)
LR, BETAS, WEIGHT_DECAY, CLIP = 1e-3, (0.9, 0.99), 0.1, 1.0


def load_peer(root: Path):
    """nanoGPT's ``model.py`` imported from ``root`` as it is."""
    path = root / "model.py"
    if not path.exists():
        raise SystemExit(f"{path} missing: give --peer-root, the folder holding nanoGPT's model.py")
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["nanogpt_model"] = module
    spec.loader.exec_module(module)
    return module, hashlib.sha256(path.read_bytes()).hexdigest()


def adamw(model: torch.nn.Module) -> torch.optim.AdamW:
    """nanoGPT's configure_optimizers rule: weight decay on parameters with >= 2 dims."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LR, betas=BETAS)


class Side:
    """One model being trained chunk by chunk on a shared batch sequence."""

    def __init__(self, model, loss_fn, offsets: torch.Tensor) -> None:
        self.model, self.loss_fn, self.offsets = model, loss_fn, offsets
        self.opt = adamw(model) if not hasattr(model, "configure_optimizers") else None
        if self.opt is None:
            self.opt = model.configure_optimizers(WEIGHT_DECAY, LR, BETAS, "cpu")
        self.step, self.losses = 0, []

    def train(self, steps: int) -> float:
        self.model.train()
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = self.loss_fn(self.offsets[self.step])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
            self.opt.step()
            self.losses.append(float(loss.detach()))
            self.step += 1
        return steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-root", type=Path, required=True, help="folder with nanoGPT's model.py")
    ap.add_argument("--steps", type=int, default=200, help="training steps per model")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--tail", type=int, default=20, help="last steps averaged for the loss")
    ap.add_argument("--new-tokens", type=int, default=500)
    ap.add_argument("--gen-rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    nanogpt, sha = load_peer(args.peer_root)

    data = load_dataset("shakespeare_char")
    stream = data.meta["streams"]["train"].long()
    held = data.meta["streams"]["valid"].long()
    V, T, B = data.spec.levels, CONFIG["block_size"], CONFIG["batch_size"]
    g = torch.Generator().manual_seed(args.seed)
    offsets = torch.randint(0, len(stream) - T - 1, (args.steps, B), generator=g)
    val_offsets = torch.randint(0, len(held) - T - 1, (8, B), generator=g)
    window = torch.arange(T + 1)

    torch.manual_seed(args.seed)
    peer = nanogpt.GPT(
        nanogpt.GPTConfig(
            block_size=T, vocab_size=V, n_layer=CONFIG["n_layer"], n_head=CONFIG["n_head"],
            n_embd=CONFIG["n_embd"], dropout=CONFIG["dropout"], bias=True,
        )
    )  # fmt: skip
    torch.manual_seed(args.seed)
    spec = DataSpec("text", (T,), levels=V, vocab=data.spec.vocab, eos=0, unk=1, name="bench")
    ours = Transformer(
        spec, layers=CONFIG["n_layer"], heads=CONFIG["n_head"], dim=CONFIG["n_embd"],
        dropout=CONFIG["dropout"], bias=True,
    )  # fmt: skip

    def peer_loss(off: torch.Tensor, src: torch.Tensor = stream) -> torch.Tensor:
        w = src[off[:, None] + window]  # [B, T + 1]
        return peer(w[:, :-1].contiguous(), w[:, 1:].contiguous())[1]

    def our_loss(off: torch.Tensor, src: torch.Tensor = stream) -> torch.Tensor:
        w = src[off[:, None] + window]
        return -ours.log_prob(w[:, 1:]).mean() / T  # nats per character

    sides = {"ours": Side(ours, our_loss, offsets), "nanoGPT": Side(peer, peer_loss, offsets)}
    chunk = math.ceil(args.steps / args.rounds)
    todo = {name: args.steps for name in sides}

    def run(name: str):
        def go() -> float:
            n = min(chunk, todo[name])
            todo[name] -= n
            return sides[name].train(n)

        return go

    speed = alternate({name: run(name) for name in sides}, rounds=args.rounds)
    with torch.no_grad():
        ours.eval()
        peer.eval()
        val = {
            "ours": sum(float(our_loss(o, held)) for o in val_offsets) / len(val_offsets),
            "nanoGPT": sum(float(peer_loss(o, held)) for o in val_offsets) / len(val_offsets),
        }
    tail = {k: sum(s.losses[-args.tail :]) / args.tail for k, s in sides.items()}
    same_first = abs(sides["ours"].losses[0] - sides["nanoGPT"].losses[0])
    rows = [
        peer_row(
            f"training, Tiny Shakespeare char, {args.steps} steps of batch {B} x {T}",
            "nanoGPT",
            speed["ours"],
            speed["nanoGPT"],
            "steps/s",
            higher_is_better=True,
            params=(n_params(ours), n_params(peer)),
            note=f"loss over the last {args.tail} steps: ours {tail['ours']:.4f}, nanoGPT "
            f"{tail['nanoGPT']:.4f} nats/char; held-out: ours {val['ours']:.4f}, nanoGPT "
            f"{val['nanoGPT']:.4f}",
        )
    ]

    # ---------------------------------------------------------------- generation
    n_new = args.new_tokens
    torch.manual_seed(args.seed)
    gpeer = nanogpt.GPT(
        nanogpt.GPTConfig(
            block_size=512, vocab_size=V, n_layer=CONFIG["n_layer"], n_head=CONFIG["n_head"],
            n_embd=CONFIG["n_embd"], dropout=0.0, bias=True,
        )
    ).eval()  # fmt: skip
    gspec = DataSpec("text", (n_new,), levels=V, vocab=data.spec.vocab, eos=0, unk=1, name="gen")
    gours = Transformer(
        gspec, layers=CONFIG["n_layer"], heads=CONFIG["n_head"], dim=CONFIG["n_embd"],
        dropout=0.0,
    ).eval()  # fmt: skip
    if n_new > 512:
        raise SystemExit("--new-tokens must be <= 512 (the generation block)")

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return n_new / (time.perf_counter() - t0)

    start = torch.zeros(1, 1, dtype=torch.long)
    gen = alternate(
        {
            "ours_cached": lambda: timed(lambda: gours.sample(1, fast=True)),
            "nanoGPT": lambda: timed(lambda: gpeer.generate(start, n_new)),
            "ours_naive": lambda: timed(lambda: gours.sample(1, fast=False)),
        },
        rounds=args.gen_rounds,
    )
    rows.append(
        peer_row(
            f"generation, {n_new} new tokens, 1 sequence (ours: KV cache)",
            "nanoGPT",
            gen["ours_cached"],
            gen["nanoGPT"],
            "tokens/s",
            higher_is_better=True,
            params=(n_params(gours), n_params(gpeer)),
        )
    )
    rows.append(
        peer_row(
            f"generation, {n_new} new tokens, 1 sequence (ours: prefix recomputed, fast=False)",
            "nanoGPT",
            gen["ours_naive"],
            gen["nanoGPT"],
            "tokens/s",
            higher_is_better=True,
            params=(n_params(gours), n_params(gpeer)),
        )
    )
    load.append(os.getloadavg()[0])
    out = {
        "config": {
            **CONFIG,
            "lr": LR,
            "betas": list(BETAS),
            "weight_decay": WEIGHT_DECAY,
            "grad_clip": CLIP,
            "vocab": V,
            "steps": args.steps,
            "rounds": args.rounds,
            "seed": args.seed,
        },  # fmt: skip
        "peer_model_sha256": sha,
        "load_average": load,
        "cpus": os.cpu_count(),
        "train_steps_per_s": speed,
        "train_loss_tail": tail,
        "heldout_loss": val,
        "first_step_loss_gap": same_first,
        "train_losses": {k: s.losses for k, s in sides.items()},
        "generate_tokens_per_s": gen,
        "cached_over_naive": (
            sorted(gen["ours_cached"])[len(gen["ours_cached"]) // 2]
            / sorted(gen["ours_naive"])[len(gen["ours_naive"]) // 2]
        ),
        "peers": rows,
    }
    write_results("transformer_peers", out)
    return out


if __name__ == "__main__":
    main()
