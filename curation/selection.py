"""Quality-and-diversity selection: keep the best N rows by a score, skipping near copies.

Deita's "score-first, diversity-aware" selection (Liu et al., ICLR 2024, "What Makes Good
Data for Alignment?", Alg. 1): visit rows from the highest score down and take a row unless
its cosine similarity to a row already taken is above a threshold (Deita uses 0.9 on its
embeddings), until N rows are taken. Optionally per group (a cluster, a meta category): each
group gets a share of N proportional to its scored rows (largest remainders, so the shares
add up to N) and is selected on its own.

Run as: ``select_rows([0.9, 0.5, 0.7], n=2, vectors=unit_vectors, threshold=0.9)``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEITA_THRESHOLD = 0.9


@dataclass
class Selection:
    """``chosen``: row indices in the order taken; ``similar``: rows skipped by the guard,
    {index, similar_to, cosine}; ``unscored``: rows without a score (never taken);
    ``quotas``: {group: rows asked for} (one group ``""`` without grouping)."""

    chosen: list[int] = field(default_factory=list)
    similar: list[dict] = field(default_factory=list)
    unscored: list[int] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)


def quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` over groups in proportion to ``sizes`` (largest remainder method; ties by
    group name); no group gets more than its size.

    >>> quotas({"a": 3, "b": 1}, 2)
    {'a': 2, 'b': 0}
    """
    total = sum(sizes.values())
    n = min(n, total)
    if total == 0:
        return {g: 0 for g in sizes}
    exact = {g: n * size / total for g, size in sizes.items()}
    out = {g: int(value) for g, value in exact.items()}
    order = sorted(sizes, key=lambda g: (-(exact[g] - out[g]), g))
    for g in order[:n - sum(out.values())]:
        out[g] += 1
    return out


def _diverse_top(order: list[int], n: int, vectors: np.ndarray | None,
                 threshold: float | None, out: Selection) -> None:
    taken: list[int] = []
    for index in order:
        if len(taken) >= n:
            break
        if vectors is not None and threshold is not None and taken:
            cosines = vectors[taken] @ vectors[index]
            best = int(np.argmax(cosines))
            if cosines[best] > threshold:
                out.similar.append({"index": index, "similar_to": taken[best],
                                    "cosine": float(cosines[best])})
                continue
        taken.append(index)
    out.chosen += taken


def select_rows(scores: Sequence[float | None], n: int, vectors: np.ndarray | None = None,
                threshold: float | None = DEITA_THRESHOLD,
                groups: Sequence[str] | None = None) -> Selection:
    """The rows to keep: the best ``n`` by ``scores`` (higher is better), diverse.

    ``vectors``: (rows, d) L2-normalized embeddings, or None for no diversity guard;
    ``threshold``: a row whose cosine to a row already taken (in its group) is above it is
    skipped (None: no guard). ``groups``: a group name per row for per-group quotas. Ties in
    score go to the lower index. Fewer than ``n`` rows come back when the scored, diverse
    rows run out.
    """
    out = Selection()
    names = list(groups) if groups is not None else [""] * len(scores)
    scored = [i for i, s in enumerate(scores) if s is not None]
    out.unscored = [i for i, s in enumerate(scores) if s is None]
    members: dict[str, list[int]] = {}
    for i in scored:
        members.setdefault(names[i], []).append(i)
    out.quotas = quotas({g: len(rows) for g, rows in sorted(members.items())}, n)
    for group, rows in sorted(members.items()):
        order = sorted(rows, key=lambda i: (-scores[i], i))
        _diverse_top(order, out.quotas[group], vectors, threshold, out)
    return out


def size_of(candidates: int, n: int | None = None, percent: float | None = None) -> int:
    """Rows to keep: ``n``, or ``percent`` % of ``candidates`` rounded (at least 1).

    Raises ValueError unless exactly one of them is given and it is in range.

    >>> size_of(7473, percent=20)
    1495
    """
    if (n is None) == (percent is None):
        raise ValueError("give either N rows or a percentage, not both")
    if n is not None:
        if n < 1:
            raise ValueError(f"N must be at least 1, not {n}")
        return n
    if not 0 < percent <= 100:
        raise ValueError(f"the percentage must be in (0, 100], not {percent}")
    return max(1, round(candidates * percent / 100))
