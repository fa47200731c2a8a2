"""What preference pairs are made of, read from the rating sessions: first-showing ratings
with rater names, the prompts and the outputs of the sessions' items.

Run as: ``with open_workspace(path) as ws: ratings, prompts, outputs = pair_sources(ws, [1])``
(then ``evaluation.preferences.extract_pairs(ratings, prompts, outputs)``).
"""

from __future__ import annotations

import json

from workbench.store.sessions import RatingError
from workbench.store.workspace import Workspace, decoded_run


def pair_sources(ws: Workspace, session_ids: list[int]) -> tuple[list[dict], dict, dict]:
    """(ratings, prompts, outputs) of the sessions, the inputs of
    ``evaluation.preferences.extract_pairs``.

    ratings: rows {session_id, item_no, example_id, rater (name), is_repeat, label,
    first_system, second_system} in submission order; prompts: {(session_id, example_id):
    messages}; outputs: {(session_id, example_id, system): text}. Raises RatingError naming
    the sessions that do not exist.
    """
    ids = sorted(set(session_ids))
    known = {r["id"] for r in ws.query("SELECT id FROM rating_sessions WHERE list_contains(?, id)",
                                       [ids])}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise RatingError(f"no rating session {', '.join(map(str, unknown))}")
    ratings = ws.query("""
        SELECT x.session_id, x.item_no, i.example_id, r.name AS rater, a.is_repeat, x.label,
               i.first_system, i.second_system
        FROM session_ratings x
        JOIN session_raters r ON r.id = x.rater_id
        JOIN assignments a ON a.rater_id = x.rater_id AND a.position = x.position
        JOIN session_items i ON i.session_id = x.session_id AND i.item_no = x.item_no
        WHERE list_contains(?, x.session_id) ORDER BY x.seq""", [ids])
    texts = ws.query("""
        SELECT s.id AS session_id, g.example_id, g.system, g.prompt, g.output
        FROM rating_sessions s JOIN generations g ON g.run_id = s.run_id
        WHERE list_contains(?, s.id)
          AND g.example_id IN (SELECT example_id FROM session_items WHERE session_id = s.id)""",
                     [ids])
    prompts = {(t["session_id"], t["example_id"]): json.loads(t["prompt"]) for t in texts}
    outputs = {(t["session_id"], t["example_id"], t["system"]): t["output"] for t in texts}
    return ratings, prompts, outputs


def session_sources(ws: Workspace, session_ids: list[int]) -> dict:
    """{session_id: {"run_id", "dataset_id", "name"}}: each session's generate run and the
    dataset that run was recorded for (None for a run without one)."""
    rows = ws.query("""
        SELECT s.id, s.name, s.run_id, r.dataset_id FROM rating_sessions s
        LEFT JOIN runs r ON r.id = s.run_id WHERE list_contains(?, s.id) ORDER BY s.id""",
                    [sorted(set(session_ids))])
    return {r["id"]: {"run_id": r["run_id"], "dataset_id": r["dataset_id"], "name": r["name"]}
            for r in rows}


def run_record(ws: Workspace, run_id: str) -> dict | None:
    """One row of ``runs`` (id, kind, state, dataset_id, dir, config, summary decoded), or
    None."""
    rows = ws.query("SELECT id, kind, state, dataset_id, dir, config, summary FROM runs "
                    "WHERE id = ?", [run_id])
    return decoded_run(rows[0]) if rows else None


def rater_names(ws: Workspace, session_id: int) -> list[str]:
    """Names of a session's raters who are not revoked, sorted."""
    return [r["name"] for r in ws.query("SELECT name FROM session_raters WHERE session_id = ? "
                                        "AND revoked_at IS NULL ORDER BY name", [session_id])]


def preference_runs(ws: Workspace, session_id: int) -> list[dict]:
    """Succeeded dpo / orpo runs that learned from ``session_id``, newest first: id, kind,
    start (the model they started from: "base" or a run id), summary (decoded)."""
    rows = ws.query("""
        SELECT id, kind, json_extract_string(config, '$.lineage.start.from') AS start, summary
        FROM runs WHERE kind IN ('dpo', 'orpo') AND state = 'succeeded'
          AND list_contains(CAST(json_extract(config, '$.lineage.preferences.sessions')
                                 AS INTEGER[]), ?)
        ORDER BY created_at DESC, id DESC""", [session_id])
    return [decoded_run(row) for row in rows]


def all_preference_runs(ws: Workspace) -> list[dict]:
    """Every dpo / orpo run, any state, newest first: id, kind, state, dir, summary
    (decoded)."""
    rows = ws.query("SELECT id, kind, state, dir, summary FROM runs WHERE kind IN ('dpo', "
                    "'orpo') ORDER BY created_at DESC, id DESC")
    return [decoded_run(row) for row in rows]
