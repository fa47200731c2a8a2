"""Micro-batches with accumulated gradients equal one step on the whole batch."""

import torch

from training.batching import collate, labelled_tokens, micro_batches
from training.config import TrainConfig
from training.data import encode_example
from training.model import ensure_base_model, init_model, load_tokenizer


def conv(question, answer):
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def lora_grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_micro_batches_give_the_loss_and_gradients_of_the_whole_batch():
    model_dir = ensure_base_model()
    tokenizer = load_tokenizer(model_dir)
    rows = [encode_example(tokenizer, conv(q, a), 256) for q, a in [
        ("Name a colour.", "Blue."),
        ("What is 2 + 2? Explain briefly.", "2 + 2 = 4, because two pairs make four."),
        ("Say hi.", "Hi there! How can I help you today?")]]
    model = init_model(model_dir, TrainConfig(lora_dropout=0.0))
    model.eval()
    whole = collate(rows, tokenizer.pad_token_id)
    model(**whole).loss.backward()
    expected = lora_grads(model)
    model.zero_grad()

    parts = [collate(p, tokenizer.pad_token_id) for p in micro_batches(rows, 60)]
    assert len(parts) >= 2
    total = sum(labelled_tokens(p) for p in parts)
    loss = 0.0
    for part in parts:
        weighted = model(**part).loss * labelled_tokens(part) / total
        weighted.backward()
        loss += weighted.item()
    got = lora_grads(model)
    assert abs(loss - model(**whole).loss.item()) < 1e-4
    assert got.keys() == expected.keys()
    assert all(torch.allclose(got[k], expected[k], atol=1e-5, rtol=1e-3) for k in got)
