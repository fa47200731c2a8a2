"""Versions and row decisions: immutable curated sets (id = content hash), edits and drops.

A version holds the rows that would train: examples with no error finding, representing
their duplicate cluster, not dropped (``workbench.store.kept``), as trained (the redacted
text where a redaction was applied), with their split. Its rows are copied into
``version_rows``, so later edits never change it; the id is ``curation.versions.version_id``
of those rows, and creating the same set again returns the existing version.
"""

from __future__ import annotations

import json
import threading

from curation.versions import diff, version_id
from common.errors import StageError
from workbench.store.kept import kept
from workbench.store.workspace import Workspace

# Streamlit starts a page's rerun before the run it replaces has stopped, and several browser
# sessions share one connection (workbench.store.pool): two threads may version the same rows
# at once, and DuckDB refuses the second commit of the same key instead of ignoring it.
_creating = threading.Lock()


def curated_rows(ws: Workspace, dataset_id: int) -> list[dict]:
    """The version rows of a dataset now: {origin, messages, meta, split}, in id order."""
    rows = ws.query(f"""
        SELECT e.id, coalesce(e.redacted_messages, e.messages) AS messages, e.meta, s.split
        FROM examples e
        LEFT JOIN splits s ON s.dataset_id = e.dataset_id AND s.example_id = e.id
        WHERE e.dataset_id = $dataset AND {kept()}
        ORDER BY e.id""", {"dataset": dataset_id})
    return [{"origin": f"{dataset_id}:{r['id']}", "messages": json.loads(r["messages"]),
             "meta": json.loads(r["meta"]), "split": r["split"]} for r in rows]


def split_rows(ws: Workspace, dataset_id: int) -> list[dict]:
    """The rows that have a split (what training reads), as version rows, in id order."""
    rows = ws.query("""SELECT e.id, coalesce(e.redacted_messages, e.messages) AS messages,
        e.meta, s.split FROM splits s JOIN examples e ON e.dataset_id = s.dataset_id
        AND e.id = s.example_id WHERE s.dataset_id = ? ORDER BY e.id""", [dataset_id])
    return [{"origin": f"{dataset_id}:{r['id']}", "messages": json.loads(r["messages"]),
             "meta": json.loads(r["meta"]), "split": r["split"]} for r in rows]


def split_version(ws: Workspace, dataset_id: int) -> tuple[str | None, dict[str, int]]:
    """(the version id the split rows would get, rows per split), without storing anything:
    what a training started now would record (``record_version``); (None, {}) with no split."""
    rows = split_rows(ws, dataset_id)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["split"]] = counts.get(row["split"], 0) + 1
    return (version_id(rows) if rows else None), counts


def record_version(ws: Workspace, dataset_id: int) -> str:
    """The version of the split rows as training reads them (content hash; rows kept in
    version_rows, so an adapter's lineage leads back to the exact rows it saw). Made before
    training starts (and by the privacy gate), so its note does not say "trained":
    ``list_versions`` counts the train runs that succeeded on it."""
    return create_version(ws, dataset_id, "split rows", split_rows(ws, dataset_id))["id"]


def create_version(ws: Workspace, dataset_id: int, note: str = "",
                   rows: list[dict] | None = None, selection: dict | None = None) -> dict:
    """Store ``rows`` (default: the dataset's curated rows) as a version unless that content
    exists already.

    The version's recipe is the curation recipe, plus ``selection`` (how the rows were
    chosen, e.g. the quality selection's formula, thresholds and N) under the key
    ``"selection"`` when given. The id hashes the content only, so the same rows chosen
    again keep the recipe they were first stored with. Returns ``{id, n_rows, created}``.
    Raises StageError when there is no row.
    """
    rows = curated_rows(ws, dataset_id) if rows is None else rows
    if not rows:
        raise StageError("no eligible row to version (every row is dropped or has an error)")
    vid = version_id(rows)
    recipe = ws.curation_recipe(dataset_id)
    recipe = json.dumps({**recipe, "selection": selection} if selection else recipe)
    with _creating:  # check and insert as one step for this process's threads
        if ws.scalar("SELECT count(*) FROM version_rows WHERE version_id = ?", [vid]):
            return {"id": vid, "n_rows": len(rows), "created": False}
        with ws.transaction():
            ws.con.execute("INSERT OR IGNORE INTO versions(id, dataset_id, n_rows, recipe, "
                           "note) VALUES (?, ?, ?, ?, ?)",
                           [vid, dataset_id, len(rows), recipe, note])
            ws.insert("version_rows", [
                {"version_id": vid, "position": i, "origin": r["origin"],
                 "messages": json.dumps(r["messages"], ensure_ascii=False),
                 "meta": json.dumps(r["meta"], ensure_ascii=False), "split": r["split"]}
                for i, r in enumerate(rows)])
    return {"id": vid, "n_rows": len(rows), "created": True}


def list_versions(ws: Workspace):
    """A DataFrame of the stored versions with rows, newest first; ``train_runs``: how many
    train runs succeeded on each (a version is trained only when one did)."""
    return ws.frame("""SELECT v.id, v.dataset_id, d.name AS dataset, v.n_rows, v.note,
        (SELECT count(*) FROM runs r WHERE r.kind = 'train' AND r.state = 'succeeded' AND
         json_extract_string(r.summary, '$.dataset_version') = v.id) AS train_runs,
        v.created_at FROM versions v JOIN datasets d ON d.id = v.dataset_id
        WHERE EXISTS (SELECT 1 FROM version_rows r WHERE r.version_id = v.id)
        ORDER BY v.created_at DESC, v.id""")


def version_recipe(ws: Workspace, vid: str) -> dict:
    """The recipe stored with version ``vid`` (curation stages' configs, and ``selection``
    for a selected version); StageError for an unknown id."""
    recipe = ws.scalar("SELECT recipe FROM versions WHERE id = ?", [vid])
    if recipe is None:
        raise StageError(f"no version '{vid}' (see `workbench versions`)")
    return json.loads(recipe)


def version_note(ws: Workspace, vid: str) -> str:
    """The note stored with version ``vid`` ("" when it has none or the id is unknown)."""
    return ws.scalar("SELECT note FROM versions WHERE id = ?", [vid]) or ""


def version_rows(ws: Workspace, vid: str, split: str | None = None) -> list[dict]:
    """The rows of version ``vid`` (optionally one split); StageError for an unknown id."""
    rows = ws.query("SELECT origin, messages, meta, split FROM version_rows WHERE "
                    "version_id = ? AND (? IS NULL OR split = ?) ORDER BY position",
                    [vid, split, split])
    if not rows and not ws.scalar("SELECT count(*) FROM version_rows WHERE version_id = ?",
                                  [vid]):
        raise StageError(f"no version '{vid}' (see `workbench versions`)")
    for row in rows:
        row["messages"], row["meta"] = json.loads(row["messages"]), json.loads(row["meta"])
    return rows


def reasons(ws: Workspace, dataset_ids: set[int]) -> dict[str, str]:
    """Why each example of ``dataset_ids`` changed or left: its latest decision, else its
    error findings, else the duplicate cluster it lost to. Keys are origins."""
    out: dict[str, str] = {}
    ids = sorted(dataset_ids)
    for r in ws.query("""SELECT dataset_id, example_id, list(DISTINCT level) AS levels,
            min(representative_id) AS rep FROM dup_clusters WHERE list_contains(?, dataset_id)
            AND representative_id <> example_id GROUP BY ALL""", [ids]):
        out[f"{r['dataset_id']}:{r['example_id']}"] = \
            f"duplicate ({', '.join(sorted(r['levels']))}) of {r['dataset_id']}:{r['rep']}"
    for r in ws.query("""SELECT dataset_id, example_id, string_agg(DISTINCT code, ', ' ORDER BY
            code) AS codes FROM findings WHERE severity = 'error' AND list_contains(?,
            dataset_id) GROUP BY ALL""", [ids]):
        out[f"{r['dataset_id']}:{r['example_id']}"] = f"validation error: {r['codes']}"
    for r in ws.query("""SELECT dataset_id, example_id, arg_max(action, id) AS action,
            arg_max(reason, id) AS reason, arg_max(who, id) AS who FROM decisions
            WHERE list_contains(?, dataset_id) GROUP BY ALL""", [ids]):
        out[f"{r['dataset_id']}:{r['example_id']}"] = \
            f"{r['action']} by {r['who']}" + (f": {r['reason']}" if r["reason"] else "")
    return out


def diff_versions(ws: Workspace, old: str, new: str) -> dict:
    """``curation.versions.diff`` of two stored versions, with reasons from the store."""
    before, after = version_rows(ws, old), version_rows(ws, new)
    datasets = {int(r["origin"].split(":")[0]) for r in before + after}
    return {"old": old, "new": new, **diff(before, after, reasons(ws, datasets))}


# -- row decisions ------------------------------------------------------------------------

def _messages(ws: Workspace, dataset_id: int, example_id: int) -> tuple[list, list | None]:
    rows = ws.query("SELECT messages, redacted_messages FROM examples WHERE dataset_id = ? "
                    "AND id = ?", [dataset_id, example_id])
    if not rows:
        raise StageError(f"no example {example_id} in dataset {dataset_id}")
    redacted = rows[0]["redacted_messages"]
    return json.loads(rows[0]["messages"]), json.loads(redacted) if redacted else None


def edit_message(ws: Workspace, dataset_id: int, example_id: int, message_index: int,
                 new_text: str, who: str, reason: str = "") -> dict:
    """Replace one message's content (and its redacted copy) and record an ``edit``
    decision with the old and new text. Returns ``{example_id, message_index, changed}``;
    StageError for an unknown row or message index."""
    messages, redacted = _messages(ws, dataset_id, example_id)
    if not 0 <= message_index < len(messages):
        raise StageError(f"example {example_id} has no message {message_index} "
                         f"(it has {len(messages)})")
    old = messages[message_index]["content"]
    if old == new_text:
        return {"example_id": example_id, "message_index": message_index, "changed": False}
    messages[message_index]["content"] = new_text
    if redacted:
        redacted[message_index]["content"] = new_text
    with ws.transaction():
        ws.con.execute("UPDATE examples SET messages = ?, redacted_messages = ? WHERE "
                       "dataset_id = ? AND id = ?",
                       [json.dumps(messages, ensure_ascii=False),
                        json.dumps(redacted, ensure_ascii=False) if redacted else None,
                        dataset_id, example_id])
        ws.insert("decisions", [{"dataset_id": dataset_id, "example_id": example_id,
                                 "action": "edit", "who": who, "reason": reason,
                                 "message_index": message_index, "old_text": old,
                                 "new_text": new_text}])
    return {"example_id": example_id, "message_index": message_index, "changed": True}


def decide(ws: Workspace, dataset_id: int, example_id: int, action: str, who: str,
           reason: str = "") -> dict:
    """Record a ``drop`` or ``restore`` decision (the latest one wins)."""
    if action not in ("drop", "restore"):
        raise StageError(f"unknown decision '{action}' (drop or restore)")
    _messages(ws, dataset_id, example_id)
    ws.insert("decisions", [{"dataset_id": dataset_id, "example_id": example_id,
                             "action": action, "who": who, "reason": reason}])
    return {"example_id": example_id, "action": action}


def decisions(ws: Workspace, dataset_id: int) -> list[dict]:
    """Every recorded decision of a dataset, newest first."""
    return ws.query("""SELECT id, example_id, action, who, reason, message_index, old_text,
        new_text, decided_at FROM decisions WHERE dataset_id = ? ORDER BY id DESC""",
                    [dataset_id])
