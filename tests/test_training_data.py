"""Assistant-only labels through SmolLM2's chat template, config, and the LoRA recipe.

Uses the embedded model's converted cache (the first run converts it, ~25 s; then ~1 s).
"""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import load_file

from training import model as model_module
from training.batching import collate, encode_with_exclusions, length_grouped_batches
from training.config import TrainConfig
from training.data import (
    IGNORE_INDEX,
    encode_example,
    label_tokens,
    prompt_and_reference,
    render,
    render_prompt,
    token_length,
)
from training.model import (
    base_model_source,
    ensure_base_model,
    file_sha256,
    init_model,
    load_tokenizer,
)
from training.recipe import lr_factor, train_lora
from common import errors

IM_END = 2  # SmolLM2's <|im_end|>: end of turn, eos and pad token at once
TWO_TURNS = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello there!"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ensure_base_model())


def labelled(example: dict) -> list[int]:
    return [label for label in example["labels"] if label != IGNORE_INDEX]


def test_unknown_base_model_is_a_one_line_input_error(tmp_path):
    with pytest.raises(errors.InputError, match="neither 'embedded' nor a local model folder"):
        ensure_base_model(str(tmp_path / "nope"))


def test_a_local_model_folder_is_used_as_it_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert ensure_base_model(str(tmp_path)) == tmp_path.resolve()


def test_converted_embedded_model_records_the_gguf_hash_once(tmp_path):
    source = base_model_source(ensure_base_model())
    assert source["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(source["sha256"]) == 64
    (tmp_path / "f.bin").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f.bin") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_a_failed_conversion_leaves_neither_target_nor_temp_folder(tmp_path, monkeypatch):
    def half_write(gguf_path, folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("killed")
    monkeypatch.setattr(model_module, "_write_converted", half_write)
    with pytest.raises(RuntimeError):
        model_module.convert_gguf(tmp_path / "m.gguf", tmp_path / "cache" / "m")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_conversion_finished_first_by_another_process_is_kept(tmp_path, monkeypatch):
    target = tmp_path / "m"
    target.mkdir()
    (target / model_module.SOURCE_FILE).write_text("{}")
    monkeypatch.setattr(model_module, "_write_converted",
                        lambda gguf, folder: (folder / "x").write_text("ours"))
    assert model_module.convert_gguf(tmp_path / "m.gguf", target) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert sorted(p.name for p in target.iterdir()) == [model_module.SOURCE_FILE]


def test_smollm2_pad_token_is_its_end_of_turn_token(tokenizer):
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<|im_end|>", IM_END)
    assert tokenizer.eos_token_id == IM_END


def test_labels_are_exactly_the_assistant_contents_and_their_closing_im_end(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    assert labelled(example) == [19556, 665, 17, IM_END, 36, IM_END]  # "Hello there!" ... "4"


def test_labelled_count_equals_tokenized_answers_plus_one_im_end_per_turn(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    answers = [tokenizer(m["content"], add_special_tokens=False)["input_ids"]
               for m in TWO_TURNS if m["role"] == "assistant"]
    assert len(labelled(example)) == sum(len(ids) + 1 for ids in answers)


def test_every_assistant_im_end_is_labelled_and_every_other_im_end_is_not(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    ends = [i for i, token in enumerate(example["input_ids"]) if token == IM_END]
    assert len(ends) == 5  # default system, user, assistant, user, assistant
    assert [example["labels"][i] for i in ends] == [-100, -100, IM_END, -100, IM_END]


def test_labels_copy_input_ids_unshifted_and_have_the_same_length(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    assert len(example["labels"]) == len(example["input_ids"]) == 52
    pairs = zip(example["input_ids"], example["labels"], strict=True)
    assert all(label in (token, IGNORE_INDEX) for token, label in pairs)


def test_prompt_tokens_before_the_first_answer_are_all_masked(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    prefix = tokenizer(render_prompt(tokenizer, TWO_TURNS[:1]), add_special_tokens=False)
    prompt_len = len(prefix["input_ids"])
    assert prompt_len == token_length(tokenizer, TWO_TURNS[:1]) + 4  # <|im_start|> ass istant \n
    assert example["input_ids"][:prompt_len] == prefix["input_ids"]
    assert set(example["labels"][:prompt_len]) == {IGNORE_INDEX}
    assert example["labels"][prompt_len] == 19556  # "Hello"


def test_newline_after_an_assistant_im_end_is_not_labelled(tokenizer):
    example = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    first_end = example["labels"].index(IM_END)
    assert example["input_ids"][first_end + 1] == 198  # "\n"
    assert example["labels"][first_end + 1] == IGNORE_INDEX


def test_token_length_matches_apply_chat_template_tokenization(tokenizer):
    ids = tokenizer.apply_chat_template(TWO_TURNS, tokenize=True, return_dict=True)["input_ids"]
    assert token_length(tokenizer, TWO_TURNS) == len(ids) == 52


def test_default_system_prompt_is_in_training_text_and_generation_prompt(tokenizer):
    default = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"
    prompt, _ = prompt_and_reference(TWO_TURNS)
    assert render(tokenizer, TWO_TURNS).startswith(default)
    assert render(tokenizer, TWO_TURNS).startswith(render_prompt(tokenizer, prompt))


def test_given_system_prompt_replaces_the_default_and_is_masked(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}] + TWO_TURNS
    example = encode_example(tokenizer, messages, max_seq_len=1024)
    assert "helpful AI assistant" not in render(tokenizer, messages)
    assert labelled(example) == [19556, 665, 17, IM_END, 36, IM_END]


def test_truncation_keeps_the_first_max_seq_len_tokens(tokenizer):
    full = encode_example(tokenizer, TWO_TURNS, max_seq_len=1024)
    cut = encode_example(tokenizer, TWO_TURNS, max_seq_len=40)
    assert cut == {"input_ids": full["input_ids"][:40], "labels": full["labels"][:40]}
    assert labelled(cut) == [19556, 665, 17, IM_END]


def test_conversation_opening_with_an_assistant_turn_is_rejected(tokenizer):
    with pytest.raises(ValueError, match="turn 0"):
        encode_example(tokenizer, [{"role": "assistant", "content": "Hi"}], max_seq_len=64)


def test_label_tokens_labels_tokens_starting_inside_a_span():
    assert label_tokens([5, 6, 7, 8], [(0, 2), (2, 4), (4, 6), (6, 7)], [(2, 4), (6, 7)]) == [
        -100, 6, -100, 8]


def test_prompt_and_reference_splits_at_the_last_assistant_turn():
    messages = [{"role": "system", "content": "S"}] + TWO_TURNS
    assert prompt_and_reference(messages) == (messages[:4], "4")


def test_prompt_and_reference_ignores_a_trailing_user_turn():
    assert prompt_and_reference(TWO_TURNS[:3]) == (TWO_TURNS[:1], "Hello there!")


def test_prompt_and_reference_without_an_assistant_turn_raises():
    with pytest.raises(ValueError, match="no assistant turn"):
        prompt_and_reference([{"role": "user", "content": "Hi"}])


def test_examples_without_a_trainable_token_are_set_aside_and_counted(tokenizer):
    no_answer = [{"role": "user", "content": "Hi"}]
    kept, excluded = encode_with_exclusions(tokenizer, [TWO_TURNS, no_answer, TWO_TURNS],
                                            max_seq_len=1024)
    assert (len(kept), len(excluded)) == (2, 1)
    kept, excluded = encode_with_exclusions(tokenizer, [TWO_TURNS], max_seq_len=30)  # cut off
    assert (len(kept), len(excluded)) == (0, 1)


def test_config_round_trips_through_a_plain_dict():
    config = TrainConfig(lora_rank=8, target_modules=("q_proj",))
    data = config.to_dict()
    assert data["target_modules"] == ["q_proj"]
    assert TrainConfig.from_dict(data) == config


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown TrainConfig fields: lr"):
        TrainConfig.from_dict({"lr": 1e-4})


def test_config_validation_reports_every_problem_at_once():
    config = TrainConfig(lora_rank=0, batch_size=0)
    with pytest.raises(errors.WorkbenchError, match="lora_rank must be >= 1.*batch_size must"):
        config.validate()
    assert TrainConfig().problems() == []


def test_every_config_field_has_help_text():
    from dataclasses import fields
    assert all(item.metadata.get("help") for item in fields(TrainConfig))


def test_lr_factor_never_gives_a_zero_step():
    assert [lr_factor(s, 2, 4) for s in range(4)] == [0.5, 1.0, 1.0, 0.5]
    assert [lr_factor(s, 0, 2) for s in range(2)] == [1.0, 0.5]


def test_length_grouped_batches_cover_every_index_once_and_are_seed_deterministic():
    lengths = [random.Random(1).randint(1, 100) for _ in range(23)]
    first = length_grouped_batches(lengths, 4, random.Random(7))
    assert sorted(i for batch in first for i in batch) == list(range(23))
    assert first == length_grouped_batches(lengths, 4, random.Random(7))


def test_length_grouped_batches_group_similar_lengths():
    batches = length_grouped_batches([1, 100, 2, 101, 3, 102], 3, random.Random(0))
    assert sorted(sorted(batch) for batch in batches) == [[0, 2, 4], [1, 3, 5]]


def test_collate_pads_right_with_mask_zero_and_ignored_labels():
    batch = collate([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
                     {"input_ids": [8], "labels": [8]}], pad_id=IM_END)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, IM_END, IM_END]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]


def test_train_lora_without_trainable_examples_raises_a_stage_error(tmp_path):
    with pytest.raises(errors.StageError, match="none of 1 examples"):
        train_lora([[{"role": "user", "content": "Hi"}]], TrainConfig(max_steps=1), tmp_path)


TINY = [
    [{"role": "user", "content": f"What is {a} plus {b}?"},
     {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]
    for a, b in [(1, 2), (3, 4), (10, 5), (7, 7)]
]


@pytest.mark.slow
def test_train_lora_logs_every_step_and_changes_every_lora_parameter(tmp_path):
    config = TrainConfig(max_steps=2, batch_size=2, warmup_steps=1)
    model_dir = ensure_base_model()
    initial = {name: param.detach().clone()
               for name, param in init_model(model_dir, config).named_parameters()
               if "lora_" in name}
    assert all(not t.any() for name, t in initial.items() if "lora_B" in name)  # peft init
    steps = []
    result = train_lora(TINY, config, tmp_path, on_step=lambda *args: steps.append(args))
    assert [(step, total) for step, total, _ in steps] == [(1, 2), (2, 2)]
    assert result["losses"] == [loss for _, _, loss in steps]
    assert all(loss > 0 for loss in result["losses"])
    assert (result["steps"], result["skipped_examples"]) == (2, 0)
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert len(saved) == len(initial) == 4 * 30 * 2  # q/k/v/o x 30 layers x (A, B)
    assert result["trainable_params"] == sum(t.numel() for t in initial.values())
    for name, before in initial.items():
        key = name.replace(".default", "")  # peft drops the adapter name when saving
        assert not torch.equal(saved[key], before), f"{name} did not change"
