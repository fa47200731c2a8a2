"""The one shared UI helper module: the workspace path, per-action store access, errors.

The app holds no DuckDB connection between actions (DESIGN.md): each read opens the
workspace, reads, and closes it, so the CLI can work on the same workspace meanwhile.
Domain errors become ``st.error`` lines, never tracebacks.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.settings import REPO_ROOT
from workbench.store import DB_NAME, open_workspace


def workspace_path() -> Path:
    """``$WORKBENCH_WORKSPACE`` or ``<repo>/workspaces/demo``."""
    return Path(os.environ.get("WORKBENCH_WORKSPACE", REPO_ROOT / "workspaces" / "demo")).resolve()


def sidebar() -> Path:
    """Show the workspace in the sidebar; returns its path."""
    path = workspace_path()
    st.sidebar.caption(f"Workspace: `{path}`")
    return path


@contextmanager
def workspace():
    """Open the workspace for one action; WorkbenchError → st.error and the page stops."""
    path = workspace_path()
    if not (path / DB_NAME).exists():
        st.info(f"No workspace at `{path}` yet. Start a pipeline on the Run page, or run "
                "`make run` to build the demo workspace.")
        st.stop()
    try:
        with open_workspace(path, create=False) as ws:
            yield ws
    except WorkbenchError as exc:
        st.error(str(exc))
        st.stop()


def show_error(exc: Exception) -> None:
    st.error(str(exc))


def describe(summary: dict,
             skip: tuple = ("run_id", "adapter", "dataset_id", "metrics")) -> str:
    """One line from a stage summary: ``key value · key value``, nested dicts inline.

    >>> describe({"exact_duplicates": 4, "by_code": {"a": 1}, "run_id": "x"})
    'exact duplicates 4 · by code a 1'
    """
    parts = []
    for key, value in summary.items():
        if key in skip or value is None:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return " · ".join(parts)
