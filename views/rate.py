"""Rate: a rater's blind pairwise comparisons (A = left, B = right), one item at a time.

The order of items and the sides were drawn once for this rater and stored when the session
was created, so a rerun never reshuffles; this page never receives a system name (the store
turns the choice into a de-randomized label). Dataset text is shown with ``st.text``: markdown,
HTML or image links inside a prompt or an answer are never rendered or fetched.
Keys: 1 = A better, 2 = B better, 3 = tie, 4 = both bad, S = skip, E = edit last answer.
Skip moves on: skipped items come back after the others; skipping the only item left shows a
pause screen rather than the same item again. An answer that hit the generation limit is
marked "(cut at N tokens)".
"""

import streamlit as st

from evaluation.guidelines import guidelines_markdown
from views import _ui
from workbench.store import sessions as ss

me = _ui.require("rater")
CHOICES = {"A": ("A is better", "1"), "B": ("B is better", "2"), "tie": ("Tie", "3"),
           "both_bad": ("Both bad", "4")}
editing = st.session_state.get("editing", False)

with _ui.workspace() as ws:  # a token revoked meanwhile: the rater is logged out
    shown = ss.screen(ws, me["rater_id"])
    info, done, item = shown["session"], shown["progress"], shown["item"]
    if editing:
        item = ss.last_answer(ws, me["rater_id"])

st.title("Rate")
st.caption(f"Rating as {me['name']} · {info['name']}")
if info["guidelines"]:
    with st.expander("Guidelines", expanded=done["rated"] == 0):
        st.markdown(guidelines_markdown(info["guidelines"]))  # no images, web/mail links only
st.progress(done["rated"] / done["total"] if done["total"] else 1.0,
            text=f"{done['rated']} of {done['total']} rated"
                 + (f" · {done['skipped']} skipped" if done["skipped"] else ""))
if flash := st.session_state.pop("flash", None):
    st.toast(flash)
if item is None:
    st.success("All items rated. Thank you!")
    st.stop()
if done["skipped"]:
    st.caption("Skipped items come back at the end, after the others.")
just_skipped = st.session_state.pop("skipped_from", None)
if not editing and shown["skipped_next"] and just_skipped == item["position"]:
    st.session_state["skipped_from"] = just_skipped  # still paused until the button
    st.info("You skipped the last item left. It stays in your list: rate it when you are "
            "ready.")
    if st.button("Back to the skipped item", key="back_to_skipped"):
        st.session_state.pop("skipped_from", None)
        st.rerun()
    st.stop()

position = item["position"]
st.subheader("Editing your last answer" if editing else "Prompt")
turns = [m for m in item["prompt"] if m["role"] != "system"]
for message in turns:
    st.text(f"{message['role']}: {message['content']}" if len(turns) > 1 else message["content"])
columns = st.columns(2)
likert = {}
for column, side, text, cut, field in (
        (columns[0], "A", item["left_output"], item.get("left_cut"), "likert_left"),
        (columns[1], "B", item["right_output"], item.get("right_cut"), "likert_right")):
    column.markdown(f"**Answer {side}**")
    if text.strip():
        column.text(text)
    else:  # a model may answer nothing at all: say so rather than show a blank
        column.caption("(empty answer)")
    if cut:  # the answer ran into the generation limit: the rater should know
        column.caption(cut)
    likert[field] = column.pills(f"Quality of {side} (optional, 1–5)", [1, 2, 3, 4, 5],
                                 key=f"{field}_{position}_{editing}",
                                 default=item.get(field) if editing else None)
reason = st.text_input("Reason (optional)", key=f"reason_{position}_{editing}",
                       value=item.get("reason") or "" if editing else "", max_chars=2000)

buttons = st.columns(6)
for column, (choice, (text, key)) in zip(buttons, CHOICES.items(), strict=False):
    if column.button(text, key=f"choice_{choice}_{position}", shortcut=key,
                     width="stretch", type="primary" if editing and item["choice"] == choice
                     else "secondary"):
        action = ss.edit_last if editing else ss.submit
        with _ui.workspace() as ws:  # a refusal (already rated, revoked) → st.error, stop
            action(ws, me["rater_id"], position, choice, reason.strip() or None, **likert)
        st.session_state["editing"] = False
        st.session_state["flash"] = "Answer changed" if editing else "Saved"
        st.rerun()
if editing:
    if buttons[4].button("Cancel edit", key="cancel_edit", width="stretch"):
        st.session_state["editing"] = False
        st.rerun()
else:
    if buttons[4].button("Skip", key=f"skip_{position}", shortcut="S", width="stretch"):
        with _ui.workspace() as ws:
            ss.skip(ws, me["rater_id"], position)
        st.session_state["skipped_from"] = position
        st.rerun()
    if done["rated"] and buttons[5].button("Edit last answer", key="edit_last", shortcut="E",
                                           width="stretch"):
        st.session_state["editing"] = True
        st.rerun()
