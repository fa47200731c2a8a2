"""The one definition of the kept rows (workbench.store.kept), on a five-row dataset:
1 kept, 2 has an error finding, 3 is an exact duplicate of 1, 4 is dropped, 5 is dropped
and then restored."""

from curation.formats import Example
from tests.prepared import conv
from workbench.store import memory_workspace
from workbench.store.kept import kept


def five_rows(tmp_path):
    ws = memory_workspace(tmp_path)
    ws.add_dataset("t", "t.jsonl", "openai",
                   [Example(i, conv(f"q{i}", "a")) for i in range(1, 6)], [])
    ws.insert("findings", [{"dataset_id": 1, "example_id": 2, "step": "validate",
                            "code": "empty_content", "severity": "error"},
                           {"dataset_id": 1, "example_id": 1, "step": "validate",
                            "code": "refusal", "severity": "warning"}])
    ws.insert("dup_clusters", [{"dataset_id": 1, "example_id": i, "level": "exact",
                                "representative_id": 1, "similarity": 1.0} for i in (1, 3)])
    ws.insert("decisions", [{"dataset_id": 1, "example_id": i, "action": action, "who": "x"}
                            for i, action in ((4, "drop"), (5, "drop"), (5, "restore"))])
    return ws


def kept_ids(ws, **options) -> list[int]:
    return [r[0] for r in ws.con.execute(
        f"SELECT e.id FROM examples e WHERE e.dataset_id = 1 AND {kept(**options)} "
        "ORDER BY e.id").fetchall()]


def test_kept_rows_have_no_error_no_other_representative_and_no_standing_drop(tmp_path):
    assert kept_ids(five_rows(tmp_path)) == [1, 5]


def test_with_duplicates_the_duplicate_counts_as_kept(tmp_path):
    assert kept_ids(five_rows(tmp_path), duplicates=True) == [1, 3, 5]
