"""Preference commands: export rated pairs, train DPO / ORPO on them, re-check the result.

Run as: workbench preferences -w ws/ --session 1 --min-agreement 2 --format trl --out p.jsonl
        workbench train-preferences -w ws/ --session 1 --method dpo --max-steps 20
        workbench recheck -w ws/ --run dpo-20260101-120000-ab12
``train-preferences`` takes every ``TrainConfig`` field as a flag, like ``workbench train``
(``beta``, ``start_from``, ``lora_rank`` ...); the method defaults to dpo.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from workbench.cli_training import _config_parameters, config_from_flags
from workbench.cliapp import Workspace, command


@command
def preferences(workspace: str = Workspace,
                session: list[int] = typer.Option(..., help="Rating session id (repeat the "
                                                  "flag for several sessions)."),
                min_agreement: int = typer.Option(1, help="Keep items where at least this "
                                                  "many of their raters chose the winner."),
                fmt: str = typer.Option("trl", "--format", help="trl (prompt/chosen/rejected "
                                        "JSON lines), openai (preference fine-tuning JSONL, "
                                        "provenance in <name>.provenance.jsonl beside it) or "
                                        "parquet."),
                out: str = typer.Option(..., help="File to write (in the current folder, the "
                                        "workspace or $WORKBENCH_DATA_DIRS)."),
                overwrite: bool = typer.Option(False, help="Replace an existing file.")) -> dict:
    """Chosen/rejected pairs from blind rating sessions (ties and both-bad left out, counted)."""
    from workbench.stages.preferences import export

    return export(Path(workspace), list(session), fmt, out, min_agreement, overwrite)


def train_preferences(workspace: str, preset: str | None, session: list[int] | None,
                      preferences_file: str | None, min_agreement: int,
                      accept_answer_pii: bool, **flags) -> dict:
    """DPO or ORPO (LoRA) on rated pairs of sessions or an export file, as a background job."""
    from workbench.stages import preferences as stage
    from workbench.stages.pipeline import log_progress

    if flags.get("method") is None and not preset:
        flags["method"] = "dpo"
    config = config_from_flags(preset, flags)
    return stage.train(Path(workspace), config, session_ids=list(session or []) or None,
                       preferences=preferences_file, min_agreement=min_agreement,
                       on_progress=log_progress(config.method),
                       accept_answer_pii=accept_answer_pii)


train_preferences.__signature__ = inspect.Signature([
    inspect.Parameter("workspace", inspect.Parameter.KEYWORD_ONLY, default=Workspace,
                      annotation=str),
    inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                      default=typer.Option(None, help="YAML preset (configs/dpo.yaml).")),
    inspect.Parameter("session", inspect.Parameter.KEYWORD_ONLY, annotation=list[int] | None,
                      default=typer.Option(None, help="Rating session id whose pairs to "
                                                      "train on (repeatable).")),
    inspect.Parameter("preferences_file", inspect.Parameter.KEYWORD_ONLY,
                      annotation=str | None,
                      default=typer.Option(None, "--preferences", help="A preference export "
                                           "(`workbench preferences`) instead of sessions.")),
    inspect.Parameter("min_agreement", inspect.Parameter.KEYWORD_ONLY, annotation=int,
                      default=typer.Option(1, help="With --session: keep items where at "
                                                   "least this many raters agreed.")),
    inspect.Parameter("accept_answer_pii", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, help="Train although the PII detector "
                                                       "found something in the answers "
                                                       "(recorded in the lineage).")),
    *_config_parameters()])
command(train_preferences)


@command
def train_preferences_resume(run_id: str = typer.Argument(..., help="A failed or cancelled "
                                                        "dpo / orpo run."),
                             workspace: str = Workspace) -> dict:
    """Resume a cancelled or killed preference run from its newest checkpoint."""
    from workbench.stages.pipeline import log_progress
    from workbench.stages.preferences import resume

    return resume(Path(workspace), run_id, log_progress("train-preferences"))


@command
def recheck(workspace: str = Workspace,
            run: str = typer.Option(..., help="A dpo or orpo run (see train-runs)."),
            raters: str = typer.Option(None, help="Rater names, comma-separated (default: "
                                                  "the raters of the run's first session)."),
            k: int = typer.Option(None, help="Raters per item (default: that session's)."),
            eval_size: int = typer.Option(None, help="Test prompts (default: as many as "
                                                     "that session's generate run)."),
            seed: int = typer.Option(None, help="Draw seed (default: random).")) -> dict:
    """Next blind session: the preference run against the model it started from; prints the
    invite tokens (shown only this once)."""
    from workbench.stages.pipeline import log_progress
    from workbench.stages.preferences import recheck as run_recheck

    names = [r.strip() for r in raters.split(",")] if raters else None
    return run_recheck(Path(workspace), run, names, k, eval_size, seed=seed,
                       on_progress=log_progress("recheck"))
