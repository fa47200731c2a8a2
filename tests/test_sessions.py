"""Rating sessions: design checks, assignment, invites, rating, skip, edit, bad input."""

import random
from collections import Counter

import pytest

from evaluation.sessions import (
    DesignError,
    SessionDesign,
    check_design,
    make_items,
    plan,
)
from tests.sessions_data import add_generations
from workbench.auth import AuthError
from workbench.session_statistics import statistics
from workbench.store import sessions as ss
from workbench.store.sessions import RatingError


def make(ws, n=6, raters=("ana", "bo"), k=1, repeat_share=0.0, identical=(), seed=1,
         systems=("base", "tuned")):
    run_id = add_generations(ws, n, systems=systems, identical=identical)
    return ss.create_session(ws, "s1", run_id, SessionDesign(systems, k, repeat_share),
                             list(raters), seed=seed)


def snapshot(ws):
    tables = ["rating_sessions", "session_items", "session_raters", "assignments", "skips",
              "session_ratings"]
    return {t: ws.query(f"SELECT * FROM {t} ORDER BY ALL") for t in tables}


# -- pure design ------------------------------------------------------------------------
def test_items_are_every_example_times_every_pair_of_systems():
    items = make_items([2, 1], ("c", "a", "b"))
    assert [(i.item_no, i.example_id, i.first, i.second) for i in items] == [
        (1, 1, "a", "b"), (2, 1, "a", "c"), (3, 1, "b", "c"),
        (4, 2, "a", "b"), (5, 2, "a", "c"), (6, 2, "b", "c")]


def test_each_item_goes_to_k_distinct_raters_with_balanced_loads():
    items = make_items(list(range(1, 11)), ("base", "tuned"))
    rows = plan(SessionDesign(k=2), items, ["a", "b", "c"], seed=0)
    per_item = Counter(r.item_no for r in rows)
    assert set(per_item.values()) == {2}
    assert all(len({r.rater for r in rows if r.item_no == no}) == 2 for no in per_item)
    assert sorted(Counter(r.rater for r in rows).values()) == [6, 7, 7]  # 20 over 3 raters


def test_order_and_sides_differ_between_raters_and_are_fixed_by_the_seed():
    items = make_items(list(range(1, 21)), ("base", "tuned"))
    rows = plan(SessionDesign(k=2), items, ["a", "b"], seed=5)
    a = [(r.item_no, r.left) for r in rows if r.rater == "a"]
    b = [(r.item_no, r.left) for r in rows if r.rater == "b"]
    assert sorted(x for x, _ in a) == sorted(x for x, _ in b) == list(range(1, 21))
    assert [x for x, _ in a] != [x for x, _ in b]
    assert {left for _, left in a} == {"base", "tuned"}
    assert plan(SessionDesign(k=2), items, ["a", "b"], seed=5) == rows


def test_repeats_come_after_their_first_showing():
    items = make_items(list(range(1, 11)), ("base", "tuned"))
    rows = plan(SessionDesign(k=1, repeat_share=0.2), items, ["a"], seed=3)
    repeats = [r for r in rows if r.is_repeat]
    assert len(rows) == 12 and len(repeats) == 2  # ⌈0.2 · 10⌉
    for rep in repeats:
        first = next(r for r in rows if r.item_no == rep.item_no and not r.is_repeat)
        assert first.position < rep.position
    assert [r.position for r in rows] == list(range(12))


@pytest.mark.parametrize(("design", "n_items", "n_raters", "message"), [
    (SessionDesign(k=2), 5, 3, "5 items but 3 raters × k = 2 needs at least 6"),
    (SessionDesign(k=3), 10, 2, "k = 3 raters per item needs at least 3 raters"),
    (SessionDesign(systems=("base",)), 10, 1, "at least two distinct"),
    (SessionDesign(repeat_share=0.7), 10, 1, "repeat share must be between 0 and 0.5"),
    (SessionDesign(k=0), 10, 1, "whole number ≥ 1"),
    (SessionDesign(), 10, 0, "invite at least one rater"),
])
def test_a_design_that_cannot_run_is_refused_with_the_reason(design, n_items, n_raters,
                                                             message):
    with pytest.raises(DesignError, match=message):
        check_design(design, n_items, n_raters)


# -- store: create and invite --------------------------------------------------------------
def test_create_session_stores_items_assignments_and_hashed_tokens_only(ws):
    result = make(ws, n=6, raters=("ana", "bo"), k=2, identical=(3,))
    assert (result["items"], result["auto_ties"], result["assignments"]) == (5, 1, 10)
    stored = ws.query("SELECT name, token_hash FROM session_raters ORDER BY name")
    assert [r["name"] for r in stored] == ["ana", "bo"]
    for row in stored:
        assert result["tokens"][row["name"]] not in row["token_hash"]
        assert len(row["token_hash"]) == 64
    dump = str(snapshot(ws))
    assert not any(token in dump for token in result["tokens"].values())


def test_a_session_with_fewer_items_than_raters_times_k_changes_nothing(ws):
    run_id = add_generations(ws, 3)
    before = snapshot(ws)
    with pytest.raises(RatingError, match="3 items but 2 raters × k = 2 needs at least 4"):
        ss.create_session(ws, "s", run_id, SessionDesign(k=2), ["ana", "bo"])
    assert snapshot(ws) == before


def test_a_session_over_a_system_without_outputs_is_refused(ws):
    run_id = add_generations(ws, 4)
    with pytest.raises(RatingError, match="no outputs of other"):
        ss.create_session(ws, "s", run_id, SessionDesign(("base", "other")), ["ana"])


def test_login_with_a_wrong_or_revoked_token_is_refused(ws):
    tokens = make(ws)["tokens"]
    with pytest.raises(AuthError, match="unknown invite token"):
        ss.login(ws, "rt_not-a-token")
    rater = ss.login(ws, tokens["ana"])
    assert rater["name"] == "ana" and rater["session_id"] == 1
    ss.revoke(ws, rater["rater_id"])
    with pytest.raises(AuthError, match="revoked"):
        ss.login(ws, tokens["ana"])
    with pytest.raises(AuthError, match="revoked"):
        ss.screen(ws, rater["rater_id"])["item"]


def test_a_reissued_token_replaces_the_old_one(ws):
    tokens = make(ws)["tokens"]
    rater_id = ss.login(ws, tokens["bo"])["rater_id"]
    new = ss.reissue_token(ws, rater_id)
    assert ss.login(ws, new)["rater_id"] == rater_id
    with pytest.raises(AuthError, match="unknown invite token"):
        ss.login(ws, tokens["bo"])


# -- store: rating -----------------------------------------------------------------------
def rater(ws, result, name="ana"):
    return ss.login(ws, result["tokens"][name])["rater_id"]


def test_the_next_item_names_no_system_and_follows_the_stored_order(ws):
    result = make(ws, n=6)
    ana = rater(ws, result)
    item = ss.screen(ws, ana)["item"]
    assert set(item) == {"position", "item_no", "prompt", "left_output", "right_output",
                         "left_cut", "right_cut"}
    assert item["position"] == 0
    stored = ws.query("SELECT item_no, left_system FROM assignments WHERE rater_id = ? AND "
                      "position = 0", [ana])[0]
    assert item["item_no"] == stored["item_no"]
    assert item["left_output"].startswith(stored["left_system"] + " answer")


def test_a_submit_stores_the_derandomized_label_reason_and_likert(ws):
    ana = rater(ws, make(ws))
    item = ss.screen(ws, ana)["item"]
    left = ws.scalar("SELECT left_system FROM assignments WHERE rater_id = ? AND position = 0",
                     [ana])
    ss.submit(ws, ana, 0, "A", reason="more precise", likert_left=4, likert_right=2)
    row = ws.query("SELECT position, item_no, choice, label, reason, likert_left, likert_right "
                   "FROM session_ratings")[0]
    assert row == {"position": 0, "item_no": item["item_no"], "choice": "A", "label": left,
                   "reason": "more precise", "likert_left": 4, "likert_right": 2}
    assert ss.screen(ws, ana)["progress"] == {"rated": 1, "total": 3, "skipped": 0}
    assert ss.screen(ws, ana)["item"]["position"] == 1


def test_a_second_submit_of_the_same_item_is_refused_and_changes_nothing(ws):
    ana = rater(ws, make(ws))
    ss.submit(ws, ana, 0, "A")
    before = snapshot(ws)
    with pytest.raises(RatingError, match="already rated"):
        ss.submit(ws, ana, 0, "A")
    assert snapshot(ws) == before


def test_a_rating_for_an_item_not_assigned_to_the_rater_is_refused(ws):
    result = make(ws, n=6)
    ana = rater(ws, result)
    before = snapshot(ws)
    with pytest.raises(RatingError, match="not an item assigned to you"):
        ss.submit(ws, ana, 3, "A")  # ana has positions 0-2 only
    with pytest.raises(RatingError, match="not an item assigned to you"):
        ss.submit(ws, ana, "0; DROP TABLE ratings", "A")
    assert snapshot(ws) == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"choice": "C"}, "unknown choice 'C'"),
    ({"choice": "A", "likert_left": 6}, "answer A must be 1–5, got 6"),
    ({"choice": "A", "likert_right": 0}, "answer B must be 1–5, got 0"),
    ({"choice": "tie", "reason": "x" * 2001}, "at most 2000"),
])
def test_a_bad_answer_is_refused_and_changes_nothing(ws, kwargs, message):
    ana = rater(ws, make(ws))
    before = snapshot(ws)
    with pytest.raises(RatingError, match=message):
        ss.submit(ws, ana, 0, **kwargs)
    assert snapshot(ws) == before


def test_a_skipped_item_comes_back_after_the_others(ws):
    ana = rater(ws, make(ws))
    ss.skip(ws, ana, 0)
    assert ss.screen(ws, ana)["progress"] == {"rated": 0, "total": 3, "skipped": 1}
    assert [ss.screen(ws, ana)["item"]["position"]] == [1]
    ss.submit(ws, ana, 1, "tie")
    ss.submit(ws, ana, 2, "both_bad")
    assert ss.screen(ws, ana)["item"]["position"] == 0
    ss.submit(ws, ana, 0, "B")
    assert ss.screen(ws, ana)["item"] is None
    assert ss.screen(ws, ana)["progress"] == {"rated": 3, "total": 3, "skipped": 0}


def test_only_the_last_answer_can_be_edited(ws):
    ana = rater(ws, make(ws))
    ss.submit(ws, ana, 0, "A")
    ss.submit(ws, ana, 1, "A")
    assert ss.last_answer(ws, ana)["position"] == 1
    with pytest.raises(RatingError, match="only your last answer"):
        ss.edit_last(ws, ana, 0, "B")
    ss.edit_last(ws, ana, 1, "tie", reason="on reflection")
    row = ws.query("SELECT choice, label, reason, edited_at IS NOT NULL AS edited "
                   "FROM session_ratings WHERE position = 1")[0]
    assert row == {"choice": "tie", "label": "tie", "reason": "on reflection", "edited": True}


def test_rater_progress_and_raw_ratings_for_the_admin(ws):
    result = make(ws, n=4, raters=("ana", "bo"), k=1)
    ana = rater(ws, result)
    ss.submit(ws, ana, 0, "B")
    progress = {r["name"]: (r["rated"], r["total"], r["revoked"])
                for r in ss.rater_progress(ws, 1)}
    assert progress == {"ana": (1, 2, False), "bo": (0, 2, False)}
    raw = ss.raw_ratings(ws, 1)
    assert len(raw) == 1 and raw[0]["label"] == raw[0]["right_system"]


def test_sessions_over_three_systems_rate_every_pair(ws):
    result = make(ws, n=2, raters=("ana",), systems=("a", "b", "c"))
    assert result["items"] == 6
    pairs = {(r["first_system"], r["second_system"])
             for r in ws.query("SELECT * FROM session_items")}
    assert pairs == {("a", "b"), ("a", "c"), ("b", "c")}


def test_random_plans_always_give_each_item_k_raters():
    rng = random.Random(0)
    for _ in range(30):
        n_raters, k = rng.randint(1, 6), rng.randint(1, 3)
        k = min(k, n_raters)
        items = make_items(list(range(1, n_raters * k + rng.randint(0, 9) + 1)), ("x", "y"))
        rows = plan(SessionDesign(k=k, repeat_share=0.25), items,
                    [f"r{i}" for i in range(n_raters)], seed=rng.randint(0, 99))
        firsts = [r for r in rows if not r.is_repeat]
        assert Counter(r.item_no for r in firsts) == {i.item_no: k for i in items}


def test_summary_of_a_session_counts_derandomized_labels(ws):
    result = make(ws, n=4, raters=("ana",), identical=(4,))
    ana = rater(ws, result)
    sides = {r["position"]: r["left_system"] for r in
             ws.query("SELECT position, left_system FROM assignments WHERE rater_id = ?", [ana])}
    for position, left in sides.items():  # always pick tuned, wherever it was shown
        ss.submit(ws, ana, position, "A" if left == "tuned" else "B")
    (pair,) = statistics(ws, 1, n_boot=5)["pairs"]
    assert (pair["system"], pair["wins"], pair["losses"], pair["ties"], pair["auto_ties"]) == \
        ("tuned", 3, 0, 1, 1)


def test_session_ratings_of_base_and_tuned_reach_the_report(ws):
    from workbench.stages.report import session_reports

    result = make(ws, n=2, raters=("ana",), repeat_share=0.5)
    ana = rater(ws, result)
    rows = ws.query("SELECT position, left_system FROM assignments WHERE rater_id = ? "
                    "ORDER BY position", [ana])
    for row in rows:  # tuned wins every time, the repeat included
        ss.submit(ws, ana, row["position"], "A" if row["left_system"] == "tuned" else "B")
    (session,) = session_reports(ws, n_boot=5)
    (pair,) = session["pairs"]
    assert (pair["wins"], session["ratings"], session["repeats"]) == (2, 2, 1)  # repeat apart


def test_the_sessions_migration_adds_its_tables(ws):
    tables = {r["table_name"] for r in ws.query(
        "SELECT table_name FROM information_schema.tables")}
    assert {"rating_sessions", "session_items", "session_raters", "assignments", "skips",
            "session_ratings", "admin_credentials"} <= tables
    assert ws.scalar("SELECT count(*) FROM schema_migrations WHERE name = 'm004_sessions'") == 1


# -- adding raters to a running session ---------------------------------------------------
def holders(ws):
    """{item_no: sorted rater names} over first showings (repeats left out)."""
    rows = ws.query("SELECT a.item_no, r.name FROM assignments a JOIN session_raters r "
                    "ON r.id = a.rater_id WHERE NOT a.is_repeat ORDER BY a.item_no, r.name")
    out: dict = {}
    for row in rows:
        out.setdefault(row["item_no"], []).append(row["name"])
    return out


def test_an_added_rater_takes_unstarted_items_and_every_item_keeps_k_raters(ws):
    result = make(ws, n=8, raters=("ana", "bo"), k=2, repeat_share=0.25)
    ana = rater(ws, result)
    for _ in range(3):
        ss.submit(ws, ana, ss.screen(ws, ana)["item"]["position"], "A")
    rated_before = ws.query("SELECT * FROM session_ratings ORDER BY ALL")
    ana_started = {r["item_no"] for r in rated_before}
    added = ss.add_raters(ws, 1, ["cy"], seed=0)
    # 8 items × k 2 = 16 first showings over 3 raters: cy takes ⌊16 / 3⌋ = 5
    assert added["items"] == {"cy": 5} and sum(added["from"].values()) == 5
    assert all(len(names) == 2 and len(set(names)) == 2 for names in holders(ws).values())
    assert len(holders(ws)) == 8
    assert ws.query("SELECT * FROM session_ratings ORDER BY ALL") == rated_before
    cy_items = {i for i, names in holders(ws).items() if "cy" in names}
    assert len(cy_items) == 5  # and ana keeps every item she has started
    assert ana_started <= {i for i, names in holders(ws).items() if "ana" in names}
    repeats = ws.scalar("SELECT count(*) FROM assignments a JOIN session_raters r ON "
                        "r.id = a.rater_id WHERE r.name = 'cy' AND a.is_repeat")
    assert repeats == 2  # ⌈0.25 × 5⌉, as at creation
    cy = ss.login(ws, added["tokens"]["cy"])["rater_id"]
    assert ss.screen(ws, cy)["progress"] == {"rated": 0, "total": 7, "skipped": 0}
    ss.submit(ws, cy, ss.screen(ws, cy)["item"]["position"], "B")
    assert ss.screen(ws, cy)["progress"]["rated"] == 1
    ana_progress = ss.screen(ws, ana)["progress"]  # ana's memoized plan follows the change
    assert ana_progress["total"] == ws.scalar(
        "SELECT count(*) FROM assignments WHERE rater_id = ?", [ana])


def test_a_revoked_raters_unstarted_items_go_first(ws):
    result = make(ws, n=6, raters=("ana", "bo"), k=1)
    bo = rater(ws, result, "bo")
    ss.revoke(ws, bo)
    added = ss.add_raters(ws, 1, ["cy"], seed=3)
    # 6 items × k 1 over 2 active raters (ana, cy): cy takes 3, all of them bo's
    assert added["items"] == {"cy": 3} and added["from"] == {"bo": 3}


def test_a_position_handed_over_is_refused_to_its_old_rater(ws):
    result = make(ws, n=4, raters=("ana",), k=1)
    ana = rater(ws, result)
    shown = ss.screen(ws, ana)["item"]  # memoizes ana's plan
    ss.add_raters(ws, 1, ["bo"], seed=0)
    moved = {r["position"] for r in ws.query("SELECT position FROM assignments "
                                             "WHERE rater_id = ?", [ana])}
    gone = next(p for p in range(4) if p not in moved)
    with pytest.raises(RatingError, match="not an item assigned to you"):
        ss.submit(ws, ana, gone, "A")
    assert shown is not None and ss.screen(ws, ana)["progress"]["total"] == 2


@pytest.mark.parametrize(("names", "message"), [
    ([], "give at least one rater name"),
    (["cy", "cy"], "rater names must be distinct"),
    (["bo"], "already in session 1: bo"),
    (["cy", "di", "ed", "fa"], "no item left for"),
])
def test_adding_raters_that_cannot_work_changes_nothing(ws, names, message):
    make(ws, n=4, raters=("ana", "bo"), k=1)
    before = snapshot(ws)
    with pytest.raises(RatingError, match=message):
        ss.add_raters(ws, 1, names, seed=0)
    assert snapshot(ws) == before


def test_no_item_left_when_every_item_is_started(ws):
    result = make(ws, n=2, raters=("ana",), k=1)
    ana = rater(ws, result)
    for _ in range(2):
        ss.submit(ws, ana, ss.screen(ws, ana)["item"]["position"], "A")
    with pytest.raises(RatingError, match=r"^no item left for cy: each new rater needs items "
                       r"no one has started \(session 1: 2 items × k = 1 for 2 active raters\)$"):
        ss.add_raters(ws, 1, ["cy"], seed=0)
    with pytest.raises(RatingError, match="no rating session 9"):
        ss.add_raters(ws, 9, ["cy"])


def test_the_session_csv_and_the_run_export_are_the_same_ratings_from_one_query(ws):
    from workbench.store.sessions import ratings_export

    result = make(ws, n=3, raters=("ana",))
    ana = rater(ws, result)
    for _ in range(2):
        ss.submit(ws, ana, ss.screen(ws, ana)["item"]["position"], "A", reason="clearer")
    raw = ss.raw_ratings(ws, 1)
    export = ratings_export(ws, ss.session(ws, 1)["run_id"])
    assert list(raw[0]) == [
        "rater_id", "item_no", "example_id", "position", "is_repeat", "left_system",
        "right_system", "choice", "label", "reason", "likert_left", "likert_right",
        "rated_at", "edited_at", "first_system", "second_system"]
    assert list(export.columns) == ["session_id", "rater", *list(raw[0])[:-2]]
    assert [(r["position"], r["label"]) for r in raw] == \
        [(p, lab) for p, lab in zip(export["position"], export["label"], strict=True)]
    assert set(export["rater"]) == {"ana"} and len(raw) == 2
