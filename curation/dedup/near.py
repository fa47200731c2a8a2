"""Near-duplicate detection: MinHash LSH over word n-grams, without chaining.

The unit is the one of every level (curation.dedup.primitives): the role-tagged conversation
text, normalized (NFKC, casefold, whitespace collapsed). Each text becomes a set of word
``ngram``-shingles; a MinHash signature estimates the Jaccard similarity of two sets (Broder
1997), and LSH banding (Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3)
proposes candidate pairs. Bands and rows per band are datasketch's own choice for
``threshold`` and ``num_perm`` (``MinHashLSH(threshold, num_perm).b/.r``: 9 bands of 13 rows
for 0.8/128).

Clusters do not chain: a row joins the first earlier representative (in input order) among
its LSH candidates whose estimated Jaccard is ≥ ``threshold`` (the leader rule of
curation.dedup.primitives); otherwise it becomes a representative itself.

Speed: the result is bit-for-bit what a plain datasketch loop gives (``MinHash(num_perm,
seed)``, ``update`` per shingle's UTF-8 bytes, default scheme affine32 with sha1_hash32,
then ``MinHashLSH.query``/``insert`` per row), but each distinct shingle of a chunk is hashed
once, the permutations are applied to all of a chunk's shingles in one numpy expression, and
the LSH buckets are computed per band with one ``np.unique`` instead of per-row inserts.
``plain_datasketch_clusters`` is that loop, kept as the reference for tests and bench/.

Run as: ``from curation.dedup.near import near_text_clusters, NearDedupConfig;
near_text_clusters(texts, NearDedupConfig())``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha1

import numpy as np

from curation.dedup.primitives import Cluster, normalize

# datasketch is imported where it is used: it takes ~0.5 s to import, and reading a
# DedupPlan (the CLI, the Dedup page) should not pay that.
_CHUNK_SHINGLES = 1 << 16  # occurrences per vectorized chunk: ~32 MB of uint32 at 128 perms
_EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's initial hash value: a set with no shingles


@dataclass
class NearDedupConfig:
    """Near-duplicate (MinHash LSH) settings."""

    enabled: bool = field(default=True, metadata={"help": "Run the near level."})
    scope: str = field(default="conversation", metadata={
        "help": "What is compared: 'conversation' (every turn, role-tagged) or 'prompt' "
                "(the turns before the last assistant turn)."})
    ngram: int = field(default=3, metadata={
        "help": "Words per shingle. A text with fewer words is one shorter shingle."})
    num_perm: int = field(default=128, metadata={
        "help": "MinHash permutations: more = a finer Jaccard estimate (±1/√num_perm), "
                "slower."})
    threshold: float = field(default=0.8, metadata={
        "help": "Estimated Jaccard similarity of shingle sets to a cluster's representative "
                "at or above which a row is a near duplicate."})
    seed: int = field(default=1, metadata={
        "help": "Seed of the MinHash permutations (datasketch's default is 1)."})


def shingles(text: str, n: int) -> list[str]:
    """Word ``n``-grams of the normalized text, joined by single spaces.

    A text shorter than ``n`` words is a single shingle of all its words, so that short
    texts ("yes", "no") stay distinct instead of all sharing the empty set; a blank text has
    no shingles (all blank texts are then duplicates of each other).

    >>> shingles("The cat  sat on it", 3)
    ['the cat sat', 'cat sat on', 'sat on it']
    >>> shingles("Yes", 3)
    ['yes']
    """
    words = normalize(text).split()
    if len(words) < n:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(*(words[k:] for k in range(n)))))


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, datasketch's pre-mix for the affine32 scheme."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _sha1_32(strings: list[str]) -> np.ndarray:
    """datasketch.hashfunc.sha1_hash32 of each string's UTF-8 bytes, as a uint32 array."""
    digests = b"".join([sha1(s.encode("utf-8")).digest()[:4] for s in strings])
    return np.frombuffer(digests, dtype="<u4").astype(np.uint32)


def _chunk_signatures(docs: list[list[str]], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(docs), num_perm) signatures of one chunk; each distinct shingle hashed once."""
    out = np.full((len(docs), len(a)), _EMPTY, dtype=np.uint32)
    sizes = np.array([len(d) for d in docs])
    flat = [s for d in docs for s in d]
    if not flat:
        return out
    positions = {s: i for i, s in enumerate(dict.fromkeys(flat))}
    mixed = _fmix32(_sha1_32(list(positions)))
    ids = np.fromiter(map(positions.__getitem__, flat), dtype=np.int64, count=len(flat))
    # (num_perm, shingles) layout: reducing along the contiguous axis is ~8x faster.
    permuted = a[:, None] * mixed[ids][None, :]  # uint32 arithmetic wraps: the modulo 2^32
    permuted += b[:, None]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    nonempty = sizes > 0
    out[nonempty] = np.minimum.reduceat(permuted, starts[nonempty], axis=1).T
    return out


def signatures(texts: list[str], config: NearDedupConfig) -> np.ndarray:
    """(n, num_perm) uint32 MinHash signatures, equal to datasketch's ``MinHash.digest()``.

    Same as ``MinHash(num_perm, seed)`` updated with each shingle's UTF-8 bytes (scheme
    affine32, sha1_hash32); a text without shingles keeps the initial value 2³²−1.
    """
    from datasketch import MinHash

    a, b = MinHash(num_perm=config.num_perm, seed=config.seed).permutations
    parts, chunk, size = [], [], 0
    for text in texts:
        chunk.append(shingles(text, config.ngram))
        size += len(chunk[-1])
        if size >= _CHUNK_SHINGLES:
            parts.append(_chunk_signatures(chunk, a, b))
            chunk, size = [], 0
    parts.append(_chunk_signatures(chunk, a, b))
    return np.concatenate(parts)


def lsh_bands(sigs: np.ndarray, config: NearDedupConfig) -> np.ndarray:
    """(n, bands) int64 bucket ids: equal in a column = equal band (= an LSH collision).

    Bands and rows are datasketch's optimum for ``threshold`` and ``num_perm``.
    """
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    buckets = np.empty((len(sigs), lsh.b), dtype=np.int64)
    for band in range(lsh.b):
        block = np.ascontiguousarray(sigs[:, band * lsh.r:(band + 1) * lsh.r])
        keys = block.view(np.dtype((np.void, block.itemsize * lsh.r))).ravel()
        buckets[:, band] = np.unique(keys, return_inverse=True)[1].ravel()
    return buckets


def _first_similar(sigs: np.ndarray, i: int, candidates: list[int], threshold: float):
    """(representative, estimated Jaccard) of the first candidate ≥ threshold, or None."""
    similarity = np.count_nonzero(sigs[candidates] == sigs[i], axis=1) / sigs.shape[1]
    hits = np.flatnonzero(similarity >= threshold)
    return (candidates[hits[0]], float(similarity[hits[0]])) if len(hits) else None


def minhash_leader_clusters(sigs: np.ndarray, buckets: np.ndarray,
                            threshold: float) -> list[Cluster]:
    """Leader clusters: a row joins the first earlier LSH-candidate representative ≥ threshold.

    Only representatives enter the bucket tables, so candidates are representatives. A row
    alone in all its buckets can neither have nor be a candidate: it is skipped.
    """
    shared = np.zeros(len(buckets), dtype=bool)
    for band in buckets.T:
        shared |= np.bincount(band)[band] > 1
    out = [Cluster(i, i, 1.0) for i in range(len(buckets))]
    tables: list[dict[int, list[int]]] = [{} for _ in range(buckets.shape[1])]
    for i in np.flatnonzero(shared).tolist():
        row = buckets[i].tolist()
        candidates = sorted({j for table, key in zip(tables, row) for j in table.get(key, ())})
        found = _first_similar(sigs, i, candidates, threshold) if candidates else None
        if found:
            out[i] = Cluster(i, found[0], found[1])
            continue
        for table, key in zip(tables, row):
            table.setdefault(key, []).append(i)
    return out


def near_text_clusters(texts: list[str], config: NearDedupConfig) -> list[Cluster]:
    """One Cluster per text; ``similarity`` is the estimated Jaccard to the representative."""
    if not texts:
        return []
    sigs = signatures(texts, config)
    return minhash_leader_clusters(sigs, lsh_bands(sigs, config), config.threshold)


def plain_datasketch_clusters(texts: list[str], config: NearDedupConfig) -> list[Cluster]:
    """The reference: one MinHash per row, ``update`` per shingle, LSH query then insert.

    Slow (a numpy call per shingle); ``near_text_clusters`` must return exactly this.
    """
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    minhashes, out = [], []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=config.num_perm, seed=config.seed)
        for shingle in shingles(text, config.ngram):
            m.update(shingle.encode("utf-8"))
        minhashes.append(m)
        similar = [(j, m.jaccard(minhashes[j])) for j in sorted(lsh.query(m))]
        similar = [(j, s) for j, s in similar if s >= config.threshold]
        if similar:
            out.append(Cluster(i, similar[0][0], similar[0][1]))
        else:
            lsh.insert(i, m)
            out.append(Cluster(i, i, 1.0))
    return out
