"""Seeded random subsets of a version's rows: the "random p%" arm of a data ablation.

Only the training rows are sampled; validation and test rows are all kept, so every arm of
an ablation is evaluated on the same held-out rows.

Run as: ``random_subset(rows, percent=20, seed=0)``
"""

from __future__ import annotations

import random


def subset_size(n: int, percent: float) -> int:
    """Rows kept of ``n`` at ``percent``: round half up, at least 1 when n > 0.

    >>> subset_size(7473, 20), subset_size(10, 25), subset_size(3, 1), subset_size(0, 50)
    (1495, 3, 1, 0)
    """
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    if n == 0:
        return 0
    return max(1, int(n * percent / 100 + 0.5))


def random_subset(rows: list[dict], percent: float, seed: int = 0,
                  split: str = "train") -> list[dict]:
    """``rows`` with only a seeded random ``percent`` of those whose ``split`` is ``split``.

    ``rows``: version rows ({..., "split"}); the sample is ``random.Random(seed).sample``
    of ``subset_size`` positions among the ``split`` rows; every other row is kept; the
    input order is kept. Raises ValueError for a percent outside (0, 100].
    """
    members = [i for i, row in enumerate(rows) if row.get("split") == split]
    chosen = set(random.Random(seed).sample(members, subset_size(len(members), percent)))
    return [row for i, row in enumerate(rows) if row.get("split") != split or i in chosen]
