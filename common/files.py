"""Open a file for writing without following a symbolic link and without overwriting by accident.

Run as: ``with open_new(Path("out.jsonl")) as handle: handle.write(text)``

``os.open`` with ``O_NOFOLLOW`` refuses a symbolic link planted at the name, and ``O_EXCL``
(the default, ``overwrite=False``) refuses any existing entry, a dangling link included, in the
same system call that creates the file, so nothing can be swapped in between a check and the
write (CWE-59, "Link Following"; CWE-367, time-of-check time-of-use). Where to write is decided
by the caller (``workbench.paths.write_target`` confines a path the user typed).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from common.errors import InputError


def open_new(path: Path, overwrite: bool = False, binary: bool = False):
    """``path`` opened for writing (text UTF-8, or ``binary``), created with mode 0o644.

    Raises InputError when ``path`` is a symbolic link, or exists and ``overwrite`` is False.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        if os.path.islink(path):
            raise InputError(f"{path}: is a symbolic link; refused") from None
        raise InputError(f"{path}: exists; choose another name, or ask to overwrite it") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: is a symbolic link; refused") from None
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    return os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
