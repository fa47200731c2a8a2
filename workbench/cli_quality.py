"""Quality commands: signals per kept row, and the quality-and-diversity selection.

Run as: workbench quality -w ws/ && workbench select -w ws/ --formula ifd --percent 20
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer

from curation.quality import QualityConfig
from workbench.cli_engine import Engine, RayAddress, RayCpus, ray_options
from workbench.cliapp import Workspace, command

HELP = {f.name: f.metadata["help"] for f in fields(QualityConfig)}
DEFAULTS = QualityConfig()


@command
def quality(workspace: str = Workspace,
            model: bool = typer.Option(DEFAULTS.model, help=HELP["model"]),
            base_model: str = typer.Option(DEFAULTS.base_model, help=HELP["base_model"]),
            max_seq_len: int = typer.Option(DEFAULTS.max_seq_len, help=HELP["max_seq_len"]),
            max_batch_tokens: int = typer.Option(DEFAULTS.max_batch_tokens,
                                                 help=HELP["max_batch_tokens"]),
            ngram: int = typer.Option(DEFAULTS.ngram, help=HELP["ngram"]),
            engine: str = Engine, ray_address: str = RayAddress, ray_cpus: int = RayCpus) -> dict:
    """Compute the quality signals of every kept row (heuristics, flags, perplexities, IFD)."""
    from workbench.stages.pipeline import log_progress
    from workbench.stages.quality import quality as run

    config = QualityConfig(model=model, base_model=base_model, max_seq_len=max_seq_len,
                           max_batch_tokens=max_batch_tokens, ngram=ngram)
    return run(Path(workspace), config, on_progress=log_progress("quality"), engine=engine,
               ray=ray_options(engine, ray_address, ray_cpus))


@command
def select(workspace: str = Workspace,
           formula: str = typer.Option("ifd", help="Combined score: ifd (rows with IFD < 1), "
                                       "a signal (NAME, or -NAME for low first), or a "
                                       "weighted sum of z-scores NAME=W,NAME=W."),
           n: int = typer.Option(None, "--n", help="Rows to keep."),
           percent: float = typer.Option(None, help="Or: percent of the kept train rows."),
           threshold: float = typer.Option(0.9, help="Diversity guard: skip a row whose "
                                           "cosine to a kept row is above this (Deita: 0.9)."),
           no_guard: bool = typer.Option(False, "--no-guard", help="No diversity guard."),
           per_meta: str = typer.Option(None, help="Meta field: select per value, in "
                                        "proportion to its rows."),
           note: str = typer.Option("", help="What this version is for.")) -> dict:
    """Keep the best N (or p%) train rows by the combined score as a new version."""
    from workbench.stages.quality import select as run

    return run(Path(workspace), formula, n, percent, None if no_guard else threshold,
               per_meta, note=note)
