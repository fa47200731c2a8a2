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

from workbench.errors import StageError
from workbench.store import open_workspace

log = logging.getLogger("workbench.stages")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def ingest(workspace: Path, input_path: str, fmt: str = "auto") -> dict:
    """Read a file into a new dataset. Summary: rows_in, examples, rejects (+ reasons)."""
    from curation.formats import read_file

    result = read_file(input_path, fmt)
    with open_workspace(workspace) as ws:
        dataset_id = ws.add_dataset(Path(input_path).name, str(input_path), result.format,
                                    result.examples, result.rejects)
        summary = {"dataset_id": dataset_id, "format": result.format,
                   "rows_in": result.rows_in, "examples": len(result.examples),
                   "rejects": len(result.rejects),
                   "reject_reasons": dict(Counter(r.reason for r in result.rejects))}
        ws.record_stage("ingest", dataset_id, {"input": str(input_path), "format": fmt}, summary)
    return summary


def _examples(workspace: Path) -> tuple[int, list[dict]]:
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        return dataset_id, ws.examples(dataset_id)


def validate(workspace: Path, max_seq_len: int = 2048, base_model: str = "embedded") -> dict:
    """Schema and token-length findings. Summary: validation_findings, by_code, error_rows."""
    from curation.validate import ValidateConfig
    from curation.validate import validate as run_checks
    from training.data import token_length
    from training.model import ensure_base_model, load_tokenizer

    dataset_id, rows = _examples(workspace)
    tokenizer = load_tokenizer(ensure_base_model(base_model))
    findings = run_checks([(r["line"], r["messages"]) for r in rows],
                          ValidateConfig(max_seq_len=max_seq_len),
                          count_tokens=lambda m: token_length(tokenizer, m))
    records = [{"example_id": rows[f.index]["id"], "step": "validate", "code": f.code,
                "severity": f.severity, "message": f.message,
                "message_index": f.message_index} for f in findings]
    summary = {"validation_findings": len(findings),
               "by_severity": dict(Counter(f.severity for f in findings)),
               "by_code": dict(Counter(f.code for f in findings)),
               "error_rows": len({f.index for f in findings if f.severity == "error"})}
    with open_workspace(workspace) as ws:
        ws.replace_rows("findings", dataset_id, records, "AND step = ?", ["validate"])
        ws.record_stage("validate", dataset_id, {"max_seq_len": max_seq_len,
                                                 "base_model": base_model}, summary)
    return summary


def dedup(workspace: Path, semantic: bool = True, threshold: float = 0.95,
          plan=None, encode=None) -> dict:
    """Exact → near → semantic clusters (curation.dedup.dedup_levels), overrides re-applied.

    ``plan``: a DedupPlan (default: every level, policy 'longest'; ``semantic`` and
    ``threshold`` set its semantic level). ``encode``: texts → vectors, for tests.
    Summary: exact/near/semantic_duplicates, kept, overrides_reapplied.
    """
    from curation.dedup import DedupPlan, dedup_levels
    from workbench.store import dedup as store

    if plan is None:
        plan = DedupPlan()
        plan.semantic.semantic, plan.semantic.threshold = semantic, threshold
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = ws.examples(dataset_id)
        counts = store.finding_counts(ws, dataset_id)
    levels = dedup_levels([r["messages"] for r in rows], plan,
                          [counts.get(r["id"], 0) for r in rows], encode)
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
        ws.record_stage("dedup", dataset_id, asdict(plan), summary)
    return summary


def pii(workspace: Path, redact: bool = False) -> dict:
    """Presidio scan of every message; ``redact`` replaces spans with <ENTITY_TYPE>.

    Summary: pii_spans, by_entity, examples_with_pii, redacted (examples). Span values are
    never logged or returned, only types and offsets.
    """
    from curation.pii import PiiConfig, count_by_entity, redact_messages, scan_messages

    dataset_id, rows = _examples(workspace)
    config = PiiConfig()
    spans = scan_messages([r["messages"] for r in rows], config)
    records = [{"example_id": rows[s["example_index"]]["id"],
                "message_index": s["message_index"], "entity_type": s["entity_type"],
                "start_char": s["start"], "end_char": s["end"], "score": s["score"]}
               for s in spans]
    by_example: dict[int, list[dict]] = {}
    for s in spans:
        by_example.setdefault(s["example_index"], []).append(s)
    redacted = {rows[i]["id"]: redact_messages(rows[i]["messages"], found)
                for i, found in by_example.items()} if redact else {}
    summary = {"pii_spans": len(spans),
               "by_entity": count_by_entity(spans),
               "examples_with_pii": len(by_example), "redacted": len(redacted)}
    with open_workspace(workspace) as ws:
        ws.replace_rows("pii_spans", dataset_id, records)
        if redacted:
            ws.set_redactions(dataset_id, redacted, who="pipeline --redact")
        ws.record_stage("pii", dataset_id, {**asdict(config), "redact": redact}, summary)
    return summary


def split(workspace: Path, seed: int = 0, ratios: tuple = DEFAULT_RATIOS,
          stratify_by: str | None = None, include_duplicates: bool = False) -> dict:
    """Deterministic, grouped (optionally stratified) split in DuckDB. Summary: the sizes."""
    from curation.split import SplitConfig
    from workbench.store.dedup import assign_splits

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
    """Nearest training example and cosine for every validation/test example.

    Uses the latest dedup run's semantic settings (scope, threshold, encoder) so that "above
    the threshold" means "would have been a semantic duplicate". ``encode``: texts → vectors,
    for tests. Summary: held_out, above_threshold, max_similarity, threshold.
    """
    from curation.dedup import DedupConfig, scope_text
    from curation.embed import encode as default_encode
    from curation.leakage import report
    from workbench.store import dedup as store

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        run = ws.latest_run("dedup")
        rows = store.split_texts(ws, dataset_id)
    if not rows:
        raise StageError("no split yet: run `workbench split` first")
    semantic = (run or {}).get("config", {}).get("semantic") or {}
    config = DedupConfig(**{k: v for k, v in semantic.items() if k in asdict(DedupConfig())})
    texts = [scope_text(r["messages"], config.scope) for r in rows]
    vectors = encode(texts) if encode else default_encode(texts, config)
    records = report([r["example_id"] for r in rows], [r["split"] for r in rows], vectors,
                     config.threshold)
    sims = [r["similarity"] for r in records if r["similarity"] is not None]
    summary = {"held_out": len(records), "above_threshold": sum(r["above"] for r in records),
               "max_similarity": round(max(sims), 4) if sims else None,
               "threshold": config.threshold}
    with open_workspace(workspace) as ws:
        store.replace_leakage(ws, dataset_id, records)
        ws.record_stage("leakage", dataset_id, asdict(config), summary)
    return summary
