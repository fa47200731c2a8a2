"""The app's pages render against a prepared workspace, and rating works through the UI."""


import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page
from workbench.store import open_workspace

PAGES = ["views/data.py", "views/run.py", "views/sessions.py", "views/report.py"]


def page(path: str) -> AppTest:
    return admin_page(path)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_an_exception(workspace, path):
    at = page(path)
    assert not at.exception, at.exception


def test_data_page_counts_rows_rejects_and_duplicates(workspace):
    at = page("views/data.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Rows in": "11", "Examples": "10", "Rejects": "1", "Duplicates": "1",
                       "PII spans": "1"}


def test_report_says_no_ratings_until_a_person_rated(workspace):
    at = page("views/report.py")
    assert at.info[-1].value.startswith("No ratings yet (1 identical pairs")
    with open_workspace(workspace) as ws:
        ws.add_rating(1, "ana", "A", "tuned")
        ws.add_rating(1, "bo", "A", "tuned")
        ws.add_rating(3, "ana", "tie", "tie")
        ws.add_rating(3, "bo", "both_bad", "both_bad")
    at = page("views/report.py")
    # 2 wins, 0 losses, 2 ties (one automatic), both-bad apart: (2 + 0.5 * 2) / 4
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Tuned win rate"], metrics["Ties"], metrics["Both bad"]) == ("0.75", "2", "1")
    # Wilson interval of 3 successes in 4 (2 wins + 2 half ties); sign test 2-0: p = 0.5
    assert at.caption[0].value == "95% interval 0.30–0.95 (Wilson) · sign test p = 0.5 (ties dropped)"


def test_run_page_starts_a_stage_as_a_background_job_that_succeeds(workspace):
    from workbench import jobs

    at = page("views/run.py")
    at.selectbox(key="stage").select("split")  # a form's values commit on submit
    at.button(key="start").click().run()
    assert not at.exception
    job_dirs = list((workspace / "artifacts" / "jobs").glob("stage-*"))
    assert len(job_dirs) == 1
    assert jobs.wait(job_dirs[0]) == {"train": 7, "validation": 1, "test": 1}  # 9 eligible rows
    assert jobs.status(job_dirs[0])["state"] == "succeeded"


@pytest.mark.parametrize("path", ["views/data.py", "views/privacy.py", "views/report.py"])
def test_a_new_workspace_says_where_to_start_not_an_error(tmp_path, monkeypatch, path):
    with open_workspace(tmp_path / "new"):
        pass
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "new"))
    at = page(path)
    assert not at.exception and not at.error
    assert at.info[0].value == ("No dataset yet: import a file on the **Datasets** page (or run "
                                "`workbench ingest`), then run the curation stages on the "
                                "**Run** page.")
