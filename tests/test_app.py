"""The app's pages render against a prepared workspace, and rating works through the UI."""


import pytest
from streamlit.testing.v1 import AppTest

from tests.prepared import admin_page
from workbench.stages.pipeline import PipelineOptions
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


def test_report_shows_each_rating_sessions_statistics_from_derandomized_labels(
        workspace, evaluate_cache):  # unscored run: the report computes ROUGE-L with evaluate
    from evaluation.sessions import SessionDesign
    from workbench.store import sessions as ss

    at = page("views/report.py")
    assert at.info[-1].value.startswith("No rating session yet")
    with open_workspace(workspace) as ws:  # examples 4 and 6 differ, 5 has identical outputs
        ss.create_session(ws, "s1", "generate-1", SessionDesign(), ["ana"], seed=3)
        wanted = {("ana", 4): "tuned", ("ana", 6): "both_bad"}
        for row in ws.query("SELECT r.name, a.rater_id, a.position, a.left_system, i.example_id "
                            "FROM assignments a JOIN session_raters r ON r.id = a.rater_id "
                            "JOIN session_items i ON i.session_id = a.session_id "
                            "AND i.item_no = a.item_no"):
            label = wanted[(row["name"], row["example_id"])]
            choice = label if label in ("tie", "both_bad") else (
                "A" if row["left_system"] == label else "B")
            ss.submit(ws, row["rater_id"], row["position"], choice)
    at = page("views/report.py")
    assert not at.exception
    (pairs,) = [d.value for d in at.dataframe if "pair" in d.value.columns]
    # 1 win, 0 losses, 1 automatic tie, both-bad apart: (1 + 0.5) / 2; Wilson interval of
    # 1.5 successes in 2: (0.75 + z²/4 ∓ z·√(0.75·0.25/2 + z²/16)) / (1 + z²/2), z = 1.959964;
    # sign test 1-0: p = 1
    assert pairs.to_dict("records") == [{
        "pair": "tuned vs base", "wins": 1, "ties": 1, "losses": 0, "both bad": 1,
        "auto ties": 1, "n": 2, "win rate": "75%", "Wilson 95% interval": "20% to 97%",
        "sign test p": "1.000"}]
    assert any("k = 1 raters per item, 0% repeats, 1 raters (0 revoked), 2 items shown, 1 "
               "tied automatically" in m.value for m in at.caption)


def test_run_page_passes_decoding_tuned_runs_and_extractor_to_the_job(workspace, monkeypatch):
    import json

    from workbench.jobs import runner as jobs

    at = page("views/run.py")
    at.selectbox(key="stage").select("generate").run()
    assert at.multiselect(key="tuned_runs").options == ["train-1"]
    at.radio(key="decoding").set_value("sampling").run()
    at.number_input(key="seed").set_value(5)
    at.multiselect(key="tuned_runs").select("train-1")
    at.selectbox(key="extractor").select("none")
    # keep the generate job queued: its config is the point
    monkeypatch.setattr(jobs, "start", lambda job_dir: None)
    at.button(key="start").click().run()
    assert not at.exception
    (job_dir,) = (workspace / "artifacts" / "jobs").glob("generate-*")
    config = json.loads((job_dir / "config.json").read_text())
    options = config["options"]
    assert (options["sampling"], options["tuned_runs"], options["extractor"]) == (
        {"seed": 5, "temperature": 0.7, "top_p": 0.9}, ["train-1"], "none")
    assert config["stages"] == ["generate", "score"]  # scored when generation ends
    assert at.success[0].value == f"Started generate → score as job {job_dir.name}"
    assert PipelineOptions(**options).tuned_runs == ["train-1"]  # what the job rebuilds


def labels(at) -> set:
    return {w.label for w in at.main if getattr(w, "label", None)}


def test_run_page_shows_only_the_fields_of_the_chosen_stage_and_decoding(workspace):
    at = page("views/run.py")  # the pipeline uses every field; greedy: no sampling fields
    assert {"Dataset file (JSONL, JSON, CSV, Parquet)", "LoRA steps", "Eval size", "Max new tokens",
            "Decoding", "Seed", "Answer extractor"} <= labels(at)
    assert not {"Temperature", "Top-p", "Sampling seed"} & labels(at)
    at.selectbox(key="stage").select("generate").run()
    assert "Temperature" not in labels(at) and "Seed" not in labels(at)
    assert not {"LoRA steps", "Dataset file (JSONL, JSON, CSV, Parquet)",
                "Train on PII-redacted text"} & labels(at)
    at.radio(key="decoding").set_value("sampling").run()
    assert {"Temperature", "Top-p", "Seed"} <= labels(at)
    assert [w.label for w in at.number_input].count("Seed") == 1  # one seed
    at.selectbox(key="stage").select("split").run()
    assert labels(at) & {"Seed", "Eval size", "Temperature"} == {"Seed"}


def test_run_page_says_when_eval_size_is_larger_than_the_test_split(workspace):
    at = page("views/run.py")  # the prepared split has 3 test rows
    at.selectbox(key="stage").select("generate").run()
    assert at.warning[0].value == ("Eval size 8 is larger than the test split (3 rows): "
                                   "generate answers all 3 test rows.")
    at.number_input(key="eval_size").set_value(3).run()
    assert not at.warning
    at.number_input(key="eval_size").set_value(4).run()
    assert at.warning[0].value == ("Eval size 4 is larger than the test split (3 rows): "
                                   "generate answers all 3 test rows.")


def test_run_page_starts_a_stage_as_a_background_job_that_succeeds(workspace):
    from workbench.jobs import runner as jobs

    at = page("views/run.py")
    at.selectbox(key="stage").select("split").run()
    at.button(key="start").click().run()
    assert not at.exception
    job_dirs = list((workspace / "artifacts" / "jobs").glob("split-*"))
    assert len(job_dirs) == 1
    assert jobs.wait(job_dirs[0]) == {"train": 7, "validation": 1, "test": 1}  # 9 eligible rows
    assert jobs.status(job_dirs[0])["state"] == "succeeded"
    at.run()
    assert at.expander[0].label.startswith("split · ")
    assert at.expander[0].label.endswith(" · succeeded")
    assert "train 7 · validation 1 · test 1" in [t.value for t in at.text]
    assert not at.code  # the log stays in its file until asked for
    at.toggle(key=f"log_{job_dirs[0].name}").set_value(True).run()
    assert at.code[0].value.endswith("INFO 1/1 done")  # the job's log.txt


@pytest.mark.parametrize("path", ["views/data.py", "views/privacy.py", "views/report.py"])
def test_a_new_workspace_says_where_to_start_not_an_error(tmp_path, monkeypatch, path):
    with open_workspace(tmp_path / "new"):
        pass
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "new"))
    at = page(path)
    assert not at.exception and not at.error
    assert at.info[0].value == ("No dataset yet: import a file on the **Datasets** page (or run "
                                "`workbench ingest`), then run the curation stages on the "
                                "**Data** page.")
