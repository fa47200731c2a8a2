"""Privacy review: findings by type and score in context, accept/reject per span or in bulk,
redaction, the training gate (and an admin's override), the report file."""

import pandas as pd
import streamlit as st

from curation.privacy_gate import gate_decision
from curation.pii_operators import OPERATORS
from curation.pii_phone import region_label
from views import _ui
from workbench.stages import privacy
from common.errors import WorkbenchError
from workbench.store import privacy as store


def redaction_types(by_entity: dict) -> list[str]:
    """Entity types that have spans to redact (UNSUPPORTED_LANGUAGE marks a whole message
    and covers no characters)."""
    return [t for t in by_entity if t != "UNSUPPORTED_LANGUAGE"]


path = _ui.sidebar()
st.title("Privacy review")
who = st.text_input("Your name (recorded with every decision)", key="reviewer").strip()


def act(action, done: str) -> None:
    """Run a store action in its own connection, then rerun so the page shows the new state;
    domain errors become one st.error line."""
    try:
        with _ui.workspace() as ws:
            result = action(ws, ws.current_dataset())
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.session_state["privacy_flash"] = done.format(result=result)
    st.rerun()


if "privacy_flash" in st.session_state:
    st.success(st.session_state.pop("privacy_flash"))


with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    version = privacy.gate_version(ws, dataset_id)
    gate = store.blocking(ws, dataset_id)
    override = store.override_for(ws, dataset_id, version)
    counts = store.summary(ws, dataset_id)
open_count = gate["unreviewed"] + gate["accepted_not_redacted"]
decision = gate_decision(gate, override)
if decision.state == "open":
    st.success("Training gate: open. Every finding at or above the threshold is reviewed.")
elif decision.state == "overridden":
    st.warning(f"Training gate: overridden by {override['who']} ({override['at']}): "
               f"{override['reason']}")
else:
    st.error(f"Training is blocked: {gate['unreviewed']} unreviewed finding(s) with score "
             f">= {gate['threshold']} and {gate['accepted_not_redacted']} accepted but not "
             "redacted.")
if not counts["by_entity"]:
    st.info("No PII findings. Run the PII stage on the Run page (or `workbench pii`).")
    st.stop()
st.dataframe(pd.DataFrame(counts["by_entity"]).T.fillna(0).astype(int), width="stretch",
             key="by_entity")

st.subheader("Findings")
c = st.columns(3)
entity = c[0].selectbox("Entity type", list(counts["by_entity"]), key="entity")
status = c[1].selectbox("Status", ["unreviewed", "accept", "reject", "redacted", "all"],
                        key="status")
min_score = c[2].slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="min_score")
with _ui.workspace() as ws:
    rows = store.findings(ws, dataset_id, entity, None if status == "all" else status,
                          min_score, with_context=True)[:500]
table = pd.DataFrame([{"example": r["example_id"], "message": r["message_index"],
                       "score": round(r["score"], 2), "status": r["status"],
                       "region": region_label(r["region"], r["region_assumed"]),
                       "context": f"…{r['before']}[[{r['value']}]]{r['after']}…",
                       "decision": ""} for r in rows])
if rows:
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key="findings",
        disabled=[col for col in table.columns if col != "decision"],
        column_config={"decision": st.column_config.SelectboxColumn(
            "decision", options=["", "accept", "reject"], help="accept = is PII")})
    chosen = [(rows[i], d) for i, d in enumerate(edited["decision"]) if d]
    if st.button(f"Save {len(chosen)} decision(s)", key="save", disabled=not chosen):
        act(lambda ws, d: sum(store.decide(ws, d, [r for r, x in chosen if x == decision],
                                           decision, who)
                              for decision in ("accept", "reject")
                              if any(x == decision for _, x in chosen)),
            "{result} decision(s) saved")
else:
    st.caption("Nothing here with these filters.")

st.subheader("Bulk decision")
c = st.columns([2, 1, 3])
bulk_decision = c[1].radio("Decision", ["reject", "accept"], key="bulk_decision")
reason = c[2].text_input("Reason (kept in the audit log)", key="bulk_reason")
c[0].caption(f"Every unreviewed **{entity}** finding at score ≥ {min_score:.2f}")
if st.button(f"Apply to all unreviewed {entity}", key="bulk"):
    act(lambda ws, d: store.decide_entity(ws, d, entity, bulk_decision, who, reason, min_score),
        "{result} finding(s) decided")
with st.expander("By value list (e.g. the story characters of a word-problem set)"):
    name = st.text_input("List name", key="list_name")
    values = st.text_area("Values, one per line", key="list_values").splitlines()
    if st.button("Apply the list", key="list"):
        act(lambda ws, d: store.decide_values(ws, d, name, values, bulk_decision, who, reason,
                                              entity), "{result} finding(s) decided")

st.subheader("Redact")
st.caption("Operator per entity type: replace = `<TYPE>`, mask = `****` but the last 4 "
           "characters, hash = salted token (same value, same token), redact = removed, "
           "fake = a realistic Faker value (same value, same fake).")
operator_table = pd.DataFrame({"entity type": redaction_types(counts["by_entity"]),
                               "operator": "replace"})
edited_ops = st.data_editor(
    operator_table, hide_index=True, key="redact_operators", disabled=["entity type"],
    column_config={"operator": st.column_config.SelectboxColumn(
        "operator", options=list(OPERATORS), required=True)})
operators = dict(zip(edited_ops["entity type"], edited_ops["operator"], strict=True))
include = st.checkbox("Also unreviewed findings", key="include_unreviewed")
if st.button("Redact accepted findings", key="redact"):
    try:
        done = privacy.redact(path, who, operators, "replace", include)
        st.session_state["privacy_flash"] = (f"Redacted {done['spans']} span(s) in "
                                             f"{done['examples']} example(s); re-scan passed.")
        st.rerun()
    except WorkbenchError as exc:
        st.error(str(exc))

st.subheader("Admin override")
override_reason = st.text_input("Why may this version train with open findings?",
                                key="override_reason")
if st.button("Override the training gate", key="override", disabled=not open_count):
    act(lambda ws, d: store.override(ws, d, version, who, override_reason,
                                      app_admin=True),
        "Override recorded in the audit log")

with _ui.workspace() as ws:
    report = privacy.report_markdown(store.report(ws, dataset_id))
st.download_button("Download the privacy report", report, "privacy_report.md",
                   "text/markdown", key="report")
