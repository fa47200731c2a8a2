"""The demo workspace that ``make run`` builds once: the bundled demo dataset, end to end.

The demo dataset (``workbench/demo_data/demo_chat.jsonl``) was written for this project; it
has exact and paraphrased duplicates, fictional PII (example.com addresses, 555-01xx numbers,
a test card number), a malformed line, a row with no assistant turn and one with an empty
answer, so every page has something to show: a trained run, generations, scores, a rated
session and a verdict.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common.errors import InputError
from workbench.store import DB_NAME

DEMO_DATA = Path(__file__).parent / "demo_data" / "demo_chat.jsonl"
# The demo's prompted system: the base model with a task prompt and 2 fixed shots, so the
# report's first screen weighs the fine-tune against a prompt as well as against the base.
DEMO_PROMPTED = {"name": "task prompt, 2-shot", "k": 2, "shots": "fixed",
                 "system_prompt": "You are a helpful assistant. Answer the question directly "
                                  "in one or two short, plain sentences."}


def build_demo(workspace: Path, force: bool = False, max_train_steps: int = 10) -> dict:
    """Run the pipeline on the demo data into ``workspace`` unless it already holds one.

    The demo trains on the redacted text (``redact=True``): its rows carry fictional PII on
    purpose, and the privacy gate refuses to train on unreviewed findings. After scoring, a
    rating session over every system (base, tuned and the prompted system ``DEMO_PROMPTED``)
    is rated by script (``workbench.demo_ratings``, marked as demo ratings in its name and
    guidelines), and ``verdict`` is the report's verdict (fine-tune against the prompt) with
    those ratings.

    Only a workspace is ever replaced (``force``): a folder that exists, is not empty and
    holds no ``workspace.duckdb`` raises InputError and is left as it is.
    """
    from workbench.demo_ratings import rate_demo_session
    from workbench.stages.pipeline import PipelineOptions, pipeline
    from workbench.stages.report import gather as report

    is_workspace = (workspace / DB_NAME).exists()
    if is_workspace and not force:
        return {"workspace": str(workspace), "built": False, "reason": "already present"}
    if not is_workspace and workspace.exists() and any(workspace.iterdir()):
        raise InputError(f"{workspace} is a folder that is not a workspace; refusing to build "
                         "the demo into it (choose an empty or new folder)")
    if is_workspace:
        (workspace / DB_NAME).unlink()
        shutil.rmtree(workspace / "artifacts", ignore_errors=True)
    summary = pipeline(PipelineOptions(input=str(DEMO_DATA), workspace=str(workspace),
                                       max_train_steps=max_train_steps, eval_size=8,
                                       max_new_tokens=64, redact=True,
                                       prompted=[DEMO_PROMPTED]))
    if summary["metrics"]:  # a rated session and the verdict it supports
        summary["session"] = rate_demo_session(workspace)
        summary["verdict"] = report(workspace)["verdict"]
    return {"workspace": str(workspace), "built": True, **summary}
