"""Data: the examples, rejects and findings of every stage, as tables."""

import streamlit as st

from views import _ui

_ui.sidebar()
st.title("Data")
with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    ingest = ws.latest_run("ingest") or {"summary": {}}
    tables = {kind: ws.browse(kind, dataset_id) for kind in ws.BROWSE}
    split = ws.split_counts(dataset_id)

summary = ingest["summary"] or {}
cols = st.columns(5)
cols[0].metric("Rows in", summary.get("rows_in", "–"))
cols[1].metric("Examples", len(tables["examples"]))
cols[2].metric("Rejects", len(tables["rejects"]))
cols[3].metric("Duplicates", len(tables["duplicates"]))
cols[4].metric("PII spans", len(tables["pii_spans"]))
st.caption(f"Format: {summary.get('format', '?')} · split: {split}")

labels = {"examples": "Examples", "rejects": "Rejects", "findings": "Validation findings",
          "duplicates": "Duplicates", "pii_spans": "PII spans"}
for tab, kind in zip(st.tabs(list(labels.values())), labels):
    with tab:
        frame = tables[kind]
        if frame.empty:
            st.caption(f"No {labels[kind].lower()}.")
        else:
            st.dataframe(frame, hide_index=True, width="stretch", key=f"table_{kind}")
