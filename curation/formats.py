"""Readers: instruction-tuning files in common formats → OpenAI-style ``messages`` + ``meta``.

Every input row ends up either as an :class:`Example` or as a :class:`Reject` with its line
number and a reason code, so ``rows_in == len(examples) + len(rejects)`` always holds.

Formats (``FORMATS``), each a function ``row -> (messages, meta)`` that raises
:class:`RowError` with a reason code when the row does not fit:

- ``openai``: ``{"messages": [{"role", "content"}, ...]}`` (OpenAI chat fine-tuning format)
- ``sharegpt``: ``{"conversations": [{"from": human|gpt|system, "value"}, ...]}``
- ``alpaca``: ``{"instruction", "input", "output"}`` (Stanford Alpaca; empty input omitted)
- ``dolly``: ``{"instruction", "context", "response", "category"}`` (databricks-dolly-15k)
- ``prompt_completion``: ``{"prompt", "completion"}`` (OpenAI legacy fine-tuning format)

Files are parsed by :mod:`curation.files` (JSONL, JSON, CSV/TSV, Parquet).

Whole-file problems raise InputError (missing, empty, binary, not UTF-8, a broken JSON
array or CSV, no recognizable row). Row problems are rejects with a stable reason:
``invalid_json``, ``too_deep``, ``invalid_unicode``, ``wrong_field_count``,
``not_an_object``, ``missing_field``, ``wrong_type``, ``unknown_role``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from curation.files import Reject, RowError, parse_rows
from workbench.errors import InputError

__all__ = ["Example", "Reject", "ReadResult", "RowError", "FORMATS", "read_file", "parse_rows"]

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "system": "system"}
DETECT_SAMPLE = 200  # rows looked at by auto-detection; misfits later are rejected per row


@dataclass(frozen=True)
class Example:
    """One readable row. ``line`` is 1-based; ``messages`` is a list of {role, content}."""

    line: int
    messages: list[dict]
    meta: dict = field(default_factory=dict)


@dataclass
class ReadResult:
    """Output of :func:`read_file`: the detected format, examples and rejects."""

    path: str
    format: str
    examples: list[Example]
    rejects: list[Reject]

    @property
    def rows_in(self) -> int:
        return len(self.examples) + len(self.rejects)


def _text(row: dict, key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None:
        if required:
            raise RowError("missing_field", f"field '{key}' is missing")
        return ""
    if not isinstance(value, str):
        raise RowError("wrong_type", f"field '{key}' is {type(value).__name__}, expected string")
    return value


def _meta(row: dict, used: set[str]) -> dict:
    return {k: v for k, v in row.items() if k not in used}


def _join(first: str, second: str) -> str:
    return f"{first}\n\n{second}" if second.strip() else first


def from_openai(row: dict) -> tuple[list[dict], dict]:
    """Map an OpenAI chat row; roles are kept as given (validation judges them)."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise RowError("missing_field", "field 'messages' is missing or not a list")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RowError("wrong_type", f"messages[{i}] is not an object")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise RowError("wrong_type", f"messages[{i}] needs string 'role' and 'content'")
        out.append({"role": role, "content": content})
    return out, _meta(row, {"messages"})


def from_sharegpt(row: dict) -> tuple[list[dict], dict]:
    """Map a ShareGPT row (``from`` human/gpt/system); an unknown ``from`` rejects the row."""
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise RowError("missing_field", "field 'conversations' is missing or not a list")
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise RowError("wrong_type", f"conversations[{i}] needs a string 'value'")
        role = SHAREGPT_ROLES.get(str(turn.get("from", "")).lower())
        if role is None:
            raise RowError("unknown_role", f"conversations[{i}].from = {turn.get('from')!r}")
        out.append({"role": role, "content": turn["value"]})
    return out, _meta(row, {"conversations"})


def from_alpaca(row: dict) -> tuple[list[dict], dict]:
    """Map an Alpaca row; a missing, null or empty ``input`` all mean no input."""
    prompt = _join(_text(row, "instruction"), _text(row, "input", required=False))
    messages = [{"role": "user", "content": prompt},
                {"role": "assistant", "content": _text(row, "output")}]
    return messages, _meta(row, {"instruction", "input", "output"})


def from_dolly(row: dict) -> tuple[list[dict], dict]:
    """Map a Dolly row: context follows the instruction; ``category`` goes to meta."""
    prompt = _join(_text(row, "instruction"), _text(row, "context", required=False))
    messages = [{"role": "user", "content": prompt},
                {"role": "assistant", "content": _text(row, "response")}]
    return messages, _meta(row, {"instruction", "context", "response"})


def from_prompt_completion(row: dict) -> tuple[list[dict], dict]:
    """Map a prompt/completion row onto one user and one assistant turn."""
    messages = [{"role": "user", "content": _text(row, "prompt")},
                {"role": "assistant", "content": _text(row, "completion")}]
    return messages, _meta(row, {"prompt", "completion"})


FORMATS: dict[str, Callable[[dict], tuple[list[dict], dict]]] = {
    "openai": from_openai,
    "sharegpt": from_sharegpt,
    "alpaca": from_alpaca,
    "dolly": from_dolly,
    "prompt_completion": from_prompt_completion,
}

# Keys that identify a format, most specific first (Dolly before Alpaca: both have
# "instruction").
SIGNATURES = [
    ("openai", {"messages"}),
    ("sharegpt", {"conversations"}),
    ("dolly", {"instruction", "response"}),
    ("alpaca", {"instruction", "output"}),
    ("prompt_completion", {"prompt", "completion"}),
]


def accepted_formats() -> str:
    """The accepted format names, for error messages."""
    return ", ".join(FORMATS)


def guess_row_format(row: Any) -> str | None:
    """Return the format whose signature keys ``row`` has, or None."""
    if not isinstance(row, dict):
        return None
    return next((name for name, keys in SIGNATURES if keys <= row.keys()), None)


def detect_format(rows: list[tuple[int, Any]]) -> str:
    """Pick the format most rows (of the first ``DETECT_SAMPLE``) match.

    Raises InputError naming the accepted formats when no row matches any.
    """
    votes = Counter(guess_row_format(row) for _, row in rows[:DETECT_SAMPLE])
    votes.pop(None, None)
    if not votes:
        raise InputError(f"unrecognized format: no row matches any of: {accepted_formats()}")
    return votes.most_common(1)[0][0]


def map_rows(rows: list[tuple[int, Any]], fmt: str) -> tuple[list[Example], list[Reject]]:
    """Map parsed rows with one format; rows that do not fit become rejects."""
    reader = FORMATS[fmt]
    examples, rejects = [], []
    for line, row in rows:
        try:
            if not isinstance(row, dict):
                raise RowError("not_an_object", f"row is {type(row).__name__}, not an object")
            messages, meta = reader(row)
            examples.append(Example(line, messages, meta))
        except RowError as exc:
            raw = json.dumps(row, ensure_ascii=False)[:500]
            rejects.append(Reject(line, exc.code, f"{fmt}: {exc.detail}", raw))
    return examples, rejects


def read_file(path: str | Path, fmt: str = "auto") -> ReadResult:
    """Read ``path`` in format ``fmt`` (``auto`` detects it from the rows).

    Raises InputError for a whole-file problem (see :func:`parse_rows`), an unknown ``fmt``
    or an unrecognized format; never for a single bad row (that row becomes a Reject).
    """
    path = Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; accepted: auto, {accepted_formats()}")
    rows, rejects = parse_rows(path)
    if not rows:
        raise InputError(f"{path}: no readable row ({len(rejects)} malformed)")
    fmt = detect_format(rows) if fmt == "auto" else fmt
    examples, more = map_rows(rows, fmt)
    rejects = sorted(rejects + more, key=lambda r: r.line)
    return ReadResult(str(path), fmt, examples, rejects)
