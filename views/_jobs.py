"""One background job shown live: its progress bar (done of total, the latest message), its
elapsed time, a Cancel button, refreshed every 2 seconds from the job folder only (a poll that
opened the workspace would keep it from the job's process); the whole page reruns when the
job ends, so what it produced shows without a reload.

Run as: ``_jobs.newest(job_dir, status, "judge", "answers", "...")`` for a kind's newest job
(``live`` while ``runner.active(status)``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import streamlit as st

from training.eta import duration
from workbench.jobs import runner as jobs

ERROR_TYPE = re.compile(r"^[A-Z]\w*(Error|Failed|Exception): ")


def elapsed_s(state: dict, now: datetime | None = None) -> float | None:
    """Seconds from the job's start (its creation while queued) to its end, or to ``now``
    while it runs; None without a recorded time.

    >>> elapsed_s({"started": "2026-01-01T00:00:00+00:00", "ended": "2026-01-01T00:01:05+00:00"})
    65.0
    """
    begin = state.get("started") or state.get("created")
    if not begin:
        return None
    end = datetime.fromisoformat(state["ended"]) if state.get("ended") else (
        now or datetime.now(timezone.utc))
    return (end - datetime.fromisoformat(begin)).total_seconds()


def bar_text(progress: dict, unit: str) -> str:
    """The progress bar's text: ``12 of 40 answers · <latest message>``; the message alone
    before a total is known; "starting" before any progress.

    >>> bar_text({"step": 12, "total": 40, "message": "judging"}, "answers")
    '12 of 40 answers · judging'
    """
    parts = [f"{progress.get('step', 0)} of {progress['total']} {unit}"] \
        if progress.get("total") else []
    if progress.get("message"):
        parts.append(progress["message"])
    return " · ".join(parts) or "starting"


def error_line(state: dict) -> str:
    """A failed job's error as one line for a person: the first line of the status' error,
    without the exception's class name in front.

    >>> error_line({"error": "StageError: judge model folder /m does not load\\nmore"})
    'judge model folder /m does not load'
    """
    first = (state.get("error") or "no error recorded").strip().splitlines()[0]
    return ERROR_TYPE.sub("", first, count=1)


def show(job_dir: Path, unit: str) -> dict:
    """One job's progress bar, state and elapsed time, and its Cancel button while it is
    active; returns its ``runner.status``."""
    state, progress = jobs.status(job_dir), jobs.progress(job_dir)
    total = progress.get("total") or 0
    st.progress(min(progress.get("step", 0) / total, 1.0) if total else 0.0,
                text=bar_text(progress, unit))
    st.caption(f"Job {job_dir.name} · {state['state']} · elapsed "
               f"{duration(elapsed_s(state))}")
    if jobs.active(state) and st.button("Cancel", key=f"cancel_{job_dir.name}"):
        jobs.cancel(job_dir)
        st.caption(f"Cancel sent to job {job_dir.name}.")
    return state


@st.fragment(run_every=2)
def live(job_dir: Path, unit: str) -> None:
    """``show`` every 2 seconds while the job is active; then the whole page again."""
    if not jobs.active(show(job_dir, unit)):
        st.rerun()


def newest(job_dir: Path, state: dict, what: str, unit: str, cancelled: str) -> None:
    """A kind's newest job on its page, by its ``runner.status`` ``state``: ``live`` while
    active, its one-line error when it failed, "… was cancelled; ``cancelled``" when it was
    cancelled; nothing once it succeeded (the page shows what it produced).
    ``what`` names the kind in those lines ("judge", "quality")."""
    if jobs.active(state):
        live(job_dir, unit)
    elif state["state"] == "failed":
        st.error(f"The {what} job {job_dir.name} failed: {error_line(state)}")
    elif state["state"] == "cancelled":
        st.info(f"The {what} job {job_dir.name} was cancelled; {cancelled}")
