"""Training as a managed job over a real workspace: cancel, resume, findings, lineage re-run.

Uses a tiny random Llama (tests/tiny_model.py), so each job spends its time starting Python.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.prepared import prepare_workspace
from tests.tiny_model import make_tiny_model
from tests.training_threads import launch_in_thread, wait_for_lines
from training import checkpoint
from training.config import TrainConfig
from workbench.jobs import runner as jobs
from workbench.stages import training as train_runs
from common.errors import StageError
from workbench.store import open_workspace
from workbench.store.splits import assign_splits
from workbench.store import training as store


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def config(tiny_model: Path, **overrides) -> TrainConfig:
    return TrainConfig(**{"base_model": str(tiny_model), "max_steps": 4, "batch_size": 2,
                          "learning_rate": 1e-2, "checkpoint_every": 2, **overrides})


def test_a_run_imports_its_step_log_and_excluded_rows_become_findings(tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    with open_workspace(ws) as w:  # example 1 (train split) loses its assistant turn
        w.con.execute("""UPDATE examples SET messages = '[{"role": "user", "content": "Hi"}]'
                         WHERE id = (SELECT min(example_id) FROM splits WHERE split = 'train')""")
        first_train = w.scalar("SELECT min(example_id) FROM splits WHERE split = 'train'")
        given = w.scalar("SELECT count(*) FROM splits WHERE split = 'train'")
    summary = train_runs.launch(ws, config(tiny_model, eval_every=2))
    assert (summary["steps"], summary["excluded_examples"]) == (4, 1)
    assert summary["train_examples"] == given - 1  # trained on, not given
    with open_workspace(ws) as w:
        log = w.query("SELECT step, epoch, val_loss IS NOT NULL AS evaluated FROM train_log "
                      "WHERE run_id = ? ORDER BY step", [summary["run_id"]])
        findings = w.query("SELECT example_id, code, severity FROM findings WHERE step = 'train'")
    assert [(r["step"], r["evaluated"]) for r in log] == [(1, False), (2, True), (3, False),
                                                          (4, True)]
    assert findings == [{"example_id": first_train, "code": "no_trainable_tokens",
                         "severity": "warning"}]
    lineage = json.loads((Path(summary["adapter"]) / "lineage.json").read_text())
    assert lineage["dataset_version"] == summary["dataset_version"]
    assert lineage["training"]["base_model"] == str(tiny_model)


def test_cancel_saves_a_checkpoint_and_resume_finishes_the_run_without_duplicate_steps(
        tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    thread, failure, job_dir = launch_in_thread(
        ws, config(tiny_model, max_steps=60, checkpoint_every=0))
    wait_for_lines(job_dir / "train_log.jsonl", 3, failure)
    jobs.cancel(job_dir)
    thread.join(timeout=120)
    assert "cancelled" in failure[0]
    logged = len((job_dir / "train_log.jsonl").read_text().splitlines())
    saved = checkpoint.latest(job_dir / "checkpoints")
    assert saved.name == f"step-{logged:06d}"  # the cancel saved the last finished step
    with open_workspace(ws) as w:
        assert store.train_run(w, job_dir.name)["state"] == "cancelled"
    summary = train_runs.resume(ws, job_dir.name)
    assert (summary["steps"], summary["resumed_from"]) == (60, logged)
    with open_workspace(ws) as w:
        steps = [r["step"] for r in w.query("SELECT step FROM train_log WHERE run_id = ? "
                                            "ORDER BY step", [job_dir.name])]
        assert store.train_run(w, job_dir.name)["state"] == "succeeded"
    assert steps == list(range(1, 61))


def test_resume_refuses_a_run_that_succeeded(tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    summary = train_runs.launch(ws, config(tiny_model, max_steps=1))
    with pytest.raises(StageError, match="is succeeded: only a failed or cancelled run resumes"):
        train_runs.resume(ws, summary["run_id"])


def test_from_lineage_reruns_the_same_training_and_refuses_a_vanished_version(
        tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    first = train_runs.launch(ws, config(tiny_model, max_steps=2, seed=5))
    lineage = Path(first["adapter"]) / "lineage.json"
    again = train_runs.from_lineage(ws, lineage)
    assert again["dataset_version"] == first["dataset_version"]
    assert again["final_loss"] == first["final_loss"]
    with open_workspace(ws) as w:  # re-split: the version the lineage names is gone
        assign_splits(w, w.current_dataset(), 1, (0.5, 0.2, 0.3))
    with pytest.raises(StageError, match=f"dataset version {first['dataset_version']} no "
                                         "longer exists"):
        train_runs.from_lineage(ws, lineage)


def test_a_training_started_from_the_train_page_is_one_job_running_the_train_body_itself(
        tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    launch_dir = train_runs.start_in_background(ws, config(tiny_model, max_steps=2))
    summary = jobs.wait(launch_dir)
    run_dir = ws / "artifacts" / "jobs" / summary["run_id"]
    # the train run's folder was run by the launching job's own process: no second job
    assert jobs.read_json(run_dir / "status.json")["pid"] == jobs.status(launch_dir)["pid"]
    assert jobs.status(run_dir)["state"] == "succeeded"
    assert summary["steps"] == 2
    assert [r["step"] for r in train_runs.live_log(run_dir)] == [1, 2]
    assert "2/2 step 2/2" in jobs.log_tail(run_dir)
