"""Bits-back coding of a VAE (BB-ANS, Townsend, Bird & Barber 2019) with constriction's ANS.

A VAE has no exact likelihood, but its ELBO is a code length: with an ANS stack (last in,
first out), each batch of examples is coded as

    1. z ~ Q(z | x): *decode* the latent from the stack (this takes bits off: "bits back"),
    2. push x under p(x | z),
    3. push z under the prior P(z),

which costs ``-log p(x|z) - log P(z) + log Q(z|x)`` bits net: a one-draw estimate of -ELBO.
The decoder runs the batches in reverse: pop z under the prior, pop x given z, then push z
back under Q(z | x) (which it can compute now), returning the stack to where the encoder
found it.

The latent is discretised on a grid of step ``2^-latent_bits`` over ``[-8, 8]``: the prior
and the posterior become ``QuantizedGaussian``s over the grid's integer indices (means and
standard deviations divided by the step), and the decoder network sees the grid points. A
fine grid makes ``P`` and ``Q`` ``step x density``, so the step cancels in the net rate.

Too fine a grid costs, though: the coder quantises each ``QuantizedGaussian`` to 24-bit
integers with its *leaky* rule (every grid point keeps at least ``2^-24``), so a grid of ``G``
points gives the posterior's far tails about ``G 2^-24`` of its mass. A latent drawn there
(``z`` many posterior deviations from its mean) is paid for three times: under the prior,
through a bad reconstruction, and with only 24 bits back. At ``2^-10`` (16,385 points, 0.1%
of each latent's mass in the leak) that cost a trained ``vae_bmnist`` 0.8% over its -ELBO on
the binarized-MNIST test split; at ``2^-6`` (1,025 points) the net rate is within 0.03% of
-ELBO, while the posteriors' smallest deviation (0.08 there) still spans five grid steps.

Initial bits: step 1 of the first batch needs bits on the stack. The stack starts with
``SEED_WORDS`` fixed pseudo-random words, known to both sides; they are in the file (the
first-example overhead, reported), and the decoder checks that it finds them again at the
end. Batches then grow with the stack so that no later pop runs it dry.
"""

from __future__ import annotations

import math
from typing import Any

import constriction
import numpy as np
import torch

from zoo.coding.coder import coding_probs
from zoo.errors import ZooInputError
from zoo.models.vae import VAE

SEED_WORDS = 32  # 1,024 initial bits
LATENT_RANGE = 8.0  # the grid covers [-8, 8] (prior mass outside: 1e-15)
LATENT_BITS = 6  # grid step 2^-6 (see the module doc: finer grids leak into the tails)
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def seed_words() -> np.ndarray:
    w = np.random.default_rng(0).integers(1 << 31, 1 << 32, SEED_WORDS, dtype=np.uint64)
    return w.astype(np.uint32)


def check_codable(model: VAE) -> None:
    if not model.head.independent_channels:
        raise ZooInputError(
            f"bits-back coding needs a head whose values are independent given z; "
            f"{model.head!r} is not"
        )


class BitsBack:
    """Encoder/decoder of one VAE with a latent grid of step ``2^-latent_bits``."""

    def __init__(self, model: VAE, latent_bits: int = LATENT_BITS) -> None:
        check_codable(model)
        self.model = model.eval()
        self.step = 2.0**-latent_bits
        kmax = int(LATENT_RANGE / self.step)
        self.grid = constriction.stream.model.QuantizedGaussian(-kmax, kmax)
        self.latent_bits = latent_bits

    # ------------------------------------------------------------------ shared pieces
    def _posterior(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        mu, logvar = self.model._encode(x)
        mean = (mu.double() / self.step).reshape(-1).numpy()
        std = (torch.exp(0.5 * logvar.double()) / self.step).reshape(-1).numpy()
        return np.ascontiguousarray(mean), np.ascontiguousarray(std)

    def _prior(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(n), np.full(n, 1.0 / self.step)

    def _x_probs(self, k: np.ndarray, b: int) -> np.ndarray:
        """Table of p(x | z) for every value of the batch, ``[b D, K]`` (z from grid indices)."""
        m = self.model
        z = torch.from_numpy(k.astype(np.float32) * np.float32(self.step))
        params = m._decode(z.reshape(b, *m.latent_shape)).float()
        K = m.spec.levels
        lp = m.head.level_log_probs(params)  # [b, C, *S, K]
        return coding_probs(lp.reshape(-1, K))

    def _values(self, x: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(self.model._as_channels(x).reshape(-1).numpy(), np.int32)

    # ------------------------------------------------------------------ encode / decode
    @torch.inference_mode()
    def encode(self, x: torch.Tensor, max_batch: int = 512) -> tuple[bytes, dict[str, Any]]:
        """``x: [N, *shape]`` -> (payload, facts: batch sizes, bits per batch, overhead)."""
        x = x.long()
        ans = constriction.stream.stack.AnsCoder(seed_words())
        seed_bits = ans.num_bits()
        batches, net, first_pop = [], [], 0.0
        start, pop_per_example = 0, None
        while start < len(x):
            if pop_per_example is None:
                b = 1
            else:  # pop at most half of what the stack holds
                b = int(max(1, min(max_batch, ans.num_bits() // (2 * pop_per_example))))
            b = min(b, len(x) - start)
            xb = x[start : start + b]
            before = ans.num_bits()
            mean, std = self._posterior(xb)
            k = ans.decode(self.grid, mean, std)  # bits back
            popped = before - ans.num_bits()
            if pop_per_example is None:
                first_pop = float(popped)
            pop_per_example = max(popped / b, 1.0)
            ans.encode_reverse(self._values(xb), _CATEGORICAL, self._x_probs(k, b))
            ans.encode_reverse(k, self.grid, *self._prior(len(k)))
            batches.append(b)
            net.append(ans.num_bits() - before)
            start += b
        payload = ans.get_compressed().astype("<u4").tobytes()
        facts = {
            "coder": "bits-back-ans",
            "latent_bits": self.latent_bits,
            "batches": batches,
            "seed_bits": seed_bits,
            "first_pop_bits": first_pop,
            "net_bits": float(sum(net)),
        }
        return payload, facts

    @torch.inference_mode()
    def decode(self, payload: bytes, batches: list[int]) -> torch.Tensor:
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        ans = constriction.stream.stack.AnsCoder(words)
        m = self.model
        D, L = m.spec.D, math.prod(m.latent_shape)
        out = []
        for b in reversed(batches):
            k = ans.decode(self.grid, *self._prior(b * L))
            v = ans.decode(_CATEGORICAL, self._x_probs(k, b))
            xb = torch.from_numpy(v.astype(np.int64)).reshape(b, *m.spec.shape)
            ans.encode_reverse(k, self.grid, *self._posterior(xb))
            out.append(xb)
            assert v.size == b * D
        rest = ans.get_compressed()
        if not np.array_equal(rest, seed_words()):
            raise ZooInputError(
                "the bits-back archive is damaged: its initial bits do not come back"
            )
        return torch.cat(out[::-1])
