"""Training commands: train (flags generated from ``TrainConfig``), resume, cancel, list,
compare, export, serve.

Run as: workbench train -w ws/ --preset configs/lora.yaml --lora-rank 8 --max-steps 20
        workbench train -w ws/ --from-lineage ws/artifacts/jobs/train-…/adapter/lineage.json
Each ``TrainConfig`` field is a flag (``lora_rank`` → ``--lora-rank``) whose help is the
field's help text; a flag left out keeps the preset's (or the default) value.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from pathlib import Path

import typer

from training.config import TrainConfig, diff, load_preset
from workbench.cliapp import Workspace, command

CONFIG_FIELDS = [item for item in fields(TrainConfig)]


def _flag_type(item) -> type:
    if item.name == "target_modules":
        return str  # comma-separated on the command line
    return {"int": int, "float": float, "bool": bool, "str": str}[str(item.type)]


def _config_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per config field, default None = "not given"."""
    params = []
    for item in CONFIG_FIELDS:
        default = item.default if item.default is not MISSING else None
        option = typer.Option(None, help=f"{item.metadata['help']} [default: {default}]",
                              show_default=False)
        params.append(inspect.Parameter(item.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=option, annotation=_flag_type(item) | None))
    return params


def config_from_flags(preset: str | None, flags: dict) -> TrainConfig:
    """The run's config: preset (or defaults) with every given flag on top, validated."""
    given = {name: value for name, value in flags.items() if value is not None}
    if preset:
        return load_preset(Path(preset), given)
    return TrainConfig.from_dict(given).validate()


def train(workspace: str, preset: str | None, from_lineage: str | None, **flags) -> dict:
    """Fine-tune on the train split as a background job (waits; Ctrl-C cancels it)."""
    from workbench.stages import training as train_runs
    from workbench.stages.pipeline import log_progress

    progress = log_progress("train")
    if from_lineage:
        return train_runs.from_lineage(Path(workspace), Path(from_lineage), progress)
    return train_runs.train(Path(workspace), config=config_from_flags(preset, flags),
                            on_progress=progress)


train.__signature__ = inspect.Signature([
    inspect.Parameter("workspace", inspect.Parameter.KEYWORD_ONLY, default=Workspace,
                      annotation=str),
    inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                      default=typer.Option(None, help="YAML preset (configs/*.yaml).")),
    inspect.Parameter("from_lineage", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                      default=typer.Option(None, help="Re-run the training a lineage.json "
                                                      "describes (same data version, split, "
                                                      "base model, config, seed).")),
    *_config_parameters()])
command(train)


@command
def train_resume(run_id: str = typer.Argument(..., help="A failed or cancelled train run."),
                 workspace: str = Workspace) -> dict:
    """Resume a cancelled or killed training run from its newest checkpoint."""
    from workbench.stages import training as train_runs
    from workbench.stages.pipeline import log_progress

    return train_runs.resume(Path(workspace), run_id, log_progress("train"))


@command
def train_cancel(run_id: str = typer.Argument(...), workspace: str = Workspace) -> dict:
    """Cancel a running training run (it saves a checkpoint and ends cancelled)."""
    from workbench.jobs import runner as jobs
    from common.errors import StageError
    from workbench.store import open_workspace
    from workbench.store import training as store

    with open_workspace(workspace, create=False) as ws:
        run = store.train_run(ws, run_id)
    if run is None:
        raise StageError(f"no train run {run_id!r} in this workspace")
    jobs.cancel(Path(run["dir"]))
    return {"run_id": run_id, "cancel_sent": True}


@command
def train_runs(workspace: str = Workspace) -> dict:
    """List training runs: state (from the job folder), method, steps, losses."""
    from workbench.stages import training as train_runs_module
    from workbench.store import open_workspace
    from workbench.store import training as store

    with open_workspace(workspace, create=False) as ws:
        runs = store.train_runs(ws)
    return {"runs": [{"run_id": r["id"], "state": train_runs_module.live_state(r)["state"],
                      "method": r["config"].get("train", {}).get("method", "lora"),
                      **{k: (r["summary"] or {}).get(k) for k in
                         ("steps", "final_loss", "best_val_loss", "error")}} for r in runs]}


@command
def train_compare(run_a: str = typer.Argument(...), run_b: str = typer.Argument(...),
                  workspace: str = Workspace) -> dict:
    """Config diff and final losses of two training runs."""
    from common.errors import StageError
    from workbench.store import open_workspace
    from workbench.store import training as store

    with open_workspace(workspace, create=False) as ws:
        runs = [store.train_run(ws, run_id) for run_id in (run_a, run_b)]
    missing = [run_id for run_id, run in zip((run_a, run_b), runs, strict=True) if run is None]
    if missing:
        raise StageError(f"unknown train run: {missing[0]}")
    configs = [r["config"].get("train", {}) for r in runs]
    return {"config_diff": {k: list(v) for k, v in diff(*configs).items()},
            "final_loss": [(r["summary"] or {}).get("final_loss") for r in runs],
            "best_val_loss": [(r["summary"] or {}).get("best_val_loss") for r in runs]}


@command
def export_model(workspace: str = Workspace,
           run_id: str = typer.Option(None, help="Train run (default: the latest succeeded)."),
           gguf: bool = typer.Option(True, help="Also write model.gguf (F32) and verify it."),
           overwrite: bool = typer.Option(False, help="Replace the run's earlier export."),
           llama: bool = typer.Option(True, help="Verify in llama.cpp and write F16 and "
                                      "quantized GGUFs (needs `make llama`)."),
           quant: list[str] = typer.Option(["q8_0", "q4_k_m"], help="llama.cpp quantizations "
                                           "to write and measure (q8_0, q4_k_m)."),
           ) -> dict:
    """Merged model folder, Ollama Modelfile and a GGUF verified in transformers and in
    llama.cpp, with F16/Q8_0/Q4_K_M files and their verification table."""
    from workbench.train_exports import export_run

    return export_run(Path(workspace), run_id, gguf=gguf, overwrite=overwrite, llama=llama,
                      quants=tuple(q.lower() for q in quant))


@command
def serve(workspace: str = Workspace,
          run: str = typer.Option(..., "--run", help="Train run id, or 'base' for the "
                                  "embedded base model."),
          quant: str = typer.Option(None, help="GGUF of the export to serve: f32, f16, q8_0 "
                                    "or q4_k_m (default f16, else f32)."),
          port: int = typer.Option(8080, help="Port on 127.0.0.1."),
          system: str = typer.Option(None, help="System prompt added to requests that have "
                                     "none (a prompted system)."),
          ) -> dict:
    """Serve a run's GGUF in llama.cpp as an OpenAI-compatible /v1/chat/completions on
    127.0.0.1 (Ctrl-C stops it)."""
    from workbench.serve import make_server

    server, sock, info = make_server(Path(workspace), run, quant, port, system)
    typer.echo(f"serving {info['model']} ({info['gguf']}) at {info['url']}", err=True)
    server.run(sockets=[sock])
    return {**info, "stopped": True}
