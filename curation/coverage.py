"""Coverage map: sentence embeddings projected to 2-D, clustered, each cluster labelled by
its most distinctive words, and the held-out rows that have no close training neighbour.

Three pure steps over (n, d) L2-normalized vectors and their texts:
- ``project``: UMAP (McInnes, Healy & Melville 2018, umap-learn) with the cosine metric.
  With ``random_state`` set, umap-learn runs single-threaded and its output is the same
  for the same input and seed (checked in tests/test_coverage.py);
- ``clusters``: HDBSCAN (Campello, Moulavi & Sander 2013; scikit-learn's implementation) on
  the 2-D coordinates, as BERTopic and Embedding Atlas cluster the UMAP output; ``-1`` is
  noise ("unclustered");
- ``ctfidf_labels``: class-based TF-IDF (BERTopic, Grootendorst 2022, "BERTopic: Neural
  topic modeling with a class-based TF-IDF procedure", arXiv:2203.05794): the texts of a
  cluster are one document, term frequencies are L1-normalized per cluster and weighted by
  ``log(1 + A / f_t)``, A the mean number of words per cluster and f_t the term's frequency
  over all clusters (``bertopic.vectorizers.ClassTfidfTransformer``'s default).

``coverage_map`` runs the three and adds, for each held-out row, the cosine of its nearest
training row (``curation.leakage.nearest``); below ``coverage_threshold`` the row is
"uncovered": the training split has nothing like it.

Run as: ``coverage_map(texts, vectors, splits, CoverageConfig(seed=0))``
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

UNCLUSTERED = -1  # HDBSCAN's noise label


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass
class CoverageConfig:
    """Settings of one coverage map (``coverage_map``)."""

    seed: int = _f(0, "UMAP random_state: the same seed and rows give the same map.")
    n_neighbors: int = _f(15, "UMAP neighbourhood size (umap-learn's default): larger keeps "
                              "more global structure, smaller more local detail.")
    min_dist: float = _f(0.1, "UMAP minimum distance between points in 2-D (umap-learn's "
                              "default): smaller packs clusters tighter.")
    min_cluster_size: int = _f(0, "HDBSCAN's smallest cluster; rows in no cluster are "
                                  "'unclustered'. 0 = automatic: max(3, floor(sqrt(n) / 2)) "
                                  "for n rows.")
    label_words: int = _f(3, "Words in each cluster's c-TF-IDF label.")
    coverage_threshold: float = _f(
        0.5, "A held-out row whose nearest training row has a cosine below this is "
             "'uncovered'. A starting point to adjust on the map, not a measured optimum: with "
             "all-MiniLM-L6-v2, texts on the same topic usually score above 0.5 and unrelated "
             "ones below it.")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of the settings."""
        return asdict(self)


def project(vectors: np.ndarray, seed: int = 0, n_neighbors: int = 15,
            min_dist: float = 0.1) -> np.ndarray:
    """(n, 2) float32 UMAP coordinates of (n, d) vectors, cosine metric, deterministic for
    ``seed``.

    ``n_neighbors`` is capped at n − 1 (UMAP needs fewer neighbours than rows). With fewer
    than 4 rows there is no neighbourhood graph to lay out: the rows go on a line at x = 0,
    1, 2. Raises ValueError for a non-2-D array.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (n, d), got shape {vectors.shape}")
    n = len(vectors)
    if n < 4:
        return np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32)
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, n - 1), min_dist=min_dist,
                        metric="cosine", random_state=seed, init="spectral")
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": intended
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)


def auto_cluster_size(n: int) -> int:
    """HDBSCAN's smallest cluster for n rows: max(3, floor(sqrt(n) / 2)).

    A rule of thumb chosen here, not from a paper: scikit-learn's fixed default of 5 leaves
    a 25-row set with no cluster at all (measured on the first 25 Dolly rows), and a fixed
    small size splits 10,000 rows into hundreds of clusters no one reads.

    >>> auto_cluster_size(25), auto_cluster_size(7473)
    (3, 43)
    """
    return max(3, math.isqrt(n) // 2)


def clusters(coords: np.ndarray, min_cluster_size: int = 0) -> np.ndarray:
    """(n,) int cluster labels of (n, 2) coordinates by HDBSCAN; ``UNCLUSTERED`` (-1) = noise.

    ``min_cluster_size`` 0 = ``auto_cluster_size(n)``. Fewer rows than ``min_cluster_size``
    (or than 2): every row is unclustered.
    """
    coords = np.asarray(coords, dtype=np.float64)
    min_cluster_size = min_cluster_size or auto_cluster_size(len(coords))
    if len(coords) < max(2, min_cluster_size):
        return np.full(len(coords), UNCLUSTERED, dtype=int)
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(coords).astype(int)


def ctfidf_labels(texts: list[str], labels: list[int] | np.ndarray, words: int = 3,
                  stop_words: str | None = "english") -> dict[int, list[str]]:
    """{cluster: its ``words`` most distinctive words, best first} by class-based TF-IDF.

    Per cluster c and term t: ``W[t, c] = tf[t, c] / sum_t' tf[t', c] * log(1 + A / f_t)``,
    tf the term counts of the cluster's texts joined (scikit-learn ``CountVectorizer``,
    English stop words removed), A the mean number of counted words per cluster (as an int,
    as BERTopic), f_t the count of t over all clusters. Ties are broken by the term, A→Z.
    ``UNCLUSTERED`` rows get no label. A cluster with no counted word gets []. Raises
    ValueError when ``texts`` and ``labels`` differ in length.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    labels = [int(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    names = sorted({label for label in labels if label != UNCLUSTERED})
    if not names:
        return {}
    documents = [" ".join(t for t, label in zip(texts, labels, strict=True) if label == name)
                 for name in names]
    vectorizer = CountVectorizer(stop_words=stop_words)
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(float)
    except ValueError:  # no word at all (empty texts, or only stop words)
        return {name: [] for name in names}
    weights = ctfidf(counts)
    terms = vectorizer.get_feature_names_out()
    out = {}
    for row, name in enumerate(names):
        order = sorted(range(len(terms)), key=lambda j: (-weights[row, j], terms[j]))
        out[name] = [str(terms[j]) for j in order[:words] if counts[row, j] > 0]
    return out


def ctfidf(counts: np.ndarray) -> np.ndarray:
    """c-TF-IDF weights of a (clusters, terms) count matrix (formula in ``ctfidf_labels``).

    >>> ctfidf(np.array([[2.0, 0.0], [1.0, 1.0]])).round(4).tolist()
    [[0.5108, 0.0], [0.2554, 0.5493]]
    """
    counts = np.asarray(counts, dtype=float)
    frequency = counts.sum(axis=0)
    average = int(counts.sum(axis=1).mean())
    idf = np.log(average / np.where(frequency > 0, frequency, 1) + 1)
    totals = counts.sum(axis=1, keepdims=True)
    return counts / np.where(totals > 0, totals, 1) * idf


def nearest_train(vectors: np.ndarray, splits: list[str | None]) -> list[float | None]:
    """Per row: the cosine of its nearest training row for a held-out row (validation or
    test), None for a training row, a row with no split, or when no row is in train."""
    from curation.leakage import nearest

    train = [i for i, s in enumerate(splits) if s == "train"]
    held = [i for i, s in enumerate(splits) if s in ("validation", "test")]
    out: list[float | None] = [None] * len(splits)
    if not train or not held:
        return out
    _, sims = nearest(np.asarray(vectors)[held], np.asarray(vectors)[train])
    for i, s in zip(held, sims.tolist(), strict=True):
        out[i] = float(s)
    return out


def coverage_map(texts: list[str], vectors: np.ndarray, splits: list[str | None],
                 config: CoverageConfig | None = None) -> dict:
    """The map of n rows: {"x", "y", "cluster", "nearest_train", "uncovered"} (lists of n),
    ``labels`` {cluster: words} and ``config``.

    ``texts``: what the labels are drawn from (the rows' message contents); ``vectors``:
    (n, d) L2-normalized embeddings of the rows; ``splits``: each row's split
    or None. ``uncovered`` is True for a held-out row whose nearest training cosine is below
    ``coverage_threshold``, else False. Raises ValueError when the lengths differ.
    """
    config = config or CoverageConfig()
    if not len(texts) == len(vectors) == len(splits):
        raise ValueError(f"{len(texts)} texts, {len(vectors)} vectors and {len(splits)} "
                         "splits: need one of each per row")
    coords = project(vectors, config.seed, config.n_neighbors, config.min_dist)
    found = clusters(coords, config.min_cluster_size)
    near = nearest_train(vectors, splits)
    return {"x": coords[:, 0].tolist(), "y": coords[:, 1].tolist(),
            "cluster": found.tolist(), "nearest_train": near,
            "uncovered": [s is not None and not math.isnan(s) and s < config.coverage_threshold
                          for s in near],
            "labels": ctfidf_labels(texts, found, config.label_words),
            "config": config.to_dict()}
