"""Report: counts per stage, metrics with paired intervals, the statistics and design of every
rating session, loss curves, lineage of every system; exports: self-contained HTML and the
raw session ratings as CSV."""

import pandas as pd
import streamlit as st

from evaluation.report import METRIC_LABELS, render_html
from views import _ui
from common.csvsafe import csv_text
from common.errors import NoDataset
from workbench.stages.report import gather
from workbench.store.sessions import ratings_export

path = _ui.sidebar()
st.title("Report")
meta_key = st.session_state.get("meta_key") or None
try:
    result = gather(path, meta_key)
except NoDataset:
    _ui.no_dataset()
except Exception as exc:  # the page must not show a traceback
    _ui.show_error(exc)
    st.stop()
ev = result.get("evaluation")
st.info(f"**Verdict** · {result['verdict']}")
if ev and ev.get("prompted"):  # fine-tune or prompt: every system against the best prompt
    st.dataframe(pd.DataFrame([{
        "system": r["system"], "kind": r["kind"],
        "shots": "" if r["k"] is None else f"{r['k']} {r['shots']} (mean {r['mean_shots']})",
        **{METRIC_LABELS.get(m, m): v for m, v in r["metrics"].items()},
        f"ROUGE-L − {ev['best_prompt']}": (r["vs_best_prompt"].get("rougeL") or {}).get("diff"),
        "95% low": (r["vs_best_prompt"].get("rougeL") or {}).get("low"),
        "95% high": (r["vs_best_prompt"].get("rougeL") or {}).get("high")}
        for r in ev["systems_table"]]), hide_index=True, width="stretch", key="systems_table")
    st.caption(ev["rule"])

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
    if ev.get("extractor"):
        st.caption(f"Answer extractor: {ev['extractor']['choice']}")
    if ev.get("rouge"):
        st.caption(f"ROUGE tokens: {ev['rouge']['tokenizer']}")
        for line in ev["rouge"]["warnings"]:
            st.warning(line)
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

st.subheader("Human ratings (blind rating sessions)")
if not result["sessions"]:
    st.info("No rating session yet: create one on the Sessions page.")
for number, session in enumerate(result["sessions"]):
    info, design = session["session"], session["design"]
    st.markdown(f"**Session {info['id']} · {info['name']}** (generate run {info['run_id']}): "
                f"{', '.join(design['systems'])}; k = {design['k']} raters per item, "
                f"{design['repeat_share']:.0%} repeats, {design['raters']} raters "
                f"({design['revoked_raters']} revoked), {design['items']} items shown, "
                f"{design['auto_ties']} tied automatically (identical outputs). "
                f"Randomisation: {design['randomisation']}.")
    if not session["ratings"]:
        st.info("No ratings yet in this session.")
        continue
    st.dataframe(pd.DataFrame([{
        "pair": f"{p['system']} vs {p['other']}", "wins": p["wins"], "ties": p["ties"],
        "losses": p["losses"], "both bad": p["both_bad"], "auto ties": p["auto_ties"],
        "n": p["n"], "win rate": p["win_rate"], "Wilson 95% low": p["low"],
        "high": p["high"], "sign test p": p["sign_test_p"]} for p in session["pairs"]]),
        hide_index=True, width="stretch", key=f"pairs_{number}")
    if session["bradley_terry"]:
        st.caption("Bradley–Terry strengths (log-odds, bootstrap 95% intervals)")
        st.dataframe(pd.DataFrame(session["bradley_terry"]).T, width="stretch",
                     key=f"bt_{number}")
    agreement, bias = session["agreement"], session["position_bias"]
    cols = st.columns(5)
    for col, (title, value) in zip(cols, [
            ("Cohen's κ", agreement["cohen_kappa"]), ("Fleiss' κ", agreement["fleiss_kappa"]),
            ("Krippendorff's α", agreement["krippendorff_alpha"]),
            ("Left answer wins", bias["rate"]),
            ("Consistency on repeats", session["consistency"]["rate"])], strict=True):
        col.metric(title, "–" if value is None else f"{value:.2f}")
    st.caption(" · ".join([f"{session['ratings']} first ratings, {session['repeats']} repeats",
                           f"position bias sign test p = {bias['sign_test_p']:.3g}",
                           *agreement["notes"]]))
    if session["metric_agreement"]:
        st.dataframe(pd.DataFrame(session["metric_agreement"]).T.rename(index=METRIC_LABELS),
                     width="stretch", key=f"metric_agreement_{number}")
st.caption("Win rate = (wins + ½ ties) / n, Wilson 95% interval, both-bad apart; sign test "
           "on wins vs losses; statistics on de-randomized labels, first showings (repeats "
           "measure consistency; position bias uses every choice).")

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
        csv = csv_text(ratings_export(ws, ev["run_id"]))
    c2.download_button("Ratings (CSV, one row per rating)", csv, file_name="ratings.csv",
                       mime="text/csv", key="export_csv")
