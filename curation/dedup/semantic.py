"""Semantic duplicates: sentence embeddings (curation.embed), cosine ≥ ``threshold``.

The leader rule (``primitives.leader_clusters``) with the candidates of each row taken from
an HNSW index (``ann.ann_leader_clusters``), so cost grows ~n·log n instead of n².

Run as: ``from curation.dedup.semantic import semantic_text_clusters, DedupConfig;
semantic_text_clusters(texts, DedupConfig())``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from curation.dedup.primitives import SCOPE_HELP, Cluster


@dataclass
class DedupConfig:
    """Semantic-duplicate settings (sentence embeddings + ANN leader clusters).

    ``backend`` trades speed for fidelity to the fp32 model: 'openvino' (default) runs at
    2.6x ``SentenceTransformer.encode`` + ``paraphrase_mining`` at 10,000 rows, cosines
    within 0.003 of fp32, 0.998 of the baseline's planted pairs at 0.95 (bench/curation.py,
    quiet machine; bench/README.md); 'onnx_int8' is faster still but loses
    near-threshold pairs (see the field's help and curation.embed).
    """

    semantic: bool = field(default=True, metadata={
        "help": "Run the semantic level (MiniLM embeddings)."})
    threshold: float = field(default=0.95, metadata={
        "help": "Cosine similarity to a cluster's representative at or above which a row is "
                "a semantic duplicate."})
    scope: str = field(default="conversation", metadata={"help": SCOPE_HELP})
    batch_size: int = field(default=64, metadata={"help": "Embedding batch size."})
    backend: str = field(default="openvino", metadata={
        "help": "Encoder (curation.embed.BACKENDS). 'openvino' (default): the model exported "
                "to ONNX, OpenVINO CPU in bf16 on AVX-512 BF16: 2.6x encode + "
                "paraphrase_mining at 10,000 rows (bench/curation.py), cosines within 0.003 "
                "of fp32, 0.998 of the planted pairs the fp32 baseline finds. 'onnx': ONNX "
                "Runtime fp32, exact, ~1.4x. "
                "'onnx_int8': ONNX Runtime dynamic int8, ~2x but cosines of near-duplicates "
                "drop by up to 0.08 (finds 0.69 vs 0.77 of planted pairs at 0.95). 'bf16' / "
                "'fp32' / 'int8': torch (bf16 ~1.7x, int8 cosines off by up to 0.16). An "
                "export or runtime failure falls back to torch 'bf16' with a warning."})
    max_seq_length: int = field(default=256, metadata={
        "help": "Tokens per text; longer texts are truncated (the packaged model's window)."})
    k: int = field(default=32, metadata={
        "help": "Nearest neighbours fetched per row from the HNSW index (more on demand)."})


def semantic_text_clusters(texts: list[str], config: DedupConfig,
                           encode: Callable | None = None) -> list[Cluster]:
    """One Cluster per text; ``similarity`` is the cosine to the representative.

    ``encode``: texts → (n, d) L2-normalized float32 (default ``curation.embed.encode`` with
    ``config``).
    """
    # Imported here, not at the top: usearch must come after onnxruntime in a process
    # (curation.embed), and reading a DedupConfig should not decide that order.
    from curation.dedup.ann import ann_leader_clusters

    if encode is None:
        from curation.embed import encode as default_encode

        def encode(t):
            return default_encode(t, config)
    return ann_leader_clusters(encode(texts), config.threshold, k=config.k)
