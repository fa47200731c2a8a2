"""The coverage-map stage: embeddings (from the workspace's cache, computed with progress
where missing) → ``curation.coverage.coverage_map`` → cached coordinates, plus each row's
split, duplicate status and PII count for the colours.

Run as: ``coverage_map(Path("ws"), CoverageConfig(seed=0))``
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.errors import StageError
from curation.coverage import CoverageConfig
from workbench.store import open_workspace

Progress = Callable[[dict], None]
EMBED_CHUNK = 256  # texts per progress report while embedding


def _embedding_config(ws):
    """The latest dedup run's semantic settings (so the cached vectors are reused), else the
    defaults."""
    from curation.dedup import DedupConfig

    run = ws.latest_run("dedup")
    semantic = (run or {}).get("config", {}).get("semantic") or {}
    return DedupConfig(**{k: v for k, v in semantic.items() if k in asdict(DedupConfig())})


def _map_key(config: CoverageConfig, embedding: dict, texts: list[str],
             rows: list[dict]) -> str:
    """SHA-256 (first 16 hex) of what decides the coordinates: settings, embedding settings,
    each row's id, text and split."""
    digest = hashlib.sha256(json.dumps([config.to_dict(), embedding], sort_keys=True).encode())
    for row, text in zip(rows, texts, strict=True):
        digest.update(json.dumps([row["example_id"], row["split"], text]).encode())
    return digest.hexdigest()[:16]


def embed_with_progress(workspace: Path, texts: list[str], embedding,
                        on_progress: Progress | None = None) -> np.ndarray:
    """(n, 384) vectors of ``texts`` through the workspace's embedding cache, in chunks of
    ``EMBED_CHUNK`` with a progress report {step, total, message} after each."""
    from curation.embed import encode
    from workbench.store.embeddings import EmbeddingCache

    cache = EmbeddingCache(workspace)
    parts = []
    for start in range(0, len(texts), EMBED_CHUNK):
        parts.append(encode(texts[start:start + EMBED_CHUNK], embedding, cache))
        if on_progress:
            done = min(start + EMBED_CHUNK, len(texts))
            on_progress({"step": done, "total": len(texts),
                         "message": f"embedding {done}/{len(texts)} texts"})
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def _first_user_text(messages: list[dict]) -> str:
    """The first user turn (else the first turn) of a conversation: the map's hover text."""
    for message in messages:
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return str(messages[0].get("content", "")) if messages else ""


def coverage_map(workspace: Path, config: CoverageConfig | None = None,
                 on_progress: Progress | None = None, encode=None,
                 cached_only: bool = False) -> dict | None:
    """The coverage map of the current dataset, computed once per settings and data.

    Returns {"points": [{example_id, line, x, y, cluster, label, nearest_train, uncovered,
    split, duplicate, pii, prompt}], "labels": {cluster: words}, "cached": bool, "summary":
    {rows, clusters, unclustered, held_out, uncovered, threshold}}. ``encode``: texts →
    vectors, for tests; without it the vectors come from the embedding cache, the missing
    ones embedded with progress. ``cached_only``: return None instead of computing a map
    that is not in the workspace. Raises StageError when the dataset has no example.
    """
    from curation.coverage import UNCLUSTERED
    from curation.coverage import coverage_map as compute
    from curation.dedup import scope_text
    from workbench.store import coverage as store

    config = config or CoverageConfig()
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = store.map_rows(ws, dataset_id)
        embedding = _embedding_config(ws)
        texts = [scope_text(r["messages"], embedding.scope) for r in rows]
        key = _map_key(config, asdict(embedding), texts, rows)
        cached = store.load_map(ws, dataset_id, key)
    if not rows:
        raise StageError("the dataset has no example to map")
    if cached is None and cached_only:
        return None
    if cached is None:
        vectors = (encode(texts) if encode is not None else
                   embed_with_progress(workspace, texts, embedding, on_progress))
        contents = [" ".join(str(m.get("content", "")) for m in r["messages"]) for r in rows]
        found = compute(contents, vectors, [r["split"] for r in rows], config)
        points = [{"example_id": r["example_id"], **{f: found[f][i] for f in
                   ("x", "y", "cluster", "nearest_train", "uncovered")}}
                  for i, r in enumerate(rows)]
        with open_workspace(workspace) as ws:
            store.save_map(ws, dataset_id, key, config.to_dict(), found["labels"], points)
        labels = found["labels"]
    else:
        points, labels = cached["points"], cached["labels"]
    by_id = {p["example_id"]: p for p in points}
    out = []
    for row in rows:
        point = by_id[row["example_id"]]
        words = labels.get(point["cluster"])
        out.append({**point, "line": row["line"], "split": row["split"] or "none",
                    "duplicate": row["duplicate"], "pii": row["pii"],
                    "label": ("unclustered" if point["cluster"] == UNCLUSTERED
                              else f"{point['cluster']}: {' '.join(words or [])}"),
                    "prompt": _first_user_text(row["messages"])[:200]})
    held = [p for p in out if p["split"] in ("validation", "test")]
    summary = {"rows": len(out), "clusters": len(labels),
               "unclustered": sum(p["cluster"] == UNCLUSTERED for p in out),
               "held_out": len(held), "uncovered": sum(bool(p["uncovered"]) for p in held),
               "threshold": config.coverage_threshold}
    return {"points": out, "labels": labels, "cached": cached is not None, "summary": summary}
