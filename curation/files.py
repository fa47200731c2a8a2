"""File parsing for the readers: JSONL, JSON arrays, CSV/TSV, Parquet and a saved HF
``datasets`` folder → (line, row) pairs.

Files (UTF-8, a BOM is skipped; line = what a reject points at):

- JSONL: one object per line; line = file line. Lines break at \n, \r\n and \r only (not
  at U+2028 or U+0085 as ``str.splitlines`` does: JSON strings may hold those raw).
- JSON: an array of rows; line = 1-based position in the array.
- CSV / TSV (by suffix): a header row, then records; line = the physical line where the
  record starts (quoted cells may span lines). Cells are strings.
- Parquet (by suffix or magic bytes): line = 1-based row index.
- A folder written by ``datasets.Dataset.save_to_disk`` (its ``train`` split, or its only
  split, for a ``DatasetDict``): line = 1-based row index.
  In CSV and Parquet a null cell is an absent field, and ``messages`` / ``conversations``
  cells holding JSON text are decoded.

Whole-file problems raise InputError (missing, empty, binary, not UTF-8, a broken JSON
array or CSV, no recognizable row). Row problems are rejects with a stable reason:
``invalid_json``, ``too_deep``, ``invalid_unicode``, ``line_too_long``,
``wrong_field_count``, ``not_an_object``, ``missing_field``, ``wrong_type``, ``unknown_role``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from common.errors import InputError

MAX_LINE_CHARS = 16 * 2**20  # a JSONL line longer than this is a reject, not a 50 MB parse
MAX_DEPTH = 100  # nesting levels a row may have; chat rows need ~5, json crashes near 1000
JSON_COLUMNS = ("messages", "conversations")  # CSV/Parquet cells that may hold JSON text
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
PARQUET_MAGIC = b"PAR1"

_DECODER = json.JSONDecoder()
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_JSON_WS = re.compile(r"[ \t\r\n]*")
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|[^\s"\[\]{},:]+')
_PY_DICT = re.compile(r"\s*(\[\s*)?\{\s*'")  # {'a': ... or [{'a': ... (Python's repr)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class RowError(ValueError):
    """A row that cannot be mapped; ``code`` is the stable reject reason."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Reject:
    """One unreadable row: where it was, the reason code and a human-readable detail."""

    line: int
    reason: str
    detail: str
    raw: str = ""


# --- Parsing: JSON values that the workbench can hold ------------------------------------

def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _checked(value: Any, text: str) -> Any:
    """Refuse what json accepts but the store cannot hold: deep nesting, lone surrogates.

    The text tests are cheap filters (C speed), so the exact checks run on few rows.
    """
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise RowError("too_deep", f"nested more than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise RowError("invalid_unicode",
                           "a string holds a lone surrogate (an unpaired \\u escape)") from None
    return value


def _json_error(text: str, exc: json.JSONDecodeError) -> str:
    if _PY_DICT.match(text):
        return "not JSON (looks like a Python dict: use double quotes)"
    return f"not valid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def loads_row(text: str) -> Any:
    """``json.loads`` whose every failure is a RowError: invalid_json, too_deep, invalid_unicode.

    >>> loads_row("{'a': 1}")
    Traceback (most recent call last):
    curation.formats.RowError: invalid_json: not JSON (looks like a Python dict: use double quotes)
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError("invalid_json", _json_error(text, exc)) from None
    except RecursionError:  # json's C parser gives up near sys.getrecursionlimit() levels
        raise RowError("too_deep", f"nested more than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer beyond Python's 4300-digit int/str limit
        raise RowError("invalid_json", f"not valid JSON: {str(exc).split(':')[0]}") from None
    return _checked(value, text)


# --- Files: bytes → text ------------------------------------------------------------------

def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text without its BOM; InputError for UTF-16, binary, non-UTF-8 or blank files."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{path}: UTF-16 text, not UTF-8 (save it as UTF-8)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{path}: binary file (NUL byte at offset {nul}), not UTF-8 text")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:  # offsets count from the file start, BOM included
        raise InputError(f"{path}: not UTF-8 text (byte {bom + exc.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


# --- JSONL and JSON arrays ----------------------------------------------------------------

def _parse_jsonl(text: str) -> tuple[list[tuple[int, Any]], list[Reject]]:
    rows, rejects = [], []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip(" \t"):
            continue
        if len(line) > MAX_LINE_CHARS:
            rejects.append(Reject(number, "line_too_long", f"{len(line):,} characters, over "
                                  f"the {MAX_LINE_CHARS:,} a row may have", line[:500]))
            continue
        try:  # a BOM may start any line of concatenated files
            rows.append((number, loads_row(line.lstrip("\ufeff"))))
        except RowError as exc:
            rejects.append(Reject(number, exc.code, exc.detail, line[:500]))
    return rows, rejects


def _where(text: str, pos: int) -> str:
    """"line L, column C" of ``pos``, counted as json's own errors count them."""
    line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
    return f"line {line}, column {column}"


def _skip_value(path: Path, text: str, pos: int) -> int:
    """End of the JSON value at ``pos``, by matching brackets (for values json cannot decode)."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text, pos):
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(token.group(), 0)
        if depth <= 0:
            return token.end()
    raise InputError(f"{path}: not valid JSON: the element at {_where(text, pos)} never ends")


def _element(path: Path, text: str, pos: int) -> tuple[Any, int]:
    """Decode the array element at ``pos``: (value, end), or (RowError, end) for a bad one.

    A syntax error is an InputError naming line and column: nothing after it can be trusted.
    """
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except (RecursionError, ValueError):
        end = _skip_value(path, text, pos)
        try:
            return loads_row(text[pos:end]), end  # the same failure, as a RowError
        except RowError as exc:
            return exc, end
    try:
        return _checked(value, text[pos:end]), end
    except RowError as exc:
        return exc, end


def _skip_comma(path: Path, text: str, pos: int) -> int:
    if not text.startswith(",", pos):
        raise InputError(f"{path}: not valid JSON at {_where(text, pos)}: Expecting ',' or ']'")
    return _JSON_WS.match(text, pos + 1).end()


def _parse_json_array(path: Path, text: str) -> tuple[list, list[Reject]] | None:
    """Rows of a JSON array, element by element (line = 1-based position in the array).

    None when the array closes on its first line and more follows: that is JSONL whose
    first row is an array.
    """
    rows, rejects, number = [], [], 0
    opening = text.index("[")
    pos = _JSON_WS.match(text, opening + 1).end()
    while not text.startswith("]", pos):
        pos = _skip_comma(path, text, pos) if number else pos
        number += 1
        value, end = _element(path, text, pos)
        if isinstance(value, RowError):
            rejects.append(Reject(number, value.code, value.detail, text[pos:end][:500]))
        else:
            rows.append((number, value))
        pos = _JSON_WS.match(text, end).end()
    rest = _JSON_WS.match(text, pos + 1).end()
    if rest == len(text):
        return rows, rejects
    if not _LINE_BREAK.search(text, opening, pos):
        return None
    raise InputError(f"{path}: not valid JSON: data after the array at {_where(text, rest)}")


def _refuse_single_object(path: Path, text: str) -> None:
    """A pretty-printed object (``{"data": [...]}``) read as JSONL would be a heap of rejects."""
    try:
        value = json.loads(text)  # on real JSONL this stops after the first line
    except (ValueError, RecursionError):
        return
    if isinstance(value, dict) and _LINE_BREAK.search(text.strip()):
        raise InputError(f"{path}: the file holds one object over several lines; expected a "
                         "JSON array of rows or one row per line (JSONL)")


def _parse_json(path: Path, text: str) -> tuple[list, list[Reject]]:
    first = text.lstrip(" \t\r\n")[:1]
    if first == "[":
        parsed = _parse_json_array(path, text)
        if parsed is not None:
            return parsed
    elif first == "{":
        _refuse_single_object(path, text)
    return _parse_jsonl(text)


# --- CSV and Parquet: records of columns --------------------------------------------------

def _raw(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)[:500]


def _columns(path: Path, names: list[str]) -> list[str]:
    duplicates = [name for name, count in Counter(names).items() if count > 1]
    if duplicates:
        raise InputError(f"{path}: duplicate column '{duplicates[0]}'")
    return names


def _columns_row(cells: dict) -> dict:
    """A record as a row: a null cell is an absent field; JSON_COLUMNS text is decoded."""
    row = {key: value for key, value in cells.items() if value is not None}
    for key in JSON_COLUMNS:
        if not isinstance(row.get(key), str):
            continue
        if not row[key].strip():
            del row[key]
            continue
        try:
            row[key] = loads_row(row[key])
        except RowError as exc:
            raise RowError(exc.code, f"column '{key}': {exc.detail}") from None
    return row


def _column_rows(records: Iterable[tuple[int, Any]],
                 to_row: Callable[[Any], dict]) -> tuple[list, list[Reject]]:
    rows, rejects = [], []
    for line, record in records:
        try:
            rows.append((line, to_row(record)))
        except RowError as exc:
            rejects.append(Reject(line, exc.code, exc.detail, _raw(record)))
    return rows, rejects


def _csv_records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on (quoted newlines span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for record in reader:
            if record:
                yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:  # e.g. a cell over csv.field_size_limit() (131072 characters)
        raise InputError(f"{path}: not valid CSV at line {start}: {exc}") from None


def _csv_row(header: list[str], record: list[str]) -> dict:
    if len(record) != len(header):
        raise RowError("wrong_field_count", f"{len(record)} fields, the header has {len(header)}")
    return _columns_row(dict(zip(header, record)))


def _parse_csv(path: Path, text: str, delimiter: str) -> tuple[list, list[Reject]]:
    """CSV/TSV with a header row; every cell is a string (the csv module infers no types)."""
    records = _csv_records(path, text, delimiter)
    header = _columns(path, [name.strip() for name in next(records, (1, []))[1]])
    return _column_rows(records, lambda record: _csv_row(header, record))


def _jsonable(record: dict) -> dict:
    """Parquet values JSON cannot hold (timestamps, decimals, bytes) as their ``str()``."""
    return json.loads(json.dumps(record, default=str))


def _parse_parquet(path: Path) -> tuple[list, list[Reject]]:
    """Parquet rows batch by batch (line = 1-based row index); the schema is the file's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        _columns(path, parquet.schema_arrow.names)
        records = (r for batch in parquet.iter_batches() for r in batch.to_pylist())
        return _column_rows(enumerate(records, start=1), lambda r: _columns_row(_jsonable(r)))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from None


def _hf_table(path: Path):
    """The Arrow table of a saved HF dataset (a DatasetDict's ``train`` or only split)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise InputError(f"{path}: a folder, but not one saved by datasets' save_to_disk "
                         f"({str(exc).splitlines()[0][:200]})") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if "train" not in loaded and len(names) != 1:
            raise InputError(f"{path}: a DatasetDict with splits {', '.join(names)} and no "
                             "'train' split; point at one split's folder")
        loaded = loaded["train" if "train" in loaded else names[0]]
    return loaded.data.table


def _parse_hf_folder(path: Path) -> tuple[list, list[Reject]]:
    """Rows of a saved HF ``datasets`` folder (line = 1-based row index)."""
    table = _hf_table(path)
    _columns(path, table.column_names)
    records = (r for batch in table.to_batches() for r in batch.to_pylist())
    return _column_rows(enumerate(records, start=1), lambda r: _columns_row(_jsonable(r)))


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as f:
        return path.suffix.lower() == ".parquet" or f.read(4) == PARQUET_MAGIC


def parse_rows(path: Path) -> tuple[list[tuple[int, Any]], list[Reject]]:
    """Read a JSONL, JSON array, CSV/TSV, Parquet file or saved HF dataset folder into
    (line, row) pairs plus rejects.

    Raises InputError for whole-file problems: missing, empty, binary, not UTF-8, a broken
    JSON array or CSV, an unreadable Parquet file. A bad row is a Reject.
    """
    if path.is_dir():
        return _parse_hf_folder(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty")
        if _is_parquet(path):
            return _parse_parquet(path)
        data = path.read_bytes()
    except OSError as exc:  # unreadable: permissions, a device, a vanished file
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    text = _decode(path, data)
    delimiter = CSV_DELIMITERS.get(path.suffix.lower())
    return _parse_csv(path, text, delimiter) if delimiter else _parse_json(path, text)
