"""Evaluation commands: compare systems on the held-out split, export the report and the
ratings, and ask base and tuned one question.

Run as: workbench evaluate -w ws/ --tuned-run train-A --tuned-run train-B --sample --seed 1
"""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cliapp import Workspace, command

OVERWRITE = typer.Option(False, help="Replace an existing file (the file must lie in the "
                                    "current folder, the workspace or $WORKBENCH_DATA_DIRS).")
PROMPTED = typer.Option([], "--prompted", help="A prompted system (repeat for several): "
                       "NAME=FILE[,k=K][,shots=fixed|retrieved][,ids=ID+ID][,base=MODEL]; FILE "
                       "holds its system prompt (UTF-8); k few-shot examples from the train "
                       "split, fixed (drawn with --seed, or the ids given) or retrieved per "
                       "prompt (nearest by embeddings).")
TUNED_RUN = typer.Option(None, help="Train run id to compare (repeat for several; default: "
                                    "the latest).")


def _sampling(sample: bool, seed: int, temperature: float, top_p: float) -> dict | None:
    return {"seed": seed, "temperature": temperature, "top_p": top_p} if sample else None


@command
def evaluate(workspace: str = Workspace,
             eval_size: int = typer.Option(50, help="First N test rows."),
             max_new_tokens: int = typer.Option(256, help="Generation length limit."),
             batch_size: int = typer.Option(32, help="Prompts per left-padded batch."),
             tuned_run: list[str] = TUNED_RUN,
             sample: bool = typer.Option(False, help="Sample instead of greedy decoding."),
             seed: int = typer.Option(0, help="Sampling seed (the same for every system)."),
             temperature: float = typer.Option(0.7, help="Sampling temperature."),
             top_p: float = typer.Option(0.9, help="Nucleus sampling mass."),
             extractor: str = typer.Option("auto", help="Answer extractor for answer accuracy: "
                                           "auto (gsm8k when every reference ends with "
                                           "'#### <number>'), none, gsm8k, last_number, "
                                           "choice."),
             rouge_tokenizer: str = typer.Option("unicode", help="ROUGE tokens: unicode, "
                                                 "whitespace or char."),
             prompted: list[str] = PROMPTED) -> dict:
    """Generate with base, tuned run(s) and prompted systems on the same prompts, then score
    every metric."""
    from workbench.stages.evaluation import generate, score
    from workbench.stages.pipeline import log_progress
    from workbench.stages.prompted import from_cli

    generated = generate(Path(workspace), eval_size, max_new_tokens,
                         on_progress=log_progress("generate"),
                         sampling=_sampling(sample, seed, temperature, top_p),
                         tuned_runs=tuned_run or None, batch_size=batch_size,
                         prompted=from_cli(prompted) or None, seed=seed)
    return {"generate": generated, "score": score(Path(workspace), extractor, rouge_tokenizer)}


@command
def export_report(workspace: str = Workspace,
                  out: str = typer.Option("report.html", help="HTML file to write."),
                  meta_key: str = typer.Option(None, help="Meta column for the breakdown "
                                               "(e.g. category)."),
                  overwrite: bool = OVERWRITE) -> dict:
    """Write the report as one self-contained HTML file (plots inline, no network)."""
    from evaluation.report import render_html
    from workbench.paths import write_file, write_roots, write_target
    from workbench.stages.report import gather as report

    roots = write_roots(Path(workspace), cwd=True)
    write_target(out, roots, overwrite)  # refuse before the report is built
    path = write_file(out, roots, render_html(report(Path(workspace), meta_key)), overwrite)
    return {"report": str(path), "bytes": path.stat().st_size}


@command
def export_ratings(workspace: str = Workspace,
                   out: str = typer.Option("ratings.csv", help="CSV file to write."),
                   overwrite: bool = OVERWRITE) -> dict:
    """Write every rating of the rating sessions over the latest generate run as CSV, one row
    per rating, de-randomized (session, rater, item, position, sides, choice, label, time);
    text cells that start like a formula get a leading ``'`` (``common.csvsafe``)."""
    from common.csvsafe import csv_text
    from workbench.paths import write_file, write_roots
    from workbench.store import open_workspace
    from workbench.store.sessions import ratings_export

    with open_workspace(Path(workspace), create=False) as ws:
        frame = ratings_export(ws, ws.require_run("generate")["id"])
    path = write_file(out, write_roots(Path(workspace), cwd=True), csv_text(frame), overwrite)
    return {"ratings": len(frame), "csv": str(path)}


@command
def ask(workspace: str = Workspace, prompt: str = typer.Option(..., help="The question."),
        max_new_tokens: int = typer.Option(128), sample: bool = typer.Option(False),
        seed: int = typer.Option(0), temperature: float = typer.Option(0.7),
        top_p: float = typer.Option(0.9)) -> dict:
    """One prompt to base and tuned side by side, with the same decoding."""
    from workbench.playground import answer

    return answer(Path(workspace), [{"role": "user", "content": prompt}], max_new_tokens,
                  _sampling(sample, seed, temperature, top_p))
