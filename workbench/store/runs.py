"""Reads of the runs table that the stages and pages ask for beyond ``Workspace.latest_run``:
a run's dataset and data version, the score of a generate run, generate runs and their systems.
"""

from __future__ import annotations

import json

from workbench.store.workspace import Workspace


def run_dataset(ws: Workspace, run_id: str) -> int | None:
    """The dataset id a run was recorded for."""
    return ws.scalar("SELECT dataset_id FROM runs WHERE id = ?", [run_id])


def run_dataset_version(ws: Workspace, run_id: str) -> str | None:
    """The dataset version in a train run's lineage (its config's ``lineage.dataset_version``)."""
    return ws.scalar("SELECT json_extract_string(config, '$.lineage.dataset_version') "
                     "FROM runs WHERE id = ?", [run_id])


def score_summary(ws: Workspace, generate_run_id: str) -> dict | None:
    """The summary of the latest succeeded score run of a generate run, None before any."""
    rows = ws.query("SELECT summary FROM runs WHERE kind = 'score' AND state = 'succeeded' "
                    "ORDER BY created_at DESC")
    for row in rows:
        summary = json.loads(row["summary"]) if isinstance(row["summary"], str) else row["summary"]
        if (summary or {}).get("run_id") == generate_run_id:
            return summary
    return None


def generate_run_systems(ws: Workspace) -> dict[str, list[str]]:
    """{generate run id: its systems, sorted} of every succeeded generate run, newest first."""
    runs = ws.query("SELECT id FROM runs WHERE kind = 'generate' AND state = 'succeeded' "
                    "ORDER BY created_at DESC")
    return {r["id"]: [s["system"] for s in ws.query(
        "SELECT DISTINCT system FROM generations WHERE run_id = ? ORDER BY 1", [r["id"]])]
        for r in runs}
