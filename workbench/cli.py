"""The ``workbench`` command: the same stages as the app, headless.

Run as: workbench pipeline --input data.jsonl --workspace ws/
Every command prints one JSON object on stdout; progress goes to stderr. A domain error
(missing file, unknown format, busy workspace, stage not possible) is one line on stderr and
exit code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import typer

from training.config import MAX_SEQ_LEN
from workbench.cliapp import Workspace, app, command
from workbench.cli_engine import Engine, RayAddress, RayCpus, ray_options
from workbench.cli_evaluation import PROMPTED


@command
def pipeline(input: str = typer.Option(..., help="Dataset file (JSON or JSONL)."),
             workspace: str = Workspace,
             format: str = typer.Option("auto", help="auto|alpaca|dolly|sharegpt|openai|"
                                                     "prompt_completion"),
             max_train_steps: int = typer.Option(30, help="LoRA optimizer steps."),
             eval_size: int = typer.Option(50, help="First N test rows to generate for."),
             max_new_tokens: int = typer.Option(256, help="Generation length limit."),
             seed: int = typer.Option(0, help="Split and training seed."),
             redact: bool = typer.Option(False, help="Train on PII-redacted text."),
             prompted: list[str] = PROMPTED, engine: str = Engine,
             ray_address: str = RayAddress, ray_cpus: int = RayCpus) -> dict:
    """Run every stage from raw file to metrics; prints the summary."""
    from workbench.stages.pipeline import PipelineOptions
    from workbench.stages.pipeline import pipeline as run
    from workbench.stages.prompted import from_cli

    return run(PipelineOptions(input=input, workspace=workspace, format=format,
                               max_train_steps=max_train_steps, eval_size=eval_size,
                               max_new_tokens=max_new_tokens, seed=seed, redact=redact,
                               prompted=from_cli(prompted) or None, engine=engine,
                               ray_address=ray_address,
                               ray_cpus=ray_cpus))


COLUMNS = typer.Option([], "--column", help="Rename a column before reading: OLD=NEW.")
ROUGE_TOKENIZER = typer.Option("unicode", help="ROUGE tokens: unicode (letters/digits, one per "
                                               "Han/kana character), whitespace or char.")
ROLES = typer.Option([], "--role", help="Rename a role before reading: OLD=NEW.")


@command
def ingest(input: str = typer.Option(..., help="Dataset file or saved HF dataset folder."),
           workspace: str = Workspace,
           format: str = typer.Option("auto", help="auto|alpaca|dolly|sharegpt|openai|"
                                                   "prompt_completion|oasst"),
           column: list[str] = COLUMNS, role: list[str] = ROLES) -> dict:
    """Read a dataset file into the workspace (rows in = examples + rejects)."""
    from workbench.stages.curation import ingest as run

    return run(Path(workspace), input, format, column, role)


@command
def validate(workspace: str = Workspace, max_seq_len: int = typer.Option(
        MAX_SEQ_LEN, help="Tokens per conversation: training's default."),
        engine: str = Engine, ray_address: str = RayAddress, ray_cpus: int = RayCpus) -> dict:
    """Schema and token-length findings."""
    from workbench.stages.curation import validate as run
    from workbench.stages.pipeline import log_progress

    return run(Path(workspace), max_seq_len, engine=engine,
               ray=ray_options(engine, ray_address, ray_cpus),
               on_progress=log_progress("validate"))


@command
def pii(workspace: str = Workspace, redact: bool = typer.Option(False),
        engine: str = Engine, ray_address: str = RayAddress, ray_cpus: int = RayCpus) -> dict:
    """Presidio PII scan (and optional redaction)."""
    from workbench.stages.curation import pii as run
    from workbench.stages.pipeline import log_progress

    return run(Path(workspace), redact, engine=engine,
               ray=ray_options(engine, ray_address, ray_cpus), on_progress=log_progress("pii"))


@command
def train(workspace: str = Workspace, max_steps: int = typer.Option(30),
          seed: int = typer.Option(0)) -> dict:
    """LoRA fine-tune on the train split (background job; waits for it)."""
    from workbench.stages.pipeline import log_progress
    from workbench.stages.training import train as run

    return run(Path(workspace), max_steps, seed, on_progress=log_progress("train"))
def split(workspace: str = Workspace, seed: int = typer.Option(0)) -> dict:
    """Train/validation/test split (0.8/0.1/0.1)."""
    from workbench.stages.curation import split as run

    return run(Path(workspace), seed)


@command
def generate(workspace: str = Workspace, eval_size: int = typer.Option(50),
             max_new_tokens: int = typer.Option(256), prompted: list[str] = PROMPTED,
             seed: int = typer.Option(0, help="Seed of drawn fixed shots.")) -> dict:
    """Base, tuned and prompted generations on the test split (background job)."""
    from workbench.stages.evaluation import generate as run
    from workbench.stages.pipeline import log_progress
    from workbench.stages.prompted import from_cli

    return run(Path(workspace), eval_size, max_new_tokens, on_progress=log_progress("generate"),
               prompted=from_cli(prompted) or None, seed=seed)


@command
def score(workspace: str = Workspace, rouge_tokenizer: str = ROUGE_TOKENIZER) -> dict:
    """ROUGE of base and tuned; creates the blind rating items."""
    from workbench.stages.evaluation import score as run

    return run(Path(workspace), rouge_tokenizer=rouge_tokenizer)


@command
def report(workspace: str = Workspace, rouge_tokenizer: str = typer.Option(
        None, help="Re-score ROUGE with these tokens first when the latest score used others: "
                   "unicode, whitespace, char.")) -> dict:
    """Counts per stage, metrics, win rate, cost per request and break-even, lineage."""
    from workbench.stages.report import gather

    return gather(Path(workspace), rouge_tokenizer=rouge_tokenizer)


@command
def demo(workspace: str = typer.Option("workspaces/demo", help="Where to build it."),
         force: bool = typer.Option(False, help="Rebuild even if present.")) -> dict:
    """Build the demo workspace from the bundled demo dataset (skipped when present)."""
    from workbench.demo import build_demo

    return build_demo(Path(workspace), force)


@command
def prepare_model(base_model: str = typer.Option("embedded", help="'embedded' or a folder.")) -> dict:
    """Convert the packaged GGUF once into the safetensors cache (later loads take ~1 s)."""
    import time

    from training.model import ensure_base_model

    start = time.perf_counter()
    path = ensure_base_model(base_model)
    return {"model_dir": str(path), "seconds": round(time.perf_counter() - start, 2)}


@app.command(hidden=True)
def job(job_dir: Path) -> None:
    """Run a job folder (used by the job runner; not for people)."""
    from workbench.jobs.runner import run
    from workbench.netguard import maybe_block_network
    from workbench.stages.background import REGISTRY

    maybe_block_network()
    raise typer.Exit(run(job_dir, REGISTRY))


# Each area keeps its commands in its own module (workbench/cli_<area>.py, importing ``app``
# and ``command`` from workbench.cliapp); importing the module here registers them.
# from workbench import cli_<area>  # noqa: E402,F401
from workbench import (  # noqa: E402,F401
    cli_ablation,
    cli_curation_dedup,
    cli_curation_io,
    cli_evaluation,
    cli_judge,
    cli_preferences,
    cli_privacy,
    cli_quality,
    cli_sessions,
    cli_training,
)


def main() -> None:
    app()
