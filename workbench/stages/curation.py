"""The stages over a workspace: read from the store, call a pure step, write back, summarize.

Each stage function takes the workspace folder and its options and returns a JSON-able
summary (what the CLI prints and the pages show). The connection is held only while reading
or writing, never during the heavy computation, so the app and the CLI can share a workspace.
Torch, transformers and peft are imported only inside the stages that need them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from common.errors import NoDataset, StageError
from workbench.store import open_workspace

log = logging.getLogger("workbench.stages")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def ingest(workspace: Path, input_path: str, fmt: str = "auto", columns: list[str] = (),
           roles: list[str] = (), make_current: bool = True) -> dict:
    """Read a file (or saved HF dataset folder) into a new dataset, renaming ``columns`` and
    ``roles`` (``OLD=NEW`` pairs) first; with ``make_current`` it becomes the current dataset
    (``Workspace.current_dataset``), else the current one stays (the app asks first).
    Summary: dataset_id, format, rows_in, examples, rejects (+ reasons)."""
    from curation.formats import Mapping, read_file

    mapping = Mapping.parse(columns, roles)
    result = read_file(input_path, fmt, mapping)
    with open_workspace(workspace) as ws:
        previous = _current_or_none(ws)
        dataset_id = ws.add_dataset(Path(input_path).name, str(input_path), result.format,
                                    result.examples, result.rejects)
        ws.set_current_dataset(dataset_id if make_current or previous is None else previous)
        summary = {"dataset_id": dataset_id, "format": result.format,
                   "rows_in": result.rows_in, "examples": len(result.examples),
                   "rejects": len(result.rejects),
                   "reject_reasons": dict(Counter(r.reason for r in result.rejects))}
        ws.record_stage("ingest", dataset_id, {"input": str(input_path), "format": fmt,
                                               "columns": list(columns), "roles": list(roles)},
                        summary)
    return summary


def _current_or_none(ws) -> int | None:
    try:
        return ws.current_dataset()
    except NoDataset:
        return None


def _examples(workspace: Path) -> tuple[int, list[dict]]:
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        return dataset_id, ws.examples(dataset_id)


def _trainable(measured: tuple) -> int:
    if isinstance(measured[1], ValueError):
        raise measured[1]
    return measured[1] or 0


def validate(workspace: Path, max_seq_len: int | None = None,
             base_model: str = "embedded", engine: str = "local", ray=None,
             on_progress=None) -> dict:
    """Every validation check (curation.validate.CODES); token counts per example are kept
    for the length plot. ``max_seq_len``: default training's (training.config.MAX_SEQ_LEN).
    ``engine``: 'local' or 'ray' (the token counts on Ray workers, ``ray``: a
    curation.engine_ray.RayOptions; same findings). Summary: validation_findings,
    by_severity, by_code, error_rows. Raises StageError when Ray does not answer or a
    worker fails (nothing is written then)."""
    from curation.cost import num_tokens_from_messages
    from curation.engine_ray import check_engine
    from curation.validate import ValidateConfig, measure_tokens
    from curation.validate import validate as run_checks
    from training.config import MAX_SEQ_LEN
    from training.model import ensure_base_model, load_tokenizer

    check_engine(engine)
    max_seq_len = max_seq_len or MAX_SEQ_LEN
    dataset_id, rows = _examples(workspace)
    model_dir = ensure_base_model(base_model)
    if engine == "ray":
        from curation.engine_ray import measure_on_ray, ray_session

        with ray_session(ray) as options:
            got = measure_on_ray([r["messages"] for r in rows], model_dir, max_seq_len,
                                 options, on_progress)
        measured = {id(r["messages"]): (g["n_tokens"], ValueError(g["error"]) if g["error"]
                                        else g["trainable"]) for r, g in zip(rows, got)}
        openai = {id(r["messages"]): g["openai"] for r, g in zip(rows, got)}
    else:
        tokenizer = load_tokenizer(model_dir)
        measured = {id(r["messages"]): measure_tokens(tokenizer, r["messages"], max_seq_len)
                    for r in rows}
        openai = {id(r["messages"]): num_tokens_from_messages(r["messages"]) for r in rows}
    findings = run_checks([(r["line"], r["messages"]) for r in rows],
                          ValidateConfig(max_seq_len=max_seq_len),
                          count_tokens=lambda m: measured[id(m)][0] or 0,
                          count_trainable=lambda m: _trainable(measured[id(m)]),
                          count_openai_tokens=lambda m: openai[id(m)])
    records = [{"example_id": rows[f.index]["id"], "step": "validate", "code": f.code,
                "severity": f.severity, "message": f.message,
                "message_index": f.message_index} for f in findings]
    tokens = [{"example_id": r["id"], "n_tokens": measured[id(r["messages"])][0],
               "trainable_tokens": _count_or_none(measured[id(r["messages"])][1]),
               "openai_tokens": openai[id(r["messages"])]} for r in rows]
    summary = {"validation_findings": len(findings),
               "by_severity": dict(Counter(f.severity for f in findings)),
               "by_code": dict(Counter(f.code for f in findings)),
               "error_rows": len({f.index for f in findings if f.severity == "error"})}
    with open_workspace(workspace) as ws:
        ws.replace_rows("findings", dataset_id, records, "AND step = ?", ["validate"])
        ws.replace_rows("example_tokens", dataset_id, tokens)
        ws.record_stage("validate", dataset_id, {"max_seq_len": max_seq_len,
                                                 "base_model": base_model,
                                                 **_engine_config(engine, ray)}, summary)
    return summary


def _engine_config(engine: str, ray) -> dict:
    """What a stage records about its engine: nothing for the local one (its runs read as
    before), the engine and the address for Ray."""
    if engine == "local":
        return {}
    return {"engine": engine, "ray_address": getattr(ray, "address", None) or "local"}


def _count_or_none(value) -> int | None:
    return value if isinstance(value, int) else None


def dedup(workspace: Path, semantic: bool = True, threshold: float = 0.95,
          plan=None, encode=None, engine: str = "local", ray=None, on_progress=None) -> dict:
    """Exact → near → semantic clusters (curation.dedup.dedup_levels), overrides re-applied.

    ``plan``: a DedupPlan (default: every level, policy 'longest'; ``semantic`` and
    ``threshold`` set its semantic level). ``encode``: texts → vectors, for tests; without
    it the semantic level embeds through the workspace's embedding cache
    (workbench.store.embeddings), so texts embedded before are not embedded again.
    ``engine``: 'local' or 'ray' (curation.engine_ray.dedup_levels_on_ray: the per-row keys,
    signatures and embeddings on Ray workers, the same clusters; ``ray``: RayOptions).
    Summary: exact/near/semantic_duplicates, kept, overrides_reapplied; with the default
    encoder also embedded_texts, cached_texts (distinct texts) and embedding_backend.
    Raises StageError when Ray does not answer or a worker fails (nothing is written then).
    """
    from curation.dedup import DedupPlan, dedup_levels
    from curation.engine_ray import check_engine
    from workbench.store import dedup as store

    check_engine(engine)
    if plan is None:
        plan = DedupPlan()
        plan.semantic.semantic, plan.semantic.threshold = semantic, threshold
    cache = None
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = ws.examples(dataset_id)
        counts = store.finding_counts(ws, dataset_id)
    conversations = [r["messages"] for r in rows]
    findings = [counts.get(r["id"], 0) for r in rows]
    if engine == "ray":
        from curation.engine_ray import dedup_levels_on_ray, ray_session

        with ray_session(ray) as options:
            if encode is None and plan.semantic.semantic:
                encode, cache = _ray_cached_encoder(workspace, plan.semantic, options,
                                                    on_progress)
            levels = dedup_levels_on_ray(conversations, plan, options, findings, encode,
                                         on_progress)
    else:
        if encode is None and plan.semantic.semantic:
            encode, cache = _cached_encoder(workspace, plan.semantic)
        levels = dedup_levels(conversations, plan, findings, encode)
    records = [{"example_id": rows[c.index]["id"], "level": level,
                "representative_id": rows[c.representative]["id"],
                "similarity": round(c.similarity, 6)}
               for level, found in levels.items() for c in found]
    dropped = {level: sum(c.representative != c.index for c in levels.get(level, []))
               for level in ("exact", "near", "semantic")}
    with open_workspace(workspace) as ws:
        reapplied = store.replace_clusters(ws, dataset_id, records)
        kept = store.kept_count(ws, dataset_id)
        summary = {"exact_duplicates": dropped["exact"], "near_duplicates": dropped["near"],
                   "semantic_duplicates": dropped["semantic"], "kept": kept,
                   "overrides_reapplied": reapplied}
        if cache is not None and cache.used:
            summary.update(_cache_counts(cache))
        ws.record_stage("dedup", dataset_id, {**asdict(plan), **_engine_config(engine, ray)},
                        summary)
    return summary


def _ray_cached_encoder(workspace: Path, config, options, on_progress=None):
    """(texts → vectors: the cache's vectors, the missing ones embedded on Ray, the cache).

    The cache key names the requested backend; vectors a worker embedded with a fallback
    backend are stored under that backend's key (as the local encoder does)."""
    import numpy as np

    from curation.embed import model_id
    from curation.engine_ray import embed_on_ray
    from workbench.store.embeddings import EmbeddingCache

    cache = EmbeddingCache(workspace)

    def encode(texts: list[str]):
        key = (model_id(), config.backend, config.max_seq_length)
        distinct = list(dict.fromkeys(texts))
        found = cache.lookup(key, distinct)
        missing = [t for t in distinct if t not in found]
        if missing:
            vectors, backend = embed_on_ray(missing, config, options, on_progress)
            fresh = dict(zip(missing, vectors, strict=True))
            cache.store((key[0], backend or key[1], key[2]), fresh)
            found.update(fresh)
            if backend and backend != config.backend:
                cache.backend, cache.fallback = backend, f"Ray workers used {backend}"
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    return encode, cache


def _cached_encoder(workspace: Path, config):
    """(texts → vectors through the workspace's embedding cache, the cache)."""
    from curation.embed import encode
    from workbench.store.embeddings import EmbeddingCache

    cache = EmbeddingCache(workspace)
    return (lambda texts: encode(texts, config, cache)), cache


def _cache_counts(cache) -> dict:
    """Texts embedded / served from the cache, the backend used, and why it fell back."""
    out = {"embedded_texts": cache.stored, "cached_texts": cache.hits,
           "embedding_backend": cache.backend}
    return {**out, "embedding_fallback": cache.fallback} if cache.fallback else out


def pii(workspace: Path, redact: bool = False, engine: str = "local", ray=None,
        on_progress=None) -> dict:
    """Presidio scan of every message; ``redact`` replaces every finding with <ENTITY_TYPE>.

    Summary: pii_spans, by_entity, examples_with_pii, redacted (examples). Span values are
    never logged or returned, only types and offsets. The redaction is a recorded decision
    (``workbench.stages.privacy.redact``, who = "pipeline --redact") that resolves the spans it
    covers for the training gate. ``engine``: 'local' or 'ray' (the scan on Ray workers,
    curation.engine_ray.pii_on_ray: the same spans; ``ray``: RayOptions); the redaction runs
    here. Raises StageError when Ray does not answer or a worker fails (nothing is written).
    """
    from curation.engine_ray import check_engine
    from curation.pii import PiiConfig, count_by_entity, scan_messages, stage_processes

    check_engine(engine)
    dataset_id, rows = _examples(workspace)
    config = PiiConfig()
    if engine == "ray":
        from curation.engine_ray import pii_on_ray, ray_session

        with ray_session(ray) as options:
            spans = pii_on_ray([r["messages"] for r in rows], config, options, on_progress)
    else:
        spans = scan_messages([r["messages"] for r in rows], config, stage_processes())
    records = [{"example_id": rows[s["example_index"]]["id"],
                "message_index": s["message_index"], "entity_type": s["entity_type"],
                "start_char": s["start"], "end_char": s["end"], "score": s["score"],
                "region": s["region"], "region_assumed": s["region_assumed"]}
               for s in spans]
    summary = {"pii_spans": len(spans),
               "by_entity": count_by_entity(spans),
               "examples_with_pii": len({s["example_index"] for s in spans}), "redacted": 0}
    with open_workspace(workspace) as ws:
        ws.replace_rows("pii_spans", dataset_id, records)
    if redact and spans:
        from workbench.stages.privacy import redact as apply_redaction

        summary["redacted"] = apply_redaction(workspace, "pipeline --redact",
                                              include_unreviewed=True,
                                              processes=stage_processes())["examples"]
    with open_workspace(workspace) as ws:
        ws.record_stage("pii", dataset_id, {**asdict(config), "redact": redact,
                                            **_engine_config(engine, ray)}, summary)
    return summary


def split(workspace: Path, seed: int = 0, ratios: tuple = DEFAULT_RATIOS,
          stratify_by: str | None = None, include_duplicates: bool = False) -> dict:
    """Deterministic, grouped (optionally stratified) split in DuckDB. Summary: the sizes."""
    from curation.split import SplitConfig
    from workbench.store.splits import assign_splits

    config = SplitConfig(seed=seed, validation=ratios[1], test=ratios[2],
                         stratify_by=stratify_by, include_duplicates=include_duplicates)
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        summary = assign_splits(ws, dataset_id, seed, config.ratios, stratify_by,
                                include_duplicates)
        ws.record_stage("split", dataset_id, {"seed": seed, "ratios": list(config.ratios),
                                              "stratify_by": stratify_by,
                                              "include_duplicates": include_duplicates},
                        summary)
    return summary


def leakage(workspace: Path, encode=None) -> dict:
    """Nearest training example and cosine for every validation/test example; those at or
    above the threshold become ``test_leakage`` findings (severity warning).

    Uses the latest dedup run's semantic settings (scope, threshold, encoder) so that "above
    the threshold" means "would have been a semantic duplicate". ``encode``: texts → vectors,
    for tests; without it the vectors come through the workspace's embedding cache (the
    texts dedup embedded are not embedded again; nothing is embedded when there is no
    held-out or no training row). Summary: held_out, above_threshold (= the findings
    recorded), max_similarity, threshold; with the default encoder also embedded_texts,
    cached_texts, embedding_backend. Raises StageError before any split.
    """
    import numpy as np

    from curation.dedup import DedupConfig, scope_text
    from curation.leakage import findings, report
    from workbench.store import splits as store
    from workbench.store.datasets import example_lines

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        run = ws.latest_run("dedup", dataset_id=dataset_id)
        rows = store.split_texts(ws, dataset_id)
        lines = example_lines(ws, dataset_id)
        split_run = ws.latest_run("split", dataset_id=dataset_id)
    if not rows and (split_run is None or split_run["dataset_id"] != dataset_id):
        raise StageError("no split yet: run `workbench split` first")
    semantic = (run or {}).get("config", {}).get("semantic") or {}
    config = DedupConfig(**{k: v for k, v in semantic.items() if k in asdict(DedupConfig())})
    held = sum(r["split"] != "train" for r in rows)
    cache = None
    if 0 < held < len(rows):
        texts = [scope_text(r["messages"], config.scope) for r in rows]
        if encode is None:
            encode, cache = _cached_encoder(workspace, config)
        vectors = encode(texts)
    else:  # nothing to compare: no embedding
        vectors = np.zeros((len(rows), 0), dtype=np.float32)
    records = report([r["example_id"] for r in rows], [r["split"] for r in rows], vectors,
                     config.threshold)
    leaks = findings(records, lines)
    sims = [r["similarity"] for r in records if r["similarity"] is not None]
    summary = {"held_out": len(records), "above_threshold": len(leaks),
               "max_similarity": round(max(sims), 4) if sims else None,
               "threshold": config.threshold}
    if cache is not None and cache.used:
        summary.update(_cache_counts(cache))
    with open_workspace(workspace) as ws:
        store.replace_leakage(ws, dataset_id, records)
        ws.replace_rows("findings", dataset_id, leaks, "AND step = ?", ["leakage"])
        ws.record_stage("leakage", dataset_id, asdict(config), summary)
    return summary


def mix(workspace: Path, specs: list[str], total: int | None = None, seed: int = 0,
        name: str = "mix", make_current: bool = True) -> dict:
    """Mix the curated rows of several datasets (``ID:RATIO`` or ``ID:COUNT`` specs) into a
    new dataset; each row's meta names its source; ``make_current`` as for ``ingest``.
    Summary: dataset_id, rows, by_source."""
    from curation.formats import Example
    from curation.mix import MixSource, parse_spec
    from curation.mix import mix as draw
    from workbench.store.datasets import dataset_exists
    from workbench.store.versions import curated_rows

    parsed = [parse_spec(spec) for spec in specs]
    with open_workspace(workspace, create=False) as ws:
        sources = []
        for source, kind, value in parsed:
            if not dataset_exists(ws, _int(source)):
                raise StageError(f"no dataset {source} (see `workbench datasets`)")
            rows = curated_rows(ws, _int(source))
            sources.append(MixSource(source, rows, value if kind == "ratio" else None,
                                     int(value) if kind == "count" else None))
    mixed = draw(sources, total, seed)
    examples = [Example(i, r["messages"], r["meta"]) for i, r in enumerate(mixed, start=1)]
    with open_workspace(workspace) as ws:
        previous = _current_or_none(ws)
        dataset_id = ws.add_dataset(name, "mix " + " ".join(specs), "mix", examples, [])
        ws.set_current_dataset(dataset_id if make_current or previous is None else previous)
        summary = {"dataset_id": dataset_id, "format": "mix", "rows_in": len(examples),
                   "examples": len(examples), "rejects": 0, "rows": len(examples),
                   "by_source": dict(Counter(r["meta"]["source_dataset"] for r in mixed))}
        ws.record_stage("ingest", dataset_id, {"mix": specs, "total": total, "seed": seed},
                        summary)
    return summary


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StageError(f"dataset id '{text}' is not a number") from None
