"""What a rater and the session admin see: repeats later and on the other sides, Skip moving
on, answers cut at the token limit marked, and a too small session offering what works."""

import json
import random

import pytest
from streamlit.testing.v1 import AppTest

from evaluation.sessions import (
    MIN_REPEAT_GAP,
    SessionDesign,
    cut_note,
    fit_advice,
    fits,
    make_items,
    order_for_rater,
)
from tests.prepared import APP
from tests.sessions_data import add_generations
from workbench.store import auth as admin
from workbench.store import open_workspace
from workbench.store import sessions as ss
from workbench.store.pool import close_all


# -- repeats ------------------------------------------------------------------------------
def test_a_repeat_comes_three_items_later_with_its_sides_swapped():
    items = {i.item_no: i for i in make_items(list(range(1, 9)), ("base", "tuned"))}
    rows = order_for_rater("ana", list(items), items, 0.25, random.Random(7))
    assert [(r.item_no, r.left, r.is_repeat) for r in rows] == [
        (7, "base", False), (8, "base", False), (3, "base", False), (5, "base", False),
        (1, "base", False), (4, "tuned", False), (2, "base", False), (6, "base", False),
        (1, "tuned", True), (4, "base", True)]  # ⌈0.25 · 8⌉ = 2 repeats
    for repeat in (r for r in rows if r.is_repeat):
        first = next(r for r in rows if r.item_no == repeat.item_no and not r.is_repeat)
        assert repeat.position - first.position - 1 >= MIN_REPEAT_GAP == 3
        assert (repeat.left, repeat.right) == (first.right, first.left)


def test_in_a_list_too_short_for_the_gap_the_repeat_goes_last():
    items = {i.item_no: i for i in make_items([1, 2], ("base", "tuned"))}
    rows = order_for_rater("ana", [1, 2], items, 0.5, random.Random(7))
    assert [(r.position, r.item_no, r.left, r.right, r.is_repeat) for r in rows] == [
        (0, 1, "tuned", "base", False), (1, 2, "base", "tuned", False),
        (2, 1, "base", "tuned", True)]


# -- skip -----------------------------------------------------------------------------------
def test_skipped_items_come_back_last_in_the_order_they_were_skipped(ws):
    run_id = add_generations(ws, 4)
    made = ss.create_session(ws, "s", run_id, SessionDesign(), ["ana"], seed=1)
    ana = ss.login(ws, made["tokens"]["ana"])["rater_id"]
    ss.skip(ws, ana, 1)
    ss.skip(ws, ana, 0)
    seen = []
    for choice in ("A", "B"):  # positions 2 and 3 first
        screen = ss.screen(ws, ana)
        seen.append((screen["item"]["position"], screen["skipped_next"]))
        ss.submit(ws, ana, screen["item"]["position"], choice)
    screen = ss.screen(ws, ana)
    seen.append((screen["item"]["position"], screen["skipped_next"]))
    ss.skip(ws, ana, 1)  # skipped again: behind 0 now
    seen.append((ss.screen(ws, ana)["item"]["position"], True))
    assert seen == [(2, False), (3, False), (1, True), (0, True)]
    assert ss.screen(ws, ana)["progress"] == {"rated": 2, "total": 4, "skipped": 2}


def rater_page(root, token) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key="token").input(token)
    return at.button(key="rater_submit").click().run()


@pytest.fixture
def one_item_left(tmp_path, monkeypatch):
    """A rater "ana" with 2 items, the first rated; tuned answers used all 16 tokens."""
    root = tmp_path / "ws"
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    with open_workspace(root) as ws:
        admin.set_admin_password(ws, "a long enough password")
        run_id = add_generations(ws, 2)
        ws.con.execute("UPDATE runs SET config = ? WHERE id = ?",
                       [json.dumps({"max_new_tokens": 16}), run_id])
        ws.con.execute("UPDATE generations SET new_tokens = CASE WHEN system = 'tuned' "
                       "THEN 16 ELSE 5 END")
        made = ss.create_session(ws, "s", run_id, SessionDesign(), ["ana"], seed=1)
        ana = ss.login(ws, made["tokens"]["ana"])["rater_id"]
        ss.submit(ws, ana, 0, "A")
    close_all()
    return root, made["tokens"]["ana"]


def test_skip_on_the_last_item_moves_on_to_a_pause_not_the_same_item(one_item_left):
    root, token = one_item_left
    at = rater_page(root, token)
    assert at.button(key="skip_1") is not None
    at.button(key="skip_1").click().run()
    assert [i.value for i in at.info] == [
        "You skipped the last item left. It stays in your list: rate it when you are ready."]
    assert [c.value for c in at.caption if "come back" in c.value] == [
        "Skipped items come back at the end, after the others."]
    assert not [b for b in at.button if b.key.startswith("choice_")]
    at.button(key="back_to_skipped").click().run()
    assert [b.key for b in at.button if b.key.startswith("choice_")][0] == "choice_A_1"


def test_an_answer_cut_at_the_token_limit_is_marked(one_item_left):
    root, token = one_item_left
    with open_workspace(root) as ws:
        rater_id = ss.login(ws, token)["rater_id"]
        item = ss.screen(ws, rater_id)["item"]
        left = ws.scalar("SELECT left_system FROM assignments WHERE rater_id = ? AND "
                         "position = 1", [rater_id])
    close_all()
    marks = {"left": item["left_cut"], "right": item["right_cut"]}
    cut_side = "left" if left == "tuned" else "right"
    assert marks == {cut_side: "(cut at 16 tokens)",
                     {"left": "right", "right": "left"}[cut_side]: None}
    at = rater_page(root, token)
    assert [c.value for c in at.caption if c.value.startswith("(cut")] == ["(cut at 16 tokens)"]


@pytest.mark.parametrize(("tokens", "limit", "note"), [
    (16, 16, "(cut at 16 tokens)"), (15, 16, None), (None, 16, None), (16, None, None)])
def test_the_cut_note_needs_the_whole_budget_used(tokens, limit, note):
    assert cut_note(tokens, limit) == note


# -- a session that does not fit ------------------------------------------------------------
@pytest.mark.parametrize(("items", "raters", "k", "largest_k", "most_raters", "advice"), [
    (10, 4, 3, 2, 3, "lower k to 2, or invite at most 3 raters, or rate more examples"),
    (5, 3, 2, 1, 2, "lower k to 1, or invite at most 2 raters, or rate more examples"),
    (2, 3, 1, None, 2, "invite at most 2 raters, or rate more examples"),
    (3, 4, 2, None, None, "rate more examples"),
    (12, 3, 3, 3, 4, "lower k to 3, or invite at most 4 raters, or rate more examples"),
])
def test_the_largest_k_and_the_most_raters_that_fit(items, raters, k, largest_k,
                                                    most_raters, advice):
    fit = fits(items, raters, k)
    assert (fit["largest_k"], fit["most_raters"]) == (largest_k, most_raters)
    assert fit_advice(fit) == advice
    if largest_k:  # what is offered does fit: items ≥ raters × k, k ≤ raters
        assert items >= raters * largest_k and largest_k <= raters
    if most_raters:
        assert items >= most_raters * k and k <= most_raters


def test_the_sessions_page_offers_the_largest_k_that_works(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        admin.set_admin_password(ws, "a long enough password")
        add_generations(ws, 5)
    close_all()
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["auth"] = {"role": "admin"}
    at.run()
    at.switch_page("views/sessions.py").run()
    at.text_input(key="session_name").input("s")
    at.text_area(key="raters").input("ana\nbo\ncy")
    at.number_input(key="k").set_value(2)
    at.button(key="create").click().run()
    assert at.error[0].value == ("the session has 5 items but 3 raters × k = 2 needs at least "
                                 "6: lower k to 1, or invite at most 2 raters, or rate more "
                                 "examples")
    at.button(key="use_k").click().run()
    assert at.number_input(key="k").value == 1
    at.button(key="create").click().run()
    assert at.success[0].value.startswith("Session 1: 5 items")
    links = at.code[1].value.splitlines()
    assert [line.split(": ", 1)[0] for line in links] == ["ana", "bo", "cy"]
    assert all(line.split(": ", 1)[1].startswith("http://localhost:8501/?token=rt_")
               for line in links)
