"""Validation: every check of one example, as findings with a stable code and severity.

Sources of the checks (``CODES``, from ``curation.codes``, lists each with its severity and
source):

- OpenAI's "Data preparation and analysis for chat model fine-tuning" notebook
  (openai-cookbook ``examples/Chat_finetuning_data_prep.ipynb``): its format errors
  ``data_type`` and ``missing_messages_list`` are ingest rejects (``not_an_object``,
  ``missing_field``: such a row never becomes an example), ``message_missing_key`` is an ingest
  reject too (``missing_field`` naming the key); ``message_unrecognized_key`` → ``unknown_key``,
  ``unrecognized_role`` → ``unknown_role``, ``missing_content`` → ``empty_content``,
  ``example_missing_assistant_message`` → ``missing_assistant``; its warnings: missing system
  → ``missing_system``, missing user → ``missing_user``, over its 16,385-token limit →
  ``openai_token_limit``.
- The base model's own chat template (``count_tokens``): ``too_many_tokens`` over
  ``max_seq_len``, ``no_trainable_tokens`` when no assistant token is left after templating
  and truncation, and ``template_error`` when the template cannot place an answer
  (``count_trainable``; training.data.encode_example). These two are the codes training
  excludes a row with, and ``max_seq_len`` defaults to training's (``MAX_SEQ_LEN``), so a row
  training would set aside is a finding here first.
- Role order: ``role_order``, ``trailing_user_turn``, ``tool_call_without_reply``.
- Text: ``whitespace_only`` turns, ``encoding_damage`` (ftfy.fix_encoding would change the
  text: mojibake), ``refusal`` and ``boilerplate`` answers, ``unsupported_language`` (``curation.language.uncovered_language``, which the PII scan uses
  too: langdetect says the row is not in a language the PII model covers).

Each finding names its row (the input line) and, where it concerns one turn, the message
index. Findings with severity ``error`` take the row out of the training set.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from curation.codes import CODES, NO_TRAINABLE_TOKENS, TEMPLATE_ERROR
from curation.language import detect_language, uncovered_language  # noqa: F401 (re-export)
from training.config import MAX_SEQ_LEN

SEVERITIES = ("info", "warning", "error")
KNOWN_ROLES = ("system", "user", "assistant", "tool", "function")  # the guide adds "function"
# The guide's known keys plus the current format's tool keys (tool_calls, tool_call_id).
KNOWN_KEYS = ("role", "content", "name", "function_call", "weight", "tool_calls",
              "tool_call_id")


# Phrases used to filter ShareGPT dumps (e.g. ShareGPT_Vicuna_unfiltered's optional_clean.py
# list) and AlpacaDataCleaned's refusal cleanup; matched case-insensitively in answers.
REFUSALS = (r"\bI(?:'m| am) sorry,? but I (?:can(?:no|')t|am unable|won't)",
            r"\bI can(?:no|')t (?:help|assist|fulfill|comply|provide) (?:with )?(?:that|this)",
            r"\bI(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)")
BOILERPLATE = (r"\bas an AI(?: language)? model\b", r"\bas a large language model\b",
               r"\bI(?:'m| am) an AI (?:language model|assistant) (?:developed|created|trained) by")


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

    max_seq_len: int = field(default=MAX_SEQ_LEN, metadata={
        "help": "Longest conversation in tokens (base model's chat template); longer is an "
                "error. The training run's max_seq_len (training.config.MAX_SEQ_LEN)."})
    openai_token_limit: int = field(default=16385, metadata={
        "help": "OpenAI's per-example limit (data-prep guide): longer rows are truncated there."})
    pii_languages: tuple = field(default=("en",), metadata={
        "help": "ISO 639-1 codes the PII model covers; rows detected as another are flagged."})
    min_language_chars: int = field(default=40, metadata={
        "help": "Latin-script rows with fewer letters (in distinct words) are too short to "
                "tell their language; not checked (curation.language.uncovered_language)."})
    check_language: bool = field(default=True, metadata={
        "help": "Run language detection (langdetect, ~ms per row)."})


def finding(index: int, code: str, text: str, message_index: int | None = None) -> Finding:
    """A Finding with the severity that ``CODES`` gives ``code``."""
    return Finding(index, code, CODES[code][0], text, message_index)


def _message_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    out = []
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        where = f"row {line}: message {i}"
        if role not in KNOWN_ROLES:
            out.append(finding(index, "unknown_role", f"{where} has unknown role '{role}'", i))
        unknown = sorted(k for k in message if k not in KNOWN_KEYS)
        if unknown:
            out.append(finding(index, "unknown_key", f"{where} has unknown key(s) "
                                                     f"{', '.join(unknown)}", i))
        if not content and not message.get("tool_calls") and not message.get("function_call"):
            out.append(finding(index, "empty_content", f"{where} ({role}) is empty", i))
        elif content and not content.strip():
            out.append(finding(index, "whitespace_only", f"{where} ({role}) is only whitespace",
                               i))
    return out


def _presence_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    if not messages:
        return [finding(index, "no_messages", f"row {line}: no messages")]
    roles = {m["role"] for m in messages}
    out = []
    if "system" not in roles:
        out.append(finding(index, "missing_system",
                           f"row {line}: no system message (the chat template adds its own)"))
    if "user" not in roles:
        out.append(finding(index, "missing_user", f"row {line}: no user message"))
    if "assistant" not in roles:
        out.append(finding(index, "missing_assistant",
                           f"row {line}: no assistant message to learn from"))
    return out


def _order_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    turns = [(i, m["role"]) for i, m in enumerate(messages)
             if m["role"] in ("user", "assistant", "tool")]  # a tool reply parts two answers
    out = []
    for (_, previous), (i, role) in zip(turns, turns[1:], strict=False):
        if role == previous:
            out.append(finding(index, "role_order",
                               f"row {line}: message {i} repeats role '{role}'", i))
    if turns and turns[-1][1] == "user" and any(r == "assistant" for _, r in turns):
        out.append(finding(index, "trailing_user_turn",
                           f"row {line}: ends with a user turn (ignored in training)",
                           turns[-1][0]))
    return out + _tool_findings(index, line, messages)


def _tool_findings(index: int, line: int, messages: list[dict]) -> list[Finding]:
    out = []
    for i, message in enumerate(messages):
        calls = message.get("tool_calls")
        if message["role"] != "assistant" or not isinstance(calls, list):
            continue
        answered = {m.get("tool_call_id") for m in messages[i + 1:] if m["role"] == "tool"}
        for call in calls:
            call_id = call.get("id") if isinstance(call, dict) else None
            if call_id not in answered:
                out.append(finding(index, "tool_call_without_reply",
                                   f"row {line}: message {i} calls tool {call_id!r} and no "
                                   "tool message answers it", i))
    return out


def check_schema(index: int, line: int, messages: list[dict]) -> list[Finding]:
    """All schema findings of one example (roles, keys, presence, order, empty content)."""
    return (_presence_findings(index, line, messages) + _message_findings(index, line, messages)
            + _order_findings(index, line, messages))


@functools.cache
def _patterns(kind: str) -> re.Pattern:
    return re.compile("|".join(REFUSALS if kind == "refusal" else BOILERPLATE), re.IGNORECASE)


def check_text(index: int, line: int, messages: list[dict]) -> list[Finding]:
    """Encoding damage in any turn; refusal and boilerplate in assistant turns."""
    import ftfy

    out = []
    for i, message in enumerate(messages):
        content = message["content"]
        if content and ftfy.fix_encoding(content) != content:
            out.append(finding(index, "encoding_damage", f"row {line}: message {i} looks like "
                               "mojibake (ftfy.fix_encoding would change it)", i))
        if message["role"] != "assistant":
            continue
        for code in ("refusal", "boilerplate"):
            if _patterns(code).search(content):
                out.append(finding(index, code, f"row {line}: message {i} is a {code} answer", i))
    return out


def check_language(index: int, line: int, messages: list[dict],
                   config: ValidateConfig) -> list[Finding]:
    """``unsupported_language`` when the row's text is in none of ``config.pii_languages``."""
    text = "\n".join(m["content"] for m in messages if m["role"] in ("user", "assistant"))
    found = uncovered_language(text, tuple(config.pii_languages), config.min_language_chars)
    if found is None:
        return []
    lang, prob = found
    return [finding(index, "unsupported_language",
                    f"row {line}: looks like '{lang}' (p={prob:.2f}); the PII model covers "
                    f"{', '.join(config.pii_languages)}")]


def check_length(index: int, line: int, n_tokens: int, max_seq_len: int) -> list[Finding]:
    """A ``too_many_tokens`` error when the templated conversation exceeds ``max_seq_len``."""
    if n_tokens <= max_seq_len:
        return []
    return [finding(index, "too_many_tokens",
                    f"row {line}: {n_tokens} tokens > max_seq_len {max_seq_len}")]


def check_trainable(index: int, line: int, messages: list[dict],
                    count_trainable: Callable[[list[dict]], int],
                    max_seq_len: int) -> list[Finding]:
    """``no_trainable_tokens`` when no assistant token is left after truncation to
    ``max_seq_len``, ``template_error`` when ``count_trainable`` raises ValueError (the chat
    template cannot place an answer): the rows training excludes, with training's codes.
    Rows without an assistant turn are ``missing_assistant`` instead."""
    if not any(m["role"] == "assistant" for m in messages):
        return []
    try:
        trainable = count_trainable(messages)
    except ValueError as exc:  # training.data.assistant_char_spans
        return [finding(index, TEMPLATE_ERROR, f"row {line}: 0 trainable assistant tokens "
                                               f"({exc})")]
    if trainable:
        return []
    return [finding(index, NO_TRAINABLE_TOKENS, f"row {line}: 0 trainable assistant tokens "
                                                f"(after truncation to max_seq_len "
                                                f"{max_seq_len})")]


def measure_tokens(tokenizer, messages: list[dict], max_seq_len: int) -> tuple:
    """(templated tokens, assistant tokens left after truncation to ``max_seq_len``) as
    training.data.measure counts them; the second is the ValueError when the template
    cannot place an answer, and both are None when the row cannot be templated at all
    (``check_schema`` reports that row)."""
    from training.data import measure, token_length

    try:
        return measure(tokenizer, messages, max_seq_len)
    except ValueError as exc:
        return token_length(tokenizer, messages), exc
    except Exception:  # a row the template refuses (e.g. an unknown role): schema reports it
        return None, None


def _counted(index: int, line: int, messages: list[dict], config: ValidateConfig,
             counters: dict[str, Callable]) -> list[Finding]:
    out = []
    if counters.get("count_tokens"):
        out += check_length(index, line, counters["count_tokens"](messages), config.max_seq_len)
    if counters.get("count_trainable"):
        out += check_trainable(index, line, messages, counters["count_trainable"],
                               config.max_seq_len)
    if counters.get("count_openai_tokens"):
        n = counters["count_openai_tokens"](messages)
        if n > config.openai_token_limit:
            out.append(finding(index, "openai_token_limit", f"row {line}: {n} tokens > "
                               f"OpenAI's limit {config.openai_token_limit}"))
    return out


def validate(examples: list[tuple[int, list[dict]]], config: ValidateConfig,
             count_tokens: Callable[[list[dict]], int] | None = None,
             count_trainable: Callable[[list[dict]], int] | None = None,
             count_openai_tokens: Callable[[list[dict]], int] | None = None) -> list[Finding]:
    """Validate ``examples`` given as (line, messages) pairs.

    Counters, each ``messages -> int``: ``count_tokens`` the base model's templated length,
    ``count_trainable`` the assistant tokens left after templating and truncation (may raise
    ValueError: counted as 0), ``count_openai_tokens`` the guide's count. They run only on
    rows whose schema has no error. Returns findings in input order.
    """
    counters = {"count_tokens": count_tokens, "count_trainable": count_trainable,
                "count_openai_tokens": count_openai_tokens}
    findings = []
    for index, (line, messages) in enumerate(examples):
        schema = check_schema(index, line, messages)
        findings += schema + check_text(index, line, messages)
        if config.check_language:
            findings += check_language(index, line, messages, config)
        if not any(f.severity == "error" for f in schema):
            findings += _counted(index, line, messages, config, counters)
    return findings
