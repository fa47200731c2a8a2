"""Report: counts per stage, metrics with paired intervals, win rate, loss curves, lineage of
every system; exports: self-contained HTML and the raw ratings as CSV."""

import pandas as pd
import streamlit as st

from evaluation.report import METRIC_LABELS, render_html
from views import _ui
from workbench.errors import NoDataset
from workbench.pipeline import report
from workbench.store import evaluation as store

path = _ui.sidebar()
st.title("Report")
meta_key = st.session_state.get("meta_key") or None
try:
    result = report(path, meta_key)
except NoDataset:
    _ui.no_dataset()
except Exception as exc:  # the page must not show a traceback
    _ui.show_error(exc)
    st.stop()
ev = result.get("evaluation")

st.subheader("Stages")
counts = {stage: summary for stage, summary in result["stages"].items()
          if summary and stage != "pipeline"}
st.dataframe(pd.DataFrame([{"stage": k, "result": _ui.describe(v)} for k, v in counts.items()]),
             hide_index=True, width="stretch", key="stages_table")


def interval_rows(intervals: dict) -> list[dict]:
    return [{"system": system, "metric": METRIC_LABELS.get(metric, metric), "n": v["n"],
             "system mean": v["tuned"], "base mean": v["base"], "difference": v["diff"],
             "95% low": v["low"], "95% high": v["high"]}
            for system, by_metric in intervals.items() for metric, v in by_metric.items()]


st.subheader("Metrics (held-out test split)")
if ev and ev["metrics"]:
    st.dataframe(pd.DataFrame(ev["metrics"]).rename(index=METRIC_LABELS), width="stretch",
                 key="metrics")
    st.markdown("**System − base**, paired bootstrap 95% interval (examples resampled with "
                "their pairs, BCa). Held-out loss: nats per reference token, lower is better.")
    st.dataframe(pd.DataFrame(interval_rows(ev["intervals"])), hide_index=True,
                 width="stretch", key="intervals")
    if ev["meta_keys"]:
        st.selectbox("Break down by", ["", *ev["meta_keys"]], key="meta_key")
    if ev["breakdown"]:
        st.dataframe(pd.DataFrame([
            {"metric": METRIC_LABELS.get(m, m), "group": g, "n": v["n"], "tuned": v["tuned"],
             "base": v["base"], "difference": v["diff"], "95% low": v["low"],
             "95% high": v["high"]}
            for m, groups in ev["breakdown"]["by_metric"].items() for g, v in groups.items()]),
            hide_index=True, width="stretch", key="breakdown")
elif result["metrics"]:
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
if ev:
    design = ev["rating_design"]
    st.markdown(f"**Rating design**: {design['items']} blind pairwise items "
                f"({design['auto_ties']} tied automatically), sides drawn at random per item "
                f"(tuned shown left on {design['tuned_shown_left']}), "
                f"{design['human_ratings']} ratings by {design['raters']} raters.")

curves = pd.DataFrame(ev["loss_curves"]) if ev else pd.DataFrame()
if not curves.empty:
    st.subheader("Training loss")
    st.line_chart(curves.pivot_table(index="step", columns="run_id", values="loss"))

st.subheader("Lineage")
lineage = ev["lineage"] if ev else result["lineage"]
st.json(lineage or {"lineage": "no trained model yet"}, expanded=False)

st.subheader("Export")
c1, c2 = st.columns(2)
c1.download_button("Report (HTML)", render_html(result), file_name="report.html",
                   mime="text/html", key="export_html")
if ev:
    with _ui.workspace() as ws:
        csv = store.ratings_export(ws, ev["run_id"]).to_csv(index=False)
    c2.download_button("Ratings (CSV, one row per rating)", csv, file_name="ratings.csv",
                       mime="text/csv", key="export_csv")
