"""Data: counts, the curation stages (run buttons and a result card each), every table,
findings by code (click a bar, or pick its code in the dropdown, to list the rows behind it)
and the token-length distribution."""

import altair as alt
import streamlit as st

from views import _stages, _ui
from workbench.store.browse import datasets, finding_counts, rows_with_code, token_histogram

SEVERITY_COLORS = {"error": "#d62728", "warning": "#ff9f1c", "info": "#9aa5b1"}
path = _ui.sidebar()
st.title("Data")
with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    dataset = datasets(ws).set_index("id").loc[dataset_id]
    validate = ws.latest_run("validate", dataset_id=dataset_id) or {"config": {}}
    runs = {stage: (ws.latest_run(stage, dataset_id=dataset_id),
                    ws.latest_run(stage, dataset_id=dataset_id, offset=1))
            for stage in _stages.CURATION}
    tables = {kind: ws.browse(kind, dataset_id) for kind in ws.BROWSE}
    split = ws.split_counts(dataset_id)
    counts = finding_counts(ws, dataset_id)
    lengths = token_histogram(ws, dataset_id)

cols = st.columns(5)
cols[0].metric("Rows in", int(dataset["rows_in"]) if dataset["rows_in"] == dataset["rows_in"]
               else "–")  # NaN: not recorded
cols[1].metric("Examples", len(tables["examples"]))
cols[2].metric("Rejects", len(tables["rejects"]))
cols[3].metric("Duplicates", len(tables["duplicates"]))
cols[4].metric("PII spans", len(tables["pii_spans"]))
st.caption(f"Format: {dataset['format']} · split: "
           + (", ".join(f"{part} {n}" for part, n in split.items()) if any(split.values()) else "none yet"))

st.subheader("Curation stages")
running = _stages.active(_stages.curation_jobs(path, dataset_id))
buttons = st.columns(len(_stages.CURATION) + 1)
for column, stage in zip(buttons, [*_stages.CURATION, "all"], strict=True):
    if column.button(_stages.TITLES[stage], key=f"run_{stage}", disabled=bool(running),
                     type="primary" if stage == "all" else "secondary",
                     width="stretch"):
        _stages.start(path, dataset_id, list(_stages.CURATION) if stage == "all" else [stage])
        st.rerun()
if running:
    st.caption("A stage is running on this dataset: the buttons come back when it ends.")


@st.fragment(run_every=2 if running else None)
def stage_cards(watching: list[str]) -> None:
    """The cards; while a job runs, its progress every 2 seconds (job files only: the
    workspace stays free for the job), then the whole page again for the new results."""
    found = _stages.curation_jobs(path, dataset_id)
    if watching and not {str(j["dir"]) for j in _stages.active(found)} >= set(watching):
        st.rerun()  # a job ended: read its results
    latest = {stage: next((j for j in found if stage in j["stages"]), None)
              for stage in _stages.CURATION}
    for column, stage in zip(st.columns(len(_stages.CURATION)), _stages.CURATION,
                             strict=True):
        with column:
            _stages.card(stage, *runs[stage], latest[stage])


stage_cards([str(j["dir"]) for j in running])

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
