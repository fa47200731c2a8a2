"""Precision ``auto``: bf16 autocast on a CPU with bf16 matrix instructions, fp32 master
weights and LoRA parameters either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_model import make_tiny_model
from training import model as model_module
from training.config import TrainConfig
from training.model import cpu_bf16_flags, resolve_precision
from training.recipe import FinetuneRecipe

TINY = [[{"role": "user", "content": f"What is {a} plus {b}?"},
         {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]
        for a, b in [(1, 2), (3, 4), (10, 5), (7, 7)]]


def test_the_cpu_flags_name_avx512_bf16_and_amx():
    assert cpu_bf16_flags("flags : fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile") == [
        "avx512_bf16", "amx_bf16"]
    assert cpu_bf16_flags("flags : fpu avx2 avx512f avx512_vnni") == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU rule")
def test_auto_is_bf16_only_on_a_cpu_with_bf16_instructions_and_never_for_preferences(
        monkeypatch):
    monkeypatch.setattr(model_module, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    assert (resolve_precision("auto"), resolve_precision("auto", cpu_bf16=False),
            resolve_precision("fp32")) == ("bf16", "fp32", "fp32")
    monkeypatch.setattr(model_module, "cpu_bf16_flags", lambda: [])
    assert resolve_precision("auto") == "fp32"


def test_bf16_autocast_trains_every_lora_parameter_and_keeps_them_fp32(tmp_path):
    tiny = make_tiny_model(tmp_path / "tiny")
    config = TrainConfig(base_model=str(tiny), max_steps=2, batch_size=2, learning_rate=1e-2,
                         checkpoint_every=0, precision="bf16")
    recipe = FinetuneRecipe(config, tmp_path / "run")
    recipe.setup(TINY, None)
    before = {n: p.detach().clone() for n, p in recipe.model.named_parameters()
              if p.requires_grad}
    recipe.train()
    after = {n: p for n, p in recipe.model.named_parameters() if p.requires_grad}
    assert recipe.precision == "bf16"
    assert {p.dtype for p in recipe.model.parameters()} == {torch.float32}
    assert [n for n in before if torch.equal(before[n], after[n])] == []  # all moved
    saved = load_file(Path(recipe.save_outputs()) / "adapter_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.float32}
