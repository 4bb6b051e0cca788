"""Vector quantisation (van den Oord et al. 2017, "Neural Discrete Representation Learning").

Each encoder vector ``z_e`` is replaced by the nearest of ``K`` prototypes ``e_1..e_K`` (its
*code*). The decoder sees the prototype; gradients pass straight through the rounding to the
encoder (``z_q = z_e + sg(e_k - z_e)``). The codebook learns either from the codebook loss
``||sg(z_e) - e_k||^2`` or, with ``ema=True``, from exponential moving averages of the vectors
assigned to each code (Appendix A.1 of the paper, with Laplace smoothing of the counts); the
encoder is kept near its codes by the commitment loss ``beta ||z_e - sg(e_k)||^2``.

Codes that the data stop using ("dead" codes) are re-initialised to random encoder outputs of
the current batch, drawn with the global torch RNG (deterministic under ``torch.manual_seed``):
by the running-count rule (``dead_code_threshold``) and/or, with ``dead_code_steps = N``, when
a code has won no vector for N training steps. ``kmeans_init = I`` replaces the random initial
codebook by I Lloyd iterations of k-means on the encoder outputs of the first training batch
(codebook-collapse remedies; docs/collapse.md). :meth:`VectorQuantizer.code_usage` reports code use
(perplexity, codes used, dead codes) for the training log.

Shapes: ``z_e`` is ``[B, D, *S]`` (channels first, any number of spatial dimensions ``S``:
a latent grid ``[B, D, h, w]`` or a sequence ``[B, D, L]``); codes are ``[B, *S]`` int64.

Losses are means over every element (like ``F.mse_loss``); a model that wants them per
example multiplies by ``D * prod(S)``.

    >>> vq = VectorQuantizer(num_codes=512, code_dim=64)
    >>> out = vq(z_e)                        # z_e: [B, 64, 8, 8]
    >>> out.z_q.shape, out.codes.shape       # [B, 64, 8, 8], [B, 8, 8]
    >>> vq.lookup(out.codes)                 # the prototypes again, [B, 64, 8, 8]
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class QuantizerOutput(NamedTuple):
    """What :meth:`VectorQuantizer.forward` returns.

    Attributes:
        z_q: ``[B, D, *S]`` the prototypes, with the straight-through gradient to ``z_e``.
        codes: ``[B, *S]`` int64 in ``[0, num_codes)``, the index of each nearest prototype.
        loss: scalar, ``codebook + beta * commitment`` (``beta * commitment`` with EMA), each a
            mean over all elements of ``z_e``.
        perplexity: scalar, ``exp(entropy)`` of the batch's code frequencies: 1 when one code
            is used, ``num_codes`` when all are used equally.
    """

    z_q: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def code_perplexity(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """``exp(H)`` of the empirical code distribution of ``codes`` (any shape, int)."""
    counts = torch.bincount(codes.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum().clamp_min(1.0)
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    return torch.exp(entropy).float()


class VectorQuantizer(nn.Module):
    """Nearest-prototype quantiser with a straight-through gradient.

    Args:
        num_codes: K, the number of prototypes (>= 2).
        code_dim: D, the dimension of each prototype; the encoder's channels must match.
        beta: weight of the commitment loss (paper: 0.25).
        ema: update the codebook by exponential moving averages instead of by gradient (the
            codebook is then a buffer, not a parameter, and ``loss`` is the commitment only).
        decay: EMA decay (paper: 0.99); also the decay of the usage counts that find dead codes.
        eps: Laplace smoothing of the EMA counts.
        dead_code_threshold: in training, a code whose running count of assigned vectors per
            batch (an EMA with ``decay``, starting at the threshold) falls below this is
            re-initialised to a random encoder output of the current batch, and its count set
            back to the threshold. With the default 1.0 a code unused in the first training
            batch restarts at once (a data-dependent initialisation), and a restarted code
            must win a vector in the next batch to stay. 0 disables re-initialisation.
        dead_code_steps: N > 0 also restarts a code that has won no vector in N consecutive
            training steps (to a random encoder output of the current batch); 0: off.
        kmeans_init: I > 0 sets the codebook, on the first training batch, to the result of I
            Lloyd iterations of k-means over that batch's encoder outputs (seeded by K distinct
            random outputs; with fewer than K vectors some are repeated); 0: off (the uniform
            initialisation in ``[-1/K, 1/K]``).

    Updates (EMA and re-initialisation) happen only in training mode with gradients enabled,
    so evaluating ``log_prob`` never changes the codebook. Under ``torch.distributed`` the
    statistics are summed over processes and re-initialised codes come from rank 0.
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        dead_code_threshold: float = 1.0,
        dead_code_steps: int = 0,
        kmeans_init: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(num_codes, int) or num_codes < 2:
            raise ValueError(
                f"num_codes must be an int >= 2 (a one-code book carries no information), "
                f"got {num_codes!r}"
            )
        if not isinstance(code_dim, int) or code_dim < 1:
            raise ValueError(f"code_dim must be an int >= 1, got {code_dim!r}")
        if beta < 0:
            raise ValueError(f"beta (commitment weight) must be >= 0, got {beta}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        if eps <= 0:
            raise ValueError(f"eps (Laplace smoothing) must be > 0, got {eps}")
        if dead_code_threshold < 0:
            raise ValueError(
                f"dead_code_threshold must be >= 0 (0 disables), got {dead_code_threshold}"
            )
        for name, v in (("dead_code_steps", dead_code_steps), ("kmeans_init", kmeans_init)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int >= 0 (0 disables), got {v!r}")
        self.dead_code_steps, self.kmeans_init = dead_code_steps, kmeans_init
        self.num_codes, self.code_dim = num_codes, code_dim
        self.beta, self.ema, self.decay, self.eps = float(beta), bool(ema), float(decay), float(eps)
        self.dead_code_threshold = float(dead_code_threshold)

        init = torch.empty(num_codes, code_dim).uniform_(-1.0 / num_codes, 1.0 / num_codes)
        if self.ema:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        # EMA of assignments per batch; starting at the threshold, a code unused in the first
        # training batch is restarted at once (a data-dependent initialisation).
        self.register_buffer("usage", torch.full((num_codes,), self.dead_code_threshold))
        # training steps since each code last won a vector (dead_code_steps), and whether the
        # k-means initialisation has run (kmeans_init); both saved with checkpoints
        self.register_buffer("idle_steps", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("initialised", torch.tensor(kmeans_init == 0))

    def extra_repr(self) -> str:
        mode = f"ema=True, decay={self.decay}" if self.ema else f"beta={self.beta}"
        return f"num_codes={self.num_codes}, code_dim={self.code_dim}, {mode}"

    # ------------------------------------------------------------------ lookups
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest prototype of each row of ``flat: [N, D]`` -> ``[N]`` int64.

        Squared distances are expanded as ``|e|^2 - 2 z.e`` (``|z|^2`` does not change the
        argmin); ``argmin`` returns the lowest index among equal distances.
        """
        e = self.codebook.detach().float()
        with torch.autocast(flat.device.type, enabled=False):  # distances in float32 always
            dist2 = torch.addmm((e * e).sum(1), flat.detach().float(), e.t(), alpha=-2.0)
        return dist2.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Prototypes of ``codes: [B, *S]`` -> ``[B, D, *S]`` (no straight-through)."""
        if codes.is_floating_point() or codes.dim() < 1:
            raise ValueError(f"codes must be an integer tensor [B, *S], got {codes.dtype}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.num_codes):
            raise ValueError(
                f"codes must lie in [0, {self.num_codes}), got min {int(codes.min())}, "
                f"max {int(codes.max())}"
            )
        return F.embedding(codes.long(), self.codebook).movedim(-1, 1)

    # ------------------------------------------------------------------ forward
    def forward(self, z_e: torch.Tensor) -> QuantizerOutput:
        """Quantise ``z_e: [B, D, *S]``; see :class:`QuantizerOutput`."""
        if z_e.dim() < 2 or z_e.shape[1] != self.code_dim:
            raise ValueError(
                f"the encoder gives vectors of dimension {z_e.shape[1] if z_e.dim() > 1 else '?'}"
                f" (z_e shape {list(z_e.shape)}, expected [B, D, *S]) but the quantiser's "
                f"code_dim is {self.code_dim}; build both with the same dimension"
            )
        flat = z_e.movedim(1, -1).reshape(-1, self.code_dim).float()  # [N, D], N = B * prod(S)
        update = self.training and torch.is_grad_enabled()
        if update and not bool(self.initialised):
            self._kmeans_init(flat.detach())
        codes = self.nearest(flat)
        e = F.embedding(codes, self.codebook)  # [N, D], the prototypes before any update
        if update and self.ema:
            self._ema_update(flat.detach(), codes)
        commitment = F.mse_loss(flat, e.detach())
        if self.ema:
            loss = self.beta * commitment
        else:
            loss = F.mse_loss(e, flat.detach()) + self.beta * commitment
        z_q = e.detach() + (flat - flat.detach())  # straight-through: forward e exactly,
        # backward the identity to z_e (the codebook learns from its own loss or the EMA)
        z_q = z_q.reshape(*z_e.shape[:1], *z_e.shape[2:], self.code_dim).movedim(-1, 1)
        codes = codes.reshape(z_e.shape[:1] + z_e.shape[2:])
        perplexity = code_perplexity(codes, self.num_codes)
        if update and self.dead_code_threshold > 0:
            self._restart_dead_codes(flat.detach(), codes)
        if update and self.dead_code_steps > 0:
            self._restart_idle_codes(flat.detach(), codes)
        return QuantizerOutput(z_q, codes, loss, perplexity)

    # ------------------------------------------------------------------ diagnostics
    @torch.no_grad()
    def code_usage(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Code use of ``codes`` (any shape, int64 in [0, K)), scalars for the training log.

        ``perplexity`` (``exp H`` of the code frequencies), ``codes_used`` (distinct codes),
        ``used_fraction`` (``codes_used / K``) and ``dead_codes`` (codes the running count
        calls dead, or idle for ``dead_code_steps`` steps; 0 when neither rule is on).
        """
        used = torch.bincount(codes.reshape(-1), minlength=self.num_codes) > 0
        dead = torch.zeros(self.num_codes, dtype=torch.bool, device=used.device)
        if self.dead_code_threshold > 0:
            dead |= self.usage < self.dead_code_threshold
        if self.dead_code_steps > 0:
            dead |= self.idle_steps >= self.dead_code_steps
        n_used = used.sum().float()
        return {
            "perplexity": code_perplexity(codes, self.num_codes),
            "codes_used": n_used,
            "used_fraction": n_used / self.num_codes,
            "dead_codes": dead.sum().float(),
        }

    # ------------------------------------------------------------------ updates
    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        onehot = F.one_hot(codes, self.num_codes).to(flat.dtype)  # [N, K]
        count, total = onehot.sum(0), onehot.t() @ flat  # [K], [K, D]
        if _distributed():
            dist.all_reduce(count)
            dist.all_reduce(total)
        self.ema_count.mul_(self.decay).add_(count, alpha=1.0 - self.decay)
        self.ema_sum.mul_(self.decay).add_(total, alpha=1.0 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(1))

    @torch.no_grad()
    def _set_codes(self, which: torch.Tensor, fresh: torch.Tensor) -> None:
        # which: [K] bool, fresh: [n, D] -> those prototypes (and their EMA state) replaced
        self.codebook.data[which] = fresh.to(self.codebook.dtype)
        if self.ema:
            self.ema_sum[which] = fresh.to(self.ema_sum.dtype)
            self.ema_count[which] = 1.0

    @torch.no_grad()
    def _kmeans_init(self, flat: torch.Tensor) -> None:
        """K-means (``kmeans_init`` Lloyd iterations) on ``flat: [N, D]`` -> the codebook."""
        n, k = flat.shape[0], self.num_codes
        pick = torch.randperm(n, device=flat.device)[:k]
        if n < k:  # fewer vectors than codes: repeat them (restarts spread them later)
            pick = torch.cat([pick, torch.randint(n, (k - n,), device=flat.device)])
        centres = flat[pick].clone()
        for _ in range(self.kmeans_init):
            assign = torch.cdist(flat, centres).argmin(1)
            count = torch.bincount(assign, minlength=k).to(flat.dtype)
            total = torch.zeros_like(centres).index_add_(0, assign, flat)
            keep = count > 0  # an empty cluster keeps its centre
            centres[keep] = total[keep] / count[keep].unsqueeze(1)
        if _distributed():
            dist.broadcast(centres, src=0)
        self._set_codes(torch.ones(k, dtype=torch.bool, device=flat.device), centres)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _restart_idle_codes(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        """Codes that won no vector in ``dead_code_steps`` steps -> random vectors of ``flat``."""
        count = torch.bincount(codes.reshape(-1), minlength=self.num_codes)
        if _distributed():
            dist.all_reduce(count)
        self.idle_steps.add_(1).masked_fill_(count > 0, 0)
        idle = self.idle_steps >= self.dead_code_steps
        n_idle = int(idle.sum())
        if n_idle == 0:
            return
        fresh = flat[torch.randint(flat.shape[0], (n_idle,), device=flat.device)]
        if _distributed():
            dist.broadcast(fresh, src=0)
        self._set_codes(idle, fresh)
        self.idle_steps[idle] = 0

    @torch.no_grad()
    def _restart_dead_codes(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        count = torch.bincount(codes.reshape(-1), minlength=self.num_codes).to(self.usage)
        if _distributed():
            dist.all_reduce(count)
        self.usage.mul_(self.decay).add_(count, alpha=1.0 - self.decay)
        dead = self.usage < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        pick = torch.randint(flat.shape[0], (n_dead,), device=flat.device)
        fresh = flat[pick].to(self.codebook.dtype)
        if _distributed():
            dist.broadcast(fresh, src=0)
        self._set_codes(dead, fresh)
        self.usage[dead] = self.dead_code_threshold  # kept if it wins a vector next batch

    # ------------------------------------------------------------------ checkpoints
    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        key = prefix + "codebook"
        if key in state_dict:
            got = tuple(state_dict[key].shape)
            if got != (self.num_codes, self.code_dim):
                raise ValueError(
                    f"checkpointed codebook {key!r} has {got[0]} codes x {got[-1]} dims but "
                    f"this VectorQuantizer has {self.num_codes} x {self.code_dim}; build the "
                    f"model with num_codes={got[0]}, code_dim={got[-1]} to load it"
                )
        if self.ema and prefix + "ema_count" not in state_dict and key in state_dict:
            raise ValueError(
                f"{key!r} comes from a gradient-trained codebook but this quantiser has "
                "ema=True; build it with ema=False to load it"
            )
        if key in state_dict and prefix + "idle_steps" not in state_dict:
            # a checkpoint from before these buffers: a trained codebook, nobody idle yet
            state_dict[prefix + "idle_steps"] = torch.zeros_like(self.idle_steps)
            state_dict[prefix + "initialised"] = torch.tensor(True)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
