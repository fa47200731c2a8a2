"""The pairwise judge on the Sessions page: the button that starts a judge job; the session's
latest judge job live while it runs (``views._jobs.live``: answers judged of total, the latest
message, elapsed time, Cancel), or its one-line error when it failed; the latest judge run of
the session, its one-line calibration verdict, win rates raw and length-controlled, unparsed
answers and the calibration table (``workbench.stages.judge.judge_report``, as the report
shows them)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from evaluation.judge_calibration import WITHIN
from views import _jobs, _ui
from common.errors import WorkbenchError
from workbench.stages import judge as judge_stage

WIN_COLUMNS = ["system", "other", "wins", "ties", "losses", "n", "win_rate", "low", "high",
               "lc_win_rate", "length_coef"]


def launch(session_id: int) -> None:
    """A local model folder (empty: the embedded model) and the button that starts the
    judge as a background job."""
    c1, c2 = st.columns([3, 1])
    folder = c1.text_input("Judge model folder (empty: the embedded SmolLM2-135M)",
                           key="judge_model")
    if c2.button("Judge this session", key="judge_start"):
        try:
            job = judge_stage.start_judge(_ui.workspace_path(), session_id,
                                          folder.strip() or None)
        except WorkbenchError as exc:
            st.error(str(exc))
        else:
            st.success(f"Started job {job.name}: each item is judged in both orders; its "
                       "progress shows below, the results when it ends.")


def latest_job(session_id: int) -> None:
    """The session's newest judge job: live while active, its error when it failed, a line
    when it was cancelled (a succeeded one shows as the results below)."""
    found = judge_stage.judge_jobs(_ui.workspace_path(), session_id)
    if not found:
        return
    _jobs.newest(found[0]["dir"], found[0]["status"], "judge", "answers",
                 "the results below are from the session's latest finished judge run, if any.")


def show(session_id: int) -> None:
    """The judge section of one session."""
    st.subheader("Pairwise judge")
    launch(session_id)
    latest_job(session_id)
    with _ui.workspace() as ws:
        result = judge_stage.judge_report(ws, session_id)
    if result is None:
        st.caption(f"No judge run for this session yet: `workbench judge -w WORKSPACE --session "
                f"{session_id}` (the embedded model; --judge-model DIR for a bigger local "
                "one, --judge-url URL --judge-name NAME for an OpenAI-compatible server).")
        return
    calibration = result["calibration"]
    line = f"Judge {result['judge']}: {calibration['line']} ({calibration['reason']})."
    if calibration["line"] == WITHIN:
        st.success(line)
    else:
        st.warning(line)
    st.dataframe(pd.DataFrame(result["win_rates"], columns=WIN_COLUMNS), hide_index=True,
                 key="judge_win_rates")
    missing = result["unparsed"]
    if missing["answers"]:
        st.warning(f"{missing['answers']} of {2 * result['items']} judge answers name neither "
                   f"A, B nor tie, so {missing['items']} items have no verdict (not counted, "
                   "not guessed). The first of them, as the judge wrote them:")
        st.code("\n".join(repr(text) for text in missing["examples"]), language=None)
    st.dataframe(pd.DataFrame(result["calibration_table"],
                              columns=["statistic", "value", "95% low", "95% high"]),
                 hide_index=True, key="judge_calibration")
    st.caption(f"Run {result['run_id']} · prompt {result['prompt_file']} · "
               f"{calibration['items']} items rated by the judge and the raters · each item "
               "judged in both orders, a flip is a tie · length-controlled win rate at equal "
               "answer length · bootstrap over items")
