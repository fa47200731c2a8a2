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
    assert rouge([], []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "per_example": [],
                             "empty_after_tokenization": {"references": 0, "predictions": 0}}


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


# -- ROUGE tokenizer option and texts with no token -------------------------------------

JA_PRED, JA_REF = "これ は テスト 候補 の 応答", "これ は テスト の 正解"


def test_whitespace_tokens_score_pre_segmented_japanese_by_words():
    # 6 predicted words, 5 reference words, 4 shared: P 4/6, R 4/5, F 8/11
    values = [rouge([JA_PRED], [JA_REF], ("rouge1",), "whitespace", measure)["rouge1"]
              for measure in ("precision", "recall", "fmeasure")]
    assert [round(v, 3) for v in values] == [0.667, 0.8, 0.727]


def test_unicode_tokens_score_the_same_japanese_by_characters():
    # one token per kana/Han character: 11 predicted, 9 reference, 7 shared: F 2*7/20
    assert rouge([JA_PRED], [JA_REF], ("rouge1",))["rouge1"] == pytest.approx(0.7, abs=1e-6)


def test_char_tokens_count_every_non_space_character():
    # "ab c" vs "abd": 3 chars each ({a, b, c} vs {a, b, d}), 2 shared: F 2/3
    assert rouge(["ab c"], ["abd"], ("rouge1",), "char")["rouge1"] == pytest.approx(2 / 3)


def test_texts_with_no_token_are_counted_not_silently_scored_zero():
    out = rouge(["🎉🎉🎉", "the cat"], ["🎉🎉🎉", "the cat"], ("rouge1",))
    assert [row["rouge1"] for row in out["per_example"]] == [0.0, 1.0]
    assert out["empty_after_tokenization"] == {"references": 1, "predictions": 1}
    assert rouge(["🎉🎉🎉"], ["🎉🎉🎉"], ("rouge1",), "char")["empty_after_tokenization"] == {
        "references": 0, "predictions": 0}


def test_an_unknown_rouge_tokenizer_is_refused():
    with pytest.raises(ValueError, match="unknown ROUGE tokenizer 'words'; known: unicode, "
                                         "whitespace, char, rouge_score"):
        rouge([PRED], [REF], tokenizer="words")


def test_the_score_summary_names_its_tokenizer_and_warns_about_empty_texts(tmp_path):
    from tests.prepared import generated_workspace
    from workbench.stages import evaluation as model_stages
    from workbench.stages.report import gather as report

    root = generated_workspace(tmp_path / "ws", {1: "🎉🎉🎉", 2: JA_REF},
                               {1: ("ok", "ok"), 2: (JA_PRED, JA_REF)})
    summary = model_stages.score(root, "none")
    assert summary["rouge_tokenizer"] == "unicode"
    assert summary["empty_after_tokenization"] == {
        "base": {"references": 1, "predictions": 0}, "tuned": {"references": 1, "predictions": 0}}
    assert summary["warnings"] == [
        "base: 1 reference(s) and 0 prediction(s) have no token under ROUGE tokenizer "
        "'unicode' and score 0 (try --rouge-tokenizer char)",
        "tuned: 1 reference(s) and 0 prediction(s) have no token under ROUGE tokenizer "
        "'unicode' and score 0 (try --rouge-tokenizer char)"]
    rescored = report(root, rouge_tokenizer="whitespace")
    assert rescored["rouge"] == {"tokenizer": "whitespace", "warnings": [],
                                 "empty_after_tokenization": {
                                     "base": {"references": 0, "predictions": 0},
                                     "tuned": {"references": 0, "predictions": 0}}}
    assert rescored["metrics"]["base"]["rouge1"] == round((0 + 8 / 11) / 2, 4)
    assert rescored["evaluation"]["rouge"]["tokenizer"] == "whitespace"
