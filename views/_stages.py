"""The curation stages on the Data page: start one (or all) as a job named by its stage, and
show each stage's latest result on the current dataset as a card.

A card's figures come from the stage's latest successful run on the dataset (the runs table)
and their change from the run before it; a running job shows a progress bar in its stage's
card. What the libraries log while a stage runs (Presidio loading its recognizers, warnings)
goes to the job's ``log.txt``, never to the page; a failed job shows its one-line error and
where its log is.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench.jobs import runner as jobs

CURATION = ("validate", "dedup", "pii", "split", "leakage")
TITLES = {"validate": "Validate", "dedup": "Deduplicate", "pii": "PII scan", "split": "Split",
          "leakage": "Leakage", "all": "Run all"}
LINKS = {  # stage -> (page, link label): where the rows behind the card are
    "validate": ("views/browse.py", "Browse the rows"),
    "dedup": ("views/dedup.py", "Review clusters"),
    "pii": ("views/privacy.py", "Review findings"),
    "split": ("views/browse.py", "Browse the rows"),
    "leakage": ("views/browse.py", "Browse the rows"),
}


def figures(stage: str, summary: dict) -> list[tuple[str, float | int | None]]:
    """The card's (label, value) figures of a stage summary
    (``workbench.stages.curation``'s summaries)."""
    s = summary or {}
    if stage == "validate":
        return [("Findings", s.get("validation_findings")),
                ("Rows with errors", s.get("error_rows"))]
    if stage == "dedup":
        dropped = [s.get(f"{level}_duplicates") for level in ("exact", "near", "semantic")]
        return [("Duplicates dropped", sum(dropped) if None not in dropped else None),
                ("Rows kept", s.get("kept"))]
    if stage == "pii":
        return [("PII spans", s.get("pii_spans")),
                ("Examples with PII", s.get("examples_with_pii"))]
    if stage == "split":
        return [("Train", s.get("train")), ("Validation", s.get("validation")),
                ("Test", s.get("test"))]
    if stage == "leakage":
        return [("Above threshold", s.get("above_threshold")),
                ("Max similarity", s.get("max_similarity"))]
    return []


def _counts(pairs) -> str:
    return ", ".join(f"{name} {n}" for name, n in pairs)


def details(stage: str, summary: dict) -> str:
    """The line under the figures: what the counts are made of."""
    s = summary or {}
    if stage == "validate":
        severity = s.get("by_severity") or {}
        by_code = sorted((s.get("by_code") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
        return (f"{severity.get('error', 0)} error(s), {severity.get('warning', 0)} "
                f"warning(s), {severity.get('info', 0)} info · by code: "
                + (_counts(by_code) or "none"))
    if stage == "dedup":
        line = (f"Dropped: exact {s.get('exact_duplicates')}, near {s.get('near_duplicates')}"
                f", semantic {s.get('semantic_duplicates')} · review decisions re-applied: "
                f"{s.get('overrides_reapplied', 0)}")
        if s.get("embedding_backend"):
            line += (f" · embedded {s.get('embedded_texts', 0)} text(s), "
                     f"{s.get('cached_texts', 0)} from the cache ({s['embedding_backend']})")
        return line
    if stage == "pii":
        return (f"Examples redacted: {s.get('redacted', 0)} · by type: "
                + (_counts((s.get("by_entity") or {}).items()) or "none"))
    if stage == "leakage":
        return (f"Of {s.get('held_out')} held-out row(s); threshold {s.get('threshold')}: a "
                "row at or above it would have been a semantic duplicate of a training row.")
    if stage == "split":
        return "Grouped so that duplicates stay on one side."
    return ""


def delta(value, before):
    """value − before for two numbers, else None (no change to show)."""
    if isinstance(value, (int, float)) and isinstance(before, (int, float)):
        change = value - before
        return round(change, 4) if isinstance(change, float) else change
    return None


def start(path: Path, dataset_id: int, stages: list[str]) -> Path:
    """Start ``stages`` (in order) on the current dataset as one job named by its stage
    ("all" for several); returns the job folder."""
    name = stages[0] if len(stages) == 1 else "all"
    job_dir = jobs.new_job(path / "artifacts" / "jobs", "stage",
                           {"stage": stages[0], "stages": stages, "dataset_id": dataset_id,
                            "title": TITLES[name],
                            "options": {"input": "", "workspace": str(path)}}, name=name)
    jobs.start(job_dir)
    return job_dir


def curation_jobs(path: Path, dataset_id: int) -> list[dict]:
    """The Data page's jobs on ``dataset_id``, newest first: {"dir", "stages", "status",
    "progress"}."""
    out = []
    for folder in jobs.find(path / "artifacts" / "jobs", "stage", dataset_id=dataset_id):
        config = jobs.read_json(folder / "config.json", {}) or {}
        out.append({"dir": folder, "stages": config.get("stages") or [config.get("stage")],
                    "status": jobs.status(folder), "progress": jobs.progress(folder)})
    return out


def active(found: list[dict]) -> list[dict]:
    return [j for j in found if j["status"]["state"] in ("queued", "running")]


def stage_of(progress: dict) -> str:
    """The stage a job's progress is at: its message is the stage's name or
    ``"<stage>: <the stage's own progress>"`` (workbench.stages.background.stage_progress)."""
    return (progress.get("message") or "").partition(":")[0]


def card(stage: str, run: dict | None, before: dict | None, job: dict | None) -> None:
    """One stage's card: title, figures with their change, details, a link to the rows;
    a progress bar while ``job`` runs it; the error when ``job`` (its latest) failed."""
    box = st.container(border=True)
    box.markdown(f"**{TITLES[stage]}**")
    state = job["status"]["state"] if job else None
    if state in ("queued", "running"):
        progress = job["progress"]
        total = progress.get("total") or 1
        current = stage_of(progress) or "starting"
        doing = current == stage or len(job["stages"]) == 1
        box.progress(min(progress.get("step", 0) / total, 1.0),
                     text="running" if doing else f"waiting (running {current})")
    if run is None:
        box.caption("Not run on this dataset yet.")
    else:
        previous = (before or {}).get("summary") or {}
        for label, value in figures(stage, run["summary"]):
            box.metric(label, "–" if value is None else value,
                       delta=delta(value, dict(figures(stage, previous)).get(label))
                       if before else None, delta_color="off")
        box.caption(details(stage, run["summary"]))
        box.caption(f"Ran {run['created_at']:%Y-%m-%d %H:%M}"
                    + ("; change from the run before" if before else "; first run"))
        page, label = LINKS[stage]
        box.page_link(page, label=label, icon="➡️")
    failed_here = len(job["stages"]) == 1 or stage_of(job["progress"]) == stage if job \
        else False
    if state in ("failed", "cancelled") and failed_here:
        error = job["status"].get("error") or "no error recorded"
        box.error(f"{TITLES[stage]} {state}: {error}")
        box.caption(f"Log: {job['dir'] / 'log.txt'}")
