"""Decoding options, token counts and held-out loss on the embedded model."""

from __future__ import annotations

import math

import pytest
import torch

from evaluation.generate import (
    Sampling,
    decoding_options,
    generate_detailed,
    load_for_generation,
    new_token_counts,
)
from evaluation.heldout import answer_losses, perplexity, reference_encoding
from training.model import ensure_base_model

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
COLOUR = [{"role": "user", "content": "Name a colour."}]
HELD_OUT = [  # varied lengths, so batches need real left padding
    FRANCE, COLOUR,
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "Why is the sky blue during the day but red at sunset?"}],
    [{"role": "user", "content": "Give me two tips for sleeping well."}],
    [{"role": "user", "content": "Translate 'good morning' into French."}],
]


@pytest.fixture(scope="module")
def loaded():
    return load_for_generation(ensure_base_model())


def test_token_count_stops_at_the_first_stop_token():
    assert new_token_counts(torch.tensor([[5, 2, 2, 2], [5, 6, 7, 8], [2, 2, 2, 2]]), [2]) == [
        2, 4, 1]


def test_greedy_is_the_default_and_sampling_sets_its_knobs():
    assert decoding_options(None) == {"do_sample": False, "num_beams": 1}
    assert decoding_options(Sampling(seed=3, temperature=0.5, top_p=0.8)) == {
        "do_sample": True, "num_beams": 1, "temperature": 0.5, "top_p": 0.8, "top_k": 0}


@pytest.mark.slow
def test_batched_greedy_equals_one_prompt_at_a_time_with_the_same_token_counts(loaded):
    model, tokenizer = loaded
    batched = generate_detailed(model, tokenizer, HELD_OUT, max_new_tokens=24, batch_size=5)
    single = [generate_detailed(model, tokenizer, [p], max_new_tokens=24)[0] for p in HELD_OUT]
    assert batched == single
    assert batched[0] == ("The capital of France is Paris.", 8)  # 7 text tokens + <|im_end|>


def test_sampling_with_a_seed_repeats_and_another_seed_differs(loaded):
    model, tokenizer = loaded
    run = [generate_detailed(model, tokenizer, [COLOUR], max_new_tokens=16,
                             sampling=Sampling(seed=seed)) for seed in (1, 1, 2)]
    assert run[0] == run[1]
    assert run[0] != run[2]


def test_batched_sampling_with_a_seed_repeats_and_another_seed_differs(loaded):
    model, tokenizer = loaded
    prompts = [FRANCE, COLOUR, HELD_OUT[3]]
    run = [generate_detailed(model, tokenizer, prompts, max_new_tokens=12, batch_size=3,
                             sampling=Sampling(seed=seed)) for seed in (1, 1, 2)]
    assert run[0] == run[1]
    assert run[0] != run[2]
    assert all(0 < count <= 12 for _, count in run[0])


def test_reference_labels_cover_only_the_answer_turn(loaded):
    _, tokenizer = loaded
    prompt = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
              {"role": "user", "content": "Name a colour."}]
    encoded = reference_encoding(tokenizer, prompt, "Blue.")
    labelled = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True)
                if label != -100]
    assert tokenizer.decode(labelled) == "Blue.<|im_end|>"  # not the earlier "Hello"


def test_held_out_loss_is_the_same_batched_and_alone(loaded):
    model, tokenizer = loaded
    rows = [(FRANCE, "The capital of France is Paris."), (COLOUR, "Blue.")]
    batched = answer_losses(model, tokenizer, rows, batch_size=2)
    alone = [answer_losses(model, tokenizer, [row])[0] for row in rows]
    assert [n for _, n in batched] == [8, 3]
    assert [loss for loss, _ in batched] == pytest.approx([loss for loss, _ in alone], abs=1e-4)
    # the model's own greedy answer is likelier than an arbitrary one
    assert batched[0][0] / 8 < batched[1][0] / 3


def test_perplexity_is_exp_of_the_token_weighted_mean_loss():
    out = perplexity([(2.0, 2), (4.0, 2)])
    assert out == {"loss": 1.5, "perplexity": pytest.approx(math.exp(1.5)), "tokens": 4}
    assert perplexity([]) == {"loss": None, "perplexity": None, "tokens": 0}
