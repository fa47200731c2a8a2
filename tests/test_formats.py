import json

import pytest

from curation.formats import detect_format, read_file
from tests.conftest import write_jsonl
from common.errors import InputError

ALPACA = {"instruction": "Add 2 and 3.", "input": "", "output": "5"}


def test_alpaca_rows_map_to_user_and_assistant(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, {**ALPACA, "input": "Show work."}])
    result = read_file(path)
    assert result.format == "alpaca"
    assert result.examples[0].messages == [{"role": "user", "content": "Add 2 and 3."},
                                           {"role": "assistant", "content": "5"}]
    assert result.examples[1].messages[0]["content"] == "Add 2 and 3.\n\nShow work."


def test_malformed_line_is_rejected_with_its_line_number_and_the_rest_is_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, '{"instruction": "broken', ALPACA])
    result = read_file(path)
    assert [e.line for e in result.examples] == [1, 3]
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "invalid_json")]
    assert result.rows_in == 3


def test_row_missing_a_field_is_rejected_with_the_field_named(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA, {"instruction": "no output"}])
    reject = read_file(path).rejects[0]
    assert (reject.line, reject.reason) == (2, "missing_field")
    assert "'output'" in reject.detail


def test_sharegpt_roles_are_mapped_and_unknown_roles_rejected(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
            {"conversations": [{"from": "bot", "value": "?"}]}]
    result = read_file(write_jsonl(tmp_path / "s.jsonl", rows))
    assert result.format == "sharegpt"
    assert [m["role"] for m in result.examples[0].messages] == ["user", "assistant"]
    assert (result.rejects[0].line, result.rejects[0].reason) == (2, "unknown_role")


def test_dolly_keeps_context_in_prompt_and_category_in_meta(tmp_path):
    row = {"instruction": "Who?", "context": "Ada wrote it.", "response": "Ada.",
           "category": "closed_qa"}
    example = read_file(write_jsonl(tmp_path / "d.jsonl", [row])).examples[0]
    assert example.messages[0]["content"] == "Who?\n\nAda wrote it."
    assert example.meta == {"category": "closed_qa"}


def test_a_meta_object_s_fields_are_lifted_into_meta(tmp_path):
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    rows = [{"messages": chat, "meta": {"category": "qa"}},
            {"messages": chat, "meta": {"category": "b", "source": "web"}, "category": "a"},
            {"messages": chat, "meta": "free text"}]
    examples = read_file(write_jsonl(tmp_path / "m.jsonl", rows)).examples
    assert [e.meta for e in examples] == [
        {"category": "qa"}, {"category": "a", "source": "web"}, {"meta": "free text"}]


def test_json_array_rows_are_numbered_from_one(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([ALPACA, 7]))
    result = read_file(path)
    assert [e.line for e in result.examples] == [1]
    assert [(r.line, r.reason) for r in result.rejects] == [(2, "not_an_object")]


def test_unrecognized_format_names_the_accepted_formats(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(InputError, match="alpaca, dolly, sharegpt|openai, sharegpt, alpaca"):
        read_file(path)


def test_forced_format_rejects_rows_of_another_shape(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [ALPACA])
    result = read_file(path, fmt="openai")
    assert [(r.line, r.reason) for r in result.rejects] == [(1, "missing_field")]


def test_missing_and_empty_files_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_file(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        read_file(tmp_path / "empty.jsonl")


def test_detection_prefers_dolly_over_alpaca_when_response_is_present():
    assert detect_format([(1, {"instruction": "x", "response": "y", "output": "z"})]) == "dolly"


def test_shared_files_are_read_without_loss(shared_data):
    expected = {"alpaca_gsm8k_train.json": ("alpaca", 7473),
                "sharegpt_fastchat_dummy_conversation.json": ("sharegpt", 500),
                "dolly15k_first25.jsonl": ("dolly", 25),
                "openai_chat_toy_fine_tuning.jsonl": ("openai", 5)}
    for name, (fmt, rows) in expected.items():
        result = read_file(shared_data / name)
        assert (result.format, len(result.examples), len(result.rejects)) == (fmt, rows, 0)
