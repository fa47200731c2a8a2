"""The Train page's data-ablation section: pick versions (and the built-in arms), a token
budget or a step count, start one job; the latest ablation's table with its intervals.

``section(path)`` draws it inside any page.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from common.errors import WorkbenchError
from training.config import TrainConfig, load_preset
from views import _ui
from workbench.jobs import runner as jobs
from workbench.stages import ablation
from workbench.store.versions import list_versions

PRESETS = Path(__file__).resolve().parents[1] / "configs"


def _arms(version_ids: list[str]) -> list[str]:
    c = st.columns(3)
    everything = c[0].checkbox("Everything kept", True, key="ablate_all")
    random_arm = c[1].checkbox("Random p% (same recipe, seeded)", True, key="ablate_random")
    percent = c[2].number_input("p (%)", 0.1, 100.0, 20.0, key="ablate_percent")
    named = st.multiselect("Versions", version_ids, key="ablate_versions",
                           help="Any stored version (e.g. a selected top p%) is one more arm.")
    return ([ablation.ALL] if everything else []) + (
        [f"{ablation.RANDOM}{percent:g}"] if random_arm else []) + named


def _start(path: Path, version_ids: list[str]) -> None:
    with st.form("ablate_form"):
        st.caption("The first arm is the baseline of the table.")
        arms = _arms(version_ids)
        c = st.columns(4)
        preset = c[0].selectbox("Recipe", ["defaults"] + sorted(p.name for p in
                                                                PRESETS.glob("*.yaml")),
                                key="ablate_preset")
        kind = c[1].radio("Equal", ["token budget", "steps"], key="ablate_kind")
        amount = c[2].number_input("Tokens or steps per run", 1, 10**9, 50_000,
                                   key="ablate_amount")
        eval_size = c[3].number_input("Test rows", 1, 10_000, 50, key="ablate_eval_size")
        if st.form_submit_button("Start the ablation", key="ablate_start"):
            try:
                config = (TrainConfig() if preset == "defaults"
                          else load_preset(PRESETS / preset))
                budget = int(amount) if kind == "token budget" else 0
                job = ablation.start_in_background(
                    path, arms, config, budget_tokens=budget,
                    steps=0 if budget else int(amount), eval_size=int(eval_size))
                st.session_state["ablate_job"] = str(job)
                st.success(f"Started: job {job.name}")
            except WorkbenchError as exc:
                st.error(str(exc))


def table(result: dict) -> pd.DataFrame:
    """The ablation's table for display: arm, metric, means, difference and interval."""
    return pd.DataFrame([{"arm": r["arm"], "metric": r["metric"], "n": r["n"],
                          "arm mean": r["mean"], "baseline mean": r["baseline_mean"],
                          "difference": r["diff"], "95% low": r["low"], "95% high": r["high"],
                          "verdict": r["better"]} for r in result["table"]])


def section(path: Path) -> None:
    """Form → job progress → the latest ablation's arms and table."""
    with _ui.workspace() as ws:
        versions = list_versions(ws)
        latest = ws.latest_run("ablate")
    with st.expander("Data ablation: does the curated set train a better model?"):
        _start(path, versions["id"].tolist() if not versions.empty else [])
        if job := st.session_state.get("ablate_job"):
            state, progress = jobs.status(Path(job)), jobs.progress(Path(job))
            st.caption(f"Ablation job {Path(job).name}: {state['state']} · "
                       f"{progress.get('message', '')}")
            if state.get("error"):
                st.error(state["error"])
        if latest and latest.get("summary") and latest["summary"].get("table") is not None:
            result = latest["summary"]
            st.dataframe(pd.DataFrame(result["arms"]), hide_index=True, width="stretch",
                         key="ablate_arms")
            st.dataframe(table(result), hide_index=True, width="stretch", key="ablate_table")
            st.caption(f"{result['test_rows']} common test rows · answer extractor "
                       f"{result['extractor'] or 'none'} · baseline: "
                       f"{result['arms'][0]['label']}")
