"""The compute slot: one heavy model job (training, generation) at a time on this machine."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from common import settings


@contextmanager
def compute_slot(report: Callable[[int, int, str], None] | None = None,
                 lock_path: Path | None = None) -> Iterator[None]:
    """Hold the machine's one slot for heavy model work (training, generation).

    Two torch jobs on a 2-core machine slow each other far more than 2× (OpenMP threads
    contend: a 10-step training took 300 s beside another job vs ~45 s alone), so model jobs
    queue on an flock in the model cache folder. The kernel releases it when the holder dies,
    so a killed job never leaves it stuck. ``report(0, 0, message)`` is called while waiting.
    """
    path = lock_path or settings.model_cache_dir() / ".compute.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if report:
                report(0, 0, "waiting for another training or generation job to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
