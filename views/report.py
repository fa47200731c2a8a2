"""Report: counts per stage, metrics of base vs tuned, win rate and lineage."""

import pandas as pd
import streamlit as st

from views import _ui
from workbench.pipeline import report

path = _ui.sidebar()
st.title("Report")
with _ui.workspace() as ws:
    train = ws.latest_run("train")
    loss = ws.train_log(train["id"]) if train else None
try:
    result = report(path)
except Exception as exc:  # the page must not show a traceback
    _ui.show_error(exc)
    st.stop()

st.subheader("Stages")
counts = {stage: summary for stage, summary in result["stages"].items()
          if summary and stage != "pipeline"}
st.dataframe(pd.DataFrame([{"stage": k, "result": _ui.describe(v)} for k, v in counts.items()]),
             hide_index=True, width="stretch", key="stages_table")

st.subheader("Metrics (held-out test split)")
if result["metrics"]:
    st.dataframe(pd.DataFrame(result["metrics"]).T, width="stretch", key="metrics")
else:
    reason = (result["stages"].get("pipeline") or {}).get("metrics_reason")
    st.info(f"No metrics yet{': ' + reason if reason else '.'}")

st.subheader("Human ratings")
ratings = result["ratings"]
if ratings["human_ratings"] == 0:
    st.info(f"No ratings yet ({ratings['auto_ties']} identical pairs were tied "
            "automatically). Rate on the Rate page.")
else:
    c = st.columns(5)
    c[0].metric("Tuned win rate", f"{ratings['win_rate']:.2f}" if ratings["n"] else "–",
                help="Wilson 95% interval and sign-test p-value below")
    c[1].metric("Wins", ratings["wins"])
    c[2].metric("Losses", ratings["losses"])
    c[3].metric("Ties", ratings["ties"])
    c[4].metric("Both bad", ratings["both_bad"])
    if ratings["n"]:
        st.caption(f"95% interval {ratings['low']:.2f}–{ratings['high']:.2f} (Wilson) · "
                   f"sign test p = {ratings['sign_test_p']:.3g} (ties dropped)")
    st.caption(f"Win rate = (wins + ½ ties) / n over {ratings['human_ratings']} human ratings "
               f"and {ratings['auto_ties']} automatic ties (identical outputs); both-bad "
               "verdicts are counted apart.")

if loss is not None and not loss.empty:
    st.subheader("Training loss")
    st.line_chart(loss, x="step", y="loss")

st.subheader("Lineage")
st.json(result["lineage"] or {"lineage": "no trained model yet"}, expanded=False)
