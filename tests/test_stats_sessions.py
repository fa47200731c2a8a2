"""Session statistics on small hand-made rating tables, with hand-computed values."""

import math

import pytest

from evaluation.session_stats import summarize
from evaluation.stats import intra_rater_consistency, metric_agreement


def rating(rater, item, label, choice, repeat=False, pair=("base", "tuned")):
    return {"rater_id": rater, "item_no": item, "example_id": item, "is_repeat": repeat,
            "choice": choice, "label": label, "first_system": pair[0], "second_system": pair[1]}


# Two raters, four items each (first showings), two repeats by ana, one automatic tie.
ROWS = [
    rating("ana", 1, "tuned", "A"), rating("bo", 1, "tuned", "B"),
    rating("ana", 2, "tuned", "B"), rating("bo", 2, "base", "A"),
    rating("ana", 3, "base", "B"), rating("bo", 3, "base", "A"),
    rating("ana", 4, "tie", "tie"), rating("bo", 4, "both_bad", "both_bad"),
    rating("ana", 1, "tuned", "B", repeat=True), rating("ana", 3, "tie", "tie", repeat=True),
]
AUTO = [{"item_no": 5, "example_id": 5, "first_system": "base", "second_system": "tuned"}]


@pytest.fixture(scope="module")
def result():
    scores = {"rougeL": {(1, "base"): 0.1, (1, "tuned"): 0.5, (2, "base"): 0.3,
                         (2, "tuned"): 0.2, (3, "base"): 0.4, (3, "tuned"): 0.4,
                         (4, "base"): 0.2, (4, "tuned"): 0.3}}
    return summarize(ROWS, AUTO, ("base", "tuned"), scores, n_boot=20)


def test_win_tie_loss_counts_auto_ties_as_ties_and_both_bad_apart(result):
    (pair,) = result["pairs"]
    assert {k: pair[k] for k in ("system", "other", "wins", "losses", "ties", "both_bad",
                                 "auto_ties", "n", "win_rate")} == {
        "system": "tuned", "other": "base", "wins": 3, "losses": 3, "ties": 2, "both_bad": 1,
        "auto_ties": 1, "n": 8, "win_rate": 0.5}
    # Wilson, 4 of 8: centre (0.5 + z²/16) / (1 + z²/8) = 0.5; half = z·√(1/32 + z²/256) /
    # (1 + z²/8) = 1.959964 · 0.215072 / 1.480182 = 0.284784
    assert pair["low"] == pytest.approx(0.5 - 0.284784, abs=1e-6)
    assert pair["high"] == pytest.approx(0.5 + 0.284784, abs=1e-6)
    assert pair["sign_test_p"] == 1.0  # 3 wins, 3 losses


def test_repeats_count_for_consistency_only(result):
    assert (result["ratings"], result["repeats"], result["raters"]) == (8, 2, 2)
    assert result["consistency"] == {"pairs": 2, "rate": 0.5}  # item 1 same, item 3 not


def test_agreement_by_hand(result):
    agreement = result["agreement"]
    # Cohen: p_o = 2/4; p_e = (2·1 tuned + 1·2 base) / 16 = 1/4 → (1/2 - 1/4) / (3/4) = 1/3
    assert agreement["cohen_kappa"] == pytest.approx(1 / 3, abs=1e-12)
    # Fleiss: P_i = 1, 0, 1, 0 → P̄ = 1/2; p_j = 3, 3, 1, 1 of 8 → P̄_e = 20/64;
    # kappa = (1/2 - 5/16) / (11/16) = 3/11
    assert agreement["fleiss_kappa"] == pytest.approx(3 / 11, abs=1e-12)
    # Krippendorff: disagreeing coincidences 4, n = 8, Σ_{c≠k} n_c n_k = 64 - 20 = 44;
    # alpha = 1 - 7 · 4 / 44 = 4/11
    assert agreement["krippendorff_alpha"] == pytest.approx(4 / 11, abs=1e-12)
    assert (agreement["items"], agreement["raters"]) == (4, 2)


def test_position_bias_uses_every_shown_choice(result):
    # A: ana 1, bo 2, bo 3; B: bo 1, ana 2, ana 3, ana 1 (repeat) → 3 / 7
    assert result["position_bias"] == {"left": 3, "right": 4, "rate": 3 / 7,
                                       "sign_test_p": 1.0}


def test_metric_agreement_with_the_human_verdicts(result):
    rouge = result["metric_agreement"]["rougeL"]
    # decisive: item 1 tuned ×2 (metric +0.4: agree), item 2 tuned (−0.1: no), base (agree),
    # item 3 base ×2 (metric tie: no) → 3 of 6; ana's tie on item 4 counts in n only
    assert (rouge["n"], rouge["decisive"], rouge["agreement"], rouge["metric_ties"]) == \
        (7, 6, 0.5, 2)


def test_bradley_terry_only_for_more_than_two_systems(result):
    assert result["bradley_terry"] is None


def test_bradley_terry_strengths_of_three_systems_from_session_rows():
    # a-b 2:1, b-c 2:1, a-c 4:1 → s = (ln 2, 0, -ln 2)
    rows, item = [], 0
    for (first, second), (first_wins, second_wins) in {("a", "b"): (2, 1), ("b", "c"): (2, 1),
                                                       ("a", "c"): (4, 1)}.items():
        for label in [first] * first_wins + [second] * second_wins:
            item += 1
            rows.append(rating("ana", item, label, "A", pair=(first, second)))
    result = summarize(rows, [], ("a", "b", "c"), n_boot=30)
    strengths = {name: v["strength"] for name, v in result["bradley_terry"].items()}
    assert list(strengths) == ["a", "b", "c"]
    for name, expected in {"a": math.log(2), "b": 0.0, "c": -math.log(2)}.items():
        assert strengths[name] == pytest.approx(expected, abs=1e-4)
    assert [(p["system"], p["other"], p["wins"], p["losses"]) for p in result["pairs"]] == [
        ("b", "a", 1, 2), ("c", "a", 1, 4), ("c", "b", 1, 2)]


def test_agreement_is_none_with_a_note_when_no_item_has_two_raters():
    result = summarize([rating("ana", 1, "tuned", "A")], [], ("base", "tuned"))
    assert result["agreement"]["krippendorff_alpha"] is None
    assert result["agreement"]["notes"] == ["no item was rated by two raters"]


def test_metric_agreement_kendall_tau_b_by_hand():
    # pairs: 4 concordant, 1 discordant, 1 tied in the verdict only:
    # tau_b = (4 - 1) / √(6 · 5) = 0.547723; agreement: 2 of the 3 decisive verdicts
    result = metric_agreement([0.2, 0.1, -0.3, 0.0], [1, -1, -1, 0])
    assert result["kendall_tau"] == pytest.approx(3 / math.sqrt(30), abs=1e-12)
    assert (result["agreement"], result["decisive"], result["metric_ties"]) == (2 / 3, 3, 0)


def test_metric_agreement_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="2 metric differences but 1 verdicts"):
        metric_agreement([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="must be -1, 0 or 1"):
        metric_agreement([0.1], [2])


def test_consistency_accepts_any_system_names_but_not_raw_choices():
    labels = ("a", "b", "c", "tie", "both_bad")
    assert intra_rater_consistency([("c", "c"), ("a", "tie")], labels) == 0.5
    with pytest.raises(ValueError, match="unknown labels"):
        intra_rater_consistency([("A", "c")], labels)
