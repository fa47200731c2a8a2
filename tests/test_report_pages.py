"""The Report page's intervals and exports, and the Playground page, on a prepared workspace."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page, prepare_workspace
from workbench.stages.evaluation import score


@pytest.fixture
def workspace(tmp_path, monkeypatch, evaluate_cache):
    root = prepare_workspace(tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


def page(path: str) -> AppTest:
    return admin_page(path)


def test_report_page_shows_paired_intervals_and_offers_both_exports(workspace):
    score(workspace)
    at = page("views/report.py")
    assert not at.exception, at.exception
    intervals = at.dataframe[0].value  # the paired comparison leads; numbers as text
    exact = intervals[intervals["metric"] == "exact match"].iloc[0]
    assert (exact["n"], exact["difference"], exact["95% interval"]) == (
        "3", "+0.000", "+0.000 to +0.000")  # no output equals "Answer N."
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Report (HTML)", "Ratings (CSV, one row per rating)"]


def test_report_page_opens_with_the_verdict(workspace):
    score(workspace)
    at = page("views/report.py")
    # 3 held-out rows, base and tuned answers share no token with "Answer N.": ROUGE-L 0 − 0
    assert at.info[0].value == (
        "**Verdict** · No clear difference between tuned and base on ROUGE-L: +0.000 (95% CI "
        "+0.000 to +0.000, n=3); no blind ratings yet (rate the pairs in a rating session). "
        "Too few held-out rows for a firm conclusion.")


def test_playground_renders_and_shows_a_held_out_prompt(workspace):
    at = page("views/playground.py")
    assert not at.exception, at.exception
    at.radio(key="source").set_value("A held-out row").run()
    assert at.selectbox(key="row").value is not None
    assert at.text[0].value.startswith("user: Question ")
    assert not any("Question" in m.value for m in at.markdown)  # never rendered as markdown


def test_playground_refuses_an_empty_prompt_in_one_line(workspace):
    at = page("views/playground.py")
    at.button(key="ask").click().run()
    assert [e.value for e in at.error] == [
        "the prompt is empty: type a question or pick a held-out row"]
