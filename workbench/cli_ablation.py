"""Data commands: the coverage map of the current dataset, and the ablation that trains the
same recipe on several versions for the same token budget and compares them.

Run as: workbench coverage -w ws/ --seed 0
        workbench ablate -w ws/ --version all --version random:20 --budget-tokens 200000
"""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from workbench.cli_training import _config_parameters, config_from_flags
from workbench.cliapp import Workspace, command


@command
def coverage(workspace: str = Workspace,
             seed: int = typer.Option(0, help="UMAP random_state: same seed, same map."),
             min_cluster_size: int = typer.Option(0, help="HDBSCAN's smallest cluster "
                                                          "(0 = max(3, sqrt(rows) / 2))."),
             threshold: float = typer.Option(0.5, help="Held-out rows whose nearest training "
                                                       "cosine is below this are uncovered."),
             points: bool = typer.Option(False, help="Also print every point.")) -> dict:
    """Coverage map: embeddings (computed where missing) in 2-D, clusters and their labels."""
    from curation.coverage import CoverageConfig
    from workbench.stages.coverage import coverage_map
    from workbench.stages.pipeline import log_progress

    result = coverage_map(Path(workspace), CoverageConfig(
        seed=seed, min_cluster_size=min_cluster_size, coverage_threshold=threshold),
        on_progress=log_progress("coverage"))
    out = {**result["summary"], "cached": result["cached"],
           "labels": {str(c): words for c, words in result["labels"].items()},
           "uncovered_rows": [p["example_id"] for p in result["points"]
                              if p["uncovered"] and p["split"] in ("validation", "test")]}
    if points:
        out["points"] = [{k: p[k] for k in ("example_id", "x", "y", "cluster", "split",
                                            "nearest_train")} for p in result["points"]]
    return out


def ablate(workspace: str, version: list[str], budget_tokens: int, steps: int,
           random_seed: int, eval_size: int, max_new_tokens: int, extractor: str,
           rater: list[str], preset: str | None, **flags) -> dict:
    """Train the same recipe on each version (same token budget or steps), evaluate all on
    the same held-out rows, and print each arm minus the first with paired bootstrap
    intervals."""
    from workbench.stages.ablation import ablate as run
    from workbench.stages.pipeline import log_progress

    return run(Path(workspace), version, config_from_flags(preset, flags),
               budget_tokens=budget_tokens, steps=steps, seed=random_seed, eval_size=eval_size,
               max_new_tokens=max_new_tokens, extractor=extractor,
               on_progress=log_progress("ablate"), raters=rater)


def _option(name: str, annotation, default) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=default)


ablate.__signature__ = inspect.Signature([
    _option("workspace", str, Workspace),
    _option("version", list[str], typer.Option(
        ..., "--version", help="An arm: a version id, 'all' (everything kept) or 'random:P' "
                               "(a seeded random P% of its training rows). Repeat; the first "
                               "is the baseline.")),
    _option("budget_tokens", int, typer.Option(0, help="Non-padding training tokens per run "
                                                       "(each run stops at the first step "
                                                       "that reaches it).")),
    _option("steps", int, typer.Option(0, help="Optimizer steps per run (instead of a "
                                               "token budget).")),
    _option("random_seed", int, typer.Option(0, help="Seed of the random:P arms' sample.")),
    _option("eval_size", int, typer.Option(50, help="First N common test rows answered.")),
    _option("max_new_tokens", int, typer.Option(128, help="Generation length limit.")),
    _option("extractor", str, typer.Option("auto", help="Answer extractor for answer "
                                                        "accuracy: auto, none, gsm8k, ...")),
    _option("rater", list[str], typer.Option(
        [], "--rater", help="Open a blind rating session over the arms' answers with this "
                            "rater (repeat); prints the invite tokens once.")),
    _option("preset", str | None, typer.Option(None, help="YAML preset (configs/*.yaml).")),
    *[p for p in _config_parameters() if p.name != "max_steps"]])
command(ablate)
