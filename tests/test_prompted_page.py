"""The Run page's prompted system: pre-filled from the dataset's most common system message,
passed to the job as a PromptedSystem dict; a bad one is one message and no job."""

from __future__ import annotations

import json

from curation.formats import Example
from tests.prepared import admin_page
from workbench.stages.pipeline import PipelineOptions
from workbench.store import open_workspace


def _with_system_messages(root):
    def row(system, q):
        first = [{"role": "system", "content": system}] if system else []
        return first + [{"role": "user", "content": q}, {"role": "assistant", "content": "A."}]

    with open_workspace(root) as ws:
        ws.add_dataset("s.jsonl", "s.jsonl", "openai", [
            Example(1, row("Be terse.", "Q1")), Example(2, row("Be kind.", "Q2")),
            Example(3, row("Be kind.", "Q3")), Example(4, row(None, "Q4"))], [])
    return root


def test_the_run_page_prefills_the_task_prompt_and_passes_the_prompted_system(
        tmp_path, monkeypatch):
    from workbench.jobs import runner as jobs

    root = _with_system_messages(tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = admin_page("views/run.py")
    assert at.text_area(key="prompted_text").value == "Be kind."  # 2 of 3 system messages
    at.selectbox(key="stage").select("generate").run()  # fields follow the chosen stage
    at.number_input(key="prompted_k").set_value(3)
    at.radio(key="prompted_shots").set_value("retrieved")
    monkeypatch.setattr(jobs, "start", lambda job_dir: None)  # the config is the point
    at.button(key="start").click().run()
    assert not at.exception
    (job_dir,) = (root / "artifacts" / "jobs").glob("generate-*")
    options = json.loads((job_dir / "config.json").read_text())["options"]
    assert options["prompted"] == [{"name": "task prompt", "system_prompt": "Be kind.", "k": 3,
                                    "shots": "retrieved", "shot_ids": [], "base_model": None}]
    assert PipelineOptions(**options).prompted == options["prompted"]


def test_an_empty_system_prompt_is_one_message_and_no_job(tmp_path, monkeypatch):
    root = _with_system_messages(tmp_path / "ws")
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = admin_page("views/run.py")
    at.text_area(key="prompted_text").set_value("  ")
    at.button(key="start").click().run()
    assert [e.value for e in at.error] == ["'task prompt': the system prompt is empty"]
    assert not (root / "artifacts" / "jobs").exists() or not any(
        (root / "artifacts" / "jobs").iterdir())


def test_the_report_page_shows_the_systems_table_against_the_best_prompt(tmp_path, monkeypatch):
    from evaluation.verdict import PROMPT_RULE
    from tests.test_prompt_verdict import ROUGE_L, _scored

    root = _scored(tmp_path / "ws", ROUGE_L)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = admin_page("views/report.py")
    assert not at.exception
    assert at.info[0].value.startswith("**Verdict** · The fine-tune beats the best prompt "
                                       "(3-shot fixed) by ROUGE-L +0.125")
    (table,) = [d.value for d in at.dataframe if "shots" in d.value.columns]
    assert list(table["system"]) == ["base", "tuned", "0-shot", "3-shot fixed"]
    assert list(table["ROUGE-L − 3-shot fixed"]) == ["-0.438", "+0.125", "–", "–"]
    assert "None" not in table.to_string()  # a metric that does not apply reads "–"
    assert PROMPT_RULE in [c.value for c in at.caption]
