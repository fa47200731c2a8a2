"""Adding raters to a running session: which unstarted items each new rater takes over.

Run as: ``rebalance(rows, raters, ["cy"], items, k=2, repeat_share=0.25, seed=0)``

A pure function over the session's current assignments; the store reads them and writes the
result (``workbench.store.sessions.add_raters``). Every item keeps exactly k raters: a new
rater takes whole items (first showing and repeat) from a rater who has not started them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from evaluation.sessions import Assignment, DesignError, Item, order_for_rater


class NoItemLeft(DesignError):
    """Some new raters would get no item; ``names`` are those raters, ``items`` the session's
    items, ``k`` raters per item, ``active`` the active raters with the new ones."""

    def __init__(self, names: list[str], items: int, k: int, active: int):
        self.names, self.items, self.k, self.active = names, items, k, active
        super().__init__(f"no item left for {', '.join(names)}: each new rater needs items "
                         f"no one has started ({items} items × k = {k} for {active} active "
                         "raters)")


@dataclass(frozen=True)
class Rebalanced:
    """The change: ``moves`` {new name: [(donor rater id, item_no)]} in the order taken (the
    donors' rows of those items go), ``added`` the new raters' rows (``Assignment.rater`` is
    the new name), ``given`` {donor name: items given}, sorted by name."""

    moves: dict[str, list[tuple[str, int]]]
    added: list[Assignment]
    given: dict[str, int]


def rebalance(rows: list[dict], raters: list[dict], names: list[str], items: dict[int, Item],
              k: int, repeat_share: float, seed: int) -> Rebalanced:
    """New raters take over unstarted items until each holds ⌊n·k / active raters⌋ items.

    ``rows``: the session's assignment rows {rater_id, item_no, rated (bool)}, a rated row
    making its (rater, item) started; ``raters``: the session's raters {id, name, revoked};
    ``names``: the new raters, distinct and new; ``items``: {item_no: Item}. n is the number
    of items with a row, active the raters not revoked plus the new ones. Each new rater in
    turn takes items one at a time from the donor with unstarted items it does not hold yet,
    revoked raters first, then whoever has the most such items left (ties: the larger rater
    id), the item drawn at random; then its order, sides and repeats are drawn as at creation
    (``order_for_rater``, ``repeat_share``). Everything random comes from one
    ``random.Random(seed)``. Raises ``NoItemLeft`` when a new rater would get no item
    (everything left is started, or there are more raters than n·k).
    """
    started = {(r["rater_id"], r["item_no"]) for r in rows if r["rated"]}
    holders: dict[int, set] = {}
    movable: dict[str, set] = {r["id"]: set() for r in raters}
    for row in rows:
        holders.setdefault(row["item_no"], set()).add(row["rater_id"])
        if (row["rater_id"], row["item_no"]) not in started:
            movable[row["rater_id"]].add(row["item_no"])
    active = sum(not r["revoked"] for r in raters) + len(names)
    target = len(holders) * k // active
    rng = random.Random(seed)
    by_id = {r["id"]: r for r in raters}
    moves: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
    for name in names:
        mine: set = set()
        while len(mine) < target:
            donors = [d for d in movable if movable[d] - mine]
            if not donors:
                break
            donor = max(donors, key=lambda d: (by_id[d]["revoked"], len(movable[d]), d))
            item_no = rng.choice(sorted(movable[donor] - mine))
            movable[donor].discard(item_no)
            mine.add(item_no)
            moves[name].append((donor, item_no))
    empty = [name for name in names if not moves[name]]
    if empty:
        raise NoItemLeft(empty, len(holders), k, active)
    added = [a for name in names for a in order_for_rater(
        name, sorted(i for _, i in moves[name]), items, repeat_share, rng)]
    given: dict[str, int] = {}
    for name in names:
        for donor, _ in moves[name]:
            given[by_id[donor]["name"]] = given.get(by_id[donor]["name"], 0) + 1
    return Rebalanced(moves, added, dict(sorted(given.items())))
