import random

import pytest

from evaluation.rating import derandomize, draw_sides, win_rate


def test_win_rate_counts_half_ties_and_leaves_both_bad_apart():
    labels = ["tuned"] * 5 + ["base"] * 2 + ["tie"] * 3 + ["both_bad"] * 4
    result = win_rate(labels)
    assert result == {"wins": 5, "losses": 2, "ties": 3, "both_bad": 4, "n": 10,
                      "win_rate": 0.65}


def test_win_rate_is_none_without_comparable_ratings():
    assert win_rate(["both_bad"])["win_rate"] is None


def test_choices_are_derandomized_by_the_stored_sides():
    assert derandomize("A", "base", "tuned") == "base"
    assert derandomize("B", "base", "tuned") == "tuned"
    assert derandomize("tie", "base", "tuned") == "tie"
    with pytest.raises(ValueError):
        derandomize("C", "base", "tuned")


def test_sides_are_drawn_both_ways():
    rng = random.Random(1)
    draws = {draw_sides(rng) for _ in range(50)}
    assert draws == {("base", "tuned"), ("tuned", "base")}
