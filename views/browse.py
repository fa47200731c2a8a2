"""Browse: full-text search and filters over the rows; read, edit or drop a row. Every edit
and drop is a recorded decision (who, why, old and new text)."""

import streamlit as st

from views import _ui
from workbench.store.browse import STATUSES, RowFilter, browse_rows, example_detail, meta_keys
from workbench.store.datasets import finding_codes
from workbench.store.versions import decide, decisions, edit_message

PAGE = 25
ANY = lambda value: value or "any"  # noqa: E731
_ui.sidebar()
st.title("Browse")
if "browse_note" in st.session_state:
    st.success(st.session_state.pop("browse_note"))
with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    keys = meta_keys(ws, dataset_id)
    codes = finding_codes(ws, dataset_id)

c = st.columns([3, 2, 2, 2])
search = c[0].text_input("Search the messages", key="search", placeholder="words")
code = c[1].selectbox("Finding", ["", *codes], key="code", format_func=ANY)
split = c[2].selectbox("Split", ["", "train", "validation", "test"], key="split",
                       format_func=ANY)
status = c[3].selectbox("Status", ["", *STATUSES, "edited"], key="status", format_func=ANY,
                        help="kept: in the curated set; drop: a curator dropped it; error: an "
                             "error finding; duplicate: another row represents it; edited: a "
                             "curator edited a message")
m = st.columns([2, 2, 2, 1])
meta_key = m[0].selectbox("Meta field", ["", *keys], key="meta_key", format_func=ANY)
meta_value = m[1].text_input("equals", key="meta_value", disabled=not meta_key)
cluster = m[2].number_input("Duplicate cluster (representative id)", 0, None, 0,
                            key="cluster", help="0 = any")
page = m[3].number_input("Page", 1, None, 1, key="page")
row_filter = RowFilter(search, code, split, cluster or None, meta_key, meta_value, status)

with _ui.workspace() as ws:
    rows, total = browse_rows(ws, dataset_id, row_filter, PAGE, (page - 1) * PAGE)
st.caption(f"{total} rows match · page {page} of {max(1, -(-total // PAGE))}")
st.dataframe(rows, hide_index=True, width="stretch", key="rows")
if rows.empty:
    st.stop()

example_id = st.selectbox("Row", rows["id"].tolist(), key="row_id")
with _ui.workspace() as ws:
    row = example_detail(ws, dataset_id, example_id)
    history = [d for d in decisions(ws, dataset_id) if d["example_id"] == example_id]

st.subheader(f"Row {example_id} (line {row['line']}) · {row['status']}")
for finding in row["findings"]:
    st.text(f"{finding['severity']} · {finding['code']}: {finding['message']}")
texts = [st.text_area(f"{i} · {message['role']}", message["content"],
                      key=f"text_{example_id}_{i}") for i, message in enumerate(row["messages"])]
if row["meta"]:
    st.json(row["meta"], expanded=False)
who = st.text_input("Your name", key="who", placeholder="curator")
reason = st.text_input("Why", key="reason")
b = st.columns(3)
save = b[0].button("Save edits", key="save", disabled=not who)
drop = b[1].button("Drop row", key="drop", disabled=not who or row["status"] == "drop")
restore = b[2].button("Restore row", key="restore", disabled=not who or row["status"] != "drop")
if save or drop or restore:
    with _ui.workspace() as ws:  # a WorkbenchError becomes st.error there
        if save:
            changed = [edit_message(ws, dataset_id, example_id, i, text, who, reason)
                       for i, text in enumerate(texts) if text != row["messages"][i]["content"]]
            note = f"saved {len(changed)} edited message(s)"
        else:
            decide(ws, dataset_id, example_id, "drop" if drop else "restore", who, reason)
            note = "dropped" if drop else "restored"
    st.session_state["browse_note"] = f"Row {example_id}: {note} (recorded as a decision)"
    st.rerun()

if history:
    st.subheader("Decisions on this row")
    st.dataframe(history, hide_index=True, width="stretch", key="history")
