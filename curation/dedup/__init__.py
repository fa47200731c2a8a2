"""Deduplication at three levels (exact → near → semantic), without chaining.

Each level has its own config dataclass and compares either the whole conversation rendered
with role tags (``conversation_text``) or only its prompt side (``prompt_text``: the turns
before the last assistant turn). The levels run as a cascade: near dedup sees only the exact
level's representatives, semantic dedup only the near level's.

- exact: NFKC + casefold + whitespace collapse, then SHA-256 (the normalization used by
  datatrove's and text-dedup's exact dedup);
- near: MinHash LSH over word n-grams (curation.dedup.near);
- semantic: sentence embeddings (curation.embed), cosine ≥ ``threshold`` (default 0.95), the
  candidates of each row from an HNSW index (curation.dedup.ann), so cost grows ~n·log n.

Clusters do not chain: a row joins a cluster only when it is within the threshold of the
cluster's representative, never through another member (transitive joining put all 500 rows
of FastChat's ShareGPT sample in one cluster at cosine 0.90).

Representative policy: rows are visited in the policy's order and the first row of a cluster
in that order is its representative (greedy incremental clustering sorted by length, as
CD-HIT does: Li & Godzik 2006). ``longest`` (the default) and ``fewest_findings`` break ties
by content, never by input position, so the clusters do not change when the input rows are
shuffled; ``first`` is input order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from curation.dedup.near import NearDedupConfig

SCOPES = ("conversation", "prompt")
POLICIES = ("longest", "first", "fewest_findings")
LEVELS = ("exact", "near", "semantic")
_SCOPE_HELP = ("What is compared: 'conversation' (every turn, role-tagged) or 'prompt' "
               "(the turns before the last assistant turn).")


@dataclass
class ExactConfig:
    """Exact-duplicate settings."""

    enabled: bool = field(default=True, metadata={"help": "Run the exact level."})
    scope: str = field(default="conversation", metadata={"help": _SCOPE_HELP})


@dataclass
class DedupConfig:
    """Semantic-duplicate settings (sentence embeddings + ANN leader clusters).

    ``backend`` trades speed for fidelity to the fp32 model; measured in bench/curation.py on
    generated conversations on the quiet 2-core machine: 'openvino' (default) 2.6x
    ``SentenceTransformer.encode`` + ``paraphrase_mining`` at 10,000 rows (29.8 s vs 77.4 s;
    3.5-6.5x on a loaded machine, where the fp32 baseline suffers more), cosines within 0.003
    of fp32 and 0.998 of the baseline's planted pairs at 0.95; 'onnx_int8' is faster
    still but loses near-threshold pairs (see the field's help and curation.embed).
    """

    semantic: bool = field(default=True, metadata={
        "help": "Run the semantic level (MiniLM embeddings)."})
    threshold: float = field(default=0.95, metadata={
        "help": "Cosine similarity to a cluster's representative at or above which a row is "
                "a semantic duplicate."})
    scope: str = field(default="conversation", metadata={"help": _SCOPE_HELP})
    batch_size: int = field(default=64, metadata={"help": "Embedding batch size."})
    backend: str = field(default="openvino", metadata={
        "help": "Encoder (curation.embed.BACKENDS). 'openvino' (default): the model exported "
                "to ONNX, OpenVINO CPU in bf16 on AVX-512 BF16: 2.6x "
                "encode + paraphrase_mining at 10,000 rows (bench/curation.py), cosines within 0.003 of fp32, "
                "0.998 of the planted pairs the fp32 baseline finds. 'onnx': ONNX Runtime "
                "fp32, exact, ~1.4x. "
                "'onnx_int8': ONNX Runtime dynamic int8, ~2x but cosines of near-duplicates "
                "drop by up to 0.08 (finds 0.69 vs 0.77 of planted pairs at 0.95). 'bf16' / "
                "'fp32' / 'int8': torch (bf16 ~1.7x, int8 cosines off by up to 0.16). An "
                "export or runtime failure falls back to torch 'bf16' with a warning."})
    max_seq_length: int = field(default=256, metadata={
        "help": "Tokens per text; longer texts are truncated (the packaged model's window)."})
    k: int = field(default=32, metadata={
        "help": "Nearest neighbours fetched per row from the HNSW index (more on demand)."})


SemanticConfig = DedupConfig


@dataclass
class DedupPlan:
    """The three levels and the representative policy (what ``workbench dedup`` runs)."""

    exact: ExactConfig = field(default_factory=ExactConfig)
    near: NearDedupConfig = None  # type: ignore[assignment]  (set in __post_init__)
    semantic: DedupConfig = field(default_factory=DedupConfig)
    policy: str = field(default="longest", metadata={
        "help": "Which row represents (and is kept for) a cluster: 'longest' (most "
                "characters), 'first' (input order; changes when rows are shuffled) or "
                "'fewest_findings' (fewest validation findings, then longest)."})

    def __post_init__(self):
        from curation.dedup.near import NearDedupConfig

        self.near = self.near or NearDedupConfig()
        self.check()

    def check(self) -> None:
        """Raise ValueError naming every bad field at once."""
        errors = [f"policy must be one of {POLICIES}, not {self.policy!r}"] \
            if self.policy not in POLICIES else []
        errors += [f"{name}.scope must be one of {SCOPES}, not {level.scope!r}"
                   for name, level in (("exact", self.exact), ("near", self.near),
                                       ("semantic", self.semantic))
                   if level.scope not in SCOPES]
        from curation.embed import BACKENDS

        if self.semantic.backend not in BACKENDS:
            errors.append(f"semantic.backend must be one of {BACKENDS}, "
                          f"not {self.semantic.backend!r}")
        if not 0 < self.semantic.threshold <= 1:
            errors.append(f"semantic.threshold must be in (0, 1], not {self.semantic.threshold}")
        if errors:
            raise ValueError("; ".join(errors))


@dataclass(frozen=True)
class Cluster:
    """Membership of one row: its cluster's representative (an index) and the similarity."""

    index: int
    representative: int
    similarity: float


def normalize(text: str) -> str:
    """NFKC, casefold and collapse whitespace; never empty for a non-blank text.

    >>> normalize("  Ｈello\\tWORLD ")
    'hello world'
    """
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def conversation_text(messages: list[dict]) -> str:
    """The conversation as ``role: content`` lines."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def prompt_text(messages: list[dict]) -> str:
    """The turns before the last assistant turn as ``role: content`` lines (all turns when
    there is no assistant turn)."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"),
               default=len(messages))
    return conversation_text(messages[:last])


def scope_text(messages: list[dict], scope: str) -> str:
    """The text a level compares for ``scope`` ('conversation' or 'prompt')."""
    return prompt_text(messages) if scope == "prompt" else conversation_text(messages)


def text_key(text: str) -> str:
    """SHA-256 hex of the normalized text; a whitespace-only text keeps its own key.

    Normalization keeps every non-space character, so texts in any script stay distinct;
    only a text that is all whitespace normalizes to "" and is then keyed by its raw form.
    """
    key = normalize(text) or ("\0" + text if text else "")
    return hashlib.sha256(key.encode()).hexdigest()


def exact_key(messages: list[dict]) -> str:
    """SHA-256 hex digest of the normalized conversation text."""
    return text_key(conversation_text(messages))


def exact_text_clusters(texts: list[str]) -> list[Cluster]:
    """One Cluster per text; equal keys point at the first such text (similarity 1)."""
    first: dict[str, int] = {}
    return [Cluster(i, first.setdefault(text_key(t), i), 1.0) for i, t in enumerate(texts)]


def exact_clusters(conversations: list[list[dict]]) -> list[Cluster]:
    """Exact clusters of whole conversations, in input order."""
    return exact_text_clusters([conversation_text(m) for m in conversations])


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


def semantic_clusters(conversations: list[list[dict]], config: DedupConfig) -> list[Cluster]:
    """Exact (blocked n²) leader clusters over embeddings of the role-tagged text."""
    from curation.embed import encode

    if not conversations:
        return []
    vectors = encode([scope_text(m, config.scope) for m in conversations], config)
    return leader_clusters(vectors, config.threshold)


def policy_order(conversations: list[list[dict]], policy: str,
                 findings: list[int] | None = None) -> list[int]:
    """Row indices in the order the leader rule visits them (representatives first).

    ``longest``: most characters of content first; ``fewest_findings``: fewest findings
    (``findings[i]`` per row), then longest; ties broken by the SHA-256 of the row's
    content so that the order depends on content only. ``first``: input order.
    """
    if policy == "first":
        return list(range(len(conversations)))
    lengths = [sum(len(m["content"]) for m in c) for c in conversations]
    keys = [hashlib.sha256(conversation_text(c).encode()).hexdigest() for c in conversations]
    counts = findings or [0] * len(conversations)
    if policy == "longest":
        counts = [0] * len(conversations)
    return sorted(range(len(conversations)), key=lambda i: (counts[i], -lengths[i], keys[i]))


def _level(texts: list[str], rows: list[int], cluster: Callable[[list[str]], list[Cluster]]):
    """Cluster ``texts`` of ``rows`` (in visit order); Clusters in original row indices."""
    return [Cluster(rows[c.index], rows[c.representative], c.similarity)
            for c in cluster([texts[r] for r in rows])]


def dedup_levels(conversations: list[list[dict]], plan: DedupPlan,
                 findings: list[int] | None = None,
                 encode: Callable | None = None) -> dict[str, list[Cluster]]:
    """Run the enabled levels as a cascade; {level: Clusters of the rows that level saw}.

    ``conversations``: n message lists; ``findings``: per-row finding counts (policy
    ``fewest_findings``); ``encode``: texts → (m, d) L2-normalized float32 (default
    curation.embed.encode with ``plan.semantic``). Indices are input row indices; each
    level's Clusters are in the policy's visit order. Raises ValueError for a bad plan.
    """
    from curation.dedup.ann import ann_leader_clusters
    from curation.dedup.near import near_text_clusters

    plan.check()
    alive = policy_order(conversations, plan.policy, findings)
    out: dict[str, list[Cluster]] = {}
    steps = {
        "exact": (plan.exact.enabled, plan.exact.scope, exact_text_clusters),
        "near": (plan.near.enabled, plan.near.scope,
                 lambda t: near_text_clusters(t, plan.near)),
        "semantic": (plan.semantic.semantic, plan.semantic.scope,
                     lambda t: _semantic(t, plan.semantic, encode, ann_leader_clusters)),
    }
    for level, (enabled, scope, cluster) in steps.items():
        if not enabled or not alive:
            continue
        texts = {r: scope_text(conversations[r], scope) for r in alive}
        out[level] = _level(texts, alive, cluster)
        alive = [c.index for c in out[level] if c.index == c.representative]
    return out


def _semantic(texts: list[str], config: DedupConfig, encode, ann_leader_clusters):
    if encode is None:
        from curation.embed import encode as default_encode

        def encode(t):
            return default_encode(t, config)
    return ann_leader_clusters(encode(texts), config.threshold, k=config.k)


def groups(n: int, levels: dict[str, list[Cluster]]) -> list[int]:
    """Each row's group: its representative followed through the levels (the kept row).

    >>> groups(3, {"exact": [Cluster(0, 0, 1), Cluster(1, 0, 1), Cluster(2, 2, 1)],
    ...            "near": [Cluster(0, 0, 1), Cluster(2, 0, .9)]})
    [0, 0, 0]
    """
    root = list(range(n))
    for level in LEVELS:
        rep = {c.index: c.representative for c in levels.get(level, [])}
        root = [rep.get(r, r) for r in root]
    return root
