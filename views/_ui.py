"""The one shared UI helper module: the workspace path, per-action store access, errors.

The app holds no DuckDB connection between actions: each read opens the
workspace, reads, and closes it, so the CLI can work on the same workspace meanwhile.
Domain errors become ``st.error`` lines, never tracebacks.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from views import _current
from workbench.auth import AuthError
from common.errors import NoDataset, WorkbenchError
from common.settings import REPO_ROOT
from workbench.store import DB_NAME
from workbench.store.pool import shared_workspace


def workspace_path() -> Path:
    """``$WORKBENCH_WORKSPACE`` or ``<repo>/workspaces/demo``."""
    return Path(os.environ.get("WORKBENCH_WORKSPACE", REPO_ROOT / "workspaces" / "demo")).resolve()


def sidebar() -> Path:
    """Show the workspace and the current dataset and version pickers
    (``views._current.picker``) in the sidebar; returns the workspace path."""
    path = workspace_path()
    st.sidebar.caption(f"Workspace: `{path}`")
    if (path / DB_NAME).exists():
        _current.picker(path)
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
        with shared_workspace(path) as ws:  # one connection per process, a cursor per action
            yield ws
    except NoDataset:  # a new workspace: say where to start, not an error
        no_dataset()
    except WorkbenchError as exc:
        if isinstance(exc, AuthError):  # e.g. a token revoked meanwhile: log the rater out
            st.session_state.pop("auth", None)
        st.error(str(exc))
        st.stop()


def no_dataset() -> None:
    """What a page shows (then stops) in a workspace with nothing imported yet."""
    st.info("No dataset yet: import a file on the **Datasets** page (or run "
            "`workbench ingest`), then run the curation stages on the **Data** page.")
    st.stop()


# -- roles: who is logged in, and refusing everyone else --------------------------
def auth() -> dict:
    """The logged-in identity: ``{"role": "admin"}``, ``{"role": "rater", "rater_id",
    "session_id", "name"}``, or ``{}`` (nobody). Lives in this browser session only."""
    return st.session_state.get("auth") or {}


def refuse(login=None) -> None:
    """The whole answer to a page this role may not open: one line, and with ``login`` (the
    login page) a link to it, nothing else."""
    st.error("Not allowed: this page is not available to you.", icon="🚫")
    if login is not None:
        st.page_link(login, label="Log in", icon="🔑")
    st.stop()


def require(role: str) -> dict:
    """Stop the page with a refusal unless the logged-in role is ``role``."""
    if auth().get("role") != role:
        refuse()
    return auth()


def refusal_pages(pages: list, login=None) -> list:
    """Hidden stand-ins at the URL paths of ``pages``: opening one shows only the refusal;
    with ``login`` (the login page, for visitors not logged in, e.g. an admin whose session
    ended on a bookmarked page) also a link to it."""
    def refusal() -> None:
        refuse(login)

    # ``url_path`` is "" for the default page; ``_url_path`` keeps the path it has elsewhere
    return [st.Page(refusal, title="Not allowed", url_path=page._url_path) for page in pages]


def logout_button() -> None:
    if st.sidebar.button("Log out", key="logout"):
        st.session_state.pop("auth", None)
        st.rerun()


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
        if key in skip or value is None or value == {}:  # nothing to say
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return " · ".join(parts)


def chart_pick(event, param: str, field: str) -> str | None:
    """The ``field`` value of the first datum chosen in a chart's point selection ``param``.

    ``event``: what ``st.altair_chart(..., on_select="rerun")`` returns (a VegaLiteState:
    {"selection": {param: [{field: value, ...}, ...]}}); None when nothing is chosen or the
    chart was drawn without selections (e.g. under AppTest, which cannot click).
    """
    try:
        chosen = event["selection"][param]
    except (KeyError, TypeError):
        return None
    if isinstance(chosen, dict):  # Vega-Lite's {field: [values]} form of a point selection
        values = chosen.get(field) or []
        return str(values[0]) if values else None
    for datum in chosen or []:
        if datum.get(field) is not None:
            return str(datum[field])
    return None
