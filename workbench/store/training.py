"""Training runs in the store: per-step log, exclusion findings, listing and comparison.

The job writes ``train_log.jsonl`` and ``excluded.jsonl`` in its folder; these functions
import them (the job never opens the database) and read them back for the pages and CLI.
"""

from __future__ import annotations

from workbench.store.workspace import Workspace, decoded_run

LOG_COLUMNS = ("step", "loss", "epoch", "lr", "tokens", "tokens_per_s", "elapsed_s", "val_loss",
               "cpu_s")


def import_train_log(ws: Workspace, run_id: str, records: list[dict]) -> int:
    """Replace a run's step log with ``records`` (``training.recipe.StepRecord`` dicts).

    Replacing, not appending, keeps a resumed run free of duplicate steps. Returns the count.
    """
    ws.con.execute("DELETE FROM train_log WHERE run_id = ?", [run_id])
    ws.insert("train_log", [{"run_id": run_id, **{c: r.get(c) for c in LOG_COLUMNS}}
                            for r in records])
    return len(records)


def add_exclusion_findings(ws: Workspace, dataset_id: int, run_id: str,
                           excluded: list[dict]) -> int:
    """One ``train`` finding per excluded example (code = the exclusion reason).

    ``excluded``: {"example_id", "reason", "detail"}; the message names the run, never the
    row's text (it may hold PII). Earlier findings of the same step and example are replaced.
    """
    ids = [row["example_id"] for row in excluded]
    if ids:
        ws.con.execute("DELETE FROM findings WHERE dataset_id = ? AND step = 'train' AND "
                       "example_id IN (SELECT unnest(?))", [dataset_id, ids])
    ws.insert("findings", [{
        "dataset_id": dataset_id, "example_id": row["example_id"], "step": "train",
        "code": row["reason"], "severity": "warning",
        "message": f"row {row['example_id']}: excluded from training run {run_id}: "
                   f"{row['detail']}", "message_index": None} for row in excluded])
    return len(excluded)


def train_runs(ws: Workspace) -> list[dict]:
    """Every train run, newest first: id, state, dir, dataset_id, created_at, config, summary
    (decoded)."""
    rows = ws.query("SELECT id, state, dir, dataset_id, created_at, finished_at, config, summary "
                    "FROM runs "
                    "WHERE kind = 'train' ORDER BY created_at DESC, id DESC")
    return [decoded_run(row) for row in rows]


def train_run(ws: Workspace, run_id: str) -> dict | None:
    """One train run as in ``train_runs``, or None."""
    return next((row for row in train_runs(ws) if row["id"] == run_id), None)


def set_run_state(ws: Workspace, run_id: str, state: str) -> None:
    """Mark a run queued/running again (a resume), clearing its finish time."""
    ws.con.execute("UPDATE runs SET state = ?, finished_at = NULL WHERE id = ?",
                   [state, run_id])


def version_exists(ws: Workspace, version: str) -> int | None:
    """The dataset id a recorded version belongs to, or None when it is unknown."""
    return ws.scalar("SELECT dataset_id FROM versions WHERE id = ?", [version])
