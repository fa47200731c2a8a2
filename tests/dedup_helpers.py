"""Shared helpers of the dedup/split/leakage tests: rows and a model-free encoder."""

from __future__ import annotations

import hashlib
import re

import numpy as np


def conv(user: str, assistant: str = "ok") -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def bag_of_words(texts: list[str], dims: int = 512) -> np.ndarray:
    """L2-normalized word-count vectors (md5 bucket per lower-cased word): a stand-in for
    the sentence encoder whose cosines can be worked out by hand."""
    out = np.zeros((len(texts), dims), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % dims] += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def reps(clusters) -> list[tuple[int, int]]:
    """(index, representative) pairs of a level's clusters, by index."""
    return sorted((c.index, c.representative) for c in clusters)
