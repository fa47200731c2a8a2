"""Layering: the core packages never import streamlit (STYLE.md rule 5)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("curation", "training", "evaluation", "workbench")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_packages_never_import_streamlit():
    offenders = [str(p.relative_to(ROOT)) for package in CORE
                 for p in (ROOT / package).rglob("*.py") if "streamlit" in imported_modules(p)]
    assert offenders == []


def test_the_cli_module_does_not_import_torch_or_peft_at_import_time():
    assert not {"torch", "peft", "transformers"} & imported_modules(ROOT / "workbench" / "cli.py")
