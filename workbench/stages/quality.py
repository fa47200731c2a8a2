"""The quality stages: signals per kept row (``quality``) and the quality-and-diversity
selection that makes a new version (``select``).

``quality`` computes the heuristics here (``curation.quality``), reads the refusal /
boilerplate / language findings as flags, and runs the model-based signals
(``curation.ifd``) as a ``quality`` job, then stores everything in ``quality_signals``.
``select`` ranks the kept train rows by a combined score (``curation.quality.Formula``) and
keeps the best N (``curation.selection``); validation and test rows stay as they are, so every
selected version is evaluated on the same held-out split.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from common.errors import InputError, JobFailed, StageError
from curation.quality import FLAGS, SIGNALS, QualityConfig, heuristics, parse_formula
from workbench.jobs import runner as jobs
from workbench.jobs.execute import Execute, in_child
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.store import open_workspace
from workbench.store import quality as store
from workbench.store.versions import create_version, curated_rows

Progress = Callable[[dict], None]
LOAD_ERROR = "InputError: "  # how a job records the InputError of a folder that does not load


def _example_id(origin: str) -> int:
    return int(origin.split(":")[1])


def quality(workspace: Path, config: QualityConfig | None = None,
            on_progress: Progress | None = None, run_job: Execute = in_child,
            engine: str = "local", ray=None) -> dict:
    """Compute and store the quality signals of the current dataset's kept rows.

    Summary: run_id, rows, scored (rows with a model score), unscored ({reason: rows}),
    model_id, medians ({signal: median over the rows that have it}). ``engine``: 'local' or
    'ray' (the heuristics on Ray workers, curation.engine_ray.heuristics_on_ray, the same
    values; ``ray``: RayOptions); the model-based signals run as the local job either way.
    Raises StageError without kept rows, when Ray does not answer or a worker fails,
    InputError when the model folder does not exist or does not load.
    """
    from curation.engine_ray import check_engine
    from training.model import EMBEDDED_MODEL, ensure_base_model

    check_engine(engine)
    config = config or QualityConfig()
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = curated_rows(ws, dataset_id)
        flags = store.flag_codes(ws, dataset_id)
    if not rows:
        raise StageError("no kept row to score (every row is dropped or has an error)")
    if engine == "ray":
        from curation.engine_ray import heuristics_on_ray, ray_session

        with ray_session(ray) as options:
            signals = heuristics_on_ray([r["messages"] for r in rows], config.ngram, options,
                                        on_progress)
    else:
        signals = [heuristics(r["messages"], config.ngram) for r in rows]
    records = []
    for row, values in zip(rows, signals, strict=True):
        example_id = _example_id(row["origin"])
        found = flags.get(example_id, set())
        records.append({"example_id": example_id, **values,
                        **{code: code in found for code in FLAGS}})
    run_id, model_id = None, None
    if config.model:
        model_dir = ensure_base_model(config.base_model)
        model_id = EMBEDDED_MODEL if config.base_model == "embedded" else str(model_dir)
        scores, run_id = _model_scores(workspace, dataset_id, rows, model_dir, config,
                                       on_progress, run_job)
        for record in records:
            record.update(scores[record["example_id"]], model_id=model_id)
    summary = _summary(records, model_id)
    with open_workspace(workspace) as ws:
        store.save(ws, dataset_id, records)
        if run_id:
            ws.finish_run(run_id, "succeeded", {"run_id": run_id, **summary})
        else:
            recorded = config.to_dict() if engine == "local" else \
                {**config.to_dict(), "engine": engine,
                 "ray_address": getattr(ray, "address", None) or "local"}
            run_id = ws.record_stage("quality", dataset_id, recorded, summary)
    return {"run_id": run_id, **summary}


def _model_scores(workspace: Path, dataset_id: int, rows: list[dict], model_dir: Path,
                  config: QualityConfig, on_progress: Progress | None,
                  run_job: Execute) -> tuple[dict[int, dict], str]:
    """({example id: model signals or unscored reason}, run id) from a ``quality`` job."""
    job_config = {**config.to_dict(), "model_dir": str(model_dir)}
    with open_workspace(workspace) as ws:
        job_dir = jobs.new_job(ws.artifacts / "jobs", "quality", job_config)
        ws.add_run(job_dir.name, "quality", dataset_id, str(job_dir), job_config)
    write_jsonl(job_dir / "rows.jsonl", [{"example_id": _example_id(r["origin"]),
                                         "messages": r["messages"]} for r in rows])
    try:
        run_job(job_dir, on_progress)
    except (JobFailed, jobs.Cancelled, KeyboardInterrupt) as exc:
        state = jobs.status(job_dir)
        with open_workspace(workspace) as ws:
            ws.finish_run(job_dir.name, state["state"], {"error": state.get("error", "")})
        error = state.get("error", "")
        if isinstance(exc, JobFailed) and error.startswith(LOAD_ERROR):
            raise InputError(error[len(LOAD_ERROR):]) from None
        raise
    scores = {}
    for row in read_jsonl(job_dir / "scores.jsonl"):
        scores[row.pop("example_id")] = row
    return scores, job_dir.name


def _summary(records: list[dict], model_id: str | None) -> dict:
    unscored: dict[str, int] = {}
    for record in records:
        if record.get("unscored_reason"):
            unscored[record["unscored_reason"]] = unscored.get(record["unscored_reason"], 0) + 1
    medians = {}
    for name in SIGNALS:
        values = [r[name] for r in records if r.get(name) is not None]
        if values:
            medians[name] = round(statistics.median(values), 4)
    return {"rows": len(records), "scored": sum(r.get("ifd") is not None for r in records),
            "unscored": unscored, "model_id": model_id, "medians": medians}


def start_in_background(workspace: Path, config: QualityConfig) -> Path:
    """Start a ``quality_launch`` job (the Quality page's button); returns its folder."""
    job_dir = jobs.new_job(Path(workspace) / "artifacts" / "jobs", "quality_launch",
                           {"workspace": str(workspace), "quality": config.to_dict()})
    jobs.start(job_dir)
    return job_dir


# -- selection -------------------------------------------------------------------------

def select(workspace: Path, formula: str = "ifd", n: int | None = None,
           percent: float | None = None, threshold: float | None = 0.9,
           per_meta: str | None = None, groups: dict[str, str] | None = None,
           encode=None, note: str = "") -> dict:
    """Keep the best ``n`` (or ``percent`` % of the candidates) kept train rows by the
    combined score, with the diversity guard, as a new version whose recipe holds the
    selection.

    ``formula``: ``curation.quality.parse_formula`` text; ``threshold``: the guard's cosine
    (None: no guard); ``per_meta``: a meta field whose values are the groups; ``groups``:
    {origin: group} from elsewhere (a map's clusters), instead of ``per_meta``. ``encode``:
    texts → L2-normalized vectors, for tests (default: the dedup embedder through the
    workspace's embedding cache). Rows without a split, or in the train split, are the
    candidates; validation and test rows are kept unchanged. Returns {version, created,
    n_rows, selection}. Raises StageError before the quality stage ran or for a bad formula.
    """
    from curation.dedup import conversation_text
    from curation.quality import combined_scores
    from curation.selection import select_rows, size_of

    try:
        parsed = parse_formula(formula)
    except ValueError as exc:
        raise StageError(f"formula: {exc}") from None
    with open_workspace(workspace, create=False) as ws:
        dataset_id = ws.current_dataset()
        rows = curated_rows(ws, dataset_id)
        signals = {r["example_id"]: r for r in store.signal_rows(ws, dataset_id)}
        quality_run = ws.latest_run("quality")
    if not signals:
        raise StageError("no quality signals yet: run `workbench quality` (or the Quality "
                         "page's Compute button) first")
    candidates = [r for r in rows if r["split"] in (None, "train")]
    held = [r for r in rows if r["split"] not in (None, "train")]
    scores = combined_scores([signals.get(_example_id(r["origin"]), {}) for r in candidates],
                             parsed)
    try:
        size = size_of(len(candidates), n, percent)
    except ValueError as exc:
        raise StageError(str(exc)) from None
    vectors, embedding = None, None
    if threshold is not None:
        texts = [conversation_text(r["messages"]) for r in candidates]
        vectors, embedding = _vectors(workspace, texts, encode)
    names = _groups(candidates, per_meta, groups)
    chosen = select_rows(scores, size, vectors, threshold, names)
    picked = sorted(chosen.chosen)
    recipe = {"formula": parsed.to_dict(), "signals": [name for name, _ in parsed.weights],
              "n": n, "percent": percent, "size": size, "threshold": threshold,
              "per_meta": per_meta, "grouped": names is not None, "quotas": chosen.quotas,
              "candidates": len(candidates), "selected": len(picked),
              "skipped_similar": len(chosen.similar), "unscored": len(chosen.unscored),
              "held_out_rows": len(held), "embedding": embedding,
              "quality_run": quality_run["id"] if quality_run else None,
              "model_id": (quality_run or {}).get("summary", {}).get("model_id")}
    with open_workspace(workspace) as ws:
        made = create_version(ws, dataset_id, note or f"quality selection: {parsed.describe()}",
                              [candidates[i] for i in picked] + held, selection=recipe)
        ws.record_stage("select", dataset_id, {"formula": formula, "n": n, "percent": percent,
                                               "threshold": threshold, "per_meta": per_meta},
                        {"version": made["id"], "selected": len(picked)})
    return {"version": made["id"], "created": made["created"], "n_rows": made["n_rows"],
            "selection": recipe}


def _groups(candidates: list[dict], per_meta: str | None,
            groups: dict[str, str] | None) -> list[str] | None:
    if groups is not None:
        return [str(groups.get(r["origin"], "")) for r in candidates]
    if per_meta:
        return [str((r["meta"] or {}).get(per_meta, "")) for r in candidates]
    return None


def _vectors(workspace: Path, texts: list[str], encode):
    """(L2-normalized vectors of ``texts``, what embedded them) for the diversity guard."""
    if encode is not None:
        return encode(texts), "given"
    from curation.dedup import DedupPlan
    from curation.embed import encode as embed_texts
    from curation.embed import model_id
    from workbench.store.embeddings import EmbeddingCache

    config = DedupPlan().semantic
    cache = EmbeddingCache(workspace)
    vectors = embed_texts(texts, config, cache)
    return vectors, {"model": model_id(), "backend": cache.backend,
                     "max_seq_length": config.max_seq_length}
