"""CLI of curation I/O: versions, diff, export with the OpenAI cost estimate, row decisions,
mixing and browsing. Each command prints one JSON object.

Run as: workbench export --workspace ws/ --format openai --out train.jsonl
"""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cliapp import Workspace, command
from common.errors import StageError

Dataset = typer.Option(None, "--dataset",
                       help="Dataset id (default: the current one: see `workbench use`).")
Sources = typer.Option(..., "--source", help="DATASET_ID:RATIO (0.3 or 30%) or "
                                             "DATASET_ID:COUNT; repeat per dataset.")


def _dataset(ws, dataset: int | None) -> int:
    return dataset if dataset is not None else ws.current_dataset()


@command
def datasets(workspace: str = Workspace) -> dict:
    """The workspace's datasets: id, name, format, rows in, examples."""
    from workbench.store import open_workspace
    from workbench.store.browse import datasets as frame

    with open_workspace(Path(workspace), create=False) as ws:
        return {"datasets": frame(ws).to_dict("records")}


@command
def use(dataset: int = typer.Argument(..., help="Dataset id (see `workbench datasets`)."),
        workspace: str = Workspace) -> dict:
    """Make DATASET the current dataset: the one the stages, the report and the app's pages
    work on (the app's sidebar picker sets the same)."""
    from workbench.store import open_workspace

    with open_workspace(Path(workspace), create=False) as ws:
        ws.set_current_dataset(dataset)
        return {"current_dataset": ws.current_dataset()}


@command
def version(workspace: str = Workspace, dataset: int = Dataset,
            note: str = typer.Option("", help="What this version is for.")) -> dict:
    """Freeze the dataset's curated rows as an immutable version (id = content hash)."""
    from workbench.store import open_workspace
    from workbench.store.versions import create_version

    with open_workspace(Path(workspace), create=False) as ws:
        return create_version(ws, _dataset(ws, dataset), note)


@command
def versions(workspace: str = Workspace) -> dict:
    """List the stored versions, newest first."""
    from workbench.store import open_workspace
    from workbench.store.versions import list_versions

    with open_workspace(Path(workspace), create=False) as ws:
        return {"versions": list_versions(ws).to_dict("records")}


@command
def diff(old: str = typer.Argument(..., help="Older version id."),
         new: str = typer.Argument(..., help="Newer version id."),
         workspace: str = Workspace) -> dict:
    """Rows added, removed and changed between two versions, with the reason of each."""
    from workbench.store import open_workspace
    from workbench.store.versions import diff_versions

    with open_workspace(Path(workspace), create=False) as ws:
        return diff_versions(ws, old, new)


@command
def export(workspace: str = Workspace,
           format: str = typer.Option(..., help="openai|alpaca|sharegpt|parquet|hf"),
           out: str = typer.Option(..., help="Output file (a folder for hf)."),
           version: str = typer.Option(None, help="Version id (default: freeze the newest "
                                                  "dataset's curated rows now)."),
           split: str = typer.Option(None, help="Only this split (train/validation/test)."),
           meta: bool = typer.Option(True, help="Write meta fields beside the messages."),
           encoding: str = typer.Option("cl100k_base", help="OpenAI tokenizer for the cost."),
           price: float = typer.Option(3.00, help="USD per 1M training tokens."),
           overwrite: bool = typer.Option(False, help="Replace an existing file.")) -> dict:
    """Export a version; for openai, also the data-prep guide's token and cost estimate.

    ``--out`` must lie in the current folder, the workspace or ``$WORKBENCH_DATA_DIRS``."""
    from curation.cost import CostConfig, estimate
    from curation.export import export as write
    from workbench.paths import write_roots, write_target
    from workbench.store import open_workspace
    from workbench.store.versions import create_version, version_rows

    target = write_target(out, write_roots(Path(workspace), cwd=True), overwrite)
    with open_workspace(Path(workspace), create=False) as ws:
        vid = version or create_version(ws, ws.current_dataset())["id"]
        rows = version_rows(ws, vid, split)
    if not rows:
        raise StageError(f"version {vid} has no {split} rows")
    result = {"version": vid, **write(rows, format, target, include_meta=meta,
                                      overwrite=overwrite)}
    if format == "openai":
        result["openai_cost"] = estimate([r["messages"] for r in rows],
                                         CostConfig(encoding=encoding, price_per_million=price))
    return result


@command
def cost(workspace: str = Workspace, dataset: int = Dataset,
         encoding: str = typer.Option("cl100k_base", help="cl100k_base or o200k_base."),
         price: float = typer.Option(3.00, help="USD per 1M training tokens."),
         epochs: int = typer.Option(None, help="Epochs (default: the guide's rule).")) -> dict:
    """Hosted fine-tuning estimate of the curated rows (OpenAI's data-prep guide)."""
    from curation.cost import CostConfig, estimate
    from workbench.store import open_workspace
    from workbench.store.versions import curated_rows

    with open_workspace(Path(workspace), create=False) as ws:
        rows = curated_rows(ws, _dataset(ws, dataset))
    return estimate([r["messages"] for r in rows], CostConfig(encoding, price, epochs=epochs))


@command
def edit(workspace: str = Workspace, example: int = typer.Option(..., help="Example id."),
         message: int = typer.Option(..., help="Message index (0-based)."),
         text: str = typer.Option(..., help="The new content."),
         reason: str = typer.Option("", help="Why."), who: str = typer.Option("cli"),
         dataset: int = Dataset) -> dict:
    """Replace one message's text; the decision keeps the old and new text."""
    from workbench.store import open_workspace
    from workbench.store.versions import edit_message

    with open_workspace(Path(workspace), create=False) as ws:
        return edit_message(ws, _dataset(ws, dataset), example, message, text, who, reason)


@command
def drop(workspace: str = Workspace, example: int = typer.Option(..., help="Example id."),
         reason: str = typer.Option("", help="Why."), who: str = typer.Option("cli"),
         restore: bool = typer.Option(False, help="Undo an earlier drop."),
         dataset: int = Dataset) -> dict:
    """Drop a row from the curated set (or restore it); recorded as a decision."""
    from workbench.store import open_workspace
    from workbench.store.versions import decide

    with open_workspace(Path(workspace), create=False) as ws:
        return decide(ws, _dataset(ws, dataset), example, "restore" if restore else "drop",
                      who, reason)


@command
def mix(workspace: str = Workspace,
        source: list[str] = Sources,
        total: int = typer.Option(None, help="Rows in all (ratios only; default: as many "
                                             "as the sources allow)."),
        seed: int = typer.Option(0), name: str = typer.Option("mix")) -> dict:
    """Mix several datasets' curated rows into a new dataset; meta keeps each row's source."""
    from workbench.stages.curation import mix as run

    return run(Path(workspace), source, total, seed, name)


@command
def browse(workspace: str = Workspace, search: str = typer.Option("", help="Words to find."),
           code: str = typer.Option("", help="Finding code."),
           split: str = typer.Option(""), status: str = typer.Option("", help="kept|drop|edited"),
           limit: int = typer.Option(20), dataset: int = Dataset) -> dict:
    """Rows matching a full-text search and filters (the Browse page's query)."""
    from workbench.store import open_workspace
    from workbench.store.browse import RowFilter, browse_rows

    with open_workspace(Path(workspace), create=False) as ws:
        page, total = browse_rows(ws, _dataset(ws, dataset),
                                  RowFilter(search=search, code=code, split=split,
                                            status=status), limit=limit)
    return {"total": total, "rows": page.to_dict("records")}
