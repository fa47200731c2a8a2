"""A tiny random Llama with SmolLM2's tokenizer: training behaviour in milliseconds per step."""

from __future__ import annotations

from pathlib import Path

import torch

from training.model import ensure_base_model, load_tokenizer


def make_tiny_model(folder: Path) -> Path:
    """Save a random 2-layer Llama (hidden 32, ~6 MB) and SmolLM2's tokenizer to ``folder``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(ensure_base_model())
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
