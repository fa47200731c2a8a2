"""Batched generation (greedy, or sampling with a seed) for a base model, optionally with a LoRA adapter.

Prompts go through the same chat template as training (``training.data.render_prompt``).
Batches are left-padded (the new tokens of every row then start at the same column) and
sorted by length; outputs come back in input order. A batch is decoded by our own loop over
the model's forward (``decode_rows``): each prompt is read (prefilled) on its own, without
padding, into key/value buffers allocated once (``growing_layer_class``), so a batch's padding
costs nothing to read, only a masked slot in attention; every step then runs all unfinished
rows at once, and a row leaves the batch at its stop token. Greedy rows equal one-prompt
``model.generate``, which still serves a single prompt. When the prompts of a batch start
with the same tokens (a system prompt and fixed few-shot examples), that prefix is prefilled
once, its keys/values kept once and read by every prompt's attention (``shared_prefix_length``,
``shared_prefix_attention``).
Throughput against one prompt at a time: ``bench/generate.py``; prefix reuse against
prefilling each whole prompt: ``bench/prompted.py``.

Run as: ``generate(ensure_base_model(), [[{"role": "user", "content": "Hi"}]])``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import torch

from training.data import render_prompt
from training.model import load_model, load_tokenizer

END_OF_TURN = "<|im_end|>"  # ChatML end-of-turn token (SmolLM2); used when the vocab has it
# Shortest shared prompt prefix worth prefilling once. SmolLM2's chat template alone puts its
# default system prompt (about 30 tokens) before every prompt without a system message; a
# prefix that short saves little prefill and costs an extra forward pass, so plain prompts
# keep being prefilled whole, while a fixed few-shot prefix (hundreds of tokens) is shared.
MIN_SHARED_PREFIX = 64


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
    merged, so the base weights stay untouched). The model goes on the CUDA GPU when there
    is one (fp32, as on CPU), else stays on CPU.
    """
    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "left"
    model = load_model(model_dir).to("cuda" if torch.cuda.is_available() else "cpu")
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


@cache
def growing_layer_class() -> type:
    """``GrowingLayer``, a ``transformers.cache_utils.DynamicLayer`` subclass (built on first
    use, so importing this module does not import transformers)."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """One layer's key/value cache in buffers allocated once, filled column by column.

        ``transformers.DynamicLayer`` grows by ``torch.cat`` at every decoding step, copying the
        whole cache each time (about a quarter of a 32-row decoding step's time on CPU with
        SmolLM2-135M, measured with ``torch.profiler``); here ``update`` writes the new column
        into spare room and ``keys`` / ``values`` are views of the filled part, so the model's
        attention reads exactly the tensors a ``DynamicLayer`` would hold.

        Shapes: buffers (rows, kv heads, capacity, head dim); ``length`` filled columns.
        """

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
            super().__init__()
            self.is_initialized = True
            self.device = keys.device
            self._keys, self._values, self.length = keys, values, length
            self._view()

        def _view(self) -> None:
            self.keys = self._keys[:, :, :self.length]
            self.values = self._values[:, :, :self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            """Write (rows, kv heads, new columns, head dim) states after the filled part; return
            the filled keys and values. Raises ``ValueError`` past the capacity."""
            end = self.length + key_states.shape[-2]
            if end > self._keys.shape[2]:
                raise ValueError(f"cache capacity {self._keys.shape[2]} exceeded ({end} columns)")
            self._keys[:, :, self.length:end] = key_states
            self._values[:, :, self.length:end] = value_states
            self.length = end
            self._view()
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor, skip_columns: int = 0) -> None:
            """Keep only the rows ``indices`` and drop the first ``skip_columns`` columns (padding
            of every kept row); one copy of the kept rows."""
            self._keys = self._keys[indices][:, :, skip_columns:]
            self._values = self._values[indices][:, :, skip_columns:]
            self.length -= skip_columns
            self._view()

    return GrowingLayer


def next_tokens(logits: torch.Tensor, sampling: Sampling | None) -> torch.Tensor:
    """The next token per row from (rows, vocabulary) float32 logits: argmax when greedy, else
    a draw after temperature and nucleus (top-p) filtering, the warpers and the
    ``torch.multinomial`` draw of ``model.generate`` (``transformers`` GenerationMixin._sample)."""
    if sampling is None:
        return torch.argmax(logits, dim=-1)
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    scores = TemperatureLogitsWarper(sampling.temperature)(None, logits)
    scores = TopPLogitsWarper(sampling.top_p)(None, scores)
    return torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)


def shared_prefix_length(input_ids, lengths: list[int],
                         minimum: int = MIN_SHARED_PREFIX) -> int:
    """Tokens at the start of every row's prompt that all rows share, or 0 when that is
    fewer than ``minimum`` or there is only one row.

    ``input_ids``: (rows, columns) left-padded; ``lengths``: real tokens per row (the last
    ``lengths[r]`` columns of row ``r``). At least one token of every prompt stays outside
    the prefix, so each row still has its own last position to read logits from.

    >>> import torch
    >>> shared_prefix_length(torch.tensor([[0, 5, 6, 7, 8], [5, 6, 7, 9, 1]]), [4, 5], 2)
    3
    >>> shared_prefix_length(torch.tensor([[5, 6, 7], [5, 6, 7]]), [3, 3], 2)
    2
    >>> shared_prefix_length(torch.tensor([[5, 6, 7], [5, 6, 7]]), [3, 3], 3)
    0
    """
    if len(lengths) < 2:
        return 0
    columns = input_ids.shape[1]
    shortest = min(lengths)
    starts = [input_ids[row, columns - length:columns - length + shortest]
              for row, length in enumerate(lengths)]
    same = torch.stack([start == starts[0] for start in starts[1:]]).all(dim=0)
    prefix = shortest if bool(same.all()) else int(same.int().argmin())
    prefix = min(prefix, shortest - 1)
    return prefix if prefix >= minimum else 0


def _plain_layers(output) -> list | None:
    """The forward output's cache layers when all are plain ``DynamicLayer``s, else None."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(output.cache, "layers", [None])
    return layers if all(type(layer) is DynamicLayer for layer in layers) else None


def _buffers(like: list, rows: int, capacity: int, length: int) -> list:
    """One ``growing_layer_class()`` per layer of ``like``: zero buffers of (rows, kv heads,
    ``capacity``, head dim), ``length`` columns counted as filled."""
    growing_layer = growing_layer_class()
    return [growing_layer(
        layer.keys.new_zeros((rows, layer.keys.shape[1], capacity, layer.keys.shape[3])),
        layer.values.new_zeros((rows, layer.values.shape[1], capacity, layer.values.shape[3])),
        length) for layer in like]


def _prefill_each_row(model, input_ids, lengths: list[int], max_new_tokens: int
                      ) -> tuple[list, list] | None:
    """(cache layers, last-position logits per row): each row's whole prompt read on its own,
    its keys/values copied left-padded into the buffers; None for a cache that is not plain
    ``DynamicLayer``s."""
    rows, columns = input_ids.shape
    layers: list = []
    first_logits = []
    for row, length in enumerate(lengths):
        output = model(input_ids=input_ids[row:row + 1, columns - length:], use_cache=True,
                       logits_to_keep=1)
        cache_layers = _plain_layers(output)
        if cache_layers is None:
            return None
        if not layers:
            layers = _buffers(cache_layers, rows, columns + max_new_tokens, columns)
        for target, layer in zip(layers, cache_layers, strict=True):
            target._keys[row, :, columns - length:columns] = layer.keys[0]
            target._values[row, :, columns - length:columns] = layer.values[0]
        first_logits.append(output.logits[:, -1])
    return layers, first_logits


SHARED_PREFIX_ATTENTION = "sdpa_shared_prefix"  # attention implementation name (transformers)


def shared_prefix_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                            scaling: float | None = None, shared_prefix: list | None = None,
                            **kwargs):
    """Attention over a prefix's keys/values that every row shares, then each row's own.

    A ``transformers`` attention function (``AttentionInterface``; registered as
    ``SHARED_PREFIX_ATTENTION`` by ``_shared_prefix_attention``). Without ``shared_prefix`` it
    is ``sdpa_attention_forward`` itself. With it: ``shared_prefix[module.layer_idx]`` is the
    prefix's (keys, values), each (kv heads, prefix columns, head dim), stored once; ``key`` /
    ``value`` (rows, kv heads, own columns, head dim) hold only each row's tokens after the
    prefix (left-padded), ``attention_mask`` their boolean mask (rows, 1, queries, own columns)
    from ``sdpa_mask`` (None: causal). Every query attends to the whole prefix and to its
    row's unmasked own columns; both score blocks share one softmax (the running maximum and
    sum of the two blocks combined, as cascade attention / FlashInfer's shared-prefix batch
    decoding do), in float32. The prefix part is one matrix product per kv head over the
    queries of all rows (grouped-query heads folded in), so the prefix is read once per step
    instead of once per row. Returns (output (rows, queries, heads, head dim), None).
    """
    if shared_prefix is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    prefix_keys, prefix_values = shared_prefix[module.layer_idx]
    rows, heads, queries, dim = query.shape
    kv_heads, own = key.shape[1], key.shape[2]
    group = heads // kv_heads * queries  # query vectors per kv head and row
    scale = scaling if scaling is not None else dim ** -0.5
    grouped = query.float().reshape(rows, kv_heads, group, dim)
    stacked = grouped.transpose(0, 1).reshape(kv_heads, rows * group, dim)
    prefix_scores = torch.bmm(stacked, prefix_keys.float().transpose(1, 2)) * scale
    own_scores = torch.matmul(grouped, key.float().transpose(2, 3)) * scale
    if attention_mask is None and queries > 1:  # causal over the own columns
        allowed = (torch.arange(own, device=query.device)[None, :]
                   <= torch.arange(own - queries, own, device=query.device)[:, None])[None, None]
    else:
        allowed = attention_mask
    if allowed is not None:
        allowed = allowed[:, :, None].expand(-1, kv_heads, heads // kv_heads, -1, -1)
        own_scores = own_scores.masked_fill(~allowed.reshape(-1, kv_heads, group, own),
                                            float("-inf"))
    prefix_max = prefix_scores.amax(dim=-1).view(kv_heads, rows, group).transpose(0, 1)
    top = torch.maximum(prefix_max, own_scores.amax(dim=-1))  # (rows, kv heads, group)
    prefix_weights = torch.exp(prefix_scores - top.transpose(0, 1).reshape(
        kv_heads, rows * group, 1))
    own_weights = torch.exp(own_scores - top[..., None])
    total = (prefix_weights.sum(dim=-1).view(kv_heads, rows, group).transpose(0, 1)
             + own_weights.sum(dim=-1))
    mixed = (torch.bmm(prefix_weights, prefix_values.float()).view(
        kv_heads, rows, group, dim).transpose(0, 1)
        + torch.matmul(own_weights, value.float()))
    output = (mixed / total[..., None]).reshape(rows, heads, queries, dim)
    return output.transpose(1, 2).contiguous().to(query.dtype), None


@cache
def _shared_prefix_attention() -> str:
    """Register ``shared_prefix_attention`` (and ``sdpa_mask`` for its masks) with
    ``transformers`` once; returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SHARED_PREFIX_ATTENTION, shared_prefix_attention)
    AttentionMaskInterface.register(SHARED_PREFIX_ATTENTION, sdpa_mask)
    return SHARED_PREFIX_ATTENTION


def _uses_sdpa(model) -> bool:
    """Whether ``model`` (or the spy/wrapper around it) runs ``transformers``' SDPA attention,
    which ``shared_prefix_attention`` extends."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None) == "sdpa"


@contextmanager
def _attention_sharing_prefix(model):
    """Switch an ``sdpa`` model to ``shared_prefix_attention`` while the block runs; that is
    plain SDPA for every call without ``shared_prefix``, so another caller of the same model
    meanwhile gets the same results."""
    config = model.config
    config._attn_implementation = _shared_prefix_attention()
    try:
        yield
    finally:
        config._attn_implementation = "sdpa"


def _prefill_sharing_prefix(model, input_ids, lengths: list[int], max_new_tokens: int,
                            prefix: int) -> tuple[list, list, list] | None:
    """(own cache layers, last-position logits per row, the prefix's (keys, values) per
    layer): the ``prefix`` tokens every row starts with read once and kept once, then each
    row's remaining tokens read on their own, attending to the prefix through
    ``shared_prefix_attention`` and written into that row's slot of the own buffers
    (``growing_layer_class()``, left-padded: (rows, kv heads, longest rest + max_new_tokens,
    head dim)); None for a cache that is not plain ``DynamicLayer``s. Run inside
    ``_attention_sharing_prefix``."""
    from transformers.cache_utils import Cache

    growing_layer = growing_layer_class()
    rows, columns = input_ids.shape
    start = columns - lengths[0]
    output = model(input_ids=input_ids[:1, start:start + prefix], use_cache=True,
                   logits_to_keep=1)
    prefix_layers = _plain_layers(output)
    if prefix_layers is None:
        return None
    shared = [(layer.keys[0], layer.values[0]) for layer in prefix_layers]
    rest = [length - prefix for length in lengths]
    width = max(rest)
    layers = _buffers(prefix_layers, rows, width + max_new_tokens, width)
    first_logits = []
    for row, own in enumerate(rest):
        cache = Cache(layers=[growing_layer(target._keys[row:row + 1, :, width - own:],
                                            target._values[row:row + 1, :, width - own:], 0)
                              for target in layers])
        output = model(input_ids=input_ids[row:row + 1, columns - own:], cache=cache,
                       position_ids=torch.arange(prefix, prefix + own, device=input_ids.device)[None],
                       shared_prefix=shared, use_cache=True, logits_to_keep=1)
        first_logits.append(output.logits[:, -1])
    return layers, first_logits, shared


def decode_rows(model, input_ids, attention_mask, max_new_tokens: int, stop_ids: list[int],
                sampling: Sampling | None = None,
                min_shared_prefix: int = MIN_SHARED_PREFIX) -> list[list[int]] | None:
    """New token ids per row (up to and including its first stop token), or None when the
    model's cache layers are not plain ``DynamicLayer``s (e.g. sliding-window attention):
    the caller then uses ``model.generate``. Run under ``torch.inference_mode``.

    Shapes: ``input_ids`` and ``attention_mask`` (rows, columns), left-padded.
    Prefill: each row is read on its own, without padding, logits of its last position only
    (what one-row ``model.generate`` computes, so the first token is the same); its
    keys/values are copied left-padded into ``growing_layer_class()`` buffers (zeros under the mask).
    Decoding: one forward pass over all unfinished rows per step, positions counted from each
    row's first real token, padding masked; a row that emits a stop token leaves the batch
    at once (its later steps would be wasted work), and columns that are padding in every
    remaining row are dropped with it. Greedy rows then equal one-row ``model.generate``.

    Shared prefix: when all rows start with the same ``shared_prefix_length`` tokens (at
    least ``min_shared_prefix``) and the model runs SDPA attention, those are prefilled once
    and their keys/values kept once; each row reads only the rest of its prompt, at the
    positions that follow the prefix, and its cache holds only its own tokens (left-padded
    to the longest rest); every attention then covers the shared prefix and the row's own
    columns in one softmax (``shared_prefix_attention``). This is the prefix-caching idea of
    vLLM's automatic prefix caching and SGLang's RadixAttention, here within one batch, with
    the prefix read once per step for all rows as in cascade attention, instead of a copy
    per row. Logits then differ from prefilling the whole prompt only by float rounding
    (about 2e-5 of logits up to 32 on SmolLM2-135M), so greedy outputs stay the same except
    at a near-tie of two tokens.
    """
    lengths = attention_mask.sum(dim=1).tolist()
    prefix = shared_prefix_length(input_ids, lengths, min_shared_prefix) if _uses_sdpa(
        model) else 0
    if not prefix:
        filled = _prefill_each_row(model, input_ids, lengths, max_new_tokens)
        if filled is None:
            return None
        return _decode(model, *filled, attention_mask.clone(), lengths, max_new_tokens,
                       stop_ids, sampling, {})
    with _attention_sharing_prefix(model):
        filled = _prefill_sharing_prefix(model, input_ids, lengths, max_new_tokens, prefix)
        if filled is None:
            return None
        layers, first_logits, shared = filled
        own = [length - prefix for length in lengths]
        width = max(own)
        columns = torch.arange(width, device=input_ids.device)
        mask = (columns[None, :] >= width - torch.tensor(own, device=input_ids.device)[:, None]).to(
            attention_mask.dtype)  # each row's own tokens, left-padded
        return _decode(model, layers, first_logits, mask, lengths, max_new_tokens, stop_ids,
                       sampling, {"shared_prefix": shared})


def _decode(model, layers: list, first_logits: list, mask, lengths: list[int],
            max_new_tokens: int, stop_ids: list[int], sampling: Sampling | None,
            extra: dict) -> list[list[int]]:
    """``decode_rows``' decoding loop from prefilled cache ``layers`` (``mask``: their
    (rows, columns) attention mask) and each row's first logits; ``extra``: keyword
    arguments of every forward (``shared_prefix``)."""
    from transformers.cache_utils import Cache

    cache = Cache(layers=layers)
    logits = torch.cat(first_logits).float()
    rows = len(lengths)
    positions = torch.tensor(lengths, device=mask.device)  # next token's position, per row
    active = list(range(rows))  # input row of each batch slot
    new_ids: list[list[int]] = [[] for _ in range(rows)]
    for step in range(max_new_tokens):
        tokens = next_tokens(logits, sampling)
        keep = []
        for slot, token in enumerate(tokens.tolist()):
            new_ids[active[slot]].append(token)
            if token not in stop_ids:
                keep.append(slot)
        if step == max_new_tokens - 1 or not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=mask.device)
            tokens, positions, mask = tokens[index], positions[index], mask[index]
            skip = int(mask.any(dim=0).int().argmax())  # leading all-padding columns
            mask = mask[:, skip:]
            for layer in layers:
                layer.batch_select_indices(index, skip)
            active = [active[slot] for slot in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        logits = model(input_ids=tokens[:, None], attention_mask=mask,
                       position_ids=positions[:, None], cache=cache, use_cache=True,
                       logits_to_keep=1, **extra).logits[:, -1].float()
        positions = positions + 1
    return new_ids


def generate_batch(model, tokenizer, texts: list[str], max_new_tokens: int,
                   sampling: Sampling | None = None,
                   min_shared_prefix: int = MIN_SHARED_PREFIX) -> list[tuple[str, int]]:
    """Decode one left-padded batch of prompt texts: (stripped new text, new tokens) per row.

    Two or more prompts go through ``decode_rows`` (each prompt prefilled on its own, a
    shared prefix of at least ``min_shared_prefix`` tokens once, decoded together, finished
    rows dropped); one prompt, or a model ``decode_rows`` cannot serve,
    goes through ``model.generate`` with the tokenizer's attention mask; the pad token is set
    by ``load_for_generation`` (SmolLM2's is ``<|im_end|>``, its eos).
    """
    device = next(model.parameters()).device
    encoded = tokenizer(texts, return_tensors="pt", padding=True,
                        add_special_tokens=False).to(device)
    stops = stop_token_ids(tokenizer)
    with torch.inference_mode():
        rows = decode_rows(model, encoded["input_ids"], encoded["attention_mask"],
                           max_new_tokens, stops, sampling,
                           min_shared_prefix) if len(texts) > 1 else None
        if rows is None:
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stops, **decoding_options(sampling))
    if rows is not None:
        return [(tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids))
                for ids in rows]
    new_tokens = output[:, encoded["input_ids"].shape[1]:]
    texts_out = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [(text.strip(), count) for text, count in
            zip(texts_out, new_token_counts(new_tokens, stops), strict=True)]


def device_label(model) -> str:
    """Where ``model`` runs, for cost figures: "cpu, 2 threads" (torch's intra-op threads)
    or the accelerator's name, e.g. "cuda: NVIDIA H200"."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return f"cpu, {torch.get_num_threads()} threads"
    return device.type


def prompt_lengths(tokenizer, prompts: list[list[dict]]) -> list[int]:
    """Tokens of each chat prompt as the model reads it: the chat template with the assistant
    header (``training.data.render_prompt``), no extra special tokens."""
    texts = [render_prompt(tokenizer, messages) for messages in prompts]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def generate_detailed(
    model, tokenizer, prompts: list[list[dict]], max_new_tokens: int = 256,
    batch_size: int = 32, on_batch: Callable[[int, int], None] | None = None,
    sampling: Sampling | None = None, min_shared_prefix: int = MIN_SHARED_PREFIX,
) -> list[tuple[str, int]]:
    """(answer, new tokens) of an already loaded model per chat prompt, in input order.

    Prompts are sorted by token length (longest first) and cut into batches of
    ``batch_size``; ``tokenizer`` must pad on the left (``load_for_generation`` sets it).
    ``on_batch(done, total)`` is called after each batch with prompts done so far. A prefix
    of at least ``min_shared_prefix`` tokens that every prompt of a batch starts with is
    prefilled once per batch (``decode_rows``).
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
                                 max_new_tokens, sampling, min_shared_prefix)
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
