import numpy as np

from curation.dedup import (DedupConfig, exact_clusters, leader_clusters, normalize,
                            semantic_clusters)


def conv(user, assistant="ok"):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def test_normalize_folds_case_width_and_whitespace_but_keeps_other_scripts():
    assert normalize("  Ｈello\tWORLD \n") == "hello world"
    assert normalize("नमस्ते दुनिया") == "नमस्ते दुनिया"


def test_exact_duplicates_point_at_the_first_occurrence():
    rows = [conv("What is 2+2?"), conv("what is  2+2?"), conv("Other"), conv("WHAT IS 2+2?")]
    assert [c.representative for c in exact_clusters(rows)] == [0, 0, 2, 0]


def test_same_prompt_with_a_different_answer_is_not_an_exact_duplicate():
    assert [c.representative for c in exact_clusters([conv("q", "a"), conv("q", "b")])] == [0, 1]


def test_leader_clustering_does_not_chain():
    # a~b and b~c above 0.9, but a~c below: c must not join a's cluster through b.
    a = np.array([1.0, 0.0])
    b = np.array([np.cos(0.4), np.sin(0.4)])
    c = np.array([np.cos(0.8), np.sin(0.8)])
    clusters = leader_clusters(np.stack([a, b, c]), threshold=0.9)
    assert [x.representative for x in clusters] == [0, 0, 2]
    assert round(clusters[1].similarity, 4) == round(float(np.cos(0.4)), 4)


def test_semantic_dedup_finds_a_paraphrase_and_keeps_a_different_question():
    rows = [conv("How many grams are in a kilogram?", "There are 1000 grams in a kilogram."),
            conv("How many grams are in one kilogram?", "There are 1000 grams in a kilogram."),
            conv("How do I boil an egg?", "Simmer it for nine minutes.")]
    clusters = semantic_clusters(rows, DedupConfig())
    assert [c.representative for c in clusters] == [0, 0, 2]
    assert clusters[1].similarity >= 0.95
