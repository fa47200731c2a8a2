"""Readers for every supported format: OpenAI extras, ShareGPT system, Alpaca input,
OpenAssistant trees, HF datasets folders, column/role mapping, and whole-file bad input."""

import json
import random

import pytest

from curation.formats import Mapping, detect_format, read_file
from tests.conftest import write_jsonl
from common.errors import InputError

TOOL_ROW = {"messages": [
    {"role": "system", "content": "You call tools."},
    {"role": "user", "content": "Weather in Oslo?", "name": "ana"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "-3 C"},
    {"role": "assistant", "content": "It is -3 C.", "weight": 1}]}


def test_openai_keeps_name_weight_tool_calls_and_tool_role(tmp_path):
    example = read_file(write_jsonl(tmp_path / "t.jsonl", [TOOL_ROW])).examples[0]
    assert example.messages == [
        {"role": "system", "content": "You call tools."},
        {"role": "user", "content": "Weather in Oslo?", "name": "ana"},
        {"role": "assistant", "content": "", "tool_calls": TOOL_ROW["messages"][2]["tool_calls"]},
        {"role": "tool", "content": "-3 C", "tool_call_id": "c1"},
        {"role": "assistant", "content": "It is -3 C.", "weight": 1}]


def test_openai_null_content_without_tool_calls_is_a_wrong_type_reject(tmp_path):
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]}
    reject = read_file(write_jsonl(tmp_path / "t.jsonl", [TOOL_ROW, row])).rejects[0]
    assert (reject.line, reject.reason) == (2, "wrong_type")


def test_sharegpt_top_level_system_becomes_the_first_message_and_any_turn_count_reads(tmp_path):
    row = {"id": "x", "system": "Be brief.", "conversations": [
        {"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
        {"from": "user", "value": "c"}, {"from": "assistant", "value": "d"}]}
    example = read_file(write_jsonl(tmp_path / "s.jsonl", [row])).examples[0]
    assert [(m["role"], m["content"]) for m in example.messages] == [
        ("system", "Be brief."), ("user", "a"), ("assistant", "b"), ("user", "c"),
        ("assistant", "d")]
    assert example.meta == {"id": "x"}


def test_sharegpt_unknown_role_rejects_only_that_row(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "tool", "value": "b"}]}]
    result = read_file(write_jsonl(tmp_path / "s.jsonl", rows))
    assert [e.line for e in result.examples] == [1]
    assert [(r.line, r.reason, r.detail) for r in result.rejects] == [
        (2, "unknown_role", "sharegpt: conversations[1].from = 'tool'")]


def test_alpaca_missing_null_and_empty_input_read_the_same(tmp_path):
    rows = [{"instruction": "Sum 2 and 3.", "output": "5"},
            {"instruction": "Sum 2 and 3.", "input": None, "output": "5"},
            {"instruction": "Sum 2 and 3.", "input": "", "output": "5"},
            {"instruction": "Sum 2 and 3.", "input": "  ", "output": "5"}]
    result = read_file(write_jsonl(tmp_path / "a.jsonl", rows))
    assert {json.dumps(e.messages) for e in result.examples} == {json.dumps(
        [{"role": "user", "content": "Sum 2 and 3."}, {"role": "assistant", "content": "5"}])}
    assert len(result.examples) == 4


def test_alpaca_system_field_becomes_a_system_message(tmp_path):
    row = {"instruction": "Hi", "output": "Hello", "system": "Be kind."}
    example = read_file(write_jsonl(tmp_path / "a.jsonl", [row])).examples[0]
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant"]
    assert example.meta == {}


def tree(text, role, replies=(), **extra):
    return {"text": text, "role": role, "replies": list(replies), **extra}


def test_oasst_tree_is_flattened_along_the_best_ranked_live_path(tmp_path):
    root = tree("Q1", "prompter", [
        tree("worse", "assistant", rank=1),
        tree("deleted best", "assistant", rank=0, deleted=True),
        tree("A1", "assistant", [tree("Q2", "prompter", [
            tree("unranked", "assistant"), tree("A2", "assistant", rank=0)])], rank=0)],
        lang="en")
    row = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": root}
    result = read_file(write_jsonl(tmp_path / "o.jsonl", [row]))
    assert result.format == "oasst"
    assert [(m["role"], m["content"]) for m in result.examples[0].messages] == [
        ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")]
    assert result.examples[0].meta == {"message_tree_id": "t1", "tree_state": "ready_for_export",
                                       "lang": "en"}


def test_shared_oasst_trees_all_read_and_start_with_a_user_turn(shared_data):
    result = read_file(shared_data / "oasst_en_100_tree.jsonl")
    assert (result.format, len(result.examples), len(result.rejects)) == ("oasst", 100, 0)
    first = result.examples[0].messages
    assert [m["role"] for m in first] == ["user", "assistant"]
    assert first[0]["content"] == "How can I find the best 401k plan for my needs?"
    assert first[1]["content"].startswith("The first step is to research your options.")


def test_hf_datasets_folder_is_read_by_row_index(tmp_path):
    import datasets

    rows = [{"instruction": "a", "input": None, "output": "b"},
            {"instruction": "c", "input": "d", "output": "e"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    result = read_file(tmp_path / "ds")
    assert result.format == "alpaca"
    assert [(e.line, e.messages[0]["content"]) for e in result.examples] == [(1, "a"),
                                                                            (2, "c\n\nd")]


def test_hf_dataset_dict_folder_reads_its_train_split(tmp_path):
    import datasets

    split = datasets.Dataset.from_list([{"prompt": "p", "completion": "c"}])
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "dd"))
    assert len(read_file(tmp_path / "dd").examples) == 1


def test_folder_that_is_no_saved_dataset_is_one_input_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not one saved by datasets' save_to_disk"):
        read_file(tmp_path / "plain")


def test_column_and_role_mapping_rename_before_reading(tmp_path):
    rows = [{"question": "Q?", "answer": "A."},
            {"messages": [{"role": "human", "content": "hi"}, {"role": "bot", "content": "yo"}]}]
    mapping = Mapping.parse(["question=instruction", "answer=output"])
    first = read_file(write_jsonl(tmp_path / "q.jsonl", rows[:1]), mapping=mapping)
    assert (first.format, first.examples[0].messages[1]["content"]) == ("alpaca", "A.")
    roles = Mapping.parse(roles=["human=user", "bot=assistant"])
    second = read_file(write_jsonl(tmp_path / "m.jsonl", rows[1:]), mapping=roles)
    assert [m["role"] for m in second.examples[0].messages] == ["user", "assistant"]


def test_mapping_pair_without_equals_sign_is_an_input_error():
    with pytest.raises(InputError, match="--column 'question': expected OLD=NEW"):
        Mapping.parse(["question"])


def test_a_key_first_seen_on_the_last_row_is_kept(tmp_path):
    rows = [{"prompt": f"p{i}", "completion": "c"} for i in range(3000)]
    rows.append({"prompt": "late", "completion": "c", "source": "web"})
    rows[0]["category"] = None  # null for the first rows too
    result = read_file(write_jsonl(tmp_path / "p.jsonl", rows))
    assert result.examples[-1].meta == {"source": "web"}
    assert result.examples[0].meta == {"category": None}


def test_detected_format_does_not_depend_on_row_order():
    rows = [(i, {"prompt": "p", "completion": "c"}) for i in range(300)]
    rows += [(300 + i, {"instruction": "i", "output": "o"}) for i in range(301)]
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    assert detect_format(rows) == detect_format(shuffled) == detect_format(rows[::-1]) == "alpaca"


def test_unknown_shape_names_the_keys_it_saw(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(InputError, match=r"unrecognized format: rows have keys answer, question; "
                                         r"expected one of: openai, sharegpt"):
        read_file(path)


def test_an_unknown_shape_names_the_file_and_the_lines_that_did_not_parse(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"instruction": "broken\n{"instruction": "no output"}\nnot json\n')
    with pytest.raises(InputError) as found:
        read_file(path)
    message = str(found.value)
    assert message.startswith(f"{path}: unrecognized format: rows have keys instruction; ")
    assert message.endswith("; 2 other line(s) malformed (line 1: invalid_json: not valid "
                            "JSON: Unterminated string starting at column 17)")



    path = tmp_path / "big.jsonl"
    path.write_text('{"prompt": "' + "x" * (50 * 2**20) + '", "completion": "c"}\n')
    with pytest.raises(InputError) as exc:
        read_file(path)
    assert str(exc.value) == (f"{path}: no readable row (1 malformed; line 1: line_too_long: "
                              "52,428,833 characters, over the 16,777,216 a row may have)")


def test_a_file_of_python_dict_reprs_says_it_is_not_json(tmp_path):
    path = tmp_path / "repr.jsonl"
    path.write_text("{'prompt': 'p', 'completion': 'c'}\n")
    with pytest.raises(InputError, match="line 1: invalid_json: not JSON \\(looks like a Python "
                                         "dict: use double quotes\\)"):
        read_file(path)


def test_empty_and_binary_files_are_one_line_errors(tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"")
    (tmp_path / "b.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(InputError, match="the file is empty"):
        read_file(tmp_path / "e.jsonl")
    with pytest.raises(InputError, match=r"binary file \(NUL byte at offset 8\)"):
        read_file(tmp_path / "b.jsonl")


def test_openai_message_without_a_content_key_is_a_missing_field_reject_naming_it(tmp_path):
    rows = [TOOL_ROW, {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}]
    reject = read_file(write_jsonl(tmp_path / "t.jsonl", rows)).rejects[0]
    assert (reject.line, reject.reason, reject.detail) == (
        2, "missing_field", "openai: messages[0] has no 'content'")
