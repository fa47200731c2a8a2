"""Datasets: import a file (any format, with a column/role mapping) and mix datasets into a
new one by ratios or counts."""

from pathlib import Path

import streamlit as st

from curation.formats import FORMATS
from views import _current, _ui
from workbench.stages import curation as stages
from common.errors import WorkbenchError
from workbench import paths
from workbench.paths import allowed_roots, confine
from workbench.store.browse import datasets

path = _ui.sidebar()
st.title("Datasets")

with st.form("import_form"):
    st.subheader("Import")
    upload = st.file_uploader("Upload a file (JSONL, JSON, CSV, Parquet, ...)", key="upload")
    source = st.text_input("or a file / saved HF dataset folder on this machine",
                           key="import_path")
    fmt = st.selectbox("Format", ["auto", *FORMATS], key="import_format")
    c = st.columns(2)
    columns = c[0].text_input("Rename columns", key="columns",
                              placeholder="question=instruction, answer=output")
    roles = c[1].text_input("Rename roles", key="roles", placeholder="bot=assistant")
    imported = st.form_submit_button("Import", key="import")


def pairs(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def run(action, *args) -> dict | None:
    try:
        return action(path, *args)
    except WorkbenchError as exc:
        _ui.show_error(exc)
        return None


def save_upload(upload) -> str:
    """The uploaded file, saved in the workspace (``workbench.paths.save_upload``)."""
    return str(paths.save_upload(path, upload.name, upload.getvalue()))


def ingest_confined(ws_path: Path, typed: str, *rest) -> dict:
    """Ingest a typed path only inside the allowed folders (workspace, demo data,
    $WORKBENCH_DATA_DIRS); an upload is saved in the workspace, so it always is."""
    return stages.ingest(ws_path, str(confine(typed, allowed_roots(ws_path))), *rest,
                         make_current=False)


def offer(summary: dict, name: str, previous: int | None) -> None:
    """Ask (``_current.offer_switch``) before the new dataset becomes the current one; the
    first dataset of a workspace is current at once."""
    if previous is not None and previous != summary["dataset_id"]:
        st.session_state[_current.OFFER] = {"id": summary["dataset_id"], "name": name,
                                            "previous": previous}


if imported and upload is None and not source.strip():
    st.error("Choose a file to upload, or type the path of one.")
elif imported:
    if upload is not None:
        source = save_upload(upload)
    previous = _current.current_id(path)
    summary = run(ingest_confined, source.strip(), fmt, pairs(columns), pairs(roles))
    if summary:
        st.session_state["datasets_flash"] = (f"Imported as dataset {summary['dataset_id']}: "
                                              + _ui.describe(summary))
        if summary.get("rejects"):
            st.session_state["datasets_rejects"] = summary["dataset_id"]
        offer(summary, Path(source.strip()).name, previous)
        st.rerun()  # the sidebar's picker lists the new dataset
if "datasets_flash" in st.session_state:
    st.success(st.session_state.pop("datasets_flash"))
if "datasets_rejects" in st.session_state:  # which lines did not import, and why
    with _ui.workspace() as ws:
        rejects = ws.browse("rejects", st.session_state.pop("datasets_rejects"))
    st.warning(f"{len(rejects)} row(s) rejected, each kept with its line and reason (also on "
               "the Data page, Rejects, once this dataset is the current one):")
    st.dataframe(rejects[["line", "reason", "detail"]].head(50), hide_index=True,
                 key="import_rejects")
_current.offer_switch(path)

if (path / "workspace.duckdb").exists():
    with _ui.workspace() as ws:
        table = datasets(ws)
    table.insert(0, "current", table["id"] == _current.current_id(path))
    st.subheader("Datasets")
    st.dataframe(table, hide_index=True, width="stretch", key="datasets")

    with st.form("mix_form"):
        st.subheader("Mix")
        specs = st.text_input("Sources", key="mix_sources", placeholder="1:70%, 2:30%  or  1:500, 2:200",
                              help="DATASET_ID:RATIO (0.3 or 30%) or DATASET_ID:COUNT")
        c = st.columns(3)
        total = c[0].number_input("Total rows (ratios; 0 = as many as possible)", 0, None, 0,
                                  key="mix_total")
        seed = c[1].number_input("Seed", 0, None, 0, key="mix_seed")
        name = c[2].text_input("Name", "mix", key="mix_name")
        mixed = st.form_submit_button("Mix", key="mix")
    if mixed:
        previous = _current.current_id(path)
        summary = run(stages.mix, pairs(specs), int(total) or None, int(seed), name, False)
        if summary:
            st.session_state["datasets_flash"] = (f"Mixed into dataset {summary['dataset_id']}: "
                                                  + _ui.describe(summary))
            offer(summary, name, previous)
            st.rerun()
