"""The current dataset and version: one choice per workspace, made in the sidebar.

The choice lives in the workspace (``Workspace.current_dataset``, the ``current_version``
setting), so every page, every stage started from a page (a job in another process), the
report and the CLI read the same one. ``picker`` draws the sidebar's two select boxes;
``offer_switch`` is what the Datasets page shows after an import: the new dataset becomes
current only when the user says so.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from common.errors import NoDataset, WorkbenchError
from workbench.store import DB_NAME
from workbench.store.browse import datasets
from workbench.store.pool import shared_workspace
from workbench.store.versions import list_versions

WORKING = ""  # the version choice "working rows": the dataset as curated now, not frozen
OFFER = "switch_offer"  # session key: {"id", "name", "previous"} of a dataset just imported


def _choices(ws) -> tuple[dict[int, str], int, dict[str, str], str]:
    """({dataset id: label}, current id, {version id: label}, current version)."""
    table = datasets(ws)
    labels = {int(r.id): f"{r.name} · #{r.id} · {r.examples} rows"
              for r in table.itertuples()}
    current = ws.current_dataset()
    frozen = list_versions(ws)
    frozen = frozen[frozen["dataset_id"] == current]
    versions = {WORKING: "working rows (not frozen)"}
    versions.update({r.id: f"{r.id[:12]} · {r.n_rows} rows · {r.note or 'no note'}"
                     for r in frozen.itertuples()})
    chosen = ws.setting("current_version") or WORKING
    return labels, current, versions, chosen if chosen in versions else WORKING


def _set_dataset(path: Path) -> None:
    _write(path, lambda ws: ws.set_current_dataset(int(st.session_state["dataset_picker"])))
    st.session_state.pop(OFFER, None)


def _set_version(path: Path) -> None:
    _write(path, lambda ws: ws.set_setting("current_version",
                                           st.session_state["version_picker"] or None))


def _write(path: Path, action) -> None:
    try:
        with shared_workspace(path) as ws:
            action(ws)
    except WorkbenchError as exc:
        st.session_state["picker_error"] = str(exc)


def current_id(path: Path) -> int | None:
    """The current dataset's id; None before any import (or without a workspace)."""
    if not (path / DB_NAME).exists():
        return None
    try:
        with shared_workspace(path) as ws:
            return ws.current_dataset()
    except NoDataset:
        return None


def picker(path: Path) -> dict | None:
    """The sidebar's dataset and version pickers; returns {"dataset_id", "dataset",
    "version"} (version "" = the working rows), or None before any import."""
    try:
        with shared_workspace(path) as ws:
            labels, current, versions, version = _choices(ws)
    except NoDataset:
        return None
    except WorkbenchError as exc:  # e.g. busy: the page itself will say so
        st.sidebar.caption(f"Current dataset unknown: {exc}")
        return None
    # the workspace's choice wins over this browser's last one (another tab or the CLI)
    st.session_state["dataset_picker"] = current
    st.session_state["version_picker"] = version
    st.sidebar.selectbox("Current dataset", list(labels), key="dataset_picker",
                         format_func=labels.get, on_change=_set_dataset, args=(path,),
                         help="Every page, stage and report works on this dataset.")
    st.sidebar.selectbox("Version", list(versions), key="version_picker",
                         format_func=versions.get, on_change=_set_version, args=(path,),
                         help="Freeze the rows as a version on the Versions page.")
    if "picker_error" in st.session_state:
        st.sidebar.error(st.session_state.pop("picker_error"))
    return {"dataset_id": current, "dataset": labels[current], "version": version}


def offer_switch(path: Path) -> None:
    """After an import (``OFFER`` set): ask whether the new dataset becomes the current one."""
    offer = st.session_state.get(OFFER)
    if not offer:
        return
    box = st.container(border=True)
    box.markdown(f"**Switch to the new dataset #{offer['id']}?** The pages still show "
                 f"dataset #{offer['previous']}.")
    box.text(f"New dataset: {offer['name']}")  # a file name: shown as text, not markdown
    c = box.columns([1, 1, 3])
    if c[0].button(f"Switch to #{offer['id']}", key="switch_yes", type="primary"):
        _write(path, lambda ws: ws.set_current_dataset(offer["id"]))
        st.session_state.pop(OFFER, None)
        st.rerun()
    if c[1].button(f"Stay on #{offer['previous']}", key="switch_no"):
        st.session_state.pop(OFFER, None)
        st.rerun()
