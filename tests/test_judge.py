"""The pairwise judge's pure parts: strict parsing, the order-swap rule, win rates raw and
length-controlled, and the calibration against the existing agreement statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation import stats
from evaluation.judge import (
    JudgeError,
    combine,
    item_verdicts,
    judge_requests,
    length_bias,
    length_controlled,
    load_prompt,
    parse_choice,
    position_consistency,
    unparsed,
    win_rates,
)
from evaluation.judge_calibration import DO_NOT_USE, WITHIN, calibrate, majority
from evaluation.session_stats import agreement


@pytest.mark.parametrize("answer, choice", [
    ("A", "A"), (" b \n", "B"), ("Tie.", "tie"), ("I think so.\nB", "B"), ("TIE", "tie"),
    ("A\n\nThe answer is", "A"), ("A\nbecause\nA", "A"), ("A\nbecause\nB", None),
    ("A is better", None), ("[[A]]", None), ("C", None), ("", None), (None, None),
    ("neither", None), ("A or B", None), ("A: A is", None), ("x\nA\ny", None)])
def test_answers_are_parsed_strictly(answer, choice):
    assert parse_choice(answer) == choice


def _answer(item_no, a, b, choice, answer=""):
    return {"item_no": item_no, "example_id": 10 + item_no, "a_system": a, "b_system": b,
            "choice": choice, "answer": answer}


# Each item twice: base shown as A, then tuned shown as A.
ANSWERED = [
    _answer(1, "base", "tuned", "A"), _answer(1, "tuned", "base", "B"),    # base both orders
    _answer(2, "base", "tuned", "A"), _answer(2, "tuned", "base", "A"),    # flips: tie
    _answer(3, "base", "tuned", "tie"), _answer(3, "tuned", "base", "B"),  # tie vs base: tie
    _answer(4, "base", "tuned", "B"), _answer(4, "tuned", "base", None, "Both are good"),
    _answer(5, "base", "tuned", "B"), _answer(5, "tuned", "base", "A"),    # tuned both orders
]


def test_a_verdict_that_flips_with_the_order_is_a_tie():
    verdicts = item_verdicts(ANSWERED)
    assert [(v["item_no"], v["verdict"], v["consistent"]) for v in verdicts] == [
        (1, "base", True), (2, "tie", False), (3, "tie", False), (4, None, None),
        (5, "tuned", True)]
    assert verdicts[1]["labels"] == ["base", "tuned"]
    assert (combine("tuned", "tuned"), combine("tuned", "tie"), combine(None, "base")) == (
        "tuned", "tie", None)


def test_position_consistency_and_unparsed_answers_are_counted():
    verdicts = item_verdicts(ANSWERED)
    assert position_consistency(verdicts) == {
        "items": 4, "consistent": 2, "rate": 0.5, "left": 4, "right": 4, "left_rate": 0.5,
        "sign_test_p": 1.0}
    assert unparsed(ANSWERED) == {
        "answers": 1, "items": 1, "examples": ["Both are good"],
        "message": "1 of 10 judge answers name neither A, B nor tie, so 1 items have no "
                   "verdict (not counted, not guessed); first: 'Both are good'"}
    with pytest.raises(JudgeError, match="item 1 has 1 judge answers; expected 2"):
        item_verdicts(ANSWERED[:1])


def test_win_rates_orient_tuned_over_base_with_wilson_intervals():
    lengths = {(i, s): 10 for i in range(1, 6) for s in ("base", "tuned")}
    (row,) = win_rates(item_verdicts(ANSWERED), lengths)
    assert (row["system"], row["other"], row["wins"], row["losses"], row["ties"], row["n"],
            row["win_rate"]) == ("tuned", "base", 1, 1, 2, 4, 0.5)
    expected = stats.win_rate_interval(1, 1, 2)
    assert (row["low"], row["high"]) == (expected["low"], expected["high"])
    assert row["lc_win_rate"] == 0.5  # no length difference varies: nothing to control for


def test_length_controlled_win_rate_matches_a_hand_computation():
    """Two length groups, Δ = +10 (scores 1, 1, 0) and Δ = −10 (1, 0): the two-parameter
    GLM fits each group's mean exactly, so θ + φt = logit(2/3) = ln 2 and θ − φt =
    logit(1/2) = 0; θ = ln 2 / 2 and the LC win rate is expit(ln 2 / 2) = 2 − √2."""
    result = length_controlled([1, 1, 0, 1, 0], [10, 10, 10, -10, -10])
    assert result["win_rate"] == 0.6
    assert result["lc_win_rate"] == pytest.approx(2 - math.sqrt(2), abs=1e-9)
    assert result["length_coef"] > 0  # the longer answer wins more often


def test_length_controlled_win_rate_is_statsmodels_glm_on_the_same_data():
    import statsmodels.api as sm

    scores = [1, 0.5, 1, 0, 1, 1, 0, 0.5, 1, 0]
    diffs = [120, -5, 40, -60, 15, 80, 30, 0, -20, -90]
    x = np.tanh(np.asarray(diffs) / np.std(diffs))
    fit = sm.GLM(scores, np.column_stack([np.ones(10), x]),
                 family=sm.families.Binomial()).fit()
    result = length_controlled(scores, diffs)
    assert result["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-fit.params[0])), rel=1e-12)
    assert result["length_coef"] == pytest.approx(fit.params[1], rel=1e-12)
    assert result["win_rate"] == 0.6


def test_length_controlled_win_rate_is_undefined_where_it_cannot_be_fitted():
    assert length_controlled([], [])["note"] == "no item"
    assert length_controlled([1, 1], [3, -3])["lc_win_rate"] is None
    separated = length_controlled([1, 1, 0, 0], [5, 9, -4, -8])
    assert separated["lc_win_rate"] is None and "separated" in separated["note"]
    with pytest.raises(ValueError, match="2 scores but 1 length differences"):
        length_controlled([1, 0], [3])


def test_requests_show_each_item_in_both_orders(tmp_path):
    items = [{"item_no": 3, "example_id": 7, "first_system": "base",
              "second_system": "tuned", "question": "Q {x}?", "first_output": "b",
              "second_output": "t"}]
    template = "{question} | A: {answer_a} | B: {answer_b}"
    assert judge_requests(items, template) == [
        {"item_no": 3, "example_id": 7, "a_system": "base", "b_system": "tuned",
         "prompt": "Q {x}? | A: b | B: t"},
        {"item_no": 3, "example_id": 7, "a_system": "tuned", "b_system": "base",
         "prompt": "Q {x}? | A: t | B: b"}]
    with pytest.raises(JudgeError, match="the session has no item to judge"):
        judge_requests([], template)
    bad = tmp_path / "p.txt"
    bad.write_text("{question} {answer_a}")
    with pytest.raises(JudgeError, match=r"p.txt: missing placeholder\(s\) \{answer_b\}"):
        load_prompt(bad)
    assert "{answer_b}" in load_prompt()  # the shipped default


# Calibration: two raters (ana, bo) and a judge on eight items of base vs tuned.
ANA = ["tuned", "tuned", "base", "tie", "tuned", "base", "both_bad", "tuned"]
BO = ["tuned", "base", "base", "tie", "tuned", "base", "tie", "tuned"]
JUDGE = ["tuned", "tie", "base", "tuned", "tuned", "tie", "tie", "base"]


def _calibration_inputs():
    firsts = [{"rater_id": r, "item_no": i, "label": label}
              for r, labels in (("ana", ANA), ("bo", BO)) for i, label in enumerate(labels)]
    verdicts = [{"item_no": i, "example_id": i, "first_system": "base",
                 "second_system": "tuned", "labels": [v, v], "choices": ["A", "A"],
                 "verdict": v, "consistent": True} for i, v in enumerate(JUDGE)]
    lengths = {(i, s): 10 + i * (s == "tuned") for i in range(8) for s in ("base", "tuned")}
    return firsts, verdicts, lengths


def test_calibration_uses_the_existing_agreement_statistics():
    firsts, verdicts, lengths = _calibration_inputs()
    result = calibrate(firsts, verdicts, lengths, n_boot=50)
    ana = ["tie" if x == "both_bad" else x for x in ANA]  # no preference, on the judge's scale
    assert result["items"] == 8 and result["items_two_raters"] == 8
    assert result["human_kappa"]["value"] == stats.cohens_kappa(ana, BO)
    mapped = [dict(r, label="tie" if r["label"] == "both_bad" else r["label"]) for r in firsts]
    assert result["human_kappa"]["value"] == agreement(mapped)["cohen_kappa"]
    assert result["alpha_humans"]["value"] == stats.krippendorff_alpha([ana, BO])
    assert result["alpha_with_judge"]["value"] == stats.krippendorff_alpha([ana, BO, JUDGE])
    agreed = [i for i in range(8) if ana[i] == BO[i]]  # two raters: a majority iff they agree
    assert result["items_with_majority"] == len(agreed) == 7
    assert result["judge_kappa"]["value"] == stats.cohens_kappa(
        [JUDGE[i] for i in agreed], [BO[i] for i in agreed])
    for name in ("judge_kappa", "human_kappa", "alpha_humans", "alpha_with_judge"):
        low, high = result[name]["low"], result[name]["high"]
        assert low <= high and -1 <= low and high <= 1


def test_a_judge_below_the_raters_own_agreement_is_not_used():
    firsts, verdicts, lengths = _calibration_inputs()
    result = calibrate(firsts, verdicts, lengths, n_boot=50)
    assert result["judge_kappa"]["value"] < result["human_kappa"]["low"]
    assert result["line"] == DO_NOT_USE
    assert result["reason"].startswith("judge kappa")


def test_a_judge_that_rates_like_the_raters_is_within_their_agreement():
    firsts, verdicts, lengths = _calibration_inputs()
    same = [dict(v, verdict=b) for v, b in zip(verdicts, BO)]
    result = calibrate(firsts, same, lengths, n_boot=50)
    assert result["line"] == WITHIN


def test_without_two_raters_on_an_item_the_judge_is_not_used():
    firsts, verdicts, lengths = _calibration_inputs()
    result = calibrate([r for r in firsts if r["rater_id"] == "ana"], verdicts, lengths,
                       n_boot=20)
    assert (result["line"], result["items_two_raters"]) == (DO_NOT_USE, 0)
    assert result["reason"].startswith("the raters' own agreement cannot be measured")


def test_length_bias_counts_the_longer_answer_wins():
    systems = {i: ("base", "tuned") for i in range(6)}
    lengths = {(i, "base"): 10 for i in range(6)} | {(i, "tuned"): 10 + (i - 2) for i in range(6)}
    labels = {0: "base", 1: "base", 2: "tuned", 3: "tuned", 4: "tuned", 5: "tie"}
    # items 0, 1: base is longer and wins; item 2: equal lengths (left out); 3, 4: tuned
    # is longer and wins; item 5: a tie (not decisive)
    assert length_bias(labels, lengths, systems) == {
        "decisive": 4, "longer_wins": 4, "shorter_wins": 0, "longer_share": 1.0,
        "sign_test_p": 0.125, "detected": False}
    assert majority(["a", "b", "b"]) == "b"
