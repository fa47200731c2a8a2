"""Layering: the core packages never import streamlit."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("common", "curation", "training", "evaluation", "workbench")


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


def test_ingest_and_split_run_without_importing_torch(tmp_path):
    import subprocess
    import sys

    script = (
        "import json, sys, pathlib\n"
        "from workbench import cli\n"
        "from workbench.stages import curation as stages\n"
        f"p = pathlib.Path({str(tmp_path)!r}) / 'a.jsonl'\n"
        "p.write_text(json.dumps({'instruction': 'Hi', 'output': 'Hello'}) + '\\n')\n"
        f"stages.ingest(pathlib.Path({str(tmp_path)!r}) / 'ws', str(p))\n"
        f"stages.split(pathlib.Path({str(tmp_path)!r}) / 'ws')\n"
        "print(sorted({'torch', 'peft', 'transformers'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
