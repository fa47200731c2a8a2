"""No page renders stored text as markdown or HTML: a scan of every page's source.

Streamlit renders markdown (links, images, e-mail autolinks) in st.markdown, st.write of a
string, st.caption, st.title/header/subheader, st.info/success/warning/error, st.toast,
st.expander labels and st.metric labels; st.html and ``unsafe_allow_html`` render HTML.
Dataset and model text must go through st.text, st.code, st.text_area or a dataframe instead.
The scan flags every such call whose text is not a literal (or an f-string of literals);
each remaining one is listed below with why it carries no dataset or model text. A new
flagged call fails the test until it shows its text as text or is added here with a reason.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RENDERS_MARKDOWN = {"markdown", "write", "caption", "title", "header", "subheader", "info",
                    "success", "warning", "error", "toast", "expander", "metric", "latex",
                    "chat_message", "badge"}
RENDERS_HTML = {"html"}

ERROR = "a domain error's message (code-written; names a file, row or field, never its text)"
FIGURE = "an id, count or figure"
ADMIN = "a name the admin typed (session, rater), not dataset or model text"
SAFE = {  # page -> {computed part of a rendered text (ast.unparse): why it is safe}
    "views/_ui.py": {"str(exc)": ERROR, "path": "the workspace folder the server runs on"},
    "views/browse.py": {"total": FIGURE, "page": FIGURE, "max(1, -(-total // PAGE))": FIGURE,
                        "example_id": FIGURE, "row['line']": FIGURE,
                        "row['status']": "kept/drop/error/duplicate, set by the store",
                        "st.session_state.pop('browse_note')": "a note the page wrote"},
    "views/_current.py": {"exc": ERROR, "st.session_state.pop('picker_error')": ERROR,
                          "offer['id']": FIGURE, "offer['previous']": FIGURE},
    "views/_stages.py": {"TITLES[stage]": "a stage title", "label": "a figure's label",
                         "details(stage, run['summary'])": "counts, finding codes, entity "
                                                           "types, a backend name",
                         "run['created_at']": "a time", "state": "a job state",
                         "error": "a job's error message (code-written)",
                         "job['dir'] / 'log.txt'": "the job's log path on the server"},
    "views/data.py": {"dataset['format']": "a format name", "part": "a split name",
                      "n": FIGURE, "max_len": FIGURE, "labels[kind].lower()": "a page label"},
    "views/datasets.py": {"summary['dataset_id']": FIGURE,
                          "st.session_state.pop('datasets_flash')":
                              "a flash the page wrote: ids and a stage summary",
                          "_ui.describe(summary)": "a stage summary: counts and ids",
                          "len(rejects)": FIGURE},
    "views/dedup.py": {"action.replace('_', ' ')": "a button's action", "example_id": FIGURE,
                       "member['example_id']": FIGURE, "member['line']": FIGURE,
                       "similarity": FIGURE, "level": "a dedup level name",
                       "len(members) - SHOWN": FIGURE, "m['example_id']": FIGURE},
    "views/login.py": {"str(exc)": ERROR},
    "views/playground.py": {"name": "a system name (base, tuned, a run id)",
                            "out['new_tokens']": FIGURE, "out['seconds']": FIGURE},
    "views/privacy.py": {"str(exc)": ERROR, "entity": "an entity type", "min_score": FIGURE,
                         "st.session_state.pop('privacy_flash')": "a flash the page wrote",
                         "override['who']": "the privacy admin's name",
                         "override['at']": "a time",
                         "override['reason']": "the privacy admin's reason",
                         "gate['unreviewed']": FIGURE, "gate['threshold']": FIGURE,
                         "gate['accepted_not_redacted']": FIGURE, "len(rows)": FIGURE,
                         "pending['what']": "the page's words, an entity type and counts",
                         "pending['decision']": "accept or reject",
                         "pending['count']": FIGURE},
    "views/quality.py": {"job.name": "a job id",
                         "exc": "a formula's parse error (code-written)", "str(exc)": ERROR,
                         "code": "a flag code", "n": FIGURE, "ENDS": FIGURE,
                         "name": "a signal name", "len(shown)": FIGURE, "len(frame)": FIGURE,
                         "made['version']": FIGURE, "made['n_rows']": FIGURE,
                         "made['selection']['selected']": FIGURE,
                         "made['selection']['skipped_similar']": FIGURE,
                         "item['rows']": FIGURE, "item['unscored_reason']": "a reason code",
                         "item['detail']": "why a row has no model score (code-written)"},
    "views/rate.py": {"me['name']": ADMIN, "info['name']": ADMIN, "side": "A or B",
                      "cut": "'(cut at N tokens)' (evaluation.sessions.cut_note)",
                      "flash": "'Saved' or 'Answer changed', written by the page",
                      "guidelines_markdown(info['guidelines'])":
                          "admin guidelines with only http(s)/mailto links and no images"},
    "views/report.py": {"info['id']": FIGURE, "info['name']": ADMIN, "info['run_id']": FIGURE,
                        "design['systems']": "system names", "design['k']": FIGURE,
                        "design['repeat_share']": FIGURE, "design['raters']": FIGURE,
                        "design['revoked_raters']": FIGURE, "design['items']": FIGURE,
                        "design['auto_ties']": FIGURE,
                        "design['randomisation']": "a fixed description",
                        "session['ratings']": FIGURE, "session['repeats']": FIGURE,
                        "bias['sign_test_p']": FIGURE, "agreement['notes']": "fixed notes",
                        "ev['extractor']['choice']": "an extractor name",
                        "reason": "why no metrics (code-written)", "title": "a metric title",
                        "result['verdict']": "the verdict sentence: figures and fixed words "
                                             "(evaluation.verdict)",
                        "ev['rouge']['tokenizer']": "a ROUGE tokenizer name",
                        "ev['rule']": "the verdict's rule (evaluation.verdict.PROMPT_RULE)",
                        "line": "a ROUGE warning: counts and a tokenizer name (code-written)",
                        "ev['examples']": FIGURE, "MIN_FIRM_N": FIGURE, "ev['run_id']": FIGURE,
                        "ev['systems']": "system names",
                        "DEFINITIONS_NOTE": "a fixed note (evaluation.report_figures)",
                        "f.share(design['repeat_share'])": FIGURE,
                        "f.p_value(bias['sign_test_p'])": FIGURE, "system": "a system name"},
    "views/run.py": {"str(exc)": ERROR, "stage": "a stage name", "job_dir.name": "a job id",
                     "eval_size": FIGURE, "test_rows": FIGURE,
                     "config['title']": "stage names", "title(folder)": "stage names",
                     "started": "a time",
                     "folder.name": "a job id", "state['state']": "a job state",
                     "state['error']": "a job's error message (code-written)"},
    "views/sessions.py": {"str(exc)": ERROR, "str(failure)": ERROR, "agreement['notes']": "fixed notes",
                          "bias['sign_test_p']": FIGURE, "kappa": FIGURE,
                          "names[rater_id]": ADMIN, "title": "a statistic's title",
                          "name": ADMIN, "n": FIGURE, "made['session_id']": FIGURE,
                          "made['items']": FIGURE, "made['auto_ties']": FIGURE,
                          "made['assignments']": FIGURE, "counts['pairs']": FIGURE,
                          "counts['items']": FIGURE, "counts[r]": FIGURE,
                          "r.replace('_', ' ')": "a left-out reason's fixed name",
                          "session_id": FIGURE, "job.name": "a job id"},
    "views/_jobs.py": {"job_dir.name": "a job id", "state['state']": "a job state",
                       "duration(elapsed_s(state))": "a duration",
                       "what": "a job kind's name, written by the page",
                       "error_line(state)": "a job's error message (code-written)",
                       "cancelled": "a sentence the page wrote"},
    "views/_judge.py": {"session_id": FIGURE, "str(exc)": ERROR, "job.name": "a job id", "missing['answers']": FIGURE,
                        "2 * result['items']": FIGURE, "missing['items']": FIGURE,
                        "result['run_id']": "a run id", "calibration['items']": FIGURE,
                        "result['prompt_file']": "the prompt file path the admin gave",
                        "line": "the judge's name and the folder or URL the admin gave, the "
                                "code-written calibration line and its figures"},
    "views/ablation.py": {"job.name": "a job id", "str(exc)": ERROR, "Path(job).name": "a job id",
                          "state['state']": "a job state",
                          "progress.get('message', '')": "a job's progress line (code-written)",
                          "state['error']": "a job's error message (code-written)",
                          "result['test_rows']": FIGURE,
                          "result['extractor'] or 'none'": "an extractor name",
                          "result['arms'][0]['label']": "an arm label (a version id, all, random P%)"},
    "views/coverage.py": {"exc": ERROR},
    "views/train.py": {"str(exc)": ERROR, "flash": "a failed run's error (code-written)",
                       "state['error']": "a job's error message (code-written)",
                       "snap['error']": "a job's error message (code-written)",
                       "(chosen_data or split_vid or '–')[:12]": "a version id (a hash)",
                       "job.name": "a job id", "run['kind']": "dpo or orpo",
                       "state['state']": "a job state",
                       "progress.get('message', '')": "a job's progress line (code-written)",
                       "export_pick": "a train run id",
                       "exported['llama_cpp']['threads']": FIGURE,
                       "export_dir / 'export'": "the export folder's path on the server",
                       "(exported.get('llama_cpp') or {}).get('skipped', 'no GGUF written')":
                           "why llama.cpp did not check the export (code-written)"},
    "views/versions.py": {"made['id']": FIGURE, "made['n_rows']": FIGURE,
                          "key.capitalize()": "added/removed/changed",
                          "result['written']": FIGURE, "result['path']": "the path written",
                          "len(result['skipped'])": FIGURE, "cost['n_too_long']": FIGURE},
}


def is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant)
                                                   for v in node.values)


def computed_parts(node: ast.AST) -> list[str]:
    """The non-literal pieces of a text expression: f-string values, the operands of ``+``,
    both branches of ``a if c else b``, the items joined by ``"sep".join(...)``."""
    if is_literal(node):
        return []
    if isinstance(node, ast.JoinedStr):
        return [p for v in node.values if isinstance(v, ast.FormattedValue)
                for p in computed_parts(v.value)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return computed_parts(node.left) + computed_parts(node.right)
    if isinstance(node, ast.IfExp):
        return computed_parts(node.body) + computed_parts(node.orelse)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and is_literal(node.func.value)):
        return [p for a in node.args for p in computed_parts(a)]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [p for e in node.elts for p in computed_parts(e)]
    if isinstance(node, ast.Starred):
        return computed_parts(node.value)
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        return computed_parts(node.elt)
    return [ast.unparse(node)]


def text_argument(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("body", "label", "text")), None)


def flagged_calls(path: Path) -> list[tuple[str, str, int]]:
    """(page, computed part or 'HTML', line) of every computed part of the text of a
    markdown-rendering call, and of every HTML rendering whatever its argument; by line."""
    page = str(path.relative_to(ROOT))
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        unsafe = any(k.arg == "unsafe_allow_html" and not (
            isinstance(k.value, ast.Constant) and k.value.value is False) for k in node.keywords)
        if node.func.attr in RENDERS_HTML or unsafe:
            found.append((page, "HTML", node.lineno))
        elif node.func.attr in RENDERS_MARKDOWN:
            arg = text_argument(node)
            found += [(page, part, node.lineno) for part in
                      (computed_parts(arg) if arg is not None else [])]
    return sorted(found, key=lambda c: c[2])


def pages() -> list[Path]:
    return sorted((ROOT / "views").glob("*.py")) + [ROOT / "app.py"]


def test_no_page_renders_html():
    assert [c for p in pages() for c in flagged_calls(p) if c[1] == "HTML"] == []


def test_every_computed_part_of_a_markdown_text_is_listed_as_safe():
    unlisted = [f"{page}:{line}: {part}" for p in pages()
                for page, part, line in flagged_calls(p)
                if part != "HTML" and part not in SAFE.get(page, {})]
    assert unlisted == []


def test_the_playground_shows_a_held_out_row_as_text():
    calls = flagged_calls(ROOT / "views" / "playground.py")
    assert calls and not any("content" in part or "turn" in part for _, part, _ in calls)


def test_the_scan_flags_markdown_of_a_row_and_html(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    page = tmp_path / "views" / "p.py"
    page.parent.mkdir()
    page.write_text("import streamlit as st\nst.markdown(row['content'])\n"
                    "st.caption('fixed')\ncol.write(f'{x} of ' + y.z)\nst.html('<b>')\n"
                    "st.markdown('x', unsafe_allow_html=True)\nst.text(row['content'])\n")
    assert flagged_calls(page) == [("views/p.py", "row['content']", 2),
                                   ("views/p.py", "x", 4), ("views/p.py", "y.z", 4),
                                   ("views/p.py", "HTML", 5),
                                   ("views/p.py", "HTML", 6)]
