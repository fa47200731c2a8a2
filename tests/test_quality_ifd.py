"""IFD on the tiny model: the batched, length-sorted scoring equals two direct forward passes
per row (the Cherry LLM reference way), and rows without answer tokens say why."""

import math

import pytest
import torch

from curation import ifd
from curation.ifd import ifd_encodings, score_rows, shared_prefix_length
from tests.prepared import conv
from training.data import IGNORE_INDEX
from training.model import load_model, load_tokenizer

ROWS = [conv("What is 2+2?", "It is 4, of course."),
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A colour?"},
         {"role": "assistant", "content": "Blue"}, {"role": "user", "content": "Another?"},
         {"role": "assistant", "content": "Green, like grass in spring, and longer text."}],
        conv("Say hi", "hi"),
        [{"role": "user", "content": "no answer here"}]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.tiny_model import make_tiny_model

    folder = make_tiny_model(tmp_path_factory.mktemp("tiny"))
    return load_model(folder).eval(), load_tokenizer(folder)


def direct(model, encoding: dict) -> float:
    """Perplexity from one ``model(**inputs)`` pass of one row, as the reference code does."""
    inputs = {"input_ids": torch.tensor([encoding["input_ids"]]),
              "labels": torch.tensor([encoding["labels"]])}
    with torch.no_grad():
        return math.exp(model(**inputs).loss.item())


def test_both_passes_score_the_same_answer_tokens(tiny):
    _, tokenizer = tiny
    conditioned, alone = ifd_encodings(tokenizer, ROWS[0], 1024)
    assert tokenizer.decode(alone["input_ids"]) == (
        "<|im_start|>assistant\nIt is 4, of course.<|im_end|>")
    answer = [t for t in conditioned["labels"] if t != IGNORE_INDEX]
    assert answer == [t for t in alone["labels"] if t != IGNORE_INDEX]
    assert tokenizer.decode(answer) == "It is 4, of course.<|im_end|>"


@pytest.mark.parametrize("max_batch_tokens", [64, 4096])
def test_batched_scores_equal_two_forward_passes_per_row(tiny, max_batch_tokens):
    model, tokenizer = tiny
    batched = score_rows(model, tokenizer, ROWS[:3], max_batch_tokens=max_batch_tokens)
    for row, found in zip(ROWS[:3], batched, strict=True):
        conditioned, alone = ifd_encodings(tokenizer, row, 1024)
        ppl_c, ppl_a = direct(model, conditioned), direct(model, alone)
        assert found["ppl_conditioned"] == pytest.approx(ppl_c, rel=1e-5)
        assert found["ppl_answer"] == pytest.approx(ppl_a, rel=1e-5)
        assert found["ifd"] == pytest.approx(ppl_c / ppl_a, rel=1e-5)
    # the answer's own tokens plus its closing <|im_end|>
    assert [r["answer_tokens"] for r in batched] == [
        len(tokenizer(row[-1]["content"])["input_ids"]) + 1 for row in ROWS[:3]] == [9, 12, 2]


def test_a_row_without_an_assistant_turn_gets_no_score_and_a_reason(tiny):
    model, tokenizer = tiny
    assert score_rows(model, tokenizer, ROWS[3:]) == [
        {"unscored_reason": "no_assistant_turn",
         "unscored_detail": "the row has no assistant turn to score"}]


def test_a_row_whose_answer_is_cut_by_truncation_gets_no_score(tiny):
    model, tokenizer = tiny
    found = score_rows(model, tokenizer, [conv("long " * 40, "the answer")], max_seq_len=20)
    assert found == [{"unscored_reason": "no_trainable_tokens",
                      "unscored_detail": "no answer token within the first 20 tokens "
                                         "(max_seq_len)"}]


def test_a_partly_cut_answer_is_scored_on_the_tokens_left_in_both_passes(tiny):
    model, tokenizer = tiny
    row = conv("Q?", "one two three four five six seven eight nine ten")
    full, _ = ifd_encodings(tokenizer, row, 1024)
    first_answer = full["labels"].index(next(t for t in full["labels"] if t != IGNORE_INDEX))
    conditioned, alone = ifd_encodings(tokenizer, row, first_answer + 3)
    assert sum(t != IGNORE_INDEX for t in conditioned["labels"]) == 3
    assert [t for t in alone["labels"] if t != IGNORE_INDEX] == full["labels"][
        first_answer:first_answer + 3]
    found = score_rows(model, tokenizer, [row], max_seq_len=first_answer + 3)[0]
    assert found["answer_tokens"] == 3
    assert found["ifd"] == pytest.approx(direct(model, conditioned) / direct(model, alone),
                                         rel=1e-5)


def test_the_shared_prefix_is_run_once_and_changes_no_score(tiny):
    model, tokenizer = tiny
    rows = [conv("What is 2+2?", "It is 4."), conv("Name a colour", "Blue, mostly."),
            conv("What is 3+3?", "Six.")]
    conditioned = [ifd_encodings(tokenizer, row, 1024)[0] for row in rows]
    # SmolLM2's default system prompt and the user header: 24 tokens every row starts with
    assert shared_prefix_length(conditioned) == 24
    assert tokenizer.decode(conditioned[0]["input_ids"][:24]).endswith("<|im_start|>user\n")
    calls = []
    original = ifd.prefix_states
    ifd.prefix_states = lambda m, ids: calls.append(len(ids)) or original(m, ids)
    try:
        shared = score_rows(model, tokenizer, rows)
    finally:
        ifd.prefix_states = original
    whole = score_rows(model, tokenizer, rows, min_shared_prefix=10**6)
    assert calls == [24]  # one batch of the three conditioned sequences
    for a, b in zip(shared, whole, strict=True):
        assert a["answer_tokens"] == b["answer_tokens"]
        for key in ("ppl_conditioned", "ppl_answer", "ifd"):
            assert a[key] == pytest.approx(b[key], rel=1e-5)
