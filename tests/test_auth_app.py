"""Roles in the app: first-start password, admin and rater logins, refusals, blind rate page."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from evaluation.sessions import SessionDesign
from tests.prepared import prepare_workspace
from workbench.store import auth as admin
from workbench.store import open_workspace
from workbench.store import sessions as ss
from workbench.store.pool import close_all

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PASSWORD = "a long admin password"
HOSTILE = 'See <img src="http://198.51.100.7/x.png"> and ![x](http://198.51.100.7/y.png) **now**'


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    root = prepare_workspace(tmp_path / "ws")
    with open_workspace(root) as ws:  # a hostile answer from the tuned model on example 6
        ws.con.execute("UPDATE generations SET output = ? WHERE example_id = 6 AND "
                       "system = 'tuned'", [HOSTILE])
        ws.con.execute("UPDATE generations SET output = 'Four: ' || (system = 'base')::INT "
                       "WHERE example_id = 4")  # answers that do not name their system
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    yield root
    close_all()


def session_with(root, raters=("ana",)) -> dict:
    close_all()
    with open_workspace(root) as ws:
        admin.set_admin_password(ws, PASSWORD)
        return ss.create_session(ws, "s1", "generate-1", SessionDesign(guidelines="Be **fair**."),
                                 list(raters), seed=0)


def app(auth=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if auth:
        at.session_state["auth"] = auth
    return at.run()


def rater_app(root, token) -> AppTest:
    at = app()
    at.text_input(key="token").input(token)
    at.button(key="rater_submit").click().run()
    return at


def open_url_path(at: AppTest, url_path: str) -> AppTest:
    at._page_hash = calc_hash(url_path)  # what a browser opening /<url_path> asks for
    return at.run()


def test_first_start_asks_for_an_admin_password_and_stores_its_hash(workspace):
    at = app()
    assert at.subheader[0].value == "First start: set the admin password"
    at.text_input(key="new_password").input("short")
    at.text_input(key="confirm_password").input("short")
    at.button(key="set_password_submit").click().run()
    assert at.error[0].value == "the admin password needs at least 10 characters"
    at.text_input(key="new_password").input(PASSWORD)
    at.text_input(key="confirm_password").input(PASSWORD)
    at.button(key="set_password_submit").click().run()
    assert at.session_state["auth"] == {"role": "admin"}
    assert at.title[0].value == "Data"
    close_all()
    with open_workspace(workspace) as ws:
        assert admin.check_admin(ws, PASSWORD)


def test_a_wrong_admin_password_is_refused(workspace):
    session_with(workspace)
    at = app()
    at.text_input(key="password").input("not the password").run()
    at.button(key="admin_submit").click().run()
    assert at.error[0].value == "wrong admin password"
    assert "auth" not in at.session_state


@pytest.mark.parametrize(("token", "message"), [("rt_wrong", "unknown invite token"),
                                                ("revoked", "revoked")])
def test_a_wrong_or_revoked_token_is_refused_at_login(workspace, token, message):
    made = session_with(workspace)
    if token == "revoked":
        with open_workspace(workspace) as ws:
            ws.con.execute("UPDATE session_raters SET revoked_at = current_timestamp")
        token = made["tokens"]["ana"]
    at = rater_app(workspace, token)
    assert message in at.error[0].value
    assert "auth" not in at.session_state


def test_nobody_logged_in_gets_a_refusal_on_an_admin_url(workspace):
    session_with(workspace)
    at = open_url_path(app(), "data")
    assert [e.value for e in at.error] == ["Not allowed: this page is not available to you."]
    assert not at.dataframe and not at.metric
    links = [e.proto for e in at.main if e.type == "page_link"]
    assert [(link.label, link.page) for link in links] == [("Log in", "")]  # the login page


def test_a_rater_refused_on_an_admin_url_gets_no_link_at_all(workspace):
    made = session_with(workspace)
    at = open_url_path(rater_app(workspace, made["tokens"]["ana"]), "privacy")
    assert [e.value for e in at.error] == ["Not allowed: this page is not available to you."]
    assert not [e for e in at.main if e.type == "page_link"]


def test_a_rater_sees_the_rate_page_and_only_a_refusal_on_admin_urls(workspace):
    made = session_with(workspace)
    at = rater_app(workspace, made["tokens"]["ana"])
    assert at.title[0].value == "Rate"
    for url_path in ("data", "run", "sessions", "report"):
        at = open_url_path(at, url_path)
        assert [e.value for e in at.error] == ["Not allowed: this page is not available to you."]
        assert not at.dataframe and not at.metric and not at.title


def test_the_rate_page_names_no_system_and_shows_dataset_text_as_text(workspace):
    made = session_with(workspace)
    at = rater_app(workspace, made["tokens"]["ana"])
    shown = json.dumps([str(e.proto) for e in at.main]) + json.dumps([str(e.proto) for e in
                                                                      at.sidebar])
    assert "tuned" not in shown.lower() and "base" not in shown.lower()
    texts = [t.value for t in at.text]
    if HOSTILE not in texts:  # the hostile row is the other item: rate this one first
        at.button(key="choice_tie_0").click().run()
        texts = [t.value for t in at.text]
    assert HOSTILE in texts
    assert all("198.51.100.7" not in m.value for m in at.markdown)


def test_a_rater_rates_skips_and_edits_through_the_page(workspace):
    made = session_with(workspace)
    at = rater_app(workspace, made["tokens"]["ana"])
    at.button(key="skip_0").click().run()
    at.pills(key="likert_left_1_False").set_value(4)
    at.text_input(key="reason_1_False").input("clearer")
    at.button(key="choice_A_1").click().run()
    at.button(key="edit_last").click().run()
    assert at.subheader[0].value == "Editing your last answer"
    at.button(key="choice_B_1").click().run()
    at.button(key="choice_both_bad_0").click().run()
    assert at.success[0].value == "All items rated. Thank you!"
    close_all()
    with open_workspace(workspace) as ws:
        rows = ws.query("SELECT position, choice, reason, likert_left, edited_at IS NOT NULL "
                        "AS edited FROM session_ratings ORDER BY position")
        sides = ws.query("SELECT right_system FROM assignments WHERE position = 1")[0]
        label = ws.scalar("SELECT label FROM session_ratings WHERE position = 1")
    assert rows == [{"position": 0, "choice": "both_bad", "reason": None, "likert_left": None,
                     "edited": False},
                    {"position": 1, "choice": "B", "reason": "clearer", "likert_left": 4,
                     "edited": True}]
    assert label == sides["right_system"]


def test_a_revoked_rater_is_logged_out_on_the_next_click(workspace):
    made = session_with(workspace)
    at = rater_app(workspace, made["tokens"]["ana"])
    close_all()
    with open_workspace(workspace) as ws:
        ws.con.execute("UPDATE session_raters SET revoked_at = current_timestamp")
    at.button(key="choice_A_0").click().run()
    assert "revoked" in at.error[0].value
    assert "auth" not in at.session_state


def create_on_sessions_page(workspace, name: str, raters: str,
                            repeat: float | None = None) -> AppTest:
    """As the admin, fill the Sessions page's form (``raters``: one name per line) and
    click Create; returns the page after it."""
    with open_workspace(workspace) as ws:
        admin.set_admin_password(ws, PASSWORD)
    at = app({"role": "admin"})
    at.switch_page("views/sessions.py").run()
    at.text_input(key="session_name").input(name)
    at.text_area(key="raters").input(raters)
    if repeat is not None:
        at.slider(key="repeat").set_value(repeat)
    return at.button(key="create").click().run()


def test_the_admin_creates_a_session_and_sees_the_tokens_once(workspace):
    at = create_on_sessions_page(workspace, "first", "ana\nbo")
    assert at.success[0].value.startswith("Session 1: 2 items (1 identical pairs tied")
    lines = [line.split("\t") for line in at.code[0].value.splitlines()]
    assert [name for name, _ in lines] == ["ana", "bo"]
    assert all(token.startswith("rt_") and len(token) == 46 for _, token in lines)


def test_the_admin_sees_a_clear_message_for_an_impossible_session(workspace):
    at = create_on_sessions_page(workspace, "too big", "ana\nbo\ncy")
    assert at.error[0].value == ("the session has 2 items but 3 raters × k = 1 needs at least 3: "
                                 "invite at most 2 raters, or rate more examples")
    assert [b.label for b in at.button if b.key == "use_raters"] == ["Keep the first 2 raters"]
    close_all()
    with open_workspace(workspace) as ws:
        assert ws.scalar("SELECT count(*) FROM rating_sessions") == 0


def test_the_run_page_refuses_a_typed_path_outside_the_allowed_folders(workspace):
    at = app({"role": "admin"})
    at.switch_page("views/run.py").run()
    at.text_input(key="input").input(str(workspace / ".." / ".." / "etc" / "passwd"))
    at.button(key="start").click().run()
    assert "outside the allowed folders" in at.error[0].value
    assert not (workspace / "artifacts" / "jobs").exists()


def test_the_admin_adds_a_rater_to_a_running_session(workspace):
    at = create_on_sessions_page(workspace, "first", "ana", repeat=0.0)  # totals are items
    at.text_area(key="more_raters").input("bo")
    at.button(key="add_raters").click().run()
    assert at.success[-1].value == "Added bo (1 items), taken over from ana (1)."
    name, token = at.code[-2].value.split("\t")
    assert name == "bo" and token.startswith("rt_")
    assert at.code[-1].value == f"bo: http://localhost:8501/?token={token}"  # invite link
    assert at.dataframe[0].value[["name", "total"]].values.tolist() == [  # progress
        ["ana", 1], ["bo", 1]]
    at.text_area(key="more_raters").input("cy")
    at.button(key="add_raters").click().run()
    assert at.error[0].value.startswith("no item left for cy")


def test_an_empty_answer_is_named_not_left_blank(workspace):
    made = session_with(workspace)
    close_all()
    with open_workspace(workspace) as ws:
        ws.con.execute("UPDATE generations SET output = '  ' WHERE system = 'base'")
    at = rater_app(workspace, made["tokens"]["ana"])
    assert [c.value for c in at.caption if c.value == "(empty answer)"] == ["(empty answer)"]
