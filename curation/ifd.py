"""Model-based quality signals: perplexity of the answer with and without its prompt, and
their ratio, the instruction-following difficulty (IFD; Li et al., NAACL 2024, "From
Quantity to Quality", the Cherry LLM method).

For a row split into prompt (turns before the last assistant turn) and answer (that turn),
both passes score the *same* answer tokens (content and closing ``<|im_end|>``, located as in
``training.data``) of one tokenization of the templated conversation:

- conditioned: the whole templated conversation, truncated to ``max_seq_len``;
- answer alone: the tokens from the last assistant header (``<|im_start|>assistant``) to the
  last answer token kept by the truncation, so no prompt token is seen.

``ppl = exp(mean cross-entropy over the answer tokens)`` (nats), ``ifd = ppl_conditioned /
ppl_answer``. The Cherry LLM reference code runs two ``model(**inputs)`` forward passes per
row; here the conditioned sequences of all rows, then the answer-alone ones, are sorted by
length, cut into micro-batches of at most ``max_batch_tokens`` padded tokens
(``training.batching.micro_batches``), right-padded (``collate``); the leading tokens every
row of a micro-batch shares (the template's default system prompt and the user header) run
once and their keys/values are reused; and the vocabulary projection runs only at the
positions that predict an answer token (as ``training.loss.forward_loss``).

Run as: ``score_rows(model, tokenizer, [messages, ...], max_seq_len=1024)``
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch

from curation.codes import NO_TRAINABLE_TOKENS, TEMPLATE_ERROR
from curation.quality import split_prompt_answer
from training.batching import collate, micro_batches
from training.data import IGNORE_INDEX, assistant_char_spans, label_tokens, render

NO_ASSISTANT_TURN = "no_assistant_turn"
# Fewest shared leading tokens of a micro-batch worth running once for all its rows
MIN_SHARED_PREFIX = 8


class Unscorable(ValueError):
    """A row the model cannot score: ``reason`` code and a ``detail`` sentence."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def ifd_encodings(tokenizer, messages: list[dict], max_seq_len: int) -> tuple[dict, dict]:
    """(conditioned, answer alone) encodings ``{"input_ids", "labels"}`` of one row.

    Labels are the token ids of the last assistant turn (``-100`` elsewhere, unshifted); the
    answer-alone sequence is a slice of the conditioned one, so both label the same tokens.
    Raises ``Unscorable`` with ``no_assistant_turn``, ``template_error`` or
    ``no_trainable_tokens`` (truncation to ``max_seq_len`` cut every answer token).
    """
    prompt, answer = split_prompt_answer(messages)
    if answer is None:
        raise Unscorable(NO_ASSISTANT_TURN, "the row has no assistant turn to score")
    full = prompt + [{"role": "assistant", "content": answer}]
    try:  # a prompt-less row opens with an assistant turn: a template error there
        text, spans = assistant_char_spans(tokenizer, full)
    except ValueError as exc:
        raise Unscorable(TEMPLATE_ERROR, str(exc)) from None
    head = render(tokenizer, prompt)  # ends where the last assistant header starts
    if not text.startswith(head):
        raise Unscorable(TEMPLATE_ERROR, "the chat template does not render the prompt as a "
                                         "prefix of the conversation")
    header = len(head)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(encoded["input_ids"]), encoded["offset_mapping"]
    labels = label_tokens(ids, offsets, spans[-1:])[:max_seq_len]
    kept = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
    if not kept:
        raise Unscorable(NO_TRAINABLE_TOKENS, f"no answer token within the first {max_seq_len} "
                                              "tokens (max_seq_len)")
    start = next(i for i, (begin, _) in enumerate(offsets) if begin >= header)
    end = kept[-1] + 1
    conditioned = {"input_ids": ids[:max_seq_len], "labels": labels}
    alone = {"input_ids": ids[start:end], "labels": labels[start:end]}
    return conditioned, alone


def row_losses(model, batch: dict[str, torch.Tensor],
               prefix: list[tuple[torch.Tensor, torch.Tensor]] | None = None
               ) -> list[tuple[float, int]]:
    """(summed cross-entropy in nats, labelled tokens) per row of a right-padded batch.

    Only positions that predict a label go through the output head (the logits of a
    Llama-shaped model are ``lm_head(hidden)``); other models fall back to full logits.
    Labels are shifted here (token t predicts t + 1), as the model's own loss does.
    ``prefix``: keys and values per layer (``prefix_states``, shapes ``[1, heads, P, dim]``)
    of P tokens that every row of ``batch`` follows; the batch then holds only the tokens
    after them, read at positions P, P + 1, ... on top of a copy of those keys/values.
    """
    from transformers import DynamicCache

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    device = next(causal.parameters()).device
    inputs = {"input_ids": batch["input_ids"].to(device), "use_cache": False}
    if "attention_mask" in batch:
        inputs["attention_mask"] = batch["attention_mask"].to(device)
    if prefix:
        rows, size = batch["input_ids"].shape[0], prefix[0][0].shape[2]
        if "attention_mask" in inputs:
            inputs["attention_mask"] = torch.cat([torch.ones(rows, size, dtype=torch.long,
                                                             device=device),
                                                  inputs["attention_mask"]], dim=1)
        inputs.update(use_cache=True, cache=DynamicCache(
            ddp_cache_data=[(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1))
                            for k, v in prefix]))
    keep_d, targets_d = keep.to(device), targets.to(device)
    with torch.inference_mode():
        if hasattr(causal, "model") and hasattr(causal, "lm_head"):
            hidden = causal.model(**inputs).last_hidden_state
            logits = causal.lm_head(hidden[:, :-1][keep_d]).float()
        else:
            logits = causal(**inputs).logits[:, :-1][keep_d].float()
        nll = torch.nn.functional.cross_entropy(logits, targets_d[keep_d], reduction="none")
    rows = torch.arange(targets.shape[0], device=device).unsqueeze(1).expand_as(targets_d)
    sums = torch.zeros(targets.shape[0], dtype=torch.float64, device=device)
    sums.index_add_(0, rows[keep_d], nll.double())
    counts = keep.sum(dim=1)
    return [(float(s), int(n)) for s, n in zip(sums.cpu(), counts, strict=True)]


def prefix_states(model, ids: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Keys and values per layer (``[1, heads, len(ids), dim]``) of the token ids ``ids``."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = next(causal.parameters()).device
    with torch.inference_mode():
        cache = causal(input_ids=torch.tensor([ids], device=device),
                       use_cache=True, logits_to_keep=1).cache
    return [(layer.keys, layer.values) for layer in cache.layers]


def shared_prefix_length(sequences: list[dict]) -> int:
    """Tokens every sequence starts with and that predict no label (so every position that
    predicts a label lies after them); at most each sequence's length minus one.

    >>> shared_prefix_length([{"input_ids": [1, 2, 3, 4], "labels": [-100, -100, -100, 4]},
    ...                       {"input_ids": [1, 2, 5, 6], "labels": [-100, -100, 5, 6]}])
    1
    """
    common = len(os.path.commonprefix([s["input_ids"] for s in sequences]))
    first_label = min(next(i for i, t in enumerate(s["labels"]) if t != IGNORE_INDEX)
                      for s in sequences)
    return max(0, min(common, first_label - 1))


def signals(conditioned: tuple[float, int], alone: tuple[float, int]) -> dict:
    """{ppl_conditioned, ppl_answer, ifd, answer_tokens} from two (loss sum, tokens) pairs.

    >>> signals((2 * math.log(2), 2), (2 * math.log(4), 2))["ifd"]
    0.5
    """
    (loss_c, n), (loss_a, _) = conditioned, alone
    mean_c, mean_a = loss_c / n, loss_a / n
    return {"ppl_conditioned": math.exp(mean_c), "ppl_answer": math.exp(mean_a),
            "ifd": math.exp(mean_c - mean_a), "answer_tokens": n}


def score_rows(model, tokenizer, conversations: list[list[dict]], max_seq_len: int = 1024,
               max_batch_tokens: int = 8192,
               on_batch: Callable[[int, int], None] | None = None,
               min_shared_prefix: int = MIN_SHARED_PREFIX) -> list[dict]:
    """The model-based signals of each conversation, in order.

    A scored row is ``{ppl_conditioned, ppl_answer, ifd, answer_tokens}``; an unscorable one
    is ``{unscored_reason, unscored_detail}`` (``Unscorable``'s codes). ``on_batch(done,
    total)`` is called after each micro-batch with the sequences scored so far (two per row).

    The conditioned and the answer-alone sequences are batched apart, each sorted by length.
    Where every sequence of a micro-batch starts with the same ``min_shared_prefix`` or more
    tokens that predict no answer token (the chat template's default system prompt and the
    user header: 24 tokens for SmolLM2), those are run once and their keys/values reused by
    every row (prefix caching, as vLLM's automatic prefix caching); the perplexities then
    differ from whole-sequence passes by float rounding only.
    """
    was_training = model.training
    model.eval()
    out: list[dict] = [{} for _ in conversations]
    sequences = []
    for index, messages in enumerate(conversations):
        try:
            conditioned, alone = ifd_encodings(tokenizer, messages, max_seq_len)
        except Unscorable as exc:
            out[index] = {"unscored_reason": exc.reason, "unscored_detail": exc.detail}
            continue
        sequences += [{**conditioned, "row": index, "kind": 0}, {**alone, "row": index, "kind": 1}]
    found: dict[tuple[int, int], tuple[float, int]] = {}
    prefix: tuple[tuple[int, ...], list] = ((), [])  # the last shared prefix and its states
    done = 0
    parts = [part for kind in (0, 1)
             for part in micro_batches([s for s in sequences if s["kind"] == kind],
                                       max_batch_tokens)]
    for part in parts:
        size = shared_prefix_length(part)
        if size >= min_shared_prefix:
            key = tuple(part[0]["input_ids"][:size])
            if key != prefix[0]:
                prefix = (key, prefix_states(model, list(key)))
            tails = [{"input_ids": s["input_ids"][size:], "labels": s["labels"][size:]}
                     for s in part]
            values = row_losses(model, collate(tails, tokenizer.pad_token_id), prefix[1])
        else:
            values = row_losses(model, collate(part, tokenizer.pad_token_id))
        for seq, value in zip(part, values, strict=True):
            found[seq["row"], seq["kind"]] = value
        done += len(part)
        if on_batch:
            on_batch(done, len(sequences))
    for (row, kind), value in found.items():
        if kind == 0:
            out[row] = signals(value, found[row, 1])
    model.train(was_training)
    return out
