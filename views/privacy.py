"""Privacy review: findings by type and score in context (opening on those that block
training), accept/reject per span or in bulk (a bulk decision says how many findings it
decides and asks to confirm), redaction, the training gate (and an admin's override), the
report file."""

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


BLOCKING = "blocks training"  # the status filter the page opens on
ALL_TYPES = "all types"
CLEARED = ("bulk_reason", "list_name", "list_values")  # emptied after a bulk decision


def act(action, done: str, clear: tuple = ()) -> None:
    """Run a store action in its own connection, then rerun so the page shows the new state
    with the ``clear`` fields emptied; domain errors become one st.error line."""
    try:
        with _ui.workspace() as ws:
            result = action(ws, ws.current_dataset())
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.session_state["privacy_flash"] = done.format(result=result)
    st.session_state["privacy_clear"] = clear
    st.session_state.pop("bulk_pending", None)
    st.rerun()


if "privacy_flash" in st.session_state:
    st.success(st.session_state.pop("privacy_flash"))
for field in st.session_state.pop("privacy_clear", ()):  # before the fields are drawn
    st.session_state[field] = ""


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
    st.info("No PII findings. Run the PII stage on the Data page (or `workbench pii`).")
    st.stop()
st.dataframe(pd.DataFrame(counts["by_entity"]).T.fillna(0).astype(int), width="stretch",
             key="by_entity")

st.subheader("Findings")
c = st.columns(3)
entity_choice = c[0].selectbox("Entity type", [ALL_TYPES, *counts["by_entity"]], key="entity")
entity = None if entity_choice == ALL_TYPES else entity_choice
status = c[1].selectbox("Status", [BLOCKING, "unreviewed", "accept", "reject", "redacted",
                                   "all"], key="status",
                        help=f"{BLOCKING}: unreviewed or accepted but not redacted, at score "
                             f">= {gate['threshold']}, in the rows training will see")
min_score = c[2].slider("Minimum score", 0.0, 1.0, 0.0, 0.05, key="min_score")
with _ui.workspace() as ws:
    if status == BLOCKING:
        rows = [r for r in store.blocking_findings(ws, dataset_id, entity, gate["threshold"],
                                                   with_context=True)
                if r["score"] >= min_score]
    else:
        rows = store.findings(ws, dataset_id, entity, None if status == "all" else status,
                              min_score, with_context=True)
shown = rows[:500]


def in_context(r: dict) -> str:
    """The whole span in [[ ]] with the words around it; … where the message goes on."""
    return (("…" if r["cut_before"] else "") + f"{r['before']}[[{r['value']}]]{r['after']}"
            + ("…" if r["cut_after"] else ""))


table = pd.DataFrame([{"example": r["example_id"], "message": r["message_index"],
                       "type": r["entity_type"], "score": round(r["score"], 2),
                       "status": r["status"], "context": in_context(r),
                       "region": region_label(r["region"], r["region_assumed"]),
                       "decision": ""} for r in shown])
if shown and not table["region"].any():  # phone numbers only
    table = table.drop(columns="region")
if shown:
    st.caption(f"{len(rows)} finding(s)" + (" (the first 500 shown)" if len(rows) > 500
                                            else ""))
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key="findings",
        disabled=[col for col in table.columns if col != "decision"],
        column_config={"context": st.column_config.TextColumn("context", width="large"),
                       "decision": st.column_config.SelectboxColumn(
                           "decision", options=["", "accept", "reject"],
                           help="accept = is PII")})
    chosen = [(shown[i], d) for i, d in enumerate(edited["decision"]) if d]
    if st.button(f"Save {len(chosen)} decision(s)", key="save", disabled=not chosen):
        act(lambda ws, d: sum(store.decide(ws, d, [r for r, x in chosen if x == decision],
                                           decision, who)
                              for decision in ("accept", "reject")
                              if any(x == decision for _, x in chosen)),
            "{result} decision(s) saved")
elif status == BLOCKING:
    st.caption("Nothing blocks training here.")
else:
    st.caption("Nothing here with these filters.")

st.subheader("Bulk decision")
c = st.columns([2, 1, 3])
bulk_decision = c[1].radio("Decision", ["reject", "accept"], key="bulk_decision")
reason = c[2].text_input("Reason (kept in the audit log)", key="bulk_reason")


def ask(pending: dict) -> None:
    """Keep a bulk action pending until it is confirmed (``confirm_pending``); refuse at
    once what the store would refuse. ``pending``: {"what", "count", "kind" (entity or
    list), and that kind's arguments}."""
    if not who:
        st.error("Type your name above first: every decision records who made it.")
    elif not reason.strip():
        st.error("A bulk decision needs a reason (kept in the audit log).")
    elif not pending["count"]:
        st.info(f"No finding to decide: {pending['what']}.")
    else:
        st.session_state["bulk_pending"] = {**pending, "decision": bulk_decision,
                                            "who": who, "reason": reason}


def decide_pending(ws, dataset: int) -> int:
    p = st.session_state["bulk_pending"]
    if p["kind"] == "entity":
        return store.decide_entity(ws, dataset, p["entity"], p["decision"], p["who"],
                                   p["reason"], p["min_score"])
    return store.decide_values(ws, dataset, p["name"], p["values"], p["decision"], p["who"],
                               p["reason"], p["entity"])


def confirm_pending() -> None:
    """The pending bulk action: how many findings it decides, Confirm or Cancel."""
    pending = st.session_state.get("bulk_pending")
    if not pending:
        return
    box = st.container(border=True)
    box.warning(f"This will {pending['decision']} {pending['count']} finding(s): "
                f"{pending['what']}. Confirm?")
    b = box.columns([2, 1, 3])
    if b[0].button(f"Confirm: {pending['decision']} {pending['count']} finding(s)",
                   key="bulk_confirm", type="primary"):
        act(decide_pending, "{result} finding(s) decided", CLEARED)
    if b[1].button("Cancel", key="bulk_cancel"):
        st.session_state.pop("bulk_pending", None)
        st.rerun()


if entity is None:
    c[0].caption("Choose one entity type above to decide all its unreviewed findings at once.")
else:
    c[0].caption(f"Every unreviewed **{entity}** finding at score ≥ {min_score:.2f}")
    if st.button(f"Apply to all unreviewed {entity}…", key="bulk"):
        with _ui.workspace() as ws:
            n = len(store.findings(ws, dataset_id, entity, "unreviewed", min_score))
        ask({"kind": "entity", "entity": entity, "min_score": min_score, "count": n,
             "what": f"every unreviewed {entity} finding at score ≥ {min_score:.2f}"})
with st.expander("By value list (e.g. the story characters of a word-problem set)"):
    name = st.text_input("List name", key="list_name")
    values = st.text_area("Values, one per line", key="list_values").splitlines()
    if st.button("Apply the list…", key="list"):
        with _ui.workspace() as ws:
            n = len(store.value_matches(ws, dataset_id, values, entity))
        ask({"kind": "list", "entity": entity, "name": name, "values": values, "count": n,
             "what": f"those whose text is one of the "
                     f"{len({v.strip().casefold() for v in values if v.strip()})} value(s) "
                     "of the list" + (f" ({entity})" if entity else "")})
confirm_pending()

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
