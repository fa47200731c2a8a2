"""Duplicates: review a cluster side by side, override its representative or split a row off;
every override is a recorded decision. Also the split's leakage report."""

import streamlit as st

from views import _ui
from common.errors import WorkbenchError
from workbench.store import dedup as store
from workbench.store import splits

LEVELS = ("exact", "near", "semantic")
SHOWN = 4  # members side by side; the rest are listed below

_ui.sidebar()
st.title("Duplicates")
st.sidebar.text_input("Reviewer", key="reviewer")
with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    by_level = {lv: store.clusters(ws, dataset_id, lv) for lv in LEVELS}
    decisions = store.overrides(ws, dataset_id)
    leakage = splits.leakage(ws, dataset_id)
first = next((i for i, lv in enumerate(LEVELS) if by_level[lv]), 0)
level = st.radio("Level", LEVELS, index=first, horizontal=True, key="level",
                 format_func=lambda lv: f"{lv} ({len(by_level[lv])} clusters)")
clusters = by_level[level]


def label(cluster: dict) -> str:
    low = cluster["min_similarity"]
    return (f"#{cluster['representative_id']} · {cluster['size']} rows"
            + (f" · min similarity {low:.3f}" if low is not None else ""))


def decide(action: str, example_id: int, dataset_id: int, level: str) -> None:
    """Button callback (runs before the page reruns, so the page shows the new state)."""
    who = (st.session_state.get("reviewer") or "").strip()
    if not who:
        st.warning("Enter your name as reviewer (sidebar) before deciding.")
        return
    try:
        with _ui.workspace() as ws:
            store.override(ws, dataset_id, level, action, example_id, who=who)
    except WorkbenchError as exc:
        _ui.show_error(exc)
        return
    st.success(f"Recorded: {action.replace('_', ' ')} for #{example_id}")


def show_member(column, member: dict, representative: int) -> None:
    is_rep = member["example_id"] == representative
    similarity = member["similarity"]
    column.markdown(f"**#{member['example_id']}** (line {member['line']}) · "
                    + ("representative" if is_rep else
                       f"similarity {similarity:.3f}" if similarity is not None
                       else "similarity not measured"))
    for message in member["messages"]:
        column.text(f"{message['role']}: {message['content']}")
    if not is_rep:
        args = (member["example_id"], dataset_id, level)
        column.button("Make representative", key=f"rep_{member['example_id']}",
                      on_click=decide, args=("representative", *args))
        column.button("Not a duplicate", key=f"notdup_{member['example_id']}",
                      on_click=decide, args=("not_duplicate", *args))


if not clusters:
    st.caption(f"No {level} clusters with more than one row.")
else:
    chosen = st.selectbox("Cluster", clusters, format_func=label, key="cluster")
    with _ui.workspace() as ws:
        members = store.cluster_members(ws, dataset_id, level, chosen["representative_id"])
    representative = chosen["representative_id"]
    for column, member in zip(st.columns(min(len(members), SHOWN)), members[:SHOWN]):
        show_member(column, member, representative)
    if len(members) > SHOWN:
        st.caption(f"{len(members) - SHOWN} more: "
                   + ", ".join(f"#{m['example_id']}" for m in members[SHOWN:]))

st.subheader("Decisions")
if decisions:
    st.dataframe(decisions, hide_index=True, width="stretch", key="decisions")
else:
    st.caption("No review decisions yet.")

st.subheader("Leakage")
if leakage.empty:
    st.caption("No leakage report yet: after the split, run the **leakage** stage on the Run "
               "page (or `workbench leakage`).")
else:
    above = int(leakage["above"].sum())
    (st.error if above else st.success)(
        f"{above} of {len(leakage)} held-out examples have a training example at or above "
        "the semantic threshold.")
    st.dataframe(leakage, hide_index=True, width="stretch", key="leakage")
