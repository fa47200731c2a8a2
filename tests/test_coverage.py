"""The coverage map: deterministic UMAP coordinates, c-TF-IDF labels, uncovered held-out rows,
and the stage's cached map with its colours."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curation.coverage import (
    CoverageConfig,
    clusters,
    coverage_map,
    ctfidf,
    ctfidf_labels,
    nearest_train,
    project,
)
from tests.prepared import prepare_workspace


def unit_rows(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, d))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_same_seed_gives_the_same_coordinates_twice_and_another_seed_does_not():
    vectors = unit_rows(40)
    first, second = project(vectors, seed=7), project(vectors, seed=7)
    assert first.shape == (40, 2)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, project(vectors, seed=8))


def test_fewer_than_four_rows_lie_on_a_line_without_umap():
    assert project(unit_rows(3), seed=0).tolist() == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]


def test_two_separate_groups_become_two_clusters():
    coords = np.array([[0, 0], [0, 0.1], [0.1, 0], [0.1, 0.1], [0.05, 0.05],
                       [9, 9], [9, 9.1], [9.1, 9], [9.1, 9.1], [9.05, 9.05]])
    assert clusters(coords, min_cluster_size=5).tolist() == [0] * 5 + [1] * 5
    assert clusters(coords[:3], min_cluster_size=5).tolist() == [-1, -1, -1]


def test_ctfidf_weights_follow_bertopic_class_tfidf_by_hand():
    # counts of (apple, banana, cherry, dog) in two clusters; A = int(mean(5, 4)) = 4
    weights = ctfidf(np.array([[3, 1, 1, 0], [0, 1, 0, 3]]))
    expected = [[3 / 5 * math.log(4 / 3 + 1), 1 / 5 * math.log(4 / 2 + 1),
                 1 / 5 * math.log(4 / 1 + 1), 0.0],
                [0.0, 1 / 4 * math.log(4 / 2 + 1), 0.0, 3 / 4 * math.log(4 / 3 + 1)]]
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-12)


def test_ctfidf_labels_name_each_hand_made_cluster_by_its_distinctive_words():
    texts = ["apple banana apple", "apple cherry", "banana dog", "dog dog", "zebra"]
    labels = ctfidf_labels(texts, [0, 0, 1, 1, -1], words=3)
    # cluster 0: apple .5084 > cherry .3219 > banana .2197; cluster 1: dog .6355 > banana .2747
    assert labels == {0: ["apple", "cherry", "banana"], 1: ["dog", "banana"]}


def test_stop_words_never_label_a_cluster_and_a_wordless_cluster_gets_none():
    assert ctfidf_labels(["the the the", "and of"], [0, 1]) == {0: [], 1: []}
    assert ctfidf_labels(["the cat is here", "a dog"], [0, 1], words=1) == {0: ["cat"],
                                                                           1: ["dog"]}


def test_held_out_rows_get_their_nearest_train_cosine_and_low_ones_are_uncovered():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0], [1.0, 0.0]])
    splits = ["train", "train", "test", "test", None]
    near = nearest_train(vectors, splits)
    assert near == pytest.approx([None, None, 0.8, 0.0, None])
    found = coverage_map(["a", "b", "c", "d", "e"], vectors, splits,
                         CoverageConfig(coverage_threshold=0.5))
    assert found["uncovered"] == [False, False, False, True, False]
    assert found["nearest_train"][3] == pytest.approx(0.0)


def test_no_train_row_means_no_neighbour_and_nothing_uncovered():
    assert nearest_train(unit_rows(3), ["test", "test", None]) == [None, None, None]


def test_the_stage_caches_the_map_and_colours_by_split_duplicate_and_pii(tmp_path):
    from workbench.stages.coverage import coverage_map as stage

    ws = prepare_workspace(tmp_path / "ws")
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return unit_rows(len(texts), seed=3)

    first = stage(ws, CoverageConfig(seed=1), encode=encode)
    second = stage(ws, CoverageConfig(seed=1), encode=encode)
    assert calls == [10]  # the second map came from the workspace
    assert (first["cached"], second["cached"]) == (False, True)
    assert [(p["x"], p["y"]) for p in first["points"]] == \
        [(p["x"], p["y"]) for p in second["points"]]
    by_id = {p["example_id"]: p for p in second["points"]}
    assert (by_id[1]["duplicate"], by_id[2]["duplicate"], by_id[4]["duplicate"]) == \
        ("representative", "duplicate", "unique")
    assert [by_id[i]["pii"] for i in (3, 4)] == [1, 0]
    assert by_id[1]["prompt"] == "Question 0?"
    splits = [p["split"] for p in second["points"]]
    assert [splits.count(s) for s in ("train", "validation", "test", "none")] == [5, 1, 3, 1]
    assert by_id[2]["split"] == "none"  # the duplicate is in no split
    assert second["summary"]["held_out"] == 4
    stage(ws, CoverageConfig(seed=2), encode=encode)
    assert calls == [10, 10]  # other settings: a new map


def test_a_map_of_an_empty_workspace_is_one_clear_message(tmp_path):
    from common.errors import StageError
    from workbench.stages.coverage import coverage_map as stage
    from workbench.store import open_workspace

    with open_workspace(tmp_path / "ws"):
        pass
    with pytest.raises(StageError, match="no dataset yet"):
        stage(tmp_path / "ws", encode=lambda texts: unit_rows(len(texts)))


def test_the_page_offers_to_draw_a_map_that_is_not_in_the_workspace(workspace):
    from tests.prepared import admin_page

    at = admin_page("views/coverage_map.py")
    assert not at.exception, at.exception
    assert at.info[0].value.startswith("No map for these settings yet")
    assert [b.label for b in at.button if b.key == "coverage_draw"] == ["Draw the coverage map"]


def test_the_page_shows_a_stored_map_and_lists_the_rows_of_a_chosen_cluster(workspace):
    from tests.prepared import admin_page
    from workbench.stages.coverage import coverage_map as stage

    stage(workspace, CoverageConfig(), encode=lambda texts: unit_rows(len(texts), seed=3))
    at = admin_page("views/coverage_map.py")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows"], metrics["Held-out rows"]) == ("10", "4")
    for option in ("split", "duplicate status", "PII findings", "held-out over train"):
        at.radio(key="coverage_color").set_value(option).run()
        assert not at.exception, (option, at.exception)
    chosen = at.selectbox(key="coverage_cluster").value
    (rows,) = [d.value for d in at.dataframe if "prompt" in d.value.columns]
    points = stage(workspace, CoverageConfig(), cached_only=True)["points"]
    assert sorted(rows["example_id"]) == [p["example_id"] for p in points
                                          if p["label"] == chosen]
