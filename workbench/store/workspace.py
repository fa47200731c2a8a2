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


def decoded_run(row: dict) -> dict:
    """A ``runs`` row with its JSON columns decoded in place, each where the row holds it:
    ``config`` (``{}`` when NULL) and ``summary`` (None when NULL); returns ``row``."""
    if "config" in row:
        row["config"] = json.loads(row["config"] or "{}")
    if "summary" in row:
        row["summary"] = json.loads(row["summary"] or "null")
    return row


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
        """Id of the current dataset: the one chosen with ``set_current_dataset`` while it
        exists, else the newest. Raises NoDataset (a StageError) when nothing was ingested."""
        dataset_id = self.scalar(
            "SELECT coalesce((SELECT d.id FROM datasets d JOIN workspace_settings s "
            "ON s.name = 'current_dataset' AND d.id = TRY_CAST(s.value AS INTEGER)), "
            "(SELECT max(id) FROM datasets))")
        if dataset_id is None:
            raise NoDataset("the workspace has no dataset yet: run `workbench ingest` first")
        return dataset_id

    def set_current_dataset(self, dataset_id: int) -> None:
        """Make ``dataset_id`` the dataset every page and stage works on; the current version
        is forgotten (it belonged to the previous dataset). Raises StageError for an unknown
        id."""
        if not self.scalar("SELECT count(*) FROM datasets WHERE id = ?", [dataset_id]):
            raise StageError(f"no dataset {dataset_id} (see `workbench datasets`)")
        self.set_setting("current_dataset", str(int(dataset_id)))
        self.con.execute("DELETE FROM workspace_settings WHERE name = 'current_version'")

    def setting(self, name: str) -> str | None:
        """A workspace setting's value, None when unset."""
        return self.scalar("SELECT value FROM workspace_settings WHERE name = ?", [name])

    def set_setting(self, name: str, value: str | None) -> None:
        """Set (or with None, clear) a workspace setting."""
        self.con.execute("DELETE FROM workspace_settings WHERE name = ?", [name])
        if value is not None:
            self.con.execute("INSERT INTO workspace_settings VALUES (?, ?)", [name, value])

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

    # -- splits ----------------------------------------------------------------------
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

    # -- stage runs -----------------------------------------------------
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

    def latest_run(self, kind: str, state: str | None = "succeeded",
                   dataset_id: int | None = None, offset: int = 0) -> dict | None:
        """The newest run of ``kind`` (in ``state`` unless None; on ``dataset_id`` unless
        None), config/summary decoded; ``offset`` 1 gives the run before it."""
        rows = self.query("SELECT * FROM runs WHERE kind = ? AND (? IS NULL OR state = ?) "
                          "AND (? IS NULL OR dataset_id = ?) "
                          "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
                          [kind, state, state, dataset_id, dataset_id, offset])
        return decoded_run(rows[0]) if rows else None

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
