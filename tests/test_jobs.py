import os
import signal
import time

from workbench.jobs import runner as jobs
from workbench.jobs.bodies import REGISTRY, read_jsonl, write_jsonl


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
    assert set(REGISTRY) == {"train", "generate", "pipeline", "stage", "train_launch"}


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
    with jobs.compute_slot(lambda step, total, message: messages.append(message), lock):
        waited = time.monotonic() - start
    holder.wait()
    assert messages == ["waiting for another training or generation job to finish"]
    assert waited > 0.5


def test_the_compute_slot_is_free_when_nobody_holds_it(tmp_path):
    messages = []
    with jobs.compute_slot(lambda *a: messages.append(a), tmp_path / "compute.lock"):
        pass
    assert messages == []
