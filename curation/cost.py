"""OpenAI token counts and fine-tuning cost, computed the way OpenAI's data-prep guide does.

Source: openai-cookbook ``examples/Chat_finetuning_data_prep.ipynb`` ("Data preparation and
analysis for chat model fine-tuning"): ``num_tokens_from_messages`` (3 tokens per message, 1
per ``name``, 3 priming the reply), the epoch rule (3 epochs, raised so that
n_examples × epochs ≥ 100, lowered so that it ≤ 25,000, kept within 1..25) and the billed
tokens (each example counted up to 16,385 tokens, times the epochs).

The tokenizer is ``bpe-openai`` (GitHub's Rust ``bpe-openai`` crate; its wheel ships the
cl100k_base and o200k_base vocabularies, so nothing is downloaded at run time, unlike
tiktoken, which fetches its BPE files on first use). The guide uses cl100k_base; the gpt-4o
family uses o200k_base.
"""

from __future__ import annotations

import functools
import json
import statistics
from dataclasses import dataclass, field

MAX_TOKENS_PER_EXAMPLE = 16385
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass
class CostConfig:
    """Settings of the hosted fine-tuning estimate."""

    encoding: str = field(default="cl100k_base", metadata={
        "help": "OpenAI tokenizer: cl100k_base (the guide's) or o200k_base (gpt-4o family)."})
    price_per_million: float = field(default=3.00, metadata={
        "help": "USD per 1M training tokens (gpt-4o-mini-2024-07-18 on OpenAI's pricing page, "
                "2025; check the current price)."})
    max_tokens_per_example: int = field(default=MAX_TOKENS_PER_EXAMPLE, metadata={
        "help": "Tokens billed at most per example (the guide: 16,385; its older text: 4,096)."})
    epochs: int | None = field(default=None, metadata={
        "help": "Epochs to bill; None = the guide's default rule for the dataset size."})


@functools.cache
def get_encoding(name: str = "cl100k_base"):
    """The bundled OpenAI encoding ``name`` (``encode(text) -> list[int]``)."""
    import bpe_openai

    return bpe_openai.get_encoding(name)


def _text(value) -> str:
    """The guide encodes string values; other values (weight, tool_calls) as their JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def num_tokens_from_messages(messages: list[dict], encoding: str = "cl100k_base",
                             tokens_per_message: int = 3, tokens_per_name: int = 1) -> int:
    """Tokens of one conversation as the guide counts them.

    >>> num_tokens_from_messages([{"role": "user", "content": "hello world"}])
    9
    """
    enc = get_encoding(encoding)
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += tokens_per_message
        for key, value in message.items():
            total += len(enc.encode(_text(value)))
            if key == "name":
                total += tokens_per_name
    return total


def num_assistant_tokens(messages: list[dict], encoding: str = "cl100k_base") -> int:
    """Tokens of the assistant turns' content (the guide's ``num_assistant_tokens``)."""
    enc = get_encoding(encoding)
    return sum(len(enc.encode(m["content"] or "")) for m in messages if m["role"] == "assistant")


def default_epochs(n_examples: int) -> int:
    """The guide's default epochs for ``n_examples`` training rows.

    >>> default_epochs(5), default_epochs(50), default_epochs(1000), default_epochs(20000)
    (20, 3, 3, 1)
    """
    epochs = TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


def estimate(conversations: list[list[dict]], config: CostConfig | None = None) -> dict:
    """Token statistics and the hosted fine-tuning cost of ``conversations``.

    Returns ``{n_examples, encoding, tokens {min, max, mean, median}, assistant_tokens {...},
    n_too_long, billing_tokens_per_epoch, epochs, billed_tokens, price_per_million,
    cost_usd}``; token counts in tokens of ``config.encoding``, cost in USD. An empty list
    gives zeros.
    """
    config = config or CostConfig()
    lengths = [num_tokens_from_messages(m, config.encoding) for m in conversations]
    answers = [num_assistant_tokens(m, config.encoding) for m in conversations]
    per_epoch = sum(min(config.max_tokens_per_example, n) for n in lengths)
    epochs = config.epochs or (default_epochs(len(lengths)) if lengths else 0)
    billed = per_epoch * epochs
    return {"n_examples": len(lengths), "encoding": config.encoding,
            "tokens": _stats(lengths), "assistant_tokens": _stats(answers),
            "n_too_long": sum(n > config.max_tokens_per_example for n in lengths),
            "billing_tokens_per_epoch": per_epoch, "epochs": epochs, "billed_tokens": billed,
            "price_per_million": config.price_per_million,
            "cost_usd": round(billed * config.price_per_million / 1e6, 4)}


def _stats(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "max": 0, "mean": 0.0, "median": 0.0}
    return {"min": min(values), "max": max(values),
            "mean": round(statistics.fmean(values), 2), "median": statistics.median(values)}
