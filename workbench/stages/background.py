"""The job kinds that run stages: what the Run page and the Train page start in the background.

``pipeline`` (every stage), ``stage`` (one stage of the pipeline), ``train_launch`` (start
or resume a training from the Train page) and ``recheck`` (the Sessions page's re-check of a
preference run, ``workbench.stages.preferences.recheck_task``) and ``judge_launch`` (the
Sessions page's judge run, ``workbench.stages.judge.judge_launch_task``) open the workspace
like any stage, so they are
stages run as jobs, not job bodies of ``workbench.jobs``. Train and generate run inside them
(``workbench.jobs.execute.in_this_process``): one action from a page is exactly one job.
"""

from __future__ import annotations

from pathlib import Path

from common.errors import StageError
from training.config import TrainConfig
from workbench.jobs import bodies
from workbench.jobs.execute import in_this_process
from workbench.jobs.runner import Reporter
from workbench.stages import STAGES, quality, training
from workbench.stages.pipeline import PipelineOptions, StageProgress, pipeline, stage_runners
from workbench.stages.judge import judge_launch_task
from workbench.stages.preferences import recheck_task
from workbench.store import open_workspace


def pipeline_task(config: dict, report: Reporter) -> dict:
    """Run every automatic stage (``workbench.stages.pipeline.pipeline``) as one job."""
    options = PipelineOptions(**config["options"])
    return pipeline(options, on_stage=lambda i, n, name: report(i, n, name),
                    run_job=in_this_process, progress=stage_progress(report, list(STAGES)))


def stage_progress(report: Reporter, names: list[str]) -> StageProgress:
    """The progress of the stages ``names`` (run in that order) as the job's own.

    A stage's {"step", "total", "message"} moves the job's bar through that stage's share
    (stage i of n: from i/n to (i+1)/n); the message is ``"<stage>: <message>"``, e.g.
    ``dedup: near dedup on Ray: 128/250 rows (3 s)``. An update without a total (a wait)
    keeps the bar at the stage's start.
    """
    def for_stage(name: str):
        index = names.index(name)

        def forward(progress: dict) -> None:
            step, total = progress.get("step") or 0, progress.get("total") or 0
            message = f"{name}: {progress.get('message', '')}"
            if total > 0:
                report(index * total + min(step, total), len(names) * total, message)
            else:
                report(index, len(names), message)
        return forward
    return for_stage


def stage_task(config: dict, report: Reporter) -> dict:
    """Run one stage (``config["stage"]``), or several in order (``config["stages"]``), of
    ``workbench.stages.pipeline.stage_runners`` as one job; progress counts the stages.

    Returns the stage's summary, or {stage: summary} for several. The stages' own progress
    (a Ray engine's batches, training steps) moves the bar within a stage
    (``stage_progress``). With
    ``config["dataset_id"]`` the job refuses (StageError) to run when the current dataset
    changed meanwhile, so it never writes another dataset's rows than the one it was
    started for.
    """
    options = PipelineOptions(**config["options"])
    names = config.get("stages") or [config["stage"]]
    runners = stage_runners(options, in_this_process, stage_progress(report, names))
    results = {}
    for i, name in enumerate(names):
        _check_dataset(options.workspace, config.get("dataset_id"))
        report(i, len(names), name)
        results[name] = runners[name]()
    report(len(names), len(names), "done")
    return results if config.get("stages") else results[names[0]]


def _check_dataset(workspace: str, dataset_id: int | None) -> None:
    if dataset_id is None:
        return
    with open_workspace(workspace, create=False) as ws:
        current = ws.current_dataset()
    if current != dataset_id:
        raise StageError(f"the current dataset is now {current}, not {dataset_id} as when "
                         "this job was started: start it again on the current dataset")


def train_launch_task(config: dict, report: Reporter) -> dict:
    """Start (or resume, with ``config["resume"]``: a run id) a training from the Train page,
    as one job; ``training.start_in_background`` creates it."""
    workspace = Path(config["workspace"])

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    if config.get("resume"):
        return training.resume(workspace, config["resume"], forward, run_job=in_this_process)
    return training.train(workspace, config=TrainConfig.from_dict(config["train"]),
                          on_progress=forward, run_job=in_this_process,
                          version_id=config.get("version_id"))


def quality_launch_task(config: dict, report: Reporter) -> dict:
    """Compute the quality signals from the Quality page (``quality.start_in_background``
    creates it), as one job."""
    from curation.quality import QualityConfig

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    return quality.quality(Path(config["workspace"]), QualityConfig(**config["quality"]),
                           forward, run_job=in_this_process)


def ablate_task(config: dict, report: Reporter) -> dict:
    """Run a data ablation (``workbench.stages.ablation.ablate``) from the Train page, as one
    job; ``ablation.start_in_background`` creates it."""
    from workbench.stages.ablation import ablate

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    return ablate(Path(config["workspace"]), config["versions"],
                  TrainConfig.from_dict(config["train"]), config["budget_tokens"],
                  config["steps"], config["seed"], config["eval_size"],
                  config["max_new_tokens"], config["extractor"], forward, in_this_process)


# Every job kind ``python -m workbench job DIR`` runs: the compute bodies and the stage jobs.
REGISTRY = {**bodies.REGISTRY, "pipeline": pipeline_task, "stage": stage_task,
            "train_launch": train_launch_task, "quality_launch": quality_launch_task,
            "recheck": recheck_task, "ablate": ablate_task, "judge_launch": judge_launch_task}
