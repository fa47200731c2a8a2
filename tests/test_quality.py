"""Quality heuristics, the combined score and the selection, on hand-made rows and vectors."""

import math

import numpy as np
import pytest

from curation.quality import (
    Formula, combined_scores, dup_ngram_fraction, duplicate_ngram_chars, heuristics,
    non_alnum_share, parse_formula, split_prompt_answer)
from curation.selection import quotas, select_rows, size_of
from tests.prepared import conv


def test_lengths_and_ratio_use_the_prompt_turns_and_the_last_answer():
    messages = [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Sum?"},
                {"role": "assistant", "content": "Two plus two"}]
    found = heuristics(messages)
    # prompt: "Be kind" (7) + "Hi" (2) + "Hello" (5) + "Sum?" (4) = 18; answer "Two plus two"
    assert found["prompt_chars"] == 18
    assert found["answer_chars"] == 12
    assert found["length_ratio"] == 12 / 18


def test_a_row_without_an_answer_has_no_answer_signals_and_says_why():
    found = heuristics([{"role": "user", "content": "alone"}])
    assert found == {"prompt_chars": 5, "answer_chars": None, "length_ratio": None,
                     "dup_ngram_fraction": None, "non_alnum_share": None,
                     "unscored_reason": "no_assistant_turn"}


def test_duplicate_ngrams_count_each_repeated_character_once():
    # 2-grams of a b a b a b: (a b) new, (b a) new, (a b) repeated -> 2 chars, jump to 4:
    # (a b) repeated -> 2 chars; end. 4 of 6 word characters.
    assert duplicate_ngram_chars("a b a b a b".split(), 2) == 4
    assert dup_ngram_fraction("a b a b a b", 2) == 4 / 6


def test_a_repeated_sentence_has_its_second_copy_counted():
    text = "eat a banana every day " * 2  # 10 words, 5-grams: the second copy repeats
    # words: eat a banana every day eat a banana every day; 5-grams 0..4 new (5 of them:
    # "eat a banana every day", "a banana every day eat", ...), gram 5 repeats gram 0 ->
    # 3+1+6+5+3 = 18 of 36 word characters
    assert dup_ngram_fraction(text, 5) == 0.5


def test_text_without_repeats_or_words():
    assert dup_ngram_fraction("one two three four five six", 5) == 0.0
    assert dup_ngram_fraction("   ") is None


def test_non_alphanumeric_share_ignores_spaces_and_counts_every_script_as_letters():
    assert non_alnum_share("ab, c!") == 2 / 5
    assert non_alnum_share("日本 語!") == 1 / 4
    assert non_alnum_share(" \n") is None


def test_split_prompt_answer_takes_the_last_assistant_turn():
    assert split_prompt_answer(conv("Q", "A") + [{"role": "user", "content": "more"}]) == (
        [{"role": "user", "content": "Q"}], "A")


def test_formula_texts():
    assert parse_formula("ifd") == Formula("ifd", (("ifd", 1.0),))
    assert parse_formula("-dup_ngram_fraction") == Formula(
        "signal", (("dup_ngram_fraction", -1.0),))
    assert parse_formula("ifd=2, refusal=-1").weights == (("ifd", 2.0), ("refusal", -1.0))
    with pytest.raises(ValueError, match="unknown signal 'nope'"):
        parse_formula("nope")
    with pytest.raises(ValueError, match="weight of 'ifd' is not a number: 'x'"):
        parse_formula("ifd=x")


def test_ifd_formula_drops_rows_whose_prompt_does_not_help():
    rows = [{"ifd": 0.4}, {"ifd": 1.0}, {"ifd": None}, {"ifd": 0.9}]
    assert combined_scores(rows, parse_formula("ifd")) == [0.4, None, None, 0.9]


def test_single_signal_formula_negates_for_low_first():
    rows = [{"answer_chars": 10}, {"answer_chars": 3}]
    assert combined_scores(rows, parse_formula("-answer_chars")) == [-10.0, -3.0]


def test_weighted_formula_sums_population_z_scores():
    rows = [{"ifd": 0.2, "refusal": False}, {"ifd": 0.4, "refusal": True},
            {"ifd": 0.6, "refusal": False}, {"ifd": None, "refusal": False}]
    scores = combined_scores(rows, parse_formula("ifd=1,refusal=-2"))
    # ifd z over 3 rows: mean 0.4, std sqrt(0.08/3); refusal z over 4: mean .25, std sqrt(3)/4
    z_ifd = (0.2 - 0.4) / math.sqrt(0.08 / 3)
    z_ref = (0 - 0.25) / (math.sqrt(3) / 4)
    assert scores[0] == pytest.approx(z_ifd - 2 * z_ref)
    assert scores[1] == pytest.approx(0 - 2 * (0.75 / (math.sqrt(3) / 4)))
    assert scores[3] is None


def unit(*rows):
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_selection_takes_the_best_scores_first():
    chosen = select_rows([0.1, 0.9, None, 0.5, 0.7], 2)
    assert chosen.chosen == [1, 4]
    assert chosen.unscored == [2]


def test_the_diversity_guard_skips_a_near_copy_of_a_kept_row():
    # rows 0 and 1 point almost the same way (cosine 0.995), row 2 is orthogonal
    vectors = unit([1, 0], [1, 0.1], [0, 1], [0.6, 0.8])
    chosen = select_rows([0.9, 0.8, 0.7, 0.1], 3, vectors, threshold=0.9)
    assert chosen.chosen == [0, 2, 3]
    assert chosen.similar == [{"index": 1, "similar_to": 0,
                               "cosine": pytest.approx(1 / math.sqrt(1.01))}]


def test_a_cosine_at_the_threshold_is_kept():
    vectors = unit([1, 0], [0.6, 0.8])  # cosine 0.6
    assert select_rows([1.0, 0.5], 2, vectors, threshold=0.6).chosen == [0, 1]
    assert select_rows([1.0, 0.5], 2, vectors, threshold=0.59).chosen == [0]


def test_without_a_threshold_near_copies_are_kept():
    vectors = unit([1, 0], [1, 0])
    assert select_rows([1.0, 0.5], 2, vectors, threshold=None).chosen == [0, 1]


def test_per_group_quotas_follow_the_group_sizes():
    chosen = select_rows([0.9, 0.8, 0.7, 0.1, 0.2], 3, groups=["a", "a", "a", "b", "b"])
    assert chosen.quotas == {"a": 2, "b": 1}
    assert chosen.chosen == [0, 1, 4]


def test_quotas_add_up_by_largest_remainder():
    assert quotas({"a": 5, "b": 3, "c": 2}, 5) == {"a": 3, "b": 1, "c": 1}
    assert quotas({"a": 1}, 4) == {"a": 1}


def test_size_from_rows_or_percent():
    assert size_of(10, n=3) == 3
    assert size_of(10, percent=25) == 2  # 2.5 rounds to even
    assert size_of(3, percent=1) == 1
    with pytest.raises(ValueError, match="either N rows or a percentage"):
        size_of(10, n=3, percent=20)
