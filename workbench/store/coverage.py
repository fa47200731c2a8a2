"""Coverage maps: cached 2-D coordinates, clusters and labels, and each row's attributes
(split, duplicate status, PII findings) that colour the map.

Tables ``coverage_maps`` and ``coverage_points`` (migration m014_coverage_map).
A map is keyed by (dataset, ``key``): the caller's hash of everything that changes the
coordinates (settings, embedding model, the rows' texts and splits), so a map is recomputed
only when one of them changed. The attributes are read fresh on every call: a dedup or PII
review changes the colours, never the coordinates.
"""

from __future__ import annotations

import json

from workbench.store.workspace import Workspace

POINT_FIELDS = ("example_id", "x", "y", "cluster", "nearest_train", "uncovered")


def map_rows(ws: Workspace, dataset_id: int) -> list[dict]:
    """Every example of a dataset with what colours the map, in id order.

    Rows {example_id, line, messages (as trained: the redacted text where one was applied),
    split (None before a split), duplicate ("unique", "representative" or "duplicate" at any
    dedup level), pii (number of PII spans found)}.
    """
    rows = ws.query("""
        SELECT e.id AS example_id, e.line, coalesce(e.redacted_messages, e.messages) AS messages,
            s.split,
            CASE WHEN EXISTS (SELECT 1 FROM dup_clusters d WHERE d.dataset_id = e.dataset_id
                              AND d.example_id = e.id AND d.representative_id <> e.id)
                 THEN 'duplicate'
                 WHEN EXISTS (SELECT 1 FROM dup_clusters d WHERE d.dataset_id = e.dataset_id
                              AND d.representative_id = e.id AND d.example_id <> e.id)
                 THEN 'representative' ELSE 'unique' END AS duplicate,
            (SELECT count(*) FROM pii_spans p WHERE p.dataset_id = e.dataset_id
             AND p.example_id = e.id) AS pii
        FROM examples e
        LEFT JOIN splits s ON s.dataset_id = e.dataset_id AND s.example_id = e.id
        WHERE e.dataset_id = ? ORDER BY e.id""", [dataset_id])
    for row in rows:
        row["messages"] = json.loads(row["messages"])
    return rows


def save_map(ws: Workspace, dataset_id: int, key: str, config: dict,
             labels: dict[int, list[str]], points: list[dict]) -> None:
    """Store a map under (dataset, key), replacing one stored under the same key.

    ``points``: rows with ``POINT_FIELDS``; ``labels``: {cluster: words}.
    """
    with ws.transaction():
        ws.con.execute("DELETE FROM coverage_points WHERE dataset_id = ? AND key = ?",
                       [dataset_id, key])
        ws.con.execute("DELETE FROM coverage_maps WHERE dataset_id = ? AND key = ?",
                       [dataset_id, key])
        ws.con.execute("INSERT INTO coverage_maps(dataset_id, key, config, labels) "
                       "VALUES (?, ?, ?, ?)",
                       [dataset_id, key, json.dumps(config),
                        json.dumps({str(c): words for c, words in labels.items()})])
        ws.insert("coverage_points", [{"dataset_id": dataset_id, "key": key,
                                       **{f: p[f] for f in POINT_FIELDS}} for p in points])


def load_map(ws: Workspace, dataset_id: int, key: str) -> dict | None:
    """The map stored under (dataset, key): {"config", "labels" {cluster: words}, "points"
    [rows with POINT_FIELDS, by example id]}, or None when there is none."""
    found = ws.query("SELECT config, labels FROM coverage_maps WHERE dataset_id = ? AND key = ?",
                     [dataset_id, key])
    if not found:
        return None
    points = ws.query(f"SELECT {', '.join(POINT_FIELDS)} FROM coverage_points WHERE "
                      "dataset_id = ? AND key = ? ORDER BY example_id", [dataset_id, key])
    return {"config": json.loads(found[0]["config"]),
            "labels": {int(c): words for c, words in json.loads(found[0]["labels"]).items()},
            "points": points}
