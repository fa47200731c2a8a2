"""Blind rating sessions, the pure part: the design, who rates what, in which order and sides.

Run as: ``from evaluation.sessions import SessionDesign, plan; plan(design, items, raters, seed)``

A session compares two or more systems on the same examples. An *item* is one example and one
pair of systems. Each item goes to ``k`` distinct raters; each rater gets their items in their
own random order, with left/right drawn per rater and item, plus a share of repeated items
(sides drawn again) to measure intra-rater consistency. Everything is drawn here, once, from a
seed, and stored before anything is shown: Streamlit reruns a page on every click, so a draw at
render time would reshuffle.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

CHOICES = ("A", "B", "tie", "both_bad")
LIKERT = (1, 2, 3, 4, 5)
MAX_REASON_CHARS = 2000


class DesignError(ValueError):
    """A session design or a rating that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class SessionDesign:
    """What an admin chooses when creating a session (validated by ``check_design``)."""

    systems: tuple[str, ...] = field(default=("base", "tuned"), metadata={
        "help": "Systems to compare (at least two); every pair of them is rated."})
    k: int = field(default=1, metadata={
        "help": "Distinct raters per item (k ≥ 2 gives agreement statistics)."})
    repeat_share: float = field(default=0.0, metadata={
        "help": "Share (0–0.5) of each rater's items shown a second time, sides drawn again, "
                "to measure intra-rater consistency."})
    guidelines: str = field(default="", metadata={
        "help": "Markdown shown to raters above every item (written by the admin)."})


@dataclass(frozen=True)
class Item:
    """One example and one pair of systems (``first`` < ``second`` by name)."""

    item_no: int
    example_id: int
    first: str
    second: str


@dataclass(frozen=True)
class Assignment:
    """One row of a rater's list: what they see at ``position`` (0-based), sides included."""

    rater: str
    position: int
    item_no: int
    left: str
    right: str
    is_repeat: bool


def check_design(design: SessionDesign, n_items: int, n_raters: int) -> None:
    """Raise DesignError (one message listing every problem) when a design cannot be run.

    Rules: at least two distinct systems; k ≥ 1 and k ≤ raters (k *distinct* raters per item);
    0 ≤ repeat_share ≤ 0.5; at least one rater; and at least raters × k items (a
    session with fewer items than raters × k is refused, so every rater gets at least k items
    and agreement is measured over several items, not one or two).
    """
    problems = []
    if len(set(design.systems)) < 2 or len(set(design.systems)) != len(design.systems):
        problems.append(f"systems must be at least two distinct names, got {list(design.systems)}")
    if not isinstance(design.k, int) or design.k < 1:
        problems.append(f"k (raters per item) must be a whole number ≥ 1, got {design.k!r}")
    if not 0 <= design.repeat_share <= 0.5:
        problems.append(f"repeat share must be between 0 and 0.5, got {design.repeat_share}")
    if n_raters < 1:
        problems.append("invite at least one rater")
    elif isinstance(design.k, int) and design.k > n_raters:
        problems.append(f"k = {design.k} raters per item needs at least {design.k} raters, "
                        f"got {n_raters}")
    if isinstance(design.k, int) and n_items < n_raters * design.k:
        problems.append(f"the session has {n_items} items but {n_raters} raters × k = "
                        f"{design.k} needs at least {n_raters * design.k}")
    if problems:
        raise DesignError("; ".join(problems))


def make_items(example_ids: list[int], systems: tuple[str, ...]) -> list[Item]:
    """Every (example, pair of systems) as an item, numbered from 1 in example order.

    >>> [(i.item_no, i.example_id, i.first, i.second) for i in make_items([7], ("b", "a"))]
    [(1, 7, 'a', 'b')]
    """
    pairs = list(itertools.combinations(sorted(systems), 2))
    product = itertools.product(sorted(example_ids), pairs)
    return [Item(n, example_id, first, second)
            for n, (example_id, (first, second)) in enumerate(product, start=1)]


def assign_raters(item_nos: list[int], raters: list[str], k: int,
                  rng: random.Random) -> dict[str, list[int]]:
    """Give each item to k distinct raters, loads balanced within one item.

    Raters are shuffled once, then item i goes to raters (i·k + j) mod R for j < k: distinct
    when k ≤ R, and every rater gets ⌊n·k/R⌋ or ⌈n·k/R⌉ items. Returns {rater: [item_no]}.
    """
    order = list(raters)
    rng.shuffle(order)
    given: dict[str, list[int]] = {rater: [] for rater in raters}
    for i, item_no in enumerate(item_nos):
        for j in range(k):
            given[order[(i * k + j) % len(order)]].append(item_no)
    return given


def order_for_rater(rater: str, item_nos: list[int], items: dict[int, Item],
                    repeat_share: float, rng: random.Random) -> list[Assignment]:
    """A rater's shuffled list with sides drawn per row and ⌈share·n⌉ repeats placed later.

    A repeat goes at a random position after its first showing, never right after it when
    another place exists, with its own side draw.
    """
    order = list(item_nos)
    rng.shuffle(order)
    n_repeats = math.ceil(repeat_share * len(order)) if repeat_share > 0 else 0
    rows: list[tuple[int, bool]] = [(no, False) for no in order]
    for no in rng.sample(order, min(n_repeats, len(order))):
        first = rows.index((no, False))
        low = first + 2 if first + 2 <= len(rows) else first + 1
        rows.insert(rng.randint(low, len(rows)), (no, True))
    out = []
    for position, (no, is_repeat) in enumerate(rows):
        pair = (items[no].first, items[no].second)
        left, right = pair if rng.random() < 0.5 else pair[::-1]
        out.append(Assignment(rater, position, no, left, right, is_repeat))
    return out


def plan(design: SessionDesign, items: list[Item], raters: list[str],
         seed: int) -> list[Assignment]:
    """Every rater's list (order, sides, repeats), deterministic for a seed.

    Shapes: ``items`` to rate (auto-tied items already removed), ``raters`` distinct ids.
    Returns assignments grouped by rater, positions 0.. within each.
    Raises DesignError (``check_design``) for a design that cannot be run.
    """
    check_design(design, len(items), len(raters))
    if len(set(raters)) != len(raters):
        raise DesignError("rater names must be distinct")
    rng = random.Random(seed)
    by_no = {item.item_no: item for item in items}
    given = assign_raters([item.item_no for item in items], raters, design.k, rng)
    return [row for rater in raters
            for row in order_for_rater(rater, given[rater], by_no, design.repeat_share, rng)]


def derandomize(choice: str, left: str, right: str) -> str:
    """The verdict as a system name (or "tie" / "both_bad") from a choice as shown.

    >>> derandomize("B", left="tuned", right="base")
    'base'
    """
    if choice not in CHOICES:
        raise DesignError(f"unknown choice {choice!r}; expected one of {', '.join(CHOICES)}")
    return {"A": left, "B": right}.get(choice, choice)


def check_answer(choice: str, reason: str | None, likert_left: int | None,
                 likert_right: int | None) -> None:
    """Raise DesignError for a choice outside CHOICES, a too long reason, or a Likert score
    that is not a whole number 1–5 (None = not given)."""
    if choice not in CHOICES:
        raise DesignError(f"unknown choice {choice!r}; expected one of {', '.join(CHOICES)}")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise DesignError(f"the reason is {len(reason)} characters; at most {MAX_REASON_CHARS}")
    for side, score in (("A", likert_left), ("B", likert_right)):
        if score is not None and (isinstance(score, bool) or score not in LIKERT):
            raise DesignError(f"Likert score for answer {side} must be 1–5, got {score!r}")
