"""Playground: a typed prompt, or any held-out row, to base and tuned side by side, with the
same decoding settings for every system. Rows and answers are shown with ``st.text``: markdown,
HTML or image links in them are never rendered or fetched."""

import streamlit as st

from evaluation.generate import load_for_generation
from training.data import prompt_and_reference
from views import _ui
from workbench.playground import answer
from workbench.store import evaluation as store

path = _ui.sidebar()
st.title("Playground")


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_model(model_dir, adapter_dir):
    return load_for_generation(model_dir, adapter_dir)


with _ui.workspace() as ws:
    rows = store.heldout_rows(ws, ws.current_dataset())

source = st.radio("Prompt", ["Type a prompt", "A held-out row"], horizontal=True, key="source")
reference = None
if source == "A held-out row" and rows:
    labels = {row["id"]: row["messages"][0]["content"][:80] for row in rows}
    chosen = st.selectbox("Held-out row (test split)", list(labels), key="row",
                          format_func=lambda i: f"#{i}: {labels[i]}")
    messages, reference = prompt_and_reference(next(r for r in rows if r["id"] == chosen)
                                                ["messages"])
    for turn in messages:  # dataset text: shown as text, never rendered as markdown
        st.text(f"{turn['role']}: {turn['content']}")
else:
    if source == "A held-out row":
        st.info("The test split is empty: type a prompt instead.")
    text = st.text_area("Your prompt", key="prompt", placeholder="Ask something…")
    messages = [{"role": "user", "content": text}]

with st.form("decoding"):
    c = st.columns(5)
    max_new = c[0].number_input("Max new tokens", 1, 2048, 128, key="max_new_tokens")
    sample = c[1].checkbox("Sample (else greedy)", key="sample")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="seed")
    temperature = c[3].number_input("Temperature", 0.05, 2.0, 0.7, key="temperature")
    top_p = c[4].number_input("Top p", 0.05, 1.0, 0.9, key="top_p")
    go = st.form_submit_button("Ask every system", key="ask")

if go:
    sampling = ({"seed": int(seed), "temperature": float(temperature), "top_p": float(top_p)}
                if sample else None)
    try:
        with st.spinner("Generating…"):
            outputs = answer(path, messages, int(max_new), sampling, loader=cached_model)
    except Exception as exc:  # domain errors (busy machine, empty prompt) → one line
        _ui.show_error(exc)
        st.stop()
    columns = st.columns(len(outputs) + (1 if reference is not None else 0))
    for column, (name, out) in zip(columns, outputs.items(), strict=False):
        column.markdown(f"**{name}** · {out['new_tokens']} tokens · {out['seconds']} s")
        column.text(out["output"])
    if reference is not None:
        columns[-1].markdown("**reference**")
        columns[-1].text(reference)
