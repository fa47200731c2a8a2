"""Quality: compute the signals per kept row, read each signal's histogram and the rows at
both ends, browse rows sorted and filtered by any signal, and select the best rows as a new
version. The page is a list of sections (functions), called in order at the bottom."""

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from common.errors import WorkbenchError
from curation.quality import FLAGS, SIGNALS, QualityConfig, combined_scores, parse_formula
from views import _jobs, _ui, coverage
from views.quality_charts import histogram
from workbench.jobs import runner as jobs
from workbench.stages import quality as stages
from workbench.store import quality as store

ENDS = 10  # rows shown at each end of a signal
SHOWN = ["example_id", "split", "score", "prompt", "answer"]


def compute_section(path: Path, expanded: bool = False) -> None:
    """The form that starts the quality job (open when ``expanded``: no signals yet), and
    the newest job's progress."""
    with st.expander("Compute quality signals", expanded=expanded), st.form("quality_form"):
        c = st.columns(3)
        model = c[0].checkbox("Model-based signals (perplexities, IFD)", True, key="q_model")
        base = c[1].text_input("Model", "embedded", key="q_base_model",
                               help=QualityConfig.__dataclass_fields__["base_model"]
                               .metadata["help"])
        seq = c[2].number_input("Max tokens per row", 16, 8192, 1024, key="q_max_seq_len")
        if st.form_submit_button("Compute", key="q_compute"):
            config = QualityConfig(model=model, base_model=base, max_seq_len=int(seq))
            job = stages.start_in_background(path, config)
            st.success(f"Started job {job.name}: its progress shows below, the signals when "
                       "it ends.")
    latest_job(path)


def latest_job(path: Path) -> None:
    """The newest quality job started from this page: live while active (progress, elapsed
    time, Cancel), its one-line error when it failed, a line when it was cancelled."""
    found = jobs.find(path / "artifacts" / "jobs", "quality_launch")
    if not found:
        return
    _jobs.newest(found[0], jobs.status(found[0]), "quality", "sequences",
                 "the signals below are from the latest finished run, if any.")


def scored_frame(rows: list[dict], formula_text: str) -> pd.DataFrame:
    """The signal rows with the combined score of ``formula_text`` in column ``score``."""
    frame = pd.DataFrame(rows).drop(columns=["meta"])
    try:
        frame["score"] = combined_scores(rows, parse_formula(formula_text))
    except ValueError as exc:
        st.error(f"Formula: {exc}")
        frame["score"] = None
    return frame


def histograms_section(frame: pd.DataFrame) -> None:
    """A histogram per signal (and the combined score), then the rows at both ends of one."""
    names = ["score", *[n for n in SIGNALS if frame[n].notna().any()]]
    columns = st.columns(3)
    for k, name in enumerate(names):
        columns[k % 3].altair_chart(histogram(frame, name), width="stretch")
    flags = {code: int(frame[code].fillna(False).sum()) for code in FLAGS}
    st.caption("Flags (validation findings): "
               + " · ".join(f"{code} {n}" for code, n in flags.items()))
    name = st.selectbox("Read the ends of", names, key="q_ends",
                        help="; ".join(f"{n}: {SIGNALS[n][0]}" for n in names if n in SIGNALS))
    ranked = frame.dropna(subset=[name]).sort_values([name, "example_id"])
    low, high = st.columns(2)
    low.markdown(f"**{ENDS} lowest {name}**")
    low.dataframe(ranked.head(ENDS)[_cols(name)], hide_index=True, key="q_low")
    high.markdown(f"**{ENDS} highest {name}**")
    high.dataframe(ranked.tail(ENDS)[::-1][_cols(name)], hide_index=True, key="q_high")


def _cols(name: str) -> list[str]:
    return list(dict.fromkeys(["example_id", name, *SHOWN[2:]]))


def browser_section(frame: pd.DataFrame) -> None:
    """Rows sorted by any signal, filtered to a range of one and by flags."""
    names = ["score", *SIGNALS]
    c = st.columns(4)
    sort = c[0].selectbox("Sort by", names, key="q_sort")
    descending = c[1].checkbox("Highest first", True, key="q_desc")
    field = c[2].selectbox("Filter on", names, index=names.index("ifd"), key="q_filter")
    without = c[3].multiselect("Without flags", FLAGS, key="q_without")
    values = frame[field].dropna()
    shown = frame
    if not values.empty and values.min() < values.max():
        low, high = st.slider(f"{field} range", float(values.min()), float(values.max()),
                              (float(values.min()), float(values.max())), key="q_range")
        if (low, high) != (float(values.min()), float(values.max())):  # rows without it stay
            shown = frame[frame[field].between(low, high)]
    for code in without:
        shown = shown[~shown[code].fillna(False).astype(bool)]
    shown = shown.sort_values([sort, "example_id"], ascending=[not descending, True])
    st.caption(f"{len(shown)} of {len(frame)} rows")
    st.dataframe(shown[[*SHOWN, *[n for n in SIGNALS if n != "score"], *FLAGS,
                        "unscored_reason"]], hide_index=True, key="q_rows")


def selection_section(path: Path, formula_text: str) -> None:
    """Keep the best N (or p%) train rows by the combined score as a new version."""
    with st.form("select_form"):
        c = st.columns(4)
        mode = c[0].radio("Keep", ["percent", "rows"], horizontal=True, key="s_mode")
        amount = c[1].number_input("How many (% or rows)", 1.0, value=20.0, key="s_amount")
        threshold = c[2].number_input("Diversity guard: max cosine", 0.0, 1.0, 0.9, 0.01,
                                      key="s_threshold", help="Deita (Liu et al. 2024) skips "
                                      "a row above 0.9 cosine to a row already kept.")
        guard = c[3].checkbox("Diversity guard on", True, key="s_guard")
        per_meta = st.text_input("Per meta field (optional)", key="s_per_meta")
        go = st.form_submit_button(f"Select by {formula_text}", key="s_select")
    if go:
        try:
            made = stages.select(path, formula_text,
                                 n=int(amount) if mode == "rows" else None,
                                 percent=float(amount) if mode == "percent" else None,
                                 threshold=threshold if guard else None,
                                 per_meta=per_meta.strip() or None)
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        st.success(f"Version {made['version']} · "
                   f"{made['n_rows']} rows ({made['selection']['selected']} selected, "
                   f"{made['selection']['skipped_similar']} skipped as too similar)"
                   + ("" if made["created"] else " · this content was already a version"))
        st.json(made["selection"], expanded=1)  # the recipe stored with the version


def main() -> None:
    path = _ui.sidebar()
    st.title("Quality")
    with _ui.workspace() as ws:
        dataset_id = ws.current_dataset()
        rows = store.signal_rows(ws, dataset_id)
        unscored = store.unscored(ws, dataset_id)
    compute_section(path, expanded=not rows)
    if not rows:
        st.info("No quality signals yet: press **Compute** above (or run "
                "`workbench quality -w <workspace>`).")
        return
    for item in unscored:
        st.warning(f"{item['rows']} row(s) without a model score: {item['unscored_reason']} "
                   f"(e.g. {item['detail']})")
    formula = st.text_input("Combined score", "ifd", key="q_formula",
                            help="ifd (rows with IFD < 1) · a signal NAME, or -NAME for low "
                                 "first · a weighted sum of z-scores NAME=W,NAME=W")
    frame = scored_frame(rows, formula)
    st.subheader("Signals")
    histograms_section(frame)
    st.subheader("Rows")
    browser_section(frame)
    st.subheader("Select")
    selection_section(path, formula)
    st.subheader("Coverage map")
    scores = {int(e): float(v) for e, v in zip(frame["example_id"], frame["score"])
              if v is not None and v == v}
    coverage.section(scores=scores, score_name="combined score")


main()
