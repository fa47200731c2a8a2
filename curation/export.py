"""Export: curated rows (``messages`` + ``meta``) → the files the readers take back.

``EXPORTS`` names each target; ``read_file(export(rows))`` gives the same messages and meta
back (tests/test_export_roundtrip.py), except what a format cannot hold:

- ``openai``: JSONL, ``{"messages": [...], **meta}``; a tool-calling turn with empty content
  is written with ``"content": null`` as OpenAI's format has it. ``include_meta=False``
  writes ``messages`` alone (what OpenAI's upload expects).
- ``alpaca``: a JSON array of ``{"instruction", "input": "", "output", "system"?, **meta}``;
  only rows that are [system] user assistant with plain {role, content} turns.
- ``sharegpt``: a JSON array of ``{"conversations": [{"from": system|human|gpt, "value"}],
  **meta}``; rows with tool turns or extra message keys are skipped.
- ``parquet`` and ``hf`` (a ``datasets.save_to_disk`` folder): a ``messages`` column of
  list<struct> and one column per meta key. The Arrow schema is built from every row (a key
  that appears only on the last row is a column; rows without it hold null, which reads back
  as absent). A meta key whose values mix types is stored as JSON text.

A skipped row is reported with its index and the reason; nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.errors import InputError
from common.files import open_new

PLAIN_KEYS = {"role", "content"}
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


@dataclass(frozen=True)
class Skipped:
    """A row the target format cannot hold: its 0-based index and why."""

    index: int
    reason: str


def _extra_keys(messages: list[dict]) -> list[str]:
    return sorted({k for m in messages for k in m if k not in PLAIN_KEYS})


def openai_record(messages: list[dict], meta: dict, include_meta: bool = True) -> dict:
    """``{"messages", **meta}``; a tool-calling turn's empty content is written as null."""
    out = [{**m, "content": None} if m.get("tool_calls") and m["content"] == "" else m
           for m in messages]
    return {"messages": out, **(meta if include_meta else {})}


def alpaca_record(messages: list[dict], meta: dict) -> dict:
    """``{"instruction", "input": "", "output", "system"?, **meta}``. Raises ValueError naming why the row is not a single Alpaca exchange."""
    if _extra_keys(messages):
        raise ValueError(f"message keys {', '.join(_extra_keys(messages))} have no Alpaca field")
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
    rest = messages[1:] if system is not None else messages
    if [m["role"] for m in rest] != ["user", "assistant"] or system == "":
        raise ValueError("not one user turn and one assistant turn (Alpaca holds one exchange)")
    record = {"instruction": rest[0]["content"], "input": "", "output": rest[1]["content"]}
    return {**record, **({"system": system} if system is not None else {}), **meta}


def sharegpt_record(messages: list[dict], meta: dict) -> dict:
    """``{"conversations": [{"from", "value"}], **meta}``. Raises ValueError for tool turns or extra message keys."""
    if _extra_keys(messages):
        raise ValueError(f"message keys {', '.join(_extra_keys(messages))} have no ShareGPT field")
    unknown = sorted({m["role"] for m in messages} - SHAREGPT_FROM.keys())
    if unknown:
        raise ValueError(f"role(s) {', '.join(unknown)} have no ShareGPT 'from'")
    turns = [{"from": SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in messages]
    return {"conversations": turns, **meta}


def to_records(rows: list[dict], fmt: str,
               include_meta: bool = True) -> tuple[list[dict], list[Skipped]]:
    """Records of target ``fmt`` for ``rows`` ({messages, meta}); rows it cannot hold are
    Skipped. Parquet and hf take the same records as openai, without nulling content."""
    records, skipped = [], []
    for index, row in enumerate(rows):
        meta = row.get("meta") or {}
        try:
            if fmt == "alpaca":
                records.append(alpaca_record(row["messages"], meta))
            elif fmt == "sharegpt":
                records.append(sharegpt_record(row["messages"], meta))
            elif fmt == "openai":
                records.append(openai_record(row["messages"], meta, include_meta))
            else:
                records.append({"messages": row["messages"], **meta})
        except ValueError as exc:
            skipped.append(Skipped(index, str(exc)))
    return records, skipped


def _column(values: list):
    """An Arrow array typed from every value; mixed types fall back to JSON text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False)
                         for v in values], pa.string())


def arrow_table(records: list[dict]):
    """One Arrow table from dict records; columns are the union of every record's keys, in
    first-seen order (never only the first record's keys, as ``Table.from_pylist`` does)."""
    import pyarrow as pa

    names = list(dict.fromkeys(k for record in records for k in record))
    return pa.table({name: _column([r.get(name) for r in records]) for name in names})


def write(records: list[dict], fmt: str, path: Path, overwrite: bool = False) -> None:
    """Write ``records`` to ``path`` in ``fmt`` (a file, or a folder for ``hf``).

    Never through a symbolic link at ``path``, and over an existing file or folder only with
    ``overwrite`` (``common.files.open_new``); raises InputError otherwise.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        import datasets

        if path.is_symlink() or (path.exists() and not overwrite):
            open_new(path, overwrite)  # raises the same message a file would get
        datasets.Dataset(arrow_table(records)).save_to_disk(str(path))
        return
    with open_new(path, overwrite, binary=True) as handle:
        handle.write(encode(records, fmt))


def encode(records: list[dict], fmt: str) -> bytes:
    """The file ``write`` would write for ``fmt``, as bytes (UTF-8 JSON Lines, indented JSON
    or Parquet). Raises InputError for "hf", a folder of files, and an unknown format."""
    if fmt == "openai":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if fmt in ("alpaca", "sharegpt"):
        return json.dumps(records, ensure_ascii=False, indent=1).encode()
    if fmt == "parquet":
        import io

        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(arrow_table(records), buffer)
        return buffer.getvalue()
    raise InputError(f"the {fmt} export is a folder, not one file: write it to a path instead"
                     if fmt == "hf" else f"unknown export format '{fmt}'")


EXPORTS = {"openai": ".jsonl", "alpaca": ".json", "sharegpt": ".json", "parquet": ".parquet",
           "hf": ""}


def file_name(version_id: str, fmt: str) -> str:
    """The export's file (or folder) name: ``<version>-<format><extension>``, so alpaca and
    sharegpt files of one version do not share a name.

    >>> file_name("3f9c2a1b", "sharegpt"), file_name("3f9c2a1b", "hf")
    ('3f9c2a1b-sharegpt.json', '3f9c2a1b-hf')
    """
    return f"{version_id}-{fmt}{EXPORTS[fmt]}"


def export_bytes(rows: list[dict], fmt: str, include_meta: bool = True) -> tuple[bytes, dict]:
    """``rows`` ({messages, meta}) as the bytes of one ``fmt`` file, for a download, and
    ``{format, written, skipped: [{index, reason}]}``. Raises InputError as ``export`` does,
    and for "hf" (a folder)."""
    if fmt not in EXPORTS:
        raise InputError(f"unknown export format '{fmt}'; accepted: {', '.join(EXPORTS)}")
    records, skipped = to_records(rows, fmt, include_meta)
    if not records and rows:
        raise InputError(f"no row fits the {fmt} format (first reason: {skipped[0].reason})")
    return encode(records, fmt), {"format": fmt, "written": len(records), "skipped": [
        {"index": s.index, "reason": s.reason} for s in skipped]}


def export(rows: list[dict], fmt: str, path: str | Path, include_meta: bool = True,
           overwrite: bool = False) -> dict:
    """Write ``rows`` ({messages, meta}) to ``path`` as ``fmt`` (one of ``EXPORTS``).

    Returns ``{format, path, written, skipped: [{index, reason}]}``. Raises InputError for
    an unknown format, when no row fits it, or when ``path`` is a symbolic link or exists
    and ``overwrite`` is False.
    """
    if fmt not in EXPORTS:
        raise InputError(f"unknown export format '{fmt}'; accepted: {', '.join(EXPORTS)}")
    records, skipped = to_records(rows, fmt, include_meta)
    if not records and rows:
        raise InputError(f"no row fits the {fmt} format (first reason: {skipped[0].reason})")
    write(records, fmt, Path(path), overwrite)
    return {"format": fmt, "path": str(path), "written": len(records),
            "skipped": [{"index": s.index, "reason": s.reason} for s in skipped]}
