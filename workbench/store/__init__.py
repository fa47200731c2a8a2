"""The workspace store: DuckDB + artifacts folder; all SQL of the project lives in this package.

``workspace`` holds the connection, the migrations runner and the core tables' operations;
``migrations`` the schema. A domain with its own tables (privacy review, rating sessions,
training runs, versions) gets its own module here with functions that take a ``Workspace``.
"""

from workbench.store.migrations import MIGRATIONS, migrate
from workbench.store.workspace import (
    DB_NAME,
    LOCK_WAIT_S,
    Workspace,
    busy_error,
    connect,
    memory_workspace,
    open_workspace,
)

__all__ = ["DB_NAME", "LOCK_WAIT_S", "MIGRATIONS", "Workspace", "busy_error", "connect",
           "memory_workspace", "migrate", "open_workspace"]
