"""Domain errors, raised in the core and turned into one line at the boundary (CLI, pages)."""


class WorkbenchError(Exception):
    """Base class: its message is shown to the user as it is, without a traceback."""


class InputError(WorkbenchError):
    """A file the user gave cannot be read (missing, unknown format, empty)."""


class WorkspaceBusy(WorkbenchError):
    """Another process holds the workspace's DuckDB file read-write."""


class StageError(WorkbenchError):
    """A stage cannot run on the current workspace state (e.g. nothing ingested yet)."""


class NoDataset(StageError):
    """The workspace holds no dataset yet (nothing ingested): the app shows where to import."""


class JobFailed(WorkbenchError):
    """A background job ended as failed or cancelled."""
