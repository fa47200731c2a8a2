"""One DuckDB connection per workspace per process, shared by threads through cursors.

Run as: ``with shared_workspace(path) as ws: ...`` (the app's pages, via views/_ui.py)

Streamlit runs every browser session's script in its own thread. Opening the file per action
in each thread would migrate, open and checkpoint the database once per click, and DuckDB
forbids a second read-write *process* anyway. So the app keeps one connection per workspace
while any action runs, gives each action its own cursor (a cursor is a separate DuckDB
connection to the same database: its own transaction, DuckDB docs "Concurrency: multiple
writers inside one process"), and closes the file ``LINGER_S`` after the last action ends,
so the CLI can still use the workspace when the app is idle.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from common.errors import StageError
from workbench.store.migrations import migrate
from workbench.store.workspace import DB_NAME, Workspace, connect

LINGER_S = 2.0  # keep the file open this long after the last action (a rater's next click)

_lock = threading.Lock()
_open: dict[Path, dict] = {}  # root -> {"con", "users", "timer"}


def _close_if_idle(root: Path) -> None:
    with _lock:
        entry = _open.get(root)
        if entry and entry["users"] == 0:
            entry["con"].close()
            del _open[root]


def _acquire(root: Path):
    with _lock:
        entry = _open.get(root)
        if entry is None:
            con = connect(str(root / DB_NAME))
            try:
                migrate(con)
            except Exception:
                con.close()
                raise
            entry = _open[root] = {"con": con, "users": 0, "timer": None}
        if entry["timer"] is not None:
            entry["timer"].cancel()
            entry["timer"] = None
        entry["users"] += 1
        return entry["con"].cursor()


def _release(root: Path) -> None:
    with _lock:
        entry = _open[root]
        entry["users"] -= 1
        if entry["users"] == 0:
            entry["timer"] = threading.Timer(LINGER_S, _close_if_idle, [root])
            # Not a daemon: the interpreter waits (at most LINGER_S) for it at exit. A daemon
            # timer that closed the connection while the interpreter was finalizing aborted
            # the process ("terminate called ... FATAL: exception not rethrown", exit 134;
            # 7 of 40 exits timed to hit it), which would fail a test run that passed.
            entry["timer"].daemon = False
            entry["timer"].start()


@contextmanager
def shared_workspace(path: str | Path) -> Iterator[Workspace]:
    """The workspace at ``path`` for one action, on this process's shared connection.

    Raises StageError when the folder holds no workspace, WorkspaceBusy when another process
    holds the file past ``connect``'s wait. Each call gets its own cursor, closed on exit.
    """
    root = Path(path).resolve()
    if not (root / DB_NAME).exists():
        raise StageError(f"{root}: no workspace here (run `workbench ingest` first)")
    cursor = _acquire(root)
    try:
        yield Workspace(root, cursor)
    finally:
        try:
            cursor.close()
        finally:
            _release(root)


def close_all() -> None:
    """Close every shared connection now (tests, shutdown)."""
    with _lock:
        for entry in _open.values():
            if entry["timer"] is not None:
                entry["timer"].cancel()
            entry["con"].close()
        _open.clear()
