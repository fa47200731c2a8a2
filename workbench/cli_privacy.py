"""Privacy review commands: findings, decisions (per span, per type, per value list), the
training gate and its admin override, redaction, the report file.

Run as: workbench privacy-summary -w ws/   (every command prints one JSON object)
No command prints a matched value: findings are listed by type, offsets and score; value
lists are read from a file and reported by size.
"""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cliapp import Workspace, app, command  # noqa: F401 (app: registration)
from common.errors import InputError, WorkbenchError
from workbench.store import open_workspace
from workbench.store import privacy as store

Who = typer.Option(..., "--who", help="Reviewer name, recorded with the decision.")


@command
def privacy_summary(workspace: str = Workspace) -> dict:
    """Findings by entity type and status, and what blocks training."""
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        return {"dataset_id": dataset_id, **store.summary(ws, dataset_id),
                "gate": store.blocking(ws, dataset_id)}


@command
def privacy_findings(workspace: str = Workspace,
                     entity: str = typer.Option(None, help="Only this entity type."),
                     status: str = typer.Option(None, help="unreviewed|accept|reject|redacted"),
                     limit: int = typer.Option(50, help="At most this many rows.")) -> dict:
    """Findings (offsets, type, score, status; never the value)."""
    with open_workspace(workspace, create=False) as ws:
        rows = store.findings(ws, ws.current_dataset(), entity, status)
    return {"total": len(rows), "findings": rows[:limit]}


@command
def privacy_decide(workspace: str = Workspace, example: int = typer.Option(...),
                   message: int = typer.Option(...), start: int = typer.Option(...),
                   end: int = typer.Option(...), entity: str = typer.Option(...),
                   decision: str = typer.Option(..., help="accept (is PII) | reject"),
                   who: str = Who, reason: str = typer.Option("")) -> dict:
    """Accept or reject one finding."""
    span = {"example_id": example, "message_index": message, "start_char": start,
            "end_char": end, "entity_type": entity}
    with open_workspace(workspace, create=False) as ws:
        n = store.decide(ws, ws.current_dataset(), [span], decision, who, reason)
    return {"decided": n, "decision": decision}


@command
def privacy_bulk(workspace: str = Workspace, entity: str = typer.Option(...),
                 decision: str = typer.Option(..., help="accept | reject"), who: str = Who,
                 reason: str = typer.Option(..., help="Why (kept in the audit log)."),
                 min_score: float = typer.Option(0.0)) -> dict:
    """One reviewed action for every unreviewed finding of an entity type."""
    with open_workspace(workspace, create=False) as ws:
        n = store.decide_entity(ws, ws.current_dataset(), entity, decision, who, reason,
                                min_score)
    return {"decided": n, "entity_type": entity, "decision": decision}


@command
def privacy_values(workspace: str = Workspace,
                   name: str = typer.Option(..., help="Name the list is kept under."),
                   file: str = typer.Option(..., help="Text file, one value per line."),
                   decision: str = typer.Option(..., help="accept | reject"), who: str = Who,
                   reason: str = typer.Option(...),
                   entity: str = typer.Option(None, help="Only findings of this type.")) -> dict:
    """Decide every finding whose text is on a value list (e.g. story characters' names)."""
    try:
        values = [v for v in Path(file).read_text(encoding="utf-8").splitlines() if v.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read the value list ({type(exc).__name__})") from None
    with open_workspace(workspace, create=False) as ws:
        n = store.decide_values(ws, ws.current_dataset(), name, values, decision, who, reason,
                                entity)
    return {"decided": n, "list": name, "values": len(values), "decision": decision}


@command
def privacy_grant_admin(workspace: str = Workspace, name: str = typer.Option(...),
                        by: str = typer.Option(..., help="Who grants (an admin, or anyone "
                                                         "for the first admin).")) -> dict:
    """Give the privacy admin role (needed to override the training gate)."""
    with open_workspace(workspace, create=False) as ws:
        return {"admins": store.grant_admin(ws, name, by)}


@command
def privacy_gate(workspace: str = Workspace,
                 threshold: float = typer.Option(store.DEFAULT_GATE_THRESHOLD)) -> dict:
    """Would training start now? (counts of what blocks it, and any override)."""
    from workbench.stages.privacy import gate

    return gate(Path(workspace), threshold)


@command
def privacy_override(workspace: str = Workspace, who: str = Who,
                     reason: str = typer.Option(..., help="Why training may go ahead.")) -> dict:
    """Admin override: let the current dataset version train despite open findings."""
    from workbench.stages.privacy import gate_version

    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        version = gate_version(ws, dataset_id)
        return store.override(ws, dataset_id, version, who, reason)


@command
def privacy_redact(workspace: str = Workspace, who: str = Who,
                   operators: str = typer.Option(
                       "", help="ENTITY=OPERATOR pairs, comma-separated; operators: replace, "
                                "mask, hash, redact, fake (e.g. PERSON=fake,US_SSN=mask)."),
                   default: str = typer.Option("replace", help="Operator for other types."),
                   include_unreviewed: bool = typer.Option(
                       False, help="Also redact findings nobody reviewed.")) -> dict:
    """Redact accepted findings, re-scan the output, and record the redaction."""
    from workbench.stages.privacy import redact

    chosen = {}
    for item in filter(None, (part.strip() for part in operators.split(","))):
        entity, sep, op = item.partition("=")
        if not sep:
            raise WorkbenchError(f"--operators takes ENTITY=OPERATOR pairs, got {item!r}")
        chosen[entity.strip()] = op.strip()
    return redact(Path(workspace), who, chosen, default, include_unreviewed)


@command
def privacy_report(workspace: str = Workspace,
                   out: str = typer.Option(..., help="Report file (.json, else Markdown), in "
                                           "the current folder, the workspace or "
                                           "$WORKBENCH_DATA_DIRS."),
                   overwrite: bool = typer.Option(False, help="Replace an existing file.")
                   ) -> dict:
    """Export the privacy report (counts by type, decisions, who approved, audit)."""
    from workbench.paths import write_roots
    from workbench.stages.privacy import write_report

    return write_report(Path(workspace), out, write_roots(Path(workspace), cwd=True), overwrite)
