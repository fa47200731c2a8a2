"""Rate: blind pairwise comparison of two outputs (A = left, B = right).

Sides were drawn when the items were created and are stored, so a rerun never reshuffles;
system names are never shown; identical outputs were tied automatically and are skipped.
"""

import streamlit as st

from evaluation.rating import derandomize
from views import _ui

_ui.sidebar()
st.title("Rate")
rater = st.text_input("Your name", key="rater", placeholder="rater name").strip()
if not rater:
    st.info("Enter your name to start rating.")
    st.stop()

with _ui.workspace() as ws:
    run = ws.latest_run("generate")
    if run is None:
        st.info("Nothing to rate yet: run the pipeline first.")
        st.stop()
    item_ref = ws.next_rating_item(run["id"], rater)
    done, total = ws.rating_progress(run["id"], rater)
    item = ws.rating_item(item_ref["id"]) if item_ref else None

st.progress(done / total if total else 1.0, text=f"{done} of {total} rated")
if item is None:
    st.success("All items rated. Thank you!")
    st.stop()

st.subheader("Prompt")
turns = [m for m in item["prompt"] if m["role"] != "system"]
for message in turns:
    st.text(f"{message['role']}: {message['content']}" if len(turns) > 1 else message["content"])
left, right = st.columns(2)
left.markdown("**Answer A**")
left.text(item["left_output"])
right.markdown("**Answer B**")
right.text(item["right_output"])

buttons = st.columns(4)
labels = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}
for column, (choice, text) in zip(buttons, labels.items()):
    if column.button(text, key=f"choice_{choice}", width="stretch"):
        label = derandomize(choice, item["left_system"], item["right_system"])
        with _ui.workspace() as ws:
            ws.add_rating(item["id"], rater, choice, label)
        st.rerun()
