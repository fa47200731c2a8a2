"""Hostile input for the readers: whatever the file, read_file either raises one clean
InputError (a whole-file problem) or accounts for every input line as an example or a reject.

Property tests (hypothesis) generate the files; the named tests pin each behaviour the
properties found or the readers promise. Budget: a few seconds in total on 2 cores.
"""

import csv
import io
import json
import math
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.files import MAX_DEPTH
from curation.formats import FORMATS, from_alpaca, read_file
from tests.conftest import write_jsonl
from common.errors import InputError

ALPACA = {"instruction": "Add 2 and 3.", "input": "", "output": "5"}
ALPACA_LINE = json.dumps(ALPACA)
PY_HINT = "not JSON (looks like a Python dict: use double quotes)"
REASONS = {"invalid_json", "too_deep", "invalid_unicode", "line_too_long", "not_an_object", "missing_field",
           "wrong_type", "unknown_role", "wrong_field_count"}
# tmp_path is reused across examples on purpose: each example overwrites its one file.
FAST = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# Characters that break naive readers: str.splitlines() breaks lines at \x0b \x0c \x1c-\x1e
# \x85 \u2028 \u2029; a JSON string may hold \x85 \u2028 \u2029 raw.
TRICKY = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff'\"{}[]\\,:\t "
text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r\n")
               | st.sampled_from(TRICKY), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3),
    max_leaves=8)


def dumps(value) -> str:
    r"""Like a careless writer: raw non-ASCII (\u2028, \x85 ...), NaN and Infinity allowed."""
    return json.dumps(value, ensure_ascii=False)


def alpaca_messages(row: dict) -> list[dict]:
    return from_alpaca(row)[0]


def nested(depth: int) -> str:
    """An object whose value is nested ``depth`` levels deep in all (the object included)."""
    return '{"a": ' + "[" * (depth - 1) + "0" + "]" * (depth - 1) + "}"


def physical_lines(data: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", data)


def lines_of(result) -> list[int]:
    return sorted([e.line for e in result.examples] + [r.line for r in result.rejects])


def assert_storable(result):
    """What the store needs: string roles and contents, everything encodable as UTF-8."""
    for example in result.examples:
        assert all(isinstance(m["role"], str) and isinstance(m["content"], str)
                   for m in example.messages)
        json.dumps([example.messages, example.meta], ensure_ascii=False).encode("utf-8")
    for reject in result.rejects:
        assert reject.reason in REASONS
        (reject.detail + reject.raw).encode("utf-8")


def read_or_input_error(path, fmt="auto"):
    """The invariant: a clean InputError, or a result that accounts for its rows."""
    try:
        result = read_file(path, fmt)
    except InputError as exc:
        assert str(exc)
        return None
    assert len(set(lines_of(result))) == result.rows_in
    assert_storable(result)
    return result


# --- JSONL: a line kind is (text, expectation) ----------------------------------------

valid_rows = st.fixed_dictionaries({"instruction": text, "output": text},
                                   optional={"input": text, "score": json_values})
wrong_types = st.builds(lambda field, value: {**ALPACA, field: value},
                        st.sampled_from(["instruction", "input", "output"]),
                        json_values.filter(lambda v: not isinstance(v, (str, type(None)))))
other_formats = st.sampled_from([
    {"instruction": "q", "context": "c", "response": "r", "category": "open_qa"},
    {"conversations": [{"from": "human", "value": "hi"}]},
    {"messages": [{"role": "user", "content": "hi"}]},
    {"prompt": "p", "completion": "c"}])
line_kinds = st.one_of(
    valid_rows.map(lambda r: (dumps(r), ("example", alpaca_messages(r)))),
    wrong_types.map(lambda r: (dumps(r), ("reject", "wrong_type"))),
    other_formats.map(lambda r: (dumps(r), ("reject", "missing_field"))),
    st.builds(repr, valid_rows).map(lambda s: (s, ("reject", "invalid_json", PY_HINT))),
    st.integers(1, 3000).map(lambda d: (nested(d),
                                        ("reject", "too_deep" if d > MAX_DEPTH
                                         else "missing_field"))),
    st.sampled_from([
        ('{"instruction": "a", "output": NaN}', ("reject", "wrong_type")),
        ('{"instruction": "a", "output": null}', ("reject", "missing_field")),
        ('{"instruction": "a", "output": -Infinity}', ("reject", "wrong_type")),
        ('{"instruction": "a", "output": "b", "n": ' + "9" * 5000 + "}",
         ("reject", "invalid_json")),
        ('{"instruction": "\\ud800", "output": "b"}', ("reject", "invalid_unicode")),
        ('{"instruction": "a", "output": "\\ud83d\\ude00"}',
         ("example", alpaca_messages({"instruction": "a", "output": "\U0001F600"}))),
        ("\ufeff" + ALPACA_LINE, ("example", alpaca_messages(ALPACA))),
        ("", ("blank",)), ("  \t", ("blank",)),
    ]),
    st.integers(10**4, 3 * 10**5).map(lambda n: (dumps({**ALPACA, "output": "x" * n}),
                                                 ("example", None))),
    json_values.map(lambda v: (dumps(v), ("any",))),
    text.map(lambda s: (s, ("any",))),
)


@FAST
@given(kinds=st.lists(line_kinds, max_size=25), ending=st.sampled_from(["\n", "\r\n", "\r"]),
       bom=st.booleans())
def test_every_jsonl_line_is_an_example_or_a_reject_at_its_own_line(tmp_path, kinds, ending,
                                                                    bom):
    kinds = [(ALPACA_LINE, ("example", alpaca_messages(ALPACA)))] + kinds
    path = tmp_path / "hostile.jsonl"
    path.write_bytes((("\ufeff" if bom else "") + ending.join(t for t, _ in kinds)).encode())
    result = read_or_input_error(path, fmt="alpaca")
    examples = {e.line: e for e in result.examples}
    rejects = {r.line: r for r in result.rejects}
    for line, (_, expected) in enumerate(kinds, start=1):
        if expected[0] == "example":
            assert line in examples and (expected[1] is None
                                         or examples[line].messages == expected[1])
        elif expected[0] == "reject":
            assert rejects[line].reason == expected[1]
            assert len(expected) == 2 or rejects[line].detail == expected[2]
        elif expected[0] == "blank":
            assert line not in examples and line not in rejects
        elif line not in examples and line not in rejects:
            assert not kinds[line - 1][0].strip(" \t")  # random text may be blank


SUFFIXES = st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".parquet"])


@FAST
@given(data=st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"PAR1" + b),
       suffix=SUFFIXES)
def test_random_bytes_give_an_input_error_or_a_result(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    read_or_input_error(path)


@FAST
@given(data=st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from(TRICKY + "\r\n"),
                    max_size=200), suffix=SUFFIXES)
def test_random_text_gives_an_input_error_or_a_result(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data.encode())
    result = read_or_input_error(path)
    jsonl = suffix == ".jsonl" and not data.lstrip(" \t\r\n\ufeff").startswith("[")
    if result is not None and jsonl:
        blank = [n for n, s in enumerate(physical_lines(data), 1) if not s.strip(" \t")]
        assert set(lines_of(result)).isdisjoint(blank)


@FAST
@given(rows=st.lists(json_values, max_size=8), fmt=st.sampled_from(list(FORMATS)),
       bom=st.booleans())
def test_jsonl_of_any_json_values_with_a_forced_format_never_crashes(tmp_path, rows, fmt, bom):
    path = tmp_path / "values.jsonl"
    path.write_bytes((("\ufeff" if bom else "") + "\n".join(map(dumps, [ALPACA] + rows))).encode())
    result = read_or_input_error(path, fmt)
    assert lines_of(result) == [n for n, v in enumerate([ALPACA] + rows, 1)
                                if dumps(v).strip(" \t")]


# --- JSON arrays ----------------------------------------------------------------------

elements = st.one_of(json_values.map(dumps), st.integers(1, 3000).map(nested),
                     st.sampled_from(["NaN", "9" * 5000, '{"n": -' + "9" * 5000 + "}",
                                      '"\\udfff"', ALPACA_LINE]))


@FAST
@given(items=st.lists(elements, max_size=10), fmt=st.sampled_from(list(FORMATS)),
       separator=st.sampled_from([",", ",\n", " ,\r\n  "]))
def test_every_json_array_element_is_an_example_or_a_reject(tmp_path, items, fmt, separator):
    path = tmp_path / "values.json"
    items = [ALPACA_LINE] + items
    path.write_bytes(("\ufeff[\n" + separator.join(items) + "\n]\n").encode())
    result = read_or_input_error(path, fmt)
    assert lines_of(result) == list(range(1, len(items) + 1))


@FAST
@given(field=st.sampled_from(["instruction", "output", "context", "response", "prompt",
                              "completion", "messages", "conversations"]),
       value=json_values, fmt=st.sampled_from(list(FORMATS)))
def test_any_value_in_any_field_is_an_example_or_a_named_reject(tmp_path, field, value, fmt):
    row = {"instruction": "i", "output": "o", "context": "c", "response": "r", "prompt": "p",
           "completion": "c", "messages": [{"role": "user", "content": "u"}],
           "conversations": [{"from": "human", "value": "h"}], field: value}
    for turns in ("messages", "conversations"):
        rows = [row, {**row, turns: [value]}, {**row, turns: [{"role": value, "content": value,
                                                              "from": value, "value": value}]}]
        result = read_or_input_error(write_jsonl(tmp_path / "t.jsonl", rows), fmt)
        assert lines_of(result) == [1, 2, 3]


# --- CSV and Parquet properties -------------------------------------------------------

cell = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
               | st.sampled_from(TRICKY + "\r\n"), max_size=10)


@FAST
@given(records=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=8),
       dialect=st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]))
def test_every_csv_record_is_read_at_the_line_where_it_starts(tmp_path, records, dialect):
    # csv.writer leaves a lone \r unquoted when the terminator is \n: QUOTE_ALL then.
    header = ["instruction", "input", "output"]
    chunks = []
    for record in [header, ["a", "", "b"]] + records:
        out = io.StringIO()
        csv.writer(out, lineterminator=dialect[0], quoting=dialect[1]).writerow(record)
        chunks.append(out.getvalue())
    path = tmp_path / "hostile.csv"
    path.write_bytes("".join(chunks).encode())
    result = read_or_input_error(path)
    examples = {e.line: e for e in result.examples}
    rejects = {r.line: r for r in result.rejects}
    line = len(physical_lines(chunks[0]))  # the line after the header
    for chunk, record in zip(chunks[1:], [["a", "", "b"]] + records):
        if len(record) == 3:
            row = dict(zip(header, record))
            assert examples[line].messages == alpaca_messages(row)
        else:
            assert rejects[line].reason == "wrong_field_count"
        line += len(physical_lines(chunk)) - 1
    assert result.rows_in == len(records) + 1


@FAST
@given(rows=st.lists(st.tuples(st.none() | cell, st.none() | cell), min_size=1, max_size=30),
       group=st.integers(1, 8))
def test_every_parquet_row_is_read_at_its_index_across_row_groups(tmp_path, rows, group):
    table = pa.table({"instruction": [r[0] for r in rows], "output": [r[1] for r in rows]},
                     schema=pa.schema([("instruction", pa.string()), ("output", pa.string())]))
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=group)
    result = read_file(path, "alpaca")
    assert lines_of(result) == list(range(1, len(rows) + 1))
    for line, (instruction, output) in enumerate(rows, start=1):
        if instruction is not None and output is not None:
            assert line in {e.line for e in result.examples}
        else:
            assert (line, "missing_field") in {(r.line, r.reason) for r in result.rejects}


# --- Whole-file problems: one clean InputError ----------------------------------------

def test_binary_file_is_one_input_error_naming_the_nul_byte(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(ALPACA_LINE.encode() + b"\n\x00\x01\x02")
    with pytest.raises(InputError, match=r"binary file \(NUL byte at offset 60\)"):
        read_file(path)


def test_utf16_file_is_named_as_utf16(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes(ALPACA_LINE.encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16 text, not UTF-8"):
        read_file(path)


def test_non_utf8_byte_offset_counts_from_the_start_of_the_file_even_after_a_bom(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ALPACA_LINE.encode() + b"\n{\"instruction\": \"caf\xe9\"}")
    with pytest.raises(InputError, match=r"not UTF-8 text \(byte 83\)"):
        read_file(path)


def test_json_array_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a" "output"}\n]')
    with pytest.raises(InputError, match="not valid JSON at line 3, column 23: Expecting ','"):
        read_file(path)


def test_json_array_with_data_after_it_names_where(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(f"[\n{ALPACA_LINE}\n]\n{ALPACA_LINE}\n")
    with pytest.raises(InputError, match="data after the array at line 4, column 1"):
        read_file(path)


def test_unterminated_json_array_names_where_it_ends(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(f"[\n{ALPACA_LINE},\n")
    with pytest.raises(InputError, match="at line 3, column 1"):
        read_file(path)


def test_json_file_holding_one_object_over_several_lines_is_an_input_error(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{\n  "data": [\n' + ALPACA_LINE + "\n  ]\n}\n")
    with pytest.raises(InputError, match="holds one object over several lines"):
        read_file(path)


# --- Row problems: a reject with a stable reason --------------------------------------

def test_python_dict_repr_line_is_rejected_with_a_double_quotes_hint(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, repr(ALPACA)])
    reject = read_file(path).rejects[0]
    assert (reject.line, reject.reason) == (2, "invalid_json")
    assert reject.detail == PY_HINT
    assert reject.raw == repr(ALPACA)


def test_line_nested_ten_thousand_levels_is_a_too_deep_reject(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, "[" * 10_000 + "]" * 10_000, ALPACA])
    result = read_file(path)
    assert [e.line for e in result.examples] == [1, 3]
    assert [(r.line, r.reason, r.detail) for r in result.rejects] == [
        (2, "too_deep", f"nested more than {MAX_DEPTH} levels")]


def test_nesting_is_limited_to_max_depth_levels(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, nested(MAX_DEPTH), nested(MAX_DEPTH + 1)])
    result = read_file(path)
    assert MAX_DEPTH == 100
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "missing_field"), (3, "too_deep")]


def test_json_array_element_nested_too_deep_is_a_reject_and_the_rest_is_read(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(f'[{ALPACA_LINE}, {"[" * 10_000 + "]" * 10_000}, {nested(200)}, {ALPACA_LINE}]')
    result = read_file(path)
    assert [e.line for e in result.examples] == [1, 4]
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "too_deep"), (3, "too_deep")]


def test_utf8_bom_at_the_start_of_jsonl_and_json_files_is_accepted(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"\xef\xbb\xbf" + ALPACA_LINE.encode() + b"\n")
    (tmp_path / "a.json").write_bytes(b"\xef\xbb\xbf[" + ALPACA_LINE.encode() + b"]")
    for name in ("a.jsonl", "a.json"):
        result = read_file(tmp_path / name)
        assert ([e.line for e in result.examples], result.rejects) == ([1], [])


def test_bom_inside_concatenated_jsonl_files_is_accepted(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ALPACA_LINE.encode() + b"\n\xef\xbb\xbf"
                     + ALPACA_LINE.encode())
    assert [e.line for e in read_file(path).examples] == [1, 2]


def test_crlf_and_cr_line_endings_keep_file_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(f"{ALPACA_LINE}\r\n\r\n{{broken\r{ALPACA_LINE}\r\n".encode())
    result = read_file(path)
    assert [e.line for e in result.examples] == [1, 4]
    assert [(r.line, r.reason) for r in result.rejects] == [(3, "invalid_json")]


def test_unicode_line_separators_inside_strings_do_not_split_lines(tmp_path):
    row = {"instruction": "a\u2028b\x85c\u2029d", "output": "e\x1cf"}
    path = tmp_path / "a.jsonl"
    path.write_text(dumps(row) + "\n" + "{broken\n" + ALPACA_LINE + "\n", encoding="utf-8")
    result = read_file(path)
    assert [e.line for e in result.examples] == [1, 3]
    assert result.examples[0].messages[0]["content"] == "a\u2028b\x85c\u2029d"
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "invalid_json")]


def test_nan_in_a_text_field_is_wrong_type_and_in_meta_is_kept(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", ['{"instruction": "a", "output": NaN}',
                                              '{"instruction": "a", "output": "b", "s": Infinity}'])
    result = read_file(path)
    assert [(r.line, r.reason, r.detail) for r in result.rejects] == [
        (1, "wrong_type", "alpaca: field 'output' is float, expected string")]
    assert math.isinf(result.examples[0].meta["s"])


def test_integer_beyond_pythons_digit_limit_is_invalid_json(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, '{"n": ' + "9" * 5000 + "}"])
    reject = read_file(path).rejects[0]
    assert (reject.line, reject.reason) == (2, "invalid_json")
    assert "4300 digits" in reject.detail


def test_lone_surrogate_escape_is_rejected_as_invalid_unicode(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, '{"instruction": "x\\udc80", "output": "y"}'])
    reject = read_file(path).rejects[0]
    assert (reject.line, reject.reason) == (2, "invalid_unicode")
    assert reject.detail == "a string holds a lone surrogate (an unpaired \\u escape)"


def test_very_long_line_is_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{**ALPACA, "output": "x" * 5_000_000}])
    assert len(read_file(path).examples[0].messages[1]["content"]) == 5_000_000


def test_jsonl_whose_first_line_is_an_array_is_read_as_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [[1, 2], ALPACA])
    result = read_file(path)
    assert [e.line for e in result.examples] == [2]
    assert [(r.line, r.reason) for r in result.rejects] == [(1, "not_an_object")]


# --- CSV ------------------------------------------------------------------------------

def write_csv(path, rows: list[list[str]], delimiter=",") -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def test_csv_alpaca_rows_are_numbered_by_the_line_where_the_record_starts(tmp_path):
    path = write_csv(tmp_path / "a.csv", [["instruction", "input", "output"],
                                          ["Add\n2 and 3.", "", "5"], ["Say hi.", "", "hi"]])
    result = read_file(path)
    assert result.format == "alpaca"
    assert [e.line for e in result.examples] == [2, 4]
    assert result.examples[0].messages[0]["content"] == "Add\n2 and 3."


def test_csv_header_after_a_bom_is_read(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbfprompt,completion\r\nHi,Hello\r\n")
    example = read_file(path).examples[0]
    assert (example.line, example.messages[1]["content"]) == (2, "Hello")


def test_csv_messages_column_holding_json_is_decoded(tmp_path):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    path = write_csv(tmp_path / "a.csv", [["messages", "source"], [json.dumps(messages), "web"]])
    result = read_file(path)
    assert result.format == "openai"
    assert (result.examples[0].messages, result.examples[0].meta) == (messages, {"source": "web"})


def test_csv_messages_column_with_python_repr_is_rejected_with_a_hint(tmp_path):
    messages = [{"role": "user", "content": "Hi"}]
    path = write_csv(tmp_path / "a.csv", [["messages"], [json.dumps(messages)], [repr(messages)]])
    result = read_file(path)
    assert [(r.line, r.reason, r.detail) for r in result.rejects] == [
        (3, "invalid_json",
         "column 'messages': not JSON (looks like a Python dict: use double quotes)")]


def test_csv_sharegpt_conversations_column_is_decoded(tmp_path):
    turns = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]
    path = write_csv(tmp_path / "s.csv", [["conversations"], [json.dumps(turns)]])
    result = read_file(path)
    assert result.format == "sharegpt"
    assert [m["role"] for m in result.examples[0].messages] == ["user", "assistant"]


def test_csv_record_with_the_wrong_number_of_fields_is_rejected(tmp_path):
    path = write_csv(tmp_path / "a.csv", [["prompt", "completion"], ["p", "c"], ["p", "c", "x"],
                                          ["p"]])
    result = read_file(path)
    assert [(r.line, r.reason, r.detail) for r in result.rejects] == [
        (3, "wrong_field_count", "3 fields, the header has 2"),
        (4, "wrong_field_count", "1 fields, the header has 2")]


def test_csv_empty_cells_in_the_first_rows_do_not_hide_a_column(tmp_path):
    rows = [["instruction", "context", "response", "category"]]
    rows += [["Who?", "", "Ada.", ""]] * 3 + [["Who?", "Ada wrote it.", "Ada.", "closed_qa"]]
    result = read_file(write_csv(tmp_path / "d.csv", rows))
    assert result.format == "dolly"
    assert result.examples[3].messages[0]["content"] == "Who?\n\nAda wrote it."
    assert result.examples[3].meta == {"category": "closed_qa"}


def test_csv_with_a_duplicate_column_is_an_input_error(tmp_path):
    path = write_csv(tmp_path / "a.csv", [["prompt", "prompt", "completion"], ["a", "b", "c"]])
    with pytest.raises(InputError, match="duplicate column 'prompt'"):
        read_file(path)


def test_csv_cell_over_the_csv_module_limit_is_an_input_error_naming_the_line(tmp_path):
    path = write_csv(tmp_path / "a.csv", [["prompt", "completion"], ["p", "c"],
                                          ["p", "x" * 200_000]])
    default = csv.field_size_limit(131_072)  # the csv module's default; a library may raise it
    try:
        with pytest.raises(InputError, match=r"not valid CSV at line 3: field larger than "
                                             r"field limit \(131072\)"):
            read_file(path)
    finally:
        csv.field_size_limit(default)


def test_tsv_is_read_with_tabs(tmp_path):
    path = write_csv(tmp_path / "a.tsv", [["prompt", "completion"], ["a, b", "c"]], "\t")
    assert read_file(path).examples[0].messages[0]["content"] == "a, b"


# --- Parquet --------------------------------------------------------------------------

def test_parquet_messages_as_list_of_structs_are_read_by_row_index(tmp_path):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    pq.write_table(pa.table({"messages": [messages, [{"role": "user", "content": None}]]}),
                   tmp_path / "m.parquet")
    result = read_file(tmp_path / "m.parquet")
    assert (result.format, [e.line for e in result.examples]) == ("openai", [1])
    assert result.examples[0].messages == messages
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "wrong_type")]


def test_parquet_json_string_column_is_decoded(tmp_path):
    turns = json.dumps([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}])
    pq.write_table(pa.table({"conversations": [turns, "[[[", ""]}), tmp_path / "s.parquet")
    result = read_file(tmp_path / "s.parquet")
    assert [e.line for e in result.examples] == [1]
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "invalid_json"),
                                                            (3, "missing_field")]


def test_parquet_column_null_for_the_first_row_groups_is_still_read(tmp_path):
    table = pa.table({"instruction": ["q"] * 5, "response": ["r"] * 5,
                      "context": [None] * 4 + ["ctx"], "category": [None] * 4 + ["qa"]})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=2)
    result = read_file(tmp_path / "d.parquet")
    assert result.examples[0].meta == {}
    assert (result.examples[4].line, result.examples[4].meta) == (5, {"category": "qa"})
    assert result.examples[4].messages[0]["content"] == "q\n\nctx"


def test_parquet_null_cell_in_a_required_column_is_missing_field(tmp_path):
    pq.write_table(pa.table({"prompt": ["p", None], "completion": ["c", "c"]}),
                   tmp_path / "p.parquet")
    assert [(r.line, r.reason) for r in read_file(tmp_path / "p.parquet").rejects] == [
        (2, "missing_field")]


def test_parquet_values_that_json_cannot_hold_become_strings_in_meta(tmp_path):
    import datetime
    table = pa.table({"prompt": ["p"], "completion": ["c"],
                      "at": [datetime.datetime(2024, 1, 2, 3, 4, 5)], "blob": [b"\x00\xff"]})
    pq.write_table(table, tmp_path / "p.parquet")
    assert read_file(tmp_path / "p.parquet").examples[0].meta == {
        "at": "2024-01-02 03:04:05", "blob": "b'\\x00\\xff'"}


def test_parquet_is_recognised_by_its_magic_bytes_whatever_the_suffix(tmp_path):
    pq.write_table(pa.table({"prompt": ["p"], "completion": ["c"]}), tmp_path / "p.data")
    assert read_file(tmp_path / "p.data").format == "prompt_completion"


def test_corrupt_parquet_is_an_input_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + b"\x01" * 64 + b"PAR1")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_file(tmp_path / "bad.parquet")
