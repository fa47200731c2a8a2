"""One rank of a training across processes: ``python -m workbench.jobs.ranks JOB_DIR``.

Started N times by the launcher that the train job body runs (``training.distributed.
launch_command``). Every rank reads the job folder's ``config.json``, ``train.jsonl`` and
``validation.jsonl`` and runs ``training.recipe.train_lora`` as one rank; rank 0 alone appends
to ``train_log.jsonl`` (which the job process turns into progress) and writes the
checkpoints, the adapter and ``ranks_result.json``. A SIGTERM (a cancel), or the job process
gone, sets a flag; all ranks agree to stop after the same step, rank 0 saves a checkpoint, and
every rank exits with ``EXIT_CANCELLED``. A rank that fails writes ``rank-K-error.txt`` (one
line) for the job's message; the traceback goes to the job's log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

from workbench.jobs.files import read_jsonl
from workbench.jobs.runner import read_json, write_json

EXIT_CANCELLED = 3
RESULT_FILE = "ranks_result.json"
CANCELLED_FILE = "ranks_cancelled.json"


def error_file(job_dir: Path, rank: int) -> Path:
    return job_dir / f"rank-{rank}-error.txt"


def main(job_dir: Path) -> int:
    """Run this rank; returns the process exit code (0, ``EXIT_CANCELLED`` or 1)."""
    from training.distributed import StopRequested

    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.update(flag=True))
    watched = int(os.environ.get("WORKBENCH_JOB_PID", "0"))
    rank = int(os.environ.get("RANK", "0"))
    ranks = None
    try:
        from training.config import TrainConfig
        from training.distributed import Ranks
        from training.recipe import train_lora

        ranks = Ranks(stop_flag=lambda: stop["flag"] or (watched and not _alive(watched)))
        config = read_json(job_dir / "config.json")
        rows = read_jsonl(job_dir / "train.jsonl")
        validation = job_dir / "validation.jsonl"
        held = [row["messages"] for row in read_jsonl(validation)] if validation.is_file() else []
        log_path = job_dir / "train_log.jsonl"

        def on_log(record: dict) -> None:
            with open(log_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")

        result = train_lora([row["messages"] for row in rows],
                            TrainConfig.from_dict(config["train"]), job_dir, on_log=on_log,
                            validation=held, stop_exceptions=(), ranks=ranks)
        if ranks.is_main:
            write_json(job_dir / RESULT_FILE, {**result, "processes": ranks.world})
        return 0
    except StopRequested:
        if rank == 0:
            write_json(job_dir / CANCELLED_FILE, {"cancelled": True})
        return EXIT_CANCELLED
    except Exception as exc:  # the job process reads the one line; the log keeps the rest
        traceback.print_exc()
        line = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        error_file(job_dir, rank).write_text(line + "\n")
        return 1
    finally:
        if ranks is not None:
            ranks.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


if __name__ == "__main__":
    from workbench.netguard import maybe_block_network

    maybe_block_network()
    sys.exit(main(Path(sys.argv[1])))
