"""Privacy stages over a workspace: redact (with the re-scan check), the training gate, and
the report file. The SQL is in ``workbench.store.privacy``; the pure steps in ``curation``.

Matched values stay inside the workspace: summaries, errors and logs carry counts, types and
offsets only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from common.errors import WorkbenchError
from workbench.paths import write_file, write_roots
from workbench.store import open_workspace
from workbench.store import privacy as store


def redact(workspace: Path, who: str, operators: dict[str, str] | None = None,
           default: str = "replace", include_unreviewed: bool = False) -> dict:
    """Redact the accepted findings (and the unreviewed ones with ``include_unreviewed``) of
    the current dataset; rejected findings are left alone.

    Each redacted message is re-scanned; when an accepted value survived, RedactionError is
    raised and nothing is stored. Applying the redaction records a ``redacted`` decision per
    covered finding (resolving it for the gate). Summary: examples, spans, operators,
    rescan_findings.
    """
    from curation.pii import DEFAULT_ENTITIES, PiiConfig, Span, scan
    from curation.pii_redact import RedactionPolicy, check_redacted, redact_text

    if not who.strip():
        raise WorkbenchError("a redaction needs the name of who applies it (who)")
    policy = RedactionPolicy(tuple(sorted((operators or {}).items())), default)
    statuses = ("accept", "unreviewed") if include_unreviewed else ("accept",)
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = [r for r in store.findings(ws, dataset_id) if r["status"] in statuses]
        examples = {e["id"]: e["messages"] for e in ws.examples(dataset_id)}
        salt = store.salt(ws)
    by_message: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for row in rows:
        if row["end_char"] > row["start_char"]:
            by_message[(row["example_id"], row["message_index"])].append(row)
    keys = sorted(by_message)
    originals = [examples[e][m].get("content") or "" for e, m in keys]
    spans = [[Span(r["entity_type"], r["start_char"], r["end_char"], r["score"])
              for r in by_message[k]] for k in keys]
    outputs = [redact_text(t, s, policy, salt) for t, s in zip(originals, spans, strict=True)]
    types = tuple(sorted(set(DEFAULT_ENTITIES) | {s.entity_type for ss in spans for s in ss}))
    check = check_redacted(originals, outputs, spans, scan(outputs, PiiConfig(entities=types)))
    redacted: dict[int, list[dict]] = {}
    for (example_id, message_index), text in zip(keys, outputs, strict=True):
        messages = redacted.setdefault(example_id, [dict(m) for m in examples[example_id]])
        messages[message_index]["content"] = text
    covered = [r for k in keys for r in by_message[k]]
    policy_facts = {"operators": dict(policy.operators), "default": policy.default}
    with open_workspace(workspace) as ws:
        store.store_redaction(ws, dataset_id, redacted, covered, who, policy_facts)
    return {"examples": len(redacted), "spans": len(covered), **policy_facts, **check}


def gate_version(ws, dataset_id: int) -> str:
    """The dataset version the gate and an override refer to: the split rows as training will
    read them, or, before any split, the curated rows (so the gate can be checked early; an
    override given then covers that content only)."""
    if ws.scalar("SELECT count(*) FROM splits WHERE dataset_id = ?", [dataset_id]):
        return ws.record_version(dataset_id)
    from workbench.store.versions import create_version

    return create_version(ws, dataset_id, "privacy review")["id"]


def gate(workspace: Path, threshold: float = store.DEFAULT_GATE_THRESHOLD) -> dict:
    """Would training start? {"passes", "unreviewed", "accepted_not_redacted", "by_entity",
    "override"} for the current dataset version (counts only)."""
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        version = gate_version(ws, dataset_id)
        block = store.blocking(ws, dataset_id, threshold)
        over = store.override_for(ws, dataset_id, version)
    open_ = block["unreviewed"] + block["accepted_not_redacted"]
    return {"passes": not open_ or over is not None, "dataset_version": version, **block,
            "override": over}


def write_report(workspace: Path, out: Path, roots: list[Path] | None = None,
                 overwrite: bool = False) -> dict:
    """Write the privacy report to ``out`` (``.json``, else Markdown) inside ``roots``
    (default: the workspace; ``workbench.paths.write_file``); returns its summary."""
    with open_workspace(workspace, create=False) as ws:
        data = store.report(ws, ws.current_dataset())
    text = (json.dumps(data, indent=2, default=str, ensure_ascii=False)
            if Path(out).suffix == ".json" else report_markdown(data))
    out = write_file(out, roots or write_roots(workspace), text, overwrite)
    return {"report": str(out), "by_status": data["by_status"], "gate": data["gate"]}


def report_markdown(data: dict) -> str:
    """The report as Markdown: findings by type and status, gate, lists, deciders, audit."""
    statuses = ("unreviewed", "accept", "reject", "redacted")
    lines = [f"# Privacy report: dataset {data['dataset'].get('name', data['dataset']['id'])}",
             "", "| entity type | " + " | ".join(statuses) + " |",
             "|---|" + "---|" * len(statuses)]
    for entity, counts in data["by_entity"].items():
        lines.append(f"| {entity} | " + " | ".join(str(counts.get(s, 0)) for s in statuses)
                     + " |")
    gate = data["gate"]
    lines += ["", f"Gate (score >= {gate['threshold']}): {gate['unreviewed']} unreviewed, "
              f"{gate['accepted_not_redacted']} accepted but not redacted.", "",
              "## Who decided", ""]
    lines += [f"- {d['who']}: {d['decision']} {d['spans']} span(s), {d['first']} .. {d['last']}"
              for d in data["deciders"]] or ["- nobody yet"]
    lines += ["", "## Value lists (values kept in the workspace, not here)", ""]
    lines += [f"- {v['name']}: {v['size']} value(s), {v['entity_type'] or 'any type'}, "
              f"{v['decision']} by {v['who']} at {v['created_at']}"
              for v in data["value_lists"]] or ["- none"]
    lines += ["", f"Admins: {', '.join(data['admins']) or 'none'}", "", "## Audit log", ""]
    lines += [f"- {a['logged_at']} {a['actor']} {a['action']} "
              f"{json.dumps(a['detail'], ensure_ascii=False, default=str)}"
              for a in data["audit"]] or ["- empty"]
    return "\n".join(lines) + "\n"
