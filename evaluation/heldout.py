"""Held-out loss and perplexity of a model on the reference answers.

For each held-out row the conversation ``prompt + [assistant: reference]`` goes through the
same chat template as training, and the cross-entropy is taken on the tokens of that last
assistant turn only (its content and closing ``<|im_end|>``; spans found as in
``training.data``). Perplexity = exp(total loss / total tokens), the token-weighted mean
(Jelinek et al. 1977; as in the Hugging Face "Perplexity of fixed-length models" guide).

Run as: ``answer_losses(model, tokenizer, [(prompt_messages, "reference text")])``.
"""

from __future__ import annotations

import math

import torch

from training.data import IGNORE_INDEX, assistant_char_spans, label_tokens


def reference_encoding(tokenizer, prompt: list[dict], reference: str,
                       max_seq_len: int = 2048) -> dict:
    """``{"input_ids", "labels"}`` with labels only on the reference turn, cut at max_seq_len.

    Raises ValueError as ``training.data.assistant_char_spans`` does.
    """
    messages = list(prompt) + [{"role": "assistant", "content": reference}]
    text, spans = assistant_char_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    labels = label_tokens(ids, encoded["offset_mapping"], spans[-1:])
    return {"input_ids": ids[:max_seq_len], "labels": labels[:max_seq_len]}


def _right_padded(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(row["input_ids"]) for row in rows)
    ids, labels, mask = [], [], []
    for row in rows:
        pad = width - len(row["input_ids"])
        ids.append(row["input_ids"] + [pad_id] * pad)
        labels.append(row["labels"] + [IGNORE_INDEX] * pad)
        mask.append([1] * len(row["input_ids"]) + [0] * pad)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask)}


def batch_losses(model, batch: dict[str, torch.Tensor]) -> list[tuple[float, int]]:
    """(summed cross-entropy in nats, labelled tokens) per row of a right-padded batch.

    Right padding keeps every real token at the position it has alone, so the values do not
    depend on the batch. Labels are shifted here (token t predicts t + 1), as the model does.
    """
    with torch.inference_mode():
        logits = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).logits.float()
    targets = batch["labels"][:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none")
    counts = (targets != IGNORE_INDEX).sum(dim=1)
    return [(float(total), int(n)) for total, n in zip(losses.sum(dim=1), counts, strict=True)]


def answer_losses(model, tokenizer, rows: list[tuple[list[dict], str]], batch_size: int = 8,
                  max_seq_len: int = 2048) -> list[tuple[float, int]]:
    """(summed loss in nats, reference tokens) per (prompt messages, reference) row, in order.

    A row whose answer cannot be located in the templated text (``reference_encoding`` raises
    ValueError, e.g. a prompt opening with an assistant turn) gives (0.0, 0): no tokens, so
    ``perplexity`` leaves it out.
    """
    encoded = []
    for prompt, reference in rows:
        try:
            encoded.append(reference_encoding(tokenizer, prompt, reference, max_seq_len))
        except ValueError:
            encoded.append(None)
    scorable = [row for row in encoded if row is not None]
    found: list[tuple[float, int]] = []
    for begin in range(0, len(scorable), batch_size):
        found += batch_losses(model, _right_padded(scorable[begin:begin + batch_size],
                                                   tokenizer.pad_token_id))
    values = iter(found)
    return [(0.0, 0) if row is None else next(values) for row in encoded]


def perplexity(losses: list[tuple[float, int]]) -> dict:
    """``{"loss": nats per token, "perplexity": exp(loss), "tokens": n}`` over all rows.

    Token-weighted: long answers count by their length. None values when there are no tokens.

    >>> perplexity([(2.0, 2), (4.0, 2)])["loss"]
    1.5
    """
    total = sum(loss for loss, _ in losses)
    tokens = sum(n for _, n in losses)
    if tokens == 0:
        return {"loss": None, "perplexity": None, "tokens": 0}
    return {"loss": total / tokens, "perplexity": math.exp(total / tokens), "tokens": tokens}
