"""The Duplicates page: a cluster side by side; overrides become recorded decisions."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.dedup_helpers import bag_of_words
from tests.prepared import admin_page, conv
from workbench.stages import curation as stages
from workbench.store import open_workspace


@pytest.fixture
def workspace(workspace):
    """conftest's prepared workspace, whose cluster (#2 is an exact copy of #1) also lists #1."""
    with open_workspace(workspace) as ws:
        ws.insert("dup_clusters", [{"dataset_id": 1, "example_id": 1, "level": "exact",
                                    "representative_id": 1, "similarity": 1.0}])
    return workspace


def page() -> AppTest:
    return admin_page("views/dedup.py")


def test_the_page_shows_a_cluster_side_by_side_with_its_similarity(workspace):
    at = page()
    assert not at.exception, at.exception
    assert [m.value for m in at.markdown][:2] == ["**#1** (line 1) · representative",
                                                  "**#2** (line 2) · similarity 1.000"]
    assert "user: Question 1?" in [t.value for t in at.text]


def test_a_decision_needs_a_reviewer_name(workspace):
    at = page()
    at.button(key="notdup_2").click().run()
    assert at.warning[0].value.startswith("Enter your name")
    with open_workspace(workspace) as ws:
        assert ws.scalar("SELECT count(*) FROM decisions") == 0


def test_not_a_duplicate_is_recorded_with_the_reviewer(workspace):
    at = page()
    at.sidebar.text_input(key="reviewer").input("ana").run()
    at.button(key="notdup_2").click().run()
    assert not at.exception, at.exception
    with open_workspace(workspace) as ws:
        assert ws.query("SELECT example_id, action, who FROM decisions") == [
            {"example_id": 2, "action": "dedup_not_duplicate", "who": "ana"}]
        assert ws.scalar("SELECT representative_id FROM dup_clusters WHERE example_id = 2") == 2
    assert at.caption[0].value == "No exact clusters with more than one row."


def test_make_representative_swaps_the_kept_row(workspace):
    at = page()
    at.sidebar.text_input(key="reviewer").input("bo").run()
    at.button(key="rep_2").click().run()
    with open_workspace(workspace) as ws:
        assert ws.query("SELECT example_id, representative_id FROM dup_clusters "
                        "ORDER BY example_id") == [{"example_id": 1, "representative_id": 2},
                                                   {"example_id": 2, "representative_id": 2}]
        assert ws.scalar("SELECT action FROM decisions") == "dedup_representative"


def test_the_leakage_section_says_where_to_run_it_then_shows_the_report(workspace):
    at = page()
    assert ("No leakage report yet: after the split, run the **leakage** stage on the Run "
            "page (or `workbench leakage`).") in [c.value for c in at.caption]
    words = ["amber", "birch", "cedar", "delta", "ember", "fjord", "gamma", "heron", "indigo",
             "juniper"]
    with open_workspace(workspace) as ws:  # rows with no word in common, then one held-out
        for i, word in enumerate(words, start=1):  # row gets a training row's text
            ws.con.execute("UPDATE examples SET messages = ? WHERE id = ?",
                           [json.dumps(conv(f"Tell me about {word}?", f"{word} facts.")), i])
        held_out = ws.query("SELECT example_id FROM splits WHERE split <> 'train' "
                            "ORDER BY example_id")[0]["example_id"]
        train = ws.query("SELECT example_id FROM splits WHERE split = 'train' "
                         "ORDER BY example_id")[0]["example_id"]
        ws.con.execute("UPDATE examples SET messages = ? WHERE id = ?",
                       [json.dumps(conv(f"Tell me about {words[train - 1]}?",
                                        f"{words[train - 1]} facts.")), held_out])
        n_held_out = ws.scalar("SELECT count(*) FROM splits WHERE split <> 'train'")
    summary = stages.leakage(workspace, encode=bag_of_words)
    assert (summary["held_out"], summary["above_threshold"]) == (n_held_out, 1)
    at = page()
    assert not at.exception, at.exception
    assert at.error[0].value == (f"1 of {n_held_out} held-out examples have a training "
                                 "example at or above the semantic threshold.")
    table = at.dataframe[-1].value  # the last table on the page: the leakage report
    leak = table[table["above"]]
    assert leak[["example_id", "nearest_train_id"]].values.tolist() == [[held_out, train]]
    assert float(leak["similarity"].iloc[0]) == pytest.approx(1.0)
