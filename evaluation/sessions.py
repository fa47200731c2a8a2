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
# Other items between an item's first showing and its repeat (when the list is long enough):
# a repeat straight after its first showing measures short-term memory, not consistency.
MIN_REPEAT_GAP = 3


class DesignError(ValueError):
    """A session design or a rating that cannot be accepted; the message says why.

    ``fit``: for a session with too few items, ``fits(...)``'s answer (what would work)."""

    fit: dict | None = None


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


def fits(n_items: int, n_raters: int, k: int) -> dict:
    """What works with ``n_items`` items under the rule items ≥ raters × k, k ≤ raters:
    ``{"items", "raters", "k", "largest_k"}`` (the largest k for these raters, None when
    even k = 1 needs more items) and ``"most_raters"`` (the most raters for this k, None
    when fewer than k items).

    >>> fits(10, 4, 3)
    {'items': 10, 'raters': 4, 'k': 3, 'largest_k': 2, 'most_raters': 3}
    >>> fits(3, 4, 2)
    {'items': 3, 'raters': 4, 'k': 2, 'largest_k': None, 'most_raters': None}
    """
    largest_k = min(n_raters, n_items // n_raters) if n_raters else 0
    most_raters = n_items // k if k else 0
    return {"items": n_items, "raters": n_raters, "k": k,
            "largest_k": largest_k if largest_k >= 1 else None,
            "most_raters": most_raters if most_raters >= max(k, 1) else None}


def fit_advice(fit: dict) -> str:
    """What to change, in words, for ``fits``'s answer.

    >>> fit_advice(fits(10, 4, 3))
    'lower k to 2, or invite at most 3 raters, or rate more examples'
    >>> fit_advice(fits(3, 4, 2))
    'rate more examples'
    """
    options = []
    if fit["largest_k"] is not None:
        options.append(f"lower k to {fit['largest_k']}")
    if fit["most_raters"] is not None:
        options.append(f"invite at most {fit['most_raters']} raters")
    return ", or ".join([*options, "rate more examples"])


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
    fit = None
    if isinstance(design.k, int) and design.k >= 1 and n_items < n_raters * design.k:
        fit = fits(n_items, n_raters, design.k)
        problems.append(f"the session has {n_items} items but {n_raters} raters × k = "
                        f"{design.k} needs at least {n_raters * design.k}: "
                        f"{fit_advice(fit)}")
    if problems:
        error = DesignError("; ".join(problems))
        error.fit = fit
        raise error


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
    """A rater's shuffled list with sides drawn per item and ⌈share·n⌉ repeats placed later.

    A repeat comes at least ``MIN_REPEAT_GAP`` other items after its first showing (at a
    random place from there to the end; at the end when the list is too short for the gap)
    and shows the two answers on the other sides, so a rater who remembers "the left one"
    cannot simply repeat a choice, and a left/right preference shows as an inconsistency.
    """
    order = list(item_nos)
    rng.shuffle(order)
    n_repeats = math.ceil(repeat_share * len(order)) if repeat_share > 0 else 0
    rows: list[tuple[int, bool]] = [(no, False) for no in order]
    for no in rng.sample(order, min(n_repeats, len(order))):
        first = rows.index((no, False))
        rows.insert(rng.randint(min(first + 1 + MIN_REPEAT_GAP, len(rows)), len(rows)),
                    (no, True))
    sides = {}
    for no in order:
        pair = (items[no].first, items[no].second)
        sides[no] = pair if rng.random() < 0.5 else pair[::-1]
    return [Assignment(rater, position, no, *(sides[no][::-1] if is_repeat else sides[no]),
                       is_repeat)
            for position, (no, is_repeat) in enumerate(rows)]


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


def cut_note(new_tokens: int | None, max_new_tokens: int | None) -> str | None:
    """"(cut at N tokens)" for an answer that used the whole generation budget, else None.

    ``new_tokens`` counts the generated tokens up to and including the first stop token
    (``evaluation.generate.new_token_counts``), so an answer that reached ``max_new_tokens``
    was stopped by the limit (or stopped on its very last allowed token, which reads the
    same here).

    >>> cut_note(16, 16), cut_note(9, 16), cut_note(None, 16)
    ('(cut at 16 tokens)', None, None)
    """
    if new_tokens is None or not max_new_tokens or new_tokens < max_new_tokens:
        return None
    return f"(cut at {max_new_tokens} tokens)"


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
