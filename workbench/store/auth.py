"""Logins in the store: the admin password (hashed by workbench/auth.py), the login guard
(failed attempts counted per workspace, growing waits, audit), invite links used once.

Run as: ``with open_workspace(path) as ws: set_admin_password(ws, "a long password")``;
``admin_login(ws, typed)``, ``rater_login(ws, token, via_link=True)`` (what the login page calls)

Tables: admin_credentials (m004_sessions), login_failures and invite_links_used
(m011_login_guard). SQL only here.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone

import duckdb

from workbench.auth import (
    AuthError,
    check_new_password,
    hash_password,
    token_hash,
    verify_password,
)
from workbench.store import sessions
from workbench.store.workspace import Workspace


def admin_password_set(ws: Workspace) -> bool:
    """True once an admin password exists (the app asks for one on first start)."""
    return bool(ws.scalar("SELECT count(*) FROM admin_credentials"))


def set_admin_password(ws: Workspace, password: str, confirm: str | None = None,
                       current: str | None = None) -> None:
    """Store the scrypt hash of a new admin password.

    The first password needs no ``current``; changing it later needs the current one.
    Raises AuthError for a short password, a confirmation that differs, or a wrong current one.
    """
    check_new_password(password, confirm)
    if admin_password_set(ws):
        if not check_admin(ws, current or ""):
            raise AuthError("the current admin password is wrong")
        ws.con.execute("UPDATE admin_credentials SET password_hash = ?, set_at = "
                       "current_timestamp WHERE id = 1", [hash_password(password)])
    else:
        try:  # two first starts at once: the primary key lets only one of them win
            ws.con.execute("INSERT INTO admin_credentials(id, password_hash) VALUES (1, ?)",
                           [hash_password(password)])
        except (duckdb.ConstraintException, duckdb.TransactionException):
            raise AuthError("an admin password was set meanwhile: log in with it") from None
    ws.audit("admin", "set_admin_password", {})


def check_admin(ws: Workspace, password: str) -> bool:
    """True when ``password`` is the admin password (False when none is set)."""
    stored = ws.scalar("SELECT password_hash FROM admin_credentials WHERE id = 1")
    return stored is not None and verify_password(password, stored)


# -- login guard: failures counted per workspace, growing delays, audited ---------------------
MAX_FREE_FAILURES = 5  # failures in a row before every next attempt waits
FIRST_DELAY_S = 1.0    # the wait after the 5th failure, doubled after each further one
MAX_DELAY_S = 900.0    # at most 15 minutes between two attempts
_GUARD = threading.Lock()  # check-and-reserve is atomic across the app's browser sessions


class LoginThrottled(AuthError):
    """Too many failed logins in a row: the next attempt is allowed at ``retry_at``."""

    def __init__(self, kind: str, retry_at: float, now: float):
        self.retry_at = retry_at
        when = datetime.fromtimestamp(retry_at, timezone.utc).strftime("%H:%M:%S UTC")
        what = "admin password" if kind == "admin" else "invite token"
        super().__init__(f"too many wrong {what}s in a row: try again at {when} "
                         f"(in {max(1, math.ceil(retry_at - now))} s)")


def delay_after(failures: int) -> float:
    """Seconds the next attempt waits after ``failures`` failures in a row: none up to 4,
    then 1, 2, 4, … s, at most MAX_DELAY_S (exponential backoff, as OWASP's Authentication
    Cheat Sheet suggests instead of a hard lockout an attacker could use against the admin).

    >>> [delay_after(n) for n in (4, 5, 6, 7, 20)]
    [0.0, 1.0, 2.0, 4.0, 900.0]
    """
    if failures < MAX_FREE_FAILURES:
        return 0.0
    return min(FIRST_DELAY_S * 2 ** (failures - MAX_FREE_FAILURES), MAX_DELAY_S)


def _state(ws: Workspace, kind: str) -> tuple[int, float]:
    rows = ws.query("SELECT failures, locked_until FROM login_failures WHERE kind = ?", [kind])
    return (rows[0]["failures"], rows[0]["locked_until"]) if rows else (0, 0.0)


def _save(ws: Workspace, kind: str, failures: int, locked_until: float) -> None:
    ws.con.execute("INSERT INTO login_failures(kind, failures, locked_until) VALUES (?, ?, ?) "
                   "ON CONFLICT (kind) DO UPDATE SET failures = excluded.failures, "
                   "locked_until = excluded.locked_until", [kind, failures, locked_until])


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def _reserve(ws: Workspace, kind: str, now: float) -> None:
    """Refuse (LoginThrottled) while a wait runs; past MAX_FREE_FAILURES the attempt takes
    the next slot itself, so parallel sessions cannot verify guesses side by side. Refusals
    are counted, and the count is audited with the next failure (one audit row per refusal
    would let an attacker flood the log)."""
    with _GUARD:
        failures, until = _state(ws, kind)
        if now < until:
            ws.con.execute("UPDATE login_failures SET refused = refused + 1 WHERE kind = ?",
                           [kind])
            raise LoginThrottled(kind, until, now)
        if failures >= MAX_FREE_FAILURES:
            _save(ws, kind, failures, now + delay_after(failures))


def _failed(ws: Workspace, kind: str, now: float) -> None:
    with _GUARD:
        failures = _state(ws, kind)[0] + 1
        refused = ws.scalar("SELECT coalesce(max(refused), 0) FROM login_failures "
                            "WHERE kind = ?", [kind])
        wait = delay_after(failures)
        _save(ws, kind, failures, now + wait)
        ws.con.execute("UPDATE login_failures SET refused = 0 WHERE kind = ?", [kind])
        ws.audit("login", "login_failed", {"kind": kind, "failures": failures,
                                           "refused_while_waiting": refused})
        if wait:
            ws.audit("login", "login_locked", {"kind": kind, "failures": failures,
                                               "seconds": wait, "until": _iso(now + wait)})


def _succeeded(ws: Workspace, kind: str) -> None:
    with _GUARD:
        ws.con.execute("DELETE FROM login_failures WHERE kind = ?", [kind])


def admin_login(ws: Workspace, password: str, now: float | None = None) -> None:
    """Log the admin in, or raise AuthError ("wrong admin password") or LoginThrottled.

    Every failure (with the attempts refused since the one before) and every start of a wait
    goes to the audit log (kind and counts, never the password); a success clears the count.
    ``now``: Unix time (tests).
    """
    now = time.time() if now is None else now
    _reserve(ws, "admin", now)
    if not check_admin(ws, password):
        _failed(ws, "admin", now)
        raise AuthError("wrong admin password")
    _succeeded(ws, "admin")


def rater_login(ws: Workspace, token: str, via_link: bool = False,
                now: float | None = None) -> dict:
    """The rater holding ``token`` ({"rater_id", "session_id", "name"}), throttled and
    audited as ``admin_login``.

    ``via_link``: the token came from an invite link (``/?token=…``); each link logs in once,
    so the address left in the browser's history logs nobody in again (AuthError, audited as
    ``invite_link_reused``); typing the token still works until it is revoked.
    """
    now = time.time() if now is None else now
    _reserve(ws, "rater", now)
    try:
        rater = sessions.login(ws, token)
    except AuthError:
        _failed(ws, "rater", now)
        raise
    _succeeded(ws, "rater")
    if via_link:
        digest = token_hash(token)
        if ws.scalar("SELECT count(*) FROM invite_links_used WHERE token_hash = ?", [digest]):
            ws.audit("login", "invite_link_reused", {"rater_id": rater["rater_id"]})
            raise AuthError("this invite link was already used: type your invite token "
                            "on the login page")
        ws.con.execute("INSERT INTO invite_links_used(token_hash) VALUES (?) "
                       "ON CONFLICT DO NOTHING", [digest])
    return rater
