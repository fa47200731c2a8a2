"""Run: start the pipeline (or one stage) as a background job; watch progress and the log."""

from pathlib import Path

import streamlit as st

from evaluation.extract import AUTO, EXTRACTORS, NONE
from evaluation.prompted import SHOT_MODES, PromptedSystem
from views import _ui
from workbench.jobs import runner as jobs
from workbench.demo import DEMO_DATA
from common.errors import WorkbenchError
from workbench.paths import allowed_roots, confine
from workbench.stages import STAGES
from workbench.store import DB_NAME
from workbench.store.evaluation import succeeded_runs
from workbench.store.prompted import common_system_message

DEFAULT_TASK_PROMPT = ("You are a helpful assistant. Answer the user's request directly and "
                       "concisely.")

path = _ui.sidebar()
st.title("Run")
train_runs: list[str] = []
task_prompt = DEFAULT_TASK_PROMPT
if (path / DB_NAME).exists():  # no workspace yet: the pipeline creates it
    with _ui.workspace() as ws:
        train_runs = [run["id"] for run in succeeded_runs(ws, "train")]
        task_prompt = common_system_message(ws) or task_prompt

with st.form("run_form"):
    source = st.text_input("Dataset file (JSON or JSONL)", value=str(DEMO_DATA), key="input")
    stage = st.selectbox("What to run", ["pipeline", *STAGES], key="stage")
    c1, c2, c3, c4 = st.columns(4)
    steps = c1.number_input("LoRA steps", 1, 10_000, 10, key="steps")
    eval_size = c2.number_input("Eval size", 1, 10_000, 8, key="eval_size")
    new_tokens = c3.number_input("Max new tokens", 8, 2048, 64, key="max_new_tokens")
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="seed")
    redact = st.checkbox("Train on PII-redacted text", key="redact")
    with st.expander("Decoding and scoring (generate, score)"):
        st.caption("Every system answers the same prompts with the same decoding, as "
                   "`workbench evaluate` does.")
        decoding = st.radio("Decoding", ["greedy", "sampling"], horizontal=True,
                            key="decoding")
        d1, d2, d3 = st.columns(3)
        sampling_seed = d1.number_input("Sampling seed", 0, 2**31 - 1, 0, key="sampling_seed")
        temperature = d2.number_input("Temperature", 0.05, 5.0, 0.7, 0.05, key="temperature")
        top_p = d3.number_input("Top-p", 0.05, 1.0, 0.9, 0.05, key="top_p")
        tuned = st.multiselect("Tuned run(s) to compare (generate stage; none = the latest)",
                               train_runs, key="tuned_runs")
        extractor = st.selectbox("Answer extractor", [AUTO, NONE, *EXTRACTORS],
                                 key="extractor")
    with st.expander("Prompted system (fine-tune or prompt?)"):
        st.caption("The base model with this system prompt and k examples from the train "
                   "split answers the same test prompts; the verdict weighs the fine-tune "
                   "against the best prompt. Pre-filled from the dataset's most common system "
                   "message, if any.")
        use_prompt = st.checkbox("Add a prompted system", value=True, key="use_prompted")
        p1, p2, p3 = st.columns(3)
        prompt_name = p1.text_input("Name", "task prompt", key="prompted_name")
        prompt_k = p2.number_input("Shots (k)", 0, 64, 2, key="prompted_k")
        prompt_mode = p3.radio("Shots", SHOT_MODES, horizontal=True, key="prompted_shots")
        prompt_text = st.text_area("System prompt", task_prompt, key="prompted_text")
    submitted = st.form_submit_button("Start", key="start")

if submitted:
    try:  # a typed path stays inside the workspace, the demo data or $WORKBENCH_DATA_DIRS
        source = str(confine(source, allowed_roots(path)))
    except WorkbenchError as exc:
        st.error(str(exc))
        st.stop()
    prompted = None
    if use_prompt and stage in ("pipeline", "generate"):
        try:
            system = PromptedSystem(prompt_name.strip(), prompt_text.strip(), int(prompt_k),
                                    prompt_mode)
            system.check()
        except ValueError as exc:
            st.error(str(exc))
            st.stop()
        prompted = [system.to_dict()]
    options = {"input": source, "prompted": prompted, "workspace": str(path),
               "max_train_steps": int(steps),
               "eval_size": int(eval_size), "max_new_tokens": int(new_tokens),
               "seed": int(seed), "redact": redact, "extractor": extractor,
               "sampling": None if decoding == "greedy" else {
                   "seed": int(sampling_seed), "temperature": float(temperature),
                   "top_p": float(top_p)},
               "tuned_runs": (tuned or None) if stage == "generate" else None}
    kind = "pipeline" if stage == "pipeline" else "stage"
    job_dir = jobs.new_job(path / "artifacts" / "jobs", kind,
                           {"options": options, "stage": stage})
    jobs.start(job_dir)
    st.success(f"Started {stage} as job {job_dir.name}")


@st.fragment(run_every=2)
def job_list(parent: Path) -> None:
    """Pipeline and stage jobs, newest first, refreshed every 2 seconds."""
    folders = sorted(parent.glob("*"), key=lambda p: p.name.split("-", 1)[-1], reverse=True)
    if not folders:
        st.caption("No jobs yet.")
    for folder in folders[:10]:
        state, progress = jobs.status(folder), jobs.progress(folder)
        with st.expander(f"{folder.name} · {state['state']}",
                         expanded=state["state"] == "running"):
            total = progress.get("total") or 1
            st.progress(min(progress.get("step", 0) / total, 1.0),
                        text=progress.get("message", ""))
            if state.get("error"):
                st.error(state["error"])
            st.code(jobs.log_tail(folder) or "(no log yet)", language=None)
            if state["state"] == "running" and st.button("Cancel", key=f"cancel_{folder.name}"):
                jobs.cancel(folder)


st.subheader("Jobs")
job_list(path / "artifacts" / "jobs")
