"""The tiny build of every registry entry: hyper-parameter overrides that make the entry's model
small enough to build and sum over every input of a tiny spec in a test (the catalogue,
registry.yaml, holds product settings only). ``{}``: the entry is small enough as it is.

Every entry must appear here (tests/test_registry_normalisation.py fails otherwise), so a new
entry is built small on purpose, never by accident.
"""

from __future__ import annotations

from typing import Any

CONV_VAE_TINY = {"channels": 8, "res_channels": 4, "latent_channels": 2}
VQVAE_TINY = {"num_codes": 8, "code_dim": 4, "hidden": 8, "res_channels": 4}
WAVENET_AE_TINY = {
    "encoder_channels": 8,
    "latent_dim": 4,
    "num_codes": 8,
    "cond_channels": 8,
    "layers": 2,
    "residual_channels": 8,
    "gate_channels": 8,
    "skip_channels": 8,
}

TINY_BUILDS: dict[str, dict[str, Any]] = {
    "independent_digits": {},
    "independent_pydoc": {},
    "independent_spoken_digits": {},
    "independent_bmnist": {},
    "independent_mnist8": {},
    "independent_ptb_word": {},
    "independent_shakespeare_char": {},
    "independent_fsdd": {},
    "ngram_kn5_word": {},
    "ngram_mkn5_char": {},
    "ngram_mkn5_shakespeare_char": {},
    "ngram_mkn3_pydoc": {},
    "ngram_add1_pixels": {},
    "ngram_mkn5_pixels_bmnist": {},
    "ngram_mkn3_pixels_mnist8": {},
    "ngram_mkn4_audio": {},
    "ngram_mkn4_fsdd": {},
    "pixelcnn_small_bmnist": {},
    "pixelcnn_gated_bmnist": {},
    "pixelrnn_rowlstm_bmnist": {},
    "pixelrnn_diagbilstm_bmnist": {},
    "pixelcnn_gated_mnist": {"conditional": False},
    "pixelcnn_pp_mnist": {},
    "pixelcnn_cifar10": {"channels": 6, "blocks": 2, "head_channels": 12},
    "pixelcnn_gated_cifar10": {"channels": 12, "layers": 2, "head_channels": 12},
    "pixelcnn_pp_cifar10": {"filters": 8, "resnets": 1},
    "pixelrnn_rowlstm_cifar10": {"channels": 6, "layers": 2, "head_channels": 12},
    "pixelrnn_diagbilstm_cifar10": {"channels": 6, "layers": 2, "head_channels": 12},
    "pixelcnn_digits": {},
    "pixelcnn_gated_digits": {"conditional": False},
    "pixelcnn_pp_digits": {},
    "pixelrnn_rowlstm_digits": {},
    "pixelrnn_diagbilstm_digits": {},
    "pixelcnn_prior": {},
    "vae_bmnist": {},
    "vae_iwae_bmnist": {},
    "vae_mnist8": CONV_VAE_TINY,
    "vae_digits": {},
    "vae_cifar10": CONV_VAE_TINY,
    "vae_audio_spoken_digits": CONV_VAE_TINY,
    "vae_audio_fsdd": CONV_VAE_TINY,
    "vae_pydoc": {},
    "vae_shakespeare_char": {},
    "vqvae_lstm_prior": {},
    "vqvae_cifar10": {**VQVAE_TINY, "prior_hparams": {"hidden": 16}},
    "vqvae_bmnist": {**VQVAE_TINY, "prior_hparams": {"hidden": 16}},
    "vqvae_digits": VQVAE_TINY,
    "vqvae_fsdd": {**VQVAE_TINY, "prior_hparams": {"hidden": 16}},
    "vqvae_spoken_digits": VQVAE_TINY,
    "wavenet_ae_vq_fsdd": WAVENET_AE_TINY,
    "wavenet_ae_vae_fsdd": WAVENET_AE_TINY,
    "wavenet_ae_ae_fsdd": WAVENET_AE_TINY,
    "wavenet_ae_vq_spoken_digits": WAVENET_AE_TINY,
    "wavenet_spoken_digits": {},
    "wavenet_fsdd": {"global_labels": []},
    "wavenet_char_pydoc": {},
    "wavenet_char_shakespeare": {},
    "wavenet_prior": {},
    # fvsbn / nade / made (issue 28)

    # flow (issue 28)
    "flow_digits": {"steps": 2, "hidden": 8},
    "flow_mnist8": {"steps": 2, "hidden": 8},
    "flow_vdq_mnist8": {"steps": 2, "hidden": 8, "dq_hidden": 8},
    "flow_bmnist": {"steps": 2, "hidden": 8},
    "flow_glow_mnist8_paper": {"steps": 2, "hidden": 8},

    # transformer (issue 27)
    "transformer_digits_quick": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_char_pydoc_quick": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_spoken_digits_quick": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_digits": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_char_pydoc": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_char_shakespeare": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_char_ptb": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_word_ptb": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_bmnist": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_mnist8": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_spoken_digits": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_fsdd": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_nanogpt_shakespeare_paper": {"layers": 1, "heads": 2, "dim": 8},
    "transformer_igpt_small_cifar10_paper": {"layers": 1, "heads": 2, "dim": 8},

    # lstm (issue 27)
    "lstm_pydoc": {"embed": 8, "hidden": 8},
    "lstm_digits": {"embed": 8, "hidden": 8},
    "lstm_spoken_digits": {"embed": 8, "hidden": 8},
    "lstm_ptb_word": {"embed": 8, "hidden": 8},
    "lstm_ptb_char": {"embed": 8, "hidden": 8},
    "lstm_shakespeare_char": {"embed": 8, "hidden": 8},
    "lstm_ptb_word_medium_paper": {"embed": 8, "hidden": 8},
    "lstm_ptb_word_large_paper": {"embed": 8, "hidden": 8},

    # speech experiment (issue 26)
    "wavenet_ae_vq_nms_spoken_digits": WAVENET_AE_TINY,

    # collapse remedies and CPU-sized standard entries (issue 31)
    "pixelcnn_gated_bmnist_paper": {},
    "pixelcnn_gated_mnist_paper": {"conditional": False},
    "pixelcnn_pp_mnist_paper": {},
    "wavenet_fsdd_paper": {"global_labels": []},

    # paper suite
    "pixelcnn_bmnist_paper": {},
    "pixelrnn_rowlstm_bmnist_paper": {},
    "pixelrnn_diagbilstm_bmnist_paper": {},
    "vae_bmnist_paper": {},
    "vae_iwae_bmnist_paper": {},
}


def tiny_overrides(name: str) -> dict[str, Any]:
    """Entry ``name``'s tiny-build overrides (a copy)."""
    if name not in TINY_BUILDS:
        raise KeyError(f"registry entry {name!r} has no tiny build: add it to tests/tiny_builds.py")
    return dict(TINY_BUILDS[name])
