"""A few-shot prefix shared by a batch is prefilled once; outputs equal whole-prompt prefill."""

from __future__ import annotations

import pytest
import torch

from evaluation.generate import (
    MIN_SHARED_PREFIX,
    decode_rows,
    generate_detailed,
    load_for_generation,
    shared_prefix_length,
)
from tests.tiny_model import make_tiny_model
from training.data import render, render_prompt
from training.model import ensure_base_model

SYSTEM = {"role": "system", "content": "You answer with one short sentence, like the examples."}
SHOTS = [
    {"role": "user", "content": "What is the capital of Italy?"},
    {"role": "assistant", "content": "The capital of Italy is Rome."},
    {"role": "user", "content": "Which planet is the largest in the solar system?"},
    {"role": "assistant", "content": "Jupiter is the largest planet in the solar system."},
    {"role": "user", "content": "What colour is a ripe banana?"},
    {"role": "assistant", "content": "A ripe banana is yellow."},
]
QUESTIONS = ["What is the capital of France?", "How many legs does a spider have?",
             "Which ocean lies between Europe and North America?"]
FEW_SHOT = [[SYSTEM, *SHOTS, {"role": "user", "content": q}] for q in QUESTIONS]


class CallSpy:
    """The model, recording the input length and whether a cache came in, per forward."""

    def __init__(self, model):
        self.model, self.calls, self.masks, self.config = model, [], [], model.config

    def __call__(self, **kwargs):
        self.calls.append((kwargs["input_ids"].shape[1], kwargs.get("cache") is not None))
        if kwargs.get("attention_mask") is not None:
            self.masks.append(tuple(kwargs["attention_mask"].shape))
        return self.model(**kwargs)


def test_shared_prefix_counts_real_tokens_of_left_padded_rows_and_keeps_one_token_each():
    ids = torch.tensor([[0, 0, 7, 8, 9, 4], [7, 8, 9, 5, 6, 1], [0, 7, 8, 9, 4, 2]])
    assert shared_prefix_length(ids, [4, 6, 5], minimum=1) == 3
    assert shared_prefix_length(ids, [4, 6, 5], minimum=4) == 0  # too short to be worth it
    assert shared_prefix_length(ids[:1], [4], minimum=1) == 0  # one row: nothing to share
    same = torch.tensor([[7, 8, 9], [7, 8, 9]])
    assert shared_prefix_length(same, [3, 3], minimum=1) == 2  # the last token stays per row
    assert shared_prefix_length(torch.tensor([[7, 8], [6, 8]]), [2, 2], minimum=0) == 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_for_generation(make_tiny_model(tmp_path_factory.mktemp("tiny-llama")))


def encoded_few_shot(tokenizer):
    texts = [render_prompt(tokenizer, prompt) for prompt in FEW_SHOT]
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def test_tiny_model_prefills_the_shared_prefix_once_and_decodes_as_whole_prompts(tiny):
    model, tokenizer = tiny
    encoded = encoded_few_shot(tokenizer)
    lengths = encoded["attention_mask"].sum(dim=1).tolist()
    prefix = shared_prefix_length(encoded["input_ids"], lengths)
    # system + 3 shots are shared; each question begins with its own first token
    shared = tokenizer(render(tokenizer, [SYSTEM, *SHOTS]) + "<|im_start|>user\n",
                       add_special_tokens=False)["input_ids"]
    assert prefix == len(shared) and prefix >= MIN_SHARED_PREFIX
    spy = CallSpy(model)
    with torch.inference_mode():
        reused = decode_rows(spy, encoded["input_ids"], encoded["attention_mask"], 10, [2])
        whole = decode_rows(model, encoded["input_ids"], encoded["attention_mask"], 10, [2],
                            min_shared_prefix=max(lengths) + 1)
    assert reused == whole and [len(ids) for ids in reused] == [10, 10, 10]
    # one prefix pass, then each row's own tokens with a cache of its own tokens only
    assert spy.calls[:4] == [(prefix, False)] + [(n - prefix, True) for n in lengths]
    assert all(call == (1, True) for call in spy.calls[4:])  # decoding steps
    # decoding masks cover the longest own part (not the prefix) plus one column a step
    width = max(lengths) - prefix
    assert spy.masks == [(3, width + 1 + k) for k in range(9)]
    assert model.config._attn_implementation == "sdpa"  # switched back after the batch


def attention_inputs(rows=2, queries=3, own=5, prefix=4, heads=4, kv_heads=2, dim=8):
    torch.manual_seed(0)
    query = torch.randn(rows, heads, queries, dim)
    keys, values = torch.randn(rows, kv_heads, own, dim), torch.randn(rows, kv_heads, own, dim)
    shared = (torch.randn(kv_heads, prefix, dim), torch.randn(kv_heads, prefix, dim))
    return query, keys, values, shared


def reference(query, keys, values, shared, mask):
    """Plain SDPA over [prefix | own] with the prefix copied into every row."""
    rows, heads = query.shape[:2]
    group = heads // keys.shape[1]
    whole_k = torch.cat([shared[0].expand(rows, -1, -1, -1), keys], dim=2)
    whole_v = torch.cat([shared[1].expand(rows, -1, -1, -1), values], dim=2)
    full = torch.cat([torch.ones(*mask.shape[:3], shared[0].shape[1], dtype=torch.bool),
                      mask], dim=3)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, whole_k.repeat_interleave(group, 1), whole_v.repeat_interleave(group, 1),
        attn_mask=full)
    return out.transpose(1, 2)


class Layer(torch.nn.Module):
    layer_idx, num_key_value_groups = 0, 2


def test_shared_prefix_attention_equals_sdpa_over_the_prefix_copied_into_every_row():
    from evaluation.generate import shared_prefix_attention

    query, keys, values, shared = attention_inputs()
    # row 0: 2 padding columns then causal; row 1: causal over all 5 own columns
    causal = torch.arange(5)[None, :] <= torch.arange(2, 5)[:, None]
    mask = torch.stack([causal & (torch.arange(5) >= 2), causal])[:, None]
    out, _ = shared_prefix_attention(Layer(), query, keys, values, mask, scaling=8 ** -0.5,
                                     shared_prefix=[shared])
    assert out.shape == (2, 3, 4, 8)
    torch.testing.assert_close(out, reference(query, keys, values, shared, mask),
                               atol=1e-6, rtol=1e-5)
    # no mask with several queries means causal over the own columns
    out, _ = shared_prefix_attention(Layer(), query, keys, values, None, scaling=8 ** -0.5,
                                     shared_prefix=[shared])
    torch.testing.assert_close(out, reference(query, keys, values, shared,
                                              causal[None, None].expand(2, 1, 3, 5)),
                               atol=1e-6, rtol=1e-5)


def test_shared_prefix_attention_without_a_prefix_is_transformers_sdpa_itself():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from evaluation.generate import shared_prefix_attention

    query, keys, values, _ = attention_inputs(queries=1)
    mask = torch.tensor([[True] * 5, [False, True, True, True, True]])[:, None, None]
    ours, _ = shared_prefix_attention(Layer(), query, keys, values, mask, scaling=0.5)
    plain, _ = sdpa_attention_forward(Layer(), query, keys, values, mask, scaling=0.5)
    assert torch.equal(ours, plain)


@pytest.mark.slow
def test_embedded_model_greedy_answers_are_the_same_with_and_without_prefix_reuse():
    model, tokenizer = load_for_generation(ensure_base_model())
    reused = generate_detailed(model, tokenizer, FEW_SHOT, max_new_tokens=16, batch_size=3)
    whole = generate_detailed(model, tokenizer, FEW_SHOT, max_new_tokens=16, batch_size=3,
                              min_shared_prefix=10_000)
    assert reused == whole
    assert reused[0] == ("The capital of France is Paris.", 8)


def test_a_lora_wrapped_model_shares_the_prefix_too_and_decodes_as_whole_prompts(tiny):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = tiny
    torch.manual_seed(0)
    tuned = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                             init_lora_weights=False)).eval()
    try:
        encoded = encoded_few_shot(tokenizer)
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        spy = CallSpy(tuned)
        with torch.inference_mode():
            reused = decode_rows(spy, encoded["input_ids"], encoded["attention_mask"], 6, [2])
            whole = decode_rows(tuned, encoded["input_ids"], encoded["attention_mask"], 6, [2],
                                min_shared_prefix=max(lengths) + 1)
        prefix = shared_prefix_length(encoded["input_ids"], lengths)
        assert spy.calls[0] == (prefix, False)  # the adapter's model took the shared path
        assert reused == whole and [len(ids) for ids in reused] == [6, 6, 6]
    finally:
        tuned.unload()  # the module-scoped tiny model goes back to plain layers
