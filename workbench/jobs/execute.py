"""How a stage runs a job folder it has prepared: in a child process, or, when the caller is
itself a job (the pipeline, a stage or a training started from a page), in this process.

Either way the folder ends in the same state with the same files, and the call returns the
job's result.json or raises JobFailed; so a page or a command starts exactly one job per
action and no job starts another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from workbench.jobs import bodies, runner

Progress = Callable[[dict], None]
Execute = Callable[[Path, Progress | None], dict]


def in_child(job_dir: Path, on_progress: Progress | None = None) -> dict:
    """Start ``python -m workbench job DIR`` and wait for it (``runner.start`` + ``runner.wait``)."""
    runner.start(job_dir)
    return runner.wait(job_dir, on_progress)


def in_this_process(job_dir: Path, on_progress: Progress | None = None) -> dict:
    """Run the job's body here (``runner.run_here``), for a caller that is itself a job."""
    return runner.run_here(job_dir, bodies.REGISTRY, on_progress)
