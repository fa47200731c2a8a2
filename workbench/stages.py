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


def dedup(workspace: Path, semantic: bool = True, threshold: float = 0.95) -> dict:
    """Exact then semantic clusters. Summary: exact_duplicates, semantic_duplicates, kept."""
    from curation.dedup import DedupConfig, exact_clusters, semantic_clusters

    dataset_id, rows = _examples(workspace)
    exact = exact_clusters([r["messages"] for r in rows])
    reps = [rows[c.index] for c in exact if c.representative == c.index]
    config = DedupConfig(semantic=semantic, threshold=threshold)
    near = semantic_clusters([r["messages"] for r in reps], config) if semantic else []
    records = [{"example_id": rows[c.index]["id"], "level": "exact",
                "representative_id": rows[c.representative]["id"], "similarity": 1.0}
               for c in exact]
    records += [{"example_id": reps[c.index]["id"], "level": "semantic",
                 "representative_id": reps[c.representative]["id"],
                 "similarity": round(c.similarity, 6)} for c in near]
    n_exact = sum(c.representative != c.index for c in exact)
    n_semantic = sum(c.representative != c.index for c in near)
    summary = {"exact_duplicates": n_exact, "semantic_duplicates": n_semantic,
               "kept": len(rows) - n_exact - n_semantic}
    with open_workspace(workspace) as ws:
        ws.replace_rows("dup_clusters", dataset_id, records)
        ws.record_stage("dedup", dataset_id, asdict(config), summary)
    return summary


def pii(workspace: Path, redact: bool = False) -> dict:
    """Presidio scan of every message; ``redact`` replaces every finding with <ENTITY_TYPE>.

    Summary: pii_spans, by_entity, examples_with_pii, redacted (examples). Span values are
    never logged or returned, only types and offsets. The redaction is a recorded decision
    (``workbench.privacy.redact``, who = "pipeline --redact") that resolves the spans it
    covers for the training gate.
    """
    from curation.pii import PiiConfig, count_by_entity, scan_messages

    dataset_id, rows = _examples(workspace)
    config = PiiConfig()
    spans = scan_messages([r["messages"] for r in rows], config)
    records = [{"example_id": rows[s["example_index"]]["id"],
                "message_index": s["message_index"], "entity_type": s["entity_type"],
                "start_char": s["start"], "end_char": s["end"], "score": s["score"]}
               for s in spans]
    summary = {"pii_spans": len(spans),
               "by_entity": count_by_entity(spans),
               "examples_with_pii": len({s["example_index"] for s in spans}), "redacted": 0}
    with open_workspace(workspace) as ws:
        ws.replace_rows("pii_spans", dataset_id, records)
    if redact and spans:
        from workbench.privacy import redact as apply_redaction

        summary["redacted"] = apply_redaction(workspace, "pipeline --redact",
                                              include_unreviewed=True)["examples"]
    with open_workspace(workspace) as ws:
        ws.record_stage("pii", dataset_id, {**asdict(config), "redact": redact}, summary)
    return summary


def split(workspace: Path, seed: int = 0, ratios: tuple = DEFAULT_RATIOS) -> dict:
    """Deterministic train/validation/test split in DuckDB. Summary: the three sizes."""
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        summary = ws.assign_splits(dataset_id, seed, tuple(ratios))
        ws.record_stage("split", dataset_id, {"seed": seed, "ratios": list(ratios)}, summary)
    return summary
