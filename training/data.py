"""Chat-template encoding with assistant-only labels, and prompt/reference splitting.

Training and generation both go through the tokenizer's own chat template
(``apply_chat_template``), so they see the same text: SmolLM2's template inserts a default
system prompt when a conversation has none, and both sides get it.

Assistant spans. SmolLM2's template has no ``{% generation %}`` markers, so
``return_assistant_tokens_mask`` cannot be used. Instead each assistant turn ``i`` is located
by rendering prefixes: ``render(messages[:i], add_generation_prompt=True)`` ends where the
turn's content starts, and ``render(messages[:i + 1])`` with trailing whitespace stripped ends
just after its closing ``<|im_end|>``. Tokens whose start offset (``offset_mapping``) lies in
such a span are labelled. Labels never go by pad id: SmolLM2's pad token *is* ``<|im_end|>``.
"""

from __future__ import annotations

import sys

IGNORE_INDEX = -100  # label value skipped by torch.nn.CrossEntropyLoss (its ignore_index)


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The conversation as text through the tokenizer's chat template."""
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def render_prompt(tokenizer, prompt_messages: list[dict]) -> str:
    """Prompt text for generation: the template with the assistant header appended."""
    return render(tokenizer, prompt_messages, add_generation_prompt=True)


def token_length(tokenizer, messages: list[dict]) -> int:
    """Number of tokens of the full templated conversation (no extra special tokens).

    Equals ``len(encode_example(...)["input_ids"])`` before truncation.
    """
    return len(tokenizer(render(tokenizer, messages), add_special_tokens=False)["input_ids"])


def assistant_char_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """Full templated text and the ``[start, end)`` char span of every assistant turn.

    A span covers the turn's content and its closing end-of-turn token (``<|im_end|>``), not
    the newline the template writes after it. Raises ``ValueError`` when a rendered prefix is
    not a prefix of the full text (e.g. a conversation that starts with an assistant turn,
    where SmolLM2's template puts the default system prompt before it).
    """
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if i == 0:
            raise ValueError("turn 0: a conversation cannot open with an assistant turn")
        head = render(tokenizer, messages[:i], add_generation_prompt=True)
        upto = render(tokenizer, messages[: i + 1]).rstrip()
        if not (text.startswith(upto) and upto.startswith(head)):
            raise ValueError(f"turn {i}: chat template prefix is not stable, cannot find answer")
        spans.append((len(head), len(upto)))
    return text, spans


def label_tokens(
    input_ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    """Labels: the token id where the token starts inside a span, else ``IGNORE_INDEX``.

    >>> label_tokens([5, 6, 7], [(0, 2), (2, 4), (4, 6)], [(2, 6)])
    [-100, 6, 7]
    """
    return [
        token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
        for token, (begin, _) in zip(input_ids, offsets, strict=True)
    ]


def encode_example(tokenizer, messages: list[dict], max_seq_len: int) -> dict:
    """Tokenize a conversation with assistant-only labels, truncated to ``max_seq_len``.

    Returns ``{"input_ids": [int], "labels": [int]}`` of equal length (<= max_seq_len);
    labels are the token ids on assistant content and each assistant turn's closing
    ``<|im_end|>``, ``-100`` elsewhere (system, user, role headers, newlines). Labels are not
    shifted: the model shifts them. Needs a fast tokenizer (offset mapping). Raises
    ``ValueError`` as ``assistant_char_spans`` does.
    """
    text, spans = assistant_char_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoded["input_ids"])
    labels = label_tokens(input_ids, encoded["offset_mapping"], spans)
    return {"input_ids": input_ids[:max_seq_len], "labels": labels[:max_seq_len]}


def measure(tokenizer, messages: list[dict], max_seq_len: int) -> tuple[int, int]:
    """(templated tokens before truncation, labelled tokens within the first ``max_seq_len``).

    The second is what training keeps a row for (``encode_example``'s labels, cut at
    ``max_seq_len``): 0 means training excludes the row. Raises ``ValueError`` as
    ``assistant_char_spans`` does.
    """
    labels = encode_example(tokenizer, messages, sys.maxsize)["labels"]
    return len(labels), sum(label != IGNORE_INDEX for label in labels[:max_seq_len])


def prompt_and_reference(messages: list[dict]) -> tuple[list[dict], str]:
    """Split a conversation for evaluation: turns before the last assistant turn, its content.

    >>> prompt_and_reference([{"role": "user", "content": "Hi"},
    ...                       {"role": "assistant", "content": "Hello"}])
    ([{'role': 'user', 'content': 'Hi'}], 'Hello')

    Raises ``ValueError`` when there is no assistant turn.
    """
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "assistant":
            return list(messages[:index]), messages[index]["content"]
    raise ValueError("conversation has no assistant turn")
