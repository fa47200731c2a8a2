"""Exact duplicates: SHA-256 of the normalized text (NFKC, casefold, whitespace collapsed).

The normalization is datatrove's and text-dedup's for exact dedup (``primitives.normalize``).
Equal keys join the first row with that key (similarity 1).

Run as: ``from curation.dedup.exact import exact_text_clusters; exact_text_clusters(texts)``
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from curation.dedup.primitives import SCOPE_HELP, Cluster, normalize


@dataclass
class ExactConfig:
    """Exact-duplicate settings."""

    enabled: bool = field(default=True, metadata={"help": "Run the exact level."})
    scope: str = field(default="conversation", metadata={"help": SCOPE_HELP})


def text_key(text: str) -> str:
    """SHA-256 hex of the normalized text; a whitespace-only text keeps its own key.

    Normalization keeps every non-space character, so texts in any script stay distinct;
    only a text that is all whitespace normalizes to "" and is then keyed by its raw form.
    """
    key = normalize(text) or ("\0" + text if text else "")
    return hashlib.sha256(key.encode()).hexdigest()


def exact_key_clusters(keys: list[str]) -> list[Cluster]:
    """One Cluster per key (``text_key`` of each text, in visit order); equal keys point at
    the first row with that key (similarity 1)."""
    first: dict[str, int] = {}
    return [Cluster(i, first.setdefault(k, i), 1.0) for i, k in enumerate(keys)]


def exact_text_clusters(texts: list[str]) -> list[Cluster]:
    """One Cluster per text; equal keys point at the first such text (similarity 1)."""
    return exact_key_clusters([text_key(t) for t in texts])
