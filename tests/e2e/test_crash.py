"""Crashes: kill -9 of a process writing ratings loses no acknowledged rating, the workspace
reopens, and a second process gets "workspace is open in process N" while one holds it.

Run as: pytest -m e2e tests/e2e/test_crash.py
The writer is a child process running the app's code path (views/rate.py's calls through the
shared connection, four rater threads, as the Streamlit server runs sessions in threads); it
prints "ack RATER POSITION" only after ``submit`` returned, which is when the page says
"Saved". The test kills it with SIGKILL mid-stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evaluation.sessions import SessionDesign
from tests.sessions_data import add_generations
from common.errors import WorkspaceBusy
from workbench.store import open_workspace
from workbench.store import sessions as ss

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, threading
    from workbench.store import sessions as ss
    from workbench.store.pool import shared_workspace
    root, raters = sys.argv[1], sys.argv[2:]
    lock = threading.Lock()
    def rate(rater_id):
        while True:
            with shared_workspace(root) as ws:
                item = ss.screen(ws, rater_id)["item"]
            if item is None:
                return
            with shared_workspace(root) as ws:
                ss.submit(ws, rater_id, item["position"], "A", "why not", 3, 4)
            with lock:
                print("ack", rater_id, item["position"], flush=True)
    threads = [threading.Thread(target=rate, args=(r,)) for r in raters]
    for t in threads: t.start()
    for t in threads: t.join()
    print("done", flush=True)
""")

HOLDER = "import sys, time; from workbench.store import open_workspace\n" \
         "with open_workspace(sys.argv[1]):\n    print('ready', flush=True); time.sleep(60)\n"


def child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        add_generations(ws, 200)
        made = ss.create_session(ws, "crash", "gen-1", SessionDesign(k=1),
                                 ["a", "b", "c", "d"], seed=0)
        raters = [ss.login(ws, t)["rater_id"] for t in made["tokens"].values()]
    return root, raters


def test_kill_9_while_rating_loses_no_acknowledged_rating(workspace):
    root, raters = workspace
    writer = child(WRITER, str(root), *raters)
    acked = []
    for line in writer.stdout:
        acked.append(tuple(line.split()[1:]))
        if len(acked) == 40:
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    acked += [tuple(line.split()[1:]) for line in writer.stdout.read().splitlines()
              if line.startswith("ack")]  # printed before the kill landed
    with open_workspace(root) as ws:  # reopens: the lock died with the process
        stored = {(r["rater_id"], str(r["position"])) for r in ws.query(
            "SELECT rater_id, position FROM session_ratings")}
        rows = ws.query("SELECT DISTINCT choice, reason, likert_left, likert_right "
                        "FROM session_ratings")
    assert len(acked) >= 40 and set(acked) <= stored
    assert rows == [{"choice": "A", "reason": "why not", "likert_left": 3, "likert_right": 4}]
    with open_workspace(root) as ws:  # and rating goes on where it stopped
        item = ss.screen(ws, raters[0])["item"]
        ss.submit(ws, raters[0], item["position"], "B")


def test_a_second_process_gets_workspace_is_open_in_process_n(workspace):
    root, _ = workspace
    holder = child(HOLDER, str(root))
    try:
        assert holder.stdout.readline().strip() == "ready"
        start = time.monotonic()
        with pytest.raises(WorkspaceBusy) as caught:
            with open_workspace(root):
                pass
        assert str(caught.value) == (f"workspace is open in process {holder.pid}; "
                                     "try again when it is done")
        assert time.monotonic() - start < 15
    finally:
        holder.kill()
        holder.wait(10)
    with open_workspace(root) as ws:
        assert ws.scalar("SELECT count(*) FROM session_raters") == 4
