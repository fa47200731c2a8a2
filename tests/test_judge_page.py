"""The judge job on the Sessions page: a running one live (answers of total, message, elapsed,
Cancel), a failed one's one-line error, a finished one's results, and one judge at a time per
session; the job folders are planted the way a running job leaves them."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from common.errors import StageError
from evaluation.sessions import SessionDesign
from tests.prepared import planted_job
from tests.sessions_data import add_generations, rate_every_item
from workbench.jobs import bodies
from workbench.jobs import runner as jobs
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.stages import judge as stage
from workbench.store import open_workspace
from workbench.store import sessions as ss


@pytest.fixture
def workspace(empty_workspace):
    """conftest's empty workspace, in place of its prepared one."""
    return empty_workspace


def _text(example_id: int, system: str) -> str:
    """tuned is the longer answer on every example."""
    return f"{system} {example_id}: " + "word " * (2 + 4 * (system == "tuned"))


def rated_session(root: Path, n: int = 4) -> int:
    """A base-vs-tuned session of ``n`` items, both raters choosing the longer answer."""
    with open_workspace(root) as ws:
        run_id = add_generations(ws, n, text=_text)
        made = ss.create_session(ws, "s", run_id, SessionDesign(("base", "tuned"), 2, 0.0),
                                 ["ana", "bo"], seed=3)
        rate_every_item(ws, made["tokens"].values(),
                        lambda left, right: "A" if len(left) > len(right) else "B")
    return made["session_id"]


def planted_judge_job(root: Path, session_id: int, state: str, **status) -> Path:
    """A ``judge_launch`` job folder of the session whose status says ``state``."""
    return planted_job(root, "judge_launch", {"workspace": str(root), "session_id": session_id,
                                              "model_dir": None}, state, **status)


def always_longer(job_dir: Path, on_progress=None) -> dict:
    """A ``run_job`` whose judge picks the tuned answer, the longer one, in either order."""
    rows = read_jsonl(job_dir / "requests.jsonl")
    write_jsonl(job_dir / "answers.jsonl",
                [{**r, "answer": "A" if r["a_system"] == "tuned" else "B"} for r in rows])
    return {"answers": len(rows), "seconds": 0.0}


def sessions_page():
    from tests.prepared import admin_page

    return admin_page("views/sessions.py")


def test_a_running_judge_job_shows_its_progress_elapsed_time_and_a_cancel(workspace,
                                                                         monkeypatch):
    session_id = rated_session(workspace)
    started = datetime.now(timezone.utc) - timedelta(seconds=65)
    job_dir = planted_judge_job(workspace, session_id, "running",
                          started=started.isoformat(timespec="seconds"))
    jobs.write_json(job_dir / "progress.json", {
        "step": 12, "total": 40, "message": "judging 20 items in both orders · ETA 1m05s"})
    before = datetime.now(timezone.utc)
    at = sessions_page()
    after = datetime.now(timezone.utc)
    assert not at.exception, at.exception
    (bar,) = at.get("progress")
    assert bar.proto.text == "12 of 40 answers · judging 20 items in both orders · ETA 1m05s"
    assert bar.proto.value == 30  # percent: 12 of 40
    line = next(c.value for c in at.caption if c.value.startswith(f"Job {job_dir.name}"))
    # the started time is planted whole seconds 65 s back; the page reads the clock while
    # it runs, between ``before`` and ``after``
    planted = started.replace(microsecond=0)
    low, high = ((t - planted).total_seconds() for t in (before, after))
    assert line.startswith(f"Job {job_dir.name} · running · elapsed 1m")
    minutes, seconds = line.rsplit(" ", 1)[1].rstrip("s").split("m")
    assert round(low) <= 60 * int(minutes) + int(seconds) <= round(high)
    cancelled = []
    monkeypatch.setattr(jobs, "cancel", cancelled.append)  # not a SIGTERM to this process
    at.button(key=f"cancel_{job_dir.name}").click().run()
    assert not at.exception, at.exception
    assert cancelled == [job_dir]
    assert f"Cancel sent to job {job_dir.name}." in [c.value for c in at.caption]


def test_the_start_button_refuses_a_second_judge_while_one_runs(workspace, monkeypatch):
    session_id = rated_session(workspace)
    job_dir = planted_judge_job(workspace, session_id, "running")
    monkeypatch.setattr(jobs, "start", lambda folder: pytest.fail(f"{folder} was started"))
    at = sessions_page()
    at.button(key="judge_start").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        f"session {session_id} is already being judged by job {job_dir.name}: wait for it "
        "to end, or cancel it on the Sessions page"]
    assert jobs.find(workspace / "artifacts" / "jobs", "judge_launch") == [job_dir]
    assert not at.success


def test_a_failed_judge_job_shows_its_one_line_error(workspace):
    session_id = rated_session(workspace)
    job_dir = planted_judge_job(workspace, session_id, "failed", error=(
        "StageError: judge model folder /m does not load: no config.json in /m"))
    at = sessions_page()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        f"The judge job {job_dir.name} failed: judge model folder /m does not load: "
        "no config.json in /m"]
    assert not at.get("progress")
    assert not any("Traceback" in c.value for c in at.caption)


def test_a_finished_judge_job_shows_its_results(workspace):
    session_id = rated_session(workspace)
    job_dir = planted_judge_job(workspace, session_id, "running")
    jobs.write_json(job_dir / "progress.json", {"step": 3, "total": 8, "message": "judging"})
    at = sessions_page()
    assert at.get("progress")[0].proto.text == "3 of 8 answers · judging"
    assert any(c.value.startswith("No judge run for this session yet") for c in at.caption)
    report = stage.judge(workspace, session_id, n_boot=20, run_job=always_longer,
                         within=job_dir.name)
    jobs.write_json(job_dir / "status.json", {"state": "succeeded", "pid": os.getpid()})
    at.run()
    assert not at.exception, at.exception
    assert not at.get("progress") and not at.error
    (rates,) = [d.value for d in at.dataframe if "lc_win_rate" in d.value.columns]
    assert rates[["system", "other", "wins", "ties", "losses", "n"]].to_dict("records") == [
        {"system": "tuned", "other": "base", "wins": 4, "ties": 0, "losses": 0, "n": 4}]
    assert report["items"] == 4
    assert any(c.value.startswith(f"Run {report['run_id']} · prompt default · 4 items")
               for c in at.caption)


def test_the_judge_refuses_a_session_being_judged_and_lists_one_job_per_launch(workspace):
    session_id = rated_session(workspace)
    job_dir = planted_judge_job(workspace, session_id, "running")
    with pytest.raises(StageError, match=f"already being judged by job {job_dir.name}"):
        stage.judge(workspace, session_id, run_job=always_longer)
    with pytest.raises(StageError, match=f"already being judged by job {job_dir.name}"):
        stage.start_judge(workspace, session_id)
    stage.judge(workspace, session_id, n_boot=20, run_job=always_longer,
                within=job_dir.name)  # the launch's own judge runs
    assert [j["dir"] for j in stage.judge_jobs(workspace, session_id)] == [job_dir]
    jobs.write_json(job_dir / "status.json", {"state": "succeeded", "pid": os.getpid()})
    stage.judge(workspace, session_id, n_boot=20, run_job=always_longer,
                within=None)  # `workbench judge` once the launch has ended
    listed = [j["dir"] for j in stage.judge_jobs(workspace, session_id)]
    assert len(listed) == 2 and listed[1] == job_dir and listed[0].name.startswith("judge-")
    assert stage.judge_jobs(workspace, session_id + 1) == []


def test_the_judge_body_reports_answers_of_total_and_the_time_left():
    seen, now = [], [100.0]
    answered = bodies._judge_progress(lambda *a: seen.append(a), "judging 20 items", lambda:
                                      now[0])
    now[0] = 110.0
    answered(16, 40)  # the first batch carries the loading: not measured
    now[0] = 118.0
    answered(32, 40)  # 16 answers in 8 s: 0.5 s each, 8 left
    assert seen == [(16, 40, "judging 20 items"), (32, 40, "judging 20 items · ETA 4s")]


def test_find_lists_matching_job_folders_newest_first_and_active_needs_a_process(tmp_path):
    first = jobs.new_job(tmp_path, "judge", {"session_id": 1})
    second = jobs.new_job(tmp_path, "judge", {"session_id": 1})
    os.utime(first / "config.json", ns=(10**18, 10**18))
    os.utime(second / "config.json", ns=(2 * 10**18, 2 * 10**18))
    jobs.new_job(tmp_path, "judge", {"session_id": 2})
    jobs.new_job(tmp_path, "train", {"session_id": 1})
    assert jobs.find(tmp_path, "judge", session_id=1) == [second, first]
    assert jobs.active({"state": "running", "pid": 7})
    assert not jobs.active({"state": "queued"})
    assert not jobs.active({"state": "succeeded", "pid": 7})


def test_the_live_section_reruns_the_page_when_the_job_ends(workspace, monkeypatch):
    """The page sees the job running; its live section, reading the folder again, finds it
    ended and reruns the page, which then shows the run's results and no progress bar."""
    session_id = rated_session(workspace)
    job_dir = planted_judge_job(workspace, session_id, "running")
    report = stage.judge(workspace, session_id, n_boot=20, run_job=always_longer,
                         within=job_dir.name)
    real_status, reads = jobs.status, []

    def status(folder: Path) -> dict:  # running at the page's read, succeeded afterwards
        reads.append(folder)
        if folder == job_dir and len([f for f in reads if f == job_dir]) > 1:
            return {"state": "succeeded", "pid": os.getpid()}
        return real_status(folder)

    monkeypatch.setattr(jobs, "status", status)
    at = sessions_page()
    assert not at.exception, at.exception
    assert reads.count(job_dir) == 3  # the page, its live section, the page again
    assert not at.get("progress")
    assert any(c.value.startswith(f"Run {report['run_id']} · prompt default")
               for c in at.caption)
