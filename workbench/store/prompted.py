"""SQL of prompted systems: the duplicate clusters that shots must avoid, the dataset's most
common system message (the Run page's default task prompt), and the shot counts of a
generate run."""

from __future__ import annotations

import json
from collections import Counter

from workbench.store.workspace import Workspace


def cluster_pairs(ws: Workspace, dataset_id: int) -> list[tuple[int, int]]:
    """(example id, representative id) of every row of every dedup level of the dataset."""
    rows = ws.query("SELECT example_id, representative_id FROM dup_clusters "
                    "WHERE dataset_id = ? AND representative_id IS NOT NULL", [dataset_id])
    return [(int(r["example_id"]), int(r["representative_id"])) for r in rows]


def common_system_message(ws: Workspace, dataset_id: int | None = None) -> str | None:
    """The most frequent system message of the dataset's examples (default: the newest
    dataset; ties: the first seen in id order), or None when no example has one or there is
    no dataset."""
    if dataset_id is None:
        dataset_id = ws.scalar("SELECT max(id) FROM datasets")
    rows = ws.query("SELECT messages FROM examples WHERE dataset_id = ? ORDER BY id",
                    [dataset_id])
    counts = Counter(m["content"] for r in rows for m in json.loads(r["messages"])
                     if m.get("role") == "system" and str(m.get("content", "")).strip())
    return counts.most_common(1)[0][0] if counts else None


def shot_counts(ws: Workspace, run_id: str) -> dict[str, dict[int, int]]:
    """{system: {example id: shots its prompt got}} of a generate run's prompted systems."""
    out: dict[str, dict[int, int]] = {}
    for r in ws.query("SELECT system, example_id, shots FROM generations WHERE run_id = ? "
                      "AND shots IS NOT NULL ORDER BY system, example_id", [run_id]):
        out.setdefault(r["system"], {})[int(r["example_id"])] = int(r["shots"])
    return out
