"""Training across processes (torchrun, gloo on this CPU) on the tiny random Llama: the same
loss per step as one process, one step log, cancel and resume, and the refusal of more
processes than cores before anything starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from common.errors import StageError
from tests.prepared import prepare_workspace
from tests.tiny_model import make_tiny_model
from tests.training_threads import launch_in_thread, wait_for_lines
from training import checkpoint
from training.config import TrainConfig
from training.distributed import available_cores, processes_problem, shard
from training.recipe import train_lora
from workbench.jobs import runner as jobs
from workbench.jobs.files import read_jsonl
from workbench.stages import training as train_runs
from workbench.store import open_workspace
from workbench.store import training as store

STEPS = 300  # long enough for a cancel to land mid-run; ~10 s of training for the tiny model
# Per-step loss of 2 ranks vs 1 process, same global batch and seed: the gradients differ
# only in the order of float additions (two partial sums all-reduced vs one sum), so the
# weights differ by rounding alone: measured max 3e-6 nats over 300 steps at learning rate
# 2e-3, in fp32. (At 1e-2 the tiny random model is chaotic: rounding grows to 4e-3 by step
# 45; under bf16 autocast each shard's activations round differently: ~2e-3 over 300 steps.)
LOSS_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def config(tiny_model: Path, **overrides) -> TrainConfig:
    return TrainConfig(**{"base_model": str(tiny_model), "max_steps": 4, "batch_size": 4,
                          "learning_rate": 2e-3, "checkpoint_every": 0, "lora_dropout": 0.0,
                          "precision": "fp32",
                          **overrides})


def test_more_processes_than_cores_is_one_message_and_no_job_starts(tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    cores = available_cores()
    jobs_dir = ws / "artifacts" / "jobs"
    before = sorted(jobs_dir.iterdir()) if jobs_dir.is_dir() else []
    message = (f"processes {cores + 1} is more than the {cores} CPU core(s) this machine "
               f"gives the workbench: one process per core, so at most {cores}")
    with pytest.raises(StageError) as raised:
        train_runs.launch(ws, config(tiny_model, processes=cores + 1))
    assert str(raised.value) == message
    with pytest.raises(StageError, match="more than the"):  # the Train page's Start button
        train_runs.start_in_background(ws, config(tiny_model, processes=cores + 1))
    assert (sorted(jobs_dir.iterdir()) if jobs_dir.is_dir() else []) == before
    assert processes_problem(cores) is None


def test_preference_methods_and_qlora_under_fsdp_are_refused_by_the_config():
    assert TrainConfig(method="dpo", processes=2).problems() == [
        "method dpo trains in one process: processes must be 1 and accelerate_config empty"]
    assert TrainConfig(method="qlora", processes=2,
                       accelerate_config="configs/accelerate/fsdp.yaml").problems() == [
        "qlora cannot run under FSDP: bitsandbytes' 4-bit weights are not sharded by it; use "
        "configs/accelerate/ddp.yaml (one whole 4-bit model per GPU)"]


def test_a_batch_is_shared_by_striding_and_every_row_lands_on_one_rank():
    rows = list(range(7))
    assert [shard(rows, rank, 3) for rank in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]
    assert shard([5], 1, 2) == []


@pytest.mark.skipif(available_cores() < 2, reason="two training processes need two cores")
def test_two_processes_train_like_one_and_resume_after_a_cancel(tmp_path, tiny_model):
    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    two = config(tiny_model, processes=2, max_steps=STEPS)
    thread, failure, job_dir = launch_in_thread(ws, two)
    wait_for_lines(job_dir / "train_log.jsonl", 3, failure, timeout_s=600)
    jobs.cancel(job_dir)
    thread.join(timeout=300)
    assert "cancelled" in failure[0]
    logged = [r["step"] for r in read_jsonl(job_dir / "train_log.jsonl")]
    assert logged == list(range(1, len(logged) + 1)) and len(logged) < STEPS  # rank 0 alone
    assert checkpoint.latest(job_dir / "checkpoints").name == f"step-{len(logged):06d}"

    summary = train_runs.resume(ws, job_dir.name)  # 2 processes again, from their checkpoint
    assert (summary["steps"], summary["resumed_from"], summary["processes"]) == (
        STEPS, len(logged), 2)
    with open_workspace(ws) as w:
        assert store.train_run(w, job_dir.name)["state"] == "succeeded"
    log = read_jsonl(job_dir / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, STEPS + 1))

    messages = [row["messages"] for row in read_jsonl(job_dir / "train.jsonl")]
    one = train_lora(messages, replace(two, processes=1), tmp_path / "one")
    assert one["steps"] == STEPS
    differences = [abs(a - r["loss"]) for a, r in zip(one["losses"], log, strict=True)]
    assert max(differences) < LOSS_TOLERANCE, max(differences)
