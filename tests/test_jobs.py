import os
import signal
import time

from workbench.jobs import runner as jobs
from workbench.jobs import bodies
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.jobs.slot import compute_slot
from workbench.stages.background import REGISTRY


def test_a_job_runs_in_a_child_process_and_ends_succeeded(tmp_path):
    job_dir = jobs.new_job(tmp_path, "stage", {"stage": "nope", "options": {}})
    assert jobs.status(job_dir)["state"] == "queued"
    jobs.start(job_dir)
    for _ in range(200):
        if jobs.status(job_dir)["state"] in jobs.FINAL:
            break
        time.sleep(0.1)
    # PipelineOptions() without input/workspace is a TypeError inside the job: it fails,
    # readably, with the error in its status and the traceback in its log.
    state = jobs.status(job_dir)
    assert state["state"] == "failed"
    assert state["error"].startswith("TypeError")
    assert "Traceback" in jobs.log_tail(job_dir)


def test_a_job_whose_process_died_reads_as_failed(tmp_path):
    job_dir = jobs.new_job(tmp_path, "train", {})
    jobs.write_json(job_dir / "status.json", {"state": "running", "pid": 2**22 + 12345})
    state = jobs.status(job_dir)
    assert state["state"] == "failed" and "ended without a final state" in state["error"]


def test_sigterm_cancels_a_running_job(tmp_path, monkeypatch):
    job_dir = jobs.new_job(tmp_path, "sleep", {})

    def sleeper(config, report):
        report(0, 1, "sleeping")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return {}

    assert jobs.run(job_dir, {"sleep": sleeper}) == 1
    assert jobs.status(job_dir)["state"] == "cancelled"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_every_job_kind_has_a_function():
    assert set(REGISTRY) == {"train", "generate", "quality", "dpo", "orpo", "judge", "pipeline",
                             "stage", "train_launch", "quality_launch", "recheck", "ablate",
                             "judge_launch"}


def test_the_compute_job_bodies_are_train_generate_quality_preference_training_and_judge():
    assert set(bodies.REGISTRY) == {"train", "generate", "quality", "dpo", "orpo", "judge"}


def test_job_files_round_trip_rows_holding_unicode_line_separators(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "a\u2028b\x85c\u2029d"}]}, {"x": 1}]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    assert read_jsonl(tmp_path / "rows.jsonl") == rows


def test_wait_reports_the_last_progress_written_before_the_job_ended(tmp_path):
    job_dir = jobs.new_job(tmp_path, "quick", {})
    jobs.write_json(job_dir / "progress.json", {"step": 3, "total": 3, "message": "done"})
    jobs.write_json(job_dir / "result.json", {"ok": True})
    jobs.write_json(job_dir / "status.json", {"state": "succeeded"})
    seen = []
    assert jobs.wait(job_dir, seen.append) == {"ok": True}
    assert [p["step"] for p in seen] == [3]


def test_a_second_model_job_waits_for_the_compute_slot_and_says_so(tmp_path):
    import subprocess
    import sys
    import textwrap

    lock = tmp_path / "compute.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, time
        f = open({str(lock)!r}, "a"); fcntl.flock(f, fcntl.LOCK_EX)
        print("held", flush=True); time.sleep(1.5)""")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    messages, start = [], time.monotonic()
    with compute_slot(lambda step, total, message: messages.append(message), lock):
        waited = time.monotonic() - start
    holder.wait()
    assert messages == ["waiting for another training or generation job to finish"]
    assert waited > 0.5


def test_the_compute_slot_is_free_when_nobody_holds_it(tmp_path):
    messages = []
    with compute_slot(lambda *a: messages.append(a), tmp_path / "compute.lock"):
        pass
    assert messages == []


def test_a_body_run_here_leaves_the_folder_as_a_child_would_and_forwards_progress(tmp_path):
    job_dir = jobs.new_job(tmp_path, "count", {"n": 3})

    def count(config, report):
        for step in range(1, config["n"] + 1):
            report(step, config["n"], f"counted {step}")
        return {"counted": config["n"]}

    seen = []
    assert jobs.run_here(job_dir, {"count": count}, seen.append) == {"counted": 3}
    state = jobs.status(job_dir)
    assert (state["state"], state["pid"]) == ("succeeded", os.getpid())
    assert jobs.read_json(job_dir / "result.json") == {"counted": 3}
    assert [(p["step"], p["message"]) for p in seen] == [(1, "counted 1"), (2, "counted 2"),
                                                         (3, "counted 3")]
    assert jobs.progress(job_dir)["message"] == "counted 3"


def test_a_body_failing_here_reads_as_failed_and_raises_job_failed(tmp_path):
    import pytest

    from common.errors import JobFailed

    job_dir = jobs.new_job(tmp_path, "broken", {})

    def broken(config, report):
        raise ValueError("no rows\nsecond line")

    with pytest.raises(JobFailed, match=f"^{job_dir.name} failed: ValueError: no rows$"):
        jobs.run_here(job_dir, {"broken": broken})
    state = jobs.status(job_dir)
    assert (state["state"], state["error"]) == ("failed", "ValueError: no rows")
    assert "Traceback" in jobs.log_tail(job_dir)


def test_a_cancel_while_a_body_runs_here_reads_as_cancelled_and_reaches_the_caller(tmp_path):
    import pytest

    job_dir = jobs.new_job(tmp_path, "stopped", {})

    def stopped(config, report):
        raise jobs.Cancelled()

    with pytest.raises(jobs.Cancelled):
        jobs.run_here(job_dir, {"stopped": stopped})
    assert jobs.status(job_dir)["state"] == "cancelled"
