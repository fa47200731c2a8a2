"""ROUGE through the local evaluate module: hand-computed values, and loading without network."""

from __future__ import annotations

import pytest

from evaluation import metrics
from evaluation.metrics import rouge

# prediction "the cat sat" vs reference "the cat sat on the mat" (6 tokens):
# unigrams 3/3 match: P=1, R=3/6, F=2/3; bigrams 2 of 2 vs 5: P=1, R=2/5, F=4/7; LCS 3 = rouge1.
PRED, REF = "the cat sat", "the cat sat on the mat"


@pytest.fixture(autouse=True)
def temp_home(evaluate_cache):
    """evaluate's caches in the session's temporary folder (tests/conftest.py)."""
    return evaluate_cache


def test_rouge_of_a_prefix_prediction_matches_hand_computation():
    out = rouge([PRED], [REF])
    assert out["rouge1"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["rouge2"] == pytest.approx(4 / 7, abs=1e-6)
    assert out["rougeL"] == pytest.approx(2 / 3, abs=1e-6)
    expected = {"rouge1": 2 / 3, "rouge2": 4 / 7, "rougeL": 2 / 3}
    assert out["per_example"] == [pytest.approx(expected, abs=1e-6)]


def test_rouge1_precision_is_1_and_recall_is_one_half():
    module = metrics.load_metric("rouge")
    kwargs = dict(predictions=[PRED], references=[REF], rouge_types=["rouge1"])
    assert module.compute(measure="precision", **kwargs)["rouge1"] == pytest.approx(1.0, abs=1e-6)
    assert module.compute(measure="recall", **kwargs)["rouge1"] == pytest.approx(0.5, abs=1e-6)


def test_aggregate_is_the_plain_mean_of_examples():
    out = rouge([PRED, "a b"], [REF, "x y"])
    assert out["rouge1"] == pytest.approx((2 / 3 + 0.0) / 2, abs=1e-6)
    assert [row["rouge1"] for row in out["per_example"]] == pytest.approx([2 / 3, 0.0])


def test_identical_texts_score_one_and_case_is_ignored():
    assert rouge(["The Cat"], ["the cat"])["rougeL"] == pytest.approx(1.0, abs=1e-6)


def test_without_aggregator_module_returns_lists_per_type():
    module = metrics.load_metric("rouge")
    out = module.compute(predictions=[PRED, REF], references=[REF, REF], use_aggregator=False)
    assert sorted(out) == ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    assert out["rouge1"] == pytest.approx([2 / 3, 1.0])


def test_several_references_keep_the_best_match():
    module = metrics.load_metric("rouge")
    references = [["a dog ran", REF]]
    out = module.compute(predictions=[PRED], references=references, rouge_types=["rouge1"])
    assert out["rouge1"] == pytest.approx(2 / 3, abs=1e-6)


def test_unknown_measure_is_refused():
    with pytest.raises(ValueError, match="measure must be one of"):
        metrics.load_metric("rouge").compute(predictions=[PRED], references=[REF], measure="f1")


def test_empty_input_gives_zero_means():
    assert rouge([], []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "per_example": []}


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge([PRED, PRED], [REF])


def test_module_loads_from_local_file_without_network(temp_home, network_calls):
    metrics.load_metric.cache_clear()
    assert rouge([PRED], [REF])["rouge1"] == pytest.approx(2 / 3, abs=1e-6)
    assert network_calls == []
    assert list((temp_home / "hf" / "modules").rglob("rouge_local.py"))


def test_devanagari_prediction_equal_to_reference_scores_one():
    text = "नमस्ते दुनिया, आप कैसे हैं"
    out = rouge([text], [text], ("rouge1", "rouge2", "rougeL", "rougeLsum"))
    assert out["per_example"] == [{"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}]


def test_devanagari_words_keep_their_vowel_signs():
    # "नमस्ते दुनिया" vs "नमस्ते भारत": 1 of 2 words shared -> P = R = F = 1/2; a tokenizer
    # that split at the vowel signs would share the fragment "न" too and score higher
    assert rouge(["नमस्ते दुनिया"], ["नमस्ते भारत"])["rouge1"] == pytest.approx(0.5)


def test_han_characters_are_one_token_each():
    # 我爱北京 vs 我爱上海: 2 of 4 characters shared -> F = 1/2 (no spaces in the text)
    assert rouge(["我爱北京"], ["我爱上海"])["rouge1"] == pytest.approx(0.5)


def test_rouge_score_tokenizer_drops_non_latin_text():
    module = metrics.load_metric("rouge")
    out = module.compute(predictions=["नमस्ते"], references=["नमस्ते"], tokenizer="rouge_score",
                         rouge_types=["rouge1"])
    assert out["rouge1"] == 0.0  # why "unicode" is our default
