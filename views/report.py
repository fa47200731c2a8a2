"""Report: the verdict first, then its plots (metric differences with intervals, win / tie /
loss and win rate per rating session, a breakdown by a meta column), the tables behind them,
cost per request and break-even, the stages, training loss and the lineage of every system;
exports: self-contained HTML and the raw session ratings as CSV, named after the workspace
and the day."""

from datetime import date

import pandas as pd
import streamlit as st

from evaluation import formatting as f
from evaluation.report import render_html
from evaluation.report_figures import (
    DEFINITIONS_NOTE,
    METRIC_LABELS,
    POOLED,
    breakdown_figure,
    interval_figure,
    label,
    loss_figure,
    png_bytes,
    win_figure,
)
from evaluation.verdict import MIN_FIRM_N
from views import _cost, _ui
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
if ev and ev["examples"] < MIN_FIRM_N:
    st.warning(f"Only {ev['examples']} held-out rows (fewer than {MIN_FIRM_N}): the 95% "
               "intervals are approximate; treat the verdict as a first look, not a "
               "conclusion. Generate on more held-out rows (Run page, eval size).")


def systems_row(r: dict, best: str) -> dict:
    """One row of the fine-tune-or-prompt table as text: "–" where a metric does not apply
    (answer accuracy without an extractor) and for the best prompt's own difference."""
    vs_best = r["vs_best_prompt"].get("rougeL") or {}
    return {"system": r["system"], "kind": r["kind"],
            "shots": "" if r["k"] is None else f"{r['k']} {r['shots']} (mean {r['mean_shots']})",
            **{METRIC_LABELS.get(m, m): f.number(v) for m, v in r["metrics"].items()},
            f"ROUGE-L − {best}": f.signed(vs_best.get("diff")),
            "95% interval": f.interval(vs_best.get("low"), vs_best.get("high"))
            if vs_best.get("low") is not None else f.DASH}


if ev and ev.get("prompted"):  # fine-tune or prompt: every system against the best prompt
    st.dataframe(pd.DataFrame([systems_row(r, ev["best_prompt"]) for r in ev["systems_table"]]),
                 hide_index=True, width="stretch", key="systems_table")
    st.caption("Metric columns: corpus-level scores (chrF pools character n-gram counts, "
               "held-out loss pools reference tokens), as under 'Corpus-level scores per "
               "system' below; the difference and its interval are paired means over rows, "
               "as in 'Paired comparison'.")
    st.caption(ev["rule"])



FIGURES = {"intervals": interval_figure, "pair": win_figure, "loss": loss_figure,
           "breakdown": breakdown_figure}


@st.cache_data(max_entries=64, show_spinner=False)
def figure_png(kind: str, data, *args) -> bytes | None:
    """A report figure as PNG, drawn once per distinct data (reruns reuse it)."""
    return png_bytes(FIGURES[kind](data, *args), dpi=100)


def plot(kind: str, data, *args) -> None:
    """Show one of the report's figures (nothing when it has nothing to draw)."""
    image = figure_png(kind, data, *args)
    if image is not None:
        st.image(image)


def frame(rows: list[dict], key: str) -> None:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key)


def in_order(metrics) -> list[str]:
    """Metric keys in the report's order (``METRIC_LABELS``), unknown ones last."""
    return sorted(metrics, key=lambda m: (list(METRIC_LABELS).index(m) if m in METRIC_LABELS
                                          else len(METRIC_LABELS), m))


def paired_rows(intervals: dict) -> list[dict]:
    return [{"system": system, "metric": label(metric), "n": f.number(v["n"]),
             "system mean": f.number(v["mean"]), "base mean": f.number(v["baseline_mean"]),
             "difference": f.signed(v["diff"]), "95% interval": f.interval(v["low"], v["high"])}
            for system, by_metric in intervals.items() for metric in in_order(by_metric)
            for v in [by_metric[metric]]]


st.header("Automatic metrics")
if ev and ev["intervals"]:
    st.caption(f"Generate run {ev['run_id']} · {ev['examples']} held-out rows · "
               f"systems {', '.join(ev['systems'])}")
    st.subheader("System − base, per metric (95% intervals)")
    plot("intervals", ev["intervals"])
    st.subheader("Paired comparison: mean over rows")
    st.caption("Each row counts once; paired bootstrap 95% interval (rows resampled with "
               "their pairs, BCa). Held-out loss: nats per reference token, lower is better.")
    frame(paired_rows(ev["intervals"]), "intervals")
    if ev["meta_keys"]:
        st.selectbox("Break down by", ["", *ev["meta_keys"]], key="meta_key")
    if ev["breakdown"]:
        plot("breakdown", ev["breakdown"], "rougeL")
        frame([{"metric": label(m), "group": g, "n": f.number(v["n"]),
                "tuned": f.number(v["mean"]), "base": f.number(v["baseline_mean"]),
                "difference": f.signed(v["diff"]), "95% interval": f.interval(v["low"], v["high"])}
               for m, groups in ev["breakdown"]["by_metric"].items() for g, v in groups.items()],
              "breakdown")
    with st.expander("Corpus-level scores per system"):
        st.caption(DEFINITIONS_NOTE)
        frame([{"metric": label(m), "pooled as": POOLED.get(m, "mean over rows"),
                **{s: f.number(ev["metrics"][s].get(m)) for s in ev["metrics"]}}
               for m in in_order({m for v in ev["metrics"].values() for m in v})],
              "metrics")
    if ev.get("extractor"):
        st.caption(f"Answer extractor: {ev['extractor']['choice']}")
    if ev.get("rouge"):
        st.caption(f"ROUGE tokens: {ev['rouge']['tokenizer']}")
        for line in ev["rouge"]["warnings"]:
            st.warning(line)
else:
    reason = (result["stages"].get("pipeline") or {}).get("metrics_reason")
    st.info(f"No metrics yet{': ' + reason if reason else '.'}")

_cost.show(result.get("cost"))

st.header("Human ratings (blind rating sessions)")
if not result["sessions"]:
    st.info("No rating session yet: create one on the Sessions page.")
for number, session in enumerate(result["sessions"]):
    info, design = session["session"], session["design"]
    st.subheader(f"Session {info['id']} · {info['name']}")
    st.caption(f"Generate run {info['run_id']}: {', '.join(design['systems'])}; "
               f"k = {design['k']} raters per item, {f.share(design['repeat_share'])} repeats, "
               f"{design['raters']} raters ({design['revoked_raters']} revoked), "
               f"{design['items']} items shown, {design['auto_ties']} tied automatically "
               f"(identical outputs). Randomisation: {design['randomisation']}.")
    if not session["ratings"]:
        st.info("No ratings yet in this session.")
        continue
    for pair in session["pairs"]:
        plot("pair", pair)
    frame(f.pair_rows(session["pairs"]), f"pairs_{number}")
    agreement, bias = session["agreement"], session["position_bias"]
    cols = st.columns(5)
    for col, (title, value) in zip(cols, [
            ("Cohen's κ", agreement["cohen_kappa"]), ("Fleiss' κ", agreement["fleiss_kappa"]),
            ("Krippendorff's α", agreement["krippendorff_alpha"]),
            ("Left answer wins", bias["rate"]),
            ("Consistency on repeats", session["consistency"]["rate"])], strict=True):
        col.metric(title, f.DASH if value is None else f"{value:.2f}")
    st.caption(" · ".join([f"{session['ratings']} first ratings, {session['repeats']} repeats",
                           f"position bias sign test p = {f.p_value(bias['sign_test_p'])}",
                           *agreement["notes"]]))
    if session["bradley_terry"]:
        st.markdown("**Bradley–Terry strengths** (log-odds, bootstrap 95% intervals)")
        frame([{"system": s, "strength": f.number(v["strength"]),
                "95% interval": f"{f.number(v['low'])} to {f.number(v['high'])}",
                "judgments": v["n"]} for s, v in session["bradley_terry"].items()],
              f"bt_{number}")
    if session["metric_agreement"]:
        st.markdown("**Automatic metric vs human verdicts**")
        frame([{"metric": label(m.split(" ")[0]) + m[len(m.split(" ")[0]):],
                "judgments": v["n"], "decisive": v["decisive"],
                "agreement": f.share(v["agreement"]), "metric ties": v["metric_ties"],
                "Kendall's τ-b": f.number(v["kendall_tau"]), "p": f.p_value(v["p_value"])}
               for m, v in session["metric_agreement"].items()], f"metric_agreement_{number}")
st.caption("Win rate = (wins + ½ ties) / n, Wilson 95% interval, both-bad apart; sign test "
           "on wins vs losses; statistics on de-randomized labels, first showings (repeats "
           "measure consistency; position bias uses every choice).")

st.header("Stages")
frame([{"stage": stage, "result": f.summary_line(summary)}
       for stage, summary in result["stages"].items() if summary and stage != "pipeline"],
      "stages_table")
if ev and ev["loss_curves"]:
    st.header("Training loss")
    plot("loss", ev["loss_curves"])

st.header("Lineage")
lineage = ev["lineage"] if ev else {"tuned": result["lineage"]}
if not lineage or not any(lineage.values()):
    st.info("No trained model yet.")
for system, document in (lineage or {}).items():
    with st.expander(f"Lineage of {system}"):
        frame([{"field": k, "value": v} for k, v in f.flat_rows(document)], f"lineage_{system}")

st.header("Export")
today = date.today()
c1, c2 = st.columns(2)
c1.download_button("Report (HTML)", lambda: render_html(result),  # drawn when clicked
                   file_name=f.report_file_name(path.name, today), mime="text/html",
                   key="export_html")
if ev:
    with _ui.workspace() as ws:
        csv = csv_text(ratings_export(ws, ev["run_id"]))
    c2.download_button("Ratings (CSV, one row per rating)", csv,
                       file_name=f.report_file_name(path.name, today, "csv").replace(
                           "report-", "ratings-", 1), mime="text/csv", key="export_csv")
