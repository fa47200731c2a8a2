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
from training.model import ensure_base_model, init_model

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
COLOUR = [{"role": "user", "content": "Name a colour."}]
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
    init_model(model_dir, TrainConfig()).save_pretrained(tmp_path / "adapter")
    # peft initialises lora_B to zero, so an untrained adapter is the identity
    assert generate(model_dir, [FRANCE], adapter_dir=tmp_path / "adapter", max_new_tokens=12) == [
        "The capital of France is Paris."]


def test_generate_without_prompts_loads_nothing(tmp_path):
    assert generate(tmp_path / "missing", []) == []


def test_length_order_puts_longest_first_and_keeps_ties_stable():
    assert length_order([3, 9, 1, 9]) == [1, 3, 0, 2]


def test_growing_layer_writes_in_place_and_drops_rows_and_padding_columns():
    import torch

    from evaluation.generate import growing_layer_class

    keys = torch.zeros(3, 1, 5, 2)  # (rows, kv heads, capacity, head dim)
    keys[:, 0, :2] = torch.tensor([[[1., 1.], [2., 2.]], [[0., 0.], [3., 3.]],
                                   [[0., 0.], [4., 4.]]])  # rows 1 and 2 padded one column
    layer = growing_layer_class()(keys, keys.clone(), length=2)
    new = torch.full((3, 1, 1, 2), 9.)
    out_keys, out_values = layer.update(new, new)
    assert torch.equal(out_values, out_keys)
    assert out_keys.shape == (3, 1, 3, 2) and layer.get_seq_length() == 3
    assert out_keys.data_ptr() == keys.data_ptr()  # a view of the buffer: nothing copied
    assert out_keys[1, 0].tolist() == [[0., 0.], [3., 3.], [9., 9.]]
    layer.batch_select_indices(torch.tensor([1, 2]), skip_columns=1)  # row 0 finished
    assert layer.keys.tolist() == [[[[3., 3.], [9., 9.]]], [[[4., 4.], [9., 9.]]]]
    layer.update(new[:2], new[:2])
    layer.update(new[:2], new[:2])
    with pytest.raises(ValueError, match="capacity 4 exceeded"):
        layer.update(new[:2], new[:2])


class MaskSpy:
    """The model, recording the attention-mask shape of every decoding step."""

    def __init__(self, model):
        self.model, self.masks = model, []

    def __call__(self, **kwargs):
        if kwargs.get("attention_mask") is not None:
            self.masks.append(tuple(kwargs["attention_mask"].shape))
        return self.model(**kwargs)


def test_a_row_that_stops_early_leaves_the_batch_and_the_rest_decode_as_alone(loaded):
    import torch

    from evaluation.generate import decode_rows
    from training.data import render_prompt

    model, tokenizer = loaded
    prompts = [COLOUR, FRANCE]  # 34 and 37 tokens; France stops after 8 tokens, colour runs on
    texts = [render_prompt(tokenizer, p) for p in prompts]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    spy = MaskSpy(model)
    with torch.inference_mode():
        rows = decode_rows(spy, encoded["input_ids"], encoded["attention_mask"], 16, [2])
    assert [len(ids) for ids in rows] == [16, 8] and rows[1][-1] == 2
    # 7 two-row steps over 37 prompt columns; then colour alone, the 3 columns that were
    # padding for it dropped: 34 prompt + 8 new columns, one more each step
    assert spy.masks == [(2, 38 + k) for k in range(7)] + [(1, 42 + k) for k in range(8)]
    single = [generate_detailed_one(model, tokenizer, p) for p in prompts]
    assert [(tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids))
            for ids in rows] == single
    assert single[1] == ("The capital of France is Paris.", 8)


def generate_detailed_one(model, tokenizer, prompt):
    from evaluation.generate import generate_detailed

    return generate_detailed(model, tokenizer, [prompt], max_new_tokens=16)[0]
