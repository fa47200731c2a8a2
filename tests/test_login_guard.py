"""Login guessing: failures counted per workspace across browser sessions, waits doubling
from 1 s after 5 failures, every failure and wait audited without the guess; invite links
exchanged for a session once."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from evaluation.sessions import SessionDesign
from tests.prepared import APP, prepare_workspace
from tests.sessions_data import add_generations
from workbench.auth import AuthError
from workbench.store import auth, open_workspace
from workbench.store import sessions as ss
from workbench.store.pool import close_all

PASSWORD = "a long admin password"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def guarded(ws):
    auth.set_admin_password(ws, PASSWORD)
    return ws


def audit(ws) -> list[tuple[str, dict]]:
    return [(r["action"], json.loads(r["detail"])) for r in
            ws.query("SELECT action, detail FROM audit_log WHERE actor = 'login' "
                     "ORDER BY rowid")]


def fail_admin(ws, now: float) -> None:
    with pytest.raises(AuthError, match="^wrong admin password$"):
        auth.admin_login(ws, "guess", now=now)


def test_five_failures_pass_then_the_next_attempt_waits_one_second(guarded):
    for i in range(5):
        fail_admin(guarded, T0 + i * 0.01)
    with pytest.raises(auth.LoginThrottled) as refused:
        auth.admin_login(guarded, PASSWORD, now=T0 + 0.5)
    assert str(refused.value) == ("too many wrong admin passwords in a row: try again at "
                                  "22:13:21 UTC (in 1 s)")
    auth.admin_login(guarded, PASSWORD, now=T0 + 1.05)  # the right password after the wait


def test_the_wait_doubles_after_each_further_failure(guarded):
    now = T0
    for _ in range(5):
        fail_admin(guarded, now)
    waits = []
    for _ in range(4):
        fail_admin(guarded, now + 1.0)  # each attempt right when the last wait ended
        until = auth._state(guarded, "admin")[1]
        waits.append(round(until - (now + 1.0), 3))
        now = until - 1.0
    assert waits == [2.0, 4.0, 8.0, 16.0]
    assert [auth.delay_after(n) for n in (4, 5, 6, 14, 15, 40)] == [0, 1, 2, 512, 900, 900]


def test_a_success_clears_the_count(guarded):
    for i in range(4):
        fail_admin(guarded, T0 + i)
    auth.admin_login(guarded, PASSWORD, now=T0 + 5)
    for i in range(4):
        fail_admin(guarded, T0 + 6 + i)  # four more without any wait
    assert auth._state(guarded, "admin") == (4, T0 + 9)


def test_failures_and_waits_are_audited_without_the_guess(guarded):
    for i in range(5):
        fail_admin(guarded, T0 + i * 10)
    for _ in range(3):
        with pytest.raises(auth.LoginThrottled):
            auth.admin_login(guarded, "guess", now=T0 + 40.5)
    fail_admin(guarded, T0 + 41)
    log = audit(guarded)
    assert [a for a, _ in log] == ["login_failed"] * 5 + ["login_locked", "login_failed",
                                                         "login_locked"]
    assert log[4][1] == {"kind": "admin", "failures": 5, "refused_while_waiting": 0}
    assert log[5][1] == {"kind": "admin", "failures": 5, "seconds": 1.0,
                         "until": "2023-11-14T22:14:01+00:00"}
    assert log[6][1] == {"kind": "admin", "failures": 6, "refused_while_waiting": 3}
    assert log[7][1] == {"kind": "admin", "failures": 6, "seconds": 2.0,
                         "until": "2023-11-14T22:14:03+00:00"}
    assert "guess" not in json.dumps(log)


def test_rater_tokens_have_their_own_count_and_the_same_waits(guarded):
    for i in range(5):
        with pytest.raises(AuthError, match="unknown invite token"):
            auth.rater_login(guarded, f"rt_guess{i}", now=T0)
    with pytest.raises(auth.LoginThrottled, match="too many wrong invite tokens in a row"):
        auth.rater_login(guarded, "rt_guess5", now=T0 + 0.5)
    auth.admin_login(guarded, PASSWORD, now=T0 + 0.5)  # the admin is not held up
    assert "rt_guess" not in json.dumps(audit(guarded))


def test_parallel_attempts_past_the_threshold_verify_one_guess_per_wait(guarded):
    for i in range(5):
        fail_admin(guarded, T0)
    outcomes = []
    for _ in range(8):  # eight sessions at the same instant: the first takes the slot
        try:
            auth.admin_login(guarded, "guess", now=T0 + 1.0)
        except auth.LoginThrottled:
            outcomes.append("waited")
        except AuthError:
            outcomes.append("verified")
    assert outcomes == ["verified"] + ["waited"] * 7


# -- invite links ---------------------------------------------------------------------------
def rated_session(ws) -> dict:
    add_generations(ws, 2)
    return ss.create_session(ws, "s", "gen-1", SessionDesign(), ["ana"], seed=0)


def test_an_invite_link_logs_in_once_and_the_typed_token_keeps_working(guarded):
    token = rated_session(guarded)["tokens"]["ana"]
    first = auth.rater_login(guarded, token, via_link=True)
    with pytest.raises(AuthError, match="this invite link was already used"):
        auth.rater_login(guarded, token, via_link=True)
    assert auth.rater_login(guarded, token) == first
    assert audit(guarded)[-1] == ("invite_link_reused", {"rater_id": first["rater_id"]})


def test_a_reissued_token_gives_a_fresh_link(guarded):
    token = rated_session(guarded)["tokens"]["ana"]
    rater = auth.rater_login(guarded, token, via_link=True)["rater_id"]
    new = ss.reissue_token(guarded, rater)
    assert auth.rater_login(guarded, new, via_link=True)["rater_id"] == rater


@pytest.fixture
def app_workspace(tmp_path, monkeypatch):
    root = prepare_workspace(tmp_path / "ws")
    with open_workspace(root) as ws:
        auth.set_admin_password(ws, PASSWORD)
        made = ss.create_session(ws, "s1", "generate-1", SessionDesign(), ["ana"], seed=0)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    yield made["tokens"]["ana"]
    close_all()


def open_link(token: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["token"] = token
    return at.run()


def test_the_login_page_exchanges_an_invite_link_once(app_workspace):
    at = open_link(app_workspace)
    assert at.session_state["auth"]["name"] == "ana"
    assert at.title[0].value == "Rate" and not at.query_params.get("token")
    again = open_link(app_workspace)  # Back to the address with the token, another session
    assert "auth" not in again.session_state
    assert again.error[0].value == ("this invite link was already used: type your invite "
                                    "token on the login page")
    again.text_input(key="token").input(app_workspace)
    again.button(key="rater_submit").click().run()
    assert again.session_state["auth"]["name"] == "ana"


def test_the_login_page_says_when_to_retry_after_five_wrong_passwords(app_workspace,
                                                                        monkeypatch):
    monkeypatch.setattr(auth.time, "time", lambda: T0)  # every attempt at the same instant
    at = AppTest.from_file(APP, default_timeout=60).run()
    for _ in range(6):
        at.text_input(key="password").input("not the password")
        at.button(key="admin_submit").click().run()
    assert at.error[0].value == ("too many wrong admin passwords in a row: try again at "
                                 "22:13:21 UTC (in 1 s)")
    other = AppTest.from_file(APP, default_timeout=60).run()  # another browser session
    other.text_input(key="password").input(PASSWORD)
    other.button(key="admin_submit").click().run()
    assert other.error[0].value.startswith("too many wrong admin passwords in a row")
    assert "auth" not in other.session_state
