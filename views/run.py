"""Run: start the pipeline (or one stage) as a background job; watch progress and results.

Only the fields the chosen stage uses are shown (the sampling fields only under sampling,
one seed for split, training and sampling); generate can score its answers in the same
job. A job's log stays in its file unless asked for.
"""

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
from curation.engine_ray import ENGINES
from workbench.store import DB_NAME
from workbench.store.evaluation import succeeded_runs
from workbench.store.prompted import common_system_message

DEFAULT_TASK_PROMPT = ("You are a helpful assistant. Answer the user's request directly and "
                       "concisely.")

USES = {  # field -> the stages it applies to (the pipeline uses every field)
    "input": {"ingest"}, "steps": {"train"}, "eval_size": {"generate"},
    "max_new_tokens": {"generate"}, "seed": {"split", "train"}, "redact": {"pii"},
    "decoding": {"generate"}, "tuned_runs": {"generate"}, "extractor": {"score"},
    "engine": {"validate", "dedup", "pii"},
}


def uses(field: str, stage: str) -> bool:
    return stage == "pipeline" or stage in USES[field]


path = _ui.sidebar()
st.title("Run")
train_runs: list[str] = []
test_rows = None
task_prompt = DEFAULT_TASK_PROMPT
if (path / DB_NAME).exists():  # no workspace yet: the pipeline creates it
    with _ui.workspace() as ws:
        train_runs = [run["id"] for run in succeeded_runs(ws, "train")]
        task_prompt = common_system_message(ws) or task_prompt
        try:
            test_rows = ws.split_counts(ws.current_dataset()).get("test")
        except WorkbenchError:  # no dataset yet
            test_rows = None

stage = st.selectbox("What to run", ["pipeline", *STAGES], key="stage",
                     help="The curation stages also have buttons on the Data page.")
source = (st.text_input("Dataset file (JSONL, JSON, CSV, Parquet)",
                         value=str(DEMO_DATA), key="input")
          if uses("input", stage) else "")
cells = iter(st.columns(4))  # the shown fields side by side, from the left
steps = next(cells).number_input("LoRA steps", 1, 10_000, 10, key="steps") \
    if uses("steps", stage) else 10
eval_size = next(cells).number_input("Eval size", 1, 10_000, 8, key="eval_size") \
    if uses("eval_size", stage) else 8
new_tokens = next(cells).number_input("Max new tokens", 8, 2048, 64, key="max_new_tokens") \
    if uses("max_new_tokens", stage) else 64
decoding = "greedy"
if uses("decoding", stage):
    decoding = next(cells).radio(
        "Decoding", ["greedy", "sampling"], horizontal=True, key="decoding",
        help="Every system answers the same prompts with the same decoding.")
seeded = uses("seed", stage) or decoding == "sampling"
d1, d2, d3, _ = st.columns(4) if seeded else (None,) * 4
seed = d1.number_input("Seed", 0, 2**31 - 1, 0, key="seed",
                       help="The split's, the training's and sampling's seed.") \
    if seeded else 0
temperature, top_p = 0.7, 0.9
if decoding == "sampling":
    temperature = d2.number_input("Temperature", 0.05, 5.0, 0.7, 0.05, key="temperature")
    top_p = d3.number_input("Top-p", 0.05, 1.0, 0.9, 0.05, key="top_p")
if stage == "generate" and test_rows == 0:
    st.warning("The test split is empty: run the split on the Data page first.")
elif stage == "generate" and test_rows is not None and eval_size > test_rows:
    st.warning(f"Eval size {eval_size} is larger than the test split ({test_rows} rows): "
               f"generate answers all {test_rows} test rows.")
redact = st.checkbox("Train on PII-redacted text", key="redact") \
    if uses("redact", stage) else False
engine, ray_address = "local", ""
if uses("engine", stage):
    e1, e2, _ = st.columns([1, 2, 1])
    engine = e1.radio("Curation engine", list(ENGINES), horizontal=True, key="engine",
                      help="ray: validate, dedup and the PII scan run their per-row work on "
                           "Ray Data (same results); see the README.")
    ray_address = e2.text_input("Ray address", "", key="ray_address",
                                help="Empty: a local Ray on this machine; 'auto' or "
                                     "ray://HOST:10001 for a cluster.") \
        if engine == "ray" else ""
tuned = st.multiselect("Tuned run(s) to compare (none = the latest)", train_runs,
                       key="tuned_runs") if stage == "generate" else []
then_score = st.checkbox("Score the answers when generation ends", value=True,
                         key="then_score") if stage == "generate" else False
extractor = st.selectbox("Answer extractor", [AUTO, NONE, *EXTRACTORS], key="extractor") \
    if uses("extractor", stage) or then_score else AUTO
use_prompt = False
if stage in ("pipeline", "generate"):
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
submitted = st.button("Start", key="start", type="primary")

if submitted:
    try:  # a typed path stays inside the workspace, the demo data or $WORKBENCH_DATA_DIRS
        source = str(confine(source, allowed_roots(path))) if source else ""
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
               "engine": engine, "ray_address": ray_address.strip() or None,
               "sampling": None if decoding == "greedy" else {
                   "seed": int(seed), "temperature": float(temperature),
                   "top_p": float(top_p)},
               "tuned_runs": (tuned or None) if stage == "generate" else None}
    kind = "pipeline" if stage == "pipeline" else "stage"
    config = {"options": options, "stage": stage,
              "title": "generate → score" if then_score else stage}
    if then_score:
        config["stages"] = ["generate", "score"]
    job_dir = jobs.new_job(path / "artifacts" / "jobs", kind, config, name=stage)
    jobs.start(job_dir)
    st.success(f"Started {config['title']} as job {job_dir.name}")


def title(folder: Path) -> str:
    """What a person knows a job by: its stage (or stages), not its folder name."""
    config = jobs.read_json(folder / "config.json", {}) or {}
    return config.get("title") or config.get("stage") or config.get("kind") or folder.name


def started_here(folder: Path) -> bool:
    """A pipeline or stage job (the train and generate jobs inside them are parts of them)."""
    config = jobs.read_json(folder / "config.json", {}) or {}
    return config.get("kind") in ("pipeline", "stage")


@st.fragment(run_every=2)
def job_list(parent: Path) -> None:
    """Pipeline and stage jobs, newest first, refreshed every 2 seconds."""
    folders = sorted(filter(started_here, parent.glob("*")),
                     key=lambda p: p.name.split("-", 1)[-1], reverse=True)
    if not folders:
        st.caption("No jobs yet.")
    for folder in folders[:10]:
        state, progress = jobs.status(folder), jobs.progress(folder)
        started = (state.get("started") or state.get("created") or "")[11:19]
        with st.expander(f"{title(folder)} · {started} · {state['state']}",
                         expanded=state["state"] == "running"):
            total = progress.get("total") or 1
            st.progress(min(progress.get("step", 0) / total, 1.0),
                        text=progress.get("message", ""))
            if state.get("error"):
                st.error(state["error"])
            result = jobs.read_json(folder / "result.json")
            if isinstance(result, dict) and state["state"] == "succeeded":
                parts = result.values() if "stages" in (jobs.read_json(
                    folder / "config.json", {}) or {}) else [result]
                for part in parts:
                    st.text(_ui.describe(part) if isinstance(part, dict) else str(part))
            if st.toggle("Show the log", key=f"log_{folder.name}"):
                st.code(jobs.log_tail(folder) or "(no log yet)", language=None)
            st.caption(f"Job {folder.name}")
            if state["state"] == "running" and st.button("Cancel", key=f"cancel_{folder.name}"):
                jobs.cancel(folder)


st.subheader("Jobs")
job_list(path / "artifacts" / "jobs")
