"""From conversations to forward passes: encoding with exclusions, length-grouped batches,
padding (``collate``), packing (``pack``) and token-budget micro-batches.

Padding is masked by attention mask and ``-100`` labels, never by pad id (SmolLM2's pad id is
its end-of-turn id). Length-grouped batches keep padding small.

Run as: ``collate(encode_with_exclusions(tokenizer, conversations, 1024)[0][:8], pad_id)``
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch

from curation.codes import NO_TRAINABLE_TOKENS, TEMPLATE_ERROR
from training.config import TrainConfig
from training.data import IGNORE_INDEX, encode_example

GROUP_CHUNK_BATCHES = 50  # batches per length-sorted chunk, as transformers' LengthGroupedSampler


def encode_with_exclusions(
    tokenizer, conversations: list[list[dict]], max_seq_len: int
) -> tuple[list[dict], list[dict]]:
    """Encode conversations; set aside those with no labelled token.

    Returns ``(kept, excluded)``: kept rows carry ``index`` (position in ``conversations``);
    excluded rows are ``{"index", "reason", "detail"}`` with reason ``no_trainable_tokens``
    (no assistant turn, or truncation at ``max_seq_len`` cut every assistant token) or
    ``template_error`` (the chat template cannot locate the answers), the codes
    ``curation.validate`` reports the same rows with before training. Such rows are never fed
    to the loss: a row without labels would add 0/0 to a mean loss.
    """
    kept, excluded = [], []
    for index, messages in enumerate(conversations):
        try:
            example = encode_example(tokenizer, messages, max_seq_len)
        except ValueError as exc:
            excluded.append({"index": index, "reason": TEMPLATE_ERROR, "detail": str(exc)})
            continue
        if any(label != IGNORE_INDEX for label in example["labels"]):
            kept.append({**example, "index": index})
        else:
            excluded.append({"index": index, "reason": NO_TRAINABLE_TOKENS,
                             "detail": f"no assistant token within the first {max_seq_len} "
                                       "tokens (max_seq_len)"})
    return kept, excluded


def length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Index batches of similar length: shuffle, sort within chunks, split, shuffle batches.

    Chunks hold ``GROUP_CHUNK_BATCHES`` batches (the idea of transformers'
    ``LengthGroupedSampler``), so order stays random across chunks while padding stays small.
    Every index appears exactly once; the last batch of a chunk may be smaller.

    >>> length_grouped_batches([5, 1, 4, 2], 2, random.Random(0))
    [[0, 2], [3, 1]]
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * GROUP_CHUNK_BATCHES
    batches = []
    for begin in range(0, len(order), chunk):
        part = sorted(order[begin:begin + chunk], key=lambda index: -lengths[index])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_stream(lengths: list[int], batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless index batches: one length-grouped epoch after another (epoch e uses seed + e)."""
    epoch = 0
    while True:
        yield from length_grouped_batches(lengths, batch_size, random.Random(seed + epoch))
        epoch += 1


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad encoded examples into ``input_ids``, ``attention_mask``, ``labels``.

    Shapes ``[batch, longest]`` (int64); padding has ``pad_id`` / ``0`` / ``-100``.
    """
    width = max(len(example["input_ids"]) for example in examples)
    ids, mask, labels = [], [], []
    for example in examples:
        pad = width - len(example["input_ids"])
        ids.append(example["input_ids"] + [pad_id] * pad)
        mask.append([1] * len(example["input_ids"]) + [0] * pad)
        labels.append(example["labels"] + [IGNORE_INDEX] * pad)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels)}


def pack(examples: list[dict]) -> dict[str, torch.Tensor]:
    """Lay examples end to end in one row: ``input_ids``, ``position_ids``, ``labels`` [1, n].

    Position ids restart at 0 for each example and no attention mask is passed, which makes
    transformers build a block-diagonal causal mask (``masking_utils.
    find_packed_sequence_indices``): no token attends across examples. The first label of
    each example is ``-100`` so no example is trained to predict the next one's first token.

    >>> b = pack([{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7], "labels": [7]}])
    >>> b["position_ids"].tolist(), b["labels"].tolist()
    ([[0, 1, 0]], [[-100, 6, -100]])
    """
    ids, positions, labels = [], [], []
    for example in examples:
        ids += example["input_ids"]
        positions += range(len(example["input_ids"]))
        labels += [IGNORE_INDEX] + example["labels"][1:]
    return {"input_ids": torch.tensor([ids]), "position_ids": torch.tensor([positions]),
            "labels": torch.tensor([labels])}


def packed_parts(examples: list[dict], max_tokens: int) -> list[list[dict]]:
    """Split one batch into rows of at most ``max_tokens`` real tokens (first fit, longest
    first); a longer example stands alone.

    >>> rows = [{"input_ids": [0] * n} for n in (300, 900, 500, 100)]
    >>> [[len(r["input_ids"]) for r in part] for part in packed_parts(rows, 1024)]
    [[900, 100], [500, 300]]
    """
    parts: list[list[dict]] = []
    sizes: list[int] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        size = len(example["input_ids"])
        for k, used in enumerate(sizes):
            if used + size <= max_tokens:
                parts[k].append(example)
                sizes[k] += size
                break
        else:
            parts.append([example])
            sizes.append(size)
    return parts


def micro_batches(examples: list[dict], max_tokens: int) -> list[list[dict]]:
    """Split one batch so each part's padded size (rows × longest row) is ≤ ``max_tokens``.

    Rows are taken longest first; a row longer than ``max_tokens`` stands alone. Activation
    memory grows with padded tokens per forward pass (about 1.4 MB per token for
    SmolLM2-135M in fp32: a batch of 8 × 1024 tokens was OOM-killed at 13.5 GB).

    >>> rows = [{"input_ids": [0] * n} for n in (300, 900, 500, 100)]
    >>> [[len(r["input_ids"]) for r in part] for part in micro_batches(rows, 1024)]
    [[900], [500, 300], [100]]
    """
    parts: list[list[dict]] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        if parts and (len(parts[-1]) + 1) * len(parts[-1][0]["input_ids"]) <= max_tokens:
            parts[-1].append(example)
        else:
            parts.append([example])
    return parts


def make_parts(rows: list[dict], config: TrainConfig, pad_id: int) -> list[dict]:
    """Collated forward passes for one batch: packed rows, or padded micro-batches."""
    if config.packing:
        return [pack(part) for part in packed_parts(rows, config.max_batch_tokens)]
    return [collate(part, pad_id) for part in micro_batches(rows, config.max_batch_tokens)]


def labelled_tokens(batch: dict) -> int:
    """Tokens that count in the causal-LM loss (labels are shifted by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def real_tokens(batch: dict) -> int:
    """Non-padding tokens of a collated or packed batch."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())
