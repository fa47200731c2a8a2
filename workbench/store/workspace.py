"""The workspace: one folder with ``workspace.duckdb`` and ``artifacts/``.

A connection is opened per action (``with open_workspace(path) as ws: ...``) and closed at
once, because DuckDB allows one read-write process per file and, while one holds it, even a
read-only open from another process fails (DuckDB docs, "Concurrency"). Opening retries for a
few seconds, then raises WorkspaceBusy("workspace is open in process N"). The schema migrates
itself on open: ordered ``m00N_*`` functions recorded in ``schema_migrations`` (the pattern of
simonw/llm's migrations).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from common.errors import NoDataset, StageError, WorkspaceBusy
from workbench.store.migrations import migrate

DB_NAME = "workspace.duckdb"
LOCK_WAIT_S = 5.0


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def busy_error(exc: BaseException) -> WorkspaceBusy:
    """Turn DuckDB's lock IOException into the one-line WorkspaceBusy message."""
    pid = re.search(r"PID (\d+)", str(exc))
    who = f"process {pid.group(1)}" if pid else "another process"
    return WorkspaceBusy(f"workspace is open in {who}; try again when it is done")


def connect(db_path: str, wait_s: float = LOCK_WAIT_S) -> duckdb.DuckDBPyConnection:
    """Open ``db_path`` read-write, retrying while another process holds the lock."""
    try:
        for attempt in Retrying(retry=retry_if_exception(_is_lock_error),
                                stop=stop_after_delay(wait_s), wait=wait_fixed(0.2),
                                reraise=True):
            with attempt:
                return duckdb.connect(db_path)
    except duckdb.IOException as exc:
        if _is_lock_error(exc):
            raise busy_error(exc) from None
        raise


@contextmanager
def open_workspace(path: str | Path, create: bool = True) -> Iterator["Workspace"]:
    """Open the workspace folder for one action; the connection closes on exit.

    Raises StageError when the folder holds no workspace and ``create`` is False, and
    WorkspaceBusy when another process keeps it open past the wait.
    """
    root = Path(path).resolve()
    if not create and not (root / DB_NAME).exists():
        raise StageError(f"{root}: no workspace here (run `workbench ingest` first)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "artifacts").mkdir(exist_ok=True)
    con = connect(str(root / DB_NAME))
    try:
        migrate(con)
        yield Workspace(root, con)
    finally:
        con.close()


def memory_workspace(root: Path) -> "Workspace":
    """An in-memory workspace (tests); artifacts go under ``root``."""
    con = duckdb.connect(":memory:")
    migrate(con)
    return Workspace(root, con)


class Workspace:
    """Typed operations over one open connection. Rows are dicts; JSON columns are decoded."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection):
        self.root, self.con = root, con

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    # -- generic helpers -------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN; COMMIT when the block ends, ROLLBACK (then re-raise) when it raises, so a
        failed write never leaves the connection inside an open transaction."""
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def insert(self, table: str, rows: list[dict]) -> None:
        """Insert dict rows (all with the same keys) through one Arrow scan."""
        if not rows:
            return
        arrow = pa.Table.from_pylist(rows)
        self.con.register("_rows", arrow)
        try:
            cols = ", ".join(arrow.column_names)
            self.con.execute(f"INSERT INTO {table}({cols}) SELECT {cols} FROM _rows")
        finally:
            self.con.unregister("_rows")

    def scalar(self, sql: str, params: list | None = None):
        """The first column of the first row (the result is fetched completely: DuckDB 2
        refuses new statements while a result is only partly fetched)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def row(self, sql: str, params: list | None = None) -> tuple:
        """The first row of a one-row query, fetched completely."""
        return self.con.execute(sql, params or []).fetchall()[0]

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def frame(self, sql: str, params: list | None = None):
        """A pandas DataFrame of a query (for the pages' tables)."""
        return self.con.execute(sql, params or []).df()

    def audit(self, actor: str, action: str, detail: dict) -> None:
        self.con.execute("INSERT INTO audit_log(actor, action, detail) VALUES (?, ?, ?)",
                         [actor, action, json.dumps(detail)])

    # -- datasets and examples -------------------------------------------------------
    def add_dataset(self, name: str, source: str, fmt: str, examples: list, rejects: list) -> int:
        """Store a read result; returns the new dataset id."""
        dataset_id = self.scalar("SELECT coalesce(max(id), 0) + 1 FROM datasets")
        self.con.execute("INSERT INTO datasets(id, name, source, format, rows_in) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [dataset_id, name, source, fmt, len(examples) + len(rejects)])
        self.insert("examples", [
            {"dataset_id": dataset_id, "id": i, "line": e.line,
             "messages": json.dumps(e.messages, ensure_ascii=False),
             "meta": json.dumps(e.meta, ensure_ascii=False)}
            for i, e in enumerate(examples, start=1)])
        self.insert("rejects", [
            {"dataset_id": dataset_id, "line": r.line, "reason": r.reason,
             "detail": r.detail, "raw": r.raw} for r in rejects])
        return dataset_id

    def current_dataset(self) -> int:
        """Id of the newest dataset; NoDataset (a StageError) when nothing was ingested."""
        dataset_id = self.scalar("SELECT max(id) FROM datasets")
        if dataset_id is None:
            raise NoDataset("the workspace has no dataset yet: run `workbench ingest` first")
        return dataset_id

    def examples(self, dataset_id: int) -> list[dict]:
        """All examples of a dataset in input order; messages/meta decoded."""
        rows = self.query("SELECT id, line, messages, meta, redacted_messages FROM examples "
                          "WHERE dataset_id = ? ORDER BY id", [dataset_id])
        for row in rows:
            row["messages"] = json.loads(row["messages"])
            row["meta"] = json.loads(row["meta"])
            if row["redacted_messages"]:
                row["redacted_messages"] = json.loads(row["redacted_messages"])
        return rows

    def replace_rows(self, table: str, dataset_id: int, rows: list[dict],
                     where: str = "", params: list | None = None) -> None:
        """Replace a dataset's rows of ``table`` (optionally only those matching ``where``)."""
        with self.transaction():
            self.con.execute(f"DELETE FROM {table} WHERE dataset_id = ? {where}",
                             [dataset_id] + (params or []))
            self.insert(table, [{"dataset_id": dataset_id, **r} for r in rows])

    def set_redactions(self, dataset_id: int, redacted: dict[int, list[dict]], who: str) -> None:
        """Store redacted messages per example and record one ``redact`` decision each."""
        with self.transaction():
            for example_id, messages in redacted.items():
                self.con.execute("UPDATE examples SET redacted_messages = ? WHERE dataset_id = ? "
                                 "AND id = ?", [json.dumps(messages, ensure_ascii=False),
                                                dataset_id, example_id])
            self.insert("decisions", [
                {"dataset_id": dataset_id, "example_id": i, "action": "redact", "who": who,
                 "reason": "PII spans replaced with <ENTITY_TYPE>"} for i in redacted])

    # -- splits ----------------------------------------------------------------------
    def eligible_sql(self) -> str:
        """Examples with no error finding that represent their exact and semantic cluster and
        whose latest drop/restore decision is not a drop."""
        return """
            SELECT e.id, coalesce(s.representative_id, e.id) AS group_id FROM examples e
            LEFT JOIN dup_clusters s ON s.dataset_id = e.dataset_id AND s.example_id = e.id
                 AND s.level = 'semantic'
            WHERE e.dataset_id = $dataset
              AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.dataset_id = e.dataset_id
                   AND f.example_id = e.id AND f.severity = 'error')
              AND NOT EXISTS (SELECT 1 FROM dup_clusters d WHERE d.dataset_id = e.dataset_id
                   AND d.example_id = e.id AND d.representative_id <> d.example_id)
              AND coalesce((SELECT arg_max(x.action, x.id) FROM decisions x
                   WHERE x.dataset_id = e.dataset_id AND x.example_id = e.id
                   AND x.action IN ('drop', 'restore')), '') <> 'drop'"""

    NOT_DROPPED = """coalesce((SELECT arg_max(x.action, x.id) FROM decisions x
        WHERE x.dataset_id = $dataset AND x.example_id = {id}
        AND x.action IN ('drop', 'restore')), '') <> 'drop'"""

    def assign_splits(self, dataset_id: int, seed: int, ratios: tuple[float, float, float],
                      **options) -> dict[str, int]:
        """workbench.store.dedup.assign_splits (grouped, optionally stratified)."""
        from workbench.store.dedup import assign_splits

        return assign_splits(self, dataset_id, seed, ratios, **options)

    def split_counts(self, dataset_id: int) -> dict[str, int]:
        counts = dict(self.con.execute("SELECT split, count(*) FROM splits WHERE dataset_id = ? "
                                       "GROUP BY split", [dataset_id]).fetchall())
        return {name: counts.get(name, 0) for name in ("train", "validation", "test")}

    def split_examples(self, dataset_id: int, split: str) -> list[dict]:
        """Examples of one split in id order; ``messages`` is the redacted text if any."""
        rows = self.query("""
            SELECT e.id, e.meta, coalesce(e.redacted_messages, e.messages) AS messages
            FROM splits s JOIN examples e ON e.dataset_id = s.dataset_id AND e.id = s.example_id
            WHERE s.dataset_id = ? AND s.split = ? ORDER BY e.id""", [dataset_id, split])
        for row in rows:
            row["messages"], row["meta"] = json.loads(row["messages"]), json.loads(row["meta"])
        return rows

    # -- versions and stage runs -----------------------------------------------------
    def record_version(self, dataset_id: int) -> str:
        """The version of the split rows as training reads them (content hash; rows kept in
        version_rows, so an adapter's lineage leads back to the exact rows it saw). Made
        before training starts (and by the privacy gate), so its note does not say "trained":
        ``versions.list_versions`` counts the train runs that succeeded on it."""
        from workbench.store.versions import create_version, split_rows

        return create_version(self, dataset_id, "split rows", split_rows(self, dataset_id))["id"]

    def record_stage(self, kind: str, dataset_id: int, config: dict, summary: dict) -> str:
        """Record a finished in-process stage as a run; returns its id."""
        import secrets
        from datetime import datetime

        run_id = f"{kind}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        self.add_run(run_id, kind, dataset_id, "", config)
        self.finish_run(run_id, "succeeded", summary)
        return run_id

    def curation_recipe(self, dataset_id: int) -> dict:
        """The config of the latest run of each curation stage of a dataset."""
        rows = self.query("""SELECT kind, arg_max(config, created_at) AS config FROM runs
            WHERE dataset_id = ? AND kind IN ('ingest', 'validate', 'dedup', 'pii', 'split')
            AND state = 'succeeded' GROUP BY kind ORDER BY kind""", [dataset_id])
        return {r["kind"]: json.loads(r["config"]) for r in rows}

    # -- runs ------------------------------------------------------------------------
    def add_run(self, run_id: str, kind: str, dataset_id: int | None, run_dir: str,
                config: dict) -> None:
        self.con.execute("INSERT INTO runs(id, kind, dataset_id, state, dir, config) "
                         "VALUES (?, ?, ?, 'queued', ?, ?)",
                         [run_id, kind, dataset_id, run_dir, json.dumps(config)])

    def finish_run(self, run_id: str, state: str, summary: dict) -> None:
        self.con.execute("UPDATE runs SET state = ?, summary = ?, finished_at = "
                         "current_timestamp WHERE id = ?", [state, json.dumps(summary), run_id])

    def latest_run(self, kind: str, state: str | None = "succeeded") -> dict | None:
        """The newest run of ``kind`` (in ``state`` unless None), config/summary decoded."""
        rows = self.query("SELECT * FROM runs WHERE kind = ? AND (? IS NULL OR state = ?) "
                          "ORDER BY created_at DESC, id DESC LIMIT 1", [kind, state, state])
        if not rows:
            return None
        row = rows[0]
        row["config"] = json.loads(row["config"] or "{}")
        row["summary"] = json.loads(row["summary"] or "null")
        return row

    def require_run(self, kind: str) -> dict:
        run = self.latest_run(kind)
        if run is None:
            raise StageError(f"no successful {kind} run yet: run `workbench {kind}` first")
        return run

    # -- browsing (the Data page) -----------------------------------------------------
    BROWSE = {
        "examples": """SELECT e.id, e.line, json_extract_string(e.messages, '$[-1].content')
                AS last_message, json_array_length(e.messages) AS turns, e.meta, s.split,
                e.redacted_messages IS NOT NULL AS redacted
            FROM examples e LEFT JOIN splits s ON s.dataset_id = e.dataset_id
                 AND s.example_id = e.id WHERE e.dataset_id = ? ORDER BY e.id""",
        "rejects": "SELECT line, reason, detail, raw FROM rejects WHERE dataset_id = ? "
                   "ORDER BY line",
        "findings": "SELECT example_id, step, code, severity, message, message_index "
                    "FROM findings WHERE dataset_id = ? ORDER BY example_id, code",
        "duplicates": "SELECT example_id, level, representative_id, similarity FROM "
                      "dup_clusters WHERE dataset_id = ? AND representative_id <> example_id "
                      "ORDER BY level, example_id",
        "pii_spans": "SELECT example_id, message_index, entity_type, start_char, end_char, "
                     "round(score, 2) AS score FROM pii_spans WHERE dataset_id = ? "
                     "ORDER BY example_id, message_index, start_char",
    }

    def browse(self, kind: str, dataset_id: int):
        """A DataFrame of one of ``BROWSE``'s views for a dataset."""
        return self.frame(self.BROWSE[kind], [dataset_id])

    def train_log(self, run_id: str):
        return self.frame("SELECT step, loss FROM train_log WHERE run_id = ? ORDER BY step",
                          [run_id])

