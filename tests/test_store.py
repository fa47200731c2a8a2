import subprocess
import sys
import textwrap

import pytest

from curation.formats import Example, Reject
from common.errors import StageError, WorkspaceBusy
from workbench.store import MIGRATIONS, connect, memory_workspace, open_workspace
from workbench.store.splits import assign_splits


def conv(text):
    return [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]


def make_dataset(ws, n):
    examples = [Example(i + 1, conv(f"q{i}")) for i in range(n)]
    return ws.add_dataset("t", "t.jsonl", "openai", examples, [Reject(n + 1, "invalid_json", "x")])


def test_schema_has_every_table_after_migration(tmp_path):
    ws = memory_workspace(tmp_path)
    tables = {r[0] for r in ws.con.execute("SELECT table_name FROM information_schema.tables")
              .fetchall()}
    assert {"datasets", "examples", "rejects", "findings", "dup_clusters", "pii_spans",
            "decisions", "splits", "versions", "runs", "train_log", "generations",
            "metric_scores", "audit_log",
            "schema_migrations", "dup_overrides", "leakage"} <= tables
    assert not {"rating_items", "ratings"} & tables  # dropped by m009: nothing used them


def test_reopening_does_not_migrate_twice(tmp_path):
    with open_workspace(tmp_path / "w"):
        pass
    with open_workspace(tmp_path / "w") as ws:
        assert ws.scalar("SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)


def test_rows_in_equals_examples_plus_rejects(tmp_path):
    ws = memory_workspace(tmp_path)
    dataset_id = make_dataset(ws, 4)
    assert ws.query("SELECT rows_in FROM datasets")[0]["rows_in"] == 5
    assert len(ws.examples(dataset_id)) == 4


def test_split_is_deterministic_and_sized_by_ratio(tmp_path):
    ws = memory_workspace(tmp_path)
    dataset_id = make_dataset(ws, 20)
    first = assign_splits(ws, dataset_id, seed=3, ratios=(0.8, 0.1, 0.1))
    ids = {s: [r["id"] for r in ws.split_examples(dataset_id, s)] for s in first}
    again = assign_splits(ws, dataset_id, seed=3, ratios=(0.8, 0.1, 0.1))
    assert first == again == {"train": 16, "validation": 2, "test": 2}
    assert ids == {s: [r["id"] for r in ws.split_examples(dataset_id, s)] for s in first}
    assign_splits(ws, dataset_id, seed=4, ratios=(0.8, 0.1, 0.1))
    assert [r["id"] for r in ws.split_examples(dataset_id, "test")] != ids["test"]


def test_rows_with_errors_or_duplicates_leave_the_split(tmp_path):
    ws = memory_workspace(tmp_path)
    dataset_id = make_dataset(ws, 10)
    ws.replace_rows("findings", dataset_id, [{"example_id": 1, "step": "validate",
                                              "code": "missing_user", "severity": "error",
                                              "message": "m", "message_index": None}])
    ws.replace_rows("dup_clusters", dataset_id, [
        {"example_id": 3, "level": "exact", "representative_id": 2, "similarity": 1.0}])
    counts = assign_splits(ws, dataset_id, seed=0, ratios=(0.8, 0.1, 0.1))
    assert sum(counts.values()) == 8
    in_split = {r[0] for r in ws.con.execute("SELECT example_id FROM splits").fetchall()}
    assert in_split == {2, 4, 5, 6, 7, 8, 9, 10}


def test_opening_a_missing_workspace_without_create_is_a_stage_error(tmp_path):
    with pytest.raises(StageError, match="no workspace here"):
        with open_workspace(tmp_path / "none", create=False):
            pass


def test_a_workspace_held_by_another_process_is_a_one_line_busy_error(tmp_path):
    db = tmp_path / "workspace.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(db)!r}); print("ready", flush=True); time.sleep(30)""")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceBusy, match=f"workspace is open in process {holder.pid}"):
            connect(str(db), wait_s=0.5)
    finally:
        holder.kill()


def test_a_workspace_from_before_m009_loses_only_the_unused_rating_tables(tmp_path):
    from workbench.store.migrations import migrate

    con = connect(str(tmp_path / "old.duckdb"))
    for migration in MIGRATIONS[:8]:  # a workspace migrated up to m008
        migration(con)
    con.execute("INSERT INTO rating_items VALUES (1, 'gen-1', 1, 'base', 'tuned', false)")
    con.execute("INSERT INTO datasets(id, name) VALUES (1, 'kept')")
    con.execute("CREATE TABLE schema_migrations(name VARCHAR PRIMARY KEY, applied_at "
                "TIMESTAMP DEFAULT current_timestamp)")
    con.executemany("INSERT INTO schema_migrations(name) VALUES (?)",
                    [[m.__name__] for m in MIGRATIONS[:8]])
    migrate(con)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
              .fetchall()}
    assert not {"rating_items", "ratings"} & tables
    assert con.execute("SELECT name FROM datasets").fetchall() == [("kept",)]
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchall() == [(len(MIGRATIONS),)]
