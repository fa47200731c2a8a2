"""Queries of the data pages: the row browser, findings by code, token lengths.

Full-text search is a case-insensitive substring match of every given word over the row's
message texts (``contains(lower(...))``: no LIKE wildcards to escape); it needs no index and scans
~1M short rows a second in DuckDB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.store.kept import no_error, not_dropped, not_duplicate
from workbench.store.workspace import Workspace

CONTENT_SQL = ("lower(array_to_string(json_extract_string(e.messages, '$[*].content'), "
               "chr(10)))")  # message texts only: a search for "user" must not match roles
# a row's status, in the order ``kept`` tests it: a curator's drop, an error finding, a
# duplicate that another row represents, else kept (a restore only undoes a drop)
STATUS_SQL = f"""CASE WHEN NOT ({not_dropped()}) THEN 'drop'
    WHEN NOT ({no_error()}) THEN 'error' WHEN NOT ({not_duplicate()}) THEN 'duplicate'
    ELSE 'kept' END"""
STATUSES = ("kept", "drop", "error", "duplicate")


@dataclass
class RowFilter:
    """Filters of the row browser; empty fields do not filter."""

    search: str = ""            # words that must all appear in the messages
    code: str = ""              # a finding code the row has
    split: str = ""             # train / validation / test
    cluster: int | None = None  # representative id of a duplicate cluster
    meta_key: str = ""          # meta field ...
    meta_value: str = ""        # ... equal to this text
    status: str = ""            # one of STATUSES, or edited


def _where(f: RowFilter) -> tuple[str, list]:
    clauses, params = [], []
    for word in f.search.split():
        clauses.append(f"contains({CONTENT_SQL}, lower(?))")
        params.append(word)
    if f.code:
        clauses.append("EXISTS (SELECT 1 FROM findings g WHERE g.dataset_id = e.dataset_id "
                       "AND g.example_id = e.id AND g.code = ?)")
        params.append(f.code)
    if f.split:
        clauses.append("s.split = ?")
        params.append(f.split)
    if f.cluster is not None:
        clauses.append("(e.id = ? OR EXISTS (SELECT 1 FROM dup_clusters c WHERE c.dataset_id = "
                       "e.dataset_id AND c.example_id = e.id AND c.representative_id = ?))")
        params += [f.cluster, f.cluster]
    if f.meta_key:
        clauses.append("json_extract_string(e.meta, ?) = ?")
        params += ["$." + json.dumps(f.meta_key), f.meta_value]
    if f.status == "edited":
        clauses.append("EXISTS (SELECT 1 FROM decisions x WHERE x.dataset_id = e.dataset_id "
                       "AND x.example_id = e.id AND x.action = 'edit')")
    elif f.status:
        clauses.append(f"{STATUS_SQL} = ?")
        params.append(f.status)
    return "".join(f" AND {c}" for c in clauses), params


def browse_rows(ws: Workspace, dataset_id: int, f: RowFilter, limit: int = 50,
                offset: int = 0):
    """(DataFrame page of matching rows, total matches). Columns: id, line, first_user,
    last_message, turns, split, status, findings (codes)."""
    where, params = _where(f)
    base = f"""FROM examples e LEFT JOIN splits s ON s.dataset_id = e.dataset_id
               AND s.example_id = e.id WHERE e.dataset_id = ? {where}"""
    total = ws.scalar(f"SELECT count(*) {base}", [dataset_id] + params)
    page = ws.frame(f"""SELECT e.id, e.line,
        left(json_extract_string(e.messages, '$[0].content'), 120) AS first_message,
        left(json_extract_string(e.messages, '$[-1].content'), 120) AS last_message,
        json_array_length(e.messages) AS turns, s.split, {STATUS_SQL} AS status,
        (SELECT string_agg(DISTINCT g.code, ', ') FROM findings g WHERE g.dataset_id =
         e.dataset_id AND g.example_id = e.id) AS findings
        {base} ORDER BY e.id LIMIT ? OFFSET ?""", [dataset_id] + params + [limit, offset])
    return page, total


def meta_keys(ws: Workspace, dataset_id: int) -> list[str]:
    """Every top-level meta key of a dataset (from every row), sorted."""
    rows = ws.query("SELECT DISTINCT unnest(json_keys(meta)) AS k FROM examples "
                    "WHERE dataset_id = ? ORDER BY k", [dataset_id])
    return [r["k"] for r in rows]


def finding_counts(ws: Workspace, dataset_id: int):
    """A DataFrame per finding code: code, severity, rows (distinct examples), findings."""
    return ws.frame("""SELECT code, any_value(severity) AS severity,
        count(DISTINCT example_id) AS rows, count(*) AS findings FROM findings
        WHERE dataset_id = ? GROUP BY code ORDER BY rows DESC, code""", [dataset_id])


def rows_with_code(ws: Workspace, dataset_id: int, code: str):
    """The findings of one code with their rows' first message (the rows behind a bar)."""
    return ws.frame("""SELECT f.example_id, e.line, f.message_index, f.message,
        left(json_extract_string(e.messages, '$[0].content'), 120) AS first_message
        FROM findings f JOIN examples e ON e.dataset_id = f.dataset_id AND e.id = f.example_id
        WHERE f.dataset_id = ? AND f.code = ? ORDER BY f.example_id, f.message_index""",
                    [dataset_id, code])


def example_detail(ws: Workspace, dataset_id: int, example_id: int) -> dict | None:
    """One row with messages, meta, findings and decisions; None when it does not exist."""
    rows = ws.query("SELECT id, line, messages, meta FROM examples WHERE dataset_id = ? "
                    "AND id = ?", [dataset_id, example_id])
    if not rows:
        return None
    row = rows[0]
    row["messages"], row["meta"] = json.loads(row["messages"]), json.loads(row["meta"])
    row["findings"] = ws.query("SELECT code, severity, message, message_index FROM findings "
                               "WHERE dataset_id = ? AND example_id = ? ORDER BY code",
                               [dataset_id, example_id])
    row["status"] = ws.scalar(f"SELECT {STATUS_SQL} FROM examples e WHERE e.dataset_id = ? "
                              "AND e.id = ?", [dataset_id, example_id])
    return row


def datasets(ws: Workspace):
    """A DataFrame of every dataset: id, name, format, rows_in, examples."""
    return ws.frame("""SELECT d.id, d.name, d.format, d.rows_in, (SELECT count(*) FROM
        examples e WHERE e.dataset_id = d.id) AS examples FROM datasets d ORDER BY d.id""")


def token_histogram(ws: Workspace, dataset_id: int, bins: int = 30):
    """Rows per token-length bin (templated length from validate): DataFrame of tokens (bin
    start) and rows; bins of equal width ``ceil(max / bins)``."""
    return ws.frame("""WITH t AS (SELECT n_tokens FROM example_tokens WHERE dataset_id = ?
            AND n_tokens IS NOT NULL), w AS (SELECT greatest(1, ceil(max(n_tokens) / ?))::INT
            AS width FROM t)
        SELECT (n_tokens // width) * width AS tokens, count(*) AS rows FROM t, w
        GROUP BY ALL ORDER BY tokens""", [dataset_id, bins])
