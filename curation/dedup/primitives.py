"""Primitives every dedup level shares: the text it compares, the Cluster, the leader rule,
the representative policy.

This module imports no other dedup module; exact, near, semantic and ann import it.

Text: a level compares either the whole conversation rendered with role tags
(``conversation_text``) or only its prompt side (``prompt_text``: the turns before the last
assistant turn), normalized by ``normalize`` (NFKC + casefold + whitespace collapse, the
normalization of datatrove's and text-dedup's exact dedup) where the level needs it.

The leader rule: clusters do not chain. A row joins a cluster only when it is within the
threshold of the cluster's representative, never through another member (transitive joining
put all 500 rows of FastChat's ShareGPT sample in one cluster at cosine 0.90).
``leader_clusters`` is the rule over all earlier rows; near and ann apply the same rule to
candidates from an index.

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
from dataclasses import dataclass

import numpy as np

SCOPES = ("conversation", "prompt")
POLICIES = ("longest", "first", "fewest_findings")
LEVELS = ("exact", "near", "semantic")
SCOPE_HELP = ("What is compared: 'conversation' (every turn, role-tagged) or 'prompt' "
              "(the turns before the last assistant turn).")


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


def policy_keys(messages: list[dict]) -> tuple[int, str]:
    """(characters of content, SHA-256 hex of ``conversation_text``): what the policies sort
    one row by."""
    return (sum(len(m["content"]) for m in messages),
            hashlib.sha256(conversation_text(messages).encode()).hexdigest())


def order_by_keys(lengths: list[int], keys: list[str], policy: str,
                  findings: list[int] | None = None) -> list[int]:
    """``policy_order`` from each row's ``policy_keys`` (computed elsewhere, e.g. on Ray)."""
    if policy == "first":
        return list(range(len(lengths)))
    counts = findings or [0] * len(lengths)
    if policy == "longest":
        counts = [0] * len(lengths)
    return sorted(range(len(lengths)), key=lambda i: (counts[i], -lengths[i], keys[i]))


def policy_order(conversations: list[list[dict]], policy: str,
                 findings: list[int] | None = None) -> list[int]:
    """Row indices in the order the leader rule visits them (representatives first).

    ``longest``: most characters of content first; ``fewest_findings``: fewest findings
    (``findings[i]`` per row), then longest; ties broken by the SHA-256 of the row's
    content so that the order depends on content only. ``first``: input order.
    """
    if policy == "first":
        return list(range(len(conversations)))
    lengths, keys = zip(*map(policy_keys, conversations)) if conversations else ((), ())
    return order_by_keys(list(lengths), list(keys), policy, findings)


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
