"""Discrete codes (a VQ bottleneck's indices) against frame phone labels.

Every function takes ``codes: [M]`` int code per frame and ``phones: [M]`` int phone per frame
(-1: no phone; those frames are left out of every label statistic), flattened over chunks.
"""

from __future__ import annotations

import numpy as np

from zoo.errors import ZooInputError


def contingency(codes, phones) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(table [C, P] counts, code ids [C], phone ids [P])`` over the labelled frames."""
    codes, phones = np.asarray(codes).reshape(-1), np.asarray(phones).reshape(-1)
    if codes.shape != phones.shape:
        raise ZooInputError(f"codes {codes.shape} and phones {phones.shape} differ in length")
    keep = phones >= 0
    cu, ci = np.unique(codes[keep], return_inverse=True)
    pu, pi = np.unique(phones[keep], return_inverse=True)
    table = np.zeros((len(cu), len(pu)), np.int64)
    np.add.at(table, (ci, pi), 1)
    return table, cu, pu


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def purity(codes, phones) -> float:
    """Fraction of labelled frames whose phone is their code's most frequent phone."""
    table, _, _ = contingency(codes, phones)
    return float(table.max(1).sum() / table.sum()) if table.size else float("nan")


def mutual_information(codes, phones) -> float:
    """I(code; phone) in nats over the labelled frames."""
    table, _, _ = contingency(codes, phones)
    if not table.size:
        return float("nan")
    return _entropy(table.sum(1)) + _entropy(table.sum(0)) - _entropy(table.ravel())


def nmi(codes, phones) -> float:
    """Normalised mutual information ``2 I(C; P) / (H(C) + H(P))`` in [0, 1] (scikit-learn's
    default "arithmetic" normalisation); 1 when both entropies are 0."""
    table, _, _ = contingency(codes, phones)
    if not table.size:
        return float("nan")
    hc, hp = _entropy(table.sum(1)), _entropy(table.sum(0))
    if hc + hp == 0:
        return 1.0
    return float(2 * mutual_information(codes, phones) / (hc + hp))


def perplexity(codes) -> float:
    """``exp(H)`` of the code distribution over all frames given (labelled or not): the
    effective number of codes in use."""
    _, counts = np.unique(np.asarray(codes).reshape(-1), return_counts=True)
    return float(np.exp(_entropy(counts))) if counts.size else float("nan")


def top_phones(codes, phones, phone_names=None, k: int = 3) -> dict[int, list[tuple[str, float]]]:
    """Code -> its ``k`` most frequent phones with the fraction of the code's labelled frames
    (ties by phone id); phone names from ``phone_names`` (else the ids as strings)."""
    table, cu, pu = contingency(codes, phones)
    out = {}
    for r, code in enumerate(cu.tolist()):
        order = sorted(range(len(pu)), key=lambda j: (-table[r, j], pu[j]))[:k]
        total = table[r].sum()
        out[int(code)] = [
            (
                str(phone_names[pu[j]]) if phone_names is not None else str(int(pu[j])),
                float(table[r, j] / total),
            )
            for j in order
            if table[r, j] > 0
        ]
    return out


def code_report(codes, phones, phone_names=None, k: int = 3) -> dict:
    """``purity``, ``nmi``, ``perplexity`` and ``top_phones`` in one dict (JSON-ready)."""
    return {
        "purity": purity(codes, phones),
        "nmi": nmi(codes, phones),
        "perplexity": perplexity(codes),
        "top_phones": {str(c): v for c, v in top_phones(codes, phones, phone_names, k).items()},
    }
