"""The session CLI: create with tokens printed once, stats, revoke, admin password; errors."""

import json

from typer.testing import CliRunner

from tests.prepared import prepare_workspace
from workbench.cli import app
from workbench.store import open_workspace


def run(*args, input=None):
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.output


def test_create_rate_and_stats_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the CLI writes in the current folder or the workspace
    ws = str(prepare_workspace(tmp_path / "ws"))
    guidelines = tmp_path / "g.md"
    guidelines.write_text("# Prefer the *correct* answer")
    code, out = run("session-create", "-w", ws, "--name", "s", "--raters", "ana, bo",
                    "--guidelines", str(guidelines), "--seed", "0")
    assert code == 0, out
    made = json.loads(out)
    assert (made["items"], made["auto_ties"], sorted(made["tokens"])) == (2, 1, ["ana", "bo"])
    code, out = run("session-list", "-w", ws)
    (session,) = json.loads(out)["sessions"]
    assert session["guidelines"] == "# Prefer the *correct* answer"
    assert [r["total"] for r in session["raters"]] == [1, 1]
    code, out = run("session-stats", "-w", ws, "--session", "1", "--csv",
                    str(tmp_path / "r.csv"))
    assert code == 0, out
    assert json.loads(out)["pairs"][0]["auto_ties"] == 1


def test_a_too_small_session_is_one_line_and_exit_1(tmp_path):
    ws = str(prepare_workspace(tmp_path / "ws"))
    code, out = run("session-create", "-w", ws, "--name", "s", "--raters", "ana,bo", "--k", "2")
    assert code == 1
    assert out.strip() == ("error: the session has 2 items but 2 raters × k = 2 needs at "
                           "least 4: lower k to 1, or rate more examples")


def test_revoke_and_reissue_a_token(tmp_path):
    ws = str(prepare_workspace(tmp_path / "ws"))
    run("session-create", "-w", ws, "--name", "s", "--raters", "ana")
    rater_id = json.loads(run("session-list", "-w", ws)[1])["sessions"][0]["raters"][0]["rater_id"]
    assert run("session-revoke", "-w", ws, "--rater", rater_id)[0] == 0
    code, out = run("session-revoke", "-w", ws, "--rater", rater_id)
    assert (code, out.strip()) == (1, ("error: this invite token was revoked: ask the "
                                      "session's admin"))
    code, out = run("session-token", "-w", ws, "--rater", rater_id)
    assert code == 0 and json.loads(out)["token"].startswith("rt_")


def test_admin_password_from_stdin(tmp_path):
    ws = str(prepare_workspace(tmp_path / "ws"))
    code, out = run("admin-password", "-w", ws, input="too short\ntoo short\n")
    assert (code, out.strip()) == (1, "error: the admin password needs at least 10 characters")
    code, out = run("admin-password", "-w", ws, input="a long password\na long password\n")
    assert code == 0, out
    from workbench.store.auth import check_admin
    with open_workspace(ws) as w:
        assert check_admin(w, "a long password")


def test_add_a_rater_to_a_session_from_the_cli(tmp_path):
    ws = str(prepare_workspace(tmp_path / "ws"))
    run("session-create", "-w", ws, "--name", "s", "--raters", "ana", "--seed", "0")
    code, out = run("session-add-rater", "-w", ws, "--session", "1", "--raters", "bo",
                    "--seed", "0")
    assert code == 0, out
    added = json.loads(out)
    assert (added["items"], added["from"], sorted(added["tokens"])) == (
        {"bo": 1}, {"ana": 1}, ["bo"])
    (session,) = json.loads(run("session-list", "-w", ws)[1])["sessions"]
    assert [(r["name"], r["total"]) for r in session["raters"]] == [("ana", 1), ("bo", 1)]
    code, out = run("session-add-rater", "-w", ws, "--session", "1", "--raters", "cy")
    assert code == 1
    assert out.strip() == ("error: no item left for cy: each new rater needs items no one has "
                           "started (session 1: 2 items × k = 1 for 3 active raters)")
