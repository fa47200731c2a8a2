"""Export a trained run: merged model folder, Ollama Modelfiles, a GGUF verified by reloading.

Everything lands in ``<run folder>/export/``: ``merged/`` (transformers), ``model.gguf``,
``Modelfile`` (FROM the base + ADAPTER the adapter) and ``Modelfile.gguf`` (FROM the merged
GGUF), and ``export.json`` with the GGUF check's figures.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common.errors import StageError
from workbench.paths import write_target
from workbench.store import open_workspace
from workbench.store import training as store


def export_run(workspace: Path, run_id: str | None = None, gguf: bool = True,
               dtype: str = "f32", overwrite: bool = False, llama: bool = True,
               quants: tuple[str, ...] = ("q8_0", "q4_k_m")) -> dict:
    """Write the exports of ``run_id`` (default: the newest succeeded train run).

    With ``llama`` and llama-cpp-python installed, the GGUF is also verified in llama.cpp and
    F16 and ``quants`` files are written and measured (``training.llamacpp.verification_table``
    on the run's held-out answers) under "llama_cpp"; otherwise "llama_cpp" says why not.
    Returns {"run_id", "merged", "modelfile", "gguf", "gguf_check", "llama_cpp"}. Raises
    ``StageError`` for an unknown or unfinished run or a failed GGUF check, InputError when ``export/`` is
    a symbolic link, lies outside the workspace, or exists and ``overwrite`` is False (with
    ``overwrite`` the old folder is removed first).
    """
    from training import export, llamacpp
    from training.model import (
        EMBEDDED_MODEL,
        embedded_gguf_path,
        ensure_base_model,
        load_tokenizer,
    )

    with open_workspace(workspace, create=False) as ws:
        runs = [r for r in store.train_runs(ws) if r["state"] == "succeeded"
                and (run_id is None or r["id"] == run_id)]
    if not runs:
        raise StageError(f"no succeeded train run {run_id or ''} to export".replace("  ", " "))
    run = runs[0]
    out = write_target(Path(run["dir"]) / "export", [Path(workspace).resolve()], overwrite)
    config, output = run["config"]["train"], Path(run["summary"]["adapter"])
    base_dir = ensure_base_model(config["base_model"])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    full = config.get("method") == "full"
    merged = output if full else export.merge_adapter(base_dir, output, out / "merged")
    embedded = config["base_model"] == "embedded"
    tokenizer = load_tokenizer(base_dir)
    base_ref = str(embedded_gguf_path()) if embedded else str(base_dir)
    result = {"run_id": run["id"], "merged": str(merged), "base": EMBEDDED_MODEL if embedded
              else str(base_dir)}
    if not full:
        result["modelfile"] = str(export.write_modelfile(out / "Modelfile", base_ref, tokenizer,
                                                         adapter=str(output)))
    if gguf:
        path = export.write_gguf(merged, out / "model.gguf", dtype,
                                 tokenizer_gguf=embedded_gguf_path() if embedded else None)
        result["gguf"] = str(path)
        result["gguf_check"] = export.verify_gguf(merged, path, dtype)
        result["modelfile_gguf"] = str(export.write_modelfile(out / "Modelfile.gguf",
                                                              "./model.gguf", tokenizer))
        if llama and (reason := llamacpp.missing_reason()) is None:
            heldout = _heldout_conversations(workspace, run)
            result["llama_cpp"] = llamacpp.verification_table(merged, path, out, heldout,
                                                              quants=tuple(quants))
        else:
            result["llama_cpp"] = {"skipped": reason if llama else "not asked (--no-llama)"}
    (out / "export.json").write_text(json.dumps(result, indent=1))
    return result


def _heldout_conversations(workspace: Path, run: dict, limit: int = 16) -> list[list[dict]]:
    """Up to ``limit`` test-split conversations of the run's dataset (ending with an answer);
    three fixed prompts without answers when the dataset has no test rows."""
    from training.export import VERIFY_PROMPTS
    from workbench.store import evaluation as eval_store

    dataset_id = run.get("dataset_id")
    rows = []
    if dataset_id is not None:
        with open_workspace(workspace, create=False) as ws:
            rows = [r["messages"] for r in eval_store.heldout_rows(ws, dataset_id, limit)]
    rows = [m for m in rows if any(t["role"] == "assistant" for t in m)]
    return rows or [[{"role": "user", "content": p}] for p in VERIFY_PROMPTS]


def latest_export(run_dir: Path) -> dict | None:
    """The ``export.json`` of a run folder's export (None when it was never exported)."""
    path = Path(run_dir) / "export" / "export.json"
    return json.loads(path.read_text()) if path.is_file() else None


def adapter_zip(adapter: Path) -> bytes:
    """The adapter folder of a trained run (weights, adapter config, tokenizer files,
    ``lineage.json``) as one zip archive, for a download; symbolic links are left out.
    Raises StageError when the folder is missing."""
    import io
    import zipfile

    adapter = Path(adapter)
    if not adapter.is_dir():
        raise StageError(f"{adapter}: the run's adapter folder is missing")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(adapter.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{adapter.name}/{path.relative_to(adapter)}")
    return buffer.getvalue()
