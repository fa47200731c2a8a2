"""The pairwise judge stage: a local model or an OpenAI-compatible endpoint judges a rating
session's items in both orders; its verdicts, win rates and calibration against the raters.

Run as: ``judge(Path("ws"), 1)`` (the embedded model), ``judge(Path("ws"), 1,
url="http://127.0.0.1:8080/v1", name="llama3")``; ``with open_workspace(p) as ws:
judge_report(ws, 1)``.

The answers come from the ``judge`` job body (``workbench.jobs.bodies.judge_task``); the
stage parses them (``evaluation.judge``), stores them (``workbench.store.judge``) and the
run in ``runs`` (kind ``judge``). ``judge_report`` is the one computation of what the
Sessions page, ``workbench judge`` and the report show.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from common.errors import InputError, JobFailed, StageError
from evaluation.judge import (
    JudgeError,
    item_verdicts,
    judge_requests,
    label_of,
    load_prompt,
    parse_choice,
    position_consistency,
    question_text,
    unparsed,
    win_rates,
)
from evaluation.judge_calibration import calibrate, table_rows
from workbench.jobs import runner as jobs
from workbench.jobs.execute import Execute, in_child
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.store import Workspace, open_workspace
from workbench.store import judge as store
from workbench.store.sessions import RatingError, raw_ratings

Progress = Callable[[dict], None]


def judge_spec(model_dir: str | None, url: str | None, name: str | None,
               max_new_tokens: int, batch_size: int, timeout_s: float) -> dict:
    """The judge's job config: {"backend": "model", "model_dir", ...} or {"backend": "url",
    "url", "name", ...}. Without ``url`` the model folder defaults to the embedded model.
    Raises InputError for both or a URL without a model name, a bad URL or a missing
    folder."""
    from evaluation.judge_backends import check_url

    common = {"max_new_tokens": max_new_tokens, "batch_size": batch_size,
              "timeout_s": timeout_s}
    if url:
        if model_dir:
            raise InputError("give a judge model folder or a judge URL, not both")
        if not name:
            raise InputError("a judge URL needs the model name it serves (--judge-name)")
        try:
            return {"backend": "url", "url": check_url(url), "name": name, **common}
        except JudgeError as exc:
            raise InputError(str(exc)) from None
    from training.model import ensure_base_model

    folder = ensure_base_model(model_dir or "embedded")
    return {"backend": "model", "model_dir": str(folder), "name": name or folder.name,
            **common}


def judge(workspace: Path, session_id: int, model_dir: str | None = None,
          url: str | None = None, name: str | None = None, prompt: str | None = None,
          max_new_tokens: int = 8, batch_size: int = 16, timeout_s: float = 60.0,
          n_boot: int = 500, on_progress: Progress | None = None,
          run_job: Execute = in_child, within: str | None = None) -> dict:
    """Judge every item of session ``session_id`` in both orders and store the answers.

    ``prompt``: the judge prompt file (default ``evaluation.judge.DEFAULT_PROMPT``,
    configs/judge_prompt.txt). ``within``: the name of the ``judge_launch`` job this call
    runs inside (recorded in the judge job's config, so the session shows one job, not two).
    Returns ``judge_report`` of the new run. Raises InputError (bad prompt file, URL or
    folder), StageError (unknown session, no item, another judge job running on the session,
    a judge that cannot run: the endpoint's or folder's one-line reason) or JobFailed.
    """
    refuse_second(workspace, session_id, besides=within)
    spec = judge_spec(model_dir, url, name, max_new_tokens, batch_size, timeout_s)
    try:
        template = load_prompt(prompt)
    except JudgeError as exc:
        raise InputError(str(exc)) from None
    with open_workspace(workspace, create=False) as ws:
        try:
            items = store.judge_items(ws, session_id)
        except RatingError as exc:
            raise StageError(str(exc)) from None
        try:
            requests = judge_requests([{**i, "question": question_text(i["prompt"])}
                                       for i in items], template)
        except JudgeError as exc:
            raise StageError(f"session {session_id}: {exc}") from None
        config = {"session_id": session_id, "judge": spec, "prompt_file": str(prompt or
                  "default"), "prompt_sha256": hashlib.sha256(template.encode()).hexdigest()}
        job_dir = jobs.new_job(ws.artifacts / "jobs", "judge", {
            "judge": spec, "session_id": session_id, "within": within})
        ws.add_run(job_dir.name, "judge", None, str(job_dir), {**config, "prompt": template})
    for k, row in enumerate(requests):
        row["order_no"] = k % 2
    write_jsonl(job_dir / "requests.jsonl", requests)
    try:
        result = run_job(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt) as exc:
        state = jobs.status(job_dir)
        _finish(workspace, job_dir.name, state["state"], {"error": state.get("error", "")})
        error = state.get("error", "")
        if isinstance(exc, JobFailed) and error.startswith("JudgeError: "):
            raise StageError(error.removeprefix("JudgeError: ")) from None
        raise
    answers = read_jsonl(job_dir / "answers.jsonl")
    rows = [{**row, "choice": (c := parse_choice(row["answer"])),
             "label": label_of(c, row["a_system"], row["b_system"])} for row in answers]
    with open_workspace(workspace) as ws:
        store.save_verdicts(ws, job_dir.name, session_id, rows)
        report = _report(ws, session_id, job_dir.name, n_boot)
        ws.finish_run(job_dir.name, "succeeded", {
            "session_id": session_id, "judge": spec["name"], "items": report["items"],
            "unparsed": report["unparsed"]["answers"], "seconds": result.get("seconds"),
            "line": report["calibration"]["line"]})
    return report


def _finish(workspace: Path, run_id: str, state: str, summary: dict) -> None:
    with open_workspace(workspace) as ws:
        ws.finish_run(run_id, state, summary)


def _report(ws: Workspace, session_id: int, run_id: str, n_boot: int) -> dict:
    rows = store.verdict_rows(ws, run_id)
    lengths = {(i["item_no"], system): len(i[f"{side}_output"] or "")
               for i in store.judge_items(ws, session_id)
               for system, side in ((i["first_system"], "first"),
                                    (i["second_system"], "second"))}
    verdicts = item_verdicts(rows)
    firsts = [r for r in raw_ratings(ws, session_id) if not r["is_repeat"]]
    run = _run_config(ws, run_id)
    calibration = calibrate(firsts, verdicts, lengths, n_boot=n_boot)
    return {"run_id": run_id, "session_id": session_id, "judge": run["judge"],
            "prompt_file": run["prompt_file"], "items": len(verdicts),
            "verdicts": sum(v["verdict"] is not None for v in verdicts),
            "unparsed": unparsed(rows), "win_rates": win_rates(verdicts, lengths),
            "position_consistency": position_consistency(verdicts),
            "calibration": calibration, "calibration_table": table_rows(calibration)}


def _run_config(ws: Workspace, run_id: str) -> dict:
    from workbench.store.preferences import run_record

    config = (run_record(ws, run_id) or {}).get("config") or {}
    judge = config.get("judge") or {}
    where = judge.get("url") or judge.get("model_dir") or "?"
    return {"judge": f"{judge.get('name', '?')} ({judge.get('backend', '?')}: {where})",
            "prompt_file": config.get("prompt_file")}


def judge_report(ws: Workspace, session_id: int, n_boot: int = 500) -> dict | None:
    """The latest judge run of a session: {"run_id", "session_id", "judge" (name, backend
    and where), "prompt_file", "items", "verdicts" (items with a verdict), "unparsed"
    (``evaluation.judge.unparsed``), "win_rates" (raw with Wilson interval and
    length-controlled, per pair), "position_consistency", "calibration"
    (``evaluation.judge_calibration.calibrate``) and "calibration_table" (its rows)}; None
    before any judge run."""
    runs = store.judge_runs(ws, session_id)
    return _report(ws, session_id, runs[0]["id"], n_boot) if runs else None


def judge_jobs(workspace: Path, session_id: int) -> list[dict]:
    """The judge jobs of a session, newest first: the Sessions page's ``judge_launch`` jobs
    and the ``judge`` jobs of ``workbench judge`` (not those run inside a launch), each
    {"dir" (Path), "status" (``runner.status``), "progress" (``runner.progress``)}."""
    parent = Path(workspace) / "artifacts" / "jobs"
    folders = [*jobs.find(parent, "judge_launch", session_id=session_id),
               *jobs.find(parent, "judge", session_id=session_id, within=None)]
    folders.sort(key=lambda f: ((f / "config.json").stat().st_mtime_ns, f.name), reverse=True)
    return [{"dir": f, "status": jobs.status(f), "progress": jobs.progress(f)}
            for f in folders]


def refuse_second(workspace: Path, session_id: int, besides: str | None = None) -> None:
    """Raise StageError when a judge job other than the one named ``besides`` is running on
    the session (two judges of one session would only compete for the machine)."""
    for job in judge_jobs(workspace, session_id):
        if jobs.active(job["status"]) and job["dir"].name != besides:
            raise StageError(f"session {session_id} is already being judged by job "
                             f"{job['dir'].name}: wait for it to end, or cancel it on the "
                             "Sessions page")


def start_judge(workspace: Path, session_id: int, model_dir: str | None = None) -> Path:
    """Start a ``judge_launch`` job (the Sessions page's button): ``judge`` of the session
    with a local model folder (the embedded model when None) and the default prompt; returns
    its folder. Raises StageError while another judge job runs on the session."""
    refuse_second(workspace, session_id)
    job_dir = jobs.new_job(Path(workspace) / "artifacts" / "jobs", "judge_launch",
                           {"workspace": str(workspace), "session_id": session_id,
                            "model_dir": model_dir})
    jobs.start(job_dir)
    return job_dir


def judge_launch_task(config: dict, report) -> dict:
    """The ``judge_launch`` job kind: ``judge`` run as a job; returns its summary line."""
    from workbench.jobs.execute import in_this_process

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    result = judge(Path(config["workspace"]), config["session_id"], config.get("model_dir"),
                   on_progress=forward, run_job=in_this_process,
                   within=Path(report.dir).name)
    return {"run_id": result["run_id"], "items": result["items"],
            "unparsed": result["unparsed"]["answers"], "line": result["calibration"]["line"]}
