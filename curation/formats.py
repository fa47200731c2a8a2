"""Readers: instruction-tuning files in common formats → OpenAI-style ``messages`` + ``meta``.

Every input row ends up either as an :class:`Example` or as a :class:`Reject` with its line
number and a reason code, so ``rows_in == len(examples) + len(rejects)`` always holds.

Formats (``FORMATS``), each a function ``row -> (messages, meta)`` that raises
:class:`RowError` with a reason code when the row does not fit:

- ``openai``: ``{"messages": [{"role", "content", "name"?, "weight"?, "tool_calls"?,
  "tool_call_id"?}, ...]}`` (OpenAI chat fine-tuning format; role ``tool`` too; a null
  ``content`` beside ``tool_calls`` reads as "")
- ``sharegpt``: ``{"system"?, "conversations": [{"from": human|user|gpt|assistant|system,
  "value"}, ...]}``; any other ``from`` rejects the row
- ``alpaca``: ``{"instruction", "input"?, "output", "system"?}`` (Stanford Alpaca; a missing,
  null or empty ``input`` all read the same)
- ``dolly``: ``{"instruction", "context", "response", "category"}`` (databricks-dolly-15k)
- ``prompt_completion``: ``{"prompt", "completion"}`` (OpenAI legacy fine-tuning format)
- ``oasst``: an OpenAssistant message tree ``{"message_tree_id", "prompt": {"text", "role":
  prompter|assistant, "replies": [...]}}`` flattened along the best-ranked path

A row's other fields become its ``meta`` (a ``meta`` object's fields are lifted beside
them). Files are parsed by :mod:`curation.files` (JSONL, JSON, CSV/TSV, Parquet, a saved HF
``datasets`` folder). A :class:`Mapping` renames columns and roles before a row is read.

Whole-file problems raise InputError (missing, empty, binary, not UTF-8, a broken JSON
array or CSV, no recognizable row). Row problems are rejects with a stable reason:
``invalid_json``, ``too_deep``, ``invalid_unicode``, ``line_too_long``, ``wrong_field_count``,
``not_an_object``, ``missing_field``, ``wrong_type``, ``unknown_role``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from curation.files import Reject, RowError, parse_rows
from common.errors import InputError

__all__ = ["Example", "Reject", "ReadResult", "RowError", "Mapping", "FORMATS", "read_file",
           "parse_rows"]

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "system": "system"}
OASST_ROLES = {"prompter": "user", "assistant": "assistant"}
MESSAGE_KEYS = ("role", "content")  # every other key of an OpenAI message is kept as given


@dataclass(frozen=True)
class Example:
    """One readable row. ``line`` is 1-based; ``messages`` is a list of {role, content, ...}."""

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


@dataclass(frozen=True)
class Mapping:
    """Renames applied to every row before it is read (CLI ``--column a=b --role x=y``).

    ``columns`` maps a file's column to the name a format expects (``{"question":
    "instruction"}``); ``roles`` maps a turn's role (``role`` or ``from``) to a known one
    (``{"bot": "assistant"}``).
    """

    columns: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, columns: list[str] = (), roles: list[str] = ()) -> "Mapping":
        """From ``["old=new", ...]`` pairs; InputError naming a pair without ``=``."""
        return cls(_pairs(columns, "column"), _pairs(roles, "role"))

    def apply(self, row: Any) -> Any:
        """``row`` with its keys and turn roles renamed (a non-object row is returned as is).

        >>> Mapping({"q": "prompt"}, {"bot": "assistant"}).apply(
        ...     {"q": "x", "messages": [{"role": "bot", "content": "y"}]})
        {'prompt': 'x', 'messages': [{'role': 'assistant', 'content': 'y'}]}
        """
        if not isinstance(row, dict) or not (self.columns or self.roles):
            return row
        row = {self.columns.get(k, k): v for k, v in row.items()}
        for key, role_key in (("messages", "role"), ("conversations", "from")):
            if self.roles and isinstance(row.get(key), list):
                row[key] = [{**t, role_key: self.roles.get(t.get(role_key), t.get(role_key))}
                            if isinstance(t, dict) and _hashable(t.get(role_key)) else t
                            for t in row[key]]
        return row


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None)))


def _pairs(items, what: str) -> dict:
    out = {}
    for item in items or ():
        old, sep, new = str(item).partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InputError(f"--{what} {item!r}: expected OLD=NEW")
        out[old.strip()] = new.strip()
    return out


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
    """The row's fields other than ``used``; a ``meta`` object's fields are lifted to the top
    (``{"meta": {"category": "qa"}}`` gives ``{"category": "qa"}``, as ``category`` beside
    ``messages`` would), a top-level field winning over a ``meta`` field of the same name."""
    extra = {k: v for k, v in row.items() if k not in used}
    nested = extra.get("meta")
    if isinstance(nested, dict) and all(isinstance(k, str) for k in nested):
        extra.pop("meta")
        extra = {**nested, **extra}
    return extra


def _join(first: str, second: str) -> str:
    return f"{first}\n\n{second}" if second.strip() else first


def _system(row: dict) -> list[dict]:
    """A top-level ``system`` field (ShareGPT, Alpaca variants) as the first message."""
    text = _text(row, "system", required=False)
    return [{"role": "system", "content": text}] if text else []


def _openai_message(i: int, message: Any) -> dict:
    if not isinstance(message, dict):
        raise RowError("wrong_type", f"messages[{i}] is not an object")
    missing = [k for k in MESSAGE_KEYS if k not in message
               and not (k == "content" and message.get("tool_calls"))]
    if missing:  # the guide's message_missing_key
        raise RowError("missing_field", f"messages[{i}] has no '{missing[0]}'")
    role, content = message.get("role"), message.get("content")
    if content is None and message.get("tool_calls"):
        content = ""  # an assistant turn that only calls tools
    if not isinstance(role, str) or not isinstance(content, str):
        raise RowError("wrong_type", f"messages[{i}] needs string 'role' and 'content'")
    extra = {k: v for k, v in message.items() if k not in MESSAGE_KEYS and v is not None}
    return {"role": role, "content": content, **extra}


def from_openai(row: dict) -> tuple[list[dict], dict]:
    """Map an OpenAI chat row; roles and extra keys (name, weight, tool_calls, tool_call_id)
    are kept as given, null ones dropped (validation judges them)."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise RowError("missing_field", "field 'messages' is missing or not a list")
    return [_openai_message(i, m) for i, m in enumerate(messages)], _meta(row, {"messages"})


def from_sharegpt(row: dict) -> tuple[list[dict], dict]:
    """Map a ShareGPT row (``from`` human/user/gpt/assistant/system, optional top-level
    ``system``); an unknown ``from`` rejects the row."""
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise RowError("missing_field", "field 'conversations' is missing or not a list")
    out = _system(row)
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise RowError("wrong_type", f"conversations[{i}] needs a string 'value'")
        role = SHAREGPT_ROLES.get(str(turn.get("from", "")).lower())
        if role is None:
            raise RowError("unknown_role", f"conversations[{i}].from = {turn.get('from')!r}")
        out.append({"role": role, "content": turn["value"]})
    return out, _meta(row, {"conversations", "system"})


def from_alpaca(row: dict) -> tuple[list[dict], dict]:
    """Map an Alpaca row; a missing, null or empty ``input`` all mean no input."""
    prompt = _join(_text(row, "instruction"), _text(row, "input", required=False))
    messages = _system(row) + [{"role": "user", "content": prompt},
                               {"role": "assistant", "content": _text(row, "output")}]
    return messages, _meta(row, {"instruction", "input", "output", "system"})


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


def _best_reply(replies: list) -> dict | None:
    """The reply with the lowest ``rank`` (0 = best, by OpenAssistant's ranking); deleted
    replies are skipped; unranked ones come after ranked ones, in file order."""
    live = [(i, r) for i, r in enumerate(replies)
            if isinstance(r, dict) and not r.get("deleted")]
    ranked = sorted(live, key=lambda p: (not isinstance(p[1].get("rank"), int),
                                         p[1].get("rank") if isinstance(p[1].get("rank"), int)
                                         else 0, p[0]))
    return ranked[0][1] if ranked else None


def from_oasst(row: dict) -> tuple[list[dict], dict]:
    """Flatten an OpenAssistant message tree along its best-ranked path (root prompt, then
    at each node the rank-0 live reply). Meta keeps the tree id and the root's ``lang``."""
    node = row.get("prompt")
    if not isinstance(node, dict):
        raise RowError("missing_field", "field 'prompt' is missing or not a message tree")
    out, depth = [], 0
    while node is not None:
        role = OASST_ROLES.get(node.get("role"))
        if role is None:
            raise RowError("unknown_role", f"message at depth {depth}: role = {node.get('role')!r}")
        out.append({"role": role, "content": _text(node, "text")})
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise RowError("wrong_type", f"message at depth {depth}: 'replies' is not a list")
        node, depth = _best_reply(replies), depth + 1
    meta = _meta(row, {"prompt"})
    if isinstance(row["prompt"].get("lang"), str):
        meta["lang"] = row["prompt"]["lang"]
    return out, meta


FORMATS: dict[str, Callable[[dict], tuple[list[dict], dict]]] = {
    "openai": from_openai,
    "sharegpt": from_sharegpt,
    "alpaca": from_alpaca,
    "dolly": from_dolly,
    "prompt_completion": from_prompt_completion,
    "oasst": from_oasst,
}

# Keys that identify a format, most specific first (Dolly before Alpaca: both have
# "instruction"; OpenAssistant before prompt/completion: both have "prompt").
SIGNATURES = [
    ("openai", {"messages"}),
    ("sharegpt", {"conversations"}),
    ("dolly", {"instruction", "response"}),
    ("alpaca", {"instruction", "output"}),
    ("oasst", {"message_tree_id", "prompt"}),
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


def _unknown_shape(rows: list[tuple[int, Any]]) -> str:
    keys = sorted({k for _, row in rows[:1000] if isinstance(row, dict) for k in row})[:8]
    seen = f"rows have keys {', '.join(keys)}" if keys else "rows are not objects"
    return (f"unrecognized format: {seen}; expected one of: {accepted_formats()} "
            "(rename columns: --column OLD=NEW, or Rename columns on the Datasets page)")


def detect_format(rows: list[tuple[int, Any]]) -> str:
    """Pick the format most rows match, counting every row (so neither row order nor a
    sample size can change the answer); ties go to the more specific signature.

    Raises InputError naming the keys seen and the accepted formats when no row matches.
    """
    votes = {name: 0 for name, _ in SIGNATURES}
    for _, row in rows:
        name = guess_row_format(row)
        if name:
            votes[name] += 1
    best = max(votes, key=lambda name: votes[name])  # max keeps the first of equal counts
    if votes[best] == 0:
        raise InputError(_unknown_shape(rows))
    return best


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


def _no_rows(path: Path, rejects: list[Reject]) -> InputError:
    if not rejects:
        return InputError(f"{path}: no readable row")
    first = rejects[0]
    return InputError(f"{path}: no readable row ({len(rejects)} malformed; line {first.line}: "
                      f"{first.reason}: {first.detail})")


def read_file(path: str | Path, fmt: str = "auto", mapping: Mapping | None = None) -> ReadResult:
    """Read ``path`` in format ``fmt`` (``auto`` detects it from all rows), after renaming
    columns and roles with ``mapping``.

    Raises InputError for a whole-file problem (see :func:`parse_rows`), an unknown ``fmt``
    or an unrecognized format; never for a single bad row (that row becomes a Reject).
    """
    path = Path(path)
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'; accepted: auto, {accepted_formats()}")
    rows, rejects = parse_rows(path)
    if not rows:
        raise _no_rows(path, rejects)
    if mapping:
        rows = [(line, mapping.apply(row)) for line, row in rows]
    try:
        fmt = detect_format(rows) if fmt == "auto" else fmt
    except InputError as exc:  # name the file, and the lines that did not even parse
        first = rejects[0] if rejects else None
        malformed = (f"; {len(rejects)} other line(s) malformed (line {first.line}: "
                     f"{first.reason}: {first.detail})" if first else "")
        raise InputError(f"{path}: {exc}{malformed}") from None
    examples, more = map_rows(rows, fmt)
    rejects = sorted(rejects + more, key=lambda r: r.line)
    return ReadResult(str(path), fmt, examples, rejects)
