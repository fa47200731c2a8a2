"""Train: a fine-tuning form generated from TrainConfig; runs with live progress, curves,
cancel and resume; two or more runs compared (config diff, loss curves overlaid); a data
ablation across versions (views/ablation.py)."""

from dataclasses import fields
from pathlib import Path

import pandas as pd
import streamlit as st

from training.config import METHODS, PRECISIONS, SCHEDULES, TrainConfig, diff
from views import _ui
from views.ablation import section as ablation_section
from workbench.jobs import runner as jobs
from workbench.stages import training as train_runs
from common.errors import WorkbenchError
from workbench.store import training as store

CHOICES = {"method": METHODS, "lr_schedule": SCHEDULES, "precision": PRECISIONS}
path = _ui.sidebar()
st.title("Train")


def field_widget(item, column):
    """One widget per config field, typed from its default; help = the field's help text."""
    default, key, label = item.default, f"cfg_{item.name}", item.name.replace("_", " ")
    helptext = item.metadata["help"]
    if item.name in CHOICES:
        return column.selectbox(label, CHOICES[item.name], help=helptext, key=key)
    if item.name == "target_modules":
        return column.text_input(label, ",".join(default), help=helptext, key=key)
    if isinstance(default, bool):
        return column.checkbox(label, default, help=helptext, key=key)
    if isinstance(default, int):
        return column.number_input(label, value=default, step=1, help=helptext, key=key)
    if isinstance(default, float):
        return column.number_input(label, value=default, format="%g", help=helptext, key=key)
    return column.text_input(label, default, help=helptext, key=key)


with st.expander("New training run", expanded=False), st.form("train_form"):
    columns = st.columns(4)
    values = {item.name: field_widget(item, columns[k % 4])
              for k, item in enumerate(fields(TrainConfig))}
    if st.form_submit_button("Start training", key="start_training"):
        try:
            job = train_runs.start_in_background(path, TrainConfig.from_dict(values))
            st.session_state["train_launch"] = str(job)
            st.success(f"Started: job {job.name}")
        except (WorkbenchError, ValueError) as exc:
            st.error(str(exc))


@st.fragment(run_every=2)
def launching(job_dir: Path) -> None:
    """Until the started run reports progress: "Starting…"; then the whole page reruns to
    show the run, or says why it did not start (e.g. the privacy gate). Reads the job folder
    only: a poll that opened the workspace every 2 s would keep it from the job's process."""
    state, progress = jobs.status(job_dir), jobs.progress(job_dir)
    if state["state"] in jobs.FINAL or progress.get("total"):
        st.session_state.pop("train_launch", None)
        if state["state"] == "failed":
            st.session_state["train_flash"] = state.get("error") or "failed"
        st.rerun()
    st.info("Starting the training run…")


ablation_section(path)  # views/ablation.py: its own expander

if flash := st.session_state.pop("train_flash", None):
    st.error(f"The training run failed: {flash}")
if "train_launch" in st.session_state:
    launching(Path(st.session_state["train_launch"]))


def run_table(runs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "run": r["id"], "state": train_runs.live_state(r)["state"],
        "method": r["config"].get("train", {}).get("method", "lora"),
        "steps": (r["summary"] or {}).get("steps"),
        "final loss": (r["summary"] or {}).get("final_loss"),
        "best val loss": (r["summary"] or {}).get("best_val_loss"),
        "started": r["created_at"]} for r in runs])


@st.fragment(run_every=2)
def live(run: dict) -> None:
    """Progress bar, loss curves and log of one run, refreshed every 2 seconds."""
    job_dir = Path(run["dir"])
    state, progress = train_runs.live_state(run), jobs.progress(job_dir)
    total = progress.get("total") or 1
    st.progress(min(progress.get("step", 0) / total, 1.0),
                text=f"{state['state']} · {progress.get('message', '')}")
    if state.get("error"):
        st.error(state["error"])
    log = pd.DataFrame(train_runs.live_log(job_dir))
    if not log.empty:
        st.line_chart(log.set_index("step")[["loss", "val_loss"]])  # line_chart takes no key
    with st.expander("Log"):
        st.code(jobs.log_tail(job_dir) or "(no log yet)", language=None)
    c1, c2 = st.columns(2)
    if state["state"] in ("queued", "running") and c1.button("Cancel", key="cancel_run"):
        jobs.cancel(job_dir)
    if state["state"] in ("failed", "cancelled") and c2.button("Resume", key="resume_run"):
        train_runs.start_in_background(path, resume_run=run["id"])
        st.success("Resuming from the last checkpoint")


with _ui.workspace() as ws:
    runs = store.train_runs(ws)
if not runs:
    st.info("No training runs yet. Start one above (the workspace needs a train split).")
    st.stop()

st.subheader("Runs")
st.dataframe(run_table(runs), hide_index=True, width="stretch", key="runs_table")
by_id = {r["id"]: r for r in runs}
chosen = st.selectbox("Show run", list(by_id), key="show_run")
live(by_id[chosen])

st.subheader("Compare")
picked = st.multiselect("Runs to compare", list(by_id), default=list(by_id)[:2],
                        key="compare_runs")
if len(picked) >= 2:
    configs = [by_id[r]["config"].get("train", {}) for r in picked]
    changed = sorted({k for c in configs[1:] for k in diff(configs[0], c)})
    st.dataframe(pd.DataFrame({r: [c.get(k) for k in changed] for r, c in zip(picked, configs, strict=True)},
                              index=changed).astype(str), width="stretch", key="config_diff")
    curves = pd.concat([pd.DataFrame(train_runs.live_log(Path(by_id[r]["dir"])))
                        .assign(run=r) for r in picked], ignore_index=True)
    if "loss" in curves:
        st.line_chart(curves.pivot_table(index="step", columns="run", values="loss"))
