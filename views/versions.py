"""Versions: freeze the curated rows as an immutable version, compare two versions, export
one (with OpenAI's token and cost estimate for a hosted fine-tune)."""

import pandas as pd
import streamlit as st

from curation.cost import CostConfig, estimate
from curation.export import EXPORTS, export, export_bytes, file_name
from views import _ui
from workbench.paths import write_roots, write_target
from workbench.store.versions import (
    create_version,
    diff_versions,
    list_versions,
    version_rows,
)

path = _ui.sidebar()
st.title("Versions")
note = st.text_input("Note", key="note", placeholder="what this version is for")
if st.button("Freeze the curated rows as a version", key="freeze"):
    with _ui.workspace() as ws:
        made = create_version(ws, ws.current_dataset(), note)
    st.success(f"Version {made['id']} · {made['n_rows']} rows"
               + ("" if made["created"] else " (this content was already a version)"))

with _ui.workspace() as ws:
    table = list_versions(ws)
if table.empty:
    st.info("No version yet: freeze the curated rows above.")
    st.stop()
st.dataframe(table, hide_index=True, width="stretch", key="versions")
ids = table["id"].tolist()

st.subheader("Compare")
c = st.columns(2)
old = c[0].selectbox("Older", ids, index=min(1, len(ids) - 1), key="old")
new = c[1].selectbox("Newer", ids, index=0, key="new")
with _ui.workspace() as ws:
    change = diff_versions(ws, old, new)
m = st.columns(4)
for col, key in zip(m[:3], ("added", "removed", "changed"), strict=True):
    col.metric(key.capitalize(), len(change[key]))
m[3].metric("Unchanged", change["unchanged"])
rows = [{"change": key, **item} for key in ("added", "removed", "changed")
        for item in change[key]]
if rows:
    st.dataframe(pd.DataFrame(rows).astype(str), hide_index=True, width="stretch", key="diff")

st.subheader("Export")
with _ui.workspace() as ws:  # the version chosen in the sidebar, when the workspace keeps one
    current = ws.setting("current_version") if hasattr(ws, "setting") else None
c = st.columns([1, 1, 2, 1])
vid = c[0].selectbox("Version", ids, index=ids.index(current) if current in ids else 0,
                     key="export_version", help="The current version, or the newest.")
fmt = c[1].selectbox("Format", list(EXPORTS), key="export_format")
if st.session_state.get("export_for") != (vid, fmt):  # the file name follows both
    st.session_state["export_for"] = (vid, fmt)
    st.session_state["export_path"] = str(path / "artifacts" / "exports" / file_name(vid, fmt))
target = c[2].text_input("Write to", key="export_path", help="Inside the workspace or a "
                         "folder of WORKBENCH_DATA_DIRS.")
overwrite = c[3].checkbox("Overwrite", key="export_overwrite")
b = st.columns(2)
if b[0].button("Write the file", key="export"):
    with _ui.workspace() as ws:  # a refused path, or nothing fits the format → st.error
        out = write_target(target, write_roots(path), overwrite)
        result = export(version_rows(ws, vid), fmt, out, overwrite=overwrite)
    st.success(f"Wrote {result['written']} rows to {result['path']}"
               + (f"; skipped {len(result['skipped'])}" if result["skipped"] else ""))
    if result["skipped"]:
        st.dataframe(result["skipped"], hide_index=True, key="skipped")
if fmt == "hf":
    b[1].caption("A Hugging Face dataset is a folder: write it to a path.")
else:
    with _ui.workspace() as ws:  # nothing fits the format → st.error
        data, made = export_bytes(version_rows(ws, vid), fmt)
    b[1].download_button(f"Download {file_name(vid, fmt)} ({made['written']} rows)", data,
                         file_name=file_name(vid, fmt), key="export_download",
                         mime="application/octet-stream")

st.subheader("Hosted fine-tune estimate (OpenAI)")
c = st.columns(3)
encoding = c[0].selectbox("Tokenizer", ["cl100k_base", "o200k_base"], key="encoding")
price = c[1].number_input("USD per 1M training tokens", 0.0, None, 3.0, key="price")
if c[2].button("Estimate", key="estimate"):
    with _ui.workspace() as ws:
        rows = version_rows(ws, vid)
    cost = estimate([r["messages"] for r in rows], CostConfig(encoding, price))
    m = st.columns(4)
    m[0].metric("Tokens per epoch", f"{cost['billing_tokens_per_epoch']:,}")
    m[1].metric("Epochs", cost["epochs"])
    m[2].metric("Billed tokens", f"{cost['billed_tokens']:,}")
    m[3].metric("Cost (USD)", f"{cost['cost_usd']:.2f}")
    st.caption("OpenAI's data-prep guide: 3 epochs, raised until examples × epochs ≥ 100, "
               "lowered until ≤ 25,000 (1–25); each example billed up to 16,385 tokens. "
               f"{cost['n_too_long']} examples are longer and would be truncated.")
