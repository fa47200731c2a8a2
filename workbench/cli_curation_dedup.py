"""CLI of deduplication, splits, the leakage report and dedup review decisions.

Run as: workbench dedup -w ws/ [--policy longest] [--scope conversation|prompt] ...
"""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cli_engine import Engine, RayAddress, RayCpus, ray_options
from workbench.cliapp import Workspace, command


@command
def dedup(workspace: str = Workspace,
          threshold: float = typer.Option(0.95, help="Semantic cosine threshold."),
          semantic: bool = typer.Option(True, help="Run the semantic level."),
          exact: bool = typer.Option(True, help="Run the exact level."),
          near: bool = typer.Option(True, help="Run the near (MinHash LSH) level."),
          near_threshold: float = typer.Option(0.8, help="Near level: estimated Jaccard."),
          ngram: int = typer.Option(3, help="Near level: words per shingle."),
          scope: str = typer.Option("conversation", help="conversation|prompt (every level)."),
          policy: str = typer.Option("longest", help="Representative: longest|first|"
                                                     "fewest_findings."),
          backend: str = typer.Option("openvino", help="Semantic encoder: openvino|onnx|"
                                                       "onnx_int8|bf16|fp32|int8 (see "
                                                       "curation.embed)."),
          engine: str = Engine, ray_address: str = RayAddress, ray_cpus: int = RayCpus) -> dict:
    """Exact, near and semantic duplicate clusters; review decisions are re-applied."""
    from curation.dedup import DedupConfig, DedupPlan, ExactConfig
    from curation.dedup.near import NearDedupConfig
    from common.errors import StageError
    from workbench.stages.curation import dedup as run

    try:
        plan = DedupPlan(exact=ExactConfig(enabled=exact, scope=scope),
                         near=NearDedupConfig(enabled=near, scope=scope, ngram=ngram,
                                              threshold=near_threshold),
                         semantic=DedupConfig(semantic=semantic, threshold=threshold,
                                              scope=scope, backend=backend), policy=policy)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    from workbench.stages.pipeline import log_progress

    return run(Path(workspace), plan=plan, engine=engine,
               ray=ray_options(engine, ray_address, ray_cpus), on_progress=log_progress("dedup"))


@command
def split(workspace: str = Workspace, seed: int = typer.Option(0),
          validation: float = typer.Option(0.1, help="Validation fraction."),
          test: float = typer.Option(0.1, help="Test fraction."),
          stratify_by: str = typer.Option(None, help="Meta column to stratify by."),
          include_duplicates: bool = typer.Option(False, help="Keep duplicates (in their "
                                                               "representative's split).")) -> dict:
    """Train/validation/test split in DuckDB: grouped by duplicate cluster, shuffle-proof."""
    from curation.split import SplitConfig
    from common.errors import StageError
    from workbench.stages.curation import split as run

    try:
        config = SplitConfig(seed, validation, test, stratify_by, include_duplicates)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    return run(Path(workspace), seed, config.ratios, stratify_by, include_duplicates)


@command
def leakage(workspace: str = Workspace) -> dict:
    """For every held-out example: nearest training example and its cosine."""
    from workbench.stages.curation import leakage as run

    return run(Path(workspace))


@command
def dedup_override(workspace: str = Workspace,
                   example: int = typer.Option(..., help="Example id."),
                   action: str = typer.Option(..., help="representative|not_duplicate"),
                   level: str = typer.Option("semantic", help="exact|near|semantic"),
                   who: str = typer.Option("cli", help="Who decides (recorded)."),
                   reason: str = typer.Option("", help="Why (recorded).")) -> dict:
    """Record a review decision on a duplicate cluster (re-applied after each dedup run)."""
    from workbench.store import dedup as store
    from workbench.store import open_workspace

    with open_workspace(Path(workspace), create=False) as ws:
        dataset_id = ws.current_dataset()
        decision = store.override(ws, dataset_id, level, action, example, who, reason)
        return {"decision_id": decision, "kept": store.kept_count(ws, dataset_id)}
