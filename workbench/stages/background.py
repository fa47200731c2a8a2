"""The job kinds that run stages: what the Run page and the Train page start in the background.

``pipeline`` (every stage), ``stage`` (one stage of the pipeline) and ``train_launch`` (start
or resume a training from the Train page) open the workspace like any stage, so they are
stages run as jobs, not job bodies of ``workbench.jobs``. Train and generate run inside them
(``workbench.jobs.execute.in_this_process``): one action from a page is exactly one job.
"""

from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig
from workbench.jobs import bodies
from workbench.jobs.execute import in_this_process
from workbench.jobs.runner import Reporter
from workbench.stages import training
from workbench.stages.pipeline import PipelineOptions, pipeline, stage_runners


def pipeline_task(config: dict, report: Reporter) -> dict:
    """Run every automatic stage (``workbench.stages.pipeline.pipeline``) as one job."""
    options = PipelineOptions(**config["options"])
    return pipeline(options, on_stage=lambda i, n, name: report(i, n, name),
                    execute=in_this_process)


def stage_task(config: dict, report: Reporter) -> dict:
    """Run one stage (``config["stage"]``) of ``workbench.stages.pipeline.stage_runners`` as a
    job."""
    options = PipelineOptions(**config["options"])
    report(0, 1, config["stage"])
    result = stage_runners(options, in_this_process)[config["stage"]]()
    report(1, 1, "done")
    return result


def train_launch_task(config: dict, report: Reporter) -> dict:
    """Start (or resume, with ``config["resume"]``: a run id) a training from the Train page,
    as one job; ``training.start_in_background`` creates it."""
    workspace = Path(config["workspace"])

    def forward(progress: dict) -> None:
        report(progress.get("step", 0), progress.get("total", 0), progress.get("message", ""))

    if config.get("resume"):
        return training.resume(workspace, config["resume"], forward, execute=in_this_process)
    return training.train(workspace, config=TrainConfig.from_dict(config["train"]),
                          on_progress=forward, execute=in_this_process)


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
            "train_launch": train_launch_task, "ablate": ablate_task}
