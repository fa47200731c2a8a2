"""The admin password in the store (hashed by workbench/auth.py; SQL only here).

Run as: ``with open_workspace(path) as ws: set_admin_password(ws, "a long password")``
"""

from __future__ import annotations

import duckdb

from workbench.auth import AuthError, check_new_password, hash_password, verify_password
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
