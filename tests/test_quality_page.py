"""The Quality page: histograms, the ends of a signal, the row browser, the selection form."""

import pytest

from tests.prepared import admin_page, planted_job
from workbench.store import open_workspace

IFD = {1: 0.5, 2: 0.9, 3: None, 4: 0.2, 5: 0.7, 6: 0.1, 7: 1.3, 8: 0.3, 9: 0.6, 10: 0.4}


@pytest.fixture
def workspace(workspace):
    """conftest's prepared workspace (10 rows, #2 a duplicate of #1) with signals stored."""
    with open_workspace(workspace) as ws:
        ws.insert("quality_signals", [
            {"dataset_id": 1, "example_id": i, "ifd": v, "answer_chars": 9,
             "prompt_chars": 11, "refusal": i == 4,
             "unscored_reason": None if v is not None else "no_trainable_tokens",
             "unscored_detail": None if v is not None else "no answer token within the "
                                                           "first 8 tokens (max_seq_len)"}
            for i, v in IFD.items() if i != 2])
    return workspace


def table(at, name: str):
    """The page's tables in order: the lowest rows, the highest rows, the row browser."""
    return at.dataframe[["q_low", "q_high", "q_rows"].index(name)].value


def page():
    at = admin_page("views/quality.py")
    assert not at.exception, at.exception
    return at


def test_the_ends_of_the_combined_score_are_the_lowest_and_highest_rows(workspace):
    at = page()
    # ifd formula: rows with IFD < 1 (#7 has 1.3, #3 none, #2 is a duplicate: not kept)
    low = table(at, "q_low")
    high = table(at, "q_high")
    assert low["example_id"].tolist() == [6, 4, 8, 10, 1, 9, 5]
    assert high["example_id"].tolist() == [5, 9, 1, 10, 8, 4, 6]
    assert at.warning[0].value == ("1 row(s) without a model score: no_trainable_tokens "
                                   "(e.g. no answer token within the first 8 tokens "
                                   "(max_seq_len))")


def test_the_browser_sorts_by_a_signal_and_drops_flagged_rows(workspace):
    at = page()
    at.selectbox(key="q_sort").select("ifd").run()
    at.checkbox(key="q_desc").uncheck().run()
    at.multiselect(key="q_without").select("refusal").run()
    rows = table(at, "q_rows")
    assert rows["example_id"].tolist() == [6, 8, 10, 1, 9, 5, 7, 3]  # no IFD: last
    at.slider(key="q_range").set_value((0.25, 0.65)).run()
    assert table(at, "q_rows")["example_id"].tolist() == [8, 10, 1, 9]


def test_a_formula_of_another_signal_changes_the_score(workspace):
    at = page()
    at.text_input(key="q_formula").input("-ifd").run()
    assert table(at, "q_high")["example_id"].tolist()[:3] == [6, 4, 8]


def test_a_bad_formula_is_one_error_line(workspace):
    at = page()
    at.text_input(key="q_formula").input("ifd=x").run()
    assert not at.exception
    assert at.error[0].value == "Formula: weight of 'ifd' is not a number: 'x'"


def test_the_selection_form_makes_a_version_with_its_recipe(workspace):
    from workbench.store.versions import version_recipe

    at = page()
    at.radio(key="s_mode").set_value("rows")  # a form's values count when it is submitted
    at.number_input(key="s_amount").set_value(2.0)
    at.checkbox(key="s_guard").uncheck()
    at.button(key="s_select").click().run()
    assert not at.exception, at.exception
    message = at.success[0].value
    assert message.startswith("Version ") and "(2 selected, 0 skipped as too similar)" in message
    with open_workspace(workspace) as ws:
        vid = ws.scalar("SELECT id FROM versions ORDER BY created_at DESC LIMIT 1")
        selection = version_recipe(ws, vid)["selection"]
        rows = ws.query("SELECT origin, split FROM version_rows WHERE version_id = ? "
                        "ORDER BY position", [vid])
    assert (selection["n"], selection["threshold"], selection["candidates"]) == (2, None, 5)
    # train rows 3 (no IFD), 4 (0.2), 6 (0.1), 7 (1.3: not < 1), 8 (0.3): the best two are
    # 8 and 4; the validation and test rows 1, 5, 9, 10 stay
    assert [r["origin"] for r in rows] == ["1:4", "1:8", "1:1", "1:5", "1:9", "1:10"]


def test_without_signals_the_page_says_how_to_compute_them(tmp_path, monkeypatch):
    from tests.prepared import prepare_workspace

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(prepare_workspace(tmp_path / "empty")))
    at = page()
    assert at.info[0].value.startswith("No quality signals yet: press **Compute** above")


def test_perplexities_are_binned_on_a_log_scale_and_other_signals_as_they_are():
    import pandas as pd

    from views.quality_charts import histogram

    frame = pd.DataFrame({"ppl_answer": [1.0, 10.0, 100.0, None], "ifd": [0.5, 0.25, 1.0, 0.5]})
    chart = histogram(frame, "ppl_answer").to_dict()
    assert chart["encoding"]["x"]["title"] == "ppl_answer (log scale)"
    assert [row["value"] for row in chart["datasets"][chart["data"]["name"]]] == [0.0, 1.0, 2.0]
    plain = histogram(frame, "ifd").to_dict()
    assert plain["encoding"]["x"]["title"] == "ifd"
    assert [row["value"] for row in plain["datasets"][plain["data"]["name"]]] == [
        0.5, 0.25, 1.0, 0.5]


def planted_quality_job(root, state: str, **status):
    """A ``quality_launch`` job folder whose status says ``state``."""
    return planted_job(root, "quality_launch", {"workspace": str(root), "quality": {}}, state,
                       **status)


def test_a_running_quality_job_shows_its_progress_and_a_cancel(workspace):
    from workbench.jobs import runner as jobs

    job_dir = planted_quality_job(workspace, "running")
    jobs.write_json(job_dir / "progress.json",
                    {"step": 12, "total": 40, "message": "12/40 sequences (2 per row)"})
    at = page()
    assert at.get("progress")[0].proto.text == (
        "12 of 40 sequences · 12/40 sequences (2 per row)")
    assert [b.label for b in at.button if b.key == f"cancel_{job_dir.name}"] == ["Cancel"]
    assert not at.error


def test_a_failed_quality_job_shows_its_one_line_error(workspace):
    job_dir = planted_quality_job(workspace, "failed", error=(
        "InputError: model folder /m does not load: no config.json in /m\nTraceback ..."))
    at = page()
    assert [e.value for e in at.error] == [
        f"The quality job {job_dir.name} failed: model folder /m does not load: "
        "no config.json in /m"]
    assert not at.get("progress")
