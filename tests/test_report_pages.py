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


@pytest.fixture
def lead_workspace(tmp_path, monkeypatch, evaluate_cache):
    from tests.e2e.report_data import build_report_workspace

    root = build_report_workspace(tmp_path / "lead")["workspace"]
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


def test_the_report_leads_with_the_verdict_and_plots_and_prints_numbers_for_people(
        lead_workspace):
    import re

    at = page("views/report.py")
    assert not at.exception, at.exception
    assert at.info[0].value == (
        "**Verdict** · Tuned beats base on ROUGE-L by +0.832 (95% CI +0.755 to +0.876, n=12); "
        "scripted demo raters (not people) preferred tuned in 100% of pairs (95% CI 86-100%, "
        "n=24). Too few held-out rows and ratings for a firm conclusion.")
    assert at.warning[0].value.startswith("Only 12 held-out rows (fewer than 30): the 95% "
                                          "intervals are approximate")
    assert [h.value for h in at.header] == [
        "Automatic metrics", "Human ratings (blind rating sessions)", "Stages",
        "Training loss", "Lineage", "Export"]
    assert len(at.get("image")) == 3  # metric differences, win/tie/loss + win rate, loss
    paired = at.dataframe[0].value.set_index("metric")
    assert paired.loc["ROUGE-L"].to_dict() == {
        "system": "tuned", "n": "12", "system mean": "0.937", "base mean": "0.105",
        "difference": "+0.832", "95% interval": "+0.755 to +0.876"}
    # the same held-out loss, two definitions, each named: mean over rows vs pooled
    assert paired.loc["held-out loss (nats/token)", "base mean"] == "3.65"
    corpus = at.dataframe[1].value.set_index("metric")
    assert corpus.loc["held-out loss (nats/token)"].to_dict() == {
        "pooled as": "summed loss ÷ all reference tokens, so longer references weigh more",
        "base": "3.76", "tuned": "1.50"}
    stages = next(d.value for d in at.dataframe if "stage" in d.value.columns)
    assert stages.loc[stages["stage"] == "score", "result"].item() == (
        "extractor choice none (switched off) · rouge tokenizer unicode · examples 12")
    every_cell = " ".join(str(v) for d in at.dataframe for v in d.value.to_numpy().ravel())
    assert "{" not in every_cell and not re.search(r"\d\.\d{5,}", every_cell)
    pairs = next(d.value for d in at.dataframe if "win rate" in d.value.columns).iloc[0].to_dict()
    assert (pairs["win rate"], pairs["Wilson 95% interval"], pairs["sign test p"]) == (
        "100%", "86% to 100%", "< 0.001")
