"""The judge stage on scripted sessions: planted rater behaviour in the calibration table, a
fake OpenAI-compatible server, a tiny local model, the report and the Sessions page, and the
one message for each bad input."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.errors import StageError
from evaluation.judge import parse_choice
from evaluation.judge_calibration import DO_NOT_USE, WITHIN
from evaluation.sessions import SessionDesign
from tests.sessions_data import add_generations, rate_every_item
from workbench.jobs.execute import in_this_process
from workbench.jobs.files import read_jsonl, write_jsonl
from workbench.stages import judge as stage
from workbench.store import open_workspace
from workbench.store import sessions as ss

PROMPT = "{question}\n<A>{answer_a}</A>\n<B>{answer_b}</B>\nA, B or tie?"
N = 12


@pytest.fixture
def workspace(empty_workspace):
    """conftest's empty workspace, in place of its prepared one."""
    return empty_workspace


@pytest.fixture
def prompt_file(tmp_path) -> Path:
    path = tmp_path / "judge_prompt.txt"
    path.write_text(PROMPT)
    return path


def _text(example_id: int, system: str) -> str:
    """tuned is longer on even examples, base on odd ones; lengths vary by example."""
    longer = (system == "tuned") == (example_id % 2 == 0)
    return f"{system} {example_id}: " + "word " * (2 + example_id + 6 * longer)


def _session(ws, choose, raters=("ana", "bo"), k=2, n=N) -> int:
    """A base-vs-tuned session whose raters each rate every item with ``choose(left,
    right)`` as shown."""
    run_id = add_generations(ws, n, text=_text, run_id=f"gen-{n}")
    made = ss.create_session(ws, "s", run_id, SessionDesign(("base", "tuned"), k, 0.0),
                             list(raters), seed=3)
    rate_every_item(ws, made["tokens"].values(), choose)
    return made["session_id"]


def longer(left: str, right: str) -> str:
    return "A" if len(left) > len(right) else "B"


def _shown(prompt: str) -> tuple[str, str]:
    return (re.search(r"<A>(.*)</A>", prompt, re.S).group(1),
            re.search(r"<B>(.*)</B>", prompt, re.S).group(1))


def scripted(rule):
    """A ``run_job`` that answers each request with ``rule(answer_a, answer_b)``."""
    def run_job(job_dir: Path, on_progress=None) -> dict:
        rows = read_jsonl(job_dir / "requests.jsonl")
        write_jsonl(job_dir / "answers.jsonl",
                    [{**r, "answer": rule(*_shown(r["prompt"]))} for r in rows])
        return {"answers": len(rows), "seconds": 0.0}
    return run_job


def test_planted_length_preference_is_detected_in_the_calibration_table(workspace,
                                                                        prompt_file):
    """Raters who always prefer the longer answer agree perfectly; a judge with the same
    taste is within their agreement, and the table shows both preferring length; a judge
    that always answers A flips every item to a tie and is not used."""
    with open_workspace(workspace) as ws:
        session_id = _session(ws, longer, raters=("ana", "bo", "cy"), k=3)
    report = stage.judge(workspace, session_id, prompt=str(prompt_file), n_boot=50,
                         run_job=scripted(longer))
    calibration = report["calibration"]
    assert (report["items"], report["verdicts"], report["unparsed"]["answers"]) == (N, N, 0)
    assert calibration["line"] == WITHIN
    assert calibration["human_kappa"]["value"] == 1.0
    assert calibration["judge_kappa"]["value"] == 1.0
    assert calibration["length_bias"]["panel"] == {
        "decisive": N, "longer_wins": N, "shorter_wins": 0, "longer_share": 1.0,
        "sign_test_p": 2 / 2 ** N, "detected": True}
    assert calibration["length_bias"]["judge"]["detected"] is True
    rows = {row[0]: row[1] for row in report["calibration_table"]}
    assert rows["panel: longer answer wins (share of decisive; sign test p 0.000488, "
                "bias detected)"] == 1.0
    (pair,) = report["win_rates"]
    assert (pair["system"], pair["wins"], pair["losses"], pair["win_rate"]) == (
        "tuned", 6, 6, 0.5)
    assert pair["lc_win_rate"] is None and "separated" in pair["lc_note"]

    report = stage.judge(workspace, session_id, prompt=str(prompt_file), n_boot=50,
                         run_job=scripted(lambda a, b: "A"))
    assert report["position_consistency"] == {
        "items": N, "consistent": 0, "rate": 0.0, "left": 2 * N, "right": 0,
        "left_rate": 1.0, "sign_test_p": 2 / 2 ** (2 * N)}
    assert report["win_rates"][0]["ties"] == N
    assert report["calibration"]["line"] == DO_NOT_USE
    assert report["calibration"]["length_bias"]["judge"]["decisive"] == 0
    with open_workspace(workspace) as ws:  # the latest run is what the page and report show
        assert stage.judge_report(ws, session_id, n_boot=20)["run_id"] == report["run_id"]


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: the longer answer, except 'Neither.' for example 3."""

    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.seen.append((self.path, body, self.headers["Authorization"]))
        prompt = body["messages"][0]["content"]
        answer = "Neither." if prompt.startswith("Question 3?") else longer(*_shown(prompt))
        data = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                           "model": body["model"], "choices": [{
                               "index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    FakeOpenAI.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.enable_socket
def test_an_openai_compatible_endpoint_judges_and_unparsed_answers_are_counted(
        workspace, prompt_file, fake_server, monkeypatch):
    monkeypatch.setenv("WORKBENCH_JUDGE_API_KEY", "key-123")
    with open_workspace(workspace) as ws:
        session_id = _session(ws, longer, n=6)
    report = stage.judge(workspace, session_id, url=fake_server, name="judge-7b",
                         prompt=str(prompt_file), n_boot=50, run_job=in_this_process)
    assert len(FakeOpenAI.seen) == 12
    path, body, authorization = FakeOpenAI.seen[0]
    assert (path, authorization) == ("/v1/chat/completions", "Bearer key-123")
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("judge-7b", 0, 8)
    assert report["unparsed"] == {
        "answers": 2, "items": 1, "examples": ["Neither.", "Neither."],
        "message": "2 of 12 judge answers name neither A, B nor tie, so 1 items have no "
                   "verdict (not counted, not guessed); first: 'Neither.'; 'Neither.'"}
    assert (report["items"], report["verdicts"]) == (6, 5)
    assert report["judge"] == f"judge-7b (url: {fake_server})"
    assert report["calibration"]["items"] == 5
    with open_workspace(workspace) as ws:
        stored = ws.query("SELECT choice, answer FROM judge_verdicts")
    assert len(stored) == 12 and all(r["choice"] == parse_choice(r["answer"]) for r in stored)


def _dead_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.enable_socket
def test_the_cli_gives_one_line_for_each_bad_input(workspace, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_BLOCK_NETWORK", "0")  # the job may reach 127.0.0.1 here
    with open_workspace(workspace) as ws:
        session_id = _session(ws, longer, n=4)
        tied = 50  # every pair identical: tied automatically, nothing to show or judge
        ws.insert("rating_sessions", [{"id": tied, "name": "tied", "run_id": "gen-4",
                                       "systems": '["base", "tuned"]', "k": 1}])
        ws.insert("session_items", [{"session_id": tied, "item_no": 0, "example_id": 1,
                                     "first_system": "base", "second_system": "tuned",
                                     "auto_tie": True}])
    url = _dead_url()

    def run(*args):
        return CliRunner().invoke(app, ["judge", "-w", str(workspace), *args])

    result = run("--session", str(session_id), "--judge-url", url, "--judge-name", "m")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: judge URL {url} does not answer (no connection)")
    result = run("--session", str(tied), "--judge-url", url, "--judge-name", "m")
    assert result.output.strip().splitlines()[-1] == (
        f"error: session {tied}: the session has no item to judge (every pair was tied "
        "automatically, or the session is empty)")
    result = run("--session", "9", "--judge-url", url, "--judge-name", "m")
    assert result.output.strip().splitlines()[-1] == "error: no rating session 9"
    result = run("--session", str(session_id), "--judge-url", url)
    assert result.output.strip().splitlines()[-1] == (
        "error: a judge URL needs the model name it serves (--judge-name)")
    result = run("--session", str(session_id), "--judge-url", "127.0.0.1:8080",
                 "--judge-name", "m")
    assert result.output.strip().splitlines()[-1] == (
        "error: judge URL '127.0.0.1:8080' is not an http(s) address such as "
        "http://127.0.0.1:8080/v1")
    bad = tmp_path / "bad.txt"
    bad.write_text("{question}")
    result = run("--session", str(session_id), "--judge-url", url, "--judge-name", "m",
                 "--prompt", str(bad))
    assert result.output.strip().splitlines()[-1] == (
        f"error: judge prompt {bad}: missing placeholder(s) {{answer_a}}, {{answer_b}}; "
        "the prompt needs {question}, {answer_a}, {answer_b}")
    result = CliRunner().invoke(app, ["judge-report", "-w", str(workspace), "--session",
                                      str(session_id)])
    assert result.output.strip().splitlines()[-1] == (
        f"error: session {session_id} has no judge run yet: run `workbench judge`")


def test_a_tiny_local_model_judges_and_every_stored_answer_is_parsed_strictly(
        workspace, tmp_path, monkeypatch):
    from tests.tiny_model import make_tiny_model
    from workbench.jobs import bodies, slot

    # this test's own slot: the machine's slot may be held by another workspace's job
    monkeypatch.setattr(bodies, "compute_slot", lambda report=None: slot.compute_slot(
        report, tmp_path / "slot.lock"))

    model = make_tiny_model(tmp_path / "tiny")
    with open_workspace(workspace) as ws:
        session_id = _session(ws, longer, n=4)
    report = stage.judge(workspace, session_id, model_dir=str(model), max_new_tokens=3,
                         n_boot=20, run_job=in_this_process)
    with open_workspace(workspace) as ws:
        stored = ws.query("SELECT item_no, order_no, a_system, choice, answer "
                          "FROM judge_verdicts ORDER BY item_no, order_no")
    assert [(r["item_no"], r["order_no"]) for r in stored] == [
        (i, o) for i in range(1, 5) for o in (0, 1)]
    assert all(r["choice"] == parse_choice(r["answer"]) for r in stored)
    bad = sum(r["choice"] is None for r in stored)
    assert report["unparsed"]["answers"] == bad
    assert report["items"] == 4
    assert report["calibration"]["line"] in (WITHIN, DO_NOT_USE)
    assert report["judge"] == f"tiny (model: {model})"


def test_the_report_and_the_sessions_page_show_the_judge(workspace, prompt_file,
                                                        evaluate_cache, monkeypatch):
    from evaluation.report import render_html
    from tests.prepared import admin_page
    from workbench.stages.report import gather

    with open_workspace(workspace) as ws:
        ws.add_dataset("t.jsonl", "t.jsonl", "openai", [], [])  # the report needs a dataset
        session_id = _session(ws, longer, n=6)
    at = admin_page("views/sessions.py")
    assert not at.exception
    assert any(c.value.startswith("No judge run for this session yet") for c in at.caption)
    started = []
    monkeypatch.setattr(stage, "start_judge", lambda path, session, model: started.append(
        (path, session, model)) or path / "judge_launch-1")
    at = admin_page("views/sessions.py")
    at.text_input(key="judge_model").set_value(" ~/models/big ")
    at.button(key="judge_start").click().run()
    assert not at.exception
    assert started == [(workspace.resolve(), session_id, "~/models/big")]
    assert at.success[-1].value.startswith("Started job judge_launch-1")
    report = stage.judge(workspace, session_id, prompt=str(prompt_file), n_boot=50,
                         run_job=scripted(lambda a, b: "A"))
    gathered = gather(workspace)
    (session,) = gathered["sessions"]
    assert session["judge"]["run_id"] == report["run_id"]
    assert session["judge"]["calibration"]["line"] == DO_NOT_USE
    page = render_html(gathered)
    assert f"<b>Judge</b> · {DO_NOT_USE}" in page
    assert "length-controlled win rate" in page
    at = admin_page("views/sessions.py")
    assert not at.exception
    assert any(DO_NOT_USE in w.value for w in at.warning)
    (table,) = [d.value for d in at.dataframe if "statistic" in d.value.columns]
    assert list(table["statistic"])[:2] == ["judge vs panel majority: Cohen's kappa",
                                            "rater vs other raters' majority: Cohen's kappa "
                                            "(mean)"]


@pytest.mark.slow
def test_the_embedded_model_judges_by_default_with_the_shipped_prompt(workspace, tmp_path,
                                                                     monkeypatch):
    from evaluation.judge import DEFAULT_PROMPT
    from training.model import embedded_model_dir
    from workbench.jobs import bodies, slot

    monkeypatch.setattr(bodies, "compute_slot", lambda report=None: slot.compute_slot(
        report, tmp_path / "slot.lock"))
    with open_workspace(workspace) as ws:
        session_id = _session(ws, longer, raters=("ana",), k=1, n=2)
    report = stage.judge(workspace, session_id, max_new_tokens=4, n_boot=20,
                         run_job=in_this_process)
    assert report["judge"] == (f"SmolLM2-135M-Instruct (model: {embedded_model_dir()})")
    assert report["prompt_file"] == "default"
    assert report["items"] == 2
    assert report["verdicts"] + report["unparsed"]["items"] == 2
    with open_workspace(workspace) as ws:
        config = ws.latest_run("judge")["config"]
    assert config["prompt"] == DEFAULT_PROMPT.read_text()
    assert report["calibration"]["line"] in (WITHIN, DO_NOT_USE)
