"""Preference stages: pairs from rating sessions (export), DPO / ORPO training on them, and
the re-check session of a preference-tuned run against the model it started from.

Run as: ``export(Path("ws"), [1], "trl", "pairs.jsonl")``; ``train(Path("ws"),
TrainConfig(method="dpo"), session_ids=[1])``; ``recheck(Path("ws"), run_id)``.

The pairs are ``evaluation.preferences.extract_pairs`` over the store's ratings
(``workbench.store.preferences``); the training is the ``dpo`` / ``orpo`` job body
(``workbench.jobs.bodies.preference_task``), recorded in ``runs`` with kind ``dpo`` /
``orpo`` and its adapter in the summary like a LoRA run's, so generate, score and sessions
use it as a tuned system.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from common.errors import InputError, JobFailed, StageError
from evaluation.preferences import (
    FORMATS,
    Extraction,
    Pair,
    PreferenceError,
    decode,
    encode,
    nothing_left,
    pair_dicts,
    provenance_lines,
    trl_row,
)
from training.config import PREFERENCE_METHODS, TrainConfig
from workbench.jobs import runner as jobs
from workbench.jobs.execute import Execute, in_child
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.store import open_workspace
from workbench.store import preferences as store
from workbench.store.sessions import RatingError

Progress = Callable[[dict], None]
TUNED_KINDS = ("train", *PREFERENCE_METHODS)


def pairs(workspace: Path, session_ids: list[int], min_agreement: int = 1) -> Extraction:
    """The sessions' preference pairs (``evaluation.preferences.extract_pairs``).

    Raises StageError with one message when there is no session, a session is unknown, or
    nothing is left (no decisive item, or the agreement filter removed every one: the message
    counts what was left out and why)."""
    if not session_ids:
        raise StageError("name at least one rating session")
    from evaluation.preferences import extract_pairs

    with open_workspace(workspace, create=False) as ws:
        try:
            ratings, prompts, outputs = store.pair_sources(ws, session_ids)
        except RatingError as exc:
            raise StageError(str(exc)) from None
    try:
        found = extract_pairs(ratings, prompts, outputs, min_agreement)
    except PreferenceError as exc:
        raise StageError(str(exc)) from None
    if not found.pairs:
        raise StageError(nothing_left(found.counts, sorted(set(session_ids)), min_agreement))
    return found


def export_files(found: Extraction, fmt: str) -> dict[str, bytes]:
    """{suffix: bytes} of an export: ``""`` the file itself, ``".provenance.jsonl"`` the
    provenance beside an ``openai`` file."""
    files = {"": encode(found.pairs, fmt)}
    if fmt == "openai":
        files[".provenance.jsonl"] = provenance_lines(found.pairs)
    return files


def provenance_path(path: Path | str) -> Path:
    """Where an ``openai`` export's provenance lies: ``pairs.jsonl`` →
    ``pairs.provenance.jsonl``."""
    path = Path(path)
    return path.with_name(path.stem + ".provenance.jsonl")


def export(workspace: Path, session_ids: list[int], fmt: str, out: str,
           min_agreement: int = 1, overwrite: bool = False, cwd: bool = True) -> dict:
    """Write the sessions' pairs to ``out`` (and its provenance file for ``openai``) through
    the confined writer (``workbench.paths``: the current folder with ``cwd``, the workspace,
    ``$WORKBENCH_DATA_DIRS``). Returns {"out", "format", "pairs", "counts", "sessions",
    "min_agreement", "provenance"?}. Raises StageError (see ``pairs``) or InputError for an
    unknown format or a path outside the allowed folders / already there."""
    from workbench.paths import write_file, write_roots, write_target

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    roots = write_roots(Path(workspace), cwd=cwd)
    target = write_target(out, roots, overwrite)  # refuse before reading anything
    if fmt == "openai":
        write_target(provenance_path(target), roots, overwrite)
    found = pairs(workspace, session_ids, min_agreement)
    files = export_files(found, fmt)
    written = write_file(target, roots, files[""], overwrite)
    result = {"out": str(written), "format": fmt, "pairs": len(found.pairs),
              "counts": found.counts, "sessions": sorted(set(session_ids)),
              "min_agreement": min_agreement}
    if fmt == "openai":
        result["provenance"] = str(write_file(provenance_path(written), roots,
                                              files[".provenance.jsonl"], overwrite))
    return result


def read_pairs(workspace: Path, typed: str, fmt: str | None = None) -> list[Pair]:
    """The pairs of an export file (inside the workspace, the demo data or
    ``$WORKBENCH_DATA_DIRS``); ``fmt`` from the name when None: ``.parquet`` is parquet, a
    JSON-lines file with ``input`` is openai (its provenance file beside it), else trl.
    Raises InputError naming the file (and line) when it cannot be read as pairs."""
    from workbench.paths import allowed_roots, confine

    path = confine(typed, allowed_roots(Path(workspace)))
    if not path.is_file():
        raise InputError(f"{typed}: no such file")
    data = path.read_bytes()
    if fmt is None:
        first = data.lstrip().split(b"\n", 1)[0].decode("utf-8", "replace")
        fmt = ("parquet" if path.suffix == ".parquet" else
               "openai" if first.startswith("{") and '"input"' in first else "trl")
    extra = None
    if fmt == "openai":
        side = provenance_path(path)
        if not side.is_file():
            raise InputError(f"{typed}: an OpenAI export needs its provenance file {side.name} "
                             "beside it")
        extra = side.read_bytes()
    try:
        found = decode(data, fmt, extra, name=path.name)
    except PreferenceError as exc:
        raise InputError(str(exc)) from None
    if not found:
        raise InputError(f"{typed}: no preference pair in the file")
    return found


# -- training ---------------------------------------------------------------------------
def _start(ws, config: TrainConfig) -> dict:
    """{"from": "base" | run id, "adapter": folder | None, "kind"} of ``config.start_from``.
    Raises StageError for an unknown or unfinished run, one without a LoRA adapter, or one of
    another base model."""
    if config.start_from == "base":
        return {"from": "base", "adapter": None, "kind": None}
    run = store.run_record(ws, config.start_from)
    if run is None or run["kind"] not in TUNED_KINDS or run["state"] != "succeeded":
        raise StageError(f"start_from {config.start_from!r} is not a succeeded training run "
                         "(see `workbench train-runs`)")
    method = run["config"].get("train", {}).get("method", "lora")
    if method not in ("lora", *PREFERENCE_METHODS):
        raise StageError(f"start_from {config.start_from!r} is a {method} run; preference "
                         "tuning continues a LoRA adapter (method lora, dpo or orpo)")
    base = run["config"].get("train", {}).get("base_model", "embedded")
    if base != config.base_model:
        raise StageError(f"start_from {config.start_from!r} was trained on base model "
                         f"{base!r}, not {config.base_model!r}: set base_model to {base!r}")
    return {"from": run["id"], "adapter": run["summary"]["adapter"], "kind": run["kind"]}


def _scan_answers(texts: list[str]) -> list[list]:
    """PII spans per text (``curation.pii.scan``, the curation PII step's detector)."""
    from curation.pii import scan

    return scan(texts)


def _privacy(ws, found: list[Pair], sources: dict, accept_answer_pii: bool) -> dict:
    """The privacy facts of the pairs for the lineage; PrivacyGateError when training must
    stop. The prompts of session pairs are dataset rows: the dataset's own gate
    (``workbench.stages.privacy.check_gate``) covers them. The answers (model outputs), and
    the prompts of pairs read from a file, are scanned here (``curation.privacy_gate.
    answer_gate``)."""
    from curation.privacy_gate import answer_gate
    from workbench.stages.privacy import check_gate, gate_version

    facts: dict = {"datasets": {}}
    for dataset_id in sorted({s["dataset_id"] for s in sources.values()
                              if s["dataset_id"] is not None}):
        facts["datasets"][str(dataset_id)] = check_gate(ws, dataset_id,
                                                        gate_version(ws, dataset_id))
    texts, owners = [], []
    for pair in found:
        pieces = [pair.chosen, pair.rejected]
        if pair.session_id not in sources:  # a file's pair: its prompt is not a dataset row
            pieces += [m["content"] for m in pair.prompt]
        texts += pieces
        owners += [(pair.session_id, pair.item_no)] * len(pieces)
    spans = _scan_answers(texts)
    decision = answer_gate([(owner, s) for owner, per in zip(owners, spans, strict=True)
                            for s in per], accept_answer_pii,
                           file_prompts=any(p.session_id not in sources for p in found))
    facts["answers"] = decision
    return facts


def train(workspace: Path, config: TrainConfig, session_ids: list[int] | None = None,
          preferences: str | None = None, min_agreement: int = 1,
          on_progress: Progress | None = None, run_job: Execute = in_child,
          accept_answer_pii: bool = False) -> dict:
    """Preference-tune (``config.method``: dpo or orpo) on the pairs of ``session_ids`` or of
    an export file ``preferences``, as a job recorded in ``runs`` (kind = the method).

    The lineage (``lineage.json`` beside the adapter, and the run's config) names the
    sessions, the agreement filter, every pair (session, item, example, systems, raters,
    agreement), the file and its SHA-256 when read from one, the start model and the privacy
    facts. Returns the summary {run_id, method, steps, first_loss, final_loss, adapter,
    pairs, reward_accuracy, reward_margin (both on the training pairs after training),
    start_from, reference}. Raises StageError (no pairs, bad start run, not a preference
    method), InputError (unreadable file), PrivacyGateError, JobFailed.
    """
    from workbench.stages.lineage import base_model_identity, library_versions

    config.validate()
    if config.method not in PREFERENCE_METHODS:
        raise StageError(f"method {config.method!r} trains on conversations: use `workbench "
                         f"train`; preference tuning is {' or '.join(PREFERENCE_METHODS)}")
    if bool(session_ids) == bool(preferences):
        raise StageError("give rating sessions or a preferences file (one of the two)")
    source: dict = {"min_agreement": min_agreement}
    if preferences:
        found = read_pairs(workspace, preferences)
        source |= {"file": str(preferences),
                   "sha256": hashlib.sha256(_file_bytes(workspace, preferences)).hexdigest(),
                   "sessions": sorted({p.session_id for p in found})}
    else:
        found = pairs(workspace, session_ids, min_agreement).pairs
        source["sessions"] = sorted(set(session_ids))
    with open_workspace(workspace, create=False) as ws:
        start = _start(ws, config)
        sources = store.session_sources(ws, source["sessions"]) if session_ids else {}
        privacy = _privacy(ws, found, sources, accept_answer_pii)
        dataset_ids = sorted({s["dataset_id"] for s in sources.values() if s["dataset_id"]})
        lineage = {"preferences": {**source, "pairs": len(found),
                                   "pair_ids": [[p.session_id, p.item_no] for p in found]},
                   "start": start, "base_model": base_model_identity(config.base_model),
                   "training": config.to_dict(), "libraries": library_versions(),
                   "privacy": privacy}
        job_dir = jobs.new_job(ws.artifacts / "jobs", config.method,
                               {"train": config.to_dict(), "lineage": lineage,
                                "start_adapter": start["adapter"]})
        ws.add_run(job_dir.name, config.method, dataset_ids[0] if dataset_ids else None,
                   str(job_dir), {"train": config.to_dict(), "lineage": lineage})
    write_jsonl(job_dir / "pairs.jsonl", [trl_row(p) for p in found])
    write_jsonl(job_dir / "pairs_provenance.jsonl", pair_dicts(found))
    return _run_and_record(workspace, job_dir, start["from"], on_progress, run_job)


def resume(workspace: Path, run_id: str, on_progress: Progress | None = None,
           run_job: Execute = in_child) -> dict:
    """Restart a failed or cancelled preference run in its folder from its newest checkpoint
    (same pairs, config and start). Returns the summary as ``train``. Raises StageError when
    the run is unknown, not a preference run, not failed/cancelled, or has no checkpoint."""
    with open_workspace(workspace, create=False) as ws:
        run = store.run_record(ws, run_id)
        if run is None or run["kind"] not in PREFERENCE_METHODS:
            raise StageError(f"no preference run {run_id!r} in this workspace")
        job_dir = Path(run["dir"])
        state = jobs.status(job_dir)["state"]
        if state not in ("failed", "cancelled"):
            raise StageError(f"run {run_id} is {state}: only a failed or cancelled run resumes")
        if not any((job_dir / "checkpoints").glob("checkpoint-*")):
            raise StageError(f"run {run_id} has no checkpoint to resume from (it stopped "
                             "before its first one); start a new run")
        from workbench.store import training as train_store

        train_store.set_run_state(ws, run_id, "queued")
    jobs.write_json(job_dir / "status.json", {"state": "queued", "created": jobs.now()})
    return _run_and_record(workspace, job_dir, run["config"]["lineage"]["start"]["from"],
                           on_progress, run_job)


def _run_and_record(workspace: Path, job_dir: Path, start_from: str,
                    on_progress: Progress | None, run_job: Execute) -> dict:
    """Run the prepared job folder; import its log and record the final state."""
    try:
        result = run_job(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt):
        state = jobs.status(job_dir)
        _finish(workspace, job_dir, state["state"], {"error": state.get("error", "")})
        raise
    summary = {"run_id": job_dir.name, "method": result["method"], "steps": result["steps"],
               "first_loss": result["first_loss"], "final_loss": result["final_loss"],
               "adapter": result["adapter"], "pairs": result["pairs"],
               "reward_accuracy": result["reward_accuracy"],
               "reward_margin": result["reward_margin"], "start_from": start_from,
               "reference": result["reference"], "resumed_from": result["resumed_from"]}
    _finish(workspace, job_dir, "succeeded", summary)
    return summary


def _file_bytes(workspace: Path, typed: str) -> bytes:
    from workbench.paths import allowed_roots, confine

    return confine(typed, allowed_roots(Path(workspace))).read_bytes()


def _finish(workspace: Path, job_dir: Path, state: str, summary: dict) -> None:
    """Import the step log (loss per step) and record the run's final state."""
    from workbench.store import training as train_store

    log_path = job_dir / "train_log.jsonl"
    with open_workspace(workspace) as ws:
        train_store.import_train_log(ws, job_dir.name,
                                     read_jsonl(log_path) if log_path.is_file() else [])
        ws.finish_run(job_dir.name, state, summary)


def live_log(job_dir: Path) -> list[dict]:
    """The step records (loss, reward margin, reward accuracy) a preference job has written
    so far."""
    path = Path(job_dir) / "train_log.jsonl"
    try:
        return read_jsonl(path)
    except (FileNotFoundError, json.JSONDecodeError):  # a line being written right now
        return []


# -- re-check ---------------------------------------------------------------------------
def recheck(workspace: Path, run_id: str, raters: list[str] | None = None,
            k: int | None = None, eval_size: int | None = None,
            max_new_tokens: int | None = None, seed: int | None = None,
            on_progress: Progress | None = None, run_job: Execute = in_child) -> dict:
    """The next blind session: the preference run against the model it started from.

    Generates answers of both (a generate run: the preference run is the system "tuned"; its
    start is "base", or, for a run that started from a train run, that run's id) for the same
    test prompts, then creates a rating session of the two. Defaults come from the first
    session the run learned from: its raters (new invite tokens), k (at most the raters),
    repeat share and guidelines, and its generate run's prompt count and max_new_tokens.
    Returns {"session_id", "name", "systems", "generate_run", "items", "auto_ties",
    "tokens"}; the statistics are the session's (``workbench.session_statistics``) once it is
    rated. Raises StageError for an unknown or unfinished preference run, or without raters.
    """
    from evaluation.sessions import SessionDesign
    from workbench.stages.evaluation import generate
    from workbench.store.sessions import create_session
    from workbench.store.sessions import session as session_info

    with open_workspace(workspace, create=False) as ws:
        run = store.run_record(ws, run_id)
        if run is None or run["kind"] not in PREFERENCE_METHODS or run["state"] != "succeeded":
            raise StageError(f"{run_id!r} is not a succeeded preference run (dpo or orpo)")
        lineage = run["config"]["lineage"]
        start = lineage["start"]["from"]
        first = (lineage["preferences"].get("sessions") or [None])[0]
        defaults = {"raters": [], "k": 1, "repeat_share": 0.0, "guidelines": "",
                    "prompts": 50, "max_new_tokens": 256}
        if first is not None:
            try:
                info = session_info(ws, first)
            except RatingError:
                info = None
            if info is not None:
                gen = store.run_record(ws, info["run_id"]) or {}
                defaults |= {"raters": store.rater_names(ws, first), "k": info["k"],
                             "repeat_share": info["repeat_share"],
                             "guidelines": info["guidelines"],
                             **{key: (gen.get("summary") or {}).get(key, defaults[key])
                                for key in ("prompts", "max_new_tokens")}}
    raters = [r.strip() for r in (raters or defaults["raters"]) if r.strip()]
    if not raters:
        raise StageError("name the raters of the re-check session (the run has no session "
                         "to take them from)")
    tuned_runs = [run_id] if start == "base" else [run_id, start]
    made = generate(workspace, eval_size=eval_size or defaults["prompts"],
                    max_new_tokens=max_new_tokens or defaults["max_new_tokens"],
                    on_progress=on_progress, tuned_runs=tuned_runs, run_job=run_job)
    systems = ("base" if start == "base" else start, "tuned")
    k = min(k or defaults["k"], len(raters))
    design = SessionDesign(systems=systems, k=k, repeat_share=defaults["repeat_share"],
                           guidelines=defaults["guidelines"])
    name = f"re-check {run_id} vs {start}"
    with open_workspace(workspace) as ws:
        try:
            created = create_session(ws, name, made["run_id"], design, raters, seed=seed,
                                     actor="recheck")
        except RatingError as exc:
            raise StageError(f"re-check session not created: {exc}") from None
    return {"session_id": created["session_id"], "name": name,
            "systems": {"tuned": run_id, systems[0]: start},
            "generate_run": made["run_id"], "items": created["items"],
            "auto_ties": created["auto_ties"], "tokens": created["tokens"]}


def start_recheck(workspace: Path, run_id: str) -> Path:
    """Start a ``recheck`` job (the Sessions page's button) with the session's defaults;
    returns its folder. The job's result leaves out the invite tokens (a file keeps no
    token): the admin issues them with "New token" on the Sessions page."""
    job_dir = jobs.new_job(Path(workspace) / "artifacts" / "jobs", "recheck",
                           {"workspace": str(workspace), "run": run_id})
    jobs.start(job_dir)
    return job_dir


def recheck_task(config: dict, report) -> dict:
    """The ``recheck`` job kind: ``recheck`` run as a job, tokens left out of its result."""
    from workbench.jobs.execute import in_this_process

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    made = recheck(Path(config["workspace"]), config["run"], on_progress=forward,
                   run_job=in_this_process)
    return {**{k: v for k, v in made.items() if k != "tokens"},
            "raters": sorted(made["tokens"])}
