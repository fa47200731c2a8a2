"""Layering: the core packages never import streamlit, the steps never import the shell or
the database, all SQL is in workbench/store/, pages take their choice lists from where they are
defined, and no files import each other in a cycle."""

import ast
import re
from pathlib import Path

import pytest

from tests.import_cycles import cycles, import_graph

ROOT = Path(__file__).resolve().parents[1]
CORE = ("common", "curation", "training", "evaluation", "workbench")
STEPS = ("common", "curation", "training", "evaluation")
# SQL text: the statements the project writes (case-sensitive, as the store spells them).
SQL = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE|DROP TABLE|"
                 r"ALTER TABLE|WITH)\b")
SQL_CALLS = {"execute", "executemany", "query", "scalar", "sql", "row", "frame"}


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


def full_imports(path: Path) -> set[str]:
    """Every module a file imports, dotted, at module or function level."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def sql_sites(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` of every SQL string literal and every execute/query/scalar-like call given
    literal text, in one file."""
    sites = []
    for node in ast.walk(ast.parse(path.read_text())):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in SQL_CALLS and node.args
              and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))):
            first = node.args[0]
            text = first.value if isinstance(first, ast.Constant) else "SELECT (f-string)"
            text = text if isinstance(text, str) else None
        if text is not None and SQL.match(text):
            sites.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(sites)


def shell_and_ui_files() -> list[Path]:
    files = [ROOT / "app.py"] + [p for d in ("views", *CORE) for p in (ROOT / d).rglob("*.py")]
    return [p for p in files if "store" not in p.relative_to(ROOT).parts[:2]]


def test_sql_appears_only_in_the_store():
    assert [site for path in shell_and_ui_files() for site in sql_sites(path)] == []


def test_the_sql_check_finds_a_query_and_a_literal(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('rows = ws.query("SELECT id FROM runs")\nsql = """\n  UPDATE runs SET x = 1"""\n'
                     'hits = lsh.query(m)\nnote = "Selected rows"\n')
    # the call and its literal on line 1, the literal on line 2; not lsh.query, not prose
    assert sql_sites(probe, tmp_path) == ["probe.py:1", "probe.py:1", "probe.py:2"]


def test_steps_never_import_the_shell_streamlit_or_duckdb():
    offenders = sorted(f"{p.relative_to(ROOT)}: {name}" for package in STEPS
                       for p in (ROOT / package).rglob("*.py") for name in full_imports(p)
                       if name.split(".")[0] in ("workbench", "streamlit", "duckdb", "views"))
    assert offenders == []


def test_common_imports_nothing_of_the_project():
    project = ("curation", "training", "evaluation", "workbench", "views")
    offenders = sorted(f"{p.relative_to(ROOT)}: {name}" for p in (ROOT / "common").rglob("*.py")
                       for name in full_imports(p) if name.split(".")[0] in project)
    assert offenders == []


def test_job_bodies_import_only_steps_common_and_the_jobs_package():
    allowed = ("common", "curation", "training", "evaluation", "workbench.jobs")
    project = ("workbench", "views", *allowed)
    for name in ("bodies", "files", "runner", "slot"):
        imports = full_imports(ROOT / "workbench" / "jobs" / f"{name}.py")
        mine = {m for m in imports if m.split(".")[0] in project}
        assert {m for m in mine if not m.startswith(allowed)} == set(), name


def test_pages_take_formats_extractors_and_operators_from_their_definitions():
    from curation.formats import FORMATS
    from curation.pii_operators import OPERATORS
    from evaluation.extract import EXTRACTORS

    registries = {"formats": set(FORMATS), "extractors": set(EXTRACTORS),
                  "operators": set(OPERATORS)}
    repeats = []
    for path in sorted((ROOT / "views").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                repeats += [f"{path.name}:{node.lineno} {name}"
                            for name, known in registries.items() if len(words & known) >= 2]
    assert repeats == []


def test_no_import_cycle_in_the_shell():
    shell = [c for c in cycles(import_graph(ROOT))
             if any(f.startswith(("workbench/", "views/")) and not f.startswith("workbench/store/")
                    for f in c)]
    assert shell == []


def test_no_import_cycle_anywhere_outside_tests():
    assert cycles(import_graph(ROOT)) == []
