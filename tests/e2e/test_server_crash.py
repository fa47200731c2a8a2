"""kill -9 of the real Streamlit server while two raters rate in the browser.

Run as: pytest -m e2e tests/e2e/test_server_crash.py   (chromium + playwright)
A rating is *acknowledged* when the rater's page shows the next item's progress ("N of T
rated"). After N acknowledged ratings per rater and one more click still in flight, the test
kills the `streamlit run` process with SIGKILL, then: the workspace opens in this process and
holds every acknowledged rating (the in-flight one may or may not be there, never twice), a
new server starts on the same workspace and port, and each rater logs in again with the same
token and goes on from where they were. Screenshots: test-artifacts/crash-*.png.
"""

from __future__ import annotations

import os
import signal

import pytest

from evaluation.sessions import SessionDesign
from tests.e2e.helpers import (
    expect_text,
    free_port,
    new_page,
    rater_login,
    settle,
    shot,
    start_server,
    stop,
)
from tests.sessions_data import add_generations
from workbench.store import open_workspace
from workbench.store import sessions as ss
from workbench.store.auth import set_admin_password

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]
ITEMS_EACH = 6  # 12 items, k = 1, two raters
ACKED_EACH = 3  # acknowledged ratings per rater before the kill


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        set_admin_password(ws, "crash admin password")  # as after the app's first start
        add_generations(ws, 2 * ITEMS_EACH)
        made = ss.create_session(ws, "crash", "gen-1", SessionDesign(k=1), ["ana", "bo"],
                                 seed=0)
    return root, made["tokens"]


def stored(root) -> dict:
    """{(rater name, choice): ratings} in the workspace (opened by this process)."""
    with open_workspace(root) as ws:
        rows = ws.query("SELECT r.name, x.choice, count(*) AS n FROM session_ratings x JOIN "
                        "session_raters r ON r.id = x.rater_id GROUP BY 1, 2")
        assert ws.scalar("SELECT count(*) - count(DISTINCT (rater_id, position)) FROM "
                         "session_ratings") == 0
    return {(r["name"], r["choice"]): r["n"] for r in rows}


def test_kill_9_of_the_server_loses_no_acknowledged_rating(session, browser, tmp_path):
    root, tokens = session
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(root, port, log=tmp_path / "server.log")
    try:
        raters = {name: new_page(browser) for name in ("ana", "bo")}
        for name, page in raters.items():
            page.goto(f"{url}/?token={tokens[name]}")
            expect_text(page, f"0 of {ITEMS_EACH} rated")
            settle(page)
        for done in range(1, ACKED_EACH + 1):  # both click, then both wait for the ack
            for page in raters.values():
                page.get_by_role("button", name="A is better").click()
            for page in raters.values():
                expect_text(page, f"{done} of {ITEMS_EACH} rated")
                settle(page)
        shot(raters["ana"], "crash-1-acknowledged")
        raters["ana"].get_by_role("button", name="B is better").click()  # in flight
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait(10) == -signal.SIGKILL
    finally:
        stop(server)

    found = stored(root)  # the workspace opens in another process right after the kill
    assert found[("ana", "A")] == found[("bo", "A")] == ACKED_EACH
    in_flight = found.get(("ana", "B"), 0)
    assert in_flight in (0, 1) and set(found) <= {("ana", "A"), ("bo", "A"), ("ana", "B")}

    server = start_server(root, port, log=tmp_path / "server.log")  # same workspace and port
    try:
        for name, page in raters.items():
            page.goto(url)
            rater_login(page, tokens[name])
            rated = ACKED_EACH + (in_flight if name == "ana" else 0)
            expect_text(page, f"{rated} of {ITEMS_EACH} rated")
            settle(page)
            page.get_by_role("button", name="Tie").click()
            expect_text(page, f"{rated + 1} of {ITEMS_EACH} rated")
        shot(raters["ana"], "crash-2-after-restart")
    finally:
        stop(server)
    found = stored(root)
    assert (found[("ana", "A")], found[("bo", "A")]) == (ACKED_EACH, ACKED_EACH)
    assert (found[("ana", "tie")], found[("bo", "tie")]) == (1, 1)
