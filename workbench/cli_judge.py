"""Pairwise judge commands: judge a session's items, and show the latest judge run.

Run as: workbench judge -w ws/ --session 1                       (the embedded model)
        workbench judge -w ws/ --session 1 --judge-model ~/models/qwen2.5-1.5b-instruct
        workbench judge -w ws/ --session 1 --judge-url http://127.0.0.1:11434/v1 \\
            --judge-name llama3.1 --prompt my_judge_prompt.txt
        workbench judge-report -w ws/ --session 1
Each prints the judge's win rates (raw and length-controlled), its unparsed answers and its
calibration against the session's raters, ending in the line that says whether it can
stand in for them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from workbench.cliapp import Workspace, command

SESSION = typer.Option(..., "--session", help="Rating session id.")
BOOT = typer.Option(500, "--boot", help="Bootstrap resamples of the calibration intervals.")


@command
def judge(workspace: str = Workspace, session: int = SESSION,
          judge_model: str = typer.Option(None, help="Local model folder (default: the "
                                          "embedded SmolLM2-135M-Instruct)."),
          judge_url: str = typer.Option(None, help="OpenAI-compatible base URL, e.g. "
                                        "http://127.0.0.1:11434/v1 (no default address)."),
          judge_name: str = typer.Option(None, help="With --judge-url: the model name the "
                                         "endpoint serves."),
          prompt: str = typer.Option(None, help="Judge prompt file with {question}, "
                                     "{answer_a}, {answer_b} (default: "
                                     "configs/judge_prompt.txt)."),
          max_new_tokens: int = typer.Option(8, help="Answer length limit (raise it for a "
                                             "prompt that asks for reasons first)."),
          timeout: float = typer.Option(60.0, help="Seconds to wait for one endpoint "
                                        "answer (connecting gives up after 3 s)."),
          boot: int = BOOT) -> dict:
    """Judge every item of a session in both orders (a flip is a tie), then calibrate
    against the raters."""
    from workbench.stages.judge import judge as run
    from workbench.stages.pipeline import log_progress

    return run(Path(workspace), session, judge_model, judge_url, judge_name, prompt,
               max_new_tokens, timeout_s=timeout, n_boot=boot,
               on_progress=log_progress("judge"))


@command
def judge_report(workspace: str = Workspace, session: int = SESSION,
                 boot: int = BOOT) -> dict:
    """The latest judge run of a session: win rates, unparsed answers, calibration."""
    from common.errors import StageError
    from workbench.stages.judge import judge_report as report
    from workbench.store import open_workspace

    with open_workspace(workspace, create=False) as ws:
        result = report(ws, session, boot)
    if result is None:
        raise StageError(f"session {session} has no judge run yet: run `workbench judge`")
    return result
