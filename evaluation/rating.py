"""Blind pairwise rating: side assignment, de-randomization and the win rate.

Each item shows two outputs as A (left) and B (right); which system sits left is drawn once
per item and stored before the item is shown (Streamlit reruns a page on every click, so a
draw at render time would reshuffle). Statistics use de-randomized labels only.
"""

from __future__ import annotations

import random
from collections import Counter

CHOICES = ("A", "B", "tie", "both_bad")
LABELS = ("tuned", "base", "tie", "both_bad")


def draw_sides(rng: random.Random, systems: tuple[str, str] = ("base", "tuned")) -> tuple[str, str]:
    """(left, right) system names in random order."""
    left, right = systems if rng.random() < 0.5 else systems[::-1]
    return left, right


def derandomize(choice: str, left: str, right: str) -> str:
    """Map a shown choice (A = left, B = right, tie, both_bad) to a system label.

    >>> derandomize("A", left="tuned", right="base")
    'tuned'
    >>> derandomize("B", left="tuned", right="base")
    'base'
    """
    if choice not in CHOICES:
        raise ValueError(f"unknown choice {choice!r}; expected one of {CHOICES}")
    return {"A": left, "B": right}.get(choice, choice)


def win_rate(labels: list[str], system: str = "tuned", other: str = "base") -> dict:
    """Win rate of ``system`` = (wins + ½ ties) / n, n = wins + losses + ties.

    ``both_bad`` verdicts are counted apart and left out of n (DESIGN.md). Returns counts and
    ``win_rate`` (None when n = 0).
    """
    counts = Counter(labels)
    wins, losses, ties = counts[system], counts[other], counts["tie"]
    n = wins + losses + ties
    return {"wins": wins, "losses": losses, "ties": ties, "both_bad": counts["both_bad"],
            "n": n, "win_rate": (wins + 0.5 * ties) / n if n else None}
