"""Rating sessions in the store: create, invite, rate, skip, edit, progress, raw ratings.

Run as: ``with open_workspace(path) as ws: create_session(ws, "s1", run_id, design, ["ana"])``

Tables (migration ``m004_sessions``): rating_sessions, session_items, session_raters (token
SHA-256 only), assignments (every rater's order and sides, drawn once by
``evaluation.sessions.plan`` and stored before anything is shown), skips, session_ratings
(one row per rater and position; the primary key refuses a second submit).
What a rater's page receives never names a system: ``screen`` returns positions and texts,
and a submit looks the sides up here to store the de-randomized label.
Bad input raises ``RatingError`` with a message for the user, and changes nothing.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict

import duckdb

from evaluation.rebalance import NoItemLeft, rebalance
from evaluation.sessions import (
    DesignError,
    Item,
    SessionDesign,
    check_answer,
    cut_note,
    derandomize,
    make_items,
    plan,
)
from workbench.auth import AuthError, new_token, token_hash
from common.errors import WorkbenchError
from workbench.store.workspace import Workspace


class RatingError(WorkbenchError):
    """A session, invite or rating that cannot be accepted; nothing was changed.

    ``fit``: for a session with too few items, what would work
    (``evaluation.sessions.fits``), else None."""

    fit: dict | None = None


def _outputs(ws: Workspace, run_id: str, systems: tuple[str, ...],
             example_ids: list[int] | None) -> dict[int, dict[str, str]]:
    rows = ws.query("SELECT example_id, system, output FROM generations WHERE run_id = ? "
                    "ORDER BY example_id", [run_id])
    outputs: dict[int, dict[str, str]] = {}
    for row in rows:
        outputs.setdefault(row["example_id"], {})[row["system"]] = row["output"]
    have = {name for by_system in outputs.values() for name in by_system}
    missing = sorted(set(systems) - have)
    if missing:
        raise RatingError(f"generate run {run_id} has no outputs of {', '.join(missing)} "
                          f"(systems there: {', '.join(sorted(have)) or 'none'})")
    wanted = set(example_ids) if example_ids is not None else set(outputs)
    unknown = sorted(wanted - set(outputs))
    if unknown:
        raise RatingError(f"examples {unknown[:5]} have no outputs in generate run {run_id}")
    return {e: outputs[e] for e in sorted(wanted) if set(systems) <= set(outputs[e])}


def create_session(ws: Workspace, name: str, run_id: str, design: SessionDesign,
                   raters: list[str], example_ids: list[int] | None = None,
                   seed: int | None = None, actor: str = "admin") -> dict:
    """Create a session with its items, assignments and one invite token per rater.

    Items: every example of ``run_id`` (or ``example_ids``) with outputs of all systems, one
    per pair of systems; a pair with identical outputs (after strip) is tied automatically and
    not shown. Returns ``{"session_id", "items", "auto_ties", "assignments", "tokens": {rater
    name: token}}``: the tokens exist only in this result (the store keeps their hash).
    Raises RatingError (nothing stored) for an empty name, unknown systems or examples, or a
    design ``evaluation.sessions.check_design`` refuses (e.g. fewer items than raters × k).
    """
    raters = [r.strip() for r in raters if r.strip()]
    if not name.strip():
        raise RatingError("give the session a name")
    outputs = _outputs(ws, run_id, design.systems, example_ids)
    items = make_items(list(outputs), design.systems)
    ties = {i.item_no for i in items
            if outputs[i.example_id][i.first].strip() == outputs[i.example_id][i.second].strip()}
    seed = secrets.randbits(31) if seed is None else seed
    try:
        rows = plan(design, [i for i in items if i.item_no not in ties], raters, seed)
    except DesignError as exc:
        error = RatingError(str(exc))
        error.fit = exc.fit
        raise error from None
    ids = {rater: "r" + secrets.token_hex(6) for rater in raters}
    tokens = {rater: new_token() for rater in raters}
    with ws.transaction():
        session_id = ws.scalar("SELECT coalesce(max(id), 0) + 1 FROM rating_sessions")
        ws.con.execute("INSERT INTO rating_sessions(id, name, run_id, systems, k, repeat_share,"
                       " guidelines, seed, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [session_id, name.strip(), run_id, json.dumps(list(design.systems)),
                        design.k, design.repeat_share, design.guidelines, seed, actor])
        ws.insert("session_items", [
            {"session_id": session_id, "item_no": i.item_no, "example_id": i.example_id,
             "first_system": i.first, "second_system": i.second,
             "auto_tie": i.item_no in ties} for i in items])
        ws.insert("session_raters", [
            {"id": ids[r], "session_id": session_id, "name": r,
             "token_hash": token_hash(tokens[r])} for r in raters])
        ws.insert("assignments", [
            {"session_id": session_id, "rater_id": ids[a.rater], "position": a.position,
             "item_no": a.item_no, "left_system": a.left, "right_system": a.right,
             "is_repeat": a.is_repeat} for a in rows])
        ws.audit(actor, "create_session", {"session_id": session_id, "raters": len(raters),
                                           "items": len(items), "seed": seed})
    return {"session_id": session_id, "items": len(items) - len(ties), "auto_ties": len(ties),
            "assignments": len(rows), "tokens": tokens}


def sessions(ws: Workspace) -> list[dict]:
    """Every session, newest first: id, name, run_id, systems, k, repeat_share, created_at."""
    rows = ws.query("SELECT id, name, run_id, systems, k, repeat_share, guidelines, created_at "
                    "FROM rating_sessions ORDER BY id DESC")
    for row in rows:
        row["systems"] = json.loads(row["systems"])
    return rows


# -- raters: login, revocation ----------------------------------------------------------
def login(ws: Workspace, token: str) -> dict:
    """The rater holding ``token``: ``{"rater_id", "session_id", "name"}``.

    Raises AuthError "unknown invite token" or "this invite token was revoked".
    """
    rows = ws.query("SELECT id AS rater_id, session_id, name, revoked_at FROM session_raters "
                    "WHERE token_hash = ?", [token_hash(token)])
    if not rows:
        raise AuthError("unknown invite token: check it, or ask the session's admin for a new one")
    if rows[0].pop("revoked_at") is not None:
        raise AuthError("this invite token was revoked: ask the session's admin")
    return rows[0]


def active_rater(ws: Workspace, rater_id: str) -> dict:
    """The rater row if not revoked; AuthError otherwise (checked on every rater action)."""
    rows = ws.query("SELECT id, session_id, name, revoked_at FROM session_raters WHERE id = ?",
                    [rater_id])
    if not rows:
        raise AuthError("unknown rater")
    if rows[0]["revoked_at"] is not None:
        raise AuthError("this invite token was revoked: ask the session's admin")
    return rows[0]


def revoke(ws: Workspace, rater_id: str, actor: str = "admin") -> None:
    """Revoke a rater's token at once (their ratings so far are kept)."""
    active_rater(ws, rater_id)
    ws.con.execute("UPDATE session_raters SET revoked_at = current_timestamp WHERE id = ?",
                   [rater_id])
    ws.audit(actor, "revoke_rater", {"rater_id": rater_id})


def reissue_token(ws: Workspace, rater_id: str, actor: str = "admin") -> str:
    """A new token for a rater (the old one stops working; a revoked rater is reinstated)."""
    if ws.scalar("SELECT count(*) FROM session_raters WHERE id = ?", [rater_id]) == 0:
        raise AuthError("unknown rater")
    token = new_token()
    ws.con.execute("UPDATE session_raters SET token_hash = ?, revoked_at = NULL WHERE id = ?",
                   [token_hash(token), rater_id])
    ws.audit(actor, "reissue_token", {"rater_id": rater_id})
    return token


def add_raters(ws: Workspace, session_id: int, names: list[str], seed: int | None = None,
               actor: str = "admin") -> dict:
    """Invite more raters to a running session, keeping every item at exactly k raters.

    Who takes which items is ``evaluation.rebalance.rebalance``'s rule (whole unstarted items,
    revoked raters' first, until each new rater holds ⌊n·k / active raters⌋ items); here the
    session is read, the donors' rows of moved items (and their skips) are removed and the new
    raters' rows written. Ratings already given never move. Returns ``{"session_id",
    "tokens": {name: token}, "items": {name: items taken}, "from": {existing rater name:
    items given}}``; tokens exist only here.
    Raises RatingError, changing nothing, for an unknown session, no or duplicate names, a
    name already in the session, or a new rater who would get no item (everything left is
    started, or there are more raters than n·k). The k rule (k distinct raters per
    item) is ``evaluation.sessions.check_design``'s.
    """
    info = session(ws, session_id)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise RatingError("give at least one rater name")
    if len(set(names)) != len(names):
        raise RatingError("rater names must be distinct")
    raters = ws.query("SELECT id, name, revoked_at IS NOT NULL AS revoked FROM session_raters "
                      "WHERE session_id = ? ORDER BY name", [session_id])
    taken = sorted(set(names) & {r["name"] for r in raters})
    if taken:
        raise RatingError(f"already in session {session_id}: {', '.join(taken)}")
    rows = ws.query("""
        SELECT a.rater_id, a.item_no, x.position IS NOT NULL AS rated
        FROM assignments a LEFT JOIN session_ratings x
             ON x.rater_id = a.rater_id AND x.position = a.position
        WHERE a.session_id = ? ORDER BY a.rater_id, a.position""", [session_id])
    items = {r["item_no"]: Item(r["item_no"], r["example_id"], r["first_system"],
                                r["second_system"])
             for r in ws.query("SELECT * FROM session_items WHERE session_id = ?",
                               [session_id])}
    try:
        change = rebalance(rows, raters, names, items, info["k"], info["repeat_share"],
                           secrets.randbits(31) if seed is None else seed)
    except NoItemLeft as exc:
        raise RatingError(f"no item left for {', '.join(exc.names)}: each new rater needs "
                          f"items no one has started (session {session_id}: {exc.items} "
                          f"items × k = {exc.k} for {exc.active} active raters)") from None
    ids = {name: "r" + secrets.token_hex(6) for name in names}
    tokens = {name: new_token() for name in names}
    with ws.transaction():
        for donor, item_no in (m for name in names for m in change.moves[name]):
            ws.con.execute("DELETE FROM skips WHERE rater_id = $d AND position IN (SELECT "
                           "position FROM assignments WHERE rater_id = $d AND item_no = $i)",
                           {"d": donor, "i": item_no})
            ws.con.execute("DELETE FROM assignments WHERE rater_id = ? AND item_no = ?",
                           [donor, item_no])
        ws.insert("session_raters", [{"id": ids[n], "session_id": session_id, "name": n,
                                      "token_hash": token_hash(tokens[n])} for n in names])
        ws.insert("assignments", [
            {"session_id": session_id, "rater_id": ids[a.rater], "position": a.position,
             "item_no": a.item_no, "left_system": a.left, "right_system": a.right,
             "is_repeat": a.is_repeat} for a in change.added])
        wrong = ws.query("SELECT item_no, count(DISTINCT rater_id) AS raters, count(*) AS rows "
                         "FROM assignments WHERE session_id = ? AND NOT is_repeat GROUP BY "
                         "item_no HAVING raters <> ? OR rows <> ?",
                         [session_id, info["k"], info["k"]])
        if wrong:  # the k rule: never commit a plan that breaks it
            raise RatingError(f"adding raters would leave items {[w['item_no'] for w in wrong]}"
                              f" without exactly k = {info['k']} raters; nothing changed")
        ws.audit(actor, "add_raters", {"session_id": session_id, "raters": len(names),
                                       "items": {n: len(change.moves[n]) for n in names}})
    return {"session_id": session_id, "tokens": tokens,
            "items": {n: len(change.moves[n]) for n in names}, "from": change.given}


# -- rating -------------------------------------------------------------------------------
# A rater's plan (session, positions, sides) and what each position shows never change once
# a session exists (assignments and generations are written once), so the app keeps them in
# memory: a click then costs one small query for the rater's state, not joins over every run's
# outputs (bench/rating_load.py: p95 next-item time under 20 concurrent raters).
class _Memo:
    """A small thread-safe LRU map for immutable rows, keyed by workspace folder first."""

    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, load):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        value = load()
        if value is not None:
            with self.lock:
                self.data[key] = value
                while len(self.data) > self.size:
                    self.data.popitem(last=False)
        return value


_PLANS, _SHOWN = _Memo(1_000), _Memo(20_000)


def _plan_version(ws: Workspace, rater_id: str) -> int:
    """How many raters the rater's session has: ``add_raters`` is the only change to a plan
    after creation and always raises it, so it keys the memo (also across processes)."""
    return ws.scalar("SELECT count(*) FROM session_raters WHERE session_id = "
                     "(SELECT session_id FROM session_raters WHERE id = ?)", [rater_id])


def _plan(ws: Workspace, rater_id: str, version: int | None = None) -> dict:
    """{"session_id", "name", "guidelines", "positions": {position: assignment row}}."""
    def load():
        rows = ws.query("""
            SELECT a.session_id, s.name, s.guidelines, a.position, a.item_no, a.left_system,
                   a.right_system FROM assignments a JOIN rating_sessions s ON s.id = a.session_id
            WHERE a.rater_id = ? ORDER BY a.position""", [rater_id])
        if not rows:
            return None
        return {**{k: rows[0][k] for k in ("session_id", "name", "guidelines")},
                "positions": {r["position"]: {k: r[k] for k in ("session_id", "item_no",
                              "left_system", "right_system")} for r in rows}}
    if version is None:
        version = _plan_version(ws, rater_id)
    plan_ = _PLANS.get((str(ws.root), rater_id, version), load)
    if plan_ is None:
        raise AuthError("unknown rater")
    return plan_


def _show(ws: Workspace, rater_id: str, position: int) -> dict | None:
    """Prompt and both outputs at one of the rater's positions (no system names), and
    ``left_cut`` / ``right_cut``: "(cut at N tokens)" for an answer that hit the generate
    run's ``max_new_tokens``, else None (``evaluation.sessions.cut_note``)."""
    def load():
        rows = ws.query("""
            SELECT a.position, a.item_no, l.prompt, l.output AS left_output,
                   r.output AS right_output, l.new_tokens AS left_tokens,
                   r.new_tokens AS right_tokens,
                   json_extract(g.config, '$.max_new_tokens')::INTEGER AS max_new_tokens
            FROM assignments a
            JOIN session_items i ON i.session_id = a.session_id AND i.item_no = a.item_no
            JOIN rating_sessions s ON s.id = a.session_id
            LEFT JOIN runs g ON g.id = s.run_id
            JOIN generations l ON l.run_id = s.run_id AND l.example_id = i.example_id
                 AND l.system = a.left_system
            JOIN generations r ON r.run_id = s.run_id AND r.example_id = i.example_id
                 AND r.system = a.right_system
            WHERE a.rater_id = ? AND a.position = ?""", [rater_id, position])
        if not rows:
            return None
        row = rows[0]
        limit = row.pop("max_new_tokens")
        cuts = {f"{side}_cut": cut_note(row.pop(f"{side}_tokens"), limit)
                for side in ("left", "right")}
        return {**row, "prompt": json.loads(row["prompt"]), **cuts}
    shown = _SHOWN.get((str(ws.root), rater_id, position), load)
    return None if shown is None else {**shown, "prompt": list(shown["prompt"])}


def _state(ws: Workspace, rater_id: str) -> tuple[set, list, int]:
    """(rated positions, unrated skipped positions in the order they were skipped, plan
    version) of an active rater; AuthError when revoked."""
    revoked, rated, skipped, version = ws.row("""
        SELECT (SELECT revoked_at IS NOT NULL FROM session_raters WHERE id = $r),
               (SELECT list(position) FROM session_ratings WHERE rater_id = $r),
               (SELECT list(position ORDER BY skipped_at, position) FROM skips
                 WHERE rater_id = $r),
               (SELECT count(*) FROM session_raters WHERE session_id =
                   (SELECT session_id FROM session_raters WHERE id = $r))""", {"r": rater_id})
    if revoked is None:
        raise AuthError("unknown rater")
    if revoked:
        raise AuthError("this invite token was revoked: ask the session's admin")
    rated = set(rated or ())
    return rated, [p for p in skipped or () if p not in rated], version


def screen(ws: Workspace, rater_id: str) -> dict:
    """Everything the rate page shows: ``{"session": {"name", "guidelines"}, "progress":
    {"rated", "total", "skipped"}, "item": the next unrated position as ``{"position",
    "item_no", "prompt", "left_output", "right_output", "left_cut", "right_cut"}`` or None
    when done, "skipped_next": whether that item is one the rater skipped}``.

    Order: unskipped positions in list order, then the skipped ones in the order they were
    skipped (the one skipped longest ago first; skipping it again sends it to the back).
    No system names. Raises AuthError for an unknown or revoked rater."""
    rated, skipped, version = _state(ws, rater_id)
    plan_ = _plan(ws, rater_id, version)
    todo = [p for p in plan_["positions"] if p not in rated and p not in skipped] + skipped
    return {"session": {"name": plan_["name"], "guidelines": plan_["guidelines"]},
            "progress": {"rated": len(rated), "total": len(plan_["positions"]),
                         "skipped": len(skipped)},
            "item": _show(ws, rater_id, todo[0]) if todo else None,
            "skipped_next": bool(todo) and todo[0] in skipped}


def _assignment(ws: Workspace, rater_id: str, position) -> dict:
    if isinstance(position, bool) or not isinstance(position, int):
        raise RatingError(f"position {position!r} is not an item assigned to you")
    row = _plan(ws, rater_id)["positions"].get(position)
    if row is None:
        raise RatingError(f"position {position!r} is not an item assigned to you (an item "
                          "you had not started may have gone to a newly added rater)")
    return row


def submit(ws: Workspace, rater_id: str, position: int, choice: str, reason: str | None = None,
           likert_left: int | None = None, likert_right: int | None = None) -> None:
    """Store one answer for the item at ``position`` of the rater's list (sides from the store).

    Raises AuthError for a revoked rater and RatingError for a position not assigned to the
    rater, a bad choice / reason / Likert score, or a second submit of the same position
    ("already rated": use edit_last). Nothing changes on error.
    """
    active_rater(ws, rater_id)
    row = _assignment(ws, rater_id, position)
    try:
        check_answer(choice, reason, likert_left, likert_right)
    except DesignError as exc:
        raise RatingError(str(exc)) from None
    label = derandomize(choice, row["left_system"], row["right_system"])
    try:
        ws.con.execute("INSERT INTO session_ratings(session_id, rater_id, position, item_no, "
                       "choice, label, reason, likert_left, likert_right) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [row["session_id"], rater_id, position, row["item_no"], choice, label,
                        reason or None, likert_left, likert_right])
    except (duckdb.ConstraintException, duckdb.TransactionException):
        raise RatingError("this item is already rated (to change it, edit your last "
                          "answer)") from None


def skip(ws: Workspace, rater_id: str, position: int) -> None:
    """Put an unrated item at the end of the rater's list: it comes back after the items
    not skipped, and after the items skipped before it (skipping it again moves it back)."""
    active_rater(ws, rater_id)
    _assignment(ws, rater_id, position)
    if ws.scalar("SELECT count(*) FROM session_ratings WHERE rater_id = ? AND position = ?",
                 [rater_id, position]):
        raise RatingError("this item is already rated; it cannot be skipped")
    ws.con.execute("INSERT INTO skips(rater_id, position) VALUES (?, ?) ON CONFLICT DO "
                   "UPDATE SET skipped_at = now()", [rater_id, position])


def last_answer(ws: Workspace, rater_id: str) -> dict | None:
    """The rater's most recent answer with its item (for "edit last answer"); None if none."""
    active_rater(ws, rater_id)
    rows = ws.query("SELECT position, choice, reason, likert_left, likert_right FROM "
                    "session_ratings WHERE rater_id = ? ORDER BY seq DESC LIMIT 1", [rater_id])
    return {**_show(ws, rater_id, rows[0]["position"]), **rows[0]} if rows else None


def edit_last(ws: Workspace, rater_id: str, position: int, choice: str,
              reason: str | None = None, likert_left: int | None = None,
              likert_right: int | None = None) -> None:
    """Change the rater's most recent answer; RatingError for any other position."""
    active_rater(ws, rater_id)
    row = _assignment(ws, rater_id, position)
    last = ws.scalar("SELECT position FROM session_ratings WHERE rater_id = ? "
                     "ORDER BY seq DESC LIMIT 1", [rater_id])
    if last != position:
        raise RatingError("only your last answer can be edited")
    try:
        check_answer(choice, reason, likert_left, likert_right)
    except DesignError as exc:
        raise RatingError(str(exc)) from None
    ws.con.execute("UPDATE session_ratings SET choice = ?, label = ?, reason = ?, "
                   "likert_left = ?, likert_right = ?, edited_at = current_timestamp "
                   "WHERE rater_id = ? AND position = ?",
                   [choice, derandomize(choice, row["left_system"], row["right_system"]),
                    reason or None, likert_left, likert_right, rater_id, position])


# -- admin views --------------------------------------------------------------------------
def session(ws: Workspace, session_id: int) -> dict:
    rows = [s for s in sessions(ws) if s["id"] == session_id]
    if not rows:
        raise RatingError(f"no rating session {session_id}")
    return rows[0]


def design(ws: Workspace, session_id: int) -> dict:
    """How a session's ratings were collected, for the report: systems, k (raters per item),
    repeat share, raters (and how many revoked), items shown, items tied automatically
    (identical outputs, never shown), assignments, repeats, the share of showings with the
    pair's first system (by name) on the left, and the randomisation in words.
    Raises RatingError for an unknown session."""
    info = session(ws, session_id)
    raters, revoked = ws.row("SELECT count(*), count(revoked_at) FROM session_raters "
                             "WHERE session_id = ?", [session_id])
    items, auto = ws.row("SELECT count(*) FILTER (WHERE NOT auto_tie), count(*) FILTER "
                         "(WHERE auto_tie) FROM session_items WHERE session_id = ?",
                         [session_id])
    shown, repeats, first_left = ws.row("""
        SELECT count(*), count(*) FILTER (WHERE a.is_repeat),
               count(*) FILTER (WHERE a.left_system = i.first_system)
        FROM assignments a JOIN session_items i
          ON i.session_id = a.session_id AND i.item_no = a.item_no
        WHERE a.session_id = ?""", [session_id])
    return {"systems": info["systems"], "k": info["k"], "repeat_share": info["repeat_share"],
            "raters": raters, "revoked_raters": revoked, "items": items, "auto_ties": auto,
            "assignments": shown, "repeats": repeats,
            "first_system_left_share": first_left / shown if shown else None,
            "randomisation": "item order and left/right side drawn per rater and item from a "
                             "seed when the session was created, stored before any item was "
                             "shown; repeats are drawn again; system names are hidden"}


def rater_progress(ws: Workspace, session_id: int) -> list[dict]:
    """Per rater of a session: rater_id, name, rated, total, skipped, revoked (bool)."""
    return ws.query("""
        SELECT r.id AS rater_id, r.name, count(x.position) AS rated, count(a.position) AS total,
               count(k.position) FILTER (WHERE x.position IS NULL) AS skipped,
               r.revoked_at IS NOT NULL AS revoked
        FROM session_raters r
        LEFT JOIN assignments a ON a.rater_id = r.id
        LEFT JOIN session_ratings x ON x.rater_id = a.rater_id AND x.position = a.position
        LEFT JOIN skips k ON k.rater_id = a.rater_id AND k.position = a.position
        WHERE r.session_id = ? GROUP BY r.id, r.name, r.revoked_at ORDER BY r.name""",
                    [session_id])


def _ratings_sql(where: str) -> str:
    """The one query of ratings, de-randomized, in submission order, over the sessions that
    ``where`` selects (``s`` is ``rating_sessions``): session_id, rater (name), rater_id,
    item_no, example_id, position (0-based place in the rater's list), is_repeat,
    left_system, right_system, choice (as shown: A = left, B = right, tie, both_bad), label
    (system name / tie / both_bad), reason, likert_left, likert_right, rated_at, edited_at
    (UTC timestamps), first_system, second_system (the item's pair by name)."""
    return f"""
        SELECT x.session_id, r.name AS rater, x.rater_id, x.item_no, i.example_id, x.position,
               a.is_repeat, a.left_system, a.right_system, x.choice, x.label, x.reason,
               x.likert_left, x.likert_right, x.rated_at, x.edited_at, i.first_system,
               i.second_system
        FROM session_ratings x
        JOIN rating_sessions s ON s.id = x.session_id
        JOIN session_raters r ON r.id = x.rater_id
        JOIN assignments a ON a.rater_id = x.rater_id AND a.position = x.position
        JOIN session_items i ON i.session_id = x.session_id AND i.item_no = x.item_no
        WHERE {where} ORDER BY x.seq"""


def raw_ratings(ws: Workspace, session_id: int) -> list[dict]:
    """One row per rating of a session (the Sessions page's CSV, ``session-stats --csv`` and
    the statistics' input): the columns of ``_ratings_sql`` from rater_id on."""
    rows = ws.query(_ratings_sql("s.id = ?"), [session_id])
    for row in rows:
        del row["session_id"], row["rater"]
    return rows


def ratings_export(ws: Workspace, run_id: str):
    """One row per rating in the rating sessions over a generate run (``export-ratings``, the
    Report's CSV), as a DataFrame: the columns of ``_ratings_sql`` up to edited_at. Items
    tied automatically (identical outputs) were never shown and have no row."""
    return ws.frame(_ratings_sql("s.run_id = ?"), [run_id]).drop(
        columns=["first_system", "second_system"])


def auto_ties(ws: Workspace, session_id: int) -> list[dict]:
    """Items tied automatically (identical outputs): item_no, example_id, first/second system."""
    return ws.query("SELECT item_no, example_id, first_system, second_system FROM session_items "
                    "WHERE session_id = ? AND auto_tie ORDER BY item_no", [session_id])


def session_outputs(ws: Workspace, session_id: int) -> list[dict]:
    """Generated outputs of the session's examples, every system: {example_id, system,
    output, reference}, by example and system."""
    return ws.query("""
        SELECT g.example_id, g.system, g.output, g.reference FROM generations g
        JOIN rating_sessions s ON s.run_id = g.run_id AND s.id = ?
        WHERE g.example_id IN (SELECT example_id FROM session_items WHERE session_id = ?)
        ORDER BY g.example_id, g.system""", [session_id, session_id])
