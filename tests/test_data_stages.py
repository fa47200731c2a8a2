"""The Data page runs the curation stages as jobs named by their stage and shows each result
as a card (AppTest; the job is a real child process)."""

import json
from pathlib import Path

import pytest

from tests.prepared import admin_page
from views import _stages
from workbench.jobs import runner as jobs
from workbench.stages import curation as stages
from workbench.store import open_workspace

# 5 rows: 1 clean, 1 without a system message (missing_system, info), 1 with an empty answer
# (empty_content, error), 1 ending on a user turn (trailing_user_turn, warning), and a
# copy of the first row.
ROWS = [
    [("system", "Be brief."), ("user", "Capital of France?"), ("assistant", "Paris.")],
    [("user", "Two plus two?"), ("assistant", "Four.")],
    [("system", "Be brief."), ("user", "Say nothing."), ("assistant", "")],
    [("system", "Be brief."), ("user", "Colour of the sky?"), ("assistant", "Blue."),
     ("user", "And at night?")],
    [("system", "Be brief."), ("user", "Capital of France?"), ("assistant", "Paris.")],
]


@pytest.fixture
def hand_made(tmp_path, monkeypatch) -> Path:
    source = tmp_path / "hand.jsonl"
    source.write_text("".join(json.dumps({"messages": [{"role": r, "content": c}
                                                       for r, c in row]}) + "\n"
                              for row in ROWS))
    root = tmp_path / "ws"
    stages.ingest(root, str(source))
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    return root


def metrics(at) -> dict:
    return {m.label: (m.value, m.delta) for m in at.metric}


def finish(at, root: Path, name: str) -> Path:
    """Wait for the page's one job named ``name``, then run the page again."""
    (job_dir,) = (root / "artifacts" / "jobs").glob(f"{name}-*")
    try:
        jobs.wait(job_dir)
    except jobs.JobFailed:
        pass
    at.run()
    assert not at.exception, at.exception
    return job_dir


def test_validate_button_runs_the_stage_and_its_card_counts_the_findings(hand_made):
    at = admin_page("views/data.py")
    assert [b.label for b in at.button if b.key.startswith("run_")] == [
        "Validate", "Deduplicate", "PII scan", "Split", "Leakage", "Run all"]
    assert "Not run on this dataset yet." in [c.value for c in at.caption]
    at.button(key="run_validate").click().run()
    assert at.button(key="run_split").disabled  # one stage at a time
    job_dir = finish(at, hand_made, "validate")
    assert jobs.status(job_dir)["state"] == "succeeded"
    figures = metrics(at)
    assert figures["Findings"] == ("3", "")
    assert figures["Rows with errors"] == ("1", "")
    captions = [c.value for c in at.caption]
    assert ("1 error(s), 1 warning(s), 1 info · by code: empty_content 1, missing_system 1, "
            "trailing_user_turn 1") in captions
    assert not at.button(key="run_split").disabled
    assert not any("presidio" in c.lower() or "INFO" in c for c in captions)  # no log lines

    at.button(key="run_split").click().run()  # 4 eligible rows (the error row is left out)
    finish(at, hand_made, "split")
    figures = metrics(at)
    assert (figures["Train"], figures["Validation"], figures["Test"]) == (
        ("4", ""), ("0", ""), ("0", ""))


def test_a_second_run_shows_what_changed(hand_made):
    assert stages.split(hand_made) == {"train": 3, "validation": 1, "test": 1}
    with open_workspace(hand_made) as ws:  # a row gone since: 4 rows, all in train
        ws.con.execute("DELETE FROM examples WHERE id = 2")
    at = admin_page("views/data.py")
    at.button(key="run_split").click().run()
    finish(at, hand_made, "split")
    figures = metrics(at)
    assert (figures["Train"], figures["Validation"], figures["Test"]) == (
        ("4", "1"), ("0", "-1"), ("0", "-1"))
    assert "; change from the run before" in " ".join(c.value for c in at.caption)


def test_a_failed_stage_shows_its_one_line_error_and_where_its_log_is(hand_made):
    at = admin_page("views/data.py")
    at.button(key="run_leakage").click().run()  # no split yet
    job_dir = finish(at, hand_made, "leakage")
    assert [e.value for e in at.error] == [
        "Leakage failed: StageError: no split yet: run `workbench split` first"]
    assert f"Log: {job_dir / 'log.txt'}" in [c.value for c in at.caption]


def test_run_all_is_one_job_that_runs_the_stages_in_order(hand_made, monkeypatch):
    monkeypatch.setattr(jobs, "start", lambda job_dir: None)  # its config is the point here
    at = admin_page("views/data.py")
    at.button(key="run_all").click().run()
    (job_dir,) = (hand_made / "artifacts" / "jobs").glob("all-*")
    config = json.loads((job_dir / "config.json").read_text())
    assert (config["stages"], config["dataset_id"], config["title"]) == (
        list(_stages.CURATION), 1, "Run all")


def test_a_job_refuses_to_run_when_the_current_dataset_changed(hand_made):
    from workbench.stages.background import REGISTRY

    job_dir = jobs.new_job(hand_made / "artifacts" / "jobs", "stage",
                           {"stage": "split", "dataset_id": 1,
                            "options": {"input": "", "workspace": str(hand_made)}})
    stages.ingest(hand_made, str(hand_made.parent / "hand.jsonl"))  # dataset 2, current
    with pytest.raises(jobs.JobFailed, match="the current dataset is now 2, not 1"):
        jobs.run_here(job_dir, REGISTRY)


@pytest.mark.parametrize(("value", "before", "change"), [(3, 4, -1), (0.5, 0.25, 0.25),
                                                        (None, 3, None), (3, None, None)])
def test_delta_is_the_change_of_two_numbers(value, before, change):
    assert _stages.delta(value, before) == change


def test_a_stages_own_progress_moves_the_jobs_bar_within_its_share():
    from workbench.stages.background import stage_progress

    calls = []
    progress = stage_progress(lambda *args: calls.append(args), ["validate", "dedup", "pii"])
    progress("dedup")({"step": 64, "total": 270, "message": "near dedup on Ray: 64/270 rows"})
    progress("pii")({"step": 0, "total": 0, "message": "waiting"})
    progress("validate")({"step": 300, "total": 300, "message": "validate on Ray: 300/300"})
    # dedup is stage 2 of 3: 270 + 64 of 3 × 270
    assert calls == [(334, 810, "dedup: near dedup on Ray: 64/270 rows"),
                     (2, 3, "pii: waiting"),
                     (300, 900, "validate: validate on Ray: 300/300")]


def test_a_card_reads_the_running_stage_from_a_progress_line(hand_made):
    import os

    job_dir = jobs.new_job(hand_made / "artifacts" / "jobs", "stage",
                           {"stage": "validate", "stages": list(_stages.CURATION),
                            "dataset_id": 1, "options": {"input": "", "workspace": ""}},
                           name="all")
    jobs.write_json(job_dir / "status.json", {"state": "running", "pid": os.getpid()})
    jobs.write_json(job_dir / "progress.json", {
        "step": 334, "total": 1350, "message": "dedup: near dedup on Ray: 64/270 rows (2 s)"})
    at = admin_page("views/data.py")
    assert not at.exception, at.exception
    texts = [bar.proto.text for bar in at.get("progress")]
    assert texts == ["waiting (running dedup)", "running", "waiting (running dedup)",
                     "waiting (running dedup)", "waiting (running dedup)"]


def test_a_card_shows_the_error_of_the_stage_a_job_failed_in(hand_made):
    job_dir = jobs.new_job(hand_made / "artifacts" / "jobs", "stage",
                           {"stage": "validate", "stages": list(_stages.CURATION),
                            "dataset_id": 1, "options": {"input": "", "workspace": ""}},
                           name="all")
    jobs.write_json(job_dir / "status.json", {
        "state": "failed", "error": "StageError: dedup keys failed on a Ray worker: "
                                    "ValueError: bad row"})
    jobs.write_json(job_dir / "progress.json", {
        "step": 334, "total": 1350, "message": "dedup: dedup keys on Ray: 64/300 rows (2 s)"})
    at = admin_page("views/data.py")
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "Deduplicate failed: StageError: dedup keys failed on a Ray worker: ValueError: bad row"]
