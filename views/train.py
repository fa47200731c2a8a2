"""Train: which data (the current split's version, or a frozen version), a preset, and a
fine-tuning form generated from TrainConfig; runs with live progress (ETA from measured step
times), curves, cancel, resume and an adapter download; two or more runs compared;
a data ablation across versions (views/ablation.py)."""

from dataclasses import fields
from pathlib import Path

import pandas as pd
import streamlit as st

from common.errors import WorkbenchError
from common.settings import REPO_ROOT
from training.config import METHODS, PRECISIONS, SCHEDULES, TrainConfig, diff, load_preset
from views import _ui
from views.ablation import section as ablation_section
from workbench.jobs import runner as jobs
from workbench.stages import preferences as pref_stage
from workbench.stages import training as train_runs
from workbench.store import preferences as pref_store
from workbench.store import training as store
from workbench.store.versions import list_versions, split_version
from workbench.train_exports import adapter_zip, export_run, latest_export

CHOICES = {"method": METHODS, "lr_schedule": SCHEDULES, "precision": PRECISIONS}
LABELS = {"base_model": "Base model", "lora_rank": "LoRA rank", "lora_alpha": "LoRA alpha",
          "lora_dropout": "LoRA dropout", "target_modules": "Layers to adapt",
          "lr_schedule": "Learning-rate schedule", "warmup_steps": "Warm-up steps",
          "max_steps": "Training steps (0 = by epochs)", "max_batch_tokens":
          "Tokens per forward pass", "max_seq_len": "Longest conversation (tokens)",
          "packing": "Pack conversations", "seed": "Random seed",
          "eval_every": "Validate every N steps (0 = never)",
          "eval_max_examples": "Validation conversations",
          "early_stopping_patience": "Early-stopping patience",
          "checkpoint_every": "Checkpoint every N steps", "keep_checkpoints": "Checkpoints kept",
          "collapse_patience": "Zero/NaN losses before failing",
          "max_nonfinite_steps": "NaN gradient steps tolerated",
          "processes": "Training processes (one per CPU core or GPU)",
          "accelerate_config": "Accelerate config (CUDA: DDP or FSDP)"}
PRESETS = {p.stem: p for p in sorted((REPO_ROOT / "configs").glob("*.yaml"))}
PRESET_NAMES = {"lora": "LoRA (laptop CPU)", "qlora": "QLoRA (4-bit, CUDA GPU)",
                "full": "Full fine-tuning"}
path = _ui.sidebar()
st.title("Train")


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def widget_value(value):
    return ",".join(value) if isinstance(value, (tuple, list)) else value


def apply_preset() -> None:
    """The preset's values into the form (a callback: runs before the form is drawn)."""
    config = load_preset(PRESETS[st.session_state["preset"]])
    for item in fields(TrainConfig):
        st.session_state[f"cfg_{item.name}"] = widget_value(getattr(config, item.name))


def field_widget(item, column):
    """One widget per config field, typed from its default; the label in words, the help
    text and the config field's name in the tooltip."""
    key = f"cfg_{item.name}"
    st.session_state.setdefault(key, widget_value(item.default))
    helptext = f"{item.metadata['help']}\n\nConfig field: `{item.name}`"
    if item.name in CHOICES:
        return column.selectbox(label(item.name), CHOICES[item.name], help=helptext, key=key)
    if isinstance(item.default, bool):
        return column.checkbox(label(item.name), help=helptext, key=key)
    if isinstance(item.default, int):
        return column.number_input(label(item.name), step=1, help=helptext, key=key)
    if isinstance(item.default, float):
        return column.number_input(label(item.name), format="%g", help=helptext, key=key)
    return column.text_input(label(item.name), help=helptext, key=key)


with _ui.workspace() as ws:
    dataset_id = ws.current_dataset()
    split_vid, counts = split_version(ws, dataset_id)
    frozen = list_versions(ws)
data_choices = {"": (f"Current split of dataset {dataset_id}: version "
                     f"{(split_vid or '–')[:12]} · "
                     + (" · ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no split yet"))}
data_choices |= {row.id: f"Frozen version {row.id[:12]} · dataset {row.dataset_id} · "
                         f"{row.n_rows} rows" + (f" · {row.note}" if row.note else "")
                 for row in frozen.itertuples() if row.id != split_vid}
with st.expander("New training run", expanded=False):
    chosen_data = st.selectbox("Data to train on", list(data_choices),
                               format_func=data_choices.get, key="train_data",
                               help="The current split is recorded as a version when the run "
                                    "starts; a frozen version trains on its own train rows.")
    st.caption(f"This run will train on version "
               f"`{(chosen_data or split_vid or '–')[:12]}` (its train rows; validation loss "
               "on its validation rows).")
    st.selectbox("Preset", list(PRESETS), format_func=lambda p: f"{PRESET_NAMES.get(p, p)}",
                 index=None, placeholder="Choose a preset to fill the form (configs/*.yaml)",
                 key="preset", on_change=apply_preset,
                 help="Commented YAML presets in configs/: " + ", ".join(
                     f"{name}.yaml" for name in PRESETS))
    with st.form("train_form"):
        columns = st.columns(4)
        values = {item.name: field_widget(item, columns[k % 4])
                  for k, item in enumerate(fields(TrainConfig))}
        if st.form_submit_button("Start training", key="start_training"):
            try:
                job = train_runs.start_in_background(path, TrainConfig.from_dict(values),
                                                     version_id=chosen_data or None)
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


def runs_view(runs: list[dict]) -> None:
    """The runs table and the chosen run's status, curves and log from one snapshot per run,
    so the table and the status line always agree."""
    snaps = {r["id"]: train_runs.snapshot(r) for r in runs}
    st.dataframe(pd.DataFrame([{
        "run": r["id"], "state": snaps[r["id"]]["state"],
        "method": r["config"].get("train", {}).get("method", "lora"),
        "steps": snaps[r["id"]]["steps"], "final loss": snaps[r["id"]]["loss"],
        "best val loss": snaps[r["id"]]["val"], "started": r["created_at"]} for r in runs]),
        hide_index=True, width="stretch", key="runs_table",
        column_config={"final loss": st.column_config.NumberColumn(format="%.3f"),
                       "best val loss": st.column_config.NumberColumn(format="%.3f")})
    run = next(r for r in runs if r["id"] == st.session_state.get("show_run", runs[0]["id"]))
    snap = snaps[run["id"]]
    total = snap["total"] or 1
    st.progress(min((snap["steps"] or 0) / total, 1.0) if snap["state"] != "succeeded"
                else 1.0, text=f"{run['id']} · {train_runs.status_line(snap)}")
    if snap["error"]:
        st.error(snap["error"])
    chart(pd.DataFrame(snap["log"]))
    with st.expander("Log"):
        st.code(jobs.log_tail(Path(run["dir"])) or "(no log yet)", language=None)
    c1, c2 = st.columns(2)
    if snap["state"] in ("queued", "running") and c1.button("Cancel", key="cancel_run"):
        jobs.cancel(Path(run["dir"]))
    if snap["state"] in ("failed", "cancelled") and c2.button("Resume", key="resume_run"):
        train_runs.start_in_background(path, resume_run=run["id"])
        st.success("Resuming from the last checkpoint")


def chart(log: pd.DataFrame, column: str = "run") -> None:
    """Training and validation loss against the step; a series with no value is left out."""
    names = {"loss": "training loss", "val_loss": "validation loss"}
    shown = [c for c in names if c in log and log[c].notna().any()]
    if log.empty or not shown:
        return
    st.line_chart(log.set_index("step")[shown].rename(columns=names), x_label="step",
                  y_label="loss (nats/token)")


with _ui.workspace() as ws:
    runs = store.train_runs(ws)
if not runs:
    st.info("No training runs yet. Start one above (the workspace needs a train split).")
    st.stop()

st.subheader("Runs")
by_id = {r["id"]: r for r in runs}
st.selectbox("Show run", list(by_id), key="show_run")
active = any(r["state"] not in jobs.FINAL for r in runs)
st.fragment(runs_view, run_every=2 if active else None)(runs)

finished = [r for r in runs if r["state"] == "succeeded" and (r["summary"] or {}).get("adapter")]
if finished:
    st.subheader("Exports")
    st.caption("The adapter folder with its lineage.json, zipped. Merged model, Ollama "
               "Modelfile and GGUF (F32, F16, Q8_0, Q4_K_M, verified in llama.cpp): "
               "`workbench export-model --run-id RUN`, or the button below; serve one with "
               "`workbench serve --run RUN --quant q4_k_m`.")
    for number, run in enumerate(finished):
        adapter = Path(run["summary"]["adapter"])
        if adapter.is_dir():
            st.download_button(f"Download {run['id']} adapter (zip)",
                               lambda a=adapter: adapter_zip(a), file_name=f"{run['id']}.zip",
                               mime="application/zip", key=f"export_run_{number}")
    export_pick = st.selectbox("Export of run", [r["id"] for r in finished], key="export_pick")
    export_dir = Path(by_id[export_pick]["dir"])
    if st.button("Export GGUF (F32, F16, Q8_0, Q4_K_M) and verify in llama.cpp",
                 key="export_gguf"):
        with st.spinner("Merging, writing GGUFs, verifying and measuring in llama.cpp…"):
            try:
                export_run(_ui.workspace_path(), export_pick, overwrite=True)
            except WorkbenchError as exc:
                st.error(str(exc))
    exported = latest_export(export_dir)
    if exported is None:
        st.caption(f"{export_pick} is not exported yet.")
    elif "rows" in (exported.get("llama_cpp") or {}):
        table = pd.DataFrame([{
            "type": r["type"], "file": r["file"], "size (MB)": r["size_mb"],
            "held-out perplexity": r["perplexity"], "tokens/s": r["tokens_per_s"],
            "greedy tokens identical": f"{r['identical_tokens']}/{r['compared']}",
            "stopped at <|im_end|>": f"{r['stopped']}/{r['prompts']}"}
            for r in exported["llama_cpp"]["rows"]])
        st.dataframe(table, hide_index=True, key="export_table")
        st.caption(f"Measured in llama.cpp on this CPU ({exported['llama_cpp']['threads']} "
                   "threads); greedy tokens compared with transformers on the merged model. "
                   f"Files in {export_dir / 'export'}.")
    else:
        st.caption("GGUF checked in transformers only: "
                   f"{(exported.get('llama_cpp') or {}).get('skipped', 'no GGUF written')}.")

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
        st.line_chart(curves.pivot_table(index="step", columns="run", values="loss"),
                      x_label="step", y_label="training loss (nats/token)")

# -- preference runs (DPO, ORPO: started with `workbench train-preferences`) ----------------
with _ui.workspace() as ws:
    pref_runs = {r["id"]: r for r in pref_store.all_preference_runs(ws)}
if pref_runs:
    st.subheader("Preference runs (DPO, ORPO)")
    pref_pick = st.selectbox("Show preference run", list(pref_runs), key="show_pref_run")

    @st.fragment(run_every=2)
    def preference_live(run: dict) -> None:
        """Progress, loss, reward margin and reward accuracy per step, refreshed."""
        job_dir = Path(run["dir"])
        state, progress = train_runs.live_state(run), jobs.progress(job_dir)
        st.caption(f"{run['kind']} · {state['state']} · {progress.get('message', '')}")
        log = pd.DataFrame(pref_stage.live_log(job_dir))
        if not log.empty:
            st.line_chart(log.set_index("step")[["loss", "reward_margin", "reward_accuracy"]])
        if state["state"] in ("queued", "running") and st.button("Cancel", key="cancel_pref"):
            jobs.cancel(job_dir)  # resume: `workbench train-preferences-resume RUN_ID`

    preference_live(pref_runs[pref_pick])
