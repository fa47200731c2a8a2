"""The ablation stage: train the same recipe on each version for the same token budget (or
the same steps), answer the same held-out rows with every run, and compare each arm with the
first one by paired bootstrap intervals.

Arms are named by version id or by a built-in: ``all`` (everything kept now, frozen as a
version) and ``random:P`` (a seeded random P% of that version's training rows, its held-out
rows unchanged; ``curation.subset``). The token budget is exact: each run's step count is
the fewest steps of the recipe's own batch order whose non-padding tokens reach the budget
(``training.budget``), and the tokens each run logged are reported beside it.

Run as: ``ablate(Path("ws"), ["all", "random:20"], TrainConfig(), budget_tokens=200_000)``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from common.errors import StageError
from training.config import TrainConfig
from workbench.jobs.execute import Execute, in_child
from workbench.store import open_workspace

Progress = Callable[[dict], None]
ALL = "all"
RANDOM = "random:"


def _resolve(ws, spec: str, seed: int) -> dict:
    """{label, version, rows} of one arm; built-ins are created as versions."""
    from curation.subset import random_subset
    from workbench.store.versions import (
        create_version,
        curated_rows,
        version_note,
        version_rows,
    )

    if spec == ALL or spec.startswith(RANDOM):
        dataset_id = ws.current_dataset()
        rows = curated_rows(ws, dataset_id)
        if spec == ALL:
            made = create_version(ws, dataset_id, "everything kept", rows)
            return {"label": "everything kept", "version": made["id"], "rows": rows}
        try:
            percent = float(spec[len(RANDOM):])
            rows = random_subset(rows, percent, seed)
        except ValueError as exc:
            raise StageError(f"arm {spec!r}: {exc} (write random:P with P in (0, 100])") from None
        made = create_version(ws, dataset_id, f"random {percent:g}% of the training rows of "
                                              f"everything kept (seed {seed})", rows)
        return {"label": f"random {percent:g}%", "version": made["id"], "rows": rows}
    rows = version_rows(ws, spec)
    note = version_note(ws, spec)  # e.g. a selection's "top 20% by IFD"
    return {"label": f"{note} ({spec[:8]})" if note else spec, "version": spec, "rows": rows}


def common_test_rows(arms: list[dict]) -> list[dict]:
    """The test rows every arm has (matched by origin), in the first arm's order, as {id,
    messages}; StageError naming the arms when there is none."""
    shared = set.intersection(*({r["origin"] for r in arm["rows"] if r["split"] == "test"}
                                for arm in arms))
    rows = [{"id": int(r["origin"].split(":")[1]), "messages": r["messages"]}
            for r in arms[0]["rows"] if r["split"] == "test" and r["origin"] in shared]
    if not rows:
        names = ", ".join(f"{a['label']} ({a['version']})" for a in arms)
        raise StageError(f"the versions {names} have no test row in common: an ablation "
                         "compares them on the same held-out rows (split the data, then "
                         "version it)")
    return rows


def plan_steps(arms: list[dict], config: TrainConfig, budget_tokens: int) -> None:
    """Set each arm's ``steps`` and ``planned_tokens`` for the budget (recipe's tokenizer,
    max_seq_len, batch order); StageError when the budget is below one step of an arm."""
    from training.batching import encode_with_exclusions
    from training.budget import BudgetTooSmall, steps_for_budget
    from training.model import ensure_base_model, load_tokenizer

    tokenizer = load_tokenizer(ensure_base_model(config.base_model))
    for arm in arms:
        train = [r["messages"] for r in arm["rows"] if r["split"] == "train"]
        encoded, _ = encode_with_exclusions(tokenizer, train, config.max_seq_len)
        lengths = [len(e["input_ids"]) for e in encoded]
        if not lengths:
            raise StageError(f"arm {arm['label']} ({arm['version']}) has no training row "
                             "with an assistant token")
        try:
            arm["steps"], arm["planned_tokens"] = steps_for_budget(
                lengths, config.batch_size, config.gradient_accumulation, config.seed,
                budget_tokens)
        except BudgetTooSmall as exc:
            raise StageError(f"{exc} of arm {arm['label']}: give a budget of at least one "
                             "batch, or --steps") from None


def ablate(workspace: Path, versions: list[str], config: TrainConfig | None = None,
           budget_tokens: int = 0, steps: int = 0, seed: int = 0, eval_size: int = 50,
           max_new_tokens: int = 128, extractor: str = "auto",
           on_progress: Progress | None = None, run_job: Execute = in_child,
           raters: list[str] = ()) -> dict:
    """Train ``config`` on each arm, generate and score on the common test rows, compare.

    ``versions``: two or more arms (version ids, ``all``, ``random:P``); the first is the
    baseline of the table. Exactly one of ``budget_tokens`` (non-padding training tokens per
    run) and ``steps`` (optimizer steps per run) is > 0. ``seed``: the random arms' sample.
    Returns {arms: [{label, version, train_rows, steps, planned_tokens, trained_tokens,
    run_id, final_loss}], test_rows, generate_run, extractor, means {arm: {metric: mean}},
    table (``evaluation.ablation.ablation_table`` rows, base model included as an arm)};
    with ``raters``, also ``session``: a blind rating session over the arms' answers
    (``blind_session``; its invite tokens are in this result only, never in the store).
    Raises StageError for fewer than two arms, both or neither of budget and steps, no
    common test row, or a budget below one step.
    """
    from evaluation.ablation import ABLATION_METRICS, ablation_table
    from workbench.stages import training as train_runs
    from workbench.stages.evaluation import generate, score
    from workbench.store import evaluation as eval_store
    from workbench.store import training as train_store

    config = (config or TrainConfig()).validate()
    if len(versions) < 2:
        raise StageError("an ablation needs at least two versions to compare")
    if (budget_tokens > 0) == (steps > 0):
        raise StageError("give exactly one of a token budget (--budget-tokens) and a step "
                         "count (--steps)")
    with open_workspace(workspace, create=False) as ws:
        arms = [_resolve(ws, spec, seed) for spec in versions]
    test_rows = common_test_rows(arms)
    if budget_tokens > 0:
        plan_steps(arms, config, budget_tokens)
    for arm in arms:
        arm.setdefault("steps", steps)
        arm["train_rows"] = sum(r["split"] == "train" for r in arm["rows"])
        summary = train_runs.launch(workspace, replace(config, max_steps=arm["steps"]),
                                    on_progress, run_job=run_job, version_id=arm["version"])
        with open_workspace(workspace, create=False) as ws:
            job_dir = Path(train_store.train_run(ws, summary["run_id"])["dir"])
        arm.update(run_id=summary["run_id"], final_loss=summary["final_loss"],
                   trained_tokens=sum(r["tokens"] for r in train_runs.live_log(job_dir)))
    run_ids = [arm["run_id"] for arm in arms]
    gen = generate(workspace, eval_size, max_new_tokens, on_progress, tuned_runs=run_ids,
                   run_job=run_job, rows=test_rows)
    scored = score(workspace, extractor)
    names = {"base": "base model", "tuned": arms[0]["label"],
             **{arm["run_id"]: arm["label"] for arm in arms[1:]}}
    with open_workspace(workspace, create=False) as ws:
        per_example = eval_store.example_scores(ws, gen["run_id"])
    scores = {names[system]: values for system, values in per_example.items()}
    table = ablation_table(scores, arms[0]["label"])
    means = {names[s]: {m: v for m, v in values.items() if m in ABLATION_METRICS}
             for s, values in scored["all_metrics"].items()}
    result = {"arms": [{k: arm.get(k) for k in ("label", "version", "train_rows", "steps",
                                                 "planned_tokens", "trained_tokens", "run_id",
                                                 "final_loss")} for arm in arms],
              "budget_tokens": budget_tokens or None, "steps": steps or None,
              "test_rows": min(len(test_rows), eval_size), "generate_run": gen["run_id"],
              "extractor": scored["extractor"], "means": means, "table": table}
    with open_workspace(workspace) as ws:
        ws.record_stage("ablate", ws.current_dataset(),
                        {"versions": versions, "budget_tokens": budget_tokens, "steps": steps,
                         "seed": seed, "eval_size": eval_size, "train": config.to_dict()},
                        result)
    if raters:
        systems = ["tuned", *run_ids[1:]]
        result["session"] = blind_session(workspace, gen["run_id"], systems, list(raters),
                                          f"ablation {gen['run_id']}")
    return result


def blind_session(workspace: Path, generate_run: str, systems: list[str], raters: list[str],
                  name: str) -> dict:
    """A blind pairwise rating session (``workbench.store.sessions.create_session``, one
    rater per item) over ``systems``' answers of ``generate_run``. Returns {session_id, name,
    items, systems, tokens {rater: invite token}}; RatingError when the design is refused
    (e.g. fewer items than raters)."""
    from evaluation.sessions import SessionDesign
    from workbench.store.sessions import create_session

    with open_workspace(workspace, create=False) as ws:
        made = create_session(ws, name, generate_run, SessionDesign(systems=tuple(systems)),
                              raters, actor="ablation")
    return {"session_id": made["session_id"], "name": name, "items": made["items"],
            "systems": systems, "tokens": made["tokens"]}


def start_in_background(workspace: Path, versions: list[str], config: TrainConfig,
                        budget_tokens: int = 0, steps: int = 0, seed: int = 0,
                        eval_size: int = 50, max_new_tokens: int = 128,
                        extractor: str = "auto") -> Path:
    """Start an ``ablate`` job (the Train page's ablation form); returns its folder.

    Refuses before any job starts what ``ablate`` would refuse at once (fewer than two
    arms, both or neither of budget and steps, an invalid config): StageError/WorkbenchError.
    """
    from workbench.jobs import runner as jobs

    config.validate()
    if len(versions) < 2:
        raise StageError("an ablation needs at least two versions to compare")
    if (budget_tokens > 0) == (steps > 0):
        raise StageError("give exactly one of a token budget and a step count")
    body = {"workspace": str(workspace), "versions": list(versions), "train": config.to_dict(),
            "budget_tokens": budget_tokens, "steps": steps, "seed": seed,
            "eval_size": eval_size, "max_new_tokens": max_new_tokens, "extractor": extractor}
    job_dir = jobs.new_job(Path(workspace) / "artifacts" / "jobs", "ablate", body)
    jobs.start(job_dir)
    return job_dir
