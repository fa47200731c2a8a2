"""Paths typed by a user in the app stay inside allowed folders (no ``..`` escape).

Run as: ``confine("data/train.jsonl", allowed_roots(workspace))``

A typed path is resolved (``..`` collapsed, symbolic links followed, relative paths taken from
the first allowed folder) and accepted only when it lies inside one of the allowed folders:
the workspace, the bundled demo data, and the folders listed in ``$WORKBENCH_DATA_DIRS``
(separated by ``os.pathsep``). Resolving before the check is what stops ``a/../../etc/passwd``
and a link that points outside (OWASP, "Path Traversal").
"""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import InputError
from common.settings import REPO_ROOT

DEMO_DATA_DIR = REPO_ROOT / "workbench" / "demo_data"


def allowed_roots(workspace: Path) -> list[Path]:
    """The workspace, the demo data and ``$WORKBENCH_DATA_DIRS``, resolved."""
    extra = [Path(p) for p in os.environ.get("WORKBENCH_DATA_DIRS", "").split(os.pathsep) if p]
    return [Path(p).expanduser().resolve() for p in (workspace, DEMO_DATA_DIR, *extra)]


def confine(typed: str, roots: list[Path]) -> Path:
    """The resolved path of ``typed`` if it lies inside one of ``roots``.

    Raises InputError naming the path and the allowed folders otherwise (also for an empty
    path or one with a NUL byte).
    """
    if not typed.strip() or "\0" in typed:
        raise InputError("give a file path")
    path = Path(typed.strip()).expanduser()
    resolved = (path if path.is_absolute() else roots[0] / path).resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        folders = ", ".join(str(r) for r in roots)
        raise InputError(f"{typed.strip()}: outside the allowed folders ({folders}); "
                         "add a folder with WORKBENCH_DATA_DIRS")
    return resolved
