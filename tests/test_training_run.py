"""The training loop on a tiny random Llama (2 layers, hidden 32, SmolLM2's tokenizer).

A real 135M step takes seconds; the tiny model takes milliseconds, so resume, cancel,
collapse and early stopping are tested exactly and fast.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_model import make_tiny_model
from training import checkpoint
from training import recipe as recipe_module
from training.batching import collate, encode_with_exclusions, pack
from training.config import TrainConfig, diff, load_preset
from training.data import IGNORE_INDEX
from training.loss import forward_loss
from training.model import load_model, load_tokenizer
from training.recipe import CollapseGuard, TrainingCollapsed, lr_factor, total_steps, train_lora
from common import errors

REPO = Path(__file__).resolve().parents[1]
TINY = [
    [{"role": "user", "content": f"What is {a} plus {b}?"},
     {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]
    for a, b in [(1, 2), (3, 4), (10, 5), (7, 7), (2, 9), (8, 1)]
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def tiny_config(tiny_model: Path, **overrides) -> TrainConfig:
    values = {"base_model": str(tiny_model), "max_steps": 6, "batch_size": 2,
              "warmup_steps": 1, "learning_rate": 1e-2, "checkpoint_every": 2,
              "lora_dropout": 0.1, **overrides}
    return TrainConfig(**values)


def adapter_weights(run_dir: Path) -> dict:
    return load_file(run_dir / "adapter" / "adapter_model.safetensors")


# -- config ------------------------------------------------------------------------------

def test_invalid_config_lists_every_problem_at_once():
    config = TrainConfig(method="adam", lr_schedule="step", precision="fp8", batch_size=0,
                         early_stopping_patience=2, eval_every=0)
    assert config.problems() == [
        "method must be one of lora, qlora, full, dpo, orpo, got 'adam'",
        "lr_schedule must be one of linear, cosine, constant, got 'step'",
        "batch_size must be >= 1, got 0",
        "precision must be one of auto, fp32, bf16, fp16, got 'fp8'",
        "early_stopping_patience needs eval_every > 0",
    ]


@pytest.mark.parametrize("name,method", [("lora", "lora"), ("qlora", "qlora"), ("full", "full"),
                                         ("dpo", "dpo")])
def test_each_preset_sets_every_field_and_is_valid(name, method):
    import yaml

    data = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    assert sorted(data) == sorted(TrainConfig().to_dict())
    assert load_preset(REPO / "configs" / f"{name}.yaml").method == method


def test_preset_overrides_win_and_bad_values_name_the_file(tmp_path):
    assert load_preset(REPO / "configs" / "lora.yaml", {"lora_rank": 4}).lora_rank == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_rank: 0\nlearning_rate: -1\n")
    with pytest.raises(errors.WorkbenchError, match="lora_rank must be >= 1, got 0; "
                                                    "learning_rate must be > 0"):
        load_preset(bad)
    bad.write_text("lr: 1\n")
    with pytest.raises(errors.InputError, match="bad.yaml: unknown TrainConfig fields: lr"):
        load_preset(bad)


def test_config_diff_names_only_the_fields_that_differ():
    a, b = TrainConfig().to_dict(), TrainConfig(lora_rank=8, seed=3).to_dict()
    assert diff(a, b) == {"lora_rank": (16, 8), "seed": (0, 3)}


def test_steps_come_from_epochs_when_max_steps_is_zero():
    config = TrainConfig(max_steps=0, epochs=1.5, batch_size=4, gradient_accumulation=2)
    assert total_steps(20, config) == 4  # 5 batches per epoch x 1.5 / 2, rounded up


def test_cosine_schedule_ends_near_zero_and_constant_stays_flat():
    assert [round(lr_factor(s, 1, 5, "cosine"), 4) for s in range(5)] == [
        1.0, 1.0, 0.8536, 0.5, 0.1464]
    assert [lr_factor(s, 1, 3, "constant") for s in range(3)] == [1.0, 1.0, 1.0]


def test_qlora_on_a_cpu_only_machine_says_it_needs_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(errors.StageError, match="QLoRA needs a CUDA GPU"):
        train_lora(TINY, TrainConfig(method="qlora"), tmp_path)


# -- data --------------------------------------------------------------------------------

def test_pack_restarts_positions_and_never_labels_an_example_start():
    batch = pack([{"input_ids": [5, 6, 7], "labels": [5, 6, -100]},
                  {"input_ids": [8, 9], "labels": [8, 9]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 6, -100, -100, 9]]


def test_packed_loss_equals_the_padded_loss_so_no_token_sees_another_example(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    model = load_model(tiny_model)
    rows, _ = encode_with_exclusions(tokenizer, TINY[:3], 256)
    for row in rows:  # pack() ignores the first label; make the padded batch match
        row["labels"] = [IGNORE_INDEX] + row["labels"][1:]
    padded = forward_loss(model, collate(rows, tokenizer.pad_token_id)).item()
    packed = forward_loss(model, pack(rows)).item()
    assert packed == pytest.approx(padded, abs=1e-5)


def test_rows_without_a_trainable_token_are_excluded_with_a_reason(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    no_answer = [{"role": "user", "content": "Hi"}]
    opens_with_answer = [{"role": "assistant", "content": "Hi"}]
    kept, excluded = encode_with_exclusions(
        tokenizer, [TINY[0], no_answer, opens_with_answer], 256)
    assert [row["index"] for row in kept] == [0]
    assert [(row["index"], row["reason"]) for row in excluded] == [
        (1, "no_trainable_tokens"), (2, "template_error")]


# -- loop --------------------------------------------------------------------------------

def test_run_logs_progress_fields_and_evaluates_every_n_steps(tiny_model, tmp_path):
    records = []
    result = train_lora(TINY, tiny_config(tiny_model, eval_every=2), tmp_path,
                        on_log=records.append, validation=TINY[:2])
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["val_loss"] is not None for r in records] == [False, True] * 3
    assert [r["epoch"] for r in records] == [0.3333, 0.6667, 1.0, 1.3333, 1.6667, 2.0]
    assert all(r["tokens"] > 0 and r["tokens_per_s"] > 0 for r in records)
    cpu = [r["cpu_s"] for r in records]  # this process's CPU seconds since training started
    assert all(later >= earlier for earlier, later in zip(cpu, cpu[1:])) and cpu[-1] > 0
    assert records[-1]["eta_s"] == 0.0
    assert result["best_val_loss"] == min(r["val_loss"] for r in records if r["val_loss"])


def test_resume_after_an_interruption_ends_with_the_weights_of_an_uninterrupted_run(
        tiny_model, tmp_path):
    config = tiny_config(tiny_model)
    full = train_lora(TINY, config, tmp_path / "a")

    def stop_at_3(record):
        if record["step"] == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_lora(TINY, config, tmp_path / "b", on_log=stop_at_3)
    assert checkpoint.latest(tmp_path / "b" / "checkpoints").name == "step-000003"
    resumed = train_lora(TINY, config, tmp_path / "b")
    assert resumed["resumed_from"] == 3
    assert resumed["losses"] == full["losses"]
    expected, got = adapter_weights(tmp_path / "a"), adapter_weights(tmp_path / "b")
    assert all(torch.equal(expected[name], got[name]) for name in expected)


def test_a_cancel_held_during_the_update_still_logs_that_step_before_the_checkpoint(
        tiny_model, tmp_path, monkeypatch):
    import contextlib

    held = {"blocks": 0}

    @contextlib.contextmanager
    def cancel_as_step_3s_update_ends():
        # Each step holds signals twice (the update, then its log line); a SIGTERM that came
        # during step 3's update is delivered as that block ends, before the step is logged.
        held["blocks"] += 1
        yield
        if held["blocks"] == 5:
            raise KeyboardInterrupt
    monkeypatch.setattr(recipe_module, "signals_held", cancel_as_step_3s_update_ends)
    logged = []
    with pytest.raises(KeyboardInterrupt):
        train_lora(TINY, tiny_config(tiny_model), tmp_path, on_log=logged.append)
    assert [r["step"] for r in logged] == [1, 2, 3]
    assert logged[-1]["val_loss"] is None
    assert checkpoint.latest(tmp_path / "checkpoints").name == "step-000003"


def test_a_corrupt_checkpoint_fails_readably_and_is_left_in_place(tiny_model, tmp_path):
    config = tiny_config(tiny_model, max_steps=2)
    train_lora(TINY, config, tmp_path)
    latest = checkpoint.latest(tmp_path / "checkpoints")
    (latest / "weights.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(checkpoint.CheckpointError, match="step-000002 is missing a file or "
                                                         "corrupt"):
        train_lora(TINY, tiny_config(tiny_model, max_steps=4), tmp_path)
    assert (latest / "weights.safetensors").read_bytes() == b"not a tensor file"


def test_a_full_disk_while_checkpointing_keeps_the_earlier_checkpoint(
        tiny_model, tmp_path, monkeypatch):
    calls = []

    def fail_second(tensors, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return load_file.__globals__["save_file"](tensors, path)  # the real save_file
    monkeypatch.setattr(checkpoint, "save_file", fail_second)
    with pytest.raises(checkpoint.CheckpointError, match="step-000004: No space left on device"):
        train_lora(TINY, tiny_config(tiny_model), tmp_path)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000002"]


def test_a_loss_that_stays_non_finite_stops_the_run_naming_the_cause(
        tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(recipe_module, "forward_loss",
                        lambda model, part: model(**part, use_cache=False).loss * math.nan)
    with pytest.raises(TrainingCollapsed, match=r"loss was nan for 3 logged steps in a row "
                                                r"\(up to step 3\); likely cause: divergence"):
        train_lora(TINY, tiny_config(tiny_model), tmp_path)


def test_collapse_guard_counts_only_consecutive_bad_losses_and_names_fp16():
    guard = CollapseGuard(2, "fp16", 1e-4)
    guard.update(1, 0.0)
    guard.update(2, 1.5)  # the streak restarts
    guard.update(3, math.inf)
    with pytest.raises(TrainingCollapsed, match="likely cause: fp16 overflow"):
        guard.update(4, math.nan)
    with pytest.raises(TrainingCollapsed, match="fp16 underflow"):
        CollapseGuard(1, "fp16", 1e-4).update(1, 0.0)


def test_early_stopping_ends_the_run_after_patience_evaluations_without_improvement(
        tiny_model, tmp_path):
    config = tiny_config(tiny_model, max_steps=30, learning_rate=5.0, eval_every=1,
                         early_stopping_patience=2, checkpoint_every=0)
    result = train_lora(TINY, config, tmp_path, validation=TINY[:2])
    assert result["stopped_early"] is True
    assert result["steps"] < 30


def test_full_fine_tuning_trains_every_weight_and_saves_a_model_folder(tiny_model, tmp_path):
    before = load_file(tiny_model / "model.safetensors")
    result = train_lora(TINY, tiny_config(tiny_model, method="full", max_steps=2), tmp_path)
    assert Path(result["adapter"]) == tmp_path / "model"
    after = load_file(tmp_path / "model" / "model.safetensors")
    assert result["trainable_params"] == sum(t.numel() for t in before.values())
    assert all(not torch.equal(before[name], after[name]) for name in before)


def test_head_only_at_labelled_positions_gives_the_models_own_loss(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    model = load_model(tiny_model)
    rows, _ = encode_with_exclusions(tokenizer, TINY[:3], 256)
    batch = collate(rows, tokenizer.pad_token_id)
    expected = model(**batch, use_cache=False).loss.item()
    assert forward_loss(model, batch).item() == pytest.approx(expected, abs=1e-5)


# -- non-finite gradients ----------------------------------------------------------------

def poison_gradients(monkeypatch, steps: set[int]) -> None:
    """Make every gradient NaN after the backward passes of the given 1-based steps (the loss
    stays finite: only the gradient norm shows it)."""
    real, calls = recipe_module.accumulate, []

    def poisoned(model, parts, precision, device):
        out = real(model, parts, precision, device)
        calls.append(1)
        if len(calls) in steps:
            for param in model.parameters():
                if param.grad is not None:
                    param.grad.fill_(math.nan)
        return out
    monkeypatch.setattr(recipe_module, "accumulate", poisoned)


def trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_nan_gradients_at_step_1_leave_every_trainable_parameter_at_its_initial_value(
        tiny_model, tmp_path, monkeypatch):
    from training.recipe import FinetuneRecipe

    config = tiny_config(tiny_model, max_steps=2, checkpoint_every=1)
    after_step_1, records = {}, []

    def on_log(record):
        records.append(record)
        if record["step"] == 1:
            after_step_1.update(trainable(recipe.model))
    recipe = FinetuneRecipe(config, tmp_path, None, on_log, (KeyboardInterrupt,))
    recipe.setup(TINY, None)
    model, initial = recipe.model, trainable(recipe.model)
    poison_gradients(monkeypatch, {1})
    recipe.train()
    result = {"skipped_nonfinite_steps": recipe.nonfinite.skipped}
    assert len(initial) == 16  # LoRA A and B of q/k/v/o in each of the 2 layers
    assert all(torch.equal(initial[n], after_step_1[n]) for n in initial)
    assert not all(torch.equal(initial[n], p) for n, p in trainable(model).items())  # step 2
    assert [r["skipped_nonfinite_steps"] for r in records] == [1, 1]
    assert result["skipped_nonfinite_steps"] == 1
    saved = torch.load(tmp_path / "checkpoints" / "step-000001" / "optimizer.pt",
                       weights_only=False)
    assert saved["optimizer"]["state"] == {}  # no AdamW moment was written
    assert saved["scheduler"]["last_epoch"] == 0  # nor did the schedule move


def test_non_finite_gradients_for_max_nonfinite_steps_in_a_row_fail_naming_the_cause(
        tiny_model, tmp_path, monkeypatch):
    from training.guards import NonFiniteGradients

    poison_gradients(monkeypatch, {1, 2, 3})
    with pytest.raises(NonFiniteGradients, match=r"not finite for 3 steps in a row \(up to "
                                                 r"step 3; .*likely cause: learning rate 0.01 "
                                                 r"too high"):
        train_lora(TINY, tiny_config(tiny_model, max_nonfinite_steps=3), tmp_path)


def test_the_non_finite_streak_restarts_after_a_finite_step():
    from training.guards import NonFiniteGradients, NonFiniteGuard

    guard = NonFiniteGuard(2, "fp16", 1e-4)
    guard.update(1, False)
    guard.update(2, True)
    guard.update(3, False)
    with pytest.raises(NonFiniteGradients, match="likely cause: fp16 overflow"):
        guard.update(4, False)
    assert guard.skipped == 3
