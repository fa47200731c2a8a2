"""Batched greedy generation with the embedded model: order, padding, stopping, adapters."""

from __future__ import annotations

import pytest

from evaluation.generate import (
    generate,
    generate_with,
    length_order,
    load_for_generation,
    stop_token_ids,
)
from training.config import TrainConfig
from training.model import ensure_base_model
from training.recipe import init_lora_model

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
PROMPTS = [  # deliberately not in length order
    [{"role": "user", "content": "Name a colour."}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "Why is the sky blue during the day but red at sunset?"}],
    FRANCE,
]


@pytest.fixture(scope="module")
def loaded():
    return load_for_generation(ensure_base_model())


def test_generation_pads_on_the_left_and_stops_at_im_end(loaded):
    _, tokenizer = loaded
    assert tokenizer.padding_side == "left"
    assert stop_token_ids(tokenizer) == [2]


def test_base_model_answers_a_simple_question_and_stops(loaded):
    model, tokenizer = loaded
    assert generate_with(model, tokenizer, [FRANCE], max_new_tokens=40) == [
        "The capital of France is Paris."]


def test_batched_greedy_generation_equals_one_prompt_at_a_time(loaded):
    model, tokenizer = loaded
    batched = generate_with(model, tokenizer, PROMPTS, max_new_tokens=12, batch_size=3)
    single = [generate_with(model, tokenizer, [p], max_new_tokens=12)[0] for p in PROMPTS]
    assert batched == single
    assert single[2] == "The capital of France is Paris."  # outputs keep the input order


def test_on_batch_reports_prompts_done_after_each_batch(loaded):
    model, tokenizer = loaded
    seen = []
    generate_with(model, tokenizer, PROMPTS, max_new_tokens=1, batch_size=2,
                  on_batch=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 3), (3, 3)]


def test_fresh_adapter_generates_exactly_like_the_base(tmp_path):
    model_dir = ensure_base_model()
    init_lora_model(model_dir, TrainConfig()).save_pretrained(tmp_path / "adapter")
    # peft initialises lora_B to zero, so an untrained adapter is the identity
    assert generate(model_dir, [FRANCE], adapter_dir=tmp_path / "adapter", max_new_tokens=12) == [
        "The capital of France is Paris."]


def test_generate_without_prompts_loads_nothing(tmp_path):
    assert generate(tmp_path / "missing", []) == []


def test_length_order_puts_longest_first_and_keeps_ties_stable():
    assert length_order([3, 9, 1, 9]) == [1, 3, 0, 2]


def test_prefilled_cache_stacks_each_rows_own_cache_left_padded(loaded):
    import torch

    from evaluation.generate import prefilled_cache
    from training.data import render_prompt

    model, tokenizer = loaded
    texts = [render_prompt(tokenizer, p) for p in (PROMPTS[0], FRANCE)]  # 34 and 37 tokens
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    lengths = encoded["attention_mask"].sum(dim=1).tolist()
    columns = encoded["input_ids"].shape[1]
    with torch.inference_mode():
        cache = prefilled_cache(model, encoded["input_ids"], encoded["attention_mask"])
        alone = model(input_ids=encoded["input_ids"][:1, columns - lengths[0]:-1]).cache
    keys = cache.layers[3].keys  # (rows, kv heads, columns - 1, head dim)
    assert keys.shape[0] == 2 and keys.shape[2] == columns - 1 and lengths[0] < lengths[1]
    pad = columns - lengths[0]
    assert torch.equal(keys[0, :, pad:], alone.layers[3].keys[0])  # row 0 as read alone
    assert not keys[0, :, :pad].any()  # zeros under the mask
    one_token = torch.tensor([[5, 7]]), torch.tensor([[0, 1]])
    assert prefilled_cache(model, *one_token) is None  # nothing to prefill: generate reads it
