"""Data: counts, every table, validation findings by code (with the rows behind each bar)
and the token-length distribution."""

import streamlit as st

from views import _ui
from workbench.store.browse import finding_counts, rows_with_code, token_histogram

SEVERITY_COLORS = {"error": "#d62728", "warning": "#ff9f1c", "info": "#9aa5b1"}
_ui.sidebar()
st.title("Data")
with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    ingest = ws.latest_run("ingest") or {"summary": {}}
    validate = ws.latest_run("validate") or {"config": {}}
    tables = {kind: ws.browse(kind, dataset_id) for kind in ws.BROWSE}
    split = ws.split_counts(dataset_id)
    counts = finding_counts(ws, dataset_id)
    lengths = token_histogram(ws, dataset_id)

summary = ingest["summary"] or {}
cols = st.columns(5)
cols[0].metric("Rows in", summary.get("rows_in", "–"))
cols[1].metric("Examples", len(tables["examples"]))
cols[2].metric("Rejects", len(tables["rejects"]))
cols[3].metric("Duplicates", len(tables["duplicates"]))
cols[4].metric("PII spans", len(tables["pii_spans"]))
st.caption(f"Format: {summary.get('format', '?')} · split: "
           + (", ".join(f"{part} {n}" for part, n in split.items()) if any(split.values()) else "none yet"))

findings_tab, lengths_tab = st.columns(2)
with findings_tab:
    st.subheader("Findings by code")
    if counts.empty:
        st.caption("No validation findings.")
    else:
        bars = counts.pivot(index="code", columns="severity", values="rows").fillna(0)
        st.bar_chart(bars, horizontal=True, y_label="rows",
                     color=[SEVERITY_COLORS[name] for name in bars.columns])
        code = st.selectbox("Rows behind a bar", counts["code"].tolist(), key="finding_code")
        with _ui.workspace() as ws:
            behind = rows_with_code(ws, dataset_id, code)
        st.dataframe(behind, hide_index=True, width="stretch", key="rows_behind")
with lengths_tab:
    st.subheader("Token lengths")
    if lengths.empty:
        st.caption("No token counts yet: run validate.")
    else:
        max_len = (validate["config"] or {}).get("max_seq_len")
        st.bar_chart(lengths, x="tokens", y="rows")
        st.caption("Templated length with the base model's chat template"
                   + (f"; max_seq_len {max_len}" if max_len else ""))

labels = {"examples": "Examples", "rejects": "Rejects", "findings": "Validation findings",
          "duplicates": "Duplicates", "pii_spans": "PII spans"}
for tab, kind in zip(st.tabs(list(labels.values())), labels, strict=True):
    with tab:
        frame = tables[kind]
        if frame.empty:
            st.caption(f"No {labels[kind].lower()}.")
        else:
            st.dataframe(frame, hide_index=True, width="stretch", key=f"table_{kind}")
