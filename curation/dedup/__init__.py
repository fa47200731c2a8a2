"""Deduplication at three levels (exact → near → semantic), without chaining.

One module per level over one leaf of shared primitives (the layout of datatrove's
``pipeline/dedup``: ``utils.py`` under ``minhash.py`` and ``sentence_dedup.py``):

- ``primitives``: the compared text (``conversation_text``, ``prompt_text``, ``scope_text``),
  ``normalize``, the ``Cluster``, the leader rule (``leader_clusters``: a row joins a cluster
  only within the threshold of its representative) and the representative policy
  (``policy_order``); it imports no other module of the package;
- ``exact``: NFKC + casefold + whitespace collapse, then SHA-256;
- ``near``: MinHash LSH over word n-grams;
- ``semantic``: sentence embeddings (curation.embed), cosine ≥ ``threshold`` (default 0.95);
- ``ann``: the semantic leader rule with candidates from an HNSW index, so cost grows
  ~n·log n;
- ``plan``: ``DedupPlan`` and ``dedup_levels``, the cascade: near dedup sees only the exact
  level's representatives, semantic dedup only the near level's.

Run as: ``from curation.dedup import DedupPlan, dedup_levels; dedup_levels(rows, DedupPlan())``
"""

from curation.dedup.exact import ExactConfig, exact_text_clusters, text_key
from curation.dedup.plan import DedupPlan, dedup_levels
from curation.dedup.primitives import (
    LEVELS,
    POLICIES,
    SCOPES,
    Cluster,
    conversation_text,
    groups,
    leader_clusters,
    normalize,
    policy_order,
    prompt_text,
    scope_text,
)
from curation.dedup.semantic import DedupConfig, semantic_text_clusters

__all__ = [
    "LEVELS", "POLICIES", "SCOPES", "Cluster", "DedupConfig", "DedupPlan", "ExactConfig",
    "conversation_text", "dedup_levels", "exact_text_clusters", "groups", "leader_clusters",
    "normalize", "policy_order", "prompt_text", "scope_text", "semantic_text_clusters",
    "text_key",
]
