"""Data: counts, every table, findings by code (click a bar, or pick its code in the
dropdown, to list the rows behind it) and the token-length distribution."""

import altair as alt
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
        st.caption("No findings.")
    else:
        pick = alt.selection_point(name="pick", fields=["code"], on="click")
        chart = alt.Chart(counts).mark_bar().encode(
            x=alt.X("sum(rows):Q", title="rows"),
            y=alt.Y("code:N", sort="-x", title=None),
            color=alt.Color("severity:N", scale=alt.Scale(
                domain=list(SEVERITY_COLORS), range=list(SEVERITY_COLORS.values()))),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
            tooltip=["code", "severity", "rows", "findings"],
        ).add_params(pick)
        event = st.altair_chart(chart, on_select="rerun", selection_mode="pick",
                                key="findings_chart")
        clicked = _ui.chart_pick(event, "pick", "code")
        if clicked != st.session_state.get("finding_click"):  # a new click drives the dropdown
            st.session_state["finding_click"] = clicked
            if clicked in counts["code"].tolist():
                st.session_state["finding_code"] = clicked
        code = st.selectbox("Rows behind a bar (click a bar, or choose its code)",
                            counts["code"].tolist(), key="finding_code")
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
