import random

import numpy as np
import pytest

from curation.dedup import (
    DedupConfig,
    DedupPlan,
    ExactConfig,
    conversation_text,
    exact_text_clusters,
    groups,
    leader_clusters,
    normalize,
    policy_order,
    prompt_text,
    semantic_text_clusters,
    text_key,
)
from curation.dedup.near import NearDedupConfig
from tests.dedup_helpers import bag_of_words, conv, reps


def plan(**kwargs) -> DedupPlan:
    return DedupPlan(**kwargs)


def run(rows, p=None, findings=None):
    from curation.dedup import dedup_levels

    return dedup_levels(rows, p or plan(), findings, encode=bag_of_words)


def test_normalize_folds_case_width_and_whitespace_but_keeps_other_scripts():
    assert normalize("  Ｈello\tWORLD \n") == "hello world"
    assert normalize("नमस्ते दुनिया") == "नमस्ते दुनिया"


def test_normalized_keys_are_never_empty_and_keep_scripts_apart():
    texts = ["你好", "こんにちは", "مرحبا", "Привет", "🙂", "🙃", " ", "\t", "\u200b", ""]
    keys = [text_key(t) for t in texts]
    assert len(set(keys)) == len(texts)
    assert text_key("ПРИВЕТ") == text_key("привет") and text_key("ｈｉ") == text_key("hi")


def test_exact_duplicates_point_at_the_first_occurrence():
    rows = [conv("What is 2+2?"), conv("what is  2+2?"), conv("Other"), conv("WHAT IS 2+2?")]
    clusters = exact_text_clusters([conversation_text(r) for r in rows])
    assert [c.representative for c in clusters] == [0, 0, 2, 0]


def test_same_prompt_with_a_different_answer_is_not_an_exact_duplicate():
    rows = [conv("q", "a"), conv("q", "b")]
    clusters = exact_text_clusters([conversation_text(r) for r in rows])
    assert [c.representative for c in clusters] == [0, 1]


def test_prompt_scope_clusters_rows_that_share_the_prompt_side():
    rows = [conv("Name a colour", "red"), conv("name a  COLOUR", "blue"), conv("Other", "red")]
    p = plan(exact=ExactConfig(scope="prompt"), policy="first")
    p.near.enabled = p.semantic.semantic = False
    assert reps(run(rows, p)["exact"]) == [(0, 0), (1, 0), (2, 2)]
    assert prompt_text([{"role": "system", "content": "s"}] + conv("q", "a")) == "system: s\nuser: q"


def test_longest_policy_keeps_the_longest_member_of_each_cluster():
    rows = [conv("What is 2+2?"), conv("what is   2+2?"), conv("WHAT IS 2+2? ")]
    assert reps(run(rows)["exact"]) == [(0, 1), (1, 1), (2, 1)]


def test_fewest_findings_policy_keeps_the_member_with_fewest_findings():
    rows = [conv("What is 2+2?"), conv("what is   2+2?"), conv("WHAT IS 2+2? ")]
    found = run(rows, plan(policy="fewest_findings"), findings=[0, 3, 1])["exact"]
    assert reps(found) == [(0, 0), (1, 0), (2, 0)]


def test_cascade_runs_near_on_exact_representatives_and_semantic_on_near_ones():
    base = "please explain how a rainbow forms after the rain in the late afternoon sky"
    rows = [conv(base), conv(base.upper()), conv(base + " today"),
            conv("how does a rainbow form after rain in the afternoon sky"),
            conv("What is the boiling point of water at sea level?")]
    p = plan(policy="first")
    p.near.threshold, p.semantic.threshold = 0.6, 0.79
    levels = run(rows, p)
    assert reps(levels["exact"]) == [(0, 0), (1, 0), (2, 2), (3, 3), (4, 4)]
    assert reps(levels["near"]) == [(0, 0), (2, 0), (3, 3), (4, 4)]
    assert reps(levels["semantic"]) == [(0, 0), (3, 0), (4, 4)]
    assert round(levels["semantic"][1].similarity, 4) == 0.7971
    assert groups(len(rows), levels) == [0, 0, 0, 0, 4]


def test_clusters_do_not_change_when_the_rows_are_shuffled():
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rng = random.Random(3)
    rows = [conv(" ".join(rng.sample(words, 8))) for _ in range(30)]
    rows += [conv(r[0]["content"].upper() + "  ") for r in rows[:10]]
    p = plan()
    p.semantic.threshold = 0.85

    def kept_contents(rows):
        levels = run(rows, p)
        return sorted({rows[g][0]["content"] for g in groups(len(rows), levels)})

    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert kept_contents(rows) == kept_contents(shuffled)
    assert 0 < len(kept_contents(rows)) < 30


def test_policy_order_breaks_length_ties_by_content_not_position():
    rows = [conv("bb"), conv("aa"), conv("ccc")]

    def contents(rows):
        return [rows[i][0]["content"] for i in policy_order(rows, "longest")]

    assert contents(rows)[0] == "ccc"
    assert contents(rows) == contents(rows[::-1])
    assert policy_order(rows, "first") == [0, 1, 2]


def test_a_bad_plan_names_every_bad_field():
    with pytest.raises(ValueError, match=r"policy must be .*'shortest'.*exact\.scope must be"):
        DedupPlan(policy="shortest", exact=ExactConfig(scope="answer"))


def test_disabled_levels_are_skipped():
    p = plan(near=NearDedupConfig(enabled=False))
    p.semantic.semantic = False
    assert set(run([conv("a"), conv("A")], p)) == {"exact"}


def test_leader_clustering_does_not_chain():
    # a~b and b~c above 0.9, but a~c below: c must not join a's cluster through b.
    a = np.array([1.0, 0.0])
    b = np.array([np.cos(0.4), np.sin(0.4)])
    c = np.array([np.cos(0.8), np.sin(0.8)])
    clusters = leader_clusters(np.stack([a, b, c]), threshold=0.9)
    assert [x.representative for x in clusters] == [0, 0, 2]
    assert round(clusters[1].similarity, 4) == round(float(np.cos(0.4)), 4)


@pytest.mark.slow
def test_semantic_dedup_finds_a_paraphrase_and_keeps_a_different_question():
    rows = [conv("How many grams are in a kilogram?", "There are 1000 grams in a kilogram."),
            conv("How many grams are in one kilogram?", "There are 1000 grams in a kilogram."),
            conv("How do I boil an egg?", "Simmer it for nine minutes.")]
    clusters = semantic_text_clusters([conversation_text(r) for r in rows], DedupConfig())
    assert [c.representative for c in clusters] == [0, 0, 2]
    assert clusters[1].similarity >= 0.95
