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
from curation.privacy_gate import PrivacyGateError, gate_decision
from workbench.paths import write_file, write_roots
from workbench.store import open_workspace
from workbench.store import privacy as store
from workbench.store.datasets import has_split


def redact(workspace: Path, who: str, operators: dict[str, str] | None = None,
           default: str = "replace", include_unreviewed: bool = False,
           processes: int = 1) -> dict:
    """Redact the accepted findings (and the unreviewed ones with ``include_unreviewed``) of
    the current dataset, each value wherever it occurs as a whole word in its example
    (``curation.pii_redact.redact_example``); rejected findings are left alone unless their
    value is redacted elsewhere in the same example.

    Each redacted message is re-scanned; when an accepted value survived, RedactionError is
    raised and nothing is stored. Applying the redaction records a ``redacted`` decision per
    covered finding (resolving it for the gate). ``processes``: the re-scan's
    (``curation.pii.scan``: forked, so never more than 1 inside Streamlit). Summary:
    examples, spans, operators, rescan_findings.
    """
    from curation.pii import DEFAULT_ENTITIES, PiiConfig, Span, scan
    from curation.pii_redact import RedactionPolicy, check_redacted, redact_example

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
    keys, originals, outputs, spans = [], [], [], []
    for example_id in sorted({e for e, _ in by_message}):
        texts = [m.get("content") or "" for m in examples[example_id]]
        found = [[Span(r["entity_type"], r["start_char"], r["end_char"], r["score"])
                  for r in by_message.get((example_id, m), [])] for m in range(len(texts))]
        done, full = redact_example(texts, found, policy, salt)
        changed = [m for m in range(len(texts)) if full[m]]  # the others are left as they are
        keys += [(example_id, m) for m in changed]
        originals += [texts[m] for m in changed]
        outputs += [done[m] for m in changed]
        spans += [full[m] for m in changed]
    types = tuple(sorted(set(DEFAULT_ENTITIES) | {s.entity_type for ss in spans for s in ss}))
    check = check_redacted(originals, outputs, spans,
                           scan(outputs, PiiConfig(entities=types), processes))
    redacted: dict[int, list[dict]] = {}
    for (example_id, message_index), text in zip(keys, outputs, strict=True):
        messages = redacted.setdefault(example_id, [dict(m) for m in examples[example_id]])
        messages[message_index]["content"] = text
    covered = [r for k in keys for r in by_message.get(k, [])]
    policy_facts = {"operators": dict(policy.operators), "default": policy.default}
    with open_workspace(workspace) as ws:
        store.store_redaction(ws, dataset_id, redacted, covered, who, policy_facts)
    return {"examples": len(redacted), "spans": len(covered), **policy_facts, **check}


def gate_version(ws, dataset_id: int) -> str:
    """The dataset version the gate and an override refer to: the split rows as training will
    read them, or, before any split, the curated rows (so the gate can be checked early; an
    override given then covers that content only)."""
    from workbench.store.versions import create_version, record_version

    if has_split(ws, dataset_id):
        return record_version(ws, dataset_id)

    return create_version(ws, dataset_id, "privacy review")["id"]


def gate(workspace: Path, threshold: float = store.DEFAULT_GATE_THRESHOLD) -> dict:
    """Would training start? {"passes", "unreviewed", "accepted_not_redacted", "by_entity",
    "override"} for the current dataset version (counts only)."""
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        version = gate_version(ws, dataset_id)
        block = store.blocking(ws, dataset_id, threshold)
        over = store.override_for(ws, dataset_id, version)
    return {"passes": gate_decision(block, over).passes, "dataset_version": version, **block,
            "override": over}


def check_gate(ws, dataset_id: int, version: str,
               threshold: float = store.DEFAULT_GATE_THRESHOLD) -> dict:
    """The privacy facts for lineage.json, or PrivacyGateError when training must stop
    (``curation.privacy_gate.gate_decision``: nothing open, or this version overridden)."""
    block = store.blocking(ws, dataset_id, threshold)
    decision = gate_decision(block, store.override_for(ws, dataset_id, version))
    if not decision.passes:
        raise PrivacyGateError(decision.refusal)
    return {"gate_threshold": threshold, "unreviewed": block["unreviewed"],
            "accepted_not_redacted": block["accepted_not_redacted"],
            "decisions": store.summary(ws, dataset_id)["by_status"],
            "override": decision.override}


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
    from curation.pii_phone import region_label

    lines += ["", "Phone numbers by region: " + (", ".join(
        f"{region_label(r['region'], r['region_assumed']) or 'unknown'} {r['findings']}"
        for r in data.get("phone_regions", [])) or "none")]
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
