"""Embedding backends (ONNX Runtime / OpenVINO vs torch), the torch fallback, and the
workspace's embedding cache (dedup and leakage reuse vectors; results unchanged)."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import curation.embed as embed_module
from curation.dedup.ann import ann_leader_clusters
from curation.dedup import DedupConfig, DedupPlan, conversation_text
from curation.embed import encode, load_backend
from tests.conftest import write_jsonl
from tests.dedup_helpers import bag_of_words, conv
from tests.test_split import dataset
from workbench.stages import curation as stages
from workbench.store import open_workspace
from workbench.store.embeddings import EmbeddingCache, text_hash


class CountingEmbedder:
    """A model-free Embedder (bag of words, 384-d) that counts the texts it embeds."""

    backend, fallback = "fake", None

    def __init__(self):
        self.embedded: list[str] = []

    def encode(self, texts, batch_size=64):
        self.embedded += texts
        return bag_of_words(texts, dims=384)


@pytest.fixture
def fake_model(monkeypatch):
    fake = CountingEmbedder()
    monkeypatch.setattr(embed_module, "load_backend", lambda backend, window=256: fake)
    monkeypatch.setattr(embed_module, "model_id", lambda: "fake-model@0")
    return fake


def test_a_second_encode_through_the_cache_embeds_only_new_texts(ws, fake_model):
    config = DedupConfig()
    first = encode(["red apple", "green pear", "red apple", "blue plum"], config,
                   EmbeddingCache(ws))
    assert fake_model.embedded == ["red apple", "green pear", "blue plum"]
    again = EmbeddingCache(ws)
    second = encode(["blue plum", "red apple", "green pear", "red apple", "black fig"], config,
                    again)
    assert (again.hits, again.stored) == (3, 1)
    assert fake_model.embedded[3:] == ["black fig"]
    assert np.array_equal(second[[1, 2, 3, 0]], first)
    assert ws.query("SELECT model_id, backend, max_seq_length, count(*) AS n "
                    "FROM embedding_cache GROUP BY ALL") == [
        {"model_id": "fake-model@0", "backend": "fake", "max_seq_length": 256, "n": 4}]
    assert ws.scalar("SELECT count(*) FROM embedding_cache WHERE text_sha256 = ?",
                     [text_hash("black fig")]) == 1


def test_another_window_is_another_cache_key(ws, fake_model):
    encode(["red apple"], DedupConfig(), EmbeddingCache(ws))
    other = EmbeddingCache(ws)
    encode(["red apple"], DedupConfig(max_seq_length=128), other)
    assert (other.hits, other.stored, len(fake_model.embedded)) == (0, 1, 2)


def test_dedup_rerun_and_leakage_embed_nothing_already_embedded(tmp_path, fake_model):
    ws = tmp_path / "ws"
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"messages": r["messages"], "category": r["category"]} for r in dataset()])
    stages.ingest(ws, str(path), "openai")
    first = stages.dedup(ws, plan=DedupPlan())
    with open_workspace(ws) as s:
        clusters = s.query("SELECT * FROM dup_clusters ORDER BY example_id, level")
    # 50 rows: 10 exact copies (upper-cased) go at the exact level; 40 reach semantic
    assert (first["embedded_texts"], first["cached_texts"]) == (40, 0)
    assert first["embedding_backend"] == "fake"
    second = stages.dedup(ws, plan=DedupPlan())
    assert (second["embedded_texts"], second["cached_texts"]) == (0, 40)
    assert {k: v for k, v in second.items() if "_texts" not in k} == \
        {k: v for k, v in first.items() if "_texts" not in k}
    with open_workspace(ws) as s:
        assert s.query("SELECT * FROM dup_clusters ORDER BY example_id, level") == clusters
    stages.split(ws)
    leakage = stages.leakage(ws)
    assert (leakage["embedded_texts"], leakage["cached_texts"]) == (0, first["kept"])
    assert len(fake_model.embedded) == 40


# A small planted set: paraphrases and near copies of three questions, and unrelated rows.
PLANTED = [conv("How many grams are in a kilogram?", "There are 1000 grams in a kilogram."),
           conv("How many grams are in one kilogram?", "There are 1000 grams in a kilogram."),
           conv("How do I boil an egg?", "Simmer it for nine minutes, then cool it."),
           conv("How do I boil an egg?", "Simmer it for nine minutes and then cool it."),
           conv("What is the capital of France?", "Paris is the capital of France."),
           conv("Which city is the capital of France?", "The capital of France is Paris."),
           conv("Write a haiku about rain.", "Soft rain on the roof / the gutters hum a song"),
           conv("How many grams are in a kilogram?", "There are 1000 grams in a kilogram."),
           conv("Name a prime number above ten.", "Eleven is a prime number above ten.")]


def planted_clusters(backend: str) -> tuple[list[int], np.ndarray]:
    """(representatives at 0.95, the (9, 9) cosine matrix) of PLANTED with ``backend``."""
    texts = [conversation_text(m) for m in PLANTED]
    vectors = encode(texts, DedupConfig(backend=backend))
    return [c.representative for c in ann_leader_clusters(vectors, 0.95)], vectors @ vectors.T


ONNX_IN_A_FRESH_PROCESS = """
import json, sys
import onnxruntime  # before usearch: see curation.embed.ORT_AFTER_USEARCH
from curation.embed import load_backend
from tests.test_embed import planted_clusters
reps, sims = planted_clusters("onnx")
print(json.dumps({"reps": reps, "sims": sims.tolist(),
                  "fallback": load_backend("onnx").fallback}))
"""


@pytest.mark.slow
def test_exported_backends_give_the_clusters_of_the_torch_model():
    expected = [0, 0, 2, 2, 4, 4, 6, 0, 8]  # fp32 cosines: 0.979, 0.998, 0.978, 1; others < 0.32
    reps, reference = planted_clusters("fp32")
    assert reps == expected
    reps, sims = planted_clusters("openvino")
    assert load_backend("openvino").fallback is None
    assert reps == expected
    assert np.abs(sims - reference).max() < 0.01  # openvino infers in bf16 on this CPU
    done = subprocess.run([sys.executable, "-c", ONNX_IN_A_FRESH_PROCESS], capture_output=True,
                          text=True, cwd=Path(__file__).parents[1], check=True)
    onnx = json.loads(done.stdout.strip().splitlines()[-1])
    assert onnx["fallback"] is None and onnx["reps"] == expected
    assert np.abs(np.array(onnx["sims"]) - reference).max() < 1e-5  # fp32: same numbers


@pytest.mark.slow
def test_onnx_runtime_after_usearch_falls_back_instead_of_crashing(caplog):
    import usearch.index  # noqa: F401  (this process has it: curation.dedup.ann)

    if "onnxruntime" in sys.modules:
        pytest.skip("onnxruntime was imported first in this process")
    load_backend.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="curation.embed"):
            embedder = load_backend("onnx", 256)
        assert embedder.backend == "bf16"
        assert embedder.fallback == f"embedding backend 'onnx' unavailable (RuntimeError: " \
                                    f"{embed_module.ORT_AFTER_USEARCH})"
    finally:
        load_backend.cache_clear()


@pytest.mark.slow
def test_an_export_failure_falls_back_to_torch_with_a_warning(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(embed_module, "export_onnx", broken)
    load_backend.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="curation.embed"):
            embedder = load_backend("openvino", 256)
        assert embedder.backend == "bf16"
        assert embedder.fallback == ("embedding backend 'openvino' unavailable "
                                     "(RuntimeError: exporter broke)")
        assert [r.getMessage() for r in caplog.records] == [
            embedder.fallback + "; falling back to torch bf16"]
        assert embedder.encode(["a text", "another text"]).shape == (2, 384)
    finally:
        load_backend.cache_clear()


def test_a_fallback_is_named_in_the_dedup_summary(tmp_path, fake_model):
    ws = tmp_path / "ws"
    path = write_jsonl(tmp_path / "d.jsonl", [{"messages": conv("red apple", "a fruit")}])
    stages.ingest(ws, str(path), "openai")
    fake_model.fallback = "embedding backend 'openvino' unavailable (RuntimeError: broke)"
    summary = stages.dedup(ws, plan=DedupPlan())
    assert (summary["embedded_texts"], summary["embedding_backend"]) == (1, "fake")
    assert summary["embedding_fallback"] == fake_model.fallback


def test_a_one_row_search_is_shaped_like_a_batch():
    from usearch.index import Index

    from curation.dedup.ann import _search

    index = Index(ndim=4, metric="ip")
    index.add(np.arange(4), np.eye(4, dtype=np.float32))
    keys, distances, counts = _search(index, np.eye(4, dtype=np.float32)[[2]], 2, 1)
    assert keys.shape == distances.shape == (1, 2) and counts.tolist() == [2]
    assert keys[0, 0] == 2 and distances[0, 0] == 0.0


def test_openvino_leaves_the_alternate_signal_stack_as_it_was():
    """OpenVINO's CPU plugin swapped the thread's alternate signal stack for one it later
    freed; the next SIGTERM (a job cancel) then crashed the process (segfault)."""
    import ctypes

    def current():
        stack = embed_module._SignalStack()
        assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
        return stack.ss_sp, stack.ss_size, stack.ss_flags

    before = current()
    embedder = load_backend("openvino", 256)
    assert embedder.backend == "openvino" and embedder.fallback is None
    assert current() == before
    assert embedder.encode(["a text", "another text"]).shape == (2, 384)
    assert current() == before
