"""CLI for blind rating sessions and the admin password .

Run as: workbench session-create -w ws/ --name first --raters ana,bo --k 2
Each command prints one JSON object. Tokens are printed once, by session-create and
session-token; the workspace keeps their SHA-256 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from workbench.cliapp import Workspace, command


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@command
def session_create(workspace: str = Workspace,
                   name: str = typer.Option(..., help="Session name."),
                   raters: str = typer.Option(..., help="Rater names, comma-separated."),
                   systems: str = typer.Option("base,tuned", help="Systems, comma-separated."),
                   k: int = typer.Option(1, help="Distinct raters per item."),
                   repeat_share: float = typer.Option(0.0, help="Share (0-0.5) of repeats."),
                   guidelines: str = typer.Option(None, help="Markdown file for raters."),
                   run: str = typer.Option(None, help="Generate run id (default: latest)."),
                   seed: int = typer.Option(None, help="Draw seed (default: random).")) -> dict:
    """Create a rating session; prints the invite tokens (shown only this once)."""
    from evaluation.sessions import SessionDesign
    from common.errors import InputError
    from workbench.store import open_workspace
    from workbench.store.sessions import create_session

    text = ""
    if guidelines is not None:
        if not Path(guidelines).is_file():
            raise InputError(f"{guidelines}: no such guidelines file")
        text = Path(guidelines).read_text(encoding="utf-8")
    design = SessionDesign(tuple(_split(systems)), k, repeat_share, text)
    with open_workspace(workspace, create=False) as ws:
        run_id = run or ws.require_run("generate")["id"]
        return create_session(ws, name, run_id, design, _split(raters), seed=seed,
                              actor="cli")


@command
def session_list(workspace: str = Workspace) -> dict:
    """Every rating session with each rater's progress."""
    from workbench.store import open_workspace
    from workbench.store import sessions as ss

    with open_workspace(workspace, create=False) as ws:
        return {"sessions": [{**s, "raters": ss.rater_progress(ws, s["id"])}
                             for s in ss.sessions(ws)]}


@command
def session_add_rater(workspace: str = Workspace,
                      session: int = typer.Option(..., help="Session id (see session-list)."),
                      raters: str = typer.Option(..., help="New rater names, comma-separated."),
                      seed: int = typer.Option(None, help="Draw seed (default: random).")
                      ) -> dict:
    """Invite more raters to a session; they take unstarted items, each item keeps k raters.

    Prints the new invite tokens (shown only this once) and how many items each took.
    """
    from workbench.store import open_workspace
    from workbench.store.sessions import add_raters

    with open_workspace(workspace, create=False) as ws:
        return add_raters(ws, session, _split(raters), seed=seed, actor="cli")


@command
def session_revoke(workspace: str = Workspace,
                   rater: str = typer.Option(..., help="Rater id (see session-list).")) -> dict:
    """Revoke a rater's invite token at once (their ratings are kept)."""
    from workbench.store import open_workspace
    from workbench.store.sessions import revoke

    with open_workspace(workspace, create=False) as ws:
        revoke(ws, rater, actor="cli")
    return {"revoked": rater}


@command
def session_token(workspace: str = Workspace,
                  rater: str = typer.Option(..., help="Rater id (see session-list).")) -> dict:
    """A new invite token for a rater; the old one stops working."""
    from workbench.store import open_workspace
    from workbench.store.sessions import reissue_token

    with open_workspace(workspace, create=False) as ws:
        return {"rater": rater, "token": reissue_token(ws, rater, actor="cli")}


@command
def session_stats(workspace: str = Workspace, session: int = typer.Option(...),
                  rouge: bool = typer.Option(False, help="Agreement of ROUGE-L with raters."),
                  n_boot: int = typer.Option(200, help="Bradley-Terry bootstrap resamples."),
                  csv_out: str = typer.Option(None, "--csv", help="Write raw ratings here "
                                              "(in the current folder, the workspace or "
                                              "$WORKBENCH_DATA_DIRS)."),
                  overwrite: bool = typer.Option(False, help="Replace an existing --csv file.")
                  ) -> dict:
    """Win rates, agreement, position bias, consistency (and the raw ratings as CSV)."""
    from workbench.session_statistics import rouge_scores, statistics
    from common.csvsafe import csv_text
    from workbench.paths import write_file, write_roots, write_target
    from workbench.store import open_workspace
    from workbench.store import sessions as ss

    roots = write_roots(Path(workspace), cwd=True)
    if csv_out is not None:
        write_target(csv_out, roots, overwrite)  # refuse before computing anything
    with open_workspace(workspace, create=False) as ws:
        scores = rouge_scores(ws, session) if rouge else None
        result = statistics(ws, session, scores, n_boot=n_boot)
        raw = ss.raw_ratings(ws, session)
    if csv_out is not None and raw:
        write_file(csv_out, roots, csv_text(raw), overwrite)
    return result


@command
def admin_password(workspace: str = Workspace,
                   current: str = typer.Option("", help="Current password, when one is set.",
                                               hide_input=True)) -> dict:
    """Set (or change) the app's admin password; reads the new one from stdin twice."""
    from workbench.store import open_workspace
    from workbench.store.auth import set_admin_password

    lines = sys.stdin.read().splitlines() if not sys.stdin.isatty() else [
        typer.prompt("New admin password", hide_input=True),
        typer.prompt("Repeat it", hide_input=True)]
    lines += ["", ""]
    with open_workspace(workspace) as ws:
        set_admin_password(ws, lines[0], lines[1], current=current or None)
    return {"admin_password": "set"}
