"""ZeroSpeech-style ABX phone discrimination on frame features, from phone alignments.

Items are triphones read off frame phone labels (:func:`triphone_items`): three consecutive
phone segments ``p q r`` (no -1 among them, not touching the sequence's edges); the item spans
the whole triphone, its centre is ``q`` and its context ``(p, r)``. A triplet (A, B, X) has A
and X the same triphone (different occurrences) and B the same context with another centre.
The triplet is an error when ``d(A, X) > d(B, X)`` (a tie counts one half), ``d`` the DTW
distance between the items' frame sequences (:func:`dtw`): frame distance ``cosine`` (the
angle ``arccos(cos) / pi`` in [0, 1], ZeroSpeech's "cosine") or ``kl`` (symmetrised KL, for
posteriorgram-like features, rows already probabilities), averaged along the best path.

Scores: each cell (centre pair (a, b), context, speaker) is the mean error over its
triplets; cells are averaged over contexts, then over speakers (``within``: A, B, X one
speaker) or speaker pairs (``across``: A and B one speaker, X another), then over ordered
centre pairs. Returned in percent.

Compared with: the ABX task as described for the ZeroSpeech 2017 and 2019 challenges (Dunbar
et al. 2017, "The Zero Resource Speech Challenge 2017"; ABXpy / the libri-light
``eval_ABX``): triphone items, A/X same triphone, B differing in the centre phone, DTW with the
angular cosine distance normalised by the path, the same averaging order (context, then
speakers, then phone pairs). Differences: items are built here from frame labels rather than an
item file; ``across`` takes every ordered speaker pair (A/B speaker, X speaker).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from zoo.errors import ZooInputError

try:  # the DTW inner loop; pure Python when numba is missing (slower, same numbers)
    from numba import njit
except ImportError:  # pragma: no cover - numba is installed with the project

    def njit(f):  # type: ignore[no-redef]
        return f


@dataclass(frozen=True)
class Item:
    """One triphone: frames ``[start, end)`` of sequence ``source``, its centre ``phone``,
    ``context`` ``(previous, next)`` phone and ``speaker``."""

    source: int
    start: int
    end: int
    phone: int
    context: tuple[int, int]
    speaker: int


def segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of equal labels ``[L]`` -> ``(start, end, label)`` (end exclusive)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [labels.size]])
    return [(int(s), int(e), int(labels[s])) for s, e in zip(starts, ends)]


def triphone_items(frame_phones, speakers, *, origins=None, hop: int = 1) -> list[Item]:
    """Triphone items from ``frame_phones``: ``[N, L]`` (or N sequences ``[L_i]``) int phone per
    frame, -1 for none; ``speakers``: ``[N]`` speaker per sequence.

    ``origins``: ``[N, 2]`` (recording, first sample) of each sequence, where sequences are
    overlapping chunks of recordings (a data set's ``meta["chunk_origin"][split]``); with
    ``hop`` samples per frame, a triphone seen already (same recording and phones, start
    within one frame: the chunks' frame grids may be offset) is kept once, so a repeat
    never serves as its own X."""
    speakers = np.asarray(speakers).reshape(-1)
    seen: dict[tuple[int, int, int, int], list[int]] = defaultdict(list)
    if len(frame_phones) != len(speakers):
        raise ZooInputError(f"{len(frame_phones)} label sequences but {len(speakers)} speakers")
    items = []
    for n, labels in enumerate(frame_phones):
        labels = np.asarray(labels).reshape(-1)
        segs = segments(labels)
        for (s0, _, p), (_, _, q), (_, e2, r) in zip(segs, segs[1:], segs[2:]):
            if min(p, q, r) < 0 or s0 == 0 or e2 == labels.size:
                continue
            if origins is not None:
                at = int(origins[n][1]) + s0 * hop
                before = seen[(int(origins[n][0]), p, q, r)]
                if any(abs(at - b) <= hop for b in before):
                    continue
                before.append(at)
            items.append(Item(n, s0, e2, q, (p, r), int(speakers[n])))
    return items


def frame_distances(a: np.ndarray, b: np.ndarray, distance: str = "cosine") -> np.ndarray:
    """``[La, D]`` x ``[Lb, D]`` -> ``[La, Lb]`` frame distances (module doc)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if distance == "cosine":
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        return np.arccos(np.clip(na @ nb.T, -1.0, 1.0)) / np.pi
    if distance == "kl":
        pa, pb = np.maximum(a, 1e-10), np.maximum(b, 1e-10)
        la, lb = np.log(pa), np.log(pb)
        ab = (pa * la).sum(1)[:, None] - pa @ lb.T  # KL(a || b)
        ba = (pb * lb).sum(1)[None, :] - la @ pb.T  # KL(b || a)
        return 0.5 * (ab + ba)
    raise ZooInputError(f"distance must be 'cosine' or 'kl', got {distance!r}")


@njit
def _dtw(cost):  # noqa: ANN001, ANN202 - numba kernel
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    length = np.zeros((n + 1, m + 1))
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best, blen = acc[i - 1, j - 1], length[i - 1, j - 1]
            if acc[i - 1, j] < best:
                best, blen = acc[i - 1, j], length[i - 1, j]
            if acc[i, j - 1] < best:
                best, blen = acc[i, j - 1], length[i, j - 1]
            acc[i, j] = best + cost[i - 1, j - 1]
            length[i, j] = blen + 1.0
    return acc[n, m] / length[n, m]


def dtw(a: np.ndarray, b: np.ndarray, distance: str = "cosine") -> float:
    """DTW distance between ``[La, D]`` and ``[Lb, D]``: the mean frame distance along the
    cheapest monotone path (steps (1,0), (0,1), (1,1))."""
    if len(a) == 0 or len(b) == 0:
        raise ZooInputError("DTW needs at least one frame on each side")
    return float(_dtw(np.ascontiguousarray(frame_distances(a, b, distance))))


def _cell_error(d: np.ndarray, ia: list[int], ib: list[int], ix: list[int]) -> float | None:
    """Mean error over triplets A in ia, B in ib, X in ix (X != A) of the distances ``d``."""
    dax = d[np.ix_(ia, ix)]  # [A, X]
    dbx = d[np.ix_(ib, ix)]  # [B, X]
    diff = dax[:, None, :] - dbx[None, :, :]  # [A, B, X]
    score = (diff > 0) + 0.5 * (diff == 0)
    valid = np.array(ia)[:, None, None] != np.array(ix)[None, None, :]
    valid = np.broadcast_to(valid, score.shape)
    return float(score[valid].mean()) if valid.any() else None


def abx_error(
    features, items: list[Item], *, condition: str = "within", distance: str = "cosine"
) -> float:
    """ABX error in percent of ``features`` (N sequences ``[L_i, D]``, or ``[N, L, D]``) on
    ``items`` (from :func:`triphone_items`); ``condition`` ``within`` or ``across`` speakers.
    NaN when no triplet exists."""
    if condition not in ("within", "across"):
        raise ZooInputError(f"condition must be 'within' or 'across', got {condition!r}")
    by_context: dict[tuple[int, int], list[Item]] = defaultdict(list)
    for it in items:
        by_context[it.context].append(it)
    cells: dict[tuple, list[float]] = defaultdict(list)  # (a, b, speakers) -> per-context errors
    for ctx in sorted(by_context):
        group = by_context[ctx]
        if len({it.phone for it in group}) < 2:
            continue
        seqs = [np.asarray(features[it.source])[it.start : it.end] for it in group]
        n = len(group)
        d = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                d[i, j] = d[j, i] = dtw(seqs[i], seqs[j], distance)
        where: dict[tuple[int, int], list[int]] = defaultdict(list)  # (phone, speaker) -> rows
        for k, it in enumerate(group):
            where[(it.phone, it.speaker)].append(k)
        phones = sorted({it.phone for it in group})
        spk = sorted({it.speaker for it in group})
        pairs = [(s, s) for s in spk] if condition == "within" else list(permutations(spk, 2))
        for a, b in permutations(phones, 2):
            for s_ab, s_x in pairs:
                ia, ib, ix = where.get((a, s_ab)), where.get((b, s_ab)), where.get((a, s_x))
                if not (ia and ib and ix):
                    continue
                err = _cell_error(d, ia, ib, ix)
                if err is not None:
                    cells[(a, b, (s_ab, s_x))].append(err)
    by_speakers: dict[tuple[int, int], list[float]] = defaultdict(list)
    for (a, b, _), errs in cells.items():
        by_speakers[(a, b)].append(float(np.mean(errs)))  # contexts first, then speakers
    per_pair = [float(np.mean(v)) for v in by_speakers.values()]
    return 100.0 * float(np.mean(per_pair)) if per_pair else float("nan")


def abx(
    features, frame_phones, speakers, *, distance: str = "cosine", origins=None, hop: int = 1
) -> dict[str, float]:
    """``{"within": %, "across": %}`` for ``features`` ``[N, L, D]`` (or sequences), frame
    labels ``[N, L]`` and ``speakers`` ``[N]`` (``origins``, ``hop``: :func:`triphone_items`)."""
    items = triphone_items(frame_phones, speakers, origins=origins, hop=hop)
    return {
        c: abx_error(features, items, condition=c, distance=distance) for c in ("within", "across")
    }
