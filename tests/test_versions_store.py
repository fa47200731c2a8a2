"""Versions, decisions, browse queries and mixing over a real (in-memory) store."""

import json

import pytest

from curation.formats import Example
from curation.mix import MixSource, mix, parse_spec, shares_to_counts
from tests.prepared import conv
from workbench.stages import curation as stages
from common.errors import InputError, StageError
from workbench.store import memory_workspace, open_workspace
from workbench.store.browse import (
    RowFilter,
    browse_rows,
    finding_counts,
    meta_keys,
    rows_with_code,
)
from workbench.store.splits import assign_splits
from workbench.store.versions import (
    create_version,
    decide,
    decisions,
    diff_versions,
    edit_message,
    record_version,
    version_rows,
)


@pytest.fixture
def ws(tmp_path):
    store = memory_workspace(tmp_path)
    examples = [Example(i + 1, conv(f"Question {i}?", f"Answer {i}."),
                        {"category": "qa" if i % 2 else "chat"}) for i in range(6)]
    store.add_dataset("d.jsonl", "d.jsonl", "openai", examples, [])
    store.replace_rows("findings", 1, [
        {"example_id": 5, "step": "validate", "code": "empty_content", "severity": "error",
         "message": "row 5: message 1 (assistant) is empty", "message_index": 1},
        {"example_id": 1, "step": "validate", "code": "missing_system", "severity": "info",
         "message": "row 1: no system message", "message_index": None},
        {"example_id": 2, "step": "validate", "code": "missing_system", "severity": "info",
         "message": "row 2: no system message", "message_index": None}])
    store.replace_rows("dup_clusters", 1, [
        {"example_id": 4, "level": "exact", "representative_id": 3, "similarity": 1.0}])
    return store


def test_a_version_holds_the_eligible_rows_and_the_same_content_gets_the_same_id(ws):
    first = create_version(ws, 1, "v1")
    assert (first["n_rows"], first["created"]) == (4, True)  # 4 = duplicate, 5 = error
    assert [r["origin"] for r in version_rows(ws, first["id"])] == ["1:1", "1:2", "1:3", "1:6"]
    assert create_version(ws, 1) == {**first, "created": False}


def test_a_version_does_not_change_when_a_row_is_edited_later(ws):
    vid = create_version(ws, 1)["id"]
    edit_message(ws, 1, 1, 1, "Better answer.", "ana", "clearer")
    assert version_rows(ws, vid)[0]["messages"][1]["content"] == "Answer 0."
    assert create_version(ws, 1)["id"] != vid


def test_edit_records_old_and_new_text_and_drop_takes_the_row_out(ws):
    before = create_version(ws, 1)["id"]
    edit_message(ws, 1, 1, 1, "Better answer.", "ana", "clearer")
    decide(ws, 1, 2, "drop", "bo", "off topic")
    after = create_version(ws, 1)["id"]
    keys = ("example_id", "action", "who", "old_text", "new_text")
    assert [{k: d[k] for k in keys} for d in decisions(ws, 1)] == [
        {"example_id": 2, "action": "drop", "who": "bo", "old_text": None, "new_text": None},
        {"example_id": 1, "action": "edit", "who": "ana", "old_text": "Answer 0.",
         "new_text": "Better answer."}]
    assert diff_versions(ws, before, after) == {
        "old": before, "new": after, "added": [],
        "removed": [{"origin": "1:2", "reason": "drop by bo: off topic"}],
        "changed": [{"origin": "1:1", "fields": ["messages"],
                     "reason": "edit by ana: clearer"}], "unchanged": 2}


def test_restore_after_drop_brings_the_row_back(ws):
    decide(ws, 1, 2, "drop", "bo")
    decide(ws, 1, 2, "restore", "bo")
    assert create_version(ws, 1)["n_rows"] == 4


def test_editing_a_missing_message_or_row_is_a_stage_error(ws):
    with pytest.raises(StageError, match="example 1 has no message 7 \\(it has 2\\)"):
        edit_message(ws, 1, 1, 7, "x", "ana")
    with pytest.raises(StageError, match="no example 99 in dataset 1"):
        decide(ws, 1, 99, "drop", "ana")


def test_removed_rows_say_why_they_left(ws):
    ws.con.execute("INSERT INTO version_rows SELECT 'all', id, '1:' || id, messages, meta, "
                   "NULL FROM examples WHERE dataset_id = 1")
    ws.con.execute("INSERT INTO versions(id, dataset_id, n_rows) VALUES ('all', 1, 6)")
    result = diff_versions(ws, "all", create_version(ws, 1)["id"])
    assert result["removed"] == [
        {"origin": "1:4", "reason": "duplicate (exact) of 1:3"},
        {"origin": "1:5", "reason": "validation error: empty_content"}]


def test_browse_filters_by_words_code_meta_and_status(ws):
    decide(ws, 1, 3, "drop", "bo")
    ids = lambda **kw: browse_rows(ws, 1, RowFilter(**kw))[0]["id"].tolist()  # noqa: E731
    assert ids(search="question 2?") == [3]
    assert ids(search="answer") == [1, 2, 3, 4, 5, 6]
    assert ids(code="missing_system") == [1, 2]
    assert ids(meta_key="category", meta_value="qa") == [2, 4, 6]
    assert ids(status="drop") == [3]
    assert (ids(status="duplicate"), ids(status="error"), ids(status="kept")) == (
        [4], [5], [1, 2, 6])  # 4 is represented by 3; 5 has empty_content
    assert ids(cluster=3) == [3, 4]
    page, total = browse_rows(ws, 1, RowFilter(), limit=2, offset=2)
    assert (page["id"].tolist(), total) == ([3, 4], 6)
    assert meta_keys(ws, 1) == ["category"]


def test_findings_histogram_counts_rows_per_code_and_lists_the_rows_behind_a_bar(ws):
    assert finding_counts(ws, 1).to_dict("records") == [
        {"code": "missing_system", "severity": "info", "rows": 2, "findings": 2},
        {"code": "empty_content", "severity": "error", "rows": 1, "findings": 1}]
    behind = rows_with_code(ws, 1, "missing_system")
    assert behind[["example_id", "line"]].to_dict("records") == [
        {"example_id": 1, "line": 1}, {"example_id": 2, "line": 2}]


def rows(name, n):
    return [{"origin": f"{name}:{i}", "messages": conv(f"{name} {i}", "a"), "meta": {}}
            for i in range(n)]


def test_mix_by_ratio_keeps_the_source_in_meta_and_ignores_input_order():
    a, b = rows("a", 10), rows("b", 10)
    mixed = mix([MixSource("a", a, ratio=0.7), MixSource("b", b, ratio=0.3)], total=10)
    assert [r["meta"]["source_dataset"] for r in mixed] == ["a"] * 7 + ["b"] * 3
    assert all(r["meta"]["source_row"] == r["origin"] for r in mixed)
    again = mix([MixSource("a", a[::-1], ratio=0.7), MixSource("b", b[::-1], ratio=0.3)],
                total=10)
    assert [r["origin"] for r in again] == [r["origin"] for r in mixed]


def test_mix_without_a_total_takes_as_many_rows_as_the_scarcest_source_allows():
    mixed = mix([MixSource("a", rows("a", 10), ratio=0.5), MixSource("b", rows("b", 4),
                                                                      ratio=0.5)])
    assert len(mixed) == 8


def test_mix_by_counts_and_its_errors():
    assert len(mix([MixSource("a", rows("a", 5), count=2), MixSource("b", rows("b", 5),
                                                                      count=5)])) == 7
    with pytest.raises(InputError, match="source a has 5 rows; 6 asked"):
        mix([MixSource("a", rows("a", 5), count=6)])
    with pytest.raises(InputError, match="every source a ratio or every source a count"):
        mix([MixSource("a", rows("a", 5), count=2), MixSource("b", rows("b", 5), ratio=0.5)])
    with pytest.raises(InputError, match="expected DATASET:RATIO"):
        parse_spec("a")


def test_ratios_become_counts_that_add_up_to_the_total():
    assert shares_to_counts([0.5, 0.3, 0.2], 7) == [4, 2, 1]
    assert sum(shares_to_counts([1, 1, 1], 100)) == 100


def test_mix_stage_writes_a_new_dataset_whose_rows_name_their_source(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as store:
        for name in ("a", "b"):
            store.add_dataset(name, name, "openai",
                              [Example(i, conv(f"{name}{i}", "x")) for i in range(1, 5)], [])
    summary = stages.mix(root, ["1:2", "2:3"])
    assert (summary["rows"], summary["by_source"]) == (5, {"1": 2, "2": 3})
    with open_workspace(root) as store:
        metas = [json.loads(m) for (m,) in store.con.execute(
            "SELECT meta FROM examples WHERE dataset_id = 3 ORDER BY id").fetchall()]
    assert [m["source_dataset"] for m in metas] == ["1", "1", "2", "2", "2"]


def test_the_trained_version_keeps_the_split_rows_it_hashes(ws):
    assign_splits(ws, 1, 0, (0.5, 0.25, 0.25))
    vid = record_version(ws, 1)
    stored = version_rows(ws, vid)
    assert [r["origin"] for r in stored] == ["1:1", "1:2", "1:3", "1:6"]
    assert sorted(r["split"] for r in stored) == ["test", "train", "train", "validation"]
    assert record_version(ws, 1) == vid
