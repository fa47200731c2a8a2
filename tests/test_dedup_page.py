"""The Duplicates page: a cluster side by side; overrides become recorded decisions."""


import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page
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
