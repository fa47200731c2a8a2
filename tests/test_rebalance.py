"""Adding raters to a running session (evaluation.rebalance): who gives which unstarted item
to whom, on plain data. Session: items 1-4, k = 1; ana (r1) holds 1 (rated) and 2, bo (r2)
holds 3 and 4."""

import pytest

from evaluation.rebalance import NoItemLeft, rebalance
from evaluation.sessions import Assignment, Item

ITEMS = {i: Item(i, 10 + i, "base", "tuned") for i in range(1, 5)}
ROWS = [{"rater_id": "r1", "item_no": 1, "rated": True},
        {"rater_id": "r1", "item_no": 2, "rated": False},
        {"rater_id": "r2", "item_no": 3, "rated": False},
        {"rater_id": "r2", "item_no": 4, "rated": False}]


def raters(ana_revoked=False):
    return [{"id": "r1", "name": "ana", "revoked": ana_revoked},
            {"id": "r2", "name": "bo", "revoked": False}]


def test_a_new_rater_takes_its_share_from_the_rater_with_most_unstarted_items():
    # 4 items × k 1 over 3 active raters: cy takes ⌊4 / 3⌋ = 1, from bo (2 unstarted vs 1)
    change = rebalance(ROWS, raters(), ["cy"], ITEMS, k=1, repeat_share=0.0, seed=0)
    assert change.moves == {"cy": [("r2", 4)]}
    assert change.added == [Assignment("cy", 0, 4, "tuned", "base", False)]
    assert change.given == {"bo": 1}


def test_a_revoked_raters_unstarted_items_go_first_and_started_ones_never_move():
    # active: bo and cy, so cy takes ⌊4 / 2⌋ = 2: ana's item 2 first (item 1 is rated)
    change = rebalance(ROWS, raters(ana_revoked=True), ["cy"], ITEMS, k=1,
                       repeat_share=0.0, seed=0)
    assert change.moves == {"cy": [("r1", 2), ("r2", 4)]}
    assert [(a.position, a.item_no) for a in change.added] == [(0, 4), (1, 2)]
    assert change.given == {"ana": 1, "bo": 1}


def test_two_new_raters_take_in_turn_and_ties_go_to_the_larger_rater_id():
    # after cy took 4, ana and bo have one unstarted item each: di takes bo's (r2 > r1)
    change = rebalance(ROWS, raters(), ["cy", "di"], ITEMS, k=1, repeat_share=0.0, seed=0)
    assert change.moves == {"cy": [("r2", 4)], "di": [("r2", 3)]}
    assert change.given == {"bo": 2}


def test_repeats_are_drawn_for_the_new_rater_as_at_creation():
    change = rebalance(ROWS, raters(ana_revoked=True), ["cy"], ITEMS, k=1,
                       repeat_share=0.5, seed=0)
    assert sum(a.is_repeat for a in change.added) == 1  # ⌈0.5 × 2⌉
    assert sorted(a.item_no for a in change.added if not a.is_repeat) == [2, 4]


def test_a_new_rater_with_nothing_unstarted_to_take_is_refused():
    with pytest.raises(NoItemLeft, match=r"^no item left for cy: each new rater needs items no "
                       r"one has started \(1 items × k = 1 for 2 active raters\)$"):
        rebalance(ROWS[:1], raters()[:1], ["cy"], ITEMS, k=1, repeat_share=0.0, seed=0)
