"""The curation steps' per-row work on Ray Data; cross-row decisions stay on the driver.

The local engine runs every step in one process. This engine ships the rows a step reads to
a Ray cluster as Parquet shards (``write_shards``), runs the per-row work as
``Dataset.map_batches`` with callable-class actors (each actor loads its model once: the
Presidio analyzer, the sentence encoder, the tokenizer), and brings one result per row back
to the driver, which applies the same cross-row rule as the local engine:

- validate: templated / trainable / OpenAI token counts on the workers
  (``curation.validate.measure_tokens``), the checks on the driver (``curation.validate``);
- exact dedup: the SHA-256 of the normalized text (``curation.dedup.exact.text_key``) and
  the policy keys (length, content hash) on the workers; rows are grouped on that hash in the
  policy's visit order (``exact_key_clusters``);
- near dedup: the MinHash signatures on the workers (``curation.dedup.near.signatures``),
  the LSH bands and the leader rule over the band collisions on the driver
  (``lsh_bands`` + ``minhash_leader_clusters``, as ``near_text_clusters`` does);
- semantic dedup: the embeddings on the workers (``curation.embed.load_backend``), the
  leader rule with HNSW candidates on the driver (``curation.dedup.ann``);
- PII: ``curation.pii.scan_messages`` per batch of examples on the workers (each text is
  analysed on its own, so batching does not change a span);
- quality: the model-free heuristics (``curation.quality.heuristics``) on the workers.

So the exact and near clusters, the PII spans and the findings equal the local engine's by
construction; the embeddings equal them up to the encoder's padding within a batch.

The driver's process starts a local Ray (``num_cpus`` CPUs, no dashboard, usage statistics
off, bound to 127.0.0.1) unless an address is given (``auto``, ``HOST:PORT`` or
``ray://HOST:10001``). The workers need this project importable and the model packages
installed (README "Curation on a Ray cluster"); the shards folder must be reachable from
every worker at the same path.

Run as: ``with ray_session(RayOptions()) as options: signatures_on_ray(texts, config, options)``
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from common.errors import StageError

log = logging.getLogger("curation.engine_ray")
ENGINES = ("local", "ray")
# Set before Ray is imported: no usage statistics, no dashboard or metrics exporter to reach.
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
                   "RAY_DISABLE_DOCKER_CPU_WARNING": "1", "RAY_ENABLE_RECORD_ACTOR_TASK_LOGGING": "0",
                   "RAY_DEDUP_LOGS": "0", "RAY_enable_metrics_collection": "0",
                   "RAY_gcs_rpc_server_reconnect_timeout_s": "10"}
Progress = Callable[[dict], None]


@dataclass
class RayOptions:
    """Where and how the per-row work runs on Ray."""

    address: str | None = field(default=None, metadata={
        "help": "Ray cluster: none = start a local Ray on this machine; 'auto' (the cluster "
                "this machine belongs to) or ray://HOST:10001 for an existing one."})
    num_cpus: int = field(default=2, metadata={
        "help": "CPUs of the local Ray this process starts (ignored with an address)."})
    concurrency: int = field(default=2, metadata={
        "help": "Actors per step (each loads the step's model once)."})
    batch_size: int = field(default=512, metadata={
        "help": "Most rows per map_batches batch (fewer when an equal share per actor is less)."})
    rows_per_shard: int = field(default=5000, metadata={"help": "Rows per Parquet shard."})
    shards_dir: str | None = field(
        default_factory=lambda: os.environ.get("WORKBENCH_RAY_SHARDS") or None, metadata={
            "help": "Folder for the Parquet shards (must be reachable from every worker); "
                    "default $WORKBENCH_RAY_SHARDS, else a temporary folder on this machine. "
                    "Each step's shards are removed when it ends."})


def check_engine(engine: str) -> str:
    """``engine`` if it is one of ENGINES; raises StageError naming the choices."""
    if engine not in ENGINES:
        raise StageError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


def _init(options: RayOptions) -> None:
    local = options.address in (None, "", "local")
    for name, value in RAY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if local:
        # ray.init turns a 127.0.0.1 node address into the machine's own interface address
        # unless Ray clusters are switched off for this process (ray._private.services.
        # get_node_ip_address); a local Ray then binds and talks on loopback only.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = not local  # read at call time, also after an earlier import
    if local:  # a SIGTERM during the start stops it at once: a local Ray has no traffic to drain
        ray_constants.RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S = 0.0

    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if local:
            ray.init(num_cpus=options.num_cpus, _node_ip_address="127.0.0.1", **kwargs)
        else:
            kwargs.pop("include_dashboard")
            ray.init(address=options.address, **kwargs)
    except Exception as exc:  # ConnectionError, TimeoutError, ValueError, RuntimeError...
        where = options.address or "a local Ray"
        raise StageError(f"Ray at {where} does not answer: {_first_line(exc)}") from None
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


@contextmanager
def ray_session(options: RayOptions | None = None) -> Iterator[RayOptions]:
    """Connect to Ray for the ``with`` block (start a local one without an address).

    A session already connected in this process (a test's, a bench's) is reused and left
    connected; one started here is shut down at the end, also on an error or a cancel, which
    stops the job's actors and tasks; the processes the start added under this one (a local
    Ray's GCS, raylet, agents and workers) are gone when the block has exited
    (``_stop_processes``). ``ray.init`` sets its own SIGTERM handler (exit, after killing a
    local Ray's processes); a handler this process had set (a job's cancel) is put back, so
    a SIGTERM stays that handler's cancel, also during the start (``_caller_sigterm``).
    Raises StageError when the address does not answer.
    """
    import ray

    options = options or RayOptions()
    if ray.is_initialized():
        yield options
        return
    before = {p.pid for p in _descendants()}
    try:
        with _caller_sigterm():
            _init(options)
        yield options
    finally:
        started = [p for p in _descendants() if p.pid not in before]
        ray.shutdown()
        _stop_processes(started)


def _descendants() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


def _running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes of ``procs`` still running (a zombie has ended: its parent, or an init
    that does not reap, just has not collected it)."""
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def _stop_processes(procs: list[psutil.Process], wait_s: float = 5.0) -> None:
    """SIGTERM to those of ``procs`` still running, SIGKILL to any left after ``wait_s``.

    After ``ray.shutdown`` a local Ray's workers and its raylet's agents notice that the
    raylet is gone only on their next check (measured here: agents up to a minute later)."""
    left = _running(procs)
    for proc in left:
        with suppress(psutil.NoSuchProcess):
            proc.terminate()
    end = time.monotonic() + wait_s
    while (left := _running(left)) and time.monotonic() < end:
        time.sleep(0.05)
    for proc in left:
        with suppress(psutil.NoSuchProcess):
            proc.kill()


@contextmanager
def _caller_sigterm() -> Iterator[None]:
    """Keep this process's own SIGTERM handler across ``ray.init``.

    When the handler before is a Python function (a job's cancel), it is restored after the
    block; a SIGTERM that arrived during the block ran Ray's handler instead (which stops
    the processes Ray had started and raises SystemExit): that SystemExit becomes a call of
    the restored handler, so the caller sees its own cancel (StageError when that handler
    returns). A default or ignored handler (a command run in a terminal) leaves Ray's
    handler in place. Only the main thread can set handlers; elsewhere the block runs
    unchanged.
    """
    before = signal.getsignal(signal.SIGTERM)
    if not callable(before) or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        yield
    except SystemExit:
        signal.signal(signal.SIGTERM, before)
        before(signal.SIGTERM, None)
        raise StageError("the Ray start was stopped by a SIGTERM") from None
    finally:
        signal.signal(signal.SIGTERM, before)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def write_shards(records: list[dict], folder: Path, rows_per_shard: int) -> list[Path]:
    """Write ``records`` (dicts of the same keys) as Parquet files of ``rows_per_shard`` rows,
    ``part-00000.parquet`` ... in ``folder``. Returns the paths (none for no record)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, len(records), rows_per_shard)):
        path = folder / f"part-{n:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(records[start:start + rows_per_shard]), path)
        paths.append(path)
    return paths


_RAISED = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\b[^:]*: \S")


def _worker_error(step: str, exc: BaseException) -> StageError:
    """One message for a failure inside Ray: the step and the worker's own exception.

    Ray nests a worker's exception (UserCodeException → RayTaskError → the error; an actor
    whose constructor failed: ActorDiedError, with the traceback in its text). The message
    is the last ``Type: message`` line of the innermost exception that has one, not counting
    Ray's own wrappers (``ray.exceptions.UserCodeException: UDF failed to process a data
    block.`` follows the step's error in a Ray Data worker's traceback) while another
    line is there."""
    chain, cause = [], exc
    while isinstance(cause, BaseException) and all(cause is not c for c in chain):
        chain.append(cause)
        cause = getattr(cause, "cause", None) or cause.__cause__ or cause.__context__
    for error in reversed(chain):
        lines = [line.strip() for line in str(error).splitlines()]
        raised = [line for line in lines if _RAISED.match(line)]
        raised = [line for line in raised if not line.startswith("ray.")] or raised
        if raised:
            return StageError(f"{step} failed on a Ray worker: {raised[-1]}")
    named = [e for e in chain if str(e).strip()] or chain
    return StageError(f"{step} failed on a Ray worker: {_first_line(named[-1])}")


def map_rows(step: str, records: list[dict], actor: type, actor_kwargs: dict,
             options: RayOptions, on_progress: Progress | None = None) -> list[bytes]:
    """Run ``actor(**actor_kwargs)`` over ``records`` ({"idx", "data"} each: row position and
    its input as a string) on Ray; returns the actor's ``out`` bytes in ``idx`` order.

    The records go out as Parquet shards (``options.shards_dir`` or a temporary folder,
    removed after), ``map_batches`` runs ``options.concurrency`` actors of one CPU each.
    ``on_progress`` gets {"step", "total", "message"} as batches come back. Raises
    StageError when a worker fails (a missing model, an exception in the step).
    """
    import ray
    import ray.data

    if not records:
        return []
    root = Path(options.shards_dir) if options.shards_dir else None
    folder = Path(tempfile.mkdtemp(prefix=f"ray-{step}-", dir=root))
    try:
        # at least one shard per actor: Ray Data hands each actor whole files' blocks
        per_shard = min(options.rows_per_shard, -(-len(records) // options.concurrency))
        paths = write_shards(records, folder, per_shard)
        # Ray Data reads small files into one block, which one actor would take alone:
        # blocks of a batch each spread the work over every actor
        dataset = ray.data.read_parquet(str(folder), override_num_blocks=len(paths))
        # at most an equal share per actor, so a few hundred rows still reach every actor
        batch = min(options.batch_size, -(-len(records) // options.concurrency))
        dataset = dataset.repartition(target_num_rows_per_block=batch).map_batches(
            actor, fn_constructor_kwargs=actor_kwargs, batch_size=batch,
            compute=ray.data.ActorPoolStrategy(size=options.concurrency),
            num_cpus=actor_cpus(options.concurrency),
            batch_format="pyarrow", max_restarts=0)
        out: list[bytes | None] = [None] * len(records)
        done, start = 0, time.perf_counter()
        # pyarrow, not numpy: numpy would hold the bytes as fixed-width ``S`` values, which
        # drop trailing NUL bytes (a signature or a vector ending in a zero byte)
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            idx = batch.column("idx").to_pylist()
            for i, value in zip(idx, batch.column("out").to_pylist(), strict=True):
                out[i] = value
            done += len(idx)
            if on_progress:
                on_progress({"step": done, "total": len(records),
                             "message": f"{step} on Ray: {done}/{len(records)} rows "
                                        f"({time.perf_counter() - start:.0f} s)"})
    except ray.exceptions.RayError as exc:  # a worker's exception arrives wrapped in one
        # chained: a job's log prints Ray's report (the worker's traceback) before the
        # one-line error's traceback; a page or the CLI shows the line alone
        raise _worker_error(step, exc) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    missing = [i for i, value in enumerate(out) if value is None]
    if missing:
        raise StageError(f"{step} on Ray returned no result for {len(missing)} rows")
    return out


def actor_cpus(concurrency: int) -> float:
    """CPUs each actor reserves: one, or less so that one CPU of the cluster stays free.

    Ray Data lists and reads the Parquet files with tasks of one CPU each; when the actors
    hold every CPU those tasks never start (measured: a 2-CPU local Ray with 2 one-CPU
    actors hung before the first batch). A fraction is a reservation, not a limit: each
    actor still runs on a whole core."""
    import ray

    total = ray.cluster_resources().get("CPU", 1.0)
    return max(0.1, min(1.0, (total - 1.0) / max(1, concurrency)))


def _rows(step: str, items: list[str]) -> list[dict]:
    return [{"idx": i, "data": item} for i, item in enumerate(items)]


def _inputs(batch) -> list[str]:
    """The ``data`` strings of a pyarrow batch."""
    return batch.column("data").to_pylist()


def _result(batch, values: list[bytes]):
    """The actor's output table: the batch's ``idx`` and one ``out`` bytes per row."""
    import pyarrow as pa

    return pa.table({"idx": batch.column("idx"), "out": pa.array(values, pa.binary())})


class _Json:
    """Base actor: decodes each row's JSON input, encodes each result as JSON bytes."""

    def one(self, item):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __call__(self, batch):
        return _result(batch, [json.dumps(self.one(json.loads(d))).encode()
                               for d in _inputs(batch)])


class RowKeys(_Json):
    """Per conversation: content length and SHA-256 (the policy's keys,
    ``curation.dedup.primitives.policy_keys``), and the exact key of each scope."""

    def __init__(self, scopes: list[str]):
        self.scopes = scopes

    def one(self, messages):
        from curation.dedup.exact import text_key
        from curation.dedup.primitives import policy_keys, scope_text

        length, key = policy_keys(messages)
        return {"length": length, "key": key,
                "exact": {s: text_key(scope_text(messages, s)) for s in self.scopes}}


class Signatures:
    """MinHash signatures (``curation.dedup.near.signatures``) of the batch's texts."""

    def __init__(self, config):
        self.config = config

    def __call__(self, batch):
        from curation.dedup.near import signatures

        sigs = signatures(_inputs(batch), self.config)
        return _result(batch, [row.tobytes() for row in sigs])


class Embeddings:
    """Sentence embeddings of the batch's texts; the encoder is loaded once per actor
    (``curation.embed.load_backend``, same backend and window as the local engine)."""

    def __init__(self, backend: str, max_seq_length: int, batch_size: int):
        from curation.embed import load_backend

        self.embedder = load_backend(backend, max_seq_length)
        self.batch_size = batch_size

    def __call__(self, batch):
        vectors = self.embedder.encode(_inputs(batch), self.batch_size)
        tag = self.embedder.backend.encode()
        return _result(batch, [tag + b"\0" + np.asarray(v, np.float32).tobytes()
                               for v in vectors])


class Measure(_Json):
    """Token counts of each conversation (``curation.validate.measure_tokens`` with the
    base model's tokenizer, loaded once per actor, and the OpenAI guide's count)."""

    def __init__(self, model_dir: str, max_seq_len: int):
        from training.model import load_tokenizer

        self.tokenizer = load_tokenizer(Path(model_dir))
        self.max_seq_len = max_seq_len

    def one(self, messages):
        from curation.cost import num_tokens_from_messages
        from curation.validate import measure_tokens

        n_tokens, trainable = measure_tokens(self.tokenizer, messages, self.max_seq_len)
        error = str(trainable) if isinstance(trainable, ValueError) else None
        return {"n_tokens": n_tokens, "trainable": None if error else trainable,
                "error": error, "openai": num_tokens_from_messages(messages)}


class PiiScan(_Json):
    """``curation.pii.scan_messages`` of each example; the analyzer is built once per actor
    (raises when the spaCy model is not installed on the worker)."""

    def __init__(self, config):
        from curation.pii import analyzer

        self.config = config
        analyzer(self.config.spacy_model, self.config.language, self.config.context_lemmas)

    def __call__(self, batch):
        from curation.pii import scan_messages

        examples = [json.loads(d) for d in _inputs(batch)]
        per_example: list[list[dict]] = [[] for _ in examples]
        for row in scan_messages(examples, self.config, 1):
            per_example[row.pop("example_index")].append(row)
        return _result(batch, [json.dumps(rows).encode() for rows in per_example])


class Heuristics(_Json):
    """The model-free quality signals of each conversation (``curation.quality.heuristics``)."""

    def __init__(self, ngram: int):
        self.ngram = ngram

    def one(self, messages):
        from curation.quality import heuristics

        return heuristics(messages, self.ngram)


def _messages(conversations: list[list[dict]]) -> list[str]:
    return [json.dumps(c) for c in conversations]


def _decoded(values: list[bytes]) -> list:
    return [json.loads(v) for v in values]


def row_keys(conversations: list[list[dict]], scopes: list[str], options: RayOptions,
             on_progress: Progress | None = None) -> list[dict]:
    """Per conversation on Ray: {"length", "key", "exact": {scope: SHA-256 hex}}."""
    return _decoded(map_rows("dedup keys", _rows("keys", _messages(conversations)), RowKeys,
                             {"scopes": sorted(set(scopes))}, options, on_progress))


def signatures_on_ray(texts: list[str], config, options: RayOptions,
                      on_progress: Progress | None = None) -> np.ndarray:
    """(n, num_perm) uint32: ``curation.dedup.near.signatures(texts, config)`` on Ray."""
    values = map_rows("near dedup", _rows("near", texts), Signatures, {"config": config},
                      options, on_progress)
    if not values:
        return np.zeros((0, config.num_perm), dtype=np.uint32)
    return np.frombuffer(b"".join(values), dtype=np.uint32).reshape(len(texts), -1)


def embed_on_ray(texts: list[str], config, options: RayOptions,
                 on_progress: Progress | None = None) -> tuple[np.ndarray, str | None]:
    """((n, 384) float32 L2-normalized vectors of ``texts``, the backend the workers used).

    Each distinct text is embedded once, as ``curation.embed.embed`` does."""
    from curation.embed import DIMENSION

    distinct = list(dict.fromkeys(texts))
    values = map_rows("semantic dedup", _rows("embed", distinct), Embeddings,
                      {"backend": config.backend, "max_seq_length": config.max_seq_length,
                       "batch_size": config.batch_size}, options, on_progress)
    if not values:
        return np.zeros((0, DIMENSION), dtype=np.float32), None
    backend = values[0].split(b"\0", 1)[0].decode()
    vectors = np.stack([np.frombuffer(v.split(b"\0", 1)[1], dtype=np.float32) for v in values])
    where = {t: i for i, t in enumerate(distinct)}
    return vectors[[where[t] for t in texts]], backend


def measure_on_ray(conversations: list[list[dict]], model_dir: Path, max_seq_len: int,
                   options: RayOptions, on_progress: Progress | None = None) -> list[dict]:
    """Per conversation on Ray: {"n_tokens", "trainable", "error", "openai"} (see Measure)."""
    return _decoded(map_rows("validate", _rows("validate", _messages(conversations)), Measure,
                             {"model_dir": str(model_dir), "max_seq_len": max_seq_len},
                             options, on_progress))


def pii_on_ray(conversations: list[list[dict]], config, options: RayOptions,
               on_progress: Progress | None = None) -> list[dict]:
    """``curation.pii.scan_messages(conversations, config)`` with the scan on Ray: the same
    rows in the same order (example, message, start)."""
    values = map_rows("pii", _rows("pii", _messages(conversations)), PiiScan,
                      {"config": config}, options, on_progress)
    return [{"example_index": i, **row} for i, value in enumerate(values)
            for row in json.loads(value)]


def heuristics_on_ray(conversations: list[list[dict]], ngram: int, options: RayOptions,
                      on_progress: Progress | None = None) -> list[dict]:
    """``curation.quality.heuristics(messages, ngram)`` of each conversation, on Ray."""
    return _decoded(map_rows("quality", _rows("quality", _messages(conversations)),
                             Heuristics, {"ngram": ngram}, options, on_progress))


def dedup_levels_on_ray(conversations: list[list[dict]], plan, options: RayOptions,
                        findings: list[int] | None = None, encode: Callable | None = None,
                        on_progress: Progress | None = None) -> dict:
    """``curation.dedup.dedup_levels`` with the per-row work on Ray; the same Clusters.

    The policy keys and exact keys of every row come from the workers in one pass; the
    near level's signatures are computed for the exact level's representatives only, the
    semantic level's embeddings for the near level's (through ``encode`` when given:
    texts → vectors, e.g. a cache in front of ``embed_on_ray``). The visit order, the
    grouping and the leader rules run here, with the local engine's functions.
    """
    from curation.dedup.ann import ann_leader_clusters
    from curation.dedup.exact import exact_key_clusters
    from curation.dedup.near import lsh_bands, minhash_leader_clusters
    from curation.dedup.primitives import Cluster, order_by_keys, scope_text

    plan.check()
    keys = row_keys(conversations, [plan.exact.scope], options, on_progress)
    alive = order_by_keys([k["length"] for k in keys], [k["key"] for k in keys],
                          plan.policy, findings)
    out: dict[str, list[Cluster]] = {}

    def near(rows: list[int]) -> list[Cluster]:
        texts = [scope_text(conversations[r], plan.near.scope) for r in rows]
        sigs = signatures_on_ray(texts, plan.near, options, on_progress)
        return minhash_leader_clusters(sigs, lsh_bands(sigs, plan.near), plan.near.threshold)

    def semantic(rows: list[int]) -> list[Cluster]:
        texts = [scope_text(conversations[r], plan.semantic.scope) for r in rows]
        vectors = encode(texts) if encode else embed_on_ray(texts, plan.semantic, options,
                                                            on_progress)[0]
        return ann_leader_clusters(vectors, plan.semantic.threshold, k=plan.semantic.k)

    steps = {"exact": (plan.exact.enabled,
                       lambda rows: exact_key_clusters([keys[r]["exact"][plan.exact.scope]
                                                        for r in rows])),
             "near": (plan.near.enabled, near),
             "semantic": (plan.semantic.semantic, semantic)}
    for level, (enabled, cluster) in steps.items():
        if not enabled or not alive:
            continue
        out[level] = [Cluster(alive[c.index], alive[c.representative], c.similarity)
                      for c in cluster(alive)]
        alive = [c.index for c in out[level] if c.index == c.representative]
    return out
