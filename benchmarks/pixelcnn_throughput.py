"""PixelCNN and Gated PixelCNN training throughput beside pytorch-generative's models.

pytorch-generative (EugenHotaj/pytorch-generative @ d1f0a5c) is not a package, so its two
models are mirrored here layer for layer, plainly (``PeerPixelCNN``, ``PeerGatedPixelCNN``),
at its ``reproduce()`` configurations, and trained the way its Trainer does (forward, BCE with
logits summed per image, backward, Adam step):

- PixelCNN, 15 residual blocks x 16 channels, head 32: 53,569 parameters. The peer adds each
  residual twice (its block returns ``x + f(x)`` and the model adds ``x`` again); the mirror
  keeps that bug, so its initial loss is of the peer's order (1.5e5 nats per image on the
  random binary batch here; REFERENCE_FIGURES.md: near 3e5 on MNIST; ours: 560, near
  784 ln 2), and masks its kernels in place before each forward as the peer's
  ``CausalConv2d`` does.
- Gated PixelCNN, an input layer (kernel 7) + 10 gated layers x 128 channels, skip
  connections, head 32: 3,364,161 parameters.

Ours: the registry entries ``pixelcnn_small_bmnist`` (53,569 parameters) and
``pixelcnn_gated_bmnist`` through the public ``loss``. The gated entry's own network is not
the peer's (no skip connections, one (k//2+1) x k vertical convolution instead of the peer's
1 x k then (k//2+1) x 1, no vertical 1x1), so the comparison builds it with
``architecture="pytorch_generative", layers=11, channels=128, head_channels=32`` (the peer's
input layer + 10 gated layers of 128 maps; the entry itself is CPU-sized, 8 x 48):
the peer's network exactly, 3,364,161 parameters (``tests/test_gated_peer_architecture.py``
checks the count and, with the same weights, the same outputs as the mirror). Both sides
train in one process on the same batch, alternating (``--rounds``, median), so the ratio is
measured on one machine state. A third side (unless ``--skip-old-form``) is ours with every
``MaskedConv2d`` running the old form, the whole k x k kernel times its mask
(``forward_masked``), same weights: the row "masked convolutions without the rows below the
centre" is the fast path's speed-up over it. ``load_average`` (1-minute, before and after):
the machine's load while it ran; ratios alternate sides, absolute times do not.
``--profile``: ``checks.<kind>.profile`` (and ``profile_old_form``) is where a training step's
CPU time goes (``torch.profiler``, self time per operator and input shapes: the ``top``
shares, and ``conv_share``, all convolution operators together). With
``--threads 1`` (the default) the times are CPU seconds of this process (unit "images/s
(CPU)"), which leaves out the time the OS gives to other processes on a shared machine.

``train.compile`` (``zoo.engine.compiling``): unless ``--skip-compiled``, a fourth side is
ours with the objective compiled (``CompiledObjective``, a copy with the same weights), and
the ``ours`` of the line against the peer is what the library's default (``"auto"``) runs
for that model here (``checks.<kind>.compile.default_compiled``, ``reason``); a line "eager"
against the peer and a line "compiled against eager" stay beside it. Compilation is not in
the steady-state figures: before the rounds, the compiled copy's first ``--compile-steps``
steps are timed from a cold inductor cache (a fresh ``TORCHINDUCTOR_CACHE_DIR``, one compile
thread, so the C++ compiler runs as a waited child and its CPU time is counted):
``checks.<kind>.compile.first_steps`` (``wall_s``, ``cpu_s``: this process and its children),
``compile_cpu_s`` (their CPU seconds less as many steady compiled steps), ``break_even_steps``
(steps after which the compiled run has caught up with eager) and
``ratio_including_compile`` (the peer's CPU time for N steps over ours plus the compile
cost, N in 100, 1,000, 10,000).

    python -m benchmarks.pixelcnn_throughput [--rounds 3] [--skip-gated | --skip-small] [--batch 32]
        [--threads 1] [--skip-old-form] [--profile] [--skip-compiled] [--compile-steps 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import zoo
from benchmarks.common import (
    alternate,
    carried_rows,
    n_params,
    peer_row,
    train_images_per_second,
    write_results,
)
from zoo import DataSpec
from zoo.engine import compiling
from zoo.nn.masked import MaskedConv2d

PEER_PARAMS = {"small": 53_569, "gated": 3_364_161}
ENTRIES = {"small": "pixelcnn_small_bmnist", "gated": "pixelcnn_gated_bmnist"}
# the peer's network exactly (the gated entry's default architecture is another one)
OVERRIDES = {
    "small": {},
    "gated": {
        "layers": 11,
        "architecture": "pytorch_generative",
        "channels": 128,  # the entry itself is CPU-sized (8 x 48)
        "head_channels": 32,
    },
}
PEER = "pytorch-generative (mirrored)"


class _PeerCausalConv(nn.Conv2d):
    """The peer's CausalConv2d: a raster mask multiplied into the weights in place."""

    def __init__(self, cin: int, cout: int, k: int, mask_center: bool) -> None:
        super().__init__(cin, cout, k, padding=k // 2)
        mask = torch.zeros_like(self.weight)
        mask[:, :, : k // 2] = 1
        mask[:, :, k // 2, : k // 2 + (0 if mask_center else 1)] = 1
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.weight.data *= self.mask
        return super().forward(x)


def _head(cin: int, head: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, head, 1), nn.ReLU(), nn.Conv2d(head, 1, 1))


def _bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    return (
        F.binary_cross_entropy_with_logits(logits.view(b, -1), x.view(b, -1), reduction="none")
        .sum(1)
        .mean()
    )


class PeerPixelCNN(nn.Module):
    """pytorch-generative's PixelCNN, residual added twice per block as in the peer."""

    def __init__(self, h: int = 16, blocks: int = 15, head: int = 32) -> None:
        super().__init__()
        c = 2 * h
        self.stem = _PeerCausalConv(1, c, 7, True)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(c, h, 1),
                nn.ReLU(),
                _PeerCausalConv(h, h, 3, False),
                nn.ReLU(),
                nn.Conv2d(h, c, 1),
            )
            for _ in range(blocks)
        )
        self.head = _head(c, head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, 1, H, W] float -> logits [B, 1, H, W]
        z = self.stem(x)
        for f in self.blocks:
            z = z + (z + f(z))  # the block's own residual, then the model's
        return self.head(z)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return _bce_per_image(self(x.float()), x.float())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The peer's sampling: one full forward pass per pixel, no cache."""
        x = torch.zeros(n, 1, 28, 28)
        for r in range(28):
            for c in range(28):
                p = torch.sigmoid(self(x)[:, :, r, c])
                x[:, :, r, c] = torch.bernoulli(p, generator=generator)
        return x


def _gate(t: torch.Tensor) -> torch.Tensor:
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _PeerGatedLayer(nn.Module):
    def __init__(self, cin: int, c: int, k: int, first: bool) -> None:
        super().__init__()
        p = k // 2
        self.first = first
        self.v_row = nn.Conv2d(cin, c, (1, k), padding=(0, p))
        self.v_col = nn.Conv2d(c, 2 * c, (p + 1, 1), padding=(p + 1, 0))
        self.v_1x1 = nn.Conv2d(cin, 2 * c, 1)
        self.link = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_row = nn.Conv2d(cin, 2 * c, (1, p + 1), padding=(0, p + int(first)))
        self.h_res = nn.Conv2d(c, c, 1)
        self.h_skip = nn.Conv2d(c, c, 1)

    def forward(self, v_in: torch.Tensor, h_in: torch.Tensor):
        H, W = v_in.shape[2:]
        v = self.v_col(self.v_row(v_in))[:, :, :H]
        link = self.link(v)
        v = _gate(v + self.v_1x1(v_in))
        h = _gate(link + self.h_row(h_in)[:, :, :, :W])
        skip, h = self.h_skip(h), self.h_res(h)
        return v, (h if self.first else h + h_in), skip


class PeerGatedPixelCNN(nn.Module):
    """pytorch-generative's Gated PixelCNN: input layer + ``layers`` gated layers, skips."""

    def __init__(self, c: int = 128, layers: int = 10, head: int = 32) -> None:
        super().__init__()
        self.input = _PeerGatedLayer(1, c, 7, True)
        self.layers = nn.ModuleList(_PeerGatedLayer(c, c, 3, False) for _ in range(layers))
        self.head = _head(c, head)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        v, h, skips = self.input(x, x)
        for layer in self.layers:
            v, h, s = layer(v, h)
            skips = skips + s
        return _bce_per_image(self.head(skips), x)


PEERS = {"small": PeerPixelCNN, "gated": PeerGatedPixelCNN}


def old_masked_form(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (same weights) whose masked convolutions run the old form, the whole
    k x k kernel times its mask (``MaskedConv2d.forward_masked``); and how many there are
    (1x1 ones, which have no rows to drop, are left as they are)."""
    slow = copy.deepcopy(model)
    convs = [m for m in slow.modules() if isinstance(m, MaskedConv2d) and m.kernel_size != (1, 1)]
    for m in convs:
        m.forward = m.forward_masked
    return slow, len(convs)


def step_profile(model: nn.Module, x: torch.Tensor, steps: int = 3, top: int = 10) -> dict:
    """Where one training step's CPU time goes: ``torch.profiler`` over ``steps`` steps (after
    one untimed), self CPU time per operator and input shapes, the ``top`` largest as shares
    of the total; and the share of all convolution operators (forward and backward)."""
    from torch.profiler import ProfilerActivity, profile

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = model.loss(x)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key)
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {
        "steps": steps,
        "conv_share": conv / total,
        "top": [
            {
                "op": e.key,
                "shapes": str(e.input_shapes)[:160],
                "share": e.self_cpu_time_total / total,
            }
            for e in ranked
        ],
    }


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its waited-for children (the C++ compiler)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def first_steps(loss_fn, params, x: torch.Tensor, steps: int) -> dict:
    """Wall and CPU seconds (with children) of each of the first ``steps`` training steps
    (forward, backward, Adam step), the first of which compiles a compiled ``loss_fn``."""
    opt = torch.optim.Adam(list(params), lr=1e-3)
    wall, cpu = [], []
    for _ in range(steps):
        w, c = time.perf_counter(), _cpu_with_children()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        wall.append(time.perf_counter() - w)
        cpu.append(_cpu_with_children() - c)
    return {"steps": steps, "wall_s": wall, "cpu_s": cpu}


def compile_summary(
    first: dict, batch: int, compiled: list[float], eager: list[float], peer: list[float]
) -> dict:
    """What compilation costs and when it pays, from the first steps and the medians of the
    rounds (images/s (CPU)): the compile CPU seconds over steady steps, break-even steps
    against our eager side, and the ratio to the peer with the compile cost included."""
    med = {k: sorted(v)[len(v) // 2] for k, v in (("c", compiled), ("e", eager), ("p", peer))}
    step = {k: batch / v for k, v in med.items()}  # CPU seconds per steady step
    cost = sum(first["cpu_s"]) - first["steps"] * step["c"]
    saving = step["e"] - step["c"]
    return {
        "compile_cpu_s": cost,
        "compile_wall_s": sum(first["wall_s"]) - first["steps"] * step["c"],
        "steady_step_cpu_s": {"compiled": step["c"], "eager": step["e"], "peer": step["p"]},
        "steady_ratio_over_eager": med["c"] / med["e"],
        "break_even_steps": cost / saving if saving > 0 else None,
        "ratio_including_compile": {
            str(n): n * step["p"] / (cost + n * step["c"]) for n in (100, 1_000, 10_000)
        },
    }


def carried_checks(kind: str) -> dict | None:
    """``checks.<kind>`` of the committed results, marked ``carried_from`` with their date."""
    path = Path(__file__).resolve().parent / "results" / "pixelcnn_throughput.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    check = record.get("checks", {}).get(kind)
    if check is None:
        return None
    return {**check, "carried_from": check.get("carried_from", record["date"])}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32, help="images per step (the peer's runs: 32)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round (small)")
    ap.add_argument("--gated-steps", type=int, default=2, help="timed steps per round (gated)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-gated", action="store_true")
    ap.add_argument("--skip-small", action="store_true", help="carry the small model's lines")
    ap.add_argument("--profile", action="store_true", help="record where a step's time goes")
    ap.add_argument(
        "--skip-old-form", action="store_true", help="no third side: the old masked form"
    )
    ap.add_argument("--skip-compiled", action="store_true", help="no compiled side")
    ap.add_argument("--compile-steps", type=int, default=2, help="first compiled steps timed")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_compiled:  # a cold cache, the compiler a waited child (its CPU counted)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cold-")
        import torch._inductor.config as inductor_config

        inductor_config.compile_threads = 1
    spec = DataSpec("image", (1, 28, 28), levels=2, name="binarized_mnist")
    u = torch.rand(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = (u < 0.13).long()

    # one thread: CPU seconds of this process (what others' load does not inflate)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    unit = "images/s (CPU)" if args.threads == 1 else "images/s"
    rows, checks = [], {}
    load = [os.getloadavg()[0]]
    kinds = [k for k in ("small", "gated") if not getattr(args, f"skip_{k}")]
    for kind in kinds:
        torch.manual_seed(0)
        ours = zoo.create_model(ENTRIES[kind], spec, **OVERRIDES[kind])
        peer = PEERS[kind]()
        n_ours, n_peer = ours.num_parameters(), n_params(peer)
        if n_peer != PEER_PARAMS[kind]:
            raise RuntimeError(
                f"mirror of the peer's {kind} model has {n_peer:,} parameters, "
                f"the peer {PEER_PARAMS[kind]:,}: the mirror is wrong"
            )
        with torch.no_grad():
            loss0 = {"ours": float(ours.loss(x)[0]), "peer": float(peer.loss(x))}
        checks[kind] = {"initial_loss_nats": loss0, "params": {"ours": n_ours, "peer": n_peer}}
        print(
            f"{kind}: initial loss (nats/image) ours {loss0['ours']:.1f}, "
            f"peer mirror {loss0['peer']:.1f}"
        )
        steps = args.steps if kind == "small" else args.gated_steps
        timing = dict(steps=steps, warmup=args.warmup if kind == "small" else 1, clock=clock)
        slow, n_masked = old_masked_form(ours)
        with torch.no_grad():
            same = torch.allclose(ours.loss(x)[0], slow.loss(x)[0], rtol=1e-5)
        checks[kind]["masked_convs"] = n_masked
        checks[kind]["old_form_same_loss"] = bool(same)
        if args.profile:
            checks[kind]["profile"] = step_profile(copy.deepcopy(ours), x)
            checks[kind]["profile_old_form"] = step_profile(copy.deepcopy(slow), x)
        runs = {
            "ours": lambda m=ours, t=timing: train_images_per_second(
                lambda x: m.loss(x)[0], m.parameters(), x, **t
            ),
            "peer": lambda m=peer, t=timing: train_images_per_second(
                m.loss, m.parameters(), x, **t
            ),
        }
        if n_masked and not args.skip_old_form:
            runs["masked"] = lambda m=slow, t=timing: train_images_per_second(
                lambda x: m.loss(x)[0], m.parameters(), x, **t
            )
        default_compiled, reason = compiling.decide("auto", ours, torch.device("cpu"))
        first = None
        if not args.skip_compiled:
            fast = copy.deepcopy(ours)
            objective = compiling.CompiledObjective(fast)
            compiled_loss = lambda x, o=objective: o(x, None)[0]  # noqa: E731
            first = first_steps(compiled_loss, fast.parameters(), x, args.compile_steps)
            print(f"{kind}: first compiled steps, wall s {first['wall_s']}, cpu s {first['cpu_s']}")
            if not objective.compiled:
                raise RuntimeError(f"the {kind} objective did not compile: {objective.failure}")
            runs["compiled"] = lambda m=fast, f=compiled_loss, t=timing: train_images_per_second(
                f, m.parameters(), x, **t
            )
        got = alternate(runs, args.rounds)
        if "masked" in got:
            rows.append(
                peer_row(
                    f"{ENTRIES[kind]} training, batch {args.batch}: masked convolutions without "
                    f"the rows below the centre ({n_masked} layers)",
                    "ours, old masked form (forward_masked)",
                    got["ours"],
                    got["masked"],
                    unit,
                    higher_is_better=True,
                    params=(n_ours, n_ours),
                )
            )
        what = (
            f"{ENTRIES[kind]}{' (pytorch_generative architecture)' if OVERRIDES[kind] else ''}"
            f" training, batch {args.batch}"
        )
        note = "" if n_ours == n_peer else "(parameter counts differ: see the docstring)"
        sides = [("", "ours")]
        if "compiled" in got:
            default = "compiled" if default_compiled else "ours"
            sides = [
                (f" (default train.compile=auto: {'compiled' if default_compiled else 'eager'})",
                 default),
                (" (eager)", "ours"),
            ]  # fmt: skip
            rows.append(
                peer_row(
                    f"{what}: the objective compiled (torch.compile, compile time excluded)",
                    "ours, eager",
                    got["compiled"],
                    got["ours"],
                    unit,
                    higher_is_better=True,
                    params=(n_ours, n_ours),
                )
            )
            checks[kind]["compile"] = {
                "default_compiled": default_compiled,
                "reason": reason,
                "first_steps": first,
                **compile_summary(first, args.batch, got["compiled"], got["ours"], got["peer"]),
            }
        for suffix, side in sides:
            rows.append(
                peer_row(
                    what + suffix,
                    PEER,
                    got[side],
                    got["peer"],
                    unit,
                    higher_is_better=True,
                    params=(n_ours, n_peer),
                    note=note,
                )
            )
    for kind in ("small", "gated"):  # a skipped model's lines stay, with the date measured
        if kind not in kinds:
            rows += carried_rows("pixelcnn_throughput", lambda r, e=ENTRIES[kind]: e in r["what"])
            checks[kind] = carried_checks(kind)
    load.append(os.getloadavg()[0])
    out = dict(batch=args.batch, rounds=args.rounds, threads=args.threads, load_average=load)
    out.update(checks=checks, peers=rows)
    write_results("pixelcnn_throughput", out)
    return out


if __name__ == "__main__":
    main()
