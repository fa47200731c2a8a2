"""Reads about one dataset that the stages and pages ask for: does it exist, its facts for the
lineage, its lines, its split seed, the finding codes it has."""

from __future__ import annotations

from workbench.store.workspace import Workspace


def dataset_exists(ws: Workspace, dataset_id: int) -> bool:
    """Whether a dataset with this id is in the workspace."""
    return bool(ws.scalar("SELECT count(*) FROM datasets WHERE id = ?", [dataset_id]))


def dataset_facts(ws: Workspace, dataset_id: int) -> dict:
    """{"name", "source", "format"} of a dataset (the lineage's ``dataset``)."""
    return ws.query("SELECT name, source, format FROM datasets WHERE id = ?", [dataset_id])[0]


def example_lines(ws: Workspace, dataset_id: int) -> dict[int, int]:
    """{example id: line number in the source file} of a dataset's examples."""
    return dict(ws.con.execute("SELECT id, line FROM examples WHERE dataset_id = ?",
                               [dataset_id]).fetchall())


def has_split(ws: Workspace, dataset_id: int) -> bool:
    """Whether the dataset's rows have been split."""
    return bool(ws.scalar("SELECT count(*) FROM splits WHERE dataset_id = ?", [dataset_id]))


def split_seed(ws: Workspace, dataset_id: int) -> int | None:
    """The seed of the dataset's split, None before any split."""
    rows = ws.query("SELECT DISTINCT seed FROM splits WHERE dataset_id = ?", [dataset_id])
    return rows[0]["seed"] if rows else None


def finding_codes(ws: Workspace, dataset_id: int) -> list[str]:
    """The distinct finding codes of a dataset, sorted (the Browse page's filter choices)."""
    return [r["code"] for r in ws.query("SELECT DISTINCT code FROM findings WHERE "
                                        "dataset_id = ? ORDER BY code", [dataset_id])]
