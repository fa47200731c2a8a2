"""The pairwise judge on the Sessions page: the latest judge run of a session, its one-line
calibration verdict, win rates raw and length-controlled, unparsed answers and the
calibration table (``workbench.stages.judge.judge_report``, as the report shows them)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evaluation.judge_calibration import WITHIN
from views import _ui
from workbench.stages.judge import judge_report

WIN_COLUMNS = ["system", "other", "wins", "ties", "losses", "n", "win_rate", "low", "high",
               "lc_win_rate", "length_coef"]


def show(session_id: int) -> None:
    """The judge section of one session."""
    st.subheader("Pairwise judge")
    with _ui.workspace() as ws:
        result = judge_report(ws, session_id)
    if result is None:
        st.info(f"No judge run for this session yet: `workbench judge -w WORKSPACE --session "
                f"{session_id}` (the embedded model; --judge-model DIR for a bigger local "
                "one, --judge-url URL --judge-name NAME for an OpenAI-compatible server).")
        return
    calibration = result["calibration"]
    say = st.success if calibration["line"] == WITHIN else st.warning
    say(f"Judge {result['judge']}: {calibration['line']} ({calibration['reason']}).")
    st.dataframe(pd.DataFrame(result["win_rates"], columns=WIN_COLUMNS), hide_index=True,
                 key="judge_win_rates")
    if result["unparsed"]["message"]:
        st.warning(result["unparsed"]["message"])
    st.dataframe(pd.DataFrame(result["calibration_table"],
                              columns=["statistic", "value", "95% low", "95% high"]),
                 hide_index=True, key="judge_calibration")
    st.caption(f"Run {result['run_id']} · prompt {result['prompt_file']} · "
               f"{calibration['items']} items rated by the judge and the raters · each item "
               "judged in both orders, a flip is a tie · length-controlled win rate at equal "
               "answer length · bootstrap over items")
