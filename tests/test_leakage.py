"""The leakage report: exact nearest neighbours, and (slow, real model) a default split of a
real near-duplicate-heavy file with no held-out example above the semantic threshold."""

import numpy as np
import pytest

from curation.leakage import nearest, report
from workbench.stages import curation as stages
from workbench.store import open_workspace


def test_nearest_returns_the_most_similar_training_row_and_its_cosine():
    train = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    test = np.array([[0.8, 0.6], [0, 1]], dtype=np.float32)
    index, similarity = nearest(test, train)
    assert index.tolist() == [2, 1] and np.allclose(similarity, [0.96, 1.0])


def test_report_flags_held_out_rows_at_or_above_the_threshold():
    vectors = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    rows = report([10, 11, 12, 13], ["train", "train", "test", "validation"], vectors, 0.9)
    assert [(r["example_id"], r["nearest_train_id"], round(r["similarity"], 2), r["above"])
            for r in rows] == [(12, 10, 1.0, True), (13, 11, 0.8, False)]


def test_a_split_without_training_rows_reports_no_neighbour():
    rows = report([1], ["test"], np.array([[1.0, 0.0]]), 0.9)
    assert rows[0]["nearest_train_id"] is None and rows[0]["above"] is False


@pytest.mark.slow
def test_default_split_of_fastchat_sharegpt_has_no_test_example_above_the_threshold(
        shared_data, tmp_path):
    ws = tmp_path / "ws"
    stages.ingest(ws, str(shared_data / "sharegpt_fastchat_dummy_conversation.json"))
    dedup = stages.dedup(ws)
    split = stages.split(ws)
    leakage = stages.leakage(ws)
    assert dedup["kept"] == sum(split.values())
    assert leakage["held_out"] == split["validation"] + split["test"] > 0
    assert leakage["above_threshold"] == 0 and leakage["max_similarity"] < 0.95
    # the kept rows were all embedded by dedup's semantic level: the report reuses them
    assert (leakage["embedded_texts"], leakage["cached_texts"]) == (0, dedup["kept"])
    assert dedup["embedding_backend"] == leakage["embedding_backend"] == "openvino"
    with open_workspace(ws) as s:
        assert s.scalar("SELECT count(*) FROM leakage WHERE above") == 0
