"""The coverage map section: settings, the map (computed with progress when it is not in
the workspace yet), colour by cluster, split, duplicate status, PII findings, held-out
coverage or a per-row score; clicking a point opens the rows of its cluster.

``section()`` draws the whole section inside any page; ``render_map`` draws the chart of an
already computed map (``workbench.stages.coverage.coverage_map``'s points).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from curation.coverage import CoverageConfig
from views import _ui
from workbench.stages.coverage import coverage_map

COLOR_BY = {  # option → (column, title)
    "cluster": ("label", "cluster"),
    "split": ("split", "split"),
    "duplicate status": ("duplicate", "duplicate"),
    "PII findings": ("has_pii", "PII"),
    "held-out over train": ("coverage", "held-out coverage"),
}
COVERAGE_ORDER = ["train", "covered", "no train neighbour", "not split"]
GREY = "#c8ccd2"
COVERAGE_COLORS = [GREY, "#1f77b4", "#d62728", "#eeeeee"]  # held-out rows drawn larger, on top
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5"]
UNCLUSTERED_LABEL = "unclustered"
FIXED = {  # column → {value: colour}: the values that call for attention in red
    "coverage": dict(zip(COVERAGE_ORDER, COVERAGE_COLORS, strict=True)),
    "has_pii": {"PII found": "#d62728", "none": GREY},
    "duplicate": {"duplicate": "#d62728", "representative": "#ff7f0e", "unique": GREY},
}
ROW_COLUMNS = ["example_id", "line", "split", "label", "duplicate", "pii", "nearest_train",
               "prompt"]


def _frame(points: list[dict], scores: dict[int, float] | None) -> pd.DataFrame:
    frame = pd.DataFrame(points)
    frame["has_pii"] = frame["pii"].map(lambda n: "PII found" if n else "none")
    frame["coverage"] = [
        "train" if s == "train" else "not split" if s == "none" else
        "no train neighbour" if u else "covered"
        for s, u in zip(frame["split"], frame["uncovered"], strict=True)]
    frame["order"] = frame["coverage"].map({"train": 0, "not split": 0}).fillna(1)
    if scores is not None:
        frame["score"] = frame["example_id"].map(scores)
    return frame


def render_map(points: list[dict], color_by: str = "cluster",
               scores: dict[int, float] | None = None, score_name: str = "quality",
               key: str = "coverage_map") -> int | None:
    """Draw the map; returns the example id of the clicked point, or None.

    ``points``: the stage's points; ``color_by``: a key of ``COLOR_BY`` or "score", which
    colours by ``scores`` ({example_id: value}, a continuous scale named ``score_name``;
    rows without a value are grey).
    """
    frame = _frame(points, scores)
    if color_by == "score" and scores is not None:
        color = alt.Color("score:Q", title=score_name, scale=alt.Scale(scheme="viridis"))
    else:
        column, title = COLOR_BY[color_by]
        if column in FIXED:
            domain, palette = list(FIXED[column]), list(FIXED[column].values())
        else:
            domain = sorted(frame[column].unique(), key=lambda v: (v == UNCLUSTERED_LABEL, v))
            palette = [GREY if v == UNCLUSTERED_LABEL else PALETTE[k % len(PALETTE)]
                       for k, v in enumerate(domain)]
        color = alt.Color(f"{column}:N", title=title,
                          scale=alt.Scale(domain=domain, range=palette))
    pick = alt.selection_point(name="pick", fields=["example_id"], on="click")
    chart = alt.Chart(frame).mark_circle(size=40).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)), color=color,
        order=alt.Order("order:Q"),
        size=alt.Size("order:Q", scale=alt.Scale(domain=[0, 1], range=[30, 90]), legend=None),
        opacity=alt.condition(pick, alt.value(0.9), alt.value(0.35)),
        tooltip=["example_id", "label", "split", "duplicate", "pii",
                 alt.Tooltip("nearest_train:Q", format=".3f"), "prompt"],
    ).add_params(pick).properties(height=480)
    event = st.altair_chart(chart, on_select="rerun", selection_mode="pick", key=key,
                            width="stretch")
    clicked = _ui.chart_pick(event, "pick", "example_id")
    return int(float(clicked)) if clicked is not None else None


def _settings() -> CoverageConfig:
    with st.expander("Map settings"):
        c = st.columns(4)
        seed = c[0].number_input("Seed", 0, 2**31 - 1, 0, key="coverage_seed",
                                 help=CoverageConfig.__dataclass_fields__["seed"].metadata["help"])
        size = c[1].number_input("Smallest cluster (0 = automatic)", 0, 500, 0,
                                 key="coverage_min_cluster",
                                 help=CoverageConfig.__dataclass_fields__["min_cluster_size"]
                                 .metadata["help"])
        neighbours = c[2].number_input("UMAP neighbours", 2, 200, 15, key="coverage_neighbours",
                                       help=CoverageConfig.__dataclass_fields__["n_neighbors"]
                                       .metadata["help"])
        threshold = c[3].slider("Coverage cosine", 0.0, 1.0, 0.5, 0.05,
                                key="coverage_threshold",
                                help=CoverageConfig.__dataclass_fields__["coverage_threshold"]
                                .metadata["help"])
    return CoverageConfig(seed=int(seed), min_cluster_size=int(size),
                          n_neighbors=int(neighbours), coverage_threshold=float(threshold))


def _compute(path, config: CoverageConfig) -> dict | None:
    """The map from the workspace, or computed (embedding with a progress bar) on a click."""
    result = coverage_map(path, config, cached_only=True)
    if result is not None:
        return result
    st.info("No map for these settings yet. Drawing it embeds the rows that are not in the "
            "workspace's embedding cache (a progress bar shows how far it is).")
    if not st.button("Draw the coverage map", key="coverage_draw"):
        return None
    bar = st.progress(0.0, text="embedding")

    def progress(update: dict) -> None:
        bar.progress(update["step"] / max(update["total"], 1), text=update["message"])

    with st.spinner("Projecting and clustering"):
        coverage_map(path, config, on_progress=progress)
    st.rerun()  # draw it from the workspace, without the offer above


def section(scores: dict[int, float] | None = None, score_name: str = "quality") -> None:
    """The coverage map section: settings → map → the rows of the clicked point's cluster."""
    path = _ui.workspace_path()
    with _ui.workspace() as ws:
        ws.current_dataset()  # no dataset: the page says where to start
    config = _settings()
    try:
        result = _compute(path, config)
    except Exception as exc:  # noqa: BLE001 - a stage error or a model failure: one line
        st.error(f"The coverage map could not be drawn: {exc}")
        return
    if result is None:
        return
    summary = result["summary"]
    cols = st.columns(4)
    cols[0].metric("Rows", summary["rows"])
    cols[1].metric("Clusters", summary["clusters"])
    cols[2].metric("Held-out rows", summary["held_out"])
    cols[3].metric("Held-out without a train neighbour", summary["uncovered"],
                   help=f"nearest training cosine below {summary['threshold']}")
    options = list(COLOR_BY) + (["score"] if scores is not None else [])
    color_by = st.radio("Colour by", options, horizontal=True, key="coverage_color")
    clicked = render_map(result["points"], color_by, scores, score_name)
    st.caption("Larger points are held-out rows (validation, test).")
    frame = _frame(result["points"], scores)
    labels = sorted(frame["label"].unique(), key=lambda s: (s == UNCLUSTERED_LABEL, s))
    if clicked is not None and clicked in set(frame["example_id"]):
        st.session_state["coverage_cluster"] = frame.loc[frame["example_id"] == clicked,
                                                         "label"].iloc[0]
    chosen = st.selectbox("Rows of a cluster (click a point, or choose its cluster)", labels,
                          key="coverage_cluster")
    rows = frame[frame["label"] == chosen][ROW_COLUMNS + (["score"] if scores else [])]
    st.dataframe(rows, hide_index=True, width="stretch", key="coverage_rows")
