"""The Typer app and the ``command`` decorator shared by every CLI module.

Each area keeps its subcommands in its own module (``workbench/cli*.py``) that imports ``app``
and ``command`` from here; ``workbench.cli`` imports them all, so ``workbench --help`` lists
every command.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable

import typer

from common.errors import WorkbenchError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="SLM Workbench: curate, fine-tune and judge small language models.")
Workspace = typer.Option(..., "--workspace", "-w", help="Workspace folder.")


def quiet_libraries() -> None:
    """Keep stderr to our progress lines: Presidio logs every recognizer it loads or skips."""
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.ERROR)


def command(func: Callable) -> Callable:
    """Register a subcommand whose return value is printed as JSON; domain errors → 1 line."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
        quiet_libraries()
        try:
            result = func(*args, **kwargs)
        except WorkbenchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
    return app.command()(wrapper)
