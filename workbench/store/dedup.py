"""SQL of deduplication and its review overrides.

Tables: ``dup_clusters`` (one row per example and level that saw it: its representative and
similarity) and ``dup_overrides`` (a person's decisions, re-applied after every dedup run).
The split and the leakage report are in ``workbench.store.splits``.
"""

from __future__ import annotations

import json

from common.errors import StageError
from workbench.store.kept import not_duplicate
from workbench.store.workspace import Workspace

OVERRIDE_ACTIONS = ("representative", "not_duplicate")
LEVELS = ("exact", "near", "semantic")


def replace_clusters(ws: Workspace, dataset_id: int, records: list[dict]) -> int:
    """Store a dedup run's cluster records, then re-apply the dataset's overrides.

    ``records``: {example_id, level, representative_id, similarity}. Returns the number of
    overrides re-applied.
    """
    ws.replace_rows("dup_clusters", dataset_id, records)
    overrides = ws.query("SELECT level, action, example_id, representative_id FROM "
                         "dup_overrides WHERE dataset_id = ? ORDER BY decision_id", [dataset_id])
    for o in overrides:
        _apply(ws, dataset_id, o["level"], o["action"], o["example_id"], o["representative_id"])
    return len(overrides)


def _apply(ws: Workspace, dataset_id: int, level: str, action: str, example_id: int,
           representative_id: int | None) -> None:
    """One override in SQL (see ``override``)."""
    params = {"d": dataset_id, "level": level, "x": example_id}
    if action == "not_duplicate":
        ws.con.execute("UPDATE dup_clusters SET representative_id = example_id, similarity = 1 "
                       "WHERE dataset_id = $d AND level = $level AND example_id = $x", params)
        return
    old = ws.scalar("SELECT representative_id FROM dup_clusters WHERE dataset_id = $d AND "
                    "level = $level AND example_id = $x", params)
    if old is None or old == example_id:
        return
    params["old"] = old
    later = LEVELS[LEVELS.index(level) + 1:]
    ws.con.execute("""UPDATE dup_clusters SET representative_id = $x, similarity = CASE
            WHEN example_id = $x THEN 1 WHEN example_id = $old THEN (SELECT similarity FROM
            dup_clusters WHERE dataset_id = $d AND level = $level AND example_id = $x)
            ELSE NULL END
        WHERE dataset_id = $d AND level = $level AND representative_id = $old""", params)
    for lv in later:  # the new representative takes the old one's place in later levels
        moved = {"d": dataset_id, "lv": lv, "x": example_id, "old": old}
        ws.con.execute("UPDATE dup_clusters SET example_id = $x WHERE dataset_id = $d AND "
                       "level = $lv AND example_id = $old", moved)
        ws.con.execute("UPDATE dup_clusters SET representative_id = $x WHERE dataset_id = $d "
                       "AND level = $lv AND representative_id = $old", moved)


def override(ws: Workspace, dataset_id: int, level: str, action: str, example_id: int,
             who: str, reason: str = "") -> int:
    """Record and apply a reviewer's decision on one cluster; returns the decision id.

    ``representative``: ``example_id`` becomes its cluster's representative (the kept row;
    the other members' similarity to it is unknown until dedup runs again and is NULL).
    ``not_duplicate``: ``example_id`` leaves its cluster and is kept (it is not compared at
    the later levels, which ran on the representatives only). Raises StageError for
    an unknown action or an example the level did not see.
    """
    if action not in OVERRIDE_ACTIONS:
        raise StageError(f"override action must be one of {OVERRIDE_ACTIONS}, not {action!r}")
    rep = ws.query("SELECT representative_id FROM dup_clusters WHERE dataset_id = ? AND "
                   "level = ? AND example_id = ?", [dataset_id, level, example_id])
    if not rep:
        raise StageError(f"example {example_id} has no {level} cluster")
    decision_id = ws.scalar("SELECT nextval('decision_ids')")
    was = rep[0]["representative_id"]
    with ws.transaction():
        ws.con.execute("INSERT INTO decisions(id, dataset_id, example_id, action, who, reason) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       [decision_id, dataset_id, example_id, f"dedup_{action}", who,
                        json.dumps({"level": level, "was_representative": was, "why": reason})])
        ws.insert("dup_overrides", [{"decision_id": decision_id, "dataset_id": dataset_id,
                                     "level": level, "action": action, "example_id": example_id,
                                     "representative_id": was}])
        _apply(ws, dataset_id, level, action, example_id, was)
    return decision_id


def finding_counts(ws: Workspace, dataset_id: int) -> dict[int, int]:
    """{example_id: number of findings} (for the 'fewest_findings' policy)."""
    return dict(ws.con.execute("SELECT example_id, count(*) FROM findings WHERE dataset_id = ? "
                               "GROUP BY example_id", [dataset_id]).fetchall())


def kept_count(ws: Workspace, dataset_id: int) -> int:
    """Examples that no dedup level made a duplicate (``workbench.store.kept.not_duplicate``)."""
    return ws.scalar(f"SELECT count(*) FROM examples e WHERE e.dataset_id = ? AND "
                     f"{not_duplicate()}", [dataset_id])


def clusters(ws: Workspace, dataset_id: int, level: str) -> list[dict]:
    """Clusters with more than one member at ``level``, largest first.

    Rows: {representative_id, size, min_similarity}.
    """
    return ws.query("""SELECT representative_id, count(*) AS size,
            min(similarity) FILTER (WHERE example_id <> representative_id) AS min_similarity
        FROM dup_clusters WHERE dataset_id = ? AND level = ? GROUP BY representative_id
        HAVING count(*) > 1 ORDER BY size DESC, representative_id""", [dataset_id, level])


def cluster_members(ws: Workspace, dataset_id: int, level: str,
                    representative_id: int) -> list[dict]:
    """Members of one cluster (representative first): id, line, similarity, messages."""
    rows = ws.query("""SELECT d.example_id, e.line, d.similarity, e.messages
        FROM dup_clusters d JOIN examples e ON e.dataset_id = d.dataset_id AND e.id = d.example_id
        WHERE d.dataset_id = ? AND d.level = ? AND d.representative_id = ?
        ORDER BY d.example_id <> d.representative_id, d.similarity DESC, d.example_id""",
                    [dataset_id, level, representative_id])
    for row in rows:
        row["messages"] = json.loads(row["messages"])
    return rows


def overrides(ws: Workspace, dataset_id: int) -> list[dict]:
    """Every recorded dedup decision of the dataset, oldest first."""
    return ws.query("""SELECT o.decision_id, o.level, o.action, o.example_id,
            o.representative_id AS was_representative, d.who, d.decided_at
        FROM dup_overrides o JOIN decisions d ON d.id = o.decision_id
        WHERE o.dataset_id = ? ORDER BY o.decision_id""", [dataset_id])
