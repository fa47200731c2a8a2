"""Sessions (admin): create a blind rating session, invite raters, watch progress, statistics.

Invite tokens are shown once, right after creation (the store keeps their hash only). A rater
who lost theirs gets a new one here; revoking stops a token at once, ratings so far are kept.
"""

import json
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from evaluation.formatting import pair_rows
from evaluation.sessions import SessionDesign
from views import _judge, _ui
from common.csvsafe import csv_text
from common.errors import WorkbenchError
from workbench.session_statistics import rouge_scores, statistics
from workbench.store import sessions as ss
from workbench.store.runs import generate_run_systems

_ui.require("admin")
_ui.sidebar()
st.title("Rating sessions")


def app_address() -> str:
    """The app's address as this browser reached it (scheme, host, base path), ending "/"."""
    parts = urlsplit(st.context.url or "http://localhost:8501/")
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{parts.scheme}://{parts.netloc}/" + (f"{base}/" if base else "")


def show_invites(tokens: dict[str, str]) -> None:
    """The tokens (name TAB token) and each rater's invite link, to copy now."""
    st.warning("Copy the invite tokens now: they are not shown again. A rater opens their "
               "link (it logs them in once), or logs in with the token.")
    st.code("\n".join(f"{r}\t{t}" for r, t in tokens.items()), language=None)
    st.markdown("**Invite links**")
    st.code("\n".join(f"{r}: {app_address()}?token={t}" for r, t in tokens.items()),
            language=None)


def use(key: str, value) -> None:
    """A button's callback: set a form field before the form is drawn again."""
    st.session_state[key] = value

with _ui.workspace() as ws:
    systems_by_run = generate_run_systems(ws)
    existing = ss.sessions(ws)

with st.expander("New session", expanded=not existing):
    if not systems_by_run:
        st.info("No generate run yet: run the pipeline on the Run page first.")
    else:
        run_id = st.selectbox("Outputs of generate run", list(systems_by_run), key="run_id")
        with st.form("new_session"):
            name = st.text_input("Session name", key="session_name")
            systems = st.multiselect("Systems to compare", systems_by_run[run_id],
                                     default=systems_by_run[run_id], key="systems")
            raters = st.text_area("Raters, one name per line", key="raters")
            c1, c2 = st.columns(2)
            st.session_state.setdefault("k", 1)  # a "Use k = …" button may have set it
            k = c1.number_input("Raters per item (k)", 1, 50, key="k")
            share = c2.slider("Share of repeated items", 0.0, 0.5, 0.1, 0.05, key="repeat")
            guidelines = st.text_area("Guidelines for raters (markdown)", key="guidelines")
            create = st.form_submit_button("Create session", key="create")
        if create:
            design = SessionDesign(tuple(systems), int(k), float(share), guidelines)
            made, failure = None, None
            with _ui.workspace() as ws:  # the refusal is caught here to offer what works
                try:
                    made = ss.create_session(ws, name, run_id, design, raters.splitlines())
                except WorkbenchError as exc:
                    failure = exc
            if failure is not None:
                st.error(str(failure))
                fit = getattr(failure, "fit", None) or {}
                names = [r.strip() for r in raters.splitlines() if r.strip()]
                b1, b2 = st.columns(2)
                if fit.get("largest_k"):
                    b1.button(f"Use k = {fit['largest_k']}", key="use_k", on_click=use,
                              args=("k", fit["largest_k"]))
                if fit.get("most_raters"):
                    b2.button(f"Keep the first {fit['most_raters']} raters", key="use_raters",
                              on_click=use,
                              args=("raters", "\n".join(names[:fit["most_raters"]])))
            else:
                st.success(f"Session {made['session_id']}: {made['items']} items "
                           f"({made['auto_ties']} identical pairs tied automatically), "
                           f"{made['assignments']} assignments.")
                show_invites(made["tokens"])
                with _ui.workspace() as ws:  # the new session's progress shows at once
                    existing = ss.sessions(ws)

if not existing:
    st.stop()
labels = {s["id"]: f"{s['id']} · {s['name']} ({', '.join(s['systems'])})" for s in existing}
session_id = st.selectbox("Session", list(labels), format_func=labels.get, key="session")
with st.expander("Add raters"), st.form("add_raters"):
    st.caption("New raters take items no one has started yet; every item keeps its k raters.")
    more = st.text_area("New raters, one name per line", key="more_raters")
    add = st.form_submit_button("Add raters", key="add_raters")
if add:
    try:
        with _ui.workspace() as ws:
            added = ss.add_raters(ws, session_id, more.splitlines())
    except WorkbenchError as exc:
        st.error(str(exc))
    else:
        st.success("Added " + ", ".join(f"{name} ({n} items)" for name, n in
                                        added["items"].items()) + ", taken over from "
                   + ", ".join(f"{name} ({n})" for name, n in added["from"].items()) + ".")
        show_invites(added["tokens"])
with _ui.workspace() as ws:
    progress = ss.rater_progress(ws, session_id)
    raw = ss.raw_ratings(ws, session_id)

st.subheader("Progress")
st.dataframe(pd.DataFrame(progress).drop(columns="rater_id"), hide_index=True,
             key="progress")
names = {r["rater_id"]: r["name"] for r in progress}
c1, c2, c3 = st.columns([2, 1, 1])
rater_id = c1.selectbox("Rater", list(names), format_func=names.get, key="rater_pick")
if c2.button("Revoke token", key="revoke"):
    with _ui.workspace() as ws:
        ss.revoke(ws, rater_id)
    st.rerun()
if c3.button("New token", key="reissue"):
    with _ui.workspace() as ws:
        token = ss.reissue_token(ws, rater_id)
    st.code(f"{token}\n{app_address()}?token={token}", language=None)
    st.caption(f"New token for {names[rater_id]}; the old one no longer works.")

st.subheader("Statistics")
if not raw:
    st.info("No ratings yet.")
    st.stop()
with_rouge = st.toggle("Agreement of ROUGE-L with the raters", key="with_rouge")
with _ui.workspace() as ws:
    scores = rouge_scores(ws, session_id) if with_rouge else None
    result = statistics(ws, session_id, scores)
st.dataframe(pd.DataFrame(pair_rows(result["pairs"])), hide_index=True, key="pairs")
if result["bradley_terry"]:
    st.caption("Bradley–Terry strengths (log-odds, bootstrap 95% intervals)")
    st.dataframe(pd.DataFrame(result["bradley_terry"]).T, key="bt")
cols = st.columns(4)
agreement, bias = result["agreement"], result["position_bias"]
for col, (title, value) in zip(cols, [
        ("Krippendorff's α", agreement["krippendorff_alpha"]),
        ("Fleiss' κ", agreement["fleiss_kappa"]), ("Left answer wins", bias["rate"]),
        ("Consistency on repeats", result["consistency"]["rate"])], strict=True):
    col.metric(title, "–" if value is None else f"{value:.2f}")
kappa = agreement["cohen_kappa"]
st.caption(" · ".join([*agreement["notes"], (f"position bias sign test p = "
                       f"{bias['sign_test_p']:.3g}"), "Cohen's κ (2 raters) = "
                       + ("–" if kappa is None else f"{kappa:.2f}")]))
if result["metric_agreement"]:
    st.json(result["metric_agreement"], expanded=False)
st.download_button("Raw ratings (CSV)", csv_text(raw),
                   file_name=f"session-{session_id}-ratings.csv", key="csv")
with st.expander("Design"):
    st.json(json.loads(json.dumps(result["session"], default=str)))

_judge.show(session_id)

# -- preference pairs and the re-check of a preference-tuned run ---------------------------
st.subheader("Preference pairs")
from evaluation.preferences import FORMATS  # noqa: E402
from workbench.stages import preferences as pref_stage  # noqa: E402
from workbench.store import preferences as pref_store  # noqa: E402

p1, p2 = st.columns(2)
min_agreement = p1.number_input("Least raters agreeing on the winner", 1, 50, 1,
                                key="pref_min_agreement")
pref_format = p2.selectbox("Format", FORMATS, key="pref_format")
try:
    found = pref_stage.pairs(_ui.workspace_path(), [session_id], int(min_agreement))
except WorkbenchError as exc:
    st.info(str(exc))
else:
    counts = found.counts
    st.caption(f"{counts['pairs']} pairs from {counts['items']} rated items; left out: "
               + ", ".join(f"{counts[r]} {r.replace('_', ' ')}" for r in
                           ("tie", "both_bad", "split", "below_agreement")))
    suffix = "parquet" if pref_format == "parquet" else "jsonl"
    for extra, data in pref_stage.export_files(found, pref_format).items():
        st.download_button(f"Pairs ({pref_format}{extra})", data,
                           file_name=f"session-{session_id}-pairs{extra or '.' + suffix}",
                           key=f"pref_download{extra}")
    st.caption("Train on them: `workbench train-preferences -w WORKSPACE --session "
               f"{session_id} --method dpo` (see README).")
with _ui.workspace() as ws:
    tuned_here = pref_store.preference_runs(ws, session_id)
if tuned_here:
    run_labels = {r["id"]: f"{r['id']} ({r['kind']} from {r['start']})" for r in tuned_here}
    recheck_run = st.selectbox("Preference run trained on this session", list(run_labels),
                               format_func=run_labels.get, key="recheck_run")
    if st.button("Create re-check session", key="recheck"):
        try:
            job = pref_stage.start_recheck(_ui.workspace_path(), recheck_run)
        except WorkbenchError as exc:
            st.error(str(exc))
        else:
            st.success(f"Started job {job.name}: it generates both models' answers and "
                       "creates the session with this session's raters; then give each "
                       "rater a new token here.")
