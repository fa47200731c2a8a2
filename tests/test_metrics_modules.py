"""BLEU, chrF, exact match, length ratio, JSON validity and answer accuracy: hand-computed values."""

from __future__ import annotations

import pytest

from evaluation import metrics
from evaluation.extract import gsm8k_answer, last_number, normalize_number
from evaluation.metrics import metric, score_all

PRED, REF = "the cat sat on the mat", "the cat sat on a mat"


@pytest.fixture(autouse=True)
def temp_home(evaluate_cache):
    """evaluate's caches in the session's temporary folder (tests/conftest.py)."""
    return evaluate_cache


def test_bleu_matches_the_hand_computed_geometric_mean():
    # n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths so no brevity penalty:
    # BLEU = (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = (1/12) ** 0.25
    out = metric("bleu", [PRED], [REF])
    assert out["value"] == pytest.approx(100 * (1 / 12) ** 0.25)
    assert out["per_example"] == [pytest.approx(100 * (1 / 12) ** 0.25)]


def test_bleu_of_a_devanagari_copy_is_100():
    assert metric("bleu", ["नमस्ते दुनिया आप कैसे हैं"], ["नमस्ते दुनिया आप कैसे हैं"])[
        "value"] == pytest.approx(100.0)


def test_chrf_averages_precision_and_recall_over_orders_then_takes_f2():
    # char_order 2: P1 = 2/2, R1 = 2/3, P2 = 1/1, R2 = 1/2 -> P = 1, R = 7/12
    # F2 = 5 P R / (4 P + R) = (35/12) / (55/12) = 7/11
    module = metrics.load_metric("sacrebleu")
    out = module.compute(predictions=["ab"], references=["abc"], metric="chrf", char_order=2)
    assert out["chrf"] == pytest.approx(100 * 7 / 11)


def test_chrf_of_identical_and_disjoint_texts():
    assert metric("chrf", ["abcdef", "abc"], ["abcdef", "xyz"])["per_example"] == [
        pytest.approx(100.0), 0.0]


def test_exact_match_ignores_case_and_surrounding_whitespace_only():
    out = metric("exact_match", ["Paris ", "Paris.", "new  york"], ["paris", "Paris", "New York"])
    assert out["per_example"] == [1.0, 0.0, 1.0]
    assert out["value"] == pytest.approx(2 / 3)


def test_length_ratio_is_total_prediction_over_total_reference_tokens():
    out = metric("length_ratio", ["a b c", "a", "x"], ["a b", "a b c d", ""])
    assert out["per_example"] == [1.5, 0.25, None]
    assert out["value"] == pytest.approx(5 / 6)


def test_json_validity_accepts_a_fenced_object_and_refuses_prose():
    predictions = ['{"a": 1}', '```json\n[1, 2]\n```', "{'a': 1}", "sure! {}"]
    out = metric("json_valid", predictions, [""] * 4)
    assert out["per_example"] == [1.0, 1.0, 0.0, 0.0]
    assert out["value"] == 0.5


def test_gsm8k_accuracy_compares_the_final_numbers():
    predictions = ["She has 3 + 4 = 7 apples.", "The answer is 1,200 dollars", "I don't know"]
    references = ["3 + 4 = 7\n#### 7", "#### 1200", "#### 5"]
    out = metric("answer_accuracy", predictions, references, extractor="gsm8k")
    assert out["per_example"] == [1.0, 1.0, 0.0]
    assert out["value"] == pytest.approx(2 / 3)


def test_reference_without_an_answer_is_left_out_of_accuracy():
    out = metric("answer_accuracy", ["7", "7"], ["#### 7", "no number here"], extractor="gsm8k")
    assert out == {"value": 1.0, "per_example": [1.0, None]}


def test_unknown_extractor_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown answer extractor 'nope'; known: gsm8k"):
        metric("answer_accuracy", ["1"], ["1"], extractor="nope")


def test_numbers_are_normalized_before_comparison():
    assert [normalize_number(t) for t in ("1,234.50", "-3.0", "007", "x")] == [
        "1234.5", "-3", "7", None]
    assert last_number("from 2 to 10.") == "10"
    assert gsm8k_answer("#### 42 (because 6*7 = 42)") == "42"


def test_score_all_gives_every_metric_per_example():
    out = score_all([PRED, "x"], [REF, "x"], extractor="last_number")
    assert sorted(out["aggregate"]) == sorted(
        ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf", "exact_match",
         "length_ratio", "json_valid", "answer_accuracy"])
    assert out["per_example"]["exact_match"] == [0.0, 1.0]
    assert out["per_example"]["rouge1"] == [pytest.approx(5 / 6), 1.0]
    assert out["per_example"]["answer_accuracy"] == [None, None]


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric 'meteor'"):
        metric("meteor", ["a"], ["a"])
