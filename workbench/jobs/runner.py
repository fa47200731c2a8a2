"""The job runner: a child process (``python -m workbench job DIR``) and a folder contract.

A job folder holds ``config.json`` (kind + parameters), ``status.json`` (state: queued,
running, succeeded, failed, cancelled; pid; error), ``progress.json`` (step, total, message),
``log.txt`` and its outputs, among them ``result.json``. JSON files are written atomically
(temp file + rename), so a killed job leaves readable files; a job whose process died while
"running" reads as failed. Compute jobs (train, generate) never open the workspace database:
the owner writes their inputs into the folder and imports their outputs. ``run`` is the child
side; ``run_here`` runs a body under the same contract in the calling process, for a caller
that is itself a job (a job never starts another job).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psutil

from common.errors import JobFailed

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
log = logging.getLogger("workbench.jobs")


class Cancelled(Exception):
    """Raised inside a job when it receives SIGTERM (a cancel)."""


def write_json(path: Path, data) -> None:
    """Write ``data`` as JSON atomically (temp file in the same folder, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_job(parent: Path, kind: str, config: dict, name: str | None = None) -> Path:
    """Create ``parent/<name or kind>-<time>-<rand>/`` with config.json and a queued status
    (``name``: what a person knows the job by, e.g. the stage it runs)."""
    job_id = f"{name or kind}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    job_dir = parent / job_id
    job_dir.mkdir(parents=True)
    write_json(job_dir / "config.json", {"kind": kind, **config})
    write_json(job_dir / "status.json", {"state": "queued", "created": now()})
    return job_dir


def start(job_dir: Path) -> int:
    """Start the job's child process in its own session; returns its pid."""
    with open(job_dir / "log.txt", "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "workbench", "job", str(job_dir)],
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   cwd=os.getcwd(), env=os.environ.copy())
    status = read_json(job_dir / "status.json", {})
    write_json(job_dir / "status.json", {**status, "pid": process.pid})
    return process.pid


def status(job_dir: Path) -> dict:
    """The job's status; a "running"/"queued" job whose process is gone reads as failed."""
    current = read_json(job_dir / "status.json", {"state": "failed", "error": "no status file"})
    pid = current.get("pid")
    if current["state"] in ("queued", "running") and pid and not _alive(pid):
        current = {**current, "state": "failed",
                   "error": f"the job process {pid} ended without a final state (killed?)"}
    return current


def _alive(pid: int) -> bool:
    try:  # reap it if it is our own finished child, or it stays a zombie until we exit
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def progress(job_dir: Path) -> dict:
    return read_json(job_dir / "progress.json", {})


def find(parent: Path, kind: str, **match) -> list[Path]:
    """Job folders under ``parent`` of ``kind`` whose config.json holds each ``match`` key
    with that value, newest first (by when their config.json was written); [] when
    ``parent`` does not exist.

    >>> find(Path("/nonexistent"), "judge", session_id=1)
    []
    """
    found = []
    for folder in parent.glob("*") if parent.is_dir() else []:
        config = read_json(folder / "config.json")
        if isinstance(config, dict) and config.get("kind") == kind and all(
                config.get(key) == value for key, value in match.items()):
            found.append(((folder / "config.json").stat().st_mtime_ns, folder.name, folder))
    return [folder for *_, folder in sorted(found, reverse=True)]


def active(state: dict) -> bool:
    """Whether a ``status`` is a started job not yet ended: queued or running, with a live
    process (a queued folder no process was started for, e.g. a stage's job run in its
    caller, is not active)."""
    return state.get("state") in ("queued", "running") and bool(state.get("pid"))


def log_tail(job_dir: Path, lines: int = 40) -> str:
    try:
        return "\n".join((job_dir / "log.txt").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def cancel(job_dir: Path) -> None:
    """Ask a running job to stop (SIGTERM); it ends as cancelled."""
    pid = read_json(job_dir / "status.json", {}).get("pid")
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)


def wait(job_dir: Path, on_progress: Callable[[dict], None] | None = None,
         poll_s: float = 0.5) -> dict:
    """Block until the job ends; returns result.json. Raises JobFailed unless it succeeded.

    A Cancelled raised while waiting (this process was cancelled) cancels the child too.
    """
    seen = None

    def report_new() -> None:
        nonlocal seen
        current = progress(job_dir)
        if on_progress and current and current != seen:
            on_progress(current)
            seen = current

    try:
        while (state := status(job_dir))["state"] not in FINAL:
            report_new()
            time.sleep(poll_s)
        report_new()  # the last update, written just before the job ended
    except (Cancelled, KeyboardInterrupt):
        cancel(job_dir)
        raise
    if state["state"] != "succeeded":
        raise JobFailed(f"{job_dir.name} {state['state']}: {state.get('error', '')}".strip())
    return read_json(job_dir / "result.json", {})


class Reporter:
    """Handed to a job's function: progress updates and the job folder.

    ``forward``: also called with each progress dict (``run_here``'s caller sees the updates
    that ``wait`` would have read from progress.json).
    """

    def __init__(self, job_dir: Path, forward: Callable[[dict], None] | None = None):
        self.dir, self.forward = job_dir, forward

    def __call__(self, step: int, total: int, message: str = "") -> None:
        progress = {"step": step, "total": total, "message": message, "at": now()}
        write_json(self.dir / "progress.json", progress)
        log.info("%s/%s %s", step, total, message)
        if self.forward:
            self.forward(progress)


def _on_sigterm(signum, frame):
    raise Cancelled()


def run(job_dir: Path, registry: dict[str, Callable[[dict, Reporter], dict]]) -> int:
    """Child side: run the job's function, record the final state; returns an exit code."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    config = read_json(job_dir / "config.json")
    base = {"pid": os.getpid(), "started": now()}
    write_json(job_dir / "status.json", {**base, "state": "running"})
    try:
        result = registry[config["kind"]](config, Reporter(job_dir))
        write_json(job_dir / "result.json", result)
        write_json(job_dir / "status.json", {**base, "state": "succeeded", "ended": now()})
        return 0
    except Cancelled:
        write_json(job_dir / "status.json", {**base, "state": "cancelled", "ended": now()})
        return 1
    except Exception as exc:  # a job must end in a readable state, whatever happened
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        write_json(job_dir / "status.json", {**base, "state": "failed", "error": error,
                                             "ended": now()})
        return 1


def run_here(job_dir: Path, registry: dict[str, Callable[[dict, Reporter], dict]],
             on_progress: Callable[[dict], None] | None = None) -> dict:
    """Run the job's function in this process under the folder contract of ``run``.

    For a caller that is itself a job (the pipeline job runs train and generate this way), so
    no job starts another. The folder ends with the same status, progress and result files as
    after ``run``; log records of this process go to its log.txt while the body runs. Returns
    result.json's dict like ``wait``; raises JobFailed when the body fails, and lets
    Cancelled / KeyboardInterrupt through after recording the state cancelled.
    """
    config = read_json(job_dir / "config.json")
    base = {"pid": os.getpid(), "started": now()}
    write_json(job_dir / "status.json", {**base, "state": "running"})
    handler = logging.FileHandler(job_dir / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        result = registry[config["kind"]](config, Reporter(job_dir, on_progress))
        write_json(job_dir / "result.json", result)
        write_json(job_dir / "status.json", {**base, "state": "succeeded", "ended": now()})
        return result
    except (Cancelled, KeyboardInterrupt):
        write_json(job_dir / "status.json", {**base, "state": "cancelled", "ended": now()})
        raise
    except Exception as exc:  # recorded like a failed child, then raised as wait() would
        log.exception("job %s failed", job_dir.name)
        error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        write_json(job_dir / "status.json", {**base, "state": "failed", "error": error,
                                             "ended": now()})
        raise JobFailed(f"{job_dir.name} failed: {error}") from exc
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
