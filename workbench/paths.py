"""Paths typed by a user stay inside allowed folders (no ``..`` escape), to read or to write.

Run as: ``confine("data/train.jsonl", allowed_roots(workspace))`` (a file to read);
``write_file("exports/a.jsonl", write_roots(workspace), text)`` (a file to write)

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
from common.files import open_new
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


# -- where a user-named file may be written -------------------------------------------------
def write_roots(workspace: Path, cwd: bool = False) -> list[Path]:
    """Folders a user-named output may be written in: the workspace and
    ``$WORKBENCH_DATA_DIRS`` (never the bundled demo data); with ``cwd`` (the CLI) the current
    working directory first, so a relative ``--out`` is taken from where the command runs."""
    extra = [Path(p) for p in os.environ.get("WORKBENCH_DATA_DIRS", "").split(os.pathsep) if p]
    first = [Path.cwd()] if cwd else []
    return [Path(p).expanduser().resolve() for p in (*first, workspace, *extra)]


def write_target(typed: str | Path, roots: list[Path], overwrite: bool = False) -> Path:
    """The path to write a user-named output to, once it is safe; missing parent folders are
    created.

    ``typed`` (relative paths are taken from ``roots[0]``) must have its parent folder resolve
    (``..`` collapsed, links followed) inside one of ``roots``; the name itself must not be a
    symbolic link (checked with ``lstat``, so a dangling link counts) and must not exist unless
    ``overwrite``. Write the file with ``common.files.open_new`` (``O_NOFOLLOW``), which
    repeats the last two checks atomically. Raises InputError naming the path and the reason.
    """
    text = str(typed).strip()
    if not text or "\0" in text:
        raise InputError("give a file path to write")
    path = Path(text).expanduser()
    path = path if path.is_absolute() else roots[0] / path
    if path.name in ("", ".", ".."):
        raise InputError(f"{text}: not a file name")
    parent = path.parent.resolve()
    if not any(parent == root or parent.is_relative_to(root) for root in roots):
        folders = ", ".join(str(r) for r in roots)
        raise InputError(f"{text}: outside the folders outputs may be written to ({folders}); "
                         "add a folder with WORKBENCH_DATA_DIRS")
    target = parent / path.name
    if target.is_symlink():
        raise InputError(f"{text}: is a symbolic link; refused")
    if target.exists() and not overwrite:
        raise InputError(f"{text}: exists; choose another name, or ask to overwrite it")
    parent.mkdir(parents=True, exist_ok=True)
    return target


def write_file(typed: str | Path, roots: list[Path], data: str | bytes,
               overwrite: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``write_target(typed, roots, overwrite)``; its path."""
    target = write_target(typed, roots, overwrite)
    with open_new(target, overwrite, binary=isinstance(data, bytes)) as handle:
        handle.write(data)
    return target


def save_upload(workspace: Path, name: str, data: bytes) -> Path:
    """Save an uploaded file as ``<workspace>/uploads/<base name>`` (folders in ``name``
    dropped); a name already taken, by a file or a link, gets ``-2``, ``-3``… before its
    suffix, so an upload never replaces anything. Returns the path written."""
    base = Path(name).name.strip()
    base = "upload" if base in ("", ".", "..") else base
    folder, candidate, n = Path(workspace) / "uploads", base, 1
    while (folder / candidate).exists() or (folder / candidate).is_symlink():
        n += 1
        candidate = f"{Path(base).stem}-{n}{Path(base).suffix}"
    return write_file(Path("uploads") / candidate, [Path(workspace).resolve()], data)
