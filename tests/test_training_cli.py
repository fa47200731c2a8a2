"""The training CLI: flags generated from TrainConfig, one-line errors."""

from __future__ import annotations

from dataclasses import fields

import torch
from typer.testing import CliRunner

from training.config import TrainConfig
from workbench.cli import app
from workbench.cli_training import config_from_flags

runner = CliRunner()


def test_every_config_field_is_a_flag_with_its_help_text():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for item in fields(TrainConfig):
        assert item.metadata["help"]
        assert f"--{item.name.replace('_', '-')}" in result.output


def test_flags_override_the_preset_and_target_modules_are_comma_separated():
    config = config_from_flags("configs/lora.yaml", {"lora_rank": 8, "target_modules":
                                                     "q_proj, v_proj", "seed": None})
    assert config == TrainConfig(lora_rank=8, target_modules=("q_proj", "v_proj"))


def test_invalid_flags_are_one_error_line_listing_every_problem(tmp_path):
    result = runner.invoke(app, ["train", "-w", str(tmp_path), "--lora-rank", "0",
                                 "--batch-size", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == ("error: invalid training config: lora_rank must be >= 1, "
                                     "got 0; batch_size must be >= 1, got 0")


def test_qlora_without_cuda_is_refused_before_any_job_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, ["train", "-w", str(tmp_path), "--method", "qlora"])
    assert result.exit_code == 1
    assert result.output.startswith("error: QLoRA needs a CUDA GPU")
    assert not (tmp_path / "artifacts").exists()
