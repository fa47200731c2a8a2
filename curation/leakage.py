"""Leakage report: for every held-out example, its nearest training example and the cosine.

A split leaks when a test example has a training example at or above the semantic-duplicate
threshold. The dedup stage keeps one row per semantic cluster and the leader rule makes every
two kept rows fall below the threshold of each other (a row that is not below it joins the
earlier representative), so a default split has no such pair; this report checks it.

Run as: ``from curation.leakage import nearest; nearest(test_vectors, train_vectors)``
"""

from __future__ import annotations

import numpy as np

EXACT_UP_TO = 20_000_000  # test × train products below this are done exactly (numpy)
FINDING_CODE = "test_leakage"  # the finding of a held-out row at or above the threshold
FINDING_SEVERITY = "warning"  # not "error": an error finding would take the row out of the
#                               next split instead of letting a curator decide


def nearest(test: np.ndarray, train: np.ndarray, block: int = 1024) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """(index into ``train``, cosine) of each test row's nearest training row.

    ``test`` (m, d), ``train`` (n, d): L2-normalized float arrays. Exact by blocked matrix
    product when m·n ≤ EXACT_UP_TO, else the best of 16 neighbours from a usearch HNSW
    index (approximate). With no training row: index −1, cosine NaN.
    """
    if len(train) == 0 or len(test) == 0:
        return np.full(len(test), -1), np.full(len(test), np.nan)
    if len(test) * len(train) <= EXACT_UP_TO:
        index, best = [], []
        for start in range(0, len(test), block):
            sims = test[start:start + block] @ train.T
            index.append(sims.argmax(axis=1))
            best.append(sims.max(axis=1))
        return np.concatenate(index), np.concatenate(best).astype(float)
    from usearch.index import Index

    ann = Index(ndim=train.shape[1], metric="ip", dtype="f32")
    ann.add(np.arange(len(train)), np.ascontiguousarray(train, dtype=np.float32))
    found = ann.search(np.ascontiguousarray(test, dtype=np.float32), 16)
    keys = found.keys.astype(np.int64)
    sims = np.einsum("md,mkd->mk", test, train[np.clip(keys, 0, None)])
    sims[np.arange(keys.shape[1])[None, :] >= found.counts[:, None]] = -np.inf
    pick = sims.argmax(axis=1)
    return keys[np.arange(len(test)), pick], sims[np.arange(len(test)), pick].astype(float)


def report(ids: list[int], splits: list[str], vectors: np.ndarray, threshold: float) -> list[dict]:
    """One record per non-train row: {example_id, split, nearest_train_id, similarity,
    threshold, above (similarity ≥ threshold)}. ``vectors``: (n, d) L2-normalized."""
    train = [i for i, s in enumerate(splits) if s == "train"]
    held = [i for i, s in enumerate(splits) if s != "train"]
    where, sims = nearest(vectors[held], vectors[train])
    return [{"example_id": ids[i], "split": splits[i],
             "nearest_train_id": ids[train[w]] if w >= 0 else None,
             "similarity": float(s) if w >= 0 else None, "threshold": threshold,
             "above": bool(w >= 0 and s >= threshold)}
            for i, w, s in zip(held, where.tolist(), sims.tolist(), strict=True)]


def findings(records: list[dict], lines: dict[int, int]) -> list[dict]:
    """A ``test_leakage`` finding (severity warning) per record ``above`` the threshold.

    ``records``: ``report``'s rows; ``lines``: {example_id: input line} of the rows named.
    Each: {example_id, step "leakage", code, severity, message, message_index None}; the
    message names both rows by input line and the cosine against the threshold.
    """
    return [{"example_id": r["example_id"], "step": "leakage", "code": FINDING_CODE,
             "severity": FINDING_SEVERITY, "message_index": None,
             "message": f"row {lines[r['example_id']]} ({r['split']}) has cosine "
                        f"{r['similarity']:.4f} to training row {lines[r['nearest_train_id']]}"
                        f" (threshold {r['threshold']}): a near copy of a training example"}
            for r in records if r["above"]]
