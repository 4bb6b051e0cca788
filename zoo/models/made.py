"""MADE: the masked autoencoder for distribution estimation (Germain et al. 2015).

A multilayer perceptron ``D -> hidden... -> P D`` whose weight matrices are multiplied by
binary masks built from degrees (:mod:`zoo.nn.made`), so that output ``d`` sees only the inputs
before ``d`` in an ordering: one forward pass gives every conditional.

*Connectivity-agnostic training* (``num_masks > 1``): the model holds ``num_masks`` masks,
each from its own seeded draw of hidden degrees (and, with ``order="random"``, of the input
ordering); training step ``s`` uses mask ``s mod num_masks`` (the trainer gives the step
through :meth:`set_step`), so every minibatch trains another mask and the weights learn to
serve them all. Mask 0 with ``order="natural"`` has the natural ordering.

*Direct connections* (``direct=True``): a masked linear map from the inputs straight to the
outputs, output ``d`` seeing every input before it in the mask's ordering (an FVSBN beside
the MLP). Without it, output ``d`` sees input ``d - 1`` only through hidden units of degree
exactly ``d - 1``, about ``H / D`` of them: the nearest pixels, the most informative ones, are
the hardest to reach, and connectivity-agnostic training, which moves every unit's degree from
mask to mask, makes it harder still. With natural orderings the direct map is the same for
every mask.

*Evaluation* with ``ensemble = E`` masks scores the **mixture of the E joint distributions**,

    log p(x) = logsumexp_k log p_k(x) - log E,

each ``p_k`` an exact, normalised autoregressive model, so the mixture is one too. (Averaging
the per-dimension conditionals across masks instead does not give a normalised distribution
when the orderings differ, and is not what the paper reports.) ``sample`` draws from the same
mixture: each example picks one of the E masks uniformly and is drawn in its ordering.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo.core.contract import Cond
from zoo.core.spec import DataSpec
from zoo.core.validation import check_ints
from zoo.errors import ZooInputError
from zoo.models.flat_ar import FlatAutoregressive
from zoo.nn.made import MaskedLinear, made_degrees, made_masks


class MADE(FlatAutoregressive):
    family = "made"

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden: tuple[int, ...] | list[int] = (500,),
        num_masks: int = 1,
        ensemble: int | None = None,
        order: str = "natural",
        direct: bool = False,
        head: str = "auto",
        seed: int = 0,
    ) -> None:
        """``hidden``: widths of the hidden layers; ``num_masks``: masks trained in turn;
        ``ensemble``: masks averaged (as a mixture) by ``log_prob`` (None: all of them);
        ``order``: "natural" or "random" input orderings; ``direct``: also a masked linear
        map from the inputs straight to the outputs (output ``d`` sees every input before it
        in the mask's ordering, an FVSBN beside the MLP); ``seed``: the masks' draw."""
        super().__init__(spec, head=head)
        hidden = tuple(hidden)
        if not hidden:
            raise ZooInputError("MADE needs at least one hidden layer (hidden=[500])")
        check_ints("MADE", num_masks=num_masks, **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        ensemble = num_masks if ensemble is None else ensemble
        if not isinstance(ensemble, int) or not 1 <= ensemble <= num_masks:
            raise ZooInputError(
                f"ensemble must be an int in [1, num_masks={num_masks}], got {ensemble!r}"
            )
        if not isinstance(direct, bool):
            raise ZooInputError(f"direct must be true or false, got {direct!r}")
        if order not in ("natural", "random"):
            raise ZooInputError(f"order must be 'natural' or 'random', got {order!r}")
        self.num_masks, self.ensemble, self.order_kind = num_masks, ensemble, order
        sizes = (self.D, *hidden)
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = MaskedLinear(hidden[-1], self.P * self.D)
        self.direct = None
        if direct:
            self.direct = MaskedLinear(self.D, self.P * self.D, bias=False)
            nn.init.zeros_(self.direct.weight)
        g = torch.Generator().manual_seed(seed)
        degrees = [
            made_degrees(
                self.D, hidden, g, order="natural" if (k == 0 and order == "natural") else order
            )
            for k in range(num_masks)
        ]
        # [num_masks, out, in] per layer: small beside the weights for the few masks used
        for i in range(len(hidden) + 1):
            stack = torch.stack([made_masks(d, self.P)[i] for d in degrees])
            self.register_buffer(f"mask{i}", stack, persistent=False)
        self.register_buffer(
            "orders", torch.stack([torch.argsort(d[0]) for d in degrees]), persistent=False
        )
        # input degrees per mask [num_masks, D]: the direct map's mask is built from them
        self.register_buffer("in_degrees", torch.stack([d[0] for d in degrees]), persistent=False)
        self._mask = 0

    def set_step(self, step: int) -> None:
        self._mask = step % self.num_masks

    def order(self, mask_index: int = 0) -> torch.Tensor:
        return self.orders[mask_index]

    def params(self, u: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """``u: [B, D]`` -> ``[B, P, D]`` under mask ``mask_index``."""
        h = u
        for i, layer in enumerate(self.layers):
            h = torch.relu(layer(h, getattr(self, f"mask{i}")[mask_index]))
        out = self.out(h, getattr(self, f"mask{len(self.layers)}")[mask_index])
        if self.direct is not None:
            deg = self.in_degrees[mask_index]
            mask = (deg.repeat(self.P)[:, None] > deg[None, :]).to(u.dtype)  # [(p d), D]
            out = out + self.direct(u, mask)
        return out.view(-1, self.P, self.D)

    def _loss(self, x: torch.Tensor, *, cond: Cond) -> tuple[torch.Tensor, dict]:
        nll = -self.joint(x, self._mask).mean()
        return nll, {"nll": nll.detach()}

    def _log_prob(self, x: torch.Tensor, *, cond: Cond, k: int) -> torch.Tensor:
        if self.ensemble == 1:
            return self.joint(x, 0)
        joints = torch.stack([self.joint(x, m) for m in range(self.ensemble)])  # [E, B]
        return torch.logsumexp(joints, 0) - math.log(self.ensemble)

    def sample_masks(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(self.ensemble, (n,), generator=generator)
