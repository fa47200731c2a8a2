"""import(export(x)) == x for every export format, and the version id / diff rules."""

import json

import pytest

from curation.export import EXPORTS, arrow_table, export
from curation.formats import read_file
from curation.versions import diff, version_id
from common.errors import InputError

SYSTEM = {"role": "system", "content": "Answer briefly."}
PLAIN = [
    {"messages": [SYSTEM, {"role": "user", "content": "2 + 2?"},
                  {"role": "assistant", "content": "4."}], "meta": {"category": "math"}},
    {"messages": [{"role": "user", "content": "Ünïcode ✓ line\u2028sep \"quoted\""},
                  {"role": "assistant", "content": "Two\nlines."}], "meta": {}},
    {"messages": [{"role": "user", "content": "late key?"},
                  {"role": "assistant", "content": "yes"}],
     "meta": {"category": "misc", "source": "web"}},
]
TOOL = {"messages": [
    {"role": "user", "content": "Weather?", "name": "ana"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
    {"role": "tool", "content": "-3 C", "tool_call_id": "c1"},
    {"role": "assistant", "content": "Cold.", "weight": 1}], "meta": {"category": "tools"}}
MULTI = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                      {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}],
         "meta": {}}


def roundtrip(tmp_path, rows, fmt):
    path = tmp_path / f"out{EXPORTS[fmt]}"
    result = export(rows, fmt, path)
    back = read_file(path)
    return result, [{"messages": e.messages, "meta": e.meta} for e in back.examples], back


@pytest.mark.parametrize("fmt", ["openai", "parquet", "hf"])
def test_chat_formats_give_back_every_row_tool_calls_included(tmp_path, fmt):
    rows = PLAIN + [TOOL, MULTI]
    result, back, read = roundtrip(tmp_path, rows, fmt)
    assert (result["written"], result["skipped"], read.rejects) == (5, [], [])
    assert back == rows


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt"])
def test_alpaca_and_sharegpt_give_back_the_rows_they_can_hold(tmp_path, fmt):
    rows = PLAIN + ([MULTI] if fmt == "sharegpt" else [])
    result, back, _ = roundtrip(tmp_path, rows, fmt)
    assert back == rows
    assert result["written"] == len(rows)


def test_alpaca_skips_multi_turn_and_tool_rows_with_reasons(tmp_path):
    result = export(PLAIN + [MULTI, TOOL], "alpaca", tmp_path / "a.json")
    assert result["written"] == 3
    assert result["skipped"] == [
        {"index": 3, "reason": "not one user turn and one assistant turn "
                               "(Alpaca holds one exchange)"},
        {"index": 4, "reason": "message keys name, tool_call_id, tool_calls, weight have no "
                               "Alpaca field"}]


def test_openai_export_writes_null_content_beside_tool_calls_and_can_leave_meta_out(tmp_path):
    export([TOOL], "openai", tmp_path / "t.jsonl", include_meta=False)
    record = json.loads((tmp_path / "t.jsonl").read_text())
    assert list(record) == ["messages"]
    assert record["messages"][1]["content"] is None


def test_arrow_schema_takes_a_key_that_only_the_last_row_has():
    table = arrow_table([{"a": 1}] * 3 + [{"a": 2, "late": "x"}])
    assert table.column_names == ["a", "late"]
    assert table.column("late").to_pylist() == [None, None, None, "x"]


def test_meta_values_of_mixed_types_are_stored_as_json_text():
    assert arrow_table([{"n": 1}, {"n": "one"}]).column("n").to_pylist() == ["1", '"one"']


def test_unknown_export_format_and_nothing_that_fits_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        export(PLAIN, "csv", tmp_path / "x.csv")
    with pytest.raises(InputError, match="no row fits the alpaca format"):
        export([MULTI], "alpaca", tmp_path / "x.json")


def vrow(origin, text, split=None, meta=None):
    return {"origin": origin, "messages": [{"role": "user", "content": text}],
            "meta": meta or {}, "split": split}


def test_version_id_is_a_content_hash_blind_to_origins_and_key_order():
    a = [vrow("1:1", "x"), vrow("1:2", "y")]
    b = [vrow("2:7", "x"), {"split": None, "meta": {}, "origin": "2:8",
                            "messages": [{"content": "y", "role": "user"}]}]
    assert version_id(a) == version_id(b)
    assert len(version_id(a)) == 16
    assert version_id(a) != version_id(a[::-1])
    assert version_id(a) != version_id([vrow("1:1", "x", split="train"), a[1]])


def test_diff_lists_added_removed_and_changed_rows_with_their_reasons():
    old = [vrow("1:1", "keep"), vrow("1:2", "gone"), vrow("1:3", "tpyo")]
    new = [vrow("1:1", "keep"), vrow("1:3", "typo"), vrow("2:1", "mixed in")]
    reasons = {"1:2": "drop: duplicate of 1:1", "1:3": "edit: fixed a typo"}
    assert diff(old, new, reasons) == {
        "added": [{"origin": "2:1", "reason": "unrecorded"}],
        "removed": [{"origin": "1:2", "reason": "drop: duplicate of 1:1"}],
        "changed": [{"origin": "1:3", "fields": ["messages"], "reason": "edit: fixed a typo"}],
        "unchanged": 1}
