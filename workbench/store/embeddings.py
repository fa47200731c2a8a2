"""The workspace's embedding cache: vectors of texts already embedded, reused by dedup and
the leakage report.

Table ``embedding_cache`` (migration m008_embedding_cache): one row per (model id, backend,
token window, SHA-256 of the text) with its (384,) float32 vector. Everything that changes a
vector is in the key: the weights (model id carries their hash), the backend actually used
(curation.embed; a fallback is keyed as the backend it fell back to) and the window. The text
itself is not stored, only its hash, so the table holds no PII.

Why a DuckDB table and not a .npy sidecar: it lives in the workspace file (one thing to copy
or delete, no orphan files), a lookup is one join on the hashes asked for rather than loading
every vector, new rows are appended in a transaction (a crash never leaves a half-written
array), and a concurrent writer meets the workspace's lock like every other stage.

Run as: ``encode(texts, config, cache=EmbeddingCache(workspace_path))``
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from workbench.store.workspace import Workspace, open_workspace

DIMENSION = 384


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the UTF-8 text: the cache key's text part."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Lookups and inserts for ``curation.embed.encode``; counts what it served.

    ``workspace``: an open Workspace, or a workspace folder (opened for each lookup and
    store, so the caller holds no connection while the model runs). ``hits``: vectors served
    from the table; ``stored``: vectors added (= texts embedded) since creation; ``used``
    and ``backend``: whether a lookup was made, and the backend of the last key looked up;
    ``fallback``: why that encoder fell back (set by ``curation.embed.encode``), or None.
    """

    def __init__(self, workspace: Workspace | str | Path):
        self.workspace, self.hits, self.stored = workspace, 0, 0
        self.used, self.backend, self.fallback = False, None, None

    def _run(self, action):
        if isinstance(self.workspace, Workspace):
            return action(self.workspace.con)
        with open_workspace(self.workspace, create=False) as ws:
            return action(ws.con)

    def lookup(self, key: tuple[str, str, int], texts: list[str]) -> dict[str, np.ndarray]:
        """{text: (384,) float32} for the texts of ``texts`` already stored under ``key``
        ((model id, backend, max_seq_length))."""
        self.used, self.backend = True, key[1]
        if not texts:
            return {}
        hashes = {text_hash(t): t for t in texts}
        wanted = pa.table({"text_sha256": list(hashes)})

        def fetch(con):
            con.register("wanted_hashes", wanted)
            try:
                return con.sql(
                    "SELECT c.text_sha256, c.vector FROM embedding_cache c "
                    "JOIN wanted_hashes w USING (text_sha256) "
                    "WHERE c.model_id = ? AND c.backend = ? AND c.max_seq_length = ?",
                    params=list(key)).to_arrow_table()
            finally:
                con.unregister("wanted_hashes")

        table = self._run(fetch)
        if table.num_rows == 0:
            return {}
        vectors = np.asarray(table.column("vector").combine_chunks().flatten(),
                             dtype=np.float32).reshape(-1, DIMENSION)
        found = {hashes[h]: vectors[i]
                 for i, h in enumerate(table.column("text_sha256").to_pylist())}
        self.hits += len(found)
        return found

    def store(self, key: tuple[str, str, int], vectors: dict[str, np.ndarray]) -> None:
        """Add {text: (384,) vector} under ``key``; a text already there is left as is."""
        if not vectors:
            return
        flat = np.asarray(np.stack(list(vectors.values())), dtype=np.float32)
        if flat.shape[1] != DIMENSION:
            raise ValueError(f"vectors must have {DIMENSION} dimensions, not {flat.shape[1]}")
        table = pa.table({
            "text_sha256": [text_hash(t) for t in vectors],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), DIMENSION)})

        def insert(con):
            con.register("new_vectors", table)
            try:
                con.execute("INSERT OR IGNORE INTO embedding_cache(model_id, backend, "
                            "max_seq_length, text_sha256, vector) "
                            "SELECT ?, ?, ?, text_sha256, vector FROM new_vectors", list(key))
            finally:
                con.unregister("new_vectors")

        self._run(insert)
        self.stored += len(vectors)
