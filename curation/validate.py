"""Validation: schema checks and token length of each example, as findings.

Checks follow OpenAI's "Chat fine-tuning data prep" guide (openai-cookbook,
``examples/Chat_finetuning_data_prep.ipynb``): missing system message (info), missing user
message, missing assistant message, unknown role, missing/empty content, and the token limit.
Token length is measured with the base model's own chat template (``count_tokens``), against
``max_seq_len``. Findings with severity ``error`` take the row out of the training set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from curation.formats import ROLES

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """One validation finding: stable ``code``, ``severity`` and a message naming the row."""

    index: int           # position of the example in the input list (0-based)
    code: str
    severity: str
    message: str
    message_index: int | None = None


@dataclass
class ValidateConfig:
    """Validation settings."""

    max_seq_len: int = field(default=2048, metadata={
        "help": "Longest conversation in tokens (base model's chat template); longer is an error."})


def _role_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    out = []
    for i, message in enumerate(messages):
        if message["role"] not in ROLES:
            out.append(Finding(index, "unknown_role", "error",
                               f"row {line}: message {i} has unknown role "
                               f"'{message['role']}'", i))
        elif not message["content"].strip():
            out.append(Finding(index, "empty_content", "error",
                               f"row {line}: message {i} ({message['role']}) is empty", i))
    return out


def _presence_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    roles = [m["role"] for m in messages]
    out = []
    if not messages:
        return [Finding(index, "no_messages", "error", f"row {line}: no messages")]
    if "system" not in roles:
        out.append(Finding(index, "missing_system", "info",
                           f"row {line}: no system message (the chat template adds its own)"))
    if "user" not in roles:
        out.append(Finding(index, "missing_user", "error", f"row {line}: no user message"))
    if "assistant" not in roles:
        out.append(Finding(index, "missing_assistant", "error",
                           f"row {line}: no assistant message to learn from"))
    return out


def _order_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    turns = [(i, m["role"]) for i, m in enumerate(messages) if m["role"] != "system"]
    out = []
    for (_, previous), (i, role) in zip(turns, turns[1:]):
        if role == previous:
            out.append(Finding(index, "role_order", "warning",
                               f"row {line}: message {i} repeats role '{role}'", i))
    if turns and turns[-1][1] == "user" and any(r == "assistant" for _, r in turns):
        out.append(Finding(index, "trailing_user_turn", "warning",
                           f"row {line}: ends with a user turn (ignored in training)",
                           turns[-1][0]))
    return out


def check_schema(index: int, line: int, messages: list[dict]) -> list[Finding]:
    """All schema findings of one example (roles, presence, order, empty content)."""
    return (_presence_findings(index, line, messages) + _role_findings(index, line, messages)
            + _order_findings(index, line, messages))


def check_length(index: int, line: int, n_tokens: int, max_seq_len: int) -> list[Finding]:
    """A ``too_many_tokens`` error when the templated conversation exceeds ``max_seq_len``."""
    if n_tokens <= max_seq_len:
        return []
    return [Finding(index, "too_many_tokens", "error",
                    f"row {line}: {n_tokens} tokens > max_seq_len {max_seq_len}")]


def validate(examples: list[tuple[int, list[dict]]], config: ValidateConfig,
             count_tokens: Callable[[list[dict]], int] | None = None) -> list[Finding]:
    """Validate ``examples`` given as (line, messages) pairs.

    ``count_tokens(messages) -> int`` measures the templated length; the length check runs
    only on rows whose schema is sound and when a counter is given. Returns findings in
    input order.
    """
    findings = []
    for index, (line, messages) in enumerate(examples):
        schema = check_schema(index, line, messages)
        findings += schema
        if count_tokens and not any(f.severity == "error" for f in schema):
            findings += check_length(index, line, count_tokens(messages), config.max_seq_len)
    return findings
