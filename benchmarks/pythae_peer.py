"""pythae (``pip install pythae``, 0.1.2) models built around copies of our networks.

"Equal architecture" here is literal: pythae's VAE / VQVAE get deep copies of our encoder and
decoder modules (wrapped in pythae's BaseEncoder / BaseDecoder), so both sides have the same
layers and the same parameter count, and what differs is each library's own objective and
training path (pythae: ``model(DatasetOutput(data=x)).loss`` on float inputs, a sigmoid decoder
and ``binary_cross_entropy`` for the VAE, MSE for the VQ-VAE).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def import_error() -> str | None:
    """Why pythae cannot be used here (one line), or None when it imports."""
    from benchmarks.common import cannot_import

    try:
        import pythae.models  # noqa: F401
    except Exception as e:  # any import failure (missing, or broken with this torch)
        return cannot_import("pythae", e)
    return None


def vae(ours: nn.Module, input_dim: tuple[int, ...]) -> nn.Module:
    """pythae's ``VAE`` (BCE reconstruction) around copies of our VAE's encoder and decoder:
    the encoder maps [0, 1] images to (mu, log-variance), the decoder's logits go through a
    sigmoid (pythae's BCE takes probabilities)."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    mlp = ours.encoder_kind == "mlp"
    latent_shape = tuple(ours.latent_shape)

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            BaseEncoder.__init__(self)
            self.net = copy.deepcopy(ours.encoder)

        def forward(self, x: torch.Tensor):
            out = self.net(x.flatten(1) if mlp else x)
            mu, log_var = out.chunk(2, dim=1)
            return ModelOutput(embedding=mu.flatten(1), log_covariance=log_var.flatten(1))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            BaseDecoder.__init__(self)
            self.net = copy.deepcopy(ours.decoder)

        def forward(self, z: torch.Tensor):
            logits = self.net(z if mlp else z.view(z.shape[0], *latent_shape))
            return ModelOutput(reconstruction=torch.sigmoid(logits).view(-1, *input_dim))

    latent = latent_shape[0] if mlp else int(torch.tensor(latent_shape).prod())
    cfg = VAEConfig(input_dim=input_dim, latent_dim=latent, reconstruction_loss="bce")
    return VAE(cfg, encoder=Encoder(), decoder=Decoder())


def vqvae(ours: nn.Module, input_dim: tuple[int, ...]) -> nn.Module:
    """pythae's ``VQVAE`` (MSE reconstruction, codebook + 0.25 commitment, no EMA) around
    copies of our VQ-VAE's encoder and decoder; pythae's reconstruction is the decoder's first
    ``C`` output maps (our logistic head's means: the same layers, its loss reads half)."""
    from pythae.models import VQVAE, VQVAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    c = input_dim[0]

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            BaseEncoder.__init__(self)
            self.net = copy.deepcopy(ours.encoder)

        def forward(self, x: torch.Tensor):
            return ModelOutput(embedding=self.net(x))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            BaseDecoder.__init__(self)
            self.net = copy.deepcopy(ours.decoder)

        def forward(self, z: torch.Tensor):
            return ModelOutput(reconstruction=self.net(z)[:, :c])

    cfg = VQVAEConfig(
        input_dim=input_dim,
        latent_dim=ours.code_dim,
        num_embeddings=ours.num_codes,
        commitment_loss_factor=0.25,
        quantization_loss_factor=1.0,
        use_ema=False,
    )
    return VQVAE(cfg, encoder=Encoder(), decoder=Decoder())


def loss_fn(model: nn.Module):
    """pythae's training objective on a float batch, as its trainer calls it."""
    from pythae.data.datasets import DatasetOutput

    return lambda x: model(DatasetOutput(data=x)).loss
