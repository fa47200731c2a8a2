"""Crash test: a training job killed with SIGKILL resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.prepared import prepare_workspace
from tests.tiny_model import make_tiny_model
from tests.training_threads import launch_in_thread
from training import checkpoint
from training.config import TrainConfig
from workbench.jobs import runner as jobs
from workbench.stages import training as train_runs
from workbench.store import open_workspace

pytestmark = pytest.mark.e2e


def test_a_training_job_killed_with_sigkill_resumes_from_its_last_checkpoint(tmp_path):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    config = TrainConfig(base_model=str(make_tiny_model(tmp_path / "tiny")), max_steps=40,
                         batch_size=2, learning_rate=1e-2, checkpoint_every=5)
    thread, failures, job_dir = launch_in_thread(ws, config, timeout_s=180)
    root = job_dir / "checkpoints"
    deadline = time.monotonic() + 180
    while checkpoint.latest(root) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(jobs.read_json(job_dir / "status.json")["pid"], signal.SIGKILL)
    thread.join(timeout=60)
    assert "failed" in failures[0] and "killed?" in failures[0]
    saved = json_step(checkpoint.latest(root))
    assert saved % 5 == 0 and saved < 40
    summary = train_runs.resume(ws, job_dir.name)
    assert (summary["steps"], summary["resumed_from"]) == (40, saved)
    with open_workspace(ws) as w:
        steps = [r["step"] for r in w.query("SELECT step FROM train_log WHERE run_id = ? "
                                            "ORDER BY step", [job_dir.name])]
    assert steps == list(range(1, 41))


def json_step(path) -> int:
    import json
    return json.loads((path / "state.json").read_text())["step"]
