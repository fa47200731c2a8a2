"""Privacy review in the store: span decisions, value lists, roles, what the training gate
counts (the gate's rule is ``curation.privacy_gate.gate_decision``).

A finding is a row of ``pii_spans`` (dataset, example, message, offsets, type, score). Its
status is its latest decision in ``pii_decisions``: ``accept`` (is PII), ``reject`` (false
positive) or ``redacted`` (a redaction covered it), else ``unreviewed``. Decisions are keyed
by (example, message, offsets, type), so they survive a re-scan that finds the same span.
No function here returns or logs a matched value except ``findings(..., with_context=True)``,
which the review page uses to show the span in context.
"""

from __future__ import annotations

import json
import re
import secrets

from common.errors import WorkbenchError
from curation.privacy_gate import DEFAULT_GATE_THRESHOLD
from workbench.store.workspace import Workspace

DECISIONS = ("accept", "reject")
KEY = ("example_id", "message_index", "start_char", "end_char", "entity_type")
CONTEXT_WORDS = 8  # whole words shown each side of a finding on the review page


_STATUS_SQL = """
    WITH latest AS (
        SELECT example_id, message_index, start_char, end_char, entity_type,
               arg_max(decision, id) AS decision, arg_max(who, id) AS who,
               arg_max(decided_at, id) AS decided_at, arg_max(bulk, id) AS bulk
        FROM pii_decisions WHERE dataset_id = $dataset
        GROUP BY example_id, message_index, start_char, end_char, entity_type)
    SELECT s.example_id, s.message_index, s.entity_type, s.start_char, s.end_char, s.score,
           s.region, s.region_assumed,
           coalesce(l.decision, 'unreviewed') AS status, l.who, l.decided_at, l.bulk
    FROM pii_spans s LEFT JOIN latest l USING (example_id, message_index, start_char,
                                               end_char, entity_type)
    WHERE s.dataset_id = $dataset"""


def findings(ws: Workspace, dataset_id: int, entity_type: str | None = None,
             status: str | None = None, min_score: float = 0.0,
             with_context: bool = False) -> list[dict]:
    """Findings with their status, ordered by type, score (high first), example, offsets.

    With ``with_context`` each row also has ``before``, ``value`` (the whole span) and
    ``after``: up to ``CONTEXT_WORDS`` whole words each side (``words_around``), with
    ``cut_before`` / ``cut_after`` true where the message goes on. PII, for the review page
    only.
    """
    rows = ws.query(f"""SELECT * FROM ({_STATUS_SQL}) WHERE ($type IS NULL OR entity_type = $type)
        AND ($status IS NULL OR status = $status) AND score >= $min
        ORDER BY entity_type, score DESC, example_id, message_index, start_char""",
                    {"dataset": dataset_id, "type": entity_type, "status": status,
                     "min": min_score})
    return _with_context(ws, dataset_id, rows) if with_context else rows


def blocking_findings(ws: Workspace, dataset_id: int, entity_type: str | None = None,
                      threshold: float = DEFAULT_GATE_THRESHOLD,
                      with_context: bool = False) -> list[dict]:
    """The findings that stop training (those ``blocking`` counts): unreviewed or accepted
    but not redacted, score >= ``threshold``, in the rows training would see; ordered and
    shaped like ``findings``."""
    rows = ws.query(f"""SELECT * FROM ({_STATUS_SQL}) WHERE ($type IS NULL OR entity_type = $type)
        AND score >= $threshold AND status IN ('unreviewed', 'accept') AND {_scope_sql()}
        ORDER BY entity_type, score DESC, example_id, message_index, start_char""",
                    {"dataset": dataset_id, "type": entity_type, "threshold": threshold})
    return _with_context(ws, dataset_id, rows) if with_context else rows


def words_around(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> dict:
    """The span ``text[start:end]`` whole, with up to ``words`` whole words before and after
    it (a word the span starts or ends inside is kept whole too); whitespace runs become one
    space. Returns {"before", "value", "after", "cut_before", "cut_after"}.

    >>> words_around("Dear Ann Lee, thanks for the call today.", 5, 12, 2)["after"]
    ', thanks for'
    """
    head = re.search(r"(?:\S+\s+){0,%d}\S*$" % words, text[:start])
    tail = re.match(r"^\S*(?:\s+\S+){0,%d}" % words, text[end:])
    before, after = head.group(0), tail.group(0)
    return {"before": _squeeze(before), "value": _squeeze(text[start:end]),
            "after": _squeeze(after), "cut_before": len(before) < start,
            "cut_after": len(after) < len(text) - end}


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _with_context(ws: Workspace, dataset_id: int, rows: list[dict]) -> list[dict]:
    texts = _message_texts(ws, dataset_id)
    for row in rows:
        text = texts.get((row["example_id"], row["message_index"]), "")
        row.update(words_around(text, row["start_char"], row["end_char"]))
    return rows


def _message_texts(ws: Workspace, dataset_id: int) -> dict[tuple[int, int], str]:
    texts = {}
    for row in ws.query("SELECT id, messages FROM examples WHERE dataset_id = ?", [dataset_id]):
        for j, message in enumerate(json.loads(row["messages"])):
            texts[(row["id"], j)] = message.get("content") or ""
    return texts


def summary(ws: Workspace, dataset_id: int) -> dict:
    """{entity_type: {status: count}} and totals per status."""
    rows = ws.query(f"SELECT entity_type, status, count(*) AS n FROM ({_STATUS_SQL}) "
                    "GROUP BY ALL ORDER BY entity_type, status", {"dataset": dataset_id})
    by_type: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for r in rows:
        by_type.setdefault(r["entity_type"], {})[r["status"]] = r["n"]
        totals[r["status"]] = totals.get(r["status"], 0) + r["n"]
    return {"by_entity": by_type, "by_status": totals}


def _check_decision(decision: str, who: str) -> None:
    if decision not in DECISIONS:
        raise WorkbenchError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not who.strip():
        raise WorkbenchError("a decision needs the reviewer's name (who)")


def record(ws: Workspace, dataset_id: int, spans: list[dict], decision: str, who: str,
           reason: str = "", bulk: str | None = None) -> int:
    """Store one decision per span (dicts with ``KEY``'s keys); returns how many."""
    if decision not in (*DECISIONS, "redacted"):
        _check_decision(decision, who)
    rows = [{"dataset_id": dataset_id, **{k: s[k] for k in KEY}, "decision": decision,
             "who": who, "reason": reason, "bulk": bulk} for s in spans]
    ws.insert("pii_decisions", rows)
    return len(rows)


def decide(ws: Workspace, dataset_id: int, spans: list[dict], decision: str, who: str,
           reason: str = "") -> int:
    """Accept or reject the given findings one by one; returns how many were recorded.

    Raises WorkbenchError for an unknown decision, an empty ``who`` or a span that is not a
    finding of this dataset.
    """
    _check_decision(decision, who)
    known = {tuple(r[k] for k in KEY) for r in findings(ws, dataset_id)}
    unknown = [s for s in spans if tuple(s[k] for k in KEY) not in known]
    if unknown:
        raise WorkbenchError(f"{len(unknown)} span(s) are not findings of dataset {dataset_id}")
    return record(ws, dataset_id, spans, decision, who, reason)


def decide_entity(ws: Workspace, dataset_id: int, entity_type: str, decision: str, who: str,
                  reason: str, min_score: float = 0.0, only_unreviewed: bool = True) -> int:
    """One reviewed action for every (unreviewed) finding of ``entity_type``; returns count.

    E.g. reject all PERSON findings of a math word-problem set (story characters). Recorded
    with ``bulk = "entity:<type>"`` and in the audit log.
    """
    _check_decision(decision, who)
    if not reason.strip():
        raise WorkbenchError("a bulk decision needs a reason")
    rows = findings(ws, dataset_id, entity_type, "unreviewed" if only_unreviewed else None,
                    min_score)
    n = record(ws, dataset_id, rows, decision, who, reason, bulk=f"entity:{entity_type}")
    ws.audit(who, f"pii_bulk_{decision}", {"dataset_id": dataset_id, "entity_type": entity_type,
                                           "spans": n, "reason": reason})
    return n


def value_matches(ws: Workspace, dataset_id: int, values: list[str],
                  entity_type: str | None = None) -> list[dict]:
    """The findings (of ``entity_type`` unless None) whose text is one of ``values``
    (case-insensitive, surrounding spaces ignored): what ``decide_values`` decides. Rows as
    ``findings`` gives them, without their text."""
    wanted = {v.strip().casefold() for v in values if v.strip()}
    texts = _message_texts(ws, dataset_id)
    return [r for r in findings(ws, dataset_id, entity_type)
            if texts.get((r["example_id"], r["message_index"]), "")[
                r["start_char"]:r["end_char"]].strip().casefold() in wanted]


def decide_values(ws: Workspace, dataset_id: int, name: str, values: list[str], decision: str,
                  who: str, reason: str, entity_type: str | None = None) -> int:
    """Decide every finding whose text is in ``values`` (case-insensitive); keeps the list.

    The list is stored in ``pii_value_lists`` under ``name`` (inside the workspace, like the
    data itself); the audit log gets its name and size, never the values. Returns count.
    """
    _check_decision(decision, who)
    if not name.strip() or not values:
        raise WorkbenchError("a value list needs a name and at least one value")
    wanted = {v.strip().casefold() for v in values if v.strip()}
    rows = value_matches(ws, dataset_id, values, entity_type)
    ws.insert("pii_value_lists", [{"dataset_id": dataset_id, "name": name,
                                   "entity_type": entity_type, "decision": decision,
                                   "value_list": json.dumps(sorted(wanted), ensure_ascii=False),
                                   "who": who}])
    n = record(ws, dataset_id, rows, decision, who, reason, bulk=f"list:{name}")
    ws.audit(who, f"pii_list_{decision}", {"dataset_id": dataset_id, "list": name,
                                           "values": len(wanted), "spans": n, "reason": reason})
    return n


def value_lists(ws: Workspace, dataset_id: int) -> list[dict]:
    """The kept value lists (name, type, decision, size, who, when), without the values."""
    return ws.query("SELECT name, entity_type, decision, json_array_length(value_list) AS size,"
                    " who, created_at FROM pii_value_lists WHERE dataset_id = ? "
                    "ORDER BY created_at", [dataset_id])


# -- roles ---------------------------------------------------------------------------------
def admins(ws: Workspace) -> list[str]:
    return [r["name"] for r in ws.query("SELECT name FROM privacy_roles WHERE role = 'admin' "
                                        "ORDER BY name")]


def grant_admin(ws: Workspace, name: str, by: str) -> list[str]:
    """Make ``name`` a privacy admin. The first admin may be granted by anyone (bootstrap);
    after that only an admin can grant. Returns the admins."""
    current = admins(ws)
    if current and by not in current:
        raise WorkbenchError(f"only a privacy admin can grant the admin role ({by!r} is not)")
    ws.con.execute("INSERT OR REPLACE INTO privacy_roles(name, role, granted_by) "
                   "VALUES (?, 'admin', ?)", [name, by])
    ws.audit(by, "privacy_grant_admin", {"name": name})
    return admins(ws)


# -- the gate ------------------------------------------------------------------------------
def _scope_sql() -> str:
    """Examples that training would see: the split rows when a split exists, else all."""
    return """(NOT EXISTS (SELECT 1 FROM splits WHERE dataset_id = $dataset)
               OR example_id IN (SELECT example_id FROM splits WHERE dataset_id = $dataset))"""


def blocking(ws: Workspace, dataset_id: int, threshold: float = DEFAULT_GATE_THRESHOLD) -> dict:
    """What stops training: unreviewed findings with score >= ``threshold`` and accepted ones
    not yet redacted, among the examples training would see. Counts only."""
    rows = ws.query(f"""SELECT status, entity_type, count(*) AS n FROM ({_STATUS_SQL})
        WHERE score >= $threshold AND status IN ('unreviewed', 'accept') AND {_scope_sql()}
        GROUP BY ALL ORDER BY status, entity_type""", {"dataset": dataset_id,
                                                      "threshold": threshold})
    out = {"unreviewed": 0, "accepted_not_redacted": 0, "by_entity": {}, "threshold": threshold}
    for r in rows:
        out["unreviewed" if r["status"] == "unreviewed" else "accepted_not_redacted"] += r["n"]
        out["by_entity"][r["entity_type"]] = out["by_entity"].get(r["entity_type"], 0) + r["n"]
    return out


def override(ws: Workspace, dataset_id: int, version: str, who: str, reason: str,
             app_admin: bool = False) -> dict:
    """An admin lets ``version`` of the dataset train despite open findings; audit-logged.

    ``app_admin`` is True when the caller already proved the app's admin password (the
    Privacy page is only served to that role); the CLI relies on the privacy admin list.
    Raises WorkbenchError unless ``who`` is an admin and ``reason`` is given.
    """
    if not who.strip():
        raise WorkbenchError("an override needs the name of the admin who makes it")
    if not app_admin and who not in admins(ws):
        raise WorkbenchError(f"{who!r} is not a privacy admin: only an admin can override the "
                             "privacy gate (`workbench privacy-grant-admin`)")
    if not reason.strip():
        raise WorkbenchError("an override needs a reason")
    detail = {"dataset_id": dataset_id, "dataset_version": version, "reason": reason,
              **{k: v for k, v in blocking(ws, dataset_id).items() if k != "by_entity"}}
    ws.audit(who, "pii_gate_override", detail)
    return {"who": who, **detail}


def override_for(ws: Workspace, dataset_id: int, version: str) -> dict | None:
    """The latest override of this dataset version, or None."""
    rows = ws.query("""SELECT actor, logged_at, detail FROM audit_log
        WHERE action = 'pii_gate_override' AND json_extract_string(detail, '$.dataset_id')::INTEGER = ?
          AND json_extract_string(detail, '$.dataset_version') = ?
        ORDER BY logged_at DESC LIMIT 1""", [dataset_id, version])
    if not rows:
        return None
    detail = json.loads(rows[0]["detail"])
    return {"who": rows[0]["actor"], "at": str(rows[0]["logged_at"]),
            "reason": detail["reason"], "unreviewed": detail["unreviewed"],
            "accepted_not_redacted": detail["accepted_not_redacted"]}


# -- redaction -----------------------------------------------------------------------------
def salt(ws: Workspace) -> str:
    """The workspace's secret salt for consistent hashing/faking (created on first use)."""
    value = ws.scalar("SELECT value FROM privacy_secrets WHERE name = 'redaction_salt'")
    if value is None:
        value = secrets.token_hex(16)
        ws.con.execute("INSERT INTO privacy_secrets VALUES ('redaction_salt', ?)", [value])
    return value


def store_redaction(ws: Workspace, dataset_id: int, redacted: dict[int, list[dict]],
                    covered: list[dict], who: str, policy: dict) -> None:
    """Save redacted messages, resolve the covered findings (``redacted`` decisions), record
    one ``redact`` decision per example and an audit entry (operators, counts)."""
    with ws.transaction():
        for example_id, messages in redacted.items():
            ws.con.execute("UPDATE examples SET redacted_messages = ? WHERE dataset_id = ? "
                           "AND id = ?", [json.dumps(messages, ensure_ascii=False), dataset_id,
                                          example_id])
        record(ws, dataset_id, covered, "redacted", who, "redaction applied", bulk="redaction")
        ws.insert("decisions", [{"dataset_id": dataset_id, "example_id": i, "action": "redact",
                                 "who": who, "reason": "PII spans redacted"} for i in redacted])
        ws.audit(who, "pii_redact", {"dataset_id": dataset_id, "examples": len(redacted),
                                     "spans": len(covered), "policy": policy})


def phone_regions(ws: Workspace, dataset_id: int) -> list[dict]:
    """PHONE_NUMBER findings per region: [{region, region_assumed, findings}], most first."""
    return ws.query("""SELECT region, region_assumed, count(*) AS findings FROM pii_spans
        WHERE dataset_id = ? AND entity_type = 'PHONE_NUMBER' GROUP BY ALL
        ORDER BY findings DESC, region NULLS LAST, region_assumed""", [dataset_id])


def report(ws: Workspace, dataset_id: int) -> dict:
    """The privacy report: counts by type and status, phone findings per region, bulk
    actions, value lists (no values), who decided what, admins, overrides and redactions
    from the audit log."""
    deciders = ws.query("""SELECT who, decision, count(*) AS spans, min(decided_at) AS first,
        max(decided_at) AS last FROM pii_decisions WHERE dataset_id = ? GROUP BY ALL
        ORDER BY who, decision""", [dataset_id])
    audit = ws.query("""SELECT logged_at, actor, action, detail FROM audit_log
        WHERE (action LIKE 'pii_%' OR action LIKE 'privacy_%')
          AND (json_extract(detail, '$.dataset_id') IS NULL
               OR json_extract_string(detail, '$.dataset_id')::INTEGER = ?)
        ORDER BY logged_at""", [dataset_id])
    for row in audit:
        row["detail"] = json.loads(row["detail"])
    dataset = ws.query("SELECT id, name, source FROM datasets WHERE id = ?", [dataset_id])
    return {"dataset": dataset[0] if dataset else {"id": dataset_id}, **summary(ws, dataset_id),
            "phone_regions": phone_regions(ws, dataset_id),
            "gate": blocking(ws, dataset_id), "deciders": deciders,
            "value_lists": value_lists(ws, dataset_id), "admins": admins(ws), "audit": audit}
