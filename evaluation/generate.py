"""Batched generation (greedy, or sampling with a seed) for a base model, optionally with a LoRA adapter.

Prompts go through the same chat template as training (``training.data.render_prompt``).
Batches are left-padded (the new tokens of every row then start at the same column) and
sorted by length; outputs come back in input order. Each prompt is read (prefilled) on its
own, without padding, and the rows' key/value caches are stacked left-padded into one cache
that ``model.generate`` continues from (``prefilled_cache``): a batch's padding then costs
nothing to read, only a masked slot in attention, so one large batch is cheap.
Throughput against one prompt at a time: ``bench/generate.py``.

Run as: ``generate(ensure_base_model(), [[{"role": "user", "content": "Hi"}]])``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from training.data import render_prompt
from training.model import load_model, load_tokenizer

END_OF_TURN = "<|im_end|>"  # ChatML end-of-turn token (SmolLM2); used when the vocab has it


@dataclass(frozen=True)
class Sampling:
    """Sampling instead of greedy decoding; every system gets the same seed.

    Reproducible for the same prompts, batch size and seed (the random stream is shared by
    the rows of a batch, so a different batching draws different tokens).
    """

    seed: int = 0  # torch.manual_seed before the first batch
    temperature: float = 0.7  # < 1 sharpens the next-token distribution, > 1 flattens it
    top_p: float = 0.9  # nucleus sampling: keep the smallest token set with this much mass

    def to_dict(self) -> dict:
        return asdict(self)


def load_for_generation(model_dir: Path, adapter_dir: Path | None = None):
    """Load (model, tokenizer) for inference: eval mode, left padding, pad token set.

    With ``adapter_dir`` the base is wrapped with ``peft.PeftModel.from_pretrained`` (not
    merged, so the base weights stay untouched).
    """
    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "left"
    model = load_model(model_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def stop_token_ids(tokenizer) -> list[int]:
    """Token ids that end an answer: the eos token and ``<|im_end|>`` when the vocab has it."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(end_id, int) and end_id != tokenizer.unk_token_id and end_id not in ids:
        ids.append(end_id)
    return ids


def length_order(lengths: list[int]) -> list[int]:
    """Indices sorted by length, longest first (a too-long batch fails at once), stable.

    >>> length_order([3, 9, 1, 9])
    [1, 3, 0, 2]
    """
    return sorted(range(len(lengths)), key=lambda index: -lengths[index])


def decoding_options(sampling: Sampling | None) -> dict:
    """``model.generate`` keyword arguments: greedy when ``sampling`` is None."""
    if sampling is None:
        return {"do_sample": False, "num_beams": 1}
    return {"do_sample": True, "num_beams": 1, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "top_k": 0}


def new_token_counts(new_tokens, stop_ids: list[int]) -> list[int]:
    """Generated tokens per row up to and including the first stop token (padding after it
    is not counted). ``new_tokens``: (rows, columns) tensor of the generated part.

    >>> new_token_counts(torch.tensor([[5, 2, 2], [5, 6, 7]]), [2])
    [2, 3]
    """
    counts = []
    for row in new_tokens.tolist():
        stop = next((k for k, token in enumerate(row) if token in stop_ids), None)
        counts.append(len(row) if stop is None else stop + 1)
    return counts


def prefilled_cache(model, input_ids, attention_mask):
    """A ``transformers.DynamicCache`` holding every prompt token but the last, per row, read
    one row at a time without padding and stacked left-padded (zeros under the mask); None
    when it cannot be built this way (a one-token prompt, or a model whose cache layers are
    not plain ``DynamicLayer``s, e.g. sliding-window attention): the caller then lets
    ``generate`` read the padded batch itself.

    Shapes: ``input_ids`` and ``attention_mask`` (rows, columns), left-padded. Each row's
    keys/values equal those of the row read alone, and positions count from its first real
    token, as ``generate`` computes them from the attention mask, so the continued decoding
    sees what a one-row ``generate`` sees; only padding slots are added, masked out.
    Cost: one forward pass per row over its own tokens (no padded positions are computed),
    logits for its last position only.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    lengths = attention_mask.sum(dim=1).tolist()
    columns = input_ids.shape[1]
    if min(lengths) < 2:
        return None
    stacked: list[tuple[list, list]] = []
    for row, length in enumerate(lengths):
        tokens = input_ids[row:row + 1, columns - length:columns - 1]
        # logits of the last position only: the rest would cost a vocabulary-sized matmul per
        # prompt token (SmolLM2's tied head is ~20% of its weights) for nothing
        cache = model(input_ids=tokens, use_cache=True, logits_to_keep=1).cache
        if not all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None])):
            return None
        if not stacked:
            stacked = [([], []) for _ in cache.layers]
        pad = columns - length  # left padding of this row, prompt[:-1] fills the rest
        for (keys, values), layer in zip(stacked, cache.layers, strict=True):
            keys.append(torch.nn.functional.pad(layer.keys, (0, 0, pad, 0)))
            values.append(torch.nn.functional.pad(layer.values, (0, 0, pad, 0)))
    cache = DynamicCache(config=model.config)
    for index, (keys, values) in enumerate(stacked):
        cache.update(torch.cat(keys), torch.cat(values), index)
    return cache


def generate_batch(model, tokenizer, texts: list[str], max_new_tokens: int,
                   sampling: Sampling | None = None) -> list[tuple[str, int]]:
    """Decode one left-padded batch of prompt texts: (stripped new text, new tokens) per row.

    The prompts are prefilled row by row (``prefilled_cache``) and decoded together; the
    attention mask from the tokenizer hides the left padding; the pad token is set by
    ``load_for_generation`` (SmolLM2's is ``<|im_end|>``, its eos).
    """
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    stops = stop_token_ids(tokenizer)
    with torch.inference_mode():
        cache = prefilled_cache(model, encoded["input_ids"], encoded["attention_mask"]) \
            if len(texts) > 1 else None
        extra = {} if cache is None else {"cache": cache}
        output = model.generate(
            **encoded, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
            eos_token_id=stops, **decoding_options(sampling), **extra)
    new_tokens = output[:, encoded["input_ids"].shape[1]:]
    texts_out = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [(text.strip(), count) for text, count in
            zip(texts_out, new_token_counts(new_tokens, stops), strict=True)]


def generate_detailed(
    model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 256,
    batch_size: int = 32, on_batch: Callable[[int, int], None] | None = None,
    sampling: Sampling | None = None,
) -> list[tuple[str, int]]:
    """(answer, new tokens) of an already loaded model per chat prompt, in input order.

    Prompts are sorted by token length (longest first) and cut into batches of
    ``batch_size``; ``tokenizer`` must pad on the left (``load_for_generation`` sets it).
    ``on_batch(done, total)`` is called after each batch with prompts done so far.
    """
    texts = [render_prompt(tokenizer, messages) for messages in prompts]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = length_order(lengths)
    outputs: list[tuple[str, int]] = [("", 0)] * len(prompts)
    if sampling is not None:
        torch.manual_seed(sampling.seed)
    for begin in range(0, len(order), batch_size):
        indices = order[begin:begin + batch_size]
        answers = generate_batch(model, tokenizer, [texts[i] for i in indices],
                                 max_new_tokens, sampling)
        for index, answer in zip(indices, answers, strict=True):
            outputs[index] = answer
        if on_batch is not None:
            on_batch(min(begin + batch_size, len(order)), len(order))
    return outputs


def generate_with(
    model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 256,
    batch_size: int = 32, on_batch: Callable[[int, int], None] | None = None,
    sampling: Sampling | None = None,
) -> list[str]:
    """Answers of an already loaded model to chat prompts, in input order (greedy unless
    ``sampling``); see ``generate_detailed``."""
    return [text for text, _ in generate_detailed(
        model, tokenizer, prompts, max_new_tokens, batch_size, on_batch, sampling)]


def generate(model_dir: Path, prompts: list[list[dict]], adapter_dir: Path | None = None,
             max_new_tokens: int = 256, batch_size: int = 32,
             on_batch: Callable[[int, int], None] | None = None,
             sampling: Sampling | None = None) -> list[str]:
    """Answers of the base model (plus adapter) to chat prompts, in input order; greedy
    unless ``sampling``.

    ``prompts`` are message lists without the answer (``training.data.prompt_and_reference``).
    Decoding stops at ``<|im_end|>`` / eos or after ``max_new_tokens``; special tokens are
    removed and whitespace stripped. ``on_batch(done, total)`` reports progress.
    """
    if not prompts:
        return []
    model, tokenizer = load_for_generation(model_dir, adapter_dir)
    return generate_with(model, tokenizer, prompts, max_new_tokens, batch_size, on_batch, sampling)
