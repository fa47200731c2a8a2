"""The train job's side of a training across processes: start the launcher, follow rank 0's
step log as progress, pass a cancel on to every rank, turn a failed rank into one message.

The ranks run ``workbench.jobs.ranks`` under ``torchrun`` (CPU, gloo) or ``accelerate launch``
(CUDA, nccl), built by ``training.distributed.launch_command``; their output goes to the job's
``log.txt``. This process keeps the job contract: its own status, progress and result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import psutil

from common.errors import StageError
from workbench.jobs.ranks import CANCELLED_FILE, RESULT_FILE, error_file
from workbench.jobs.runner import Cancelled, Reporter, read_json

ROOT = Path(__file__).resolve().parents[2]
STOP_WAIT_S = 600  # a cancelled rank finishes its step and rank 0 saves a checkpoint


class LogFollower:
    """New complete lines of a JSONL file that another process appends to."""

    def __init__(self, path: Path):
        self.path, self.offset = path, path.stat().st_size if path.is_file() else 0

    def new(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def run_ranks(report: Reporter, config, on_record: Callable[[dict], None],
              poll_s: float = 0.3) -> dict:
    """Run the job folder's training as ``config.processes`` ranks; returns rank 0's
    ``train_lora`` summary (plus ``processes``).

    Raises ``StageError`` before anything starts when the machine cannot hold the ranks
    (``training.distributed.processes_problem``) and when a rank fails (its one-line error);
    ``Cancelled`` after every rank stopped and rank 0 saved its checkpoint.
    """
    from training.distributed import launch_command

    job_dir = report.dir
    cmd, env = launch_command(job_dir, config.processes, config.accelerate_config)
    for stale in [job_dir / RESULT_FILE, job_dir / CANCELLED_FILE,
                  *job_dir.glob("rank-*-error.txt")]:
        stale.unlink(missing_ok=True)
    env["WORKBENCH_JOB_PID"] = str(os.getpid())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    follower = LogFollower(job_dir / "train_log.jsonl")
    report(0, 0, f"starting {config.processes} training processes")
    with open(job_dir / "log.txt", "ab") as log_file:
        process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
                                   start_new_session=True)
    try:
        while process.poll() is None:
            for record in follower.new():
                on_record(record)
            time.sleep(poll_s)
    except (Cancelled, KeyboardInterrupt):
        stop_ranks(process)
        for record in follower.new():
            on_record(record)
        raise
    for record in follower.new():
        on_record(record)
    return _outcome(job_dir, process.returncode)


def stop_ranks(process: subprocess.Popen, wait_s: float = STOP_WAIT_S) -> None:
    """SIGTERM to every rank (the launcher's descendants), then wait for the launcher; the
    whole process group is killed if it has not ended after ``wait_s`` seconds."""
    try:
        ranks = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        ranks = []
    for rank in ranks:
        try:
            rank.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _outcome(job_dir: Path, returncode: int) -> dict:
    if returncode == 0 and (job_dir / RESULT_FILE).is_file():
        return read_json(job_dir / RESULT_FILE)
    if (job_dir / CANCELLED_FILE).is_file():  # a rank was sent SIGTERM by someone else
        raise Cancelled()
    errors = sorted(job_dir.glob("rank-*-error.txt"))
    if errors:
        rank = errors[0].name.split("-")[1]
        raise StageError(f"training process {rank} failed: "
                         f"{errors[0].read_text().strip()} (the job's log has the rest)")
    raise StageError(f"the training launcher exited with code {returncode} before the ranks "
                     "started or reported; the job's log.txt says why")
