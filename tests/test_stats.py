import math

import pytest

from evaluation.stats import (
    bradley_terry,
    cohens_kappa,
    fleiss_kappa,
    intra_rater_consistency,
    krippendorff_alpha,
    position_bias_rate,
    sign_test,
    wilson_coverage,
    win_rate_interval,
)

# Wilson by hand, z = 1.959964, z² = 3.841459:
#   centre = (p̂ + z²/2n) / (1 + z²/n),  half = z·√(p̂(1-p̂)/n + z²/4n²) / (1 + z²/n)


def test_wilson_interval_for_7_wins_out_of_10():
    # p̂ = 0.7: centre = 0.892073 / 1.384146 = 0.644490, half = 1.959964·0.174939 / 1.384146
    # = 0.247716 → (0.3968, 0.8922)
    result = win_rate_interval(7, 3, 0)
    assert result["win_rate"] == 0.7
    assert result["low"] == pytest.approx(0.396778, abs=1e-6)
    assert result["high"] == pytest.approx(0.892209, abs=1e-6)


def test_ties_count_as_half_wins_in_rate_and_interval():
    # 5 wins, 2 losses, 3 ties: count 6.5 of 10, p̂ = 0.65; centre = 0.842073 / 1.384146
    # = 0.608370, half = 1.959964·0.179871 / 1.384146 = 0.254698 → (0.3537, 0.8631)
    result = win_rate_interval(5, 2, 3)
    assert (result["n"], result["win_rate"]) == (10, 0.65)
    assert result["low"] == pytest.approx(0.353671, abs=1e-6)
    assert result["high"] == pytest.approx(0.863069, abs=1e-6)


def test_win_rate_interval_is_none_without_judgments():
    result = win_rate_interval(0, 0, 0)
    assert (result["win_rate"], result["low"], result["high"]) == (None, None, None)


@pytest.mark.parametrize("counts", [(-1, 2, 0), (1.5, 2, 0), (True, 2, 0)])
def test_win_rate_interval_refuses_counts_that_are_not_natural_numbers(counts):
    with pytest.raises(ValueError, match="non-negative integer"):
        win_rate_interval(*counts)


def test_win_rate_interval_refuses_a_confidence_outside_0_1():
    with pytest.raises(ValueError, match="confidence"):
        win_rate_interval(7, 3, 0, confidence=95)


def test_sign_test_8_wins_2_losses():
    # P(X ≤ 2 | n=10, ½) = (1 + 10 + 45) / 1024 = 0.0546875; two-sided doubles it
    assert sign_test(8, 2) == 0.109375


def test_sign_test_of_an_even_split_is_1():
    assert sign_test(5, 5) == 1.0


def test_sign_test_without_decisive_judgments_is_1():
    assert sign_test(0, 0) == 1.0


def test_cohens_kappa_on_a_hand_made_2x2_table():
    #               b: tuned  b: base
    #   a: tuned        4        2      → a says tuned 6/10
    #   a: base         1        3      → b says tuned 5/10
    # p_o = 7/10, p_e = 0.6·0.5 + 0.4·0.5 = 0.5, kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["tuned"] * 4 + ["tuned"] * 2 + ["base"] * 1 + ["base"] * 3
    b = ["tuned"] * 4 + ["base"] * 2 + ["tuned"] * 1 + ["base"] * 3
    assert cohens_kappa(a, b) == pytest.approx(0.4, abs=1e-12)


def test_cohens_kappa_of_identical_labels_is_1():
    labels = ["tuned", "base", "tie", "both_bad"]
    assert cohens_kappa(labels, labels) == 1.0


@pytest.mark.parametrize(("a", "b", "message"), [
    (["tuned"], ["tuned", "base"], "1 labels"),
    ([], [], "no items"),
    (["tuned", None], ["tuned", "base"], "missing"),
    (["tie", "tie"], ["tie", "tie"], "undefined"),
])
def test_cohens_kappa_refuses_what_it_cannot_measure(a, b, message):
    with pytest.raises(ValueError, match=message):
        cohens_kappa(a, b)


def test_fleiss_kappa_on_a_hand_made_table_of_3_raters():
    # items × (tuned, base): P_i = (Σ n_ij² - 3) / 6 = 1, 1, 1/3, 1/3 → P̄ = 2/3;
    # p_j = 6/12 each → P̄_e = 1/2; kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3, abs=1e-12)


def test_fleiss_kappa_on_the_wikipedia_example():
    # en.wikipedia.org/wiki/Fleiss'_kappa: 10 items, 14 raters, 5 categories.
    # Σ_i (Σ_j n_ij² - 14) = 688 → P̄ = 688 / (10·14·13) = 0.378022;
    # column sums 20, 28, 39, 21, 32 → P̄_e = 4170 / 140² = 0.212755; kappa = 0.209932
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    expected = (688 / 1820 - 4170 / 19600) / (1 - 4170 / 19600)
    assert fleiss_kappa(table) == pytest.approx(expected, abs=1e-12)
    assert round(fleiss_kappa(table), 3) == 0.210


@pytest.mark.parametrize(("table", "message"), [
    ([3, 0], "2-D"),
    ([[3, 0], [1, 1]], "same number"),
    ([[1, 0], [0, 1]], "same number"),
    ([[2, -1], [1, 0]], "non-negative"),
    ([[3, 0], [3, 0]], "undefined"),
])
def test_fleiss_kappa_refuses_malformed_tables(table, message):
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(table)


def test_krippendorff_alpha_on_a_hand_made_table_with_a_missing_rating():
    # item 4 has one rating only: not pairable, left out. Coincidences over items 1-3:
    # o(tuned,tuned) = 2, o(tuned,base) = o(base,tuned) = 1, o(base,base) = 2; n_tuned =
    # n_base = 3, n = 6. alpha = 1 - (n-1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k = 1 - 5·2/18 = 4/9
    ratings = [["tuned", "tuned", "base", "tie"],
               ["tuned", "base", "base", None]]
    assert krippendorff_alpha(ratings) == pytest.approx(4 / 9, abs=1e-12)


def test_krippendorff_alpha_on_krippendorffs_own_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
    # 12 units, nominal alpha = 0.743 (labels 1-5 renamed a-e: nominal alpha ignores names)
    x = None
    ratings = [["a", "b", "c", "c", "b", "a", "d", "a", "b", x, x, x],
               ["a", "b", "c", "c", "b", "b", "d", "a", "b", "e", x, "c"],
               [x, "c", "c", "c", "b", "c", "d", "b", "b", "e", "a", x],
               ["a", "b", "c", "c", "b", "d", "d", "a", "b", "e", "a", x]]
    assert round(krippendorff_alpha(ratings), 3) == 0.743


@pytest.mark.parametrize(("ratings", "message"), [
    ([["tuned", "base"]], "two raters"),
    ([["tuned", "base"], ["tuned"]], "one entry per item"),
    ([["tuned", None], [None, "base"]], "at least two coders"),
    ([["tie", "tie"], ["tie", "tie"]], "undefined"),
    ([["tie", "tie", "base"], ["tie", "tie", None]], "undefined"),  # "base" is unpaired
])
def test_krippendorff_alpha_refuses_what_it_cannot_measure(ratings, message):
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(ratings)


def test_position_bias_counts_left_wins_among_decisive_choices():
    assert position_bias_rate(["A", "A", "A", "B", "tie", "both_bad"]) == 0.75


def test_position_bias_is_none_without_decisive_choices():
    assert position_bias_rate(["tie", "both_bad"]) is None


def test_position_bias_refuses_derandomized_labels():
    with pytest.raises(ValueError, match="unknown choices"):
        position_bias_rate(["A", "tuned"])


def test_intra_rater_consistency_counts_identical_repeats():
    pairs = [("tuned", "tuned"), ("base", "tie"), ("tie", "tie"), ("both_bad", "base")]
    assert intra_rater_consistency(pairs) == 0.5


def test_intra_rater_consistency_is_none_without_repeats():
    assert intra_rater_consistency([]) is None


def test_intra_rater_consistency_refuses_raw_choices():
    with pytest.raises(ValueError, match="unknown labels"):
        intra_rater_consistency([("A", "A")])


def test_bradley_terry_of_two_systems_is_the_log_odds_of_the_win_share():
    # 6-2: σ(s_t - s_b) = 6/8 → s_t - s_b = ln 3; centred: ±ln(3)/2 = ±0.549306
    result = bradley_terry([("tuned", "base", 1.0)] * 6 + [("tuned", "base", 0.0)] * 2, n_boot=20)
    assert result["tuned"]["strength"] == pytest.approx(math.log(3) / 2, abs=1e-4)
    assert result["base"]["strength"] == pytest.approx(-math.log(3) / 2, abs=1e-4)


def test_bradley_terry_counts_a_tie_as_half_a_win_each_way():
    # 2 wins + 2 ties = 3 points of 4 → the same ln 3 as 6-2
    comparisons = [("tuned", "base", 1.0)] * 2 + [("base", "tuned", 0.5)] * 2
    result = bradley_terry(comparisons, n_boot=20)
    assert result["tuned"]["strength"] == pytest.approx(math.log(3) / 2, abs=1e-4)


def test_bradley_terry_recovers_strengths_that_fit_every_pair_exactly():
    # a-b 2:1, b-c 2:1, a-c 4:1 = odds 2, 2, 2·2: the likelihood equations hold with
    # s = (ln 2, 0, -ln 2), already centred; strongest first
    comparisons = ([("a", "b", 1.0)] * 2 + [("b", "a", 1.0)] + [("b", "c", 1.0)] * 2
                   + [("c", "b", 1.0)] + [("a", "c", 1.0)] * 4 + [("c", "a", 1.0)])
    result = bradley_terry(comparisons, n_boot=50)
    assert list(result) == ["a", "b", "c"]
    for name, expected in {"a": math.log(2), "b": 0.0, "c": -math.log(2)}.items():
        assert result[name]["strength"] == pytest.approx(expected, abs=1e-4)
        assert result[name]["low"] <= result[name]["strength"] <= result[name]["high"]
    assert [result[name]["n"] for name in "abc"] == [8, 6, 8]


def test_bradley_terry_is_deterministic_for_a_seed():
    comparisons = [("a", "b", 1.0), ("b", "a", 1.0), ("a", "c", 0.5), ("c", "b", 1.0)] * 3
    assert bradley_terry(comparisons, seed=3) == bradley_terry(comparisons, seed=3)
    assert bradley_terry(comparisons, seed=3) != bradley_terry(comparisons, seed=4)


def test_bradley_terry_keeps_a_system_that_never_lost_finite():
    result = bradley_terry([("tuned", "base", 1.0)] * 10, n_boot=5)
    assert 3 < result["tuned"]["strength"] < 10


@pytest.mark.parametrize(("comparisons", "message"), [
    ([], "no comparisons"),
    ([("a", "a", 1.0)], "itself"),
    ([("a", "b", 2.0)], "score"),
])
def test_bradley_terry_refuses_malformed_comparisons(comparisons, message):
    with pytest.raises(ValueError, match=message):
        bradley_terry(comparisons, n_boot=5)


def test_wilson_coverage_by_hand_for_two_judgments():
    # n = 2 intervals: 0/2 (0, 0.6576), 1/2 (0.0946, 0.9054), 2/2 (0.3424, 1).
    # p = 0.9 is inside for k = 1, 2: 2·0.9·0.1 + 0.81 = 0.99
    # p = 0.95 is inside for k = 2 only: 0.95² = 0.9025
    assert wilson_coverage(2, 0.9) == pytest.approx(0.99, abs=1e-12)
    assert wilson_coverage(2, 0.95) == pytest.approx(0.9025, abs=1e-12)


def test_wilson_coverage_with_ties_by_hand():
    # n = 2, p = 0.9, tie rate 0.2 → P(win) = 0.8, P(loss) = 0. Outcomes: 2 wins (0.64,
    # score 1, covered), win + tie (0.32, 1.5/2 → (0.1979, 0.9733), covered), 2 ties (0.04,
    # 1/2 → (0.0946, 0.9054), covered) → 1.0
    assert wilson_coverage(2, 0.9, tie_rate=0.2) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [20, 50, 100])
@pytest.mark.parametrize("p", [0.5, 0.6, 0.7, 0.8, 0.9])
def test_win_rate_interval_covers_the_true_rate_at_least_92_percent(n, p):
    assert wilson_coverage(n, p) >= 0.92
    assert wilson_coverage(n, p, tie_rate=0.2) >= 0.92


def test_wilson_coverage_refuses_a_tie_rate_no_win_rate_allows():
    # p = 0.95 leaves at most 0.05 of losses to pair with wins into ties: t/2 ≤ 0.05
    with pytest.raises(ValueError, match="tie_rate"):
        wilson_coverage(20, 0.95, tie_rate=0.2)
