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


def exact_text_clusters(texts: list[str]) -> list[Cluster]:
    """One Cluster per text; equal keys point at the first such text (similarity 1)."""
    first: dict[str, int] = {}
    return [Cluster(i, first.setdefault(text_key(t), i), 1.0) for i, t in enumerate(texts)]
