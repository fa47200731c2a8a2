"""Exports: GGUF tensor names and layout, the GGUF round trip through transformers, Modelfile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tiny_model import make_tiny_model
from training.export import (
    GGUF_TOLERANCE,
    gguf_name,
    merge_adapter,
    permute_rotary,
    verify_gguf,
    write_gguf,
    write_modelfile,
)
from training.model import ensure_base_model, load_tokenizer
from common import errors


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def test_llama_parameters_get_llama_cpp_tensor_names():
    assert gguf_name("model.embed_tokens.weight") == "token_embd.weight"
    assert gguf_name("model.layers.0.mlp.down_proj.weight") == "blk.0.ffn_down.weight"
    assert gguf_name("model.layers.12.post_attention_layernorm.weight") == "blk.12.ffn_norm.weight"
    assert gguf_name("model.rotary_emb.inv_freq") is None


def test_rotary_permutation_is_undone_by_the_transformers_gguf_loader():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weight = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    back = LlamaTensorProcessor()._reverse_permute_weights(permute_rotary(weight, 2), 2, 2)
    assert np.array_equal(back, weight)
    assert not np.array_equal(permute_rotary(weight, 2), weight)


def test_gguf_round_trip_gives_the_same_logits_within_the_stated_tolerance(tiny_model,
                                                                           tmp_path):
    path = write_gguf(tiny_model, tmp_path / "tiny.gguf", "f32")
    check = verify_gguf(tiny_model, path, "f32")
    assert check["same_argmax"] is True
    assert check["max_abs_diff"] <= GGUF_TOLERANCE["f32"] == 1e-3


def test_gguf_export_refuses_another_architecture(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(errors.InputError, match="supports Llama-architecture models"):
        write_gguf(tmp_path, tmp_path / "x.gguf")


def test_modelfile_has_base_adapter_chatml_template_default_system_and_stops(tmp_path):
    tokenizer = load_tokenizer(ensure_base_model())
    text = write_modelfile(tmp_path / "Modelfile", "/m/base.gguf", tokenizer,
                           adapter="/runs/r/adapter").read_text().splitlines()
    assert text[:3] == ["FROM /m/base.gguf", "ADAPTER /runs/r/adapter",
                        'TEMPLATE """{{- if .System }}<|im_start|>system']
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' \
        in text
    assert text[-2:] == ['PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|im_start|>"']


@pytest.mark.slow
def test_merged_embedded_model_with_a_trained_adapter_round_trips_through_gguf(tmp_path):
    from training.config import TrainConfig
    from training.model import embedded_gguf_path, init_model

    base = ensure_base_model()
    model = init_model(base, TrainConfig(lora_rank=4))
    torch.manual_seed(1)
    with torch.no_grad():  # a non-zero update, as after training
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    model.save_pretrained(tmp_path / "adapter")
    merged = merge_adapter(base, tmp_path / "adapter", tmp_path / "merged")
    path = write_gguf(merged, tmp_path / "model.gguf", "f32", tokenizer_gguf=embedded_gguf_path())
    check = verify_gguf(merged, path, "f32")
    assert check["max_abs_diff"] <= 1e-3 and check["same_argmax"]


def test_export_run_writes_merged_model_modelfiles_and_a_verified_gguf(tmp_path, tiny_model):
    from tests.prepared import prepare_workspace
    from training.config import TrainConfig
    from workbench.stages import training as train_runs
    from workbench.train_exports import export_run

    ws = prepare_workspace(tmp_path / "ws", pii_reviewed=True)
    run = train_runs.launch(ws, TrainConfig(base_model=str(tiny_model), max_steps=2,
                                            batch_size=2, learning_rate=1e-2))
    result = export_run(ws, run["run_id"], llama=False)  # llama.cpp: tests/test_llamacpp.py
    out = Path(result["merged"]).parent
    assert sorted(p.name for p in out.iterdir()) == [
        "Modelfile", "Modelfile.gguf", "export.json", "merged", "model.gguf"]
    assert (out / "Modelfile").read_text().splitlines()[:2] == [
        f"FROM {tiny_model}", f"ADAPTER {run['adapter']}"]
    assert (out / "Modelfile.gguf").read_text().startswith("FROM ./model.gguf\n")
    assert result["gguf_check"]["max_abs_diff"] <= 1e-3
