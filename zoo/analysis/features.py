"""Baseline frame features for ABX (MFCC, log-mel) and phone labels at frame centres.

Waveforms are float ``[B, T]`` (or ``[T]``) in [-1, 1] (decode mu-law levels with
``zoo.data.speech.mu_law_decode`` first). Features use a 25 ms window and a hop of
``sample_rate / frame_rate`` samples, centred (torchaudio ``center=True``): frame ``i`` is
centred on sample ``i * hop``, so label them with ``frame_phones(phones, hop, first_centre=0)``.
"""

from __future__ import annotations

import torch

from zoo.errors import ZooInputError


def _hop(sample_rate: int, frame_rate: float) -> int:
    hop = sample_rate / frame_rate
    if frame_rate <= 0 or hop != int(hop):
        raise ZooInputError(
            f"frame_rate {frame_rate} must divide sample_rate {sample_rate} (integer hop)"
        )
    return int(hop)


def log_mel(
    wave: torch.Tensor, sample_rate: int, *, frame_rate: float = 100, n_mels: int = 40
) -> torch.Tensor:
    """``[B, T]`` -> ``[B, L, n_mels]`` log mel energies, ``L = T // hop + 1``."""
    import torchaudio

    hop = _hop(sample_rate, frame_rate)
    win = int(round(0.025 * sample_rate))
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate, n_fft=max(win, 2 ** (win - 1).bit_length()), win_length=win,
        hop_length=hop, n_mels=n_mels, center=True,
    )  # fmt: skip
    w = torch.as_tensor(wave, dtype=torch.float32)
    w = w[None] if w.dim() == 1 else w
    return torch.log(mel(w) + 1e-6).transpose(1, 2)


def mfcc(
    wave: torch.Tensor, sample_rate: int, *, frame_rate: float = 100, n_mfcc: int = 13,
    n_mels: int = 40,
) -> torch.Tensor:  # fmt: skip
    """``[B, T]`` -> ``[B, L, n_mfcc]`` MFCCs (DCT-II of the log mels, orthonormal)."""
    import torchaudio.functional as AF

    lm = log_mel(wave, sample_rate, frame_rate=frame_rate, n_mels=n_mels)
    dct = AF.create_dct(n_mfcc, n_mels, norm="ortho")  # [n_mels, n_mfcc]
    return lm @ dct


def frame_phones(
    phones: torch.Tensor, hop: int, *, first_centre: int | None = None, n_frames: int | None = None
) -> torch.Tensor:
    """Per-sample phones ``[N, T]`` -> ``[N, L]``: the phone at each frame's centre sample
    ``first_centre + i * hop`` (default ``hop // 2``: frames of ``hop`` samples starting at 0,
    a latent at stride ``hop``); ``L = n_frames`` or as many centres as fit in ``T``. Centres
    past the end get -1."""
    phones = torch.as_tensor(phones)
    phones = phones[None] if phones.dim() == 1 else phones
    T = phones.shape[1]
    c0 = hop // 2 if first_centre is None else first_centre
    if n_frames is None:
        n_frames = max(0, (T - 1 - c0) // hop + 1)
    centres = c0 + hop * torch.arange(n_frames)
    out = torch.full((phones.shape[0], n_frames), -1, dtype=torch.long)
    inside = centres < T
    out[:, inside] = phones[:, centres[inside]].long()
    return out
