"""Pairwise judge runs in the store: what a judge is shown, and the answers it gave.

Run as: ``with open_workspace(path) as ws: items = judge_items(ws, 1)``

Table ``judge_verdicts`` (migration ``m017_judge_verdicts``): one row per judge run, item and
order (0: the item's first system shown as A; 1: as B). The run itself is a row of ``runs``
(kind ``judge``, its config naming the session, the judge and the prompt).
"""

from __future__ import annotations

import json

from workbench.store.sessions import RatingError, session
from workbench.store.workspace import Workspace, decoded_run

COLUMNS = ("item_no", "example_id", "order_no", "a_system", "b_system", "answer", "choice",
           "label")


def judge_items(ws: Workspace, session_id: int) -> list[dict]:
    """The session's items that raters see (automatic ties left out), by item_no:
    {item_no, example_id, first_system, second_system, prompt (messages), first_output,
    second_output}. Raises RatingError for an unknown session."""
    session(ws, session_id)
    rows = ws.query("""
        SELECT i.item_no, i.example_id, i.first_system, i.second_system, f.prompt,
               f.output AS first_output, g.output AS second_output
        FROM session_items i
        JOIN rating_sessions s ON s.id = i.session_id
        JOIN generations f ON f.run_id = s.run_id AND f.example_id = i.example_id
             AND f.system = i.first_system
        JOIN generations g ON g.run_id = s.run_id AND g.example_id = i.example_id
             AND g.system = i.second_system
        WHERE i.session_id = ? AND NOT i.auto_tie ORDER BY i.item_no""", [session_id])
    for row in rows:
        row["prompt"] = json.loads(row["prompt"])
    return rows


def save_verdicts(ws: Workspace, run_id: str, session_id: int, rows: list[dict]) -> None:
    """Store one judge run's answers: rows with the keys of ``COLUMNS``."""
    ws.insert("judge_verdicts", [{"run_id": run_id, "session_id": session_id,
                                  **{k: row[k] for k in COLUMNS}} for row in rows])


def verdict_rows(ws: Workspace, run_id: str) -> list[dict]:
    """A judge run's answers (``COLUMNS``), by item and order."""
    return ws.query(f"SELECT {', '.join(COLUMNS)} FROM judge_verdicts WHERE run_id = ? "
                    "ORDER BY item_no, order_no", [run_id])


def judge_runs(ws: Workspace, session_id: int) -> list[dict]:
    """Succeeded judge runs of a session, newest first: id, config and summary (decoded),
    created_at."""
    rows = ws.query("""
        SELECT id, config, summary, created_at FROM runs
        WHERE kind = 'judge' AND state = 'succeeded'
          AND CAST(json_extract(config, '$.session_id') AS INTEGER) = ?
        ORDER BY created_at DESC, id DESC""", [session_id])
    return [decoded_run(row) for row in rows]


__all__ = ["RatingError", "judge_items", "judge_runs", "save_verdicts", "verdict_rows"]
