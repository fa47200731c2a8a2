"""A training job launched in a thread of the test, for the tests that cancel or kill it while
it runs, and a wait for its step log to grow."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from common.errors import JobFailed
from training.config import TrainConfig
from workbench.stages import training as train_runs


def launch_in_thread(ws: Path, config: TrainConfig,
                     timeout_s: float = 120) -> tuple[threading.Thread, list[str], Path]:
    """Start ``train_runs.launch(ws, config)`` in a thread and wait until its job folder
    (``ws``/artifacts/jobs/train-*) exists. Returns (the thread, the list that receives the
    launch's JobFailed message, the job folder). AssertionError when no folder shows within
    ``timeout_s`` seconds."""
    failures: list[str] = []

    def launch():
        try:
            train_runs.launch(ws, config)
        except JobFailed as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=launch)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while (job_dir := next((ws / "artifacts" / "jobs").glob("train-*"), None)) is None:
        assert time.monotonic() < deadline, f"no train job folder after {timeout_s} s"
        time.sleep(0.05)
    return thread, failures, job_dir


def wait_for_lines(path: Path, n: int, failures: list[str], timeout_s: float = 120) -> None:
    """Wait until the file ``path`` holds ``n`` lines; AssertionError (with ``failures``) when
    it does not within ``timeout_s`` seconds or the job failed first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not failures:
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines: {failures}")
